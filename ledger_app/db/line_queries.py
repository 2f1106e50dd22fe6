"""Read-only queries the credit lines' writes need beyond ledger_app/db/risk_queries.py.

SQLAlchemy Core over the tables the indexer writes (``credit_lines``,
``credit_line_drawings``; ledger_app/db/schema.py), in risk_queries' style. Addresses
are the index's form (lower case).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ledger_app.db.schema import credit_line_drawings, credit_lines


def open_drawing(conn: Connection, receivable_id: int) -> Any:
    """The unreleased drawing of ``receivable_id`` with its line's financier, or None."""
    query = (
        select(credit_line_drawings, credit_lines.c.financier)
        .join(credit_lines, credit_lines.c.line_id == credit_line_drawings.c.line_id)
        .where(
            credit_line_drawings.c.receivable_id == receivable_id,
            credit_line_drawings.c.released_block.is_(None),
        )
    )
    return conn.execute(query).first()
