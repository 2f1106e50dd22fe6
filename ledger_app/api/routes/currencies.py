"""/v1/currencies: settlement currencies, each carried by one SettlementToken."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_app.api.deps import ActorDep, BlockDep, CurrenciesDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import Address, Currency, WriteResponse

router = APIRouter(prefix="/v1/currencies", tags=["currencies"])


class CurrencyIn(BaseModel):
    """A currency to list, issued by a settlement bank."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "currency": "CNY",
                    "decimals": 2,
                    "issuer": "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
                }
            ]
        },
    )
    currency: Currency
    decimals: Annotated[int, Field(ge=0, le=18)] = 2
    issuer: Address


class CurrencyOut(BaseModel):
    """A listed currency and its token."""

    currency: str
    token: str
    issuer: str
    decimals: int
    total_supply: str
    listed_block: int | None


@router.post(
    "", operation_id="currencies.create", response_model=WriteResponse[CurrencyOut], status_code=201
)
def create(body: CurrencyIn, caller: ActorDep, service: CurrenciesDep, response: Response) -> Any:
    """Deploy the currency's SettlementToken (minted and burned only by ``issuer``, a
    settlement bank) and list it in the registry. Operator only."""
    outcome = service.create(caller, body.currency, body.decimals, body.issuer)
    return write_response(
        outcome, response, lambda _o: CurrencyOut(**service.show(body.currency)), created=True
    )


@router.get("", operation_id="currencies.list", response_model=list[CurrencyOut])
def list_currencies(caller: ActorDep, service: CurrenciesDep, block: BlockDep) -> Any:
    """Every listed settlement currency."""
    return [CurrencyOut(**c) for c in service.list()]
