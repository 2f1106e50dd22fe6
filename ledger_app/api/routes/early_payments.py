"""/v1/clearing/early-payments and /v1/clearing/{root_id}/repay-leaves: a leaf paid ahead of
its root, early at a discount its holder accepts, or partly by its debtor (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from eth_utils import to_checksum_address
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ledger_app.api.deps import ActorDep, BlockDep, ClearingDep, EarlyPaymentsDep
from ledger_app.api.responses import write_response
from ledger_app.api.routes.clearing import Clearing, clearing_state
from ledger_app.api.schemas import IsoDateTime, PathId, WriteResponse
from ledger_app.api.services.writes import WriteOutcome
from ledger_app.domain.clearing_amounts import MAX_EARLY_PAYMENT_RATE_BPS
from ledger_app.domain.financing import DAY_COUNT_BASES

router = APIRouter(prefix="/v1/clearing", tags=["maturity clearing"])


class EarlyPaymentOffer(BaseModel):
    """A debtor's offer to pay a leaf before its due date, as indexed. ``days_early``,
    ``discount`` and ``paid`` are what accepting it now would give (while it is open), or
    what it gave (once accepted): discount = floor(face x rate x days / (10^4 x basis))."""

    offer_id: int
    leaf_id: int
    root_id: int
    debtor: str
    holder: str = Field(description="the leaf's holder now, or the one that accepted")
    leaf_status: str
    currency: str
    face: str
    due_date: datetime
    annual_rate_bps: int
    day_count_basis: int
    expiry: datetime
    status: Literal["OPEN", "WITHDRAWN", "ACCEPTED"]
    days_early: int | None
    discount: str | None
    paid: str | None
    offered_block: int
    updated_block: int


class EarlyPaymentOfferIn(BaseModel):
    """The debtor's terms: the leaf, an annual discount rate and its day count, and until
    when the holder may accept (before the leaf's due date)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "leaf_id": 3,
                    "annual_rate_bps": 600,
                    "day_count_basis": 365,
                    "expires_at": "2027-01-15T00:00:00Z",
                }
            ]
        },
    )
    leaf_id: int = Field(ge=1)
    annual_rate_bps: int = Field(ge=0, le=MAX_EARLY_PAYMENT_RATE_BPS)
    day_count_basis: Literal[DAY_COUNT_BASES] = 365  # type: ignore[valid-type]
    expires_at: IsoDateTime = Field(description="the holder may accept until then")


