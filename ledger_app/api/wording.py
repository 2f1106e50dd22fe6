"""A contract error's values in the API's own terms.

A revert arrives as the custom error's name and its raw ABI values: statuses as enum
numbers, allowed statuses as a bitmask, roles as keccak ids, currencies and
jurisdictions as padded bytes, times as unix seconds. The refusal table
(ledger_app/api/errors.py) words each error from these, so that a caller reads
``receivable 4 is CANCELLED; this needs it PENDING`` with ``current: "CANCELLED"``,
``allowed: ["PENDING"]``: names for enums, masks and roles, ISO 8601 for times, the
ISO codes for currencies and jurisdictions, UUIDs for UETRs, integers for amounts.

A ``Word`` turns one raw value into its API form; ``word_args`` applies the words
an error's row names and, for any value it names none for, the default by the
argument's name (times) or the value's type (bytes3 a currency, bytes2 a
jurisdiction, bytes16 a UETR).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ledger_app.domain.vocabulary import (
    EARLY_PAYMENT_STATUS,
    FINANCING_STATUS,
    LOCK_STATE,
    OFFER_STATUS,
    RECEIVABLE_STATUS,
    SALE_STATUS,
    STANDING,
    role_name,
)

Word = Callable[[Any], Any]


def enum(names: Sequence[str]) -> Word:
    """An enum value as its name (``4`` -> ``"FINANCING"``)."""

    def word(value: Any) -> Any:
        index = int(value)
        return names[index] if 0 <= index < len(names) else f"unknown status {index}"

    return word


def mask(names: Sequence[str]) -> Word:
    """A bitmask of enum values (bit i set: value i allowed) as the list of their names."""

    def word(value: Any) -> list[str]:
        bits = int(value)
        return [name for i, name in enumerate(names) if bits >> i & 1]

    return word


def moment(value: Any) -> str:
    """Unix seconds as ISO 8601 UTC (``2027-03-31T00:00:00Z``)."""
    seconds = int(value)
    if seconds >= 2**40:  # beyond any calendar: a sentinel such as type(uint64).max
        return str(seconds)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def role(value: Any) -> str:
    """A role id (bytes32 keccak of the name) as its name (``SUPPLIER``)."""
    raw = value if isinstance(value, bytes) else bytes.fromhex(str(value).removeprefix("0x"))
    return role_name("0x" + raw.hex())


def lei(value: Any) -> str:
    """The registry's bytes32 LEI as its 20 characters (or 0x-hex when it is none)."""
    raw = value if isinstance(value, bytes) else bytes.fromhex(str(value).removeprefix("0x"))
    text = raw.rstrip(b"\0")
    if text.isascii() and text.isalnum():
        return text.decode()
    return "0x" + raw.hex()


RECEIVABLE = enum(RECEIVABLE_STATUS)
RECEIVABLE_MASK = mask(RECEIVABLE_STATUS)
FINANCING = enum(FINANCING_STATUS)
FINANCING_MASK = mask(FINANCING_STATUS)
OFFER = enum(OFFER_STATUS)
EARLY_PAYMENT = enum(EARLY_PAYMENT_STATUS)
SALE = enum(SALE_STATUS)
LOCK = enum(LOCK_STATE)
STANDING_WORD = enum(STANDING)

#: Arguments worded by their name wherever they appear: unix-second times.
TIME_ARGS = frozenset(
    {"dueDate", "nowTimestamp", "expiry", "validUntil", "issuedAt", "timeout", "kycExpiry",
     "earliest", "flaggableFrom"}
)  # fmt: skip


def default_word(name: str, value: Any) -> Any:
    """The API form of a value no row names a word for."""
    if name in TIME_ARGS and isinstance(value, int):
        return moment(value)
    if isinstance(value, bytes):
        if len(value) in (2, 3) and value.rstrip(b"\0").isascii():
            return value.rstrip(b"\0").decode()  # ISO 3166 jurisdiction, ISO 4217 currency
        if len(value) == 16:
            return str(uuid.UUID(bytes=value))  # a UETR
        return "0x" + value.hex()
    return value


#: ``words`` of a row: argument -> its word, or (the name it is shown under, its word).
Words = Mapping[str, Word | tuple[str, Word]]


def word_args(args: Mapping[str, Any], words: Words) -> dict[str, Any]:
    """``args`` in the API's terms: each by its row's word, else by ``default_word``."""
    out: dict[str, Any] = {}
    for name, value in args.items():
        rule = words.get(name)
        if rule is None:
            out[name] = default_word(name, value)
        elif isinstance(rule, tuple):
            shown, word = rule
            out[shown] = word(value)
        else:
            out[name] = rule(value)
    return out


def spoken(value: Any) -> str:
    """A worded value inside a sentence: a list of names as ``A or B``."""
    if isinstance(value, list | tuple):
        return " or ".join(str(v) for v in value) if value else "none"
    return str(value)
