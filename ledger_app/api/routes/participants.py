"""/v1/participants: onboard, list, show, suspend, reinstate, KYC, account freeze; API keys."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ledger_app.api import auth
from ledger_app.api.deps import ActorDep, BlockDep, RuntimeDep
from ledger_app.api.permissions import BUSINESS_ROLES, Role
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import Address, IsoDateTime, Page, WriteResponse, utc
from ledger_app.api.services.participants import ParticipantService, lei_bytes
from ledger_app.domain.invoices import normalise

router = APIRouter(prefix="/v1", tags=["participants"])

_ISO_17442 = r"^[A-Z0-9]{18}[0-9]{2}$"
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
def onboard(body: Onboarding, caller: ActorDep, runtime: RuntimeDep, response: Response) -> Any:
    """Onboard a participant on chain with its roles, and issue its first API key.

    Operator only. The API key is in the answer once and never again.
    """
    service = ParticipantService(runtime)
    address, outcome, issued = service.onboard(
        caller,
        lei=lei_bytes(body.lei),
        jurisdiction=body.jurisdiction,
        kyc_expiry=int(body.kyc_expiry.timestamp()),
        roles=[role.value for role in body.roles],
        address=body.address,
        label=body.label,
        tax_id=body.tax_id,
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
    runtime: RuntimeDep,
    block: BlockDep,
    role: Role | None = None,
    cursor: Annotated[str | None, Query(max_length=42, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """The participant directory (everyone may read it), by address."""
    items, next_cursor = ParticipantService(runtime).list(role, cursor, limit)
    return Page[Participant](items=[Participant(**p) for p in items], next_cursor=next_cursor)


@router.get("/participants/me", operation_id="participants.me", response_model=Participant)
def show_me(caller: ActorDep, runtime: RuntimeDep, block: BlockDep) -> Any:
    """The caller's own participant record."""
    return ParticipantService(runtime).show(caller.address)


@router.get("/participants/{address}", operation_id="participants.show", response_model=Participant)
def show_participant(
    address: Address, caller: ActorDep, runtime: RuntimeDep, block: BlockDep
) -> Any:
    """One participant."""
    return ParticipantService(runtime).show(address)


def _registry_route(path: str, operation: str, function: str, doc: str) -> None:
    def handler(address: Address, caller: ActorDep, runtime: RuntimeDep, response: Response) -> Any:
        service = ParticipantService(runtime)
        outcome = service.registry_write(caller, operation, function, address)
        return write_response(outcome, response, lambda _o: Participant(**service.show(address)))

    handler.__doc__ = doc
    handler.__name__ = operation.replace(".", "_")
    router.post(path, operation_id=operation, response_model=WriteResponse[Participant])(handler)


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
    address: Address, body: KycUpdate, caller: ActorDep, runtime: RuntimeDep, response: Response
) -> Any:
    """Set a participant's KYC expiry. Operator only."""
    service = ParticipantService(runtime)
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
    address: Address, body: TaxIdRecord, caller: ActorDep, runtime: RuntimeDep
) -> Any:
    """Record the seller tax id of a participant onboarded without one (before tax ids were
    recorded at onboarding), so that receivables can name it as creditor. Operator only.
    Once: 409 ``TaxIdAlreadyRecorded`` if it has one, or if another participant holds it."""
    return ParticipantService(runtime).record_tax_id(caller, address, body.tax_id)


# --- API keys ---------------------------------------------------------------------------


@router.post(
    "/participants/{address}/api-keys",
    operation_id="api_keys.issue",
    response_model=IssuedKey,
    status_code=201,
)
def issue_key(
    address: Address, caller: ActorDep, runtime: RuntimeDep, body: KeyRequest | None = None
) -> Any:
    """Issue another API key to a participant (shown once). Operator only."""
    return _issued(ParticipantService(runtime).issue_key(address, body.label if body else None))


@router.get(
    "/participants/{address}/api-keys", operation_id="api_keys.list", response_model=list[KeyInfo]
)
def list_keys(address: Address, caller: ActorDep, runtime: RuntimeDep) -> Any:
    """A participant's keys, revoked ones included (never the keys). Owner or operator."""
    ParticipantService(runtime).check_key_owner(caller, address)
    return [_key_info(k) for k in auth.list_keys(runtime.engine, address)]


@router.post(
    "/api-keys/{key_id}/rotate",
    operation_id="api_keys.rotate",
    response_model=IssuedKey,
    status_code=201,
)
def rotate_key(key_id: KeyId, caller: ActorDep, runtime: RuntimeDep) -> Any:
    """Replace a key: a new one is issued (shown once) and the old one revoked at once."""
    ParticipantService(runtime).owned_key(caller, key_id)
    return _issued(auth.rotate_key(runtime.engine, key_id))


@router.delete("/api-keys/{key_id}", operation_id="api_keys.revoke", response_model=KeyInfo)
def revoke_key(key_id: KeyId, caller: ActorDep, runtime: RuntimeDep) -> Any:
    """Revoke a key: from the next request on it is refused (401). Owner or operator."""
    service = ParticipantService(runtime)
    record = service.owned_key(caller, key_id)
    service.refuse_last_operator_key(record)
    return _key_info(auth.revoke_key(runtime.engine, key_id))
