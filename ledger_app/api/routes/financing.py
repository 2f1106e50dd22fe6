"""/v1/financings: request, quote, offer, accept, reject, withdraw, expire, cancel, default,
recourse payments and their withdrawal, sales (offer, cancel, buy), list, show."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    field_validator,
)

from ledger_app.api.actions import action_route
from ledger_app.api.deps import ActorDep, BlockDep, FinancingDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import (
    MAX_SAFE_INTEGER,
    MAX_UINT128,
    Address,
    Amount,
    IsoDateTime,
    Page,
    PathId,
    WriteResponse,
    money_schema,
)
from ledger_app.api.services.financing import FinancingService, Terms
from ledger_app.api.services.writes import WriteOutcome

router = APIRouter(prefix="/v1/financings", tags=["financing"])

STATUSES = ("REQUESTED", "OFFERED", "FUNDED", "DEFAULTED", "CLOSED", "REPAID", "BOUGHT_BACK")
MAX_UINT64 = 2**64 - 1
#: An offer of a financing: the desk keeps at most a few (FinancingTooManyOffers).
OfferIndex = Annotated[int, Path(ge=0, le=255)]


def _fee(value: Any) -> int:
    # Like Amount, but a fee of 0 is a fee.
    if isinstance(value, bool | float):
        raise ValueError("a fee is an integer of minor units (no floats)")
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,40}", value):
            raise ValueError("a fee is a string of decimal digits")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_UINT128:
        raise ValueError("a fee is an integer of minor units in 0..2**128-1")
    return value


Fee = Annotated[
    int,
    BeforeValidator(_fee),
    PlainSerializer(str, return_type=str),
    money_schema(r"^[0-9]{1,40}$", minimum=0, example="50000"),
]


class RequestIn(BaseModel):
    """Financing asked for a receivable the caller holds, from one financier or any."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"receivable_id": 1, "financier": "0x90F79bf6EB2c4f870365E785982E1f101E93b906"}
            ]
        },
    )
    receivable_id: int = Field(ge=1, le=MAX_SAFE_INTEGER)
    financier: Address | None = Field(default=None, description="leave out to ask any financier")


class TermsIn(BaseModel):
    """An offer's terms. The figures they give (advance, discount, proceeds) come back in
    the quote and in the offer."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "advance_rate_bps": 9000,
                    "discount_rate_bps": 600,
                    "day_count_basis": 365,
                    "recourse": False,
                    "grace_period_days": 30,
                    "expires_at": "2027-01-31T00:00:00Z",
                    "fee": "50000",
                }
            ]
        },
    )
    advance_rate_bps: int = Field(ge=1, le=10_000, description="share of face advanced")
    discount_rate_bps: int = Field(ge=0, le=65_535, description="annual discount rate")
    day_count_basis: Literal[365, 360] = Field(default=365, description="ACT/365 or ACT/360")
    recourse: StrictBool = False
    grace_period_days: int = Field(default=30, ge=0, le=49_710)
    expires_at: IsoDateTime = Field(description="the offer can be accepted until then")
    fee: Fee = 0

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. Z)")
        if value.timestamp() <= time.time():
            raise ValueError("must be in the future")
        if value.timestamp() > MAX_UINT64:
            raise ValueError("too far in the future")
        return value

    def terms(self) -> Terms:
        """The desk's terms."""
        return Terms(
            advance_rate_bps=self.advance_rate_bps,
            discount_rate_bps=self.discount_rate_bps,
            day_count_basis=self.day_count_basis,
            recourse=self.recourse,
            grace_period=self.grace_period_days * 86_400,
            expiry=int(self.expires_at.timestamp()),
            fee=self.fee,
        )


class DebtorScore(BaseModel):
    """The debtor's risk score and grade (GET /v1/risk/scores/{core})."""

    score: int
    grade: str


class LineRoom(BaseModel):
    """The caller's (a financier's) open credit line to the debtor in the currency."""

    line_id: int
    headroom: str
    utilisation_bps: int
    band: int | None = Field(description="warning band reached (80, 90, 100), null below")


class FinancingRisk(BaseModel):
    """What a financier weighs before offering: the debtor (the receivable's obligor), its
    score, and its own line's room (null: it has no open line to the debtor in this
    currency, so it cannot fund)."""

    debtor: str
    debtor_score: DebtorScore
    line: LineRoom | None


class Quote(BaseModel):
    """What terms give on this financing, priced at ``priced_at`` (integer minor units)."""

    face_amount: str
    currency: str
    days_to_maturity: int
    priced_at: datetime
    advance: str
    discount: str
    fee: str
    proceeds: str
    risk: FinancingRisk


