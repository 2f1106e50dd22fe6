"""Types shared by the request and response models of every resource.

Money is an integer of minor units, accepted as a JSON integer or a string of
digits and answered as a string (JSON numbers lose digits past 2**53); a
float is refused. Addresses are checked (and answered checksummed), currency
codes are ISO 4217 letters, bytes32 values 0x-hex.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, TypeVar

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer

MAX_UINT128 = 2**128 - 1
T = TypeVar("T")


def _minor_units(value: Any) -> int:
    if isinstance(value, bool | float):
        raise ValueError("an amount is an integer of minor units (no floats)")
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,40}", value):
            raise ValueError("an amount is a string of decimal digits")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("an amount is an integer of minor units")
    if value <= 0:
        raise ValueError("an amount must be positive")
    if value > MAX_UINT128:
        raise ValueError("an amount must be below 2**128")
    return value


def _address(value: Any) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError("not a 20-byte hex address")
    if value != value.lower() and value != to_checksum_address(value):
        raise ValueError("mixed-case address with a wrong checksum")
    return to_checksum_address(value)


def _bytes32(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise ValueError("not a 0x-prefixed 32-byte hex value")
    return value.lower()


#: Positive integer minor units below 2**128 (the contracts' uint128).
Amount = Annotated[
    int,
    BeforeValidator(_minor_units),
    PlainSerializer(str, return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": "^[0-9]+$", "example": "100000000"}),
]
Address = Annotated[
    str,
    BeforeValidator(_address),
    Field(json_schema_extra={"example": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"}),
]
Bytes32 = Annotated[str, BeforeValidator(_bytes32)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]


def amount_out(value: int) -> str:
    """An amount as answered: decimal digits."""
    return str(value)


class TransactionInfo(BaseModel):
    """The transaction a write became."""

    id: str
    hash: str | None = None
    block_number: int | None = None


class WriteResponse(BaseModel, Generic[T]):
    """The answer to every write.

    ``status``: ``done`` (mined and indexed: a read now shows it, ``result``
    holds the changed object), ``indexing`` (mined, the index not there yet:
    read again shortly), or ``awaiting_signature`` (the caller keeps its own
    key: sign ``unsigned_transaction`` and POST it to
    ``/v1/transactions/{id}/submit``).
    """

    status: str
    transaction: TransactionInfo
    result: T | None = None
    unsigned_transaction: dict[str, Any] | None = None
    message: str = ""


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` asks for the next (null on the last)."""

    items: list[T]
    next_cursor: str | None = None
