"""/v1/clearing: maturity clearing of receivables (repay a root, redeem its leaves)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_app.api.deps import ActorDep, BlockDep, ClearingDep, FxDep
from ledger_app.api.responses import write_response
from ledger_app.api.routes.fx import SIGNATURE_PATTERN, PvpSettlement, QuoteBody, pvp_settlement
from ledger_app.api.schemas import PathId, Uetr, WriteResponse
from ledger_app.api.services.clearing import ClearingService
from ledger_app.api.services.receivables import describe
from ledger_app.api.services.writes import WriteOutcome

router = APIRouter(prefix="/v1/clearing", tags=["maturity clearing"])


class Clearing(BaseModel):
    """A root's repayment into clearing and the redemption of its leaves."""

    root_id: int
    debtor: str
    currency: str
    amount: str
    due_date: datetime
    status: str
    repaid: str
    unredeemed: str
    late_interest_bps: int = Field(description="annual, set at registration (0: none)")
    late_interest: str = Field(description="late interest paid into clearing with the root")
    interest_unredeemed: str = Field(description="of that interest, not yet paid to leaves")
    amount_due: str = Field(
        description="what repaying the root now takes: outstanding + interest_due (0 once repaid)"
    )
    interest_due: str = Field(
        description="late interest if repaid now: floor(outstanding x bps x whole days late "
        "/ (10^4 x 365))"
    )
    leaves: int
    settled_leaves: int
    unsettled_leaves: list[int]
    frozen_leaves: list[int]


class RepayFxIn(BaseModel):
    """A quote of an FX provider that buys the receivable's currency, and its signature
    (from ``POST /v1/fx/quotes/signed``; leave it out for a posted quote)."""

    model_config = ConfigDict(extra="forbid")
    quote: QuoteBody
    signature: str | None = Field(
        default=None,
        pattern=SIGNATURE_PATTERN,
        description="the provider's; leave out for a posted quote",
    )
    uetr: Uetr | None = Field(default=None, description="generated (UUIDv4) if left out")


class RepaymentFx(BaseModel):
    """The root's clearing state after the payment, and the PvP settlement that paid it."""

    clearing: Clearing
    settlement: PvpSettlement


class Redemption(BaseModel):
    """Leaves paid out, and the transactions (one per batch) that paid them."""

    redeemed: list[int]
    clearing: Clearing
    transactions: list[WriteResponse[None]]


def clearing_state(service: ClearingService, caller: Any, root_id: int) -> Clearing:
    """Root ``root_id``'s clearing as answered by ``GET /v1/clearing/{root_id}``."""
    return _clearing(service, caller, root_id)


def _clearing(service: ClearingService, caller: Any, root_id: int) -> Clearing:
    state = service.show(caller, root_id)
    state["debtor"] = to_checksum_address(state["debtor"])
    state["due_date"] = datetime.fromtimestamp(state["due_date"], UTC)
    return Clearing(**state)


@router.get("/{root_id}", operation_id="clearing.show", response_model=Clearing)
def show(root_id: PathId, caller: ActorDep, service: ClearingDep, block: BlockDep) -> Any:
    """Repayment and redemption state of a root: for a party to any receivable of its tree
    (a tier-2 supplier holding a leaf too); 404 for anyone else."""
    return _clearing(service, caller, root_id)


@router.post(
    "/{root_id}/repay", operation_id="clearing.repay", response_model=WriteResponse[Clearing]
)
def repay(root_id: PathId, caller: ActorDep, service: ClearingDep, response: Response) -> Any:
    """At or after the due date, the debtor pays the root's outstanding amount (what leaves
    paid ahead left), and late interest when past the due date, into clearing (the service
    approves the clearing contract for it first). The interest is paid to the leaves'
    holders pro rata to face as they are redeemed; the last leaf takes the remainder."""
    outcome = service.repay(caller, root_id)
    return write_response(outcome, response, lambda _o: _clearing(service, caller, root_id))


@router.post(
    "/{root_id}/repay-fx",
    operation_id="clearing.repay_fx",
    response_model=WriteResponse[RepaymentFx],
)
def repay_fx(
    root_id: PathId,
    body: RepayFxIn,
    caller: ActorDep,
    service: ClearingDep,
    fx: FxDep,
    response: Response,
) -> Any:
    """At or after the due date, the debtor pays the root in its own currency through an FX
    provider's quote: it pays ceil(amount x 1e18 / rate) of the quote's sell currency, the
    provider pays the receivable's currency into clearing, in one transaction. The service
    approves FxSettlement for the sell amount first, on the debtor's queue.

    The FX provider funds the rounding: its leg is floor(sell x rate / 1e18), which is at
    least the amount and up to one rate step (rate / 1e18 minor units) more; that surplus
    goes back to the debtor. So the provider must hold, and have made available as
    liquidity (``POST /v1/fx/quotes/signed`` ``liquidity``), the whole leg, not just the
    amount, or the payment answers 409 (``ERC20InsufficientBalance`` or
    ``ERC20InsufficientAllowance``: the provider's balance or allowance). The corridor checked is the
    debtor's jurisdiction to the FX provider's: a corridor between two jurisdictions
    starts closed, so the operator or a regulator opens it first (``PUT /v1/fx/corridors``),
    or the payment answers 409 ``FxComplianceCorridorClosed``."""
    uetr = body.uetr or uuid.uuid4()
    signature = bytes.fromhex(body.signature[2:]) if body.signature else b""
    outcome = service.repay_fx(caller, root_id, body.quote.quote(), signature, uetr)

    def render(_o: WriteOutcome) -> RepaymentFx:
        return RepaymentFx(
            clearing=_clearing(service, caller, root_id),
            settlement=pvp_settlement(fx.settlement(caller, uetr)),
        )

    return write_response(outcome, response, render)


@router.post(
    "/{root_id}/redeem",
    operation_id="clearing.redeem_all",
    response_model=WriteResponse[Redemption],
)
def redeem_all(root_id: PathId, caller: ActorDep, service: ClearingDep, response: Response) -> Any:
    """Pay every unsettled, unfrozen leaf of a repaid root to its holder, in batches of the
    contract's MAX_REDEEM_BATCH (one transaction each). Any active party to a receivable of
    the root's tree may push it (404 for anyone else)."""
    leaves, outcomes = service.redeem_all(caller, root_id)
    parts = [write_response(o, Response()) for o in outcomes]

    def render(_o: WriteOutcome) -> Redemption:
        return Redemption(
            redeemed=leaves, clearing=_clearing(service, caller, root_id), transactions=parts
        )

    # The last batch indexed means every earlier one is too.
    return write_response(outcomes[-1], response, render)


class Leaf(BaseModel):
    """A redeemed leaf as indexed (status SETTLED once paid)."""

    id: int
    root_id: int
    holder: str
    amount: str
    status: str


@router.post(
    "/leaves/{leaf_id}/redeem", operation_id="clearing.redeem", response_model=WriteResponse[Leaf]
)
def redeem(leaf_id: PathId, caller: ActorDep, service: ClearingDep, response: Response) -> Any:
    """Pay one unsettled leaf of a repaid root to its current holder."""
    outcome = service.redeem(caller, leaf_id)

    def render(_o: WriteOutcome) -> Leaf:
        row = describe(service.receivables.current(leaf_id))
        return Leaf(**{k: row[k] for k in ("root_id", "holder", "amount", "status")}, id=leaf_id)

    return write_response(outcome, response, render)
