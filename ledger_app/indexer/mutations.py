"""Row mutations: what a handler asks the store to do, as plain data.

Handlers return these instead of touching a database, so that they stay pure
(testable without one) and the store can batch, cache and undo them. Keys are
dicts of primary-key column to value. The store stamps ``updated_block``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Key = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Upsert:
    """Create the row (column defaults for the rest) or overwrite ``values`` in it."""

    table: str
    key: Key
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Patch:
    """Overwrite ``values`` in a row that must exist (a missing one is a bug: loud)."""

    table: str
    key: Key
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Add:
    """Add ``delta`` to a numeric column, creating the row (at its defaults) if missing."""

    table: str
    key: Key
    column: str
    delta: int


@dataclass(frozen=True, slots=True)
class CopyFrom:
    """Create a row whose ``columns`` are copied from the row at ``source_key`` (of
    ``source_table``, by default the same table).

    How split children inherit their root's terms without the pure handler
    reading the root, and how a credit line's history row records the line's terms
    after the event.
    """

    table: str
    key: Key
    source_key: Key
    columns: tuple[str, ...]
    values: dict[str, Any]
    source_table: str | None = None


@dataclass(frozen=True, slots=True)
class AddFrom:
    """Add ``sign`` times the source row's ``amount_column`` to ``column`` of the row of
    ``table`` whose key the source row gives (``key_from``: key column -> source
    column), creating it at its defaults if missing; nothing when ``when`` names a
    source column that is false.

    How an event that names only a receivable (a void, a root's repayment, a line's
    release) reaches the row of its debtor's payables or of its supplier's sub-limit,
    without the pure handler reading the receivable or the drawing.
    """

    table: str
    source_table: str
    source_key: Key
    key_from: tuple[tuple[str, str], ...]
    column: str
    amount_column: str
    sign: int = 1
    when: str | None = None


@dataclass(frozen=True, slots=True)
class SetMember:
    """Add (``present``) or remove ``member`` in a sorted comma-separated set column."""

    table: str
    key: Key
    column: str
    member: str
    present: bool


Mutation = Upsert | Patch | Add | CopyFrom | AddFrom | SetMember
