"""announce_many with many rows (an indexer batch's), on both databases: every row once
per key and audience, in the order given (the outbox's id orders deliveries), the rows
already there left alone, and the count of new rows exact. On PostgreSQL a batch this size
goes through COPY and a staging table (db/bulk.py copy_insert_new), a small one through
an INSERT per row: both must agree."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from ledger_app.db.notification_tables import notifications
from ledger_app.db.outbox import Announcement, announce_many

A, B = "0x" + "a" * 40, "0x" + "b" * 40


def announcements(first: int, last: int) -> list[Announcement]:
    """Receivables first..last: each announced to its holder and a role, then once more
    to the holder alone (the same key and audience: one row, not two)."""
    out = []
    for n in range(first, last + 1):
        payload = {"receivable": n, "note": f"réception {n}"}
        out.append(Announcement("receivable.to_confirm", [A, "role:BANK"], payload, f"k{n}", n))
        out.append(Announcement("receivable.to_confirm", A.upper(), payload, f"k{n}", n))
    return out


def stored(engine: Engine) -> list[tuple]:
    n = notifications
    with engine.connect() as conn:
        rows = conn.execute(
            select(n.c.key, n.c.audience, n.c.receivable_id, n.c.payload).order_by(n.c.id)
        ).all()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("size", [3, 120])  # below and above the PostgreSQL COPY threshold
def test_many_announcements_are_stored_once_in_their_order(engine: Engine, size: int) -> None:
    with engine.begin() as conn:
        new = announce_many(conn, announcements(1, size))
    assert new == 2 * size
    rows = stored(engine)
    assert [key for key, *_ in rows] == [f"k{n}:{who}" for n in range(1, size + 1)
                                         for who in (A, "role:bank")]  # fmt: skip
    assert rows[0][2] == 1
    assert rows[0][3] == '{"note":"réception 1","receivable":1}'

    # A replay of half of them and as many new ones: only the new ones go in, after.
    with engine.begin() as conn:
        again = announce_many(conn, [*announcements(size // 2, size), Announcement(
            "receivable.to_confirm", B, {"receivable": 0}, "k0", None)])  # fmt: skip
    assert again == 1
    rows = stored(engine)
    assert len(rows) == 2 * size + 1
    assert rows[-1][:3] == ("k0:" + B, B, None)


def test_many_announcements_in_two_batches_of_one_transaction(engine: Engine) -> None:
    """The staging table is emptied after use: a second batch in the same transaction
    (PostgreSQL keeps the table until the commit) adds only its own rows."""
    with engine.begin() as conn:
        first = announce_many(conn, announcements(1, 60))
        second = announce_many(conn, announcements(61, 130))
    assert (first, second) == (120, 140)
    assert [key for key, *_ in stored(engine)][-1] == "k130:role:bank"
