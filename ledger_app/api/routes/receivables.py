"""/v1/receivables: register (one or a batch), list, show, confirm, reject, cancel,
split, transfer, freeze, unfreeze."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ledger_app.api.actions import action_route
from ledger_app.api.deps import ActorDep, BlockDep, ReceivablesDep, RuntimeDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import (
    MAX_SAFE_INTEGER,
    Address,
    Amount,
    Bytes32,
    Currency,
    IsoDate,
    Page,
    PathId,
    WriteResponse,
)
from ledger_app.api.services.receivables import (
    ZERO32,
    Filters,
    ReceivableService,
    Registration,
    describe,
)
from ledger_app.api.services.writes import WriteOutcome
from ledger_app.domain.clearing_amounts import MAX_LATE_INTEREST_BPS
from ledger_app.domain.vocabulary import RECEIVABLE_STATUS
from ledger_app.errors import InvalidInput

router = APIRouter(prefix="/v1/receivables", tags=["receivables"])

Status = Annotated[str, Field(pattern="^(" + "|".join(RECEIVABLE_STATUS[1:]) + ")$")]


def _due_timestamp(due: date) -> int:
    # Due at the end of the due date, UTC: the debtor has the whole day.
    return int(datetime.combine(due, clock_time(23, 59, 59), UTC).timestamp())


class Invoice(BaseModel):
    """The invoice's natural key. Its seller must be the creditor: ``seller_tax_id`` is
    the tax id recorded for the creditor at onboarding (else 422 ``SellerNotCreditor``).
    The ledger-wide invoice key binds the number and type to the creditor's LEI."""

    model_config = ConfigDict(extra="forbid")
    seller_tax_id: str = Field(
        min_length=1,
        max_length=64,
        examples=["91310000MA1FL0001X"],
        description="the creditor's tax id, as recorded at its onboarding (compared normalised)",
    )
    number: str = Field(min_length=1, max_length=64, examples=["INV-2026-0001"])
    type: str = Field(default="VAT_SPECIAL", min_length=1, max_length=32)


class RegistrationIn(BaseModel):
    """A receivable the caller (a core enterprise) owes ``creditor``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "creditor": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    "amount": "100000000",
                    "currency": "CNY",
                    "due_date": "2027-03-31",
                    "invoice": {"seller_tax_id": "91310000MA1FL0001X", "number": "INV-2026-0001"},
                    "document_hash": "0x" + "ab" * 32,
                    "late_interest_bps": 1200,
                }
            ]
        },
    )

    creditor: Address
    amount: Amount
    currency: Currency
    due_date: IsoDate = Field(description="ISO date; due at its end (23:59:59 UTC)")
    invoice: Invoice
    document_hash: Bytes32 | None = Field(
        default=None,
        description=(
            "keccak256 returned by POST /v1/documents (optional): a document the caller "
            "uploaded or was granted, else 404 DocumentUnknown"
        ),
    )
    late_interest_bps: int = Field(
        default=0,
        ge=0,
        le=MAX_LATE_INTEREST_BPS,
        description=(
            "annual late interest in basis points (0: none, at most 10000), charged when the "
            "receivable is paid after its due date: floor(amount x bps x whole days late / "
            "(10^4 x 365)), paid to the holders pro rata to face"
        ),
    )

    @field_validator("due_date")
    @classmethod
    def _future(cls, due: date) -> date:
        if _due_timestamp(due) <= time.time():
            raise ValueError("the due date is in the past")
        return due


class BatchIn(BaseModel):
    """Many receivables at once: all registered or none."""

    model_config = ConfigDict(extra="forbid")
    items: list[RegistrationIn] = Field(min_length=1, max_length=1000)


class Receivable(BaseModel):
    """A receivable as indexed."""

    id: int
    parent_id: int
    root_id: int
    debtor: str
    creditor: str
    holder: str
    amount: str
    currency: str
    issue_date: datetime
    due_date: datetime
    invoice_key: str
    document_hash: str
    late_interest_bps: int = 0
    status: str
    frozen: bool
    children: list[int]
    outstanding: str | None
    created_block: int
    updated_block: int


class SplitIn(BaseModel):
    """Parts of a split; they must sum exactly to the receivable's amount."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amounts": ["60000000", "40000000"]}]}
    )
    amounts: list[Amount] = Field(min_length=2, max_length=100)


