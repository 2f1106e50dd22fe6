"""/v1/fx: FX quotes, PvP settlements and their ISO 20022 documents, corridor and
daily-limit rules. (The hash-time-locked escrows of cross-border settlement are
/v1/escrows: ledger_app/api/routes/escrows.py.)"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from eth_utils import to_checksum_address
from fastapi import APIRouter, Query, Response
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
)

from ledger_app.api.deps import ActorDep, BlockDep, FxDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import (
    MAX_SAFE_INTEGER,
    Address,
    Amount,
    Bytes32,
    Currency,
    Uetr,
    WriteResponse,
    money_schema,
)
from ledger_app.api.services.fx import Payment, Quote
from ledger_app.api.services.writes import WriteOutcome
from ledger_app.iso20022 import PACS002, PACS008, PACS009

router = APIRouter(tags=["cross-border"])

MAX_UINT256 = 2**256 - 1
Jurisdiction = Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["CN"])]
MESSAGES = {"pacs.008": PACS008, "pacs.009": PACS009, "pacs.002": PACS002}


def _uint(maximum: int, *, positive: bool) -> Any:
    def check(value: Any) -> int:
        if isinstance(value, bool | float):
            raise ValueError("an integer (no floats)")
        if isinstance(value, str):
            if not re.fullmatch(r"[0-9]{1,78}", value):
                raise ValueError("a string of decimal digits")
            value = int(value)
        if not isinstance(value, int) or value < (1 if positive else 0) or value > maximum:
            raise ValueError(f"an integer in {1 if positive else 0}..{maximum}")
        return value

    return check


#: FxSettlement's rate: buy minor units per sell minor unit, x 1e18.
Rate = Annotated[
    int,
    BeforeValidator(_uint(MAX_UINT256, positive=True)),
    PlainSerializer(str, return_type=str),
    money_schema(r"^[0-9]{1,78}$", minimum=1, example="138000000000000000"),
]
#: A limit in minor units; 0 means none.
Limit = Annotated[
    int,
    BeforeValidator(_uint(MAX_UINT256, positive=False)),
    PlainSerializer(str, return_type=str),
    money_schema(r"^[0-9]{1,78}$", minimum=0, example="1000000000"),
]
Timestamp = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER, description="unix seconds")]
#: An ECDSA signature (r, s, v: 65 bytes), or nothing for a posted quote.
SIGNATURE_PATTERN = r"^0x([0-9a-fA-F]{130})?$"


# --- quotes ---------------------------------------------------------------------------


class QuoteIn(BaseModel):
    """A firm quote the caller (an FX provider) makes: ``rate`` buy-currency minor units per
    sell-currency minor unit, scaled by 1e18."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sell_currency": "CNY",
                    "buy_currency": "USD",
                    "rate": "138000000000000000",
                    "valid_for_seconds": 600,
                    "liquidity": "1000000",
                }
            ]
        },
    )
    sell_currency: Currency
    buy_currency: Currency
    rate: Rate
    valid_for_seconds: int = Field(default=600, ge=1, le=86_400)
    payer: Address | None = Field(default=None, description="the only payer allowed, or any")
    liquidity: Amount | None = Field(
        default=None,
        description="buy-currency minor units to make available to FxSettlement "
        "(raises the provider's allowance by this much). For a repayment via FX it must "
        "cover the whole buy leg, which rounding makes up to one rate step more than the "
        "root's amount (see POST /v1/clearing/{root_id}/repay-fx)",
    )


class QuoteBody(BaseModel):
    """A quote as issued (the FxSettlement Quote struct)."""

    model_config = ConfigDict(extra="forbid")
    quote_id: Bytes32
    provider: Address
    sell_currency: Currency
    buy_currency: Currency
    rate: Rate
    issued_at: Timestamp
    valid_until: Timestamp
    payer: Address | None = None

    def quote(self) -> Quote:
        """The service's quote."""
        return Quote(
            self.quote_id,
            self.provider,
            self.sell_currency,
            self.buy_currency,
            self.rate,
            self.issued_at,
            self.valid_until,
            self.payer,
        )


class QuoteOut(BaseModel):
    """A quote: posted on chain (``posted``), or signed for the payer to present."""

    quote: QuoteBody
    posted: bool
    signature: str | None = None
    liquidity_transaction: WriteResponse[None] | None = None