class RepayLeavesIn(BaseModel):
    """Leaves of the root the debtor pays now, ahead of the root."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"leaf_ids": [2, 3]}]}
    )
    leaf_ids: list[int] = Field(min_length=1, max_length=250)

    @field_validator("leaf_ids")
    @classmethod
    def _each_once(cls, leaf_ids: list[int]) -> list[int]:
        twice = sorted({leaf for leaf in leaf_ids if leaf_ids.count(leaf) > 1})
        if twice:
            raise ValueError(f"each leaf once: {twice} listed more than once")
        return leaf_ids


def _offer(state: dict[str, Any]) -> EarlyPaymentOffer:
    return EarlyPaymentOffer(
        **{
            **state,
            "debtor": to_checksum_address(state["debtor"]),
            "holder": to_checksum_address(state["holder"]),
            "due_date": datetime.fromtimestamp(state["due_date"], UTC),
            "expiry": datetime.fromtimestamp(state["expiry"], UTC),
        }
    )


@router.get(
    "/early-payments",
    operation_id="clearing.early_payments",
    response_model=list[EarlyPaymentOffer],
)
def list_offers(
    caller: ActorDep,
    service: EarlyPaymentsDep,
    block: BlockDep,
    leaf_id: int | None = Query(default=None, ge=1),
    status: Literal["OPEN", "WITHDRAWN", "ACCEPTED"] | None = None,
) -> Any:
    """Early payment offers on leaves the caller may see (its debtor, holders and the
    leaf's other parties; readers all), newest first."""
    return [_offer(o) for o in service.list(caller, leaf_id, status)]


@router.get(
    "/early-payments/{offer_id}",
    operation_id="clearing.early_payment",
    response_model=EarlyPaymentOffer,
)
def show_offer(
    offer_id: PathId, caller: ActorDep, service: EarlyPaymentsDep, block: BlockDep
) -> Any:
    """One offer, with what accepting it now would pay the holder; 404 if not visible."""
    return _offer(service.get(caller, offer_id))


@router.post(
    "/early-payments",
    operation_id="clearing.offer_early_payment",
    response_model=WriteResponse[EarlyPaymentOffer],
    status_code=201,
)
def offer(
    body: EarlyPaymentOfferIn, caller: ActorDep, service: EarlyPaymentsDep, response: Response
) -> Any:
    """The leaf's debtor offers to pay it before its due date at ``annual_rate_bps`` a year
    (ACT/365 or ACT/360): whoever holds the leaf when accepting receives face - discount.
    The service first approves the clearing contract for the faces of all the debtor's
    open offers in that currency. 409 ``ClearingNotPayable`` for a leaf that is split,
    settled, pending or locked in a financing request; 409 ``ClearingPastDue`` once due."""
    outcome = service.offer(
        caller,
        body.leaf_id,
        body.annual_rate_bps,
        body.day_count_basis,
        int(body.expires_at.timestamp()),
    )

    def render(o: WriteOutcome) -> EarlyPaymentOffer:
        return _offer(service.get(caller, o.event("EarlyPaymentOffered").args["offerId"]))

    return write_response(outcome, response, render, created=True)


@router.post(
    "/early-payments/{offer_id}/withdraw",
    operation_id="clearing.withdraw_early_payment",
    response_model=WriteResponse[EarlyPaymentOffer],
)
def withdraw(
    offer_id: PathId, caller: ActorDep, service: EarlyPaymentsDep, response: Response
) -> Any:
    """The debtor withdraws its open offer."""
    outcome = service.withdraw(caller, offer_id)
    return write_response(outcome, response, lambda _o: _offer(service.get(caller, offer_id)))


@router.post(
    "/early-payments/{offer_id}/accept",
    operation_id="clearing.accept_early_payment",
    response_model=WriteResponse[EarlyPaymentOffer],
)
def accept(
    offer_id: PathId, caller: ActorDep, service: EarlyPaymentsDep, response: Response
) -> Any:
    """The leaf's current holder accepts: in one transaction it receives face - discount
    from the debtor (``paid``, over the whole days left to the due date), the leaf is
    settled, the root's outstanding amount falls by the face and a financed leaf frees its
    credit line. A financed leaf is accepted by its financier, who holds it."""
    outcome = service.accept(caller, offer_id)
    return write_response(outcome, response, lambda _o: _offer(service.get(caller, offer_id)))


@router.post(
    "/{root_id}/repay-leaves",
    operation_id="clearing.repay_leaves",
    response_model=WriteResponse[Clearing],
)
def repay_leaves(
    root_id: PathId,
    body: RepayLeavesIn,
    caller: ActorDep,
    service: EarlyPaymentsDep,
    clearing: ClearingDep,
    response: Response,
) -> Any:
    """Partial repayment: the debtor pays chosen leaves of the root now, before, at or after
    the due date, before the root itself is paid into clearing. Each leaf's holder receives
    its face, plus, after the due date, the leaf's late interest (floor(face x bps x whole
    days late / (10^4 x 365))); the leaves settle and the root's outstanding amount falls.
    A leaf in an open financing request is refused (409 ``ClearingNotPayable``)."""
    outcome: WriteOutcome = service.repay_leaves(caller, root_id, body.leaf_ids)
    return write_response(outcome, response, lambda _o: clearing_state(clearing, caller, root_id))
