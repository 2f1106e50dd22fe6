"""What an ISO 20022 message says about one settlement, as plain data.

Amounts are integers of minor units with the currency's number of decimals, as on
chain; `Money.text()` turns them into the decimal text ISO 20022 carries, by string
arithmetic only: no float ever sees an amount.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ledger_app.errors import LedgerError

#: ISO 20022 amounts (ActiveCurrencyAndAmount): at most 18 digits, 5 after the point.
MAX_TOTAL_DIGITS = 18
MAX_FRACTION_DIGITS = 5

_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_LEI = re.compile(r"[A-Z0-9]{18}[0-9]{2}")
_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_PURPOSE = re.compile(r"[A-Z0-9]{1,4}")


class InvalidMessageData(LedgerError, ValueError):
    """A settlement cannot be expressed as a valid ISO 20022 message (bad LEI,
    currency code, UETR, or an amount ISO 20022 cannot carry exactly)."""


def lei_is_valid(lei: str) -> bool:
    """True for an ISO 17442 LEI: 18 alphanumerics and two ISO 7064 MOD 97-10 check digits."""
    if not _LEI.fullmatch(lei):
        return False
    return int("".join(str(int(c, 36)) for c in lei)) % 97 == 1


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidMessageData(message)


@dataclass(frozen=True)
class Money:
    """An amount of `currency` in integer minor units (`decimals` of them per unit)."""

    minor_units: int
    currency: str
    decimals: int

    def __post_init__(self) -> None:
        _require(
            type(self.minor_units) is int and self.minor_units >= 0, f"amount {self.minor_units!r}"
        )
        _require(bool(_CURRENCY.fullmatch(self.currency)), f"currency code {self.currency!r}")
        _require(
            type(self.decimals) is int and 0 <= self.decimals <= 18, f"decimals {self.decimals!r}"
        )

    def text(self) -> str:
        """The amount as ISO 20022 decimal text: 1234567 minor units, 2 decimals -> "12345.67".

        Keeps the currency's decimals; beyond 5 (an 18-decimal token) only trailing zeros
        may be dropped. Raises InvalidMessageData when the amount cannot be carried exactly.
        """
        digits = str(self.minor_units).rjust(self.decimals + 1, "0")
        cut = len(digits) - self.decimals
        whole, fraction = digits[:cut], digits[cut:]
        if len(fraction) > MAX_FRACTION_DIGITS:
            # Only zeros may go: 1230000 minor units of a 6-decimal token is "1.23000".
            _require(
                not fraction[MAX_FRACTION_DIGITS:].strip("0"),
                f"{self.minor_units} minor units of {self.currency} need more than "
                f"{MAX_FRACTION_DIGITS} decimals",
            )
            fraction = fraction[:MAX_FRACTION_DIGITS]
        _require(
            len(whole.lstrip("0")) + len(fraction) <= MAX_TOTAL_DIGITS,
            f"{self.minor_units} minor units of {self.currency} exceed {MAX_TOTAL_DIGITS} digits",
        )
        return f"{whole}.{fraction}" if fraction else whole


@dataclass(frozen=True)
class Party:
    """A debtor or creditor: a legal entity named and identified by LEI (or, lacking
    one, another registration id); a financial institution may also give its BIC."""

    name: str
    lei: str | None = None
    other_id: str | None = None
    country: str | None = None
    bic: str | None = None

    def __post_init__(self) -> None:
        _require(0 < len(self.name) <= 140, f"party name {self.name!r}")
        _require(self.lei is None or lei_is_valid(self.lei), f"LEI {self.lei!r}")
        _require(self.other_id is None or 0 < len(self.other_id) <= 256, f"id {self.other_id!r}")
        _require(
            self.country is None or bool(_COUNTRY.fullmatch(self.country)),
            f"country {self.country!r}",
        )
        _require(self.bic is None or bool(_BIC.fullmatch(self.bic)), f"BIC {self.bic!r}")


@dataclass(frozen=True)
class Agent:
    """A settlement bank acting for the debtor or the creditor, by LEI and/or BIC."""

    lei: str | None = None
    bic: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        _require(self.lei is not None or self.bic is not None, "an agent needs a LEI or a BIC")
        _require(self.lei is None or lei_is_valid(self.lei), f"LEI {self.lei!r}")
        _require(self.bic is None or bool(_BIC.fullmatch(self.bic)), f"BIC {self.bic!r}")
        _require(self.name is None or 0 < len(self.name) <= 140, f"agent name {self.name!r}")


@dataclass(frozen=True)
class OnChainReference:
    """Where the settlement is recorded: chain, transaction, block (and log)."""

    chain_id: int
    tx_hash: str
    block_number: int
    block_hash: str | None = None
    log_index: int | None = None

    def __post_init__(self) -> None:
        _require(self.chain_id > 0, f"chain id {self.chain_id!r}")
        _require(bool(_TX_HASH.fullmatch(self.tx_hash)), f"transaction hash {self.tx_hash!r}")
        _require(self.block_number >= 0, f"block number {self.block_number!r}")
        _require(
            self.block_hash is None or bool(_TX_HASH.fullmatch(self.block_hash)),
            f"block hash {self.block_hash!r}",
        )


@dataclass(frozen=True)
class FxConversion:
    """The FX side of a PvP settlement: what the debtor paid in its own currency, at
    which quote. `rate` is FxSettlement's: buy minor units per sell minor unit x 1e18."""

    instructed: Money
    rate: int
    quote_id: str | None = None


