"""Types shared by the request and response models of every resource.

Money is an integer of minor units, accepted as a JSON integer or a string of
digits and answered as a string (JSON numbers lose digits past 2**53); a
float is refused. Addresses are checked (and answered checksummed), currency
codes are ISO 4217 letters, bytes32 values 0x-hex.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

from eth_utils import is_address, to_checksum_address
from fastapi import Path
from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer, WithJsonSchema

MAX_UINT128 = 2**128 - 1
#: The largest id, cursor or timestamp taken as a JSON number: the largest integer a
#: JSON client (a double) reads exactly, and well inside a database's 64-bit integer.
MAX_SAFE_INTEGER = 2**53 - 1
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339 date-time: a time zone is required, so that no instant depends on the server's.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
T = TypeVar("T")


def money_schema(pattern: str, *, minimum: int, example: str) -> WithJsonSchema:
    """The request schema of an integer sent as a string of digits or a JSON integer (the
    answer's schema stays a string: the serializer says so)."""
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": pattern},
                {"type": "integer", "minimum": minimum},
            ],
            "examples": [example],
        },
        mode="validation",
    )


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


def _iso_date(value: Any) -> Any:
    # pydantic alone takes 0 or "0" for 1970-01-01; the schema promises an ISO date.
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("a date is YYYY-MM-DD")


def _rfc3339(value: Any) -> Any:
    # pydantic alone takes unix seconds and naive times; the schema promises RFC 3339.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise ValueError("a date-time is RFC 3339 with a time zone, e.g. 2027-01-31T00:00:00Z")


def _bytes32(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise ValueError("not a 0x-prefixed 32-byte hex value")
    return value.lower()


#: Positive integer minor units below 2**128 (the contracts' uint128).
Amount = Annotated[
    int,
    BeforeValidator(_minor_units),
    PlainSerializer(str, return_type=str),
    money_schema(r"^[0-9]{1,40}$", minimum=1, example="100000000"),
]
Address = Annotated[
    str,
    BeforeValidator(_address),
    # The pattern as schema text: FastAPI drops a pydantic pattern on path parameters.
    Field(
        json_schema_extra={
            "pattern": "^0x[0-9a-fA-F]{40}$",
            "example": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        }
    ),
]
Bytes32 = Annotated[
    str,
    BeforeValidator(_bytes32),
    Field(json_schema_extra={"pattern": "^0x[0-9a-fA-F]{64}$", "example": "0x" + "ab" * 32}),
]
#: An ISO 8601 calendar date (YYYY-MM-DD), nothing else.
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
#: An RFC 3339 date-time with its time zone, nothing else.
IsoDateTime = Annotated[datetime, BeforeValidator(_rfc3339)]
#: An id in a path: a non-negative integer a database column can hold (404 when unknown).
PathId = Annotated[int, Path(ge=0, le=MAX_SAFE_INTEGER)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]


def _uuid4(value: Any) -> uuid.UUID:
    try:
        parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as exc:
        raise ValueError("a UETR is a UUID") from exc
    if parsed.version != 4 or str(parsed) != str(value).lower():
        raise ValueError("a UETR is a lower-case UUID version 4 (ISO 20022 UUIDv4Identifier)")
    return parsed


#: A settlement's UETR (SWIFT gpi, ISO 20022): a lower-case UUID version 4.
Uetr = Annotated[
    uuid.UUID,
    BeforeValidator(_uuid4),
    Field(
        json_schema_extra={
            "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
        }
    ),
]


def utc(moment: datetime | None) -> datetime | None:
    """``moment`` with its time zone: the database hands UTC times back naive (SQLite)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


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