@router.post(
    "/v1/fx/quotes",
    operation_id="fx.post_quote",
    response_model=WriteResponse[QuoteOut],
    status_code=201,
)
def post_quote(body: QuoteIn, caller: ActorDep, service: FxDep, response: Response) -> Any:
    """The FX provider posts a firm quote on chain; any payer (or the one named) may then
    settle at it without a signature. Issued at the latest block's time."""
    quote = service.new_quote(
        caller, body.sell_currency, body.buy_currency, body.rate, body.valid_for_seconds, body.payer
    )
    outcome = service.post_quote(caller, quote, body.liquidity)
    return write_response(
        outcome,
        response,
        lambda _o: QuoteOut(quote=QuoteBody(**quote.as_dict()), posted=True),
        created=True,
    )


@router.post(
    "/v1/fx/quotes/signed", operation_id="fx.sign_quote", response_model=QuoteOut, status_code=201
)
def sign_quote(body: QuoteIn, caller: ActorDep, service: FxDep, response: Response) -> Any:
    """The service signs a quote of the FX provider with its custodial key (EIP-712, domain
    ``LedgerFxSettlement`` 1, FxSettlement's address) and returns it: nothing is posted. The
    payer presents quote and signature to ``POST /v1/fx/settlements``."""
    quote = service.new_quote(
        caller, body.sell_currency, body.buy_currency, body.rate, body.valid_for_seconds, body.payer
    )
    signature, approval = service.sign_quote(caller, quote, body.liquidity)
    return QuoteOut(
        quote=QuoteBody(**quote.as_dict()),
        posted=False,
        signature=signature,
        liquidity_transaction=write_response(approval, Response()) if approval else None,
    )


# --- settlements ----------------------------------------------------------------------


class SettlementIn(BaseModel):
    """A PvP payment at a quote: ``sell_amount`` of the quote's sell currency from the
    caller to the provider, and its buy-currency equivalent from the provider to
    ``payee``, both or neither."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "payee": "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
                    "sell_amount": "100000",
                    "purpose": "SUPP",
                    "quote": {
                        "quote_id": "0x" + "ab" * 32,
                        "provider": "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
                        "sell_currency": "CNY",
                        "buy_currency": "USD",
                        "rate": "138000000000000000",
                        "issued_at": 1767225600,
                        "valid_until": 1767226200,
                        "payer": None,
                    },
                    "signature": "0x…",
                }
            ]
        },
    )
    quote: QuoteBody
    signature: str | None = Field(
        default=None,
        pattern=SIGNATURE_PATTERN,
        description="the provider's; leave out for a posted quote",
    )
    payee: Address
    sell_amount: Amount
    uetr: Uetr | None = Field(default=None, description="generated (UUIDv4) if left out")
    purpose: str = Field(
        default="SUPP", pattern=r"^[A-Z0-9]{1,4}$", description="ISO 20022 purpose code"
    )
    reference_id: int = Field(
        default=0,
        ge=0,
        le=MAX_SAFE_INTEGER,
        description="e.g. the receivable this payment settles",
    )


class PvpSettlement(BaseModel):
    """A settled PvP payment as indexed."""

    uetr: str
    payer: str
    payee: str
    provider: str
    quote_id: str
    sell_currency: str
    sell_amount: str
    buy_currency: str
    buy_amount: str
    purpose: str
    reference_id: str
    block_number: int
    transaction_hash: str


def pvp_settlement(row: Any) -> PvpSettlement:
    """A settlement row of the index as the API answers it."""
    return PvpSettlement(
        uetr=str(uuid.UUID(row.uetr[2:])),
        payer=to_checksum_address(row.payer),
        payee=to_checksum_address(row.payee),
        provider=to_checksum_address(row.provider),
        quote_id=row.quote_id,
        sell_currency=row.sell_currency,
        sell_amount=str(row.sell_amount),
        buy_currency=row.buy_currency,
        buy_amount=str(row.buy_amount),
        purpose=bytes.fromhex(row.purpose[2:]).rstrip(b"\0").decode(),
        reference_id=str(row.reference_id),
        block_number=row.block_number,
        transaction_hash=row.tx_hash,
    )


@router.post(
    "/v1/fx/settlements",
    operation_id="fx.settle",
    response_model=WriteResponse[PvpSettlement],
    status_code=201,
)
def settle(body: SettlementIn, caller: ActorDep, service: FxDep, response: Response) -> Any:
    """The payer settles at a quote (posted, or signed: give ``signature``). The service
    approves FxSettlement for the sell amount first. Refused before value moves: a stale,
    expired or used quote, a used UETR, a corridor not opened (``PUT /v1/fx/corridors``
    first; 409 ``FxComplianceCorridorClosed``), a daily limit. The payee receives
    floor(sell_amount x rate / 1e18), paid by the FX provider from its balance within
    the liquidity it made available."""
    payment = Payment(
        payee=body.payee,
        sell_amount=body.sell_amount,
        uetr=body.uetr or uuid.uuid4(),
        purpose=body.purpose,
        reference_id=body.reference_id,
    )
    signature = bytes.fromhex(body.signature[2:]) if body.signature else b""
    outcome = service.settle(caller, payment, body.quote.quote(), signature)
    return write_response(
        outcome,
        response,
        lambda _o: pvp_settlement(service.settlement(caller, payment.uetr)),
        created=True,
    )


@router.get(
    "/v1/fx/settlements/{uetr}", operation_id="fx.show_settlement", response_model=PvpSettlement
)
def show_settlement(uetr: Uetr, caller: ActorDep, service: FxDep, block: BlockDep) -> Any:
    """One PvP settlement, for its payer, payee, provider (404 for anyone else) and readers."""
    return pvp_settlement(service.settlement(caller, uetr))


@router.get(
    "/v1/fx/settlements/{uetr}/iso20022",
    operation_id="fx.iso20022",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
)
def iso20022(
    uetr: Uetr,
    caller: ActorDep,
    service: FxDep,
    block: BlockDep,
    message: Annotated[Literal["pacs.008", "pacs.009", "pacs.002"], Query()] = "pacs.008",
) -> Response:
    """The settlement as an ISO 20022 message: pacs.008 (customer credit transfer), pacs.009
    (financial-institution credit transfer) or pacs.002 (status report, ACSC)."""
    document = service.iso20022(caller, uetr, MESSAGES[message])
    return Response(
        content=document, media_type="application/xml", headers={"X-Ledger-Block": str(block)}
    )


# --- rules ----------------------------------------------------------------------------


class CorridorIn(BaseModel):
    """Whether value may move from one jurisdiction to another (domestic is always open)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"from_jurisdiction": "CN", "to_jurisdiction": "SG", "open": True}]
        },
    )
    from_jurisdiction: Jurisdiction
    to_jurisdiction: Jurisdiction
    open: StrictBool