class Offer(BaseModel):
    """An offer and its figures: ``proceeds`` = advance - discount - fee, escrowed."""

    index: int
    financier: str
    status: str
    advance_rate_bps: int
    discount_rate_bps: int
    day_count_basis: int
    recourse: bool
    grace_period_seconds: int
    expires_at: datetime
    advance: str
    discount: str
    fee: str
    proceeds: str
    refund_deferred: str | None = Field(
        default=None,
        description="the refund of this closed offer the desk kept for its financier, which "
        "could not receive it then (suspended, KYC expired or frozen): claimable with POST "
        "/v1/claims (contract financing); null when refunded at once or still open",
    )


class RecoursePaymentIn(BaseModel):
    """Part (or all) of what remains of a defaulted financing's recourse claim."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": "30000000"}]}
    )
    amount: Amount


class SaleOfferIn(BaseModel):
    """A funded financing offered to one named financier for a price, until a time."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "buyer": "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
                    "price": "90000000",
                    "expiry": "2030-01-01T00:00:00Z",
                }
            ]
        },
    )
    buyer: Address
    price: Amount
    expiry: IsoDateTime


class RecoursePayment(BaseModel):
    """A recourse payment (PAYMENT) or the supplier taking its payments back (WITHDRAWAL)."""

    kind: str
    amount: str
    paid: str = Field(description="paid of the claim after it")
    block_number: int


class Sale(BaseModel):
    """An offer to sell the financing to another financier, and its outcome."""

    sale_id: int
    seller: str
    buyer: str
    price: str
    expires_at: datetime
    status: str = Field(description="OPEN, SOLD or CANCELLED")
    offered_block: int
    closed_block: int | None


class Financing(BaseModel):
    """A financing request, its receivable's terms and the offers the caller may see;
    after funding, its recourse payments, buy-back, write-offs, recovery and sales."""

    id: int
    receivable_id: int
    supplier: str
    financier: str | None
    status: str
    face_amount: str
    currency: str
    due_date: datetime
    offer_count: int
    accepted_offer: int | None
    recourse_claim: str
    offers: list[Offer]
    recourse_paid: str = Field(description="paid of the recourse claim, held by the desk")
    recourse_outstanding: str = Field(description="what remains of the claim (0 once bought back)")
    recourse_payments: list[RecoursePayment]
    bought_back_block: int | None = Field(description="the block the claim was paid in full")
    written_off: str = Field(description="written off by the financier of the drawing")
    recovered: str | None = Field(description="paid through clearing after a write-off")
    recovered_block: int | None
    sales: list[Sale]
    updated_block: int
    risk: FinancingRisk


def _show(service: FinancingService, caller: Any, financing_id: int) -> Financing:
    return Financing(**service.describe(caller, service.get(caller, financing_id)))


@router.post(
    "", operation_id="financing.request", response_model=WriteResponse[Financing], status_code=201
)
def request(body: RequestIn, caller: ActorDep, service: FinancingDep, response: Response) -> Any:
    """The holder (a supplier) asks for financing of an ACTIVE receivable, from ``financier``
    or from any financier. The receivable is locked (FINANCING) until funded or cancelled."""
    outcome = service.request(caller, body.receivable_id, body.financier)

    def render(o: WriteOutcome) -> Financing:
        return _show(service, caller, o.event("FinancingRequested").args["financingId"])

    return write_response(outcome, response, render, created=True)


