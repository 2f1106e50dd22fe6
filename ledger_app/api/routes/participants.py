"""/v1/participants: onboard, list, show, suspend, reinstate, KYC, account freeze; API keys
and their recovery by the operator."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ledger_app.api import auth, recovery
from ledger_app.api.actions import action_route
from ledger_app.api.deps import ActorDep, BlockDep, ParticipantsDep
from ledger_app.api.permissions import BUSINESS_ROLES, PERMISSIONS, Role
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import Address, IsoDateTime, Page, WriteResponse, utc
from ledger_app.domain.invoices import normalise
from ledger_app.domain.lei import lei_bytes

router = APIRouter(prefix="/v1", tags=["participants"])

_ISO_17442 = r"^[A-Z0-9]{18}[0-9]{2}$"
# Kept off chain, given at onboarding or with a KYC renewal (the monitoring reads them).
LegalName = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=400,
        description="The legal name (kept off chain; screened against the sanctions list)",
    ),
]
RegisteredAddress = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=400,
        description="The registered address (kept off chain; related-party detection)",
    ),
]
#: The public id of an API key (``lk_<id>_...``): 16 hex digits.
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


def _lei_checksum_ok(lei: str) -> bool:
    # ISO 17442 check digits: ISO 7064 MOD 97-10 over the letters as numbers 10..35.
    digits = "".join(str(int(c, 36)) for c in lei)
    return int(digits) % 97 == 1


def _future(value: datetime) -> datetime:
    if value.timestamp() <= time.time():
        raise ValueError("must be in the future")
    return value


TaxId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="The seller tax id (e.g. the 18-character unified social credit code), "
        "stored normalised: upper case, without spaces, dashes, dots, slashes or underscores. "
        "A receivable's invoice.seller_tax_id must be its creditor's.",
        examples=["91440300MA5FL0002Y"],
    ),
]


def _normalised_tax_id(tax_id: str | None) -> str | None:
    if tax_id is None:
        return None
    normalised = normalise(tax_id)
    if not normalised or len(normalised) > 64:
        raise ValueError("a tax id needs letters or digits (at most 64)")
    return normalised


class Onboarding(BaseModel):
    """A participant to onboard. Leave ``address`` out for a custodial participant (the
    service makes and keeps its key); give it for one that signs its own transactions."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "lei": "5493001KJTIIGC8Y1R12",
                    "jurisdiction": "CN",
                    "kyc_expiry": "2030-12-31T00:00:00Z",
                    "roles": ["SUPPLIER"],
                    "tax_id": "91440300MA5FL0002Y",
                    "label": "Shenzhen Parts Co.",
                }
            ]
        },
    )

    lei: str = Field(pattern=_ISO_17442, description="ISO 17442 Legal Entity Identifier")
    jurisdiction: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    kyc_expiry: IsoDateTime
    roles: list[Role] = Field(min_length=1, max_length=len(BUSINESS_ROLES))
    address: Address | None = None
    label: str | None = Field(default=None, max_length=64)
    tax_id: TaxId | None = Field(
        default=None,
        description="Required with the SUPPLIER role: the seller tax id its invoices carry "
        "(recorded once, shown in the directory).",
    )

    legal_name: LegalName = None
    registered_address: RegisteredAddress = None

    _kyc_future = field_validator("kyc_expiry")(_future)
    _tax_id_normalised = field_validator("tax_id")(_normalised_tax_id)

    @model_validator(mode="after")
    def _supplier_has_tax_id(self) -> Onboarding:
        if Role.SUPPLIER in self.roles and self.tax_id is None:
            raise ValueError("tax_id is required with the SUPPLIER role")
        return self

    @field_validator("lei")
    @classmethod
    def _lei_check_digits(cls, lei: str) -> str:
        if not _lei_checksum_ok(lei):
            raise ValueError("LEI check digits are wrong (ISO 17442 / ISO 7064 MOD 97-10)")
        return lei

    @field_validator("roles")
    @classmethod
    def _business_roles(cls, roles: list[Role]) -> list[Role]:
        if Role.OPERATOR in roles:
            raise ValueError("OPERATOR is not granted through onboarding")
        if len(set(roles)) != len(roles):
            raise ValueError("a role is listed twice")
        return roles


class Participant(BaseModel):
    """A participant as the index knows it (its on-chain record)."""

    address: str
    lei: str | None
    tax_id: str | None = Field(
        default=None, description="the seller tax id recorded at onboarding (public)"
    )
    jurisdiction: str | None
    kyc_expiry: datetime | None
    roles: list[str]
    onboarded: bool
    suspended: bool
    frozen: bool
    standing: str
    custodial: bool | None = None
    updated_block: int


