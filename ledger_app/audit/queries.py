"""Auditors' questions of the index: one participant's activity, one transaction,
receivables by status / due date / debtor with totals, overdue and defaulted exposure.

Amounts are summed in Python, never in SQL: SQLite keeps uint256 as padded text, and
SUM over it would go through a float.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from ledger_app.audit.trace import EventRow, event_columns, iter_events
from ledger_app.db import schema
from ledger_app.domain.financing import shown_status


def event_json(event: EventRow) -> dict[str, Any]:
    """An events row as JSON-ready data."""
    return {
        "block_number": event.block_number,
        "block_timestamp": event.block_timestamp,
        "block_hash": event.block_hash,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
        "contract": event.contract,
        "contract_kind": event.contract_kind,
        "event": event.event_name,
        "args": event.args,
    }


def actors_of(args: Any) -> set[str]:
    """Every address among an event's arguments (nested ones too)."""
    found: set[str] = set()
    if isinstance(args, dict):
        for value in args.values():
            found |= actors_of(value)
    elif isinstance(args, list):
        for value in args:
            found |= actors_of(value)
    elif isinstance(args, str) and len(args) == 42 and args.startswith("0x"):
        found.add(args)
    return found


@dataclass(frozen=True)
class Period:
    """Block timestamps from ``start`` (inclusive) to ``end`` (exclusive); None is open."""

    start: int | None = None
    end: int | None = None

    def where(self) -> list[Any]:
        """SQL conditions on events.block_timestamp."""
        e = schema.events
        out = []
        if self.start is not None:
            out.append(e.c.block_timestamp >= self.start)
        if self.end is not None:
            out.append(e.c.block_timestamp < self.end)
        return out


