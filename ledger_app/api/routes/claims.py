"""/v1/claims: payments a ledger contract kept for a payee it could not pay (a refund to
a financier frozen, suspended or KYC-expired while its offer was open; an HTLC payment
to a party in that state), and their claims once the payee is in good standing again."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_app.api.deps import ActorDep, BlockDep, ClaimsDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import Address, Currency, WriteResponse
from ledger_app.api.services.writes import WriteOutcome

router = APIRouter(tags=["claims"])

ContractName = Literal["financing", "clearing", "escrows"]


class Deferral(BaseModel):
    """One payment the contract kept, and the step that owed it."""

    amount: str
    block_number: int
    tx_hash: str
    log_index: int
    event: str | None = Field(
        description="the paying step whose payment was kept: FinancingOfferClosed (an "
        "offer's refund), HtlcClaimed / HtlcRefunded, LeafRedeemed"
    )
    receivable_id: int | None
    financing_id: int | None
    offer_index: int | None
    lock_id: int | None


class Waiting(BaseModel):
    """What waits for a payee in one contract and currency: ``amount`` is what a claim
    takes (the sum of ``deferrals`` since its last claim)."""

    contract: ContractName
    contract_address: str
    payee: str
    currency: str | None
    token: str
    amount: str
    deferrals: list[Deferral]


class ClaimIn(BaseModel):
    """Which contract's payments of which currency to take (all of them)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"contract": "financing", "currency": "CNY"}]},
    )
    contract: ContractName
    currency: Currency


class Claimed(BaseModel):
    """What a claim paid the caller."""

    contract: ContractName
    currency: str
    payee: str
    amount: str


@router.get("/v1/claims", operation_id="claims.list", response_model=list[Waiting])
def list_claims(
    caller: ActorDep,
    service: ClaimsDep,
    block: BlockDep,
    payee: Annotated[
        Address | None,
        Query(description="whose (auditors and regulators only; default: the caller's)"),
    ] = None,
) -> Any:
    """What ledger contracts keep for the caller (or, for an auditor or regulator, for
    ``payee``): a payment it could not receive when it was made, because it was
    suspended, KYC-expired or frozen. Claim it with POST /v1/claims once in good standing."""
    return service.waiting(caller, payee)


@router.post("/v1/claims", operation_id="claims.claim", response_model=WriteResponse[Claimed])
def claim(body: ClaimIn, caller: ActorDep, service: ClaimsDep, response: Response) -> Any:
    """Take everything of ``currency`` that ``contract`` keeps for the caller. Refused
    with 409 ``DeferredNothingToClaim`` (field ``currency``) when nothing waits, and 403
    ``ParticipantNotActive`` while the caller is not in good standing (the token would
    refuse it)."""
    outcome = service.claim(caller, body.contract, body.currency)

    def render(o: WriteOutcome) -> Claimed:
        args = o.event("PaymentClaimed").args
        return Claimed(
            contract=body.contract,
            currency=body.currency,
            payee=caller.address,
            amount=str(args["amount"]),
        )

    return write_response(outcome, response, render)
