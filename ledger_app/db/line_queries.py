"""Read-only queries of the credit lines' read models, for the credit lines' API.

SQLAlchemy Core over the tables the indexer writes (``credit_lines``,
``credit_line_suppliers``, ``credit_line_drawings``; ledger_app/db/schema.py). ``head``,
``block_timestamp``, ``lines`` and ``line`` have the signatures of the index helper's
ledger_app/db/risk_queries.py (not on its branch when this was written): once it is, the
service takes them from there and only ``open_drawing`` stays here.

Who sees a line is ``line_access`` (ledger_app/domain/risk.py): its financier and its
obligor all of it, a supplier named on its programme its own sub-limit and drawings only,
a reader of everything (``viewer=None``) all. Times are the chain's (the index's block
headers or events), never the server's clock. Amounts are Python ints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, exists, or_, select

from ledger_app.db import schema
from ledger_app.domain import risk


class BlockNotIndexed(LookupError):
    """The index holds no timestamp for this block."""


# --- the chain's clock, as the index has it ----------------------------------------


def head(conn: Connection, chain_id: int) -> tuple[int, int] | None:
    """(block, timestamp) of the index's head (its checkpoint), None before the first batch."""
    c = schema.checkpoint
    number = conn.execute(select(c.c.block_number).where(c.c.chain_id == chain_id)).scalar()
    if number is None:
        return None
    return int(number), block_timestamp(conn, chain_id, int(number))


def block_timestamp(conn: Connection, chain_id: int, block: int) -> int:
    """Block ``block``'s timestamp from the index: its header (``blocks`` keeps the head
    and the reorg window) or any event of it. Raises BlockNotIndexed otherwise."""
    b, e = schema.blocks, schema.events
    stamp = conn.execute(
        select(b.c.timestamp).where(b.c.chain_id == chain_id, b.c.number == block)
    ).scalar()
    if stamp is None:
        stamp = conn.execute(
            select(e.c.block_timestamp)
            .where(
                e.c.chain_id == chain_id,
                e.c.block_number == block,
                e.c.block_timestamp.is_not(None),
            )
            .limit(1)
        ).scalar()
    if stamp is None:
        raise BlockNotIndexed(f"the index holds no timestamp of block {block}")
    return int(stamp)


# --- credit lines ------------------------------------------------------------------


def lines(
    conn: Connection,
    *,
    at: int,
    financier: str | None = None,
    obligor: str | None = None,
    currency: str | None = None,
    status: str | None = None,
    viewer: str | None = None,
) -> list[dict[str, Any]]:
    """Lines matching the filters, by id, each with its figures and its suppliers (a
    supplier viewer: its own only); ``at`` is the timestamp expiry is judged at (the index
    head's, ``head``). ``viewer`` None: every line."""
    cl, sup = schema.credit_lines, schema.credit_line_suppliers
    query = select(cl).order_by(cl.c.line_id)
    for column, value in (("financier", financier), ("obligor", obligor),
                          ("currency", currency), ("status", status)):  # fmt: skip
        if value is not None:
            query = query.where(cl.c[column] == _norm(column, value))
    if viewer is not None:
        viewer = viewer.lower()
        named = exists().where(sup.c.line_id == cl.c.line_id, sup.c.supplier == viewer)
        query = query.where(or_(cl.c.financier == viewer, cl.c.obligor == viewer, named))
    rows = [dict(r) for r in conn.execute(query).mappings()]
    suppliers = _suppliers(conn, [r["line_id"] for r in rows])
    return [_line_json(r, suppliers.get(r["line_id"], []), at, viewer) for r in rows]


def line(
    conn: Connection, line_id: int, *, at: int, viewer: str | None = None
) -> dict[str, Any] | None:
    """One line with its suppliers and drawings (a supplier viewer: its own only), or
    None when it does not exist or ``viewer`` may not see it."""
    cl, dr = schema.credit_lines, schema.credit_line_drawings
    row = conn.execute(select(cl).where(cl.c.line_id == line_id)).mappings().first()
    if row is None:
        return None
    suppliers = _suppliers(conn, [line_id]).get(line_id, [])
    access = risk.line_access(
        viewer, row["financier"], row["obligor"], [s["supplier"] for s in suppliers]
    )
    if access is None:
        return None
    out = _line_json(dict(row), suppliers, at, viewer)
    drawings = conn.execute(
        select(dr).where(dr.c.line_id == line_id).order_by(dr.c.drawn_block, dr.c.receivable_id)
    ).mappings()
    out["drawings"] = [
        {
            "receivable_id": d["receivable_id"], "financing_id": d["financing_id"],
            "supplier": d["supplier"], "amount": d["amount"], "drawn_block": d["drawn_block"],
            "released_block": d["released_block"], "release_cause": d["release_cause"],
        }
        for d in drawings
        if access == risk.LINE_ALL or d["supplier"] == (viewer or "").lower()
    ]  # fmt: skip
    return out


def _suppliers(conn: Connection, line_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    sup = schema.credit_line_suppliers
    ids = sorted(set(line_ids))
    found: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return found
    query = select(sup).where(sup.c.line_id.in_(ids)).order_by(sup.c.line_id, sup.c.supplier)
    for s in conn.execute(query).mappings():
        found.setdefault(s["line_id"], []).append(
            {
                "supplier": s["supplier"],
                "limit": s["limit"],
                "utilised": s["utilised"],
                "headroom": risk.headroom(s["limit"], s["utilised"]),
            }
        )
    return found


def _line_json(
    row: Mapping[str, Any], suppliers: list[dict[str, Any]], at: int, viewer: str | None
) -> dict[str, Any]:
    access = risk.line_access(viewer, row["financier"], row["obligor"],
                              [s["supplier"] for s in suppliers])  # fmt: skip
    if access == risk.LINE_OWN_SUB_LIMIT:
        suppliers = [s for s in suppliers if s["supplier"] == (viewer or "").lower()]
    limit, utilised = row["limit"], row["utilised"]
    return {
        "line_id": row["line_id"],
        "financier": row["financier"],
        "obligor": row["obligor"],
        "currency": row["currency"],
        "limit": limit,
        "utilised": utilised,
        "headroom": risk.headroom(limit, utilised),
        "utilisation_bps": risk.utilisation_bps(utilised, limit),
        "expiry": row["expiry"],
        "status": row["status"],
        "frozen": bool(row["frozen"]),
        "expired": risk.is_expired(row["expiry"], at),
        "programme": bool(row["programme"]),
        "suppliers": suppliers,
        "granted_block": row["granted_block"],
        "updated_block": row["updated_block"],
    }


def open_drawing(conn: Connection, receivable_id: int) -> Any:
    """The unreleased drawing of ``receivable_id`` with its line's financier, or None."""
    dr, cl = schema.credit_line_drawings, schema.credit_lines
    query = (
        select(dr, cl.c.financier)
        .join(cl, cl.c.line_id == dr.c.line_id)
        .where(dr.c.receivable_id == receivable_id, dr.c.released_block.is_(None))
    )
    return conn.execute(query).first()


def _norm(column: str, value: str) -> str:
    return value.upper() if column in ("currency", "status") else value.lower()
