"""Reads of obligor risk the API needs beyond ledger_app/db/risk_queries.py (the index's
own: lines, exposure, payables, flags, the trigger, a core's score facts): one flag,
the core enterprises, what falls due for a party, a financier's open line to a debtor,
and the keeper's worklist (leaves to mark overdue, roots to flag).

Plain queries over the read models (ledger_app/db/schema.py); the figures made of them
(score, bands, headroom) are ledger_app/domain's rules. Addresses are lower case, as
the index stores them; times unix seconds of the chain's clock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, select

from ledger_app.db import schema
from ledger_app.domain.risk import OPEN_ROOT, OVERDUE_FROM


def flag(conn: Connection, root_id: int) -> Any:
    """The flag of root ``root_id`` (None: never flagged)."""
    f = schema.overdue_flags
    return conn.execute(select(f).where(f.c.root_id == root_id)).first()


def core_enterprises(conn: Connection) -> list[str]:
    """Every onboarded core enterprise."""
    p = schema.participants
    rows = conn.execute(select(p.c.account, p.c.roles).where(p.c.onboarded.is_(True)))
    return sorted(a for a, roles in rows if "CORE_ENTERPRISE" in (roles or "").split(","))


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
    """Ids of leaves past due (``now`` > due date) still ACTIVE or FINANCED whose root is
    not paid into clearing (those await redemption, not a debtor): what the registry's
    markOverdue takes."""
    r, c = schema.receivables, schema.clearing_roots
    repaid = select(c.c.root_id).where(c.c.repaid > 0)
    query = select(r.c.id).where(
        r.c.due_date < now,
        r.c.status.in_(OVERDUE_FROM),
        r.c.child_count == 0,
        r.c.root_id.not_in(repaid),
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
