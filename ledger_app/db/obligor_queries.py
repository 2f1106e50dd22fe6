"""Reads of obligor risk from the index: caps and payables, the trigger and its flags, a
core's root history (the risk score's inputs), what falls due, and the keeper's worklist.

Plain queries over the read models (ledger_app/db/schema.py); the figures made of them
(score, bands, headroom) are ledger_app/domain's rules. Addresses are lower case, as
the index stores them; times unix seconds of the chain's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select

from ledger_app.db import schema
from ledger_app.domain.risk_score import RootHistory

#: Leaf statuses markOverdue takes (the registry's _OVERDUE_FROM).
OVERDUE_FROM = ("ACTIVE", "FINANCED")
#: Root statuses that still owe (RiskControl's _OPEN_ROOT).
OPEN_ROOT = ("ACTIVE", "SPLIT", "FINANCING", "FINANCED", "OVERDUE", "DEFAULTED")
VOIDED = ("REJECTED", "CANCELLED")


def payables(conn: Connection, core: str | None = None) -> list[Any]:
    """(core, currency) rows of what each core owes and its cap, with its cap manager."""
    p, m = schema.core_payables, schema.cap_managers
    query = select(p, m.c.manager).select_from(p.outerjoin(m, m.c.core == p.c.core))
    if core is not None:
        query = query.where(p.c.core == core.lower())
    return list(conn.execute(query.order_by(p.c.core, p.c.currency)))


def cap_manager(conn: Connection, core: str) -> str | None:
    """The bank that may set ``core``'s caps (None: none)."""
    m = schema.cap_managers
    return conn.execute(select(m.c.manager).where(m.c.core == core.lower())).scalar()


def trigger_days(conn: Connection) -> int | None:
    """The overdue trigger's days (None before the index has seen the risk control)."""
    s = schema.risk_settings
    return conn.execute(select(s.c.overdue_trigger_days).limit(1)).scalar()


def flags(conn: Connection, debtor: str | None = None, open_: bool | None = None) -> list[Any]:
    """Overdue flags, by due date; ``open_``: unpaid only (True) or cured only (False)."""
    f = schema.overdue_flags
    query = select(f)
    if debtor is not None:
        query = query.where(f.c.debtor == debtor.lower())
    if open_ is True:
        query = query.where(f.c.cured_block.is_(None))
    elif open_ is False:
        query = query.where(f.c.cured_block.is_not(None))
    return list(conn.execute(query.order_by(f.c.due_date, f.c.root_id)))


def flag(conn: Connection, root_id: int) -> Any:
    """The flag of root ``root_id`` (None: never flagged)."""
    f = schema.overdue_flags
    return conn.execute(select(f).where(f.c.root_id == root_id)).first()


def restricted_cores(conn: Connection, cores: Sequence[str] | None = None) -> list[Any]:
    """(core, overdue_roots, oldest_due_date) of each core with an open flag."""
    f = schema.overdue_flags
    query = (
        select(
            f.c.debtor.label("core"),
            func.count().label("overdue_roots"),
            func.min(f.c.due_date).label("oldest_due_date"),
        )
        .where(f.c.cured_block.is_(None))
        .group_by(f.c.debtor)
        .order_by(f.c.debtor)
    )
    if cores is not None:
        query = query.where(f.c.debtor.in_([c.lower() for c in cores]))
    return list(conn.execute(query))


def core_enterprises(conn: Connection) -> list[str]:
    """Every onboarded core enterprise."""
    p = schema.participants
    rows = conn.execute(select(p.c.account, p.c.roles).where(p.c.onboarded.is_(True)))
    return sorted(a for a, roles in rows if "CORE_ENTERPRISE" in (roles or "").split(","))


def root_histories(conn: Connection, chain_id: int, core: str) -> list[RootHistory]:
    """Every root ``core`` registered: its creditor, amount, registration time (its
    ReceivableRegistered event's block), due date and repayment time (its
    ReceivableRootRepaid event's block), and whether it was voided."""
    r, e = schema.receivables, schema.events
    roots = conn.execute(
        select(r.c.id, r.c.creditor, r.c.amount, r.c.due_date, r.c.status).where(
            r.c.debtor == core.lower(), r.c.id == r.c.root_id
        )
    ).all()
    if not roots:
        return []
    ids = [row.id for row in roots]
    stamps: dict[tuple[str, int], int] = {}
    for i in range(0, len(ids), 500):  # well under SQLite's parameter limit
        query = select(e.c.event_name, e.c.root_id, e.c.receivable_id, e.c.block_timestamp).where(
            e.c.chain_id == chain_id,
            e.c.event_name.in_(("ReceivableRegistered", "ReceivableRootRepaid")),
            e.c.root_id.in_(ids[i : i + 500]),
        )
        for name, root_id, _receivable_id, stamp in conn.execute(query):
            if stamp is not None:
                stamps.setdefault((name, int(root_id)), int(stamp))
    return [
        RootHistory(
            root_id=row.id,
            creditor=row.creditor,
            amount=int(row.amount),
            registered_at=stamps.get(("ReceivableRegistered", row.id), 0),
            due_date=int(row.due_date),
            repaid_at=stamps.get(("ReceivableRootRepaid", row.id)),
            voided=row.status in VOIDED,
        )
        for row in roots
    ]