class IssuedKey(BaseModel):
    """An API key, shown this once: store it; the service keeps only its hash."""

    id: str
    participant: str
    key: str
    label: str | None
    created_at: datetime


class Onboarded(BaseModel):
    """The onboarded participant and its first API key (shown once)."""

    participant: Participant
    api_key: IssuedKey


class KycUpdate(BaseModel):
    """A new KYC expiry."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"kyc_expiry": "2031-06-30T00:00:00Z"}]}
    )

    kyc_expiry: IsoDateTime
    legal_name: LegalName = None
    registered_address: RegisteredAddress = None

    _kyc_future = field_validator("kyc_expiry")(_future)


class KeyRequest(BaseModel):
    """An optional label for a new key."""

    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(default=None, max_length=64)


class KeyInfo(BaseModel):
    """A key's record (never the key)."""

    id: str
    participant: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


class RecoveryRequest(BaseModel):
    """Why the operator asks to recover a participant's key (kept in the audit record)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"reason": "ticket 4711: the bank's signatories report every key lost"}]
        },
    )
    reason: str = Field(min_length=3, max_length=256)


class KeyRecoveryEvent(BaseModel):
    """One step of a key recovery: what, by whom (and with which of its keys), when."""

    action: str = Field(description="REQUESTED, CANCELLED or COMPLETED")
    actor: str
    api_key_id: str
    at: datetime


class KeyRecovery(BaseModel):
    """An operator's request to recover a participant's API key, and its steps so far."""

    id: str
    participant: str
    reason: str
    status: str = Field(description="PENDING, CANCELLED or COMPLETED")
    requested_by: str
    requested_at: datetime
    completable_at: datetime = Field(
        description="the earliest moment the operator can complete it (the request time "
        "plus LEDGER_KEY_RECOVERY_DELAY); until then the participant's keys may cancel it"
    )
    closed_by: str | None = Field(description="who cancelled or completed it")
    closed_at: datetime | None
    api_key_id: str | None = Field(description="the key its completion issued")
    events: list[KeyRecoveryEvent]


class RecoveredKey(BaseModel):
    """A completed recovery and the participant's new key (shown this once)."""

    recovery: KeyRecovery
    api_key: IssuedKey


class Me(Participant):
    """The caller's own record, what it may call, and any recovery of its keys pending."""

    operations: list[str] = Field(
        description="the operations the caller's roles may call (the permission table's ids)"
    )
    key_recoveries: list[KeyRecovery] = Field(
        description="pending operator requests to recover the caller's key: cancel one "
        "with POST /v1/key-recoveries/{id}/cancel"
    )


def _recovery(found: recovery.Recovery) -> KeyRecovery:
    return KeyRecovery(
        id=found.id,
        participant=to_checksum_address(found.participant),
        reason=found.reason,
        status=found.status,
        requested_by=to_checksum_address(found.requested_by),
        requested_at=found.requested_at,
        completable_at=found.completable_at,
        closed_by=to_checksum_address(found.closed_by) if found.closed_by else None,
        closed_at=found.closed_at,
        api_key_id=found.api_key_id,
        events=[
            KeyRecoveryEvent(action=e.action, actor=to_checksum_address(e.actor),
                             api_key_id=e.api_key_id, at=e.at)
            for e in found.events
        ],
    )  # fmt: skip


def _issued(issued: auth.IssuedKey) -> IssuedKey:
    return IssuedKey(id=issued.id, participant=issued.participant, key=issued.key,
                     label=issued.label, created_at=utc(issued.created_at))  # fmt: skip


def _key_info(record: auth.KeyRecord) -> KeyInfo:
    return KeyInfo(id=record.id, participant=record.participant, label=record.label,
                   created_at=utc(record.created_at), revoked_at=utc(record.revoked_at))  # fmt: skip


# --- participants -----------------------------------------------------------------------


