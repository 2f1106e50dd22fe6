"""/v1/credit-lines: grant, amend, programme sub-limits, close, freeze, unfreeze, write-off,
list, show."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ledger_app.api.actions import action_route
from ledger_app.api.deps import ActorDep, BlockDep, CreditLinesDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import (
    MAX_SAFE_INTEGER,
    Address,
    Amount,
    Currency,
    IsoDateTime,
    Page,
    PathId,
    WriteResponse,
)
from ledger_app.api.services.credit_lines import STATUSES, CreditLineService
from ledger_app.api.services.writes import WriteOutcome

router = APIRouter(prefix="/v1/credit-lines", tags=["credit lines"])


def _zoned(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone (e.g. Z)")
    return value


class GrantIn(BaseModel):
    """A line to grant: the obligor (a core enterprise), its currency, limit and expiry."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "obligor": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    "currency": "CNY",
                    "limit": "5000000000",
                    "expiry": "2027-12-31T00:00:00Z",
                }
            ]
        },
    )
    obligor: Address = Field(description="the core enterprise the line is to")
    currency: Currency
    limit: Amount = Field(description="the most the financier funds against the obligor")
    expiry: IsoDateTime = Field(description="usable until then (the ledger's clock)")

    @field_validator("expiry")
    @classmethod
    def _zone(cls, value: datetime) -> datetime:
        return _zoned(value)


class AmendIn(BaseModel):
    """New terms: a limit, an expiry or both (a term left out is kept)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"limit": "8000000000"}]},
    )
    limit: Amount | None = None
    expiry: IsoDateTime | None = None

    @field_validator("expiry")
    @classmethod
    def _zone(cls, value: datetime | None) -> datetime | None:
        return value if value is None else _zoned(value)

    @model_validator(mode="after")
    def _some_term(self) -> AmendIn:
        if self.limit is None and self.expiry is None:
            raise ValueError("give a limit, an expiry or both")
        return self


class SubLimitIn(BaseModel):
    """A supplier's sub-limit on the line's programme."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"limit": "1000000000"}]}
    )
    limit: Amount


class WriteOffIn(BaseModel):
    """The defaulted receivable whose drawing the financier writes off, and how much of
    it (left out: all it still draws)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"receivable_id": 7}, {"receivable_id": 7, "amount": "30000000"}]
        },
    )
    receivable_id: int = Field(ge=1, le=MAX_SAFE_INTEGER)
    amount: Amount | None = Field(default=None, description="left out: all that is still drawn")


class SupplierLimit(BaseModel):
    """A supplier named on a programme line: its sub-limit, what it has drawn, what is left."""

    supplier: str
    limit: str
    utilised: str
    headroom: str


class Drawing(BaseModel):
    """What one financed receivable drew on the line; kept after its release."""

    receivable_id: int
    financing_id: int
    supplier: str
    amount: str
    drawn_block: int
    released_block: int | None
    release_cause: str | None = Field(description="REPAID, RECOVERED, BOUGHT_BACK or SOLD")
    written_off: str = Field(description="written off of the amount while drawn")
    recovered: str | None = Field(description="paid through clearing after a write-off")
    recovered_block: int | None


class CreditLine(BaseModel):
    """A credit line: its terms and use. ``utilisation_bps`` = utilised x 10000 // limit;
    ``expired`` is judged at the index head block's time."""

    line_id: int
    financier: str
    obligor: str
    currency: str
    limit: str
    utilised: str
    headroom: str
    utilisation_bps: int
    band: int | None = Field(
        description="the warning band reached: 80, 90 or 100 (% used), null below 80"
    )
    expiry: datetime
    status: str = Field(description="OPEN or CLOSED")
    frozen: bool
    expired: bool
    programme: bool = Field(description="only the suppliers named draw on it")
    suppliers: list[SupplierLimit]
    drawings: list[Drawing]
    granted_block: int
    updated_block: int


def _show(service: CreditLineService, caller: Any, line_id: int) -> CreditLine:
    return CreditLine(**service.describe(service.get(caller, line_id)))


@router.post(
    "", operation_id="credit_lines.grant", response_model=WriteResponse[CreditLine], status_code=201
)
def grant(body: GrantIn, caller: ActorDep, service: CreditLinesDep, response: Response) -> Any:
    """A financier grants a core enterprise a credit line in a currency: it funds financings
    of the core's receivables only within it (accept draws on it, clearing frees it). One
    open line per financier, obligor and currency."""
    outcome = service.grant(
        caller, body.obligor, body.currency, body.limit, int(body.expiry.timestamp())
    )

    def render(o: WriteOutcome) -> CreditLine:
        return _show(service, caller, o.event("CreditLineGranted").args["lineId"])

    return write_response(outcome, response, render, created=True)