class Corridor(BaseModel):
    """A corridor as the chain has it now."""

    from_jurisdiction: str
    to_jurisdiction: str
    open: bool


@router.put(
    "/v1/fx/corridors", operation_id="fx.set_corridor", response_model=WriteResponse[Corridor]
)
def set_corridor(body: CorridorIn, caller: ActorDep, service: FxDep, response: Response) -> Any:
    """The operator or a regulator opens or closes a corridor (from the payer's
    jurisdiction to the payee's, or for a repayment via FX to the FX provider's). Every
    corridor between two jurisdictions starts closed (a domestic payment needs none):
    open it before the first payment across it, or that payment answers 409
    ``FxComplianceCorridorClosed``."""
    outcome = service.set_corridor(caller, body.from_jurisdiction, body.to_jurisdiction, body.open)

    def render(_o: WriteOutcome) -> Corridor:
        return Corridor(
            from_jurisdiction=body.from_jurisdiction,
            to_jurisdiction=body.to_jurisdiction,
            open=service.corridor_open(body.from_jurisdiction, body.to_jurisdiction),
        )

    return write_response(outcome, response, render)


class DailyLimitIn(BaseModel):
    """An account's daily settlement limit in one currency (0: no limit)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "account": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    "currency": "CNY",
                    "limit": "1000000000",
                }
            ]
        },
    )
    account: Address
    currency: Currency
    limit: Limit


class DailyLimit(BaseModel):
    """A daily limit and what was used of it today."""

    account: str
    currency: str
    limit: str
    used_today: str


@router.put(
    "/v1/fx/daily-limits",
    operation_id="fx.set_daily_limit",
    response_model=WriteResponse[DailyLimit],
)
def set_daily_limit(
    body: DailyLimitIn, caller: ActorDep, service: FxDep, response: Response
) -> Any:
    """The operator or a regulator sets an account's daily limit in a currency."""
    outcome = service.set_daily_limit(caller, body.account, body.currency, body.limit)
    return write_response(
        outcome, response, lambda _o: DailyLimit(**service.daily_limit(body.account, body.currency))
    )
