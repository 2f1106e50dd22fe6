"""Announcing a notification: one row in the outbox, inside the caller's transaction.

``announce`` is THE way anything is announced (the indexer's batches, the due-date pass,
the compliance alerts): called on the connection of the transaction that commits what it
announces, so nothing is announced that was not committed and nothing committed is
forgotten. A key already announced is skipped (``INSERT .. ON CONFLICT DO NOTHING``):
replaying a batch, rebuilding the index or a second pass announces nothing twice.
Delivery (webhooks, the event stream) reads the rows later, in id order.

Ids are committed in their order: a reader that has seen id N must never see a smaller
one appear later (it would move its cursor past it and miss it). SQLite writes one
transaction at a time anyway; on PostgreSQL ``announce`` takes a transaction-level
advisory lock first, so that announcing transactions (the indexer's batch, a due-date
pass, an alert) take their ids and commit one after the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.dialects import postgresql

from ledger_app.db.bulk import copy_insert_new, insert_many
from ledger_app.db.notification_tables import notifications
from ledger_app.db.schema import canonical_json
from ledger_app.domain.notifications import KINDS

#: "The outbox's writers" among PostgreSQL advisory locks (db/locks.py uses 0x1ED6E1..).
_OUTBOX_LOCK = 0x1ED6F0
# PostgreSQL: this many rows or more go through COPY and a staging table (bulk.py).
_COPY_MIN_ROWS = 50


@dataclass(frozen=True)
class Announcement:
    """One notification to announce: ``announce``'s arguments, for ``announce_many``."""

    kind: str
    audience: str | Iterable[str]
    payload: Mapping[str, Any]
    key: str
    receivable_id: int | None = None


def announce(
    conn: Connection,
    kind: str,
    audience: str | Iterable[str],
    payload: Mapping[str, Any],
    key: str,
    *,
    receivable_id: int | None = None,
) -> int:
    """Write notification ``kind`` for each ``audience`` (an address, ``role:<ROLE>``, or
    several) in ``conn``'s transaction, once per ``key`` and audience; returns how many
    rows were new."""
    return announce_many(conn, [Announcement(kind, audience, payload, key, receivable_id)])


def announce_many(conn: Connection, announcements: Iterable[Announcement]) -> int:
    """``announce`` for each of ``announcements``, in their order (so in id order), with
    one statement and one outbox lock for all: an indexer batch announces thousands."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for a in announcements:
        if a.kind not in KINDS:
            raise ValueError(f"unknown notification kind {a.kind!r}")
        audiences = [a.audience] if isinstance(a.audience, str) else list(a.audience)
        payload = canonical_json(dict(a.payload))
        rows += [
            {
                "kind": a.kind,
                "audience": who.lower() if not who.startswith("role:") else who,
                "key": f"{a.key}:{who.lower()}",
                "receivable_id": a.receivable_id,
                "payload": payload,
                "created_at": now,
            }
            for who in audiences
        ]
    if not rows:
        return 0
    if conn.dialect.name == "sqlite":
        return insert_many(conn, notifications, rows, conflict=["key"])
    # PostgreSQL: the outbox lock, held until this transaction ends.
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _OUTBOX_LOCK})
    if len(rows) >= _COPY_MIN_ROWS:  # an indexer batch: one statement, not one a row
        return copy_insert_new(conn, notifications, rows, ["key"])
    # The new rows counted by what RETURNING gives back: the rowcount of an insert of
    # several rows is -1 here (SQLAlchemy's batched executes), and announce_due_soon
    # reported that as its count.
    stmt = postgresql.insert(notifications).on_conflict_do_nothing(index_elements=["key"])
    return len(conn.execute(stmt.returning(notifications.c.id), rows).all())


def last_id(conn: Connection) -> int:
    """The newest notification's id (0 before the first)."""
    return int(conn.execute(select(func.max(notifications.c.id))).scalar() or 0)