@router.post(
    "/participants",
    operation_id="participants.onboard",
    response_model=WriteResponse[Onboarded],
    status_code=201,
)
def onboard(
    body: Onboarding, caller: ActorDep, service: ParticipantsDep, response: Response
) -> Any:
    """Onboard a participant on chain with its roles, and issue its first API key.

    Operator only. The API key is in the answer once and never again.
    """
    address, outcome, issued = service.onboard(
        caller,
        lei=lei_bytes(body.lei),
        jurisdiction=body.jurisdiction,
        kyc_expiry=int(body.kyc_expiry.timestamp()),
        roles=[role.value for role in body.roles],
        address=body.address,
        label=body.label,
        tax_id=body.tax_id,
        legal_name=body.legal_name,
        registered_address=body.registered_address,
    )
    answer = write_response(
        outcome,
        response,
        lambda _o: Onboarded(
            participant=Participant(**service.show(address)), api_key=_issued(issued)
        ),
        created=True,
    )
    if answer.result is None:  # not indexed yet: the key must still reach its owner
        answer.result = Onboarded(
            participant=Participant(
                address=address, lei=body.lei, tax_id=body.tax_id, jurisdiction=body.jurisdiction,
                kyc_expiry=body.kyc_expiry, roles=[r.value for r in body.roles], onboarded=True,
                suspended=False, frozen=False, standing="ACTIVE", updated_block=outcome.block_number or 0,
            ),
            api_key=_issued(issued),
        )  # fmt: skip
    return answer


