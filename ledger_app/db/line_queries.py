"""Read-only queries the credit lines' writes need beyond ledger_app/db/risk_queries.py.

SQLAlchemy Core over the tables the indexer writes (``credit_lines``,
``credit_line_drawings``; ledger_app/db/schema.py), in risk_queries' style. Addresses
are the index's form (lower case).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ledger_app.db import schema


def open_drawing(conn: Connection, receivable_id: int) -> Any:
    """The unreleased drawing of ``receivable_id`` with its line's financier, or None."""
    dr, cl = schema.credit_line_drawings, schema.credit_lines
    query = (
        select(dr, cl.c.financier)
        .join(cl, cl.c.line_id == dr.c.line_id)
        .where(dr.c.receivable_id == receivable_id, dr.c.released_block.is_(None))
    )
    return conn.execute(query).first()
