"""/v1/tokens/{currency} and /v1/balances: settlement tokens (tokenized deposits).

Mint and burn are the currency's settlement bank's; transfers are any active
participant's; a balance is its owner's to read (and every auditor's and regulator's).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict

from ledger_app.api.deps import ActorDep, BlockDep, TokensDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import Address, Amount, WriteResponse
from ledger_app.api.services.tokens import TokenService

router = APIRouter(tags=["settlement tokens"])

CurrencyPath = Annotated[str, Path(pattern=r"^[A-Z]{3}$", examples=["CNY"])]


class MintIn(BaseModel):
    """Tokens to create against a deposit the bank holds."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "amount": "500000"}]
        },
    )
    to: Address
    amount: Amount


class BurnIn(BaseModel):
    """Tokens the bank destroys from its own balance when a deposit is withdrawn."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": "500"}]})
    amount: Amount


class TransferIn(MintIn):
    """A payment in settlement tokens to another participant."""


class Balance(BaseModel):
    """One currency's balance of an account, as indexed."""

    currency: str
    token: str
    balance: str
    updated_block: int | None


class Balances(BaseModel):
    """Every listed currency's balance of one account."""

    account: str
    balances: list[Balance]


def _balances(service: TokenService, caller: Any, account: str) -> Balances:
    return Balances(
        account=account, balances=[Balance(**b) for b in service.balances(caller, account)]
    )


@router.post(
    "/v1/tokens/{currency}/mint", operation_id="tokens.mint", response_model=WriteResponse[Balances]
)
def mint(
    currency: CurrencyPath, body: MintIn, caller: ActorDep, service: TokensDep, response: Response
) -> Any:
    """The settlement bank issuing ``currency`` mints ``amount`` minor units to ``to`` (an
    active participant) against a deposit. The answer shows the bank's own balances."""
    outcome = service.mint(caller, currency, body.to, body.amount)
    return write_response(outcome, response, lambda _o: _balances(service, caller, caller.address))


@router.post(
    "/v1/tokens/{currency}/burn", operation_id="tokens.burn", response_model=WriteResponse[Balances]
)
def burn(
    currency: CurrencyPath, body: BurnIn, caller: ActorDep, service: TokensDep, response: Response
) -> Any:
    """The issuing settlement bank burns ``amount`` of its own balance (a withdrawal: the
    holder first transfers the tokens back to the bank)."""
    outcome = service.burn(caller, currency, body.amount)
    return write_response(outcome, response, lambda _o: _balances(service, caller, caller.address))


@router.post(
    "/v1/tokens/{currency}/transfers",
    operation_id="tokens.transfer",
    response_model=WriteResponse[Balances],
)
def transfer(
    currency: CurrencyPath,
    body: TransferIn,
    caller: ActorDep,
    service: TokensDep,
    response: Response,
) -> Any:
    """The caller pays ``amount`` of ``currency`` to another active participant. The answer
    shows the caller's balances after the payment."""
    outcome = service.transfer(caller, currency, body.to, body.amount)
    return write_response(outcome, response, lambda _o: _balances(service, caller, caller.address))


@router.get("/v1/balances/{address}", operation_id="tokens.balances", response_model=Balances)
def balances(address: Address, caller: ActorDep, service: TokensDep, block: BlockDep) -> Any:
    """The settlement-token balances of ``address``: one's own, or (auditors, regulators)
    anyone's; 404 otherwise."""
    return _balances(service, caller, address)
