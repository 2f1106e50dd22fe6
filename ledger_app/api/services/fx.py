"""FX and PvP settlement: quotes, payment-versus-payment settlements, the corridor and
daily-limit rules they pass, and the ISO 20022 documents of a settlement.

- A quote is an FX provider's: posted on chain (``postQuote``), or signed off chain
  as EIP-712 typed data of FxSettlement's domain with the provider's custodial key
  and handed back for a payer to present. Either way the provider may make buy-
  currency liquidity available with it: its FxSettlement allowance is raised.
- A PvP settlement is the payer's: the service approves FxSettlement for the sell
  amount on the payer's queue, then settles; the UETR is generated (UUIDv4) unless
  given. Parties: payer, payee, provider (and readers).
- Corridor and daily-limit rules are set by the operator or a regulator.
- A settlement's pacs.008, pacs.009 and pacs.002 are assembled in
  ledger_app.api.services.fx_messages.

The hash-time-locked leg of a settlement on another ledger is
ledger_app.api.services.escrows.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address
from sqlalchemy import or_, select

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.fx_messages import SettlementMessages
from ledger_app.api.services.lookups import participant_row
from ledger_app.api.services.tokens import TokenService
from ledger_app.api.services.writes import AWAITING_SIGNATURE, WriteOutcome, Writer
from ledger_app.db.schema import fx_quotes, pvp_settlements
from ledger_app.domain.vocabulary import ZERO_ADDRESS
from ledger_app.errors import Conflict, InvalidInput, NotFound

RATE_SCALE = 10**18
QUOTE_TYPES = [
    {"name": "quoteId", "type": "bytes32"},
    {"name": "provider", "type": "address"},
    {"name": "sellCurrency", "type": "bytes3"},
    {"name": "buyCurrency", "type": "bytes3"},
    {"name": "rate", "type": "uint256"},
    {"name": "issuedAt", "type": "uint64"},
    {"name": "validUntil", "type": "uint64"},
    {"name": "payer", "type": "address"},
]
DOMAIN_TYPES = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


@dataclass(frozen=True)
class Quote:
    """An FX provider's firm quote (FxSettlement's Quote struct)."""

    quote_id: str  # 0x + 64 hex
    provider: str
    sell_currency: str
    buy_currency: str
    rate: int  # buy minor units per sell minor unit x 1e18
    issued_at: int
    valid_until: int
    payer: str | None = None

    def as_tuple(self) -> tuple[Any, ...]:
        """The struct's fields in order."""
        return (
            bytes.fromhex(self.quote_id[2:]),
            self.provider,
            self.sell_currency.encode(),
            self.buy_currency.encode(),
            self.rate,
            self.issued_at,
            self.valid_until,
            self.payer or ZERO_ADDRESS,
        )

    def as_dict(self) -> dict[str, Any]:
        """As the API answers it."""
        return {
            "quote_id": self.quote_id,
            "provider": to_checksum_address(self.provider),
            "sell_currency": self.sell_currency,
            "buy_currency": self.buy_currency,
            "rate": str(self.rate),
            "issued_at": self.issued_at,
            "valid_until": self.valid_until,
            "payer": to_checksum_address(self.payer) if self.payer else None,
        }


@dataclass(frozen=True)
class Payment:
    """What a payer settles at a quote."""

    payee: str
    sell_amount: int
    uetr: uuid.UUID
    purpose: str
    reference_id: int


def uetr_hex(uetr: uuid.UUID) -> str:
    """A UETR as the index keys it: 0x and 32 hex digits."""
    return "0x" + uetr.hex