class TransferIn(BaseModel):
    """The new holder (an active supplier or financier)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"}]},
    )
    to: Address


def _registration(service: ReceivableService, body: RegistrationIn) -> Registration:
    return Registration(
        creditor=body.creditor,
        amount=body.amount,
        currency=body.currency,
        due_date=_due_timestamp(body.due_date),
        seller_tax_id=body.invoice.seller_tax_id,
        invoice_ref=service.invoice_ref(body.invoice.number, body.invoice.type),
        document_hash=bytes.fromhex(body.document_hash[2:]) if body.document_hash else ZERO32,
        late_interest_bps=body.late_interest_bps,
    )


def _render(service: ReceivableService, caller: Any, ids: list[int]):
    def render(_outcome: WriteOutcome) -> list[Receivable]:
        return [Receivable(**describe(row)) for row in service.rows(caller, ids)]

    return render


def _touched(outcome: WriteOutcome) -> list[int]:
    """Ids a receivable transaction changed, in order, children of a split included."""
    ids: list[int] = []
    for event in outcome.events:
        if event.name == "ReceivableSplit":
            first = event.args["firstChildId"]
            ids += [event.args["parentId"], *range(first, first + len(event.args["amounts"]))]
        elif "id" in event.args and event.kind == "ReceivableRegistry":
            ids.append(event.args["id"])
    return list(dict.fromkeys(ids))


@router.post(
    "",
    operation_id="receivables.register",
    response_model=WriteResponse[Receivable],
    status_code=201,
)
def register(
    body: RegistrationIn, caller: ActorDep, service: ReceivablesDep, response: Response
) -> Any:
    """Register one receivable the caller owes (core enterprise). It starts PENDING until its
    creditor confirms. 409 ``ReceivableDuplicateInvoice`` if the creditor's invoice was
    registered before (``args.id`` names that receivable to its parties only); 422
    ``SellerNotCreditor`` if ``invoice.seller_tax_id`` is not the creditor's recorded tax id;
    409 ``CreditorTaxIdUnknown`` if none is recorded for the creditor (the operator records
    it once: ``PUT /v1/participants/{address}/tax-id``); 404 ``DocumentUnknown`` for a
    ``document_hash`` the caller neither uploaded nor was granted."""
    outcome = service.register(caller, _registration(service, body))

    def render(o: WriteOutcome) -> Receivable:
        (row,) = service.registered(caller, [o.event("ReceivableRegistered").args["id"]])
        return Receivable(**describe(row))

    return write_response(outcome, response, render, created=True)


class BatchOut(BaseModel):
    """The registered receivables of a batch, and the transactions that carried them."""

    receivables: list[Receivable]
    transactions: list[WriteResponse[None]]


@router.post(
    "/batch",
    operation_id="receivables.register_batch",
    response_model=WriteResponse[BatchOut],
    status_code=201,
)
def register_batch(
    body: BatchIn,
    caller: ActorDep,
    service: ReceivablesDep,
    runtime: RuntimeDep,
    response: Response,
) -> Any:
    """Register up to 1,000 receivables in as few transactions as the registry's MAX_BATCH
    allows. Every row is checked and every transaction simulated before the first is sent;
    a refusal answers a per-row report (``args.rows``: row, field, error, message), with the
    rows' status when they share one (409 duplicates, 404 ``DocumentUnknown``), else 422."""
    if len(body.items) > runtime.settings.batch_max_rows:
        raise InvalidInput(f"at most {runtime.settings.batch_max_rows} rows", field="items")
    outcomes = service.register_batch(caller, [_registration(service, item) for item in body.items])
    ids = [e.args["id"] for o in outcomes for e in o.all("ReceivableRegistered")]
    parts = [write_response(o, Response()) for o in outcomes]
    last = outcomes[-1]

    def render(_o: WriteOutcome) -> BatchOut:
        rows = [Receivable(**describe(row)) for row in service.registered(caller, ids)]
        return BatchOut(receivables=rows, transactions=parts)

    # The last transaction indexed means every earlier one is too.
    return write_response(last, response, render, created=True)