@dataclass(frozen=True)
class CreditorShare:
    """One creditor paid out of a settlement, and what it receives: a maturity payment
    into clearing pays each holder of the root's leaves its leaves' amounts."""

    creditor: Party
    amount: Money


@dataclass(frozen=True)
class Transaction:
    """One CdtTrfTxInf of a credit transfer: its end-to-end id, creditor and amounts."""

    end_to_end_id: str
    creditor: Party
    amount: Money
    instructed: Money | None


@dataclass(frozen=True)
class Settlement:
    """One settlement, as an ISO 20022 credit transfer describes it. `amount` is what
    the creditor receives (the interbank settlement amount). With `shares` (a payment
    into clearing for the holders of a receivable's leaves) each share is a transaction
    of its own, the holder its creditor; `creditor` is then the first share's."""

    uetr: uuid.UUID
    amount: Money
    debtor: Party
    creditor: Party
    debtor_agent: Agent
    creditor_agent: Agent
    settlement_date: datetime
    purpose: str | None = "SUPP"
    remittance: str | None = None
    fx: FxConversion | None = None
    on_chain: OnChainReference | None = None
    end_to_end_id: str = field(default="")
    shares: tuple[CreditorShare, ...] = ()

    def __post_init__(self) -> None:
        _require(
            isinstance(self.uetr, uuid.UUID) and self.uetr.version == 4,
            f"UETR {self.uetr!r} is no UUIDv4",
        )
        _require(self.settlement_date.tzinfo is not None, "settlement date needs a time zone")
        _require(
            self.purpose is None or bool(_PURPOSE.fullmatch(self.purpose)),
            f"purpose {self.purpose!r}",
        )
        _require(
            self.remittance is None or 0 < len(self.remittance) <= 140, "remittance text over 140"
        )
        _require(len(self.end_to_end_id) <= 35, f"end-to-end id {self.end_to_end_id!r}")
        if not self.end_to_end_id:
            object.__setattr__(self, "end_to_end_id", self.uetr.hex)
        _require(
            all(s.amount.currency == self.amount.currency for s in self.shares),
            "every share is paid in the settlement's currency",
        )

    def transactions(self) -> list[Transaction]:
        """The credit transfer's transactions: one, or one per creditor share (each
        with its own end-to-end id; the instructed amount only when there is one)."""
        instructed = self.fx.instructed if self.fx is not None else None
        if not self.shares:
            return [Transaction(self.end_to_end_id, self.creditor, self.amount, instructed)]
        if len(self.shares) == 1:
            share = self.shares[0]
            return [Transaction(self.end_to_end_id, share.creditor, share.amount, instructed)]
        return [
            Transaction(f"{self.end_to_end_id[:24]}/{n}", share.creditor, share.amount, None)
            for n, share in enumerate(self.shares, start=1)
        ]


def iso_datetime(moment: datetime) -> str:
    """xs:dateTime in UTC, to the second: 2025-03-01T09:30:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(moment: datetime) -> str:
    """xs:date of the moment in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")
