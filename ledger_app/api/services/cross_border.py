"""Cross-border settlement: FX quotes, PvP settlements, compliance rules, HTLC escrows and
the ISO 20022 documents of a settlement.

- A quote is an FX provider's: posted on chain (``postQuote``), or signed off chain
  as EIP-712 typed data of FxSettlement's domain with the provider's custodial key
  and handed back for a payer to present. Either way the provider may make buy-
  currency liquidity available with it: its FxSettlement allowance is raised.
- A PvP settlement is the payer's: the service approves FxSettlement for the sell
  amount on the payer's queue, then settles; the UETR is generated (UUIDv4) unless
  given. Parties: payer, payee, provider (and readers).
- Corridor and daily-limit rules are set by the operator or a regulator.
- An escrow is a HashTimeLock lock: approved and locked by its sender, claimed
  with the sha256 preimage before the timeout, refunded from the timeout on.
  Parties: sender and recipient (and readers).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import to_checksum_address
from sqlalchemy import or_, select

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import participant_row
from ledger_app.api.services.participants import lei_text
from ledger_app.api.services.tokens import TokenService
from ledger_app.api.services.writes import AWAITING_SIGNATURE, WriteOutcome, Writer
from ledger_app.db.api_tables import api_keys
from ledger_app.db.schema import (
    fx_quotes,
    htlc_locks,
    pvp_settlements,
    receivables,
    settlement_tokens,
)
from ledger_app.errors import Conflict, InvalidInput, NotFound
from ledger_app.iso20022 import (
    PACS008,
    PACS009,
    Agent,
    CreditorShare,
    FxConversion,
    InvalidMessageData,
    Money,
    OnChainReference,
    Party,
    Settled,
    Settlement,
    build_pacs002,
    build_pacs008,
    build_pacs009,
)

RATE_SCALE = 10**18
ZERO_ADDRESS = "0x" + "0" * 40
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


class CrossBorderService:
    """The cross-border operations of one request."""

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
        try:
            settlement = self._iso_settlement(row, uetr)
            if message == PACS008:
                return build_pacs008(settlement)
            if message == PACS009:
                return build_pacs009(settlement)
            return build_pacs002(
                settlement, Settled(settlement.settlement_date, settlement.on_chain)
            )
        except InvalidMessageData as exc:
            raise Conflict(
                f"the settlement cannot be expressed as {message}: {exc}",
                error="InvalidMessageData",
                message_name=message,
            ) from exc

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

    # --- escrows ----------------------------------------------------------------------

    def lock(
        self,
        caller: Caller,
        currency: str,
        recipient: str,
        amount: int,
        hashlock: str,
        timeout: int,
        uetr: uuid.UUID,
    ) -> WriteOutcome:
        """Approve the escrow contract for ``amount``, then lock it for ``recipient``."""
        token = self.tokens.token(currency)
        row = participant_row(self.engine, recipient)
        if row is None or not row.onboarded or row.suspended or row.frozen:
            raise Conflict(
                f"{recipient} may not receive tokens",
                error="HtlcRecipientRefused",
                field="recipient",
            )
        balance = self.tokens.balance_of(currency, caller.address)
        if balance < amount:
            raise Conflict(
                f"the balance is {balance} {currency}",
                error="ERC20InsufficientBalance",
                sender=caller.address,
                balance=balance,
                needed=amount,
            )
        escrow = self.runtime.contracts.address("hash_time_lock")
        call = self.runtime.contracts.call(
            "hash_time_lock",
            "lock",
            token,
            recipient,
            amount,
            bytes.fromhex(hashlock[2:]),
            timeout,
            uetr.bytes,
        )
        return self.tokens.spend(caller, currency, escrow, amount, "escrows.lock", call)

    def escrow(self, caller: Caller, lock_id: int) -> Any:
        """The indexed lock, for its sender, its recipient or a reader."""
        query = select(htlc_locks).where(htlc_locks.c.lock_id == lock_id)
        if not caller.reads_all:
            query = query.where(
                or_(htlc_locks.c.sender == caller.key, htlc_locks.c.recipient == caller.key)
            )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no escrow {lock_id}", error="HtlcUnknown", lock_id=lock_id)
        return row

    def claim(self, caller: Caller, lock_id: int, preimage: str) -> WriteOutcome:
        """Release the lock to its recipient against the preimage."""
        row = self.escrow(caller, lock_id)
        secret = bytes.fromhex(preimage[2:])
        if "0x" + hashlib.sha256(secret).hexdigest() != row.hashlock:
            raise InvalidInput(
                "sha256 of the preimage is not the hashlock",
                error="HtlcWrongPreimage",
                field="preimage",
                lock_id=lock_id,
            )
        call = self.runtime.contracts.call("hash_time_lock", "claim", lock_id, secret)
        return self.writer.write(caller, "escrows.claim", call)

    def refund(self, caller: Caller, lock_id: int) -> WriteOutcome:
        """Return the lock to its sender once the timeout has passed."""
        self.escrow(caller, lock_id)
        call = self.runtime.contracts.call("hash_time_lock", "refund", lock_id)
        return self.writer.write(caller, "escrows.refund", call)

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

    def _iso_settlement(self, row: Any, uetr: uuid.UUID) -> Settlement:
        decimals = self._decimals()
        block = self.runtime.client.get_block(int(row.block_number))
        at = datetime.fromtimestamp(int(block["timestamp"]), UTC)
        purpose = bytes.fromhex(row.purpose[2:]).rstrip(b"\0").decode() or None
        shares = self._clearing_shares(row, decimals[row.buy_currency])
        return Settlement(
            uetr=uetr,
            amount=Money(int(row.buy_amount), row.buy_currency, decimals[row.buy_currency]),
            debtor=self._party(row.payer),
            creditor=shares[0].creditor if shares else self._party(row.payee),
            shares=shares,
            debtor_agent=self._agent(row.sell_currency),
            creditor_agent=self._agent(row.buy_currency),
            settlement_date=at,
            purpose=purpose,
            remittance=f"reference {row.reference_id}" if int(row.reference_id) else None,
            fx=FxConversion(
                instructed=Money(
                    int(row.sell_amount), row.sell_currency, decimals[row.sell_currency]
                ),
                rate=int(self._quote_rate(row.quote_id)),
                quote_id=row.quote_id,
            ),
            on_chain=OnChainReference(
                chain_id=self.runtime.chain_id,
                tx_hash=row.tx_hash,
                block_number=int(row.block_number),
                block_hash=_hex(block["hash"]),
            ),
        )

    def _clearing_shares(self, row: Any, decimals: int) -> tuple[CreditorShare, ...]:
        """For a maturity payment into clearing (payee MaturityClearing, reference the
        root): the creditors are the holders of the root's leaves, each paid its leaves'
        amounts; the clearing contract is only the account it passes through."""
        clearing = self.runtime.contracts.address("maturity_clearing").lower()
        if row.payee.lower() != clearing or not int(row.reference_id):
            return ()
        with self.engine.connect() as conn:
            leaves = conn.execute(
                select(receivables.c.holder, receivables.c.amount)
                .where(
                    receivables.c.root_id == int(row.reference_id),
                    receivables.c.child_count == 0,
                )
                .order_by(receivables.c.id)
            ).all()
        owed: dict[str, int] = {}
        for holder, amount in leaves:
            owed[holder.lower()] = owed.get(holder.lower(), 0) + int(amount)
        return tuple(
            CreditorShare(self._party(holder), Money(amount, row.buy_currency, decimals))
            for holder, amount in owed.items()
        )

    def _decimals(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            listed = (
                conn.execute(
                    select(settlement_tokens.c.currency).where(
                        settlement_tokens.c.currency.is_not(None)
                    )
                )
                .scalars()
                .all()
            )
        return {currency: self.tokens.terms(currency)[1] for currency in listed}

    def _quote_rate(self, quote_id: str) -> int:
        with self.engine.connect() as conn:
            rate = conn.execute(
                select(fx_quotes.c.rate).where(fx_quotes.c.quote_id == quote_id)
            ).scalar()
        return int(rate or 0)

    def _party(self, address: str) -> Party:
        row = participant_row(self.engine, address)
        return Party(
            name=self._name(address),
            lei=_lei(row),
            country=row.jurisdiction if row is not None else None,
        )

    def _agent(self, currency: str) -> Agent:
        issuer, _decimals = self.tokens.terms(currency)
        lei = _lei(participant_row(self.engine, issuer))
        if lei is None:
            raise InvalidMessageData(f"the settlement bank of {currency} has no LEI")
        return Agent(lei=lei, name=self._name(issuer))

    def _name(self, address: str) -> str:
        with self.engine.connect() as conn:
            label = conn.execute(
                select(api_keys.c.label)
                .where(
                    api_keys.c.participant.in_((address.lower(), to_checksum_address(address))),
                    api_keys.c.label.is_not(None),
                )
                .limit(1)
            ).scalar()
        return label or f"Participant {to_checksum_address(address)}"


def _lei(row: Any) -> str | None:
    text = lei_text(row.lei) if row is not None else None
    return text if text and len(text) == 20 and not text.startswith("0x") else None


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    return "0x" + bytes(value).hex()