@router.get("", operation_id="credit_lines.list", response_model=Page[CreditLine])
def list_lines(
    caller: ActorDep,
    service: CreditLinesDep,
    block: BlockDep,
    financier: Address | None = None,
    obligor: Address | None = None,
    currency: Annotated[str | None, Query(pattern="^[A-Z]{3}$")] = None,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_SAFE_INTEGER)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """The lines the caller may see: a financier those it granted, a core enterprise those
    granted to it, a supplier those naming it (its own sub-limit only); auditors,
    regulators and the operator all."""
    rows, next_id = service.list(caller, financier=financier, obligor=obligor,
                                 currency=currency, status=status, after=cursor,
                                 limit=limit)  # fmt: skip
    return Page[CreditLine](
        items=[CreditLine(**service.describe(r)) for r in rows],
        next_cursor=None if next_id is None else str(next_id),
    )


@router.post(
    "/write-offs",
    operation_id="credit_lines.write_off",
    response_model=WriteResponse[CreditLine],
)
def write_off(
    body: WriteOffIn, caller: ActorDep, service: CreditLinesDep, response: Response
) -> Any:
    """The financier writes off all or part (``amount``) of a defaulted receivable it
    financed: that much leaves the line's utilisation (released WRITTEN_OFF); several
    partial write-offs may follow. If the debtor pays later, clearing frees only what is
    still drawn and the recovery is recorded on the drawing. Answers the line."""
    outcome, line_id = service.write_off(caller, body.receivable_id, body.amount)
    return write_response(outcome, response, lambda _o: _show(service, caller, line_id))


# ``:int`` so that GET or PATCH /write-offs is the 405 of the write-off route, not a
# malformed line id here.
@router.get("/{line_id:int}", operation_id="credit_lines.show", response_model=CreditLine)
def show(line_id: PathId, caller: ActorDep, service: CreditLinesDep, block: BlockDep) -> Any:
    """One line (404 unless the caller may see it)."""
    return _show(service, caller, line_id)


@router.patch(
    "/{line_id:int}", operation_id="credit_lines.amend", response_model=WriteResponse[CreditLine]
)
def amend(
    line_id: PathId, body: AmendIn, caller: ActorDep, service: CreditLinesDep, response: Response
) -> Any:
    """The line's financier raises or lowers its limit (not below what is used) and moves
    its expiry (into the future); a term left out is kept."""
    expiry = None if body.expiry is None else int(body.expiry.timestamp())
    outcome = service.amend(caller, line_id, body.limit, expiry)
    return write_response(outcome, response, lambda _o: _show(service, caller, line_id))


@router.put(
    "/{line_id:int}/suppliers/{supplier}",
    operation_id="credit_lines.set_supplier_limit",
    response_model=WriteResponse[CreditLine],
)
def set_supplier_limit(
    line_id: PathId,
    supplier: Address,
    body: SubLimitIn,
    caller: ActorDep,
    service: CreditLinesDep,
    response: Response,
) -> Any:
    """The line's financier names a supplier on the line's programme with a sub-limit (not
    above the line's limit), or changes it. The first one makes the line a programme for
    good: from then on only the suppliers named draw on it."""
    outcome = service.set_supplier_limit(
        caller, "credit_lines.set_supplier_limit", line_id, supplier, body.limit
    )
    return write_response(outcome, response, lambda _o: _show(service, caller, line_id))


@router.delete(
    "/{line_id:int}/suppliers/{supplier}",
    operation_id="credit_lines.remove_supplier",
    response_model=WriteResponse[CreditLine],
)
def remove_supplier(
    line_id: PathId, supplier: Address, caller: ActorDep, service: CreditLinesDep,
    response: Response,
) -> Any:  # fmt: skip
    """The line's financier takes a supplier off its programme (sub-limit 0): it draws no
    more; what it drew is still freed as it is repaid."""
    outcome = service.set_supplier_limit(
        caller, "credit_lines.remove_supplier", line_id, supplier, 0
    )
    return write_response(outcome, response, lambda _o: _show(service, caller, line_id))


def _action(suffix: str, operation: str, function: str, doc: str) -> None:
    action_route(
        router,
        f"/{{line_id:int}}/{suffix}",
        operation,
        doc,
        ids={"line_id": PathId},
        service=CreditLinesDep,
        send=lambda service, caller, line_id: service.act(caller, operation, line_id, function),
        render=lambda service, caller, line_id: _show(service, caller, line_id),
        result=CreditLine,
    )


_action(
    "close",
    "credit_lines.close",
    "close",
    "The line's financier closes it: nothing more draws on it, what is drawn is freed as it "
    "is repaid, and it may grant the obligor a new line.",
)
_action(
    "freeze",
    "credit_lines.freeze",
    "freeze",
    "A regulator freezes the line: nothing draws on it until it is unfrozen.",
)
_action("unfreeze", "credit_lines.unfreeze", "unfreeze", "A regulator lifts a line's freeze.")