def participant_activity(
    conn: Connection,
    chain_id: int,
    participant: str,
    period: Period,
    *,
    after: tuple[int, int] | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """Events naming ``participant`` in ``period``, oldest first, after the cursor
    ``(block, log index)``; returns the page and the next cursor (None at the end)."""
    e = schema.events
    participant = participant.lower()
    query = select(*event_columns()).where(
        e.c.chain_id == chain_id,
        # The text match narrows; actors_of decides (an address could be inside a hash).
        e.c.args.contains(participant),
        *period.where(),
    )
    if after is not None:
        query = query.where(
            or_(
                e.c.block_number > after[0],
                and_(e.c.block_number == after[0], e.c.log_index > after[1]),
            )
        )
    query = query.order_by(e.c.block_number, e.c.log_index)
    page: list[dict[str, Any]] = []
    for event in iter_events(conn, query, yield_per=limit + 1):
        if participant in actors_of(event.args):
            if len(page) == limit:
                last = page[-1]
                return page, (last["block_number"], last["log_index"])
            page.append(event_json(event))
    return page, None


def transaction_events(conn: Connection, chain_id: int, tx_hash: str) -> list[dict[str, Any]]:
    """Every indexed event of one transaction, in log order."""
    e = schema.events
    query = (
        select(*event_columns())
        .where(e.c.chain_id == chain_id, e.c.tx_hash == tx_hash.lower())
        .order_by(e.c.log_index)
    )
    return [event_json(event) for event in iter_events(conn, query)]


@dataclass(frozen=True)
class ReceivableFilter:
    """Which receivables a report covers."""

    status: str | None = None
    debtor: str | None = None
    due_from: int | None = None
    due_to: int | None = None  # exclusive
    leaves_only: bool = False


def receivables_report(
    conn: Connection, where: ReceivableFilter, *, offset: int = 0, limit: int = 100
) -> dict[str, Any]:
    """Matching receivables (a page) and, over all that match, count and face totals by currency."""
    r = schema.receivables
    query = select(r)
    if where.status:
        query = query.where(r.c.status == where.status)
    if where.debtor:
        query = query.where(r.c.debtor == where.debtor.lower())
    if where.due_from is not None:
        query = query.where(r.c.due_date >= where.due_from)
    if where.due_to is not None:
        query = query.where(r.c.due_date < where.due_to)
    if where.leaves_only:
        query = query.where(r.c.child_count == 0)
    totals: dict[str, dict[str, int]] = {}
    items = []
    for index, row in enumerate(
        conn.execution_options(yield_per=1000).execute(query.order_by(r.c.id)).mappings()
    ):
        total = totals.setdefault(row["currency"], {"count": 0, "amount": 0})
        total["count"] += 1
        total["amount"] += int(row["amount"])
        if offset <= index < offset + limit:
            items.append(_receivable_json(row))
    return {
        "items": items,
        "totals": {
            c: {"count": t["count"], "amount": str(t["amount"])} for c, t in sorted(totals.items())
        },
        "count": sum(t["count"] for t in totals.values()),
    }


def block_time(conn: Connection, chain_id: int, block: int) -> int | None:
    """The timestamp of indexed block ``block`` (the chain's clock there); None when the
    index holds no such block (an empty index). The checkpoint's block is always kept
    (the indexer prunes only below its undo floor, which never passes the checkpoint)."""
    b = schema.blocks
    stamp = conn.execute(
        select(b.c.timestamp).where(b.c.chain_id == chain_id, b.c.number == block)
    ).scalar()
    return None if stamp is None else int(stamp)


def exposure_by_financier(conn: Connection, now: int) -> list[dict[str, Any]]:
    """Funded financings past due and unpaid (overdue), and defaulted ones, per financier and currency.

    Overdue: the financing is FUNDED and its receivable is past its due date at ``now``
    (unix seconds: the chain's clock at the block the answer is as of, never the
    server's: ``block_time``) and not settled. Defaulted: the financing is DEFAULTED
    (recourse claims are listed, less what the supplier has paid of them); a defaulted
    amount is net of what the financier wrote off (``written_off_amount``).
    """
    f, r, d = schema.financings, schema.receivables, schema.credit_line_drawings
    query = (
        select(
            f.c.financier,
            f.c.status,
            f.c.recourse_claim,
            f.c.recourse_paid,
            d.c.written_off,
            r.c.id,
            r.c.amount,
            r.c.currency,
            r.c.due_date,
            r.c.status.label("receivable_status"),
        )
        .join(r, r.c.id == f.c.receivable_id)
        .outerjoin(d, (d.c.receivable_id == f.c.receivable_id) & (d.c.financing_id == f.c.id))
        .where(f.c.status.in_(["FUNDED", "DEFAULTED"]))
    )
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for row in conn.execute(query).mappings():
        # FUNDED as shown: not REPAID by the settlement of its receivable.
        overdue = (
            shown_status(row["status"], row["receivable_status"]) == "FUNDED"
            and row["due_date"] < now
        )
        defaulted = row["status"] == "DEFAULTED"
        if not (overdue or defaulted):
            continue
        entry = rows.setdefault(
            (row["financier"], row["currency"]),
            {"financier": row["financier"], "currency": row["currency"], "overdue_count": 0,
             "overdue_amount": 0, "defaulted_count": 0, "defaulted_amount": 0,
             "recourse_claims": 0, "written_off_amount": 0, "receivables": []},
        )  # fmt: skip
        key = "overdue" if overdue else "defaulted"
        written_off = int(row["written_off"] or 0)
        entry[f"{key}_count"] += 1
        entry[f"{key}_amount"] += int(row["amount"]) - written_off
        entry["written_off_amount"] += written_off
        entry["recourse_claims"] += int(row["recourse_claim"] or 0) - int(row["recourse_paid"] or 0)
        entry["receivables"].append(row["id"])
    out = []
    for _, entry in sorted(rows.items()):
        for field in (
            "overdue_amount",
            "defaulted_amount",
            "recourse_claims",
            "written_off_amount",
        ):
            entry[field] = str(entry[field])
        out.append(entry)
    return out


def _receivable_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "parent_id": row["parent_id"], "root_id": row["root_id"],
        "debtor": row["debtor"], "creditor": row["creditor"], "holder": row["holder"],
        "amount": str(row["amount"]), "currency": row["currency"], "due_date": row["due_date"],
        "status": row["status"], "frozen": bool(row["frozen"]),
    }  # fmt: skip


def iter_period_events(conn: Connection, chain_id: int, period: Period) -> Iterator[EventRow]:
    """Every event of ``period`` in chain order, streamed."""
    e = schema.events
    query = (
        select(*event_columns())
        .where(e.c.chain_id == chain_id, *period.where())
        .order_by(e.c.block_number, e.c.log_index)
    )
    return iter_events(conn, query)