@router.get("/participants", operation_id="participants.list", response_model=Page[Participant])
def list_participants(
    caller: ActorDep,
    service: ParticipantsDep,
    block: BlockDep,
    role: Role | None = None,
    cursor: Annotated[str | None, Query(max_length=42, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """The participant directory (everyone may read it), by address."""
    items, next_cursor = service.list(role, cursor, limit)
    return Page[Participant](items=[Participant(**p) for p in items], next_cursor=next_cursor)


@router.get("/participants/me", operation_id="participants.me", response_model=Me)
def show_me(caller: ActorDep, service: ParticipantsDep, block: BlockDep) -> Any:
    """The caller's own participant record (the operator's too: its roles, not onboarded),
    the operations it may call, and any pending recovery of its keys by the operator."""
    operations = sorted(op for op, rule in PERMISSIONS.items() if rule.roles & caller.roles)
    return Me(
        **service.me(caller),
        operations=operations,
        key_recoveries=[_recovery(r) for r in service.pending_recoveries(caller)],
    )


@router.get("/participants/{address}", operation_id="participants.show", response_model=Participant)
def show_participant(
    address: Address, caller: ActorDep, service: ParticipantsDep, block: BlockDep
) -> Any:
    """One participant."""
    return service.show(address)


def _registry_route(path: str, operation: str, function: str, doc: str) -> None:
    action_route(
        router,
        path,
        operation,
        doc,
        ids={"address": Address},
        service=ParticipantsDep,
        send=lambda service, caller, address: service.registry_write(
            caller, operation, function, address
        ),
        render=lambda service, _caller, address: Participant(**service.show(address)),
        result=Participant,
    )


_registry_route(
    "/participants/{address}/suspend",
    "participants.suspend",
    "suspend",
    "Suspend a participant: it can change nothing until reinstated. Operator only.",
)
_registry_route(
    "/participants/{address}/reinstate",
    "participants.reinstate",
    "reinstate",
    "Lift a suspension. Operator only.",
)
_registry_route(
    "/participants/{address}/freeze",
    "participants.freeze",
    "freezeAccount",
    "Freeze an account: no value moves from or to it. Regulator only.",
)
_registry_route("/participants/{address}/unfreeze", "participants.unfreeze", "unfreezeAccount",
                "Lift an account freeze. Regulator only.")  # fmt: skip


@router.put(
    "/participants/{address}/kyc",
    operation_id="participants.update_kyc",
    response_model=WriteResponse[Participant],
)
def update_kyc(
    address: Address,
    body: KycUpdate,
    caller: ActorDep,
    service: ParticipantsDep,
    response: Response,
) -> Any:
    """Set a participant's KYC expiry. Operator only."""
    outcome = service.registry_write(
        caller, "participants.update_kyc", "updateKyc", address, int(body.kyc_expiry.timestamp())
    )
    return write_response(outcome, response, lambda _o: Participant(**service.show(address)))


class TaxIdRecord(BaseModel):
    """The tax id of a participant onboarded before tax ids were recorded."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"tax_id": "91440300MA5FL0002Y"}]}
    )
    tax_id: TaxId
    _normalised = field_validator("tax_id")(_normalised_tax_id)


@router.put(
    "/participants/{address}/tax-id",
    operation_id="participants.record_tax_id",
    response_model=Participant,
)
def record_tax_id(
    address: Address, body: TaxIdRecord, caller: ActorDep, service: ParticipantsDep
) -> Any:
    """Record the seller tax id of a participant onboarded without one (before tax ids were
    recorded at onboarding), so that receivables can name it as creditor. Operator only.
    Once: 409 ``TaxIdAlreadyRecorded`` if it has one, or if another participant holds it."""
    return service.record_tax_id(caller, address, body.tax_id)


# --- API keys: their owner's alone -------------------------------------------------------

#: Path id of a key recovery (16 hex digits).
RecoveryId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


@router.post(
    "/participants/{address}/api-keys",
    operation_id="api_keys.issue",
    response_model=IssuedKey,
    status_code=201,
)
def issue_key(
    address: Address,
    caller: ActorDep,
    service: ParticipantsDep,
    body: KeyRequest | None = None,
) -> Any:
    """Issue the caller another API key of its own (shown once). Only the participant itself,
    while active; the operator gets a participant's key only through a key recovery."""
    label = body.label if body else None
    return _issued(service.issue_key(caller, address, label))


@router.get(
    "/participants/{address}/api-keys", operation_id="api_keys.list", response_model=list[KeyInfo]
)
def list_keys(address: Address, caller: ActorDep, service: ParticipantsDep) -> Any:
    """A participant's keys, revoked ones included (never the keys). Owner or operator."""
    return [_key_info(k) for k in service.keys(caller, address)]


@router.post(
    "/api-keys/{key_id}/rotate",
    operation_id="api_keys.rotate",
    response_model=IssuedKey,
    status_code=201,
)
def rotate_key(key_id: KeyId, caller: ActorDep, service: ParticipantsDep) -> Any:
    """Replace one of the caller's live keys: a new one is issued (shown once) and the old
    one revoked at once. A revoked key is 409 ``ApiKeyRevoked``; only an active owner."""
    return _issued(service.rotate_key(caller, key_id))


@router.delete("/api-keys/{key_id}", operation_id="api_keys.revoke", response_model=KeyInfo)
def revoke_key(key_id: KeyId, caller: ActorDep, service: ParticipantsDep) -> Any:
    """Revoke one of the caller's keys: from the next request on it is refused (401). A
    suspended participant may still revoke."""
    return _key_info(service.revoke_key(caller, key_id))


# --- key recovery: delayed, seen by the participant, cancellable, audited ------------------


@router.post(
    "/participants/{address}/recovery",
    operation_id="key_recoveries.request",
    response_model=KeyRecovery,
    status_code=201,
)
def request_recovery(
    address: Address, body: RecoveryRequest, caller: ActorDep, service: ParticipantsDep
) -> Any:
    """Ask to recover a participant's API key (one that lost its keys). Operator only.

    Nothing is issued now: the request can be completed from ``completable_at`` on
    (``LEDGER_KEY_RECOVERY_DELAY`` later, 72 h by default). Until then every answer to the
    participant carries ``X-Ledger-Key-Recovery``, its record (``GET /v1/participants/me``)
    lists the request, and any of its live keys may cancel it. One pending request per
    participant (409 ``KeyRecoveryPending``); the operator's own keys are not recovered.
    """
    return _recovery(service.request_recovery(caller, address, body.reason))


@router.get(
    "/participants/{address}/recoveries",
    operation_id="key_recoveries.list",
    response_model=list[KeyRecovery],
)
def list_recoveries(address: Address, caller: ActorDep, service: ParticipantsDep) -> Any:
    """Every recovery of a participant's keys, newest first, each with its audit steps.
    For the participant itself, the operator, auditors and regulators."""
    return [_recovery(r) for r in service.recoveries(caller, address)]


@router.post(
    "/key-recoveries/{recovery_id}/cancel",
    operation_id="key_recoveries.cancel",
    response_model=KeyRecovery,
)
def cancel_recovery(recovery_id: RecoveryId, caller: ActorDep, service: ParticipantsDep) -> Any:
    """Cancel a pending key recovery: the participant (with any live key of its own, whatever
    its standing) or the operator. A closed one is 409 ``KeyRecoveryNotPending``."""
    return _recovery(service.cancel_recovery(caller, recovery_id))


@router.post(
    "/key-recoveries/{recovery_id}/complete",
    operation_id="key_recoveries.complete",
    response_model=RecoveredKey,
    status_code=201,
)
def complete_recovery(recovery_id: RecoveryId, caller: ActorDep, service: ParticipantsDep) -> Any:
    """Complete a pending key recovery once its delay is over (409 ``KeyRecoveryNotDue``
    before). Operator only. The participant's other keys are revoked and a new one issued,
    in the answer this once (never kept, not even by an Idempotency-Key's record): hand it
    to the participant through its verified contacts."""
    found, issued = service.complete_recovery(caller, recovery_id)
    return RecoveredKey(recovery=_recovery(found), api_key=_issued(issued))