class FxService:
    """The FX operations of one request: quotes, settlements and their rules."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)
        self.tokens = TokenService(runtime)

    # --- quotes -----------------------------------------------------------------------

    def new_quote(
        self, caller: Caller, sell: str, buy: str, rate: int, valid_for: int, payer: str | None
    ) -> Quote:
        """A fresh quote of the caller's, issued at the latest block's time."""
        if sell == buy:
            raise InvalidInput(
                "sell and buy currencies must differ", error="FxQuoteInvalid", field="buy_currency"
            )
        self.tokens.token(sell, "sell_currency")
        self.tokens.token(buy, "buy_currency")
        now = self._chain_time()
        return Quote(
            "0x" + secrets.token_hex(32),
            caller.address,
            sell,
            buy,
            rate,
            now,
            now + valid_for,
            payer,
        )

    def post_quote(self, caller: Caller, quote: Quote, liquidity: int | None) -> WriteOutcome:
        """Post the quote on chain (after making ``liquidity`` available, if given)."""
        pending = self._provide(caller, quote, liquidity)
        if pending is not None:
            return pending
        call = self.runtime.contracts.call("fx_settlement", "postQuote", quote.as_tuple())
        return self.writer.write(caller, "fx.post_quote", call)

    def sign_quote(
        self, caller: Caller, quote: Quote, liquidity: int | None
    ) -> tuple[str, WriteOutcome | None]:
        """The provider's EIP-712 signature of the quote, by its custodial key; and the
        outcome of the liquidity approval, if one was sent."""
        if not self.runtime.custody.holds(caller.address):
            raise Conflict(
                "the service holds no key of yours to sign with: sign the quote "
                "yourself (EIP-712, domain LedgerFxSettlement 1)",
                error="ProviderKeepsOwnKey",
                account=caller.address,
            )
        approval = self._provide(caller, quote, liquidity, send_only=True)
        signer = self.runtime.custody.signer(caller.address)
        message = encode_typed_data(
            full_message={
                "types": {"EIP712Domain": DOMAIN_TYPES, "Quote": QUOTE_TYPES},
                "primaryType": "Quote",
                "domain": {
                    "name": "LedgerFxSettlement",
                    "version": "1",
                    "chainId": self.runtime.chain_id,
                    "verifyingContract": self.runtime.contracts.address("fx_settlement"),
                },
                "message": dict(
                    zip([t["name"] for t in QUOTE_TYPES], quote.as_tuple(), strict=True)
                ),
            }
        )
        signature = Account.sign_message(message, signer.key).signature
        return "0x" + bytes(signature).hex(), approval

    # --- settlements ------------------------------------------------------------------

    def settle(
        self, caller: Caller, payment: Payment, quote: Quote, signature: bytes
    ) -> WriteOutcome:
        """Both legs at the quote, in one transaction, after approving the sell leg."""
        self.check_settlement(caller, payment, quote)
        fx = self.runtime.contracts.address("fx_settlement")
        call = self.runtime.contracts.call(
            "fx_settlement",
            "settle",
            (
                payment.uetr.bytes,
                payment.payee,
                payment.sell_amount,
                payment.purpose.encode().ljust(32, b"\0"),
                payment.reference_id,
            ),
            quote.as_tuple(),
            signature,
        )
        return self.tokens.spend(
            caller, quote.sell_currency, fx, payment.sell_amount, "fx.settle", call
        )

    def check_settlement(
        self, caller: Caller, payment: Payment, quote: Quote, *, into_contract: bool = False
    ) -> None:
        """What FxSettlement would refuse the caller's payment at ``quote`` for, answered
        from the index and the chain before anything is sent. ``into_contract``: the payee
        is a ledger contract (clearing), so ``payment.payee`` names the FX provider, whose
        jurisdiction the corridor is checked to, and the payee has no daily limit."""
        self.tokens.token(quote.sell_currency, "quote.sell_currency")
        self.tokens.token(quote.buy_currency, "quote.buy_currency")
        with self.engine.connect() as conn:
            used = conn.execute(
                select(fx_quotes.c.used).where(fx_quotes.c.quote_id == quote.quote_id)
            ).scalar()
            settled = conn.execute(
                select(pvp_settlements.c.uetr).where(
                    pvp_settlements.c.uetr == uetr_hex(payment.uetr)
                )
            ).first()
        if used:
            raise Conflict(
                f"quote {quote.quote_id} is used",
                error="FxQuoteAlreadyUsed",
                quote_id=quote.quote_id,
            )
        if settled is not None:
            raise Conflict(
                f"UETR {payment.uetr} is settled already",
                error="FxDuplicateUetr",
                uetr=str(payment.uetr),
            )
        if payment.sell_amount * quote.rate // RATE_SCALE == 0:
            raise InvalidInput(
                "at this rate the payee would receive nothing",
                error="FxInvalidAmount",
                field="sell_amount",
            )
        balance = self.tokens.balance_of(quote.sell_currency, caller.address)
        if balance < payment.sell_amount:
            raise Conflict(
                f"the balance is {balance} {quote.sell_currency}",
                error="ERC20InsufficientBalance",
                sender=caller.address,
                balance=balance,
                needed=payment.sell_amount,
            )
        self._check_compliance(caller.address, payment, quote, into_contract=into_contract)

    def settlement(self, caller: Caller, uetr: uuid.UUID) -> Any:
        """The indexed settlement of ``uetr``, for its payer, payee, provider or a reader."""
        query = select(pvp_settlements).where(pvp_settlements.c.uetr == uetr_hex(uetr))
        if not caller.reads_all:
            me = caller.key
            query = query.where(
                or_(
                    pvp_settlements.c.payer == me,
                    pvp_settlements.c.payee == me,
                    pvp_settlements.c.provider == me,
                )
            )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no settlement {uetr}", error="SettlementUnknown", uetr=str(uetr))
        return row

    def iso20022(self, caller: Caller, uetr: uuid.UUID, message: str) -> bytes:
        """The settlement as pacs.008, pacs.009 or (its status, ACSC) pacs.002."""
        row = self.settlement(caller, uetr)
        return SettlementMessages(self.runtime, self.tokens).document(row, uetr, message)

    # --- rules ------------------------------------------------------------------------

    def set_corridor(
        self, caller: Caller, origin: str, destination: str, open_: bool
    ) -> WriteOutcome:
        """Open or close the corridor from one jurisdiction to another."""
        call = self.runtime.contracts.call(
            "fx_settlement", "setCorridor", origin.encode(), destination.encode(), open_
        )
        return self.writer.write(caller, "fx.set_corridor", call)

    def corridor_open(self, origin: str, destination: str) -> bool:
        """Whether the chain lets value move from ``origin`` to ``destination`` now."""
        return bool(self._view("corridorOpen", origin.encode(), destination.encode()))

    def set_daily_limit(
        self, caller: Caller, account: str, currency: str, limit: int
    ) -> WriteOutcome:
        """Set ``account``'s daily limit in ``currency`` (0: none)."""
        self.tokens.token(currency)
        if participant_row(self.engine, account) is None:
            raise NotFound(
                f"{account} is not a participant", error="AccountNotParticipant", field="account"
            )
        call = self.runtime.contracts.call(
            "fx_settlement", "setDailyLimit", account, currency.encode(), limit
        )
        return self.writer.write(caller, "fx.set_daily_limit", call)

    def daily_limit(self, account: str, currency: str) -> dict[str, Any]:
        """The limit and today's use of it, from the chain."""
        return {
            "account": to_checksum_address(account),
            "currency": currency,
            "limit": str(self._view("dailyLimit", account, currency.encode())),
            "used_today": str(self._view("usedToday", account, currency.encode())),
        }

    # --- internals --------------------------------------------------------------------

    def _provide(
        self, caller: Caller, quote: Quote, liquidity: int | None, *, send_only: bool = False
    ) -> WriteOutcome | None:
        # Raise the provider's FxSettlement allowance in the buy currency by ``liquidity``.
        if not liquidity:
            return None
        token = self.tokens.token(quote.buy_currency, "buy_currency")
        fx = self.runtime.contracts.address("fx_settlement")
        abi = self.runtime.contracts.abi("SettlementToken")
        # Read and raised under the spending lock: another process raising it in between
        # would have one of the two raises lost.
        with self.tokens.spending_lock(caller, token, fx):
            current = int(
                self.runtime.client.call_function(token, abi, "allowance", caller.address, fx)[0]
            )
            call = self.runtime.contracts.call_at(
                token, "SettlementToken", "approve", fx, current + liquidity
            )
            outcome = self.writer.write(caller, "fx.provide_liquidity", call)
        if send_only:
            return outcome
        return outcome if outcome.state == AWAITING_SIGNATURE else None

    def _check_compliance(
        self, payer: str, payment: Payment, quote: Quote, *, into_contract: bool = False
    ) -> None:
        # FxSettlement's corridor and limit checks, answered before the approval is sent.
        origin = participant_row(self.engine, payer)
        destination = participant_row(self.engine, payment.payee)
        if destination is None or not destination.onboarded:
            raise NotFound(
                f"{payment.payee} is not a participant",
                error="AccountNotParticipant",
                field="payee",
            )
        if origin is not None and not self.corridor_open(
            origin.jurisdiction, destination.jurisdiction
        ):
            raise Conflict(
                f"the corridor {origin.jurisdiction}->{destination.jurisdiction} is closed",
                error="FxComplianceCorridorClosed",
                fromJurisdiction=origin.jurisdiction,
                toJurisdiction=destination.jurisdiction,
            )
        buy = payment.sell_amount * quote.rate // RATE_SCALE
        legs = [(payer, quote.sell_currency, payment.sell_amount)]
        if not into_contract:
            legs.append((payment.payee, quote.buy_currency, buy))
        for account, currency, amount in legs:
            state = self.daily_limit(account, currency)
            limit, used = int(state["limit"]), int(state["used_today"])
            if limit and used + amount > limit:
                raise Conflict(
                    f"{account} may settle {limit - used} more {currency} today",
                    error="FxComplianceDailyLimit",
                    account=account,
                    currency=currency,
                    limit=limit,
                    usedToday=used,
                    amount=amount,
                )

    def _view(self, function: str, *args: Any) -> Any:
        return self.runtime.contracts.view(self.runtime.client, "fx_settlement", function, *args)

    def _chain_time(self) -> int:
        return int(self.runtime.client.get_block("latest")["timestamp"])