@router.get("", operation_id="receivables.list", response_model=Page[Receivable])
def list_receivables(
    caller: ActorDep,
    service: ReceivablesDep,
    block: BlockDep,
    status: Status | None = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    due_from: IsoDate | None = None,
    due_to: IsoDate | None = None,
    counterparty: Address | None = None,
    root_id: Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER)] = None,
    cursor: Annotated[
        int | None, Query(ge=0, le=MAX_SAFE_INTEGER, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Receivables the caller is a party to, by id, with filters and pagination."""
    filters = Filters(
        status=status,
        currency=currency,
        due_from=int(datetime.combine(due_from, clock_time(0), UTC).timestamp())
        if due_from
        else None,
        due_to=_due_timestamp(due_to) if due_to else None,
        counterparty=counterparty,
        root_id=root_id,
    )
    rows, next_id = service.list(caller, filters, cursor, limit)
    return Page[Receivable](
        items=[Receivable(**describe(r)) for r in rows],
        next_cursor=None if next_id is None else str(next_id),
    )


# ``:int`` so that GET /batch is the 405 of the batch route, not a malformed id here.
@router.get("/{receivable_id:int}", operation_id="receivables.show", response_model=Receivable)
def show(receivable_id: PathId, caller: ActorDep, service: ReceivablesDep, block: BlockDep) -> Any:
    """One receivable (404 unless the caller is a party to it)."""
    return Receivable(**describe(service.get(caller, receivable_id)))


def _action(path: str, operation: str, function: str, doc: str) -> None:
    action_route(
        router,
        path,
        operation,
        doc,
        ids={"receivable_id": PathId},
        service=ReceivablesDep,
        send=lambda service, caller, rid: service.act(caller, operation, rid, function),
        render=lambda service, caller, rid: Receivable(**describe(service.get(caller, rid))),
        result=Receivable,
    )


_action(
    "/{receivable_id}/confirm",
    "receivables.confirm",
    "confirm",
    "The named creditor confirms a PENDING receivable: it becomes ACTIVE.",
)
_action(
    "/{receivable_id}/reject",
    "receivables.reject",
    "reject",
    "The named creditor refuses a PENDING receivable: it becomes REJECTED.",
)
_action(
    "/{receivable_id}/cancel",
    "receivables.cancel",
    "cancel",
    "The debtor withdraws a PENDING receivable: it becomes CANCELLED.",
)
_action(
    "/{receivable_id}/freeze",
    "receivables.freeze",
    "freeze",
    "The regulator freezes a receivable: nothing moves it until unfrozen.",
)
_action("/{receivable_id}/unfreeze", "receivables.unfreeze", "unfreeze",
        "The regulator lifts a freeze.")  # fmt: skip


@router.post(
    "/{receivable_id}/split",
    operation_id="receivables.split",
    response_model=WriteResponse[list[Receivable]],
)
def split(
    receivable_id: PathId,
    body: SplitIn,
    caller: ActorDep,
    service: ReceivablesDep,
    response: Response,
) -> Any:
    """The holder splits an ACTIVE receivable into 2..100 parts summing exactly to it; the
    answer lists the parent (now SPLIT) and the new children (ACTIVE, held by the caller)."""
    outcome = service.split(caller, receivable_id, body.amounts)
    return write_response(outcome, response, lambda o: _render(service, caller, _touched(o))(o))


@router.post(
    "/{receivable_id}/transfer",
    operation_id="receivables.transfer",
    response_model=WriteResponse[Receivable],
)
def transfer(
    receivable_id: PathId,
    body: TransferIn,
    caller: ActorDep,
    service: ReceivablesDep,
    response: Response,
) -> Any:
    """The holder passes an ACTIVE receivable to another supplier or financier."""
    outcome = service.act(caller, "receivables.transfer", receivable_id, "transfer", body.to)
    # The caller may be no party once it gave the receivable away; it still sees the
    # state its own transfer left.
    return write_response(
        outcome, response, lambda o: Receivable(**describe(service.current(receivable_id)))
    )