@router.get("", operation_id="financing.list", response_model=Page[Financing])
def list_financings(
    caller: ActorDep,
    service: FinancingDep,
    block: BlockDep,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_SAFE_INTEGER)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Financings the caller is a party to: a supplier its own; a financier those named to
    it, those open to any financier, and those it offered on or funded; readers all."""
    rows, next_id = service.list(caller, status, cursor, limit)
    return Page[Financing](
        items=[Financing(**service.describe(caller, r)) for r in rows],
        next_cursor=None if next_id is None else str(next_id),
    )


@router.get("/{financing_id}", operation_id="financing.show", response_model=Financing)
def show(financing_id: PathId, caller: ActorDep, service: FinancingDep, block: BlockDep) -> Any:
    """One financing (404 unless the caller is a party to it)."""
    return _show(service, caller, financing_id)


@router.post("/{financing_id}/quote", operation_id="financing.quote", response_model=Quote)
def quote(financing_id: PathId, body: TermsIn, caller: ActorDep, service: FinancingDep) -> Any:
    """Advance, discount, fee and proceeds the terms would give if offered now: the figures
    the desk will record, computed the same way. Sends nothing."""
    return Quote(**service.quote(caller, financing_id, body.terms()))


@router.post(
    "/{financing_id}/offers",
    operation_id="financing.offer",
    response_model=WriteResponse[Financing],
    status_code=201,
)
def offer(
    financing_id: PathId,
    body: TermsIn,
    caller: ActorDep,
    service: FinancingDep,
    response: Response,
) -> Any:
    """A financier offers terms; the proceeds are escrowed from its balance now (the service
    approves the desk for them first, on the financier's own queue). A financier keeping
    its own key signs the approval first, then posts the offer again."""
    outcome = service.offer(caller, financing_id, body.terms())
    return write_response(
        outcome, response, lambda _o: _show(service, caller, financing_id), created=True
    )


def _offer_action(suffix: str, operation: str, function: str, doc: str) -> None:
    action_route(
        router,
        f"/{{financing_id}}/offers/{{offer_index}}/{suffix}",
        operation,
        doc,
        ids={"financing_id": PathId, "offer_index": OfferIndex},
        service=FinancingDep,
        send=lambda service, caller, fid, index: service.act(
            caller, operation, fid, function, index
        ),
        render=lambda service, caller, fid, _index: _show(service, caller, fid),
        result=Financing,
    )


_offer_action(
    "accept",
    "financing.accept",
    "accept",
    "The supplier accepts an open offer: in one transaction it receives the proceeds "
    "and the financier becomes the receivable's holder; other offers are refunded.",
)
_offer_action(
    "reject",
    "financing.reject_offer",
    "rejectOffer",
    "The supplier turns an open offer down; its escrow goes back to the financier.",
)
_offer_action(
    "withdraw",
    "financing.withdraw_offer",
    "withdrawOffer",
    "The financier takes its own open offer back, with its escrow.",
)
_offer_action(
    "expire",
    "financing.expire_offer",
    "expireOffer",
    "Close an offer past its expiry; its escrow goes back to the financier.",
)


def _action(suffix: str, operation: str, function: str, doc: str) -> None:
    action_route(
        router,
        f"/{{financing_id}}/{suffix}",
        operation,
        doc,
        ids={"financing_id": PathId},
        service=FinancingDep,
        send=lambda service, caller, fid: service.act(caller, operation, fid, function),
        render=lambda service, caller, fid: _show(service, caller, fid),
        result=Financing,
    )


_action(
    "cancel",
    "financing.cancel",
    "cancel",
    "The supplier withdraws its request before funding: open offers are refunded and the "
    "receivable is ACTIVE again.",
)
_action(
    "default",
    "financing.declare_default",
    "declareDefault",
    "The funding financier declares default once the due date plus the grace period has "
    "passed unpaid; with recourse, its claim on the supplier (the advance) is recorded.",
)

_action(
    "recourse-withdrawal",
    "financing.withdraw_recourse",
    "withdrawRecourse",
    "The supplier takes its recourse payments back when the root was paid into clearing "
    "before the claim was paid in full (the financier is paid there).",
)


@router.post(
    "/{financing_id}/recourse-payments",
    operation_id="financing.pay_recourse",
    response_model=WriteResponse[Financing],
)
def pay_recourse(
    financing_id: PathId,
    body: RecoursePaymentIn,
    caller: ActorDep,
    service: FinancingDep,
    response: Response,
) -> Any:
    """The supplier pays part or all of what remains of a defaulted financing's recourse
    claim (the service approves the desk for it first). The desk holds the payments; the
    one that completes the claim pays the financier (kept for it to claim if it cannot
    receive now), hands the receivable back to the supplier (OVERDUE, the supplier's to
    collect) and frees the financier's credit line: BOUGHT_BACK."""
    outcome = service.pay_recourse(caller, financing_id, body.amount)
    return write_response(outcome, response, lambda _o: _show(service, caller, financing_id))


@router.post(
    "/{financing_id}/sales",
    operation_id="financing.offer_sale",
    response_model=WriteResponse[Financing],
    status_code=201,
)
def offer_sale(
    financing_id: PathId,
    body: SaleOfferIn,
    caller: ActorDep,
    service: FinancingDep,
    response: Response,
) -> Any:
    """The financier of a FUNDED financing (its receivable FINANCED, not due, not frozen)
    offers it to another financier for a price, until ``expiry``; one open sale at a time."""
    outcome = service.offer_sale(
        caller, financing_id, body.buyer, body.price, int(body.expiry.timestamp())
    )
    return write_response(
        outcome, response, lambda _o: _show(service, caller, financing_id), created=True
    )


def _sale_action(suffix: str, operation: str, doc: str, send: Any) -> None:
    action_route(
        router,
        f"/sales/{{sale_id}}/{suffix}",
        operation,
        doc,
        ids={"sale_id": PathId},
        service=FinancingDep,
        send=send,
        render=lambda service, caller, sid: _show(
            service, caller, service.sale(caller, sid).financing_id
        ),
        result=Financing,
    )


_sale_action(
    "buy",
    "financing.buy_sale",
    "The named buyer buys: in one transaction it pays the price to the seller (the "
    "service approves the desk for it first), becomes the financing's financier and the "
    "receivable's holder; the seller's credit line is freed and the buyer's drawn (a line "
    "to the debtor with room for the face amount is required).",
    lambda service, caller, sid: service.buy_sale(caller, sid),
)
_sale_action(
    "cancel",
    "financing.cancel_sale",
    "The seller withdraws its open sale offer.",
    lambda service, caller, sid: service.cancel_sale(caller, sid),
)
