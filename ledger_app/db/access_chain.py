"""Appending to the access log's hash chain: the one function both writers go through
(ledger_app/api/access.py for requests, ledger_app/api/throttle.py for refusal summaries).

The chain's head (``access_log_head``, one row) is taken under a lock in the same
transaction as the insert: ``SELECT ... FOR UPDATE`` on PostgreSQL, which holds another
process's append until this one commits; on SQLite, a no-op update first takes the
database's one write lock, so two appends cannot read the same head. The rows get their
``seq``, ``prev_hash`` and ``row_hash`` from ledger_app/domain/access_chain.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger_app.db.api_tables import access_log, access_log_head
from ledger_app.domain.access_chain import GENESIS, chain

HEAD_ID = 1


def lock_head(conn: Connection) -> tuple[int, str]:
    """The chain's head (rows so far, last row_hash), locked until the transaction ends."""
    if conn.dialect.name == "sqlite":
        conn.execute(
            update(access_log_head).where(access_log_head.c.id == HEAD_ID)
            .values(seq=access_log_head.c.seq)
        )  # fmt: skip
    head = conn.execute(
        select(access_log_head.c.seq, access_log_head.c.row_hash)
        .where(access_log_head.c.id == HEAD_ID).with_for_update()
    ).one_or_none()  # fmt: skip
    if head is None:
        # Only on a database made without the migrations (they insert the row): a second
        # process racing here fails on the primary key, and its rows wait for the next flush.
        conn.execute(insert(access_log_head).values(id=HEAD_ID, seq=0, row_hash=GENESIS))
        return 0, GENESIS
    return int(head.seq), str(head.row_hash)


def append_access_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Chain ``rows`` after the head and insert them, in ``conn``'s transaction; the new
    head's seq. The caller commits (or rolls back: nothing of it is then kept)."""
    head_seq, head_hash = lock_head(conn)
    if not rows:
        return head_seq
    chained = chain(rows, head_seq, head_hash)
    conn.execute(insert(access_log), chained)
    last = chained[-1]
    conn.execute(
        update(access_log_head).where(access_log_head.c.id == HEAD_ID)
        .values(seq=last["seq"], row_hash=last["row_hash"])
    )  # fmt: skip
    return int(last["seq"])


def chain_head(conn: Connection) -> tuple[int, str]:
    """The head as it is (no lock): rows so far and the last row_hash."""
    head = conn.execute(
        select(access_log_head.c.seq, access_log_head.c.row_hash)
        .where(access_log_head.c.id == HEAD_ID)
    ).one_or_none()  # fmt: skip
    return (0, GENESIS) if head is None else (int(head.seq), str(head.row_hash))


def chained_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every access-log row as stored, in chain order (seq, then id)."""
    query = select(access_log).order_by(access_log.c.seq, access_log.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]