def falling_due(conn: Connection, until: int, party: str | None) -> list[tuple[str, Any]]:
    """(role, receivable row) of what falls due by ``until`` and is unpaid: roots a debtor
    owes (role DEBTOR) and leaves a holder holds (role HOLDER, FINANCIER once financed);
    ``party``: only the ones it owes or holds (None: all, as DEBTOR)."""
    r = schema.receivables
    unpaid = and_(r.c.due_date <= until, r.c.status.in_(OPEN_ROOT))
    owed = select(r).where(unpaid, r.c.id == r.c.root_id)
    if party is None:
        return [("DEBTOR", row) for row in conn.execute(owed.order_by(r.c.due_date, r.c.id))]
    out = [("DEBTOR", row) for row in conn.execute(owed.where(r.c.debtor == party))]
    held = select(r).where(unpaid, r.c.holder == party, r.c.child_count == 0, r.c.debtor != party)
    for row in conn.execute(held):
        out.append(("FINANCIER" if row.status == "FINANCED" else "HOLDER", row))
    return sorted(out, key=lambda item: (item[1].due_date, item[1].id))


def leaves_to_mark(conn: Connection, now: int) -> list[int]:
    """Ids of leaves past due (``now`` > due date) still ACTIVE or FINANCED: what the
    registry's markOverdue takes."""
    r = schema.receivables
    query = select(r.c.id).where(
        r.c.due_date < now, r.c.status.in_(OVERDUE_FROM), r.c.child_count == 0
    )
    return [int(i) for i in conn.execute(query.order_by(r.c.id)).scalars()]


def roots_to_flag(conn: Connection, flaggable_before: int) -> list[int]:
    """Ids of open roots due before ``flaggable_before`` (now minus the trigger) that
    are neither flagged nor paid into clearing: what RiskControl.flagOverdue takes."""
    r, f, c = schema.receivables, schema.overdue_flags, schema.clearing_roots
    flagged = select(f.c.root_id).where(f.c.cured_block.is_(None))
    repaid = select(c.c.root_id).where(c.c.repaid > 0)
    query = select(r.c.id).where(
        r.c.id == r.c.root_id,
        r.c.due_date < flaggable_before,
        r.c.status.in_(OPEN_ROOT),
        r.c.id.not_in(flagged),
        r.c.id.not_in(repaid),
    )
    return [int(i) for i in conn.execute(query.order_by(r.c.id)).scalars()]


def head_time(conn: Connection, chain_id: int, block: int) -> int | None:
    """The timestamp of indexed block ``block`` (None when the index does not hold it)."""
    b = schema.blocks
    stamp = conn.execute(
        select(b.c.timestamp).where(b.c.chain_id == chain_id, b.c.number == block)
    ).scalar()
    return None if stamp is None else int(stamp)


def lines_of(conn: Connection, party: str | None, status: str | None = "OPEN") -> list[Any]:
    """Credit lines whose financier or obligor is ``party`` (None: all), by id."""
    c = schema.credit_lines
    query = select(c)
    if party is not None:
        query = query.where((c.c.financier == party) | (c.c.obligor == party))
    if status is not None:
        query = query.where(c.c.status == status)
    return list(conn.execute(query.order_by(c.c.line_id)))


def open_line(conn: Connection, financier: str, obligor: str, currency: str) -> Any:
    """``financier``'s open line to ``obligor`` in ``currency`` (None: none)."""
    c = schema.credit_lines
    return conn.execute(
        select(c).where(
            c.c.financier == financier.lower(),
            c.c.obligor == obligor.lower(),
            c.c.currency == currency,
            c.c.status == "OPEN",
        )
    ).first()


def lines_at(conn: Connection, block: int, party: str | None) -> list[Any]:
    """Every line as it stood at ``block``: its last history row at or before the block
    (line_id, financier, obligor, currency, limit, utilised, expiry, status, frozen);
    ``party``: only the lines it granted or is the obligor of."""
    c, h = schema.credit_lines, schema.credit_line_history
    last = (
        select(h.c.line_id, func.max(h.c.block_number * 100_000 + h.c.log_index).label("at"))
        .where(h.c.block_number <= block)
        .group_by(h.c.line_id)
        .subquery()
    )
    query = (
        select(
            c.c.line_id,
            c.c.financier,
            c.c.obligor,
            c.c.currency,
            h.c.limit,
            h.c.utilised,
            h.c.expiry,
            h.c.status,
            h.c.frozen,
        )
        .select_from(
            h.join(
                last,
                and_(
                    h.c.line_id == last.c.line_id,
                    h.c.block_number * 100_000 + h.c.log_index == last.c.at,
                ),
            ).join(c, c.c.line_id == h.c.line_id)
        )
        .order_by(c.c.line_id)
    )
    if party is not None:
        query = query.where((c.c.financier == party) | (c.c.obligor == party))
    return list(conn.execute(query))
