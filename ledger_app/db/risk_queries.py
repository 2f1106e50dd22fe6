"""Risk control's questions of the index: credit lines, exposure at a block, core
payables and caps, overdue flags and the trigger, and the facts a risk score is built of.

Read-only, SQLAlchemy Core, on the read models the indexer builds from CreditLines' and
RiskControl's events and the registry's (ledger_app/indexer/handlers.py). Figures
(headroom, utilisation, expiry, bands) come from ledger_app/domain/risk.py, and times
are the chain's: a block's timestamp as the index stored it (``blocks``, or the
``events`` of that block), never the server's clock.

Amounts are summed in Python, never in SQL: SQLite keeps uint256 as padded text, and
SUM over it would go through a float. Values are Python ints; the API turns them into
its strings.

Who sees a line (``line_access`` in domain/risk.py): its financier and its obligor see
all of it, a supplier named on its programme its own sub-limit and drawings only, and
a reader of everything (``viewer=None``) all. ``lines``/``line`` filter by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from sqlalchemy import Connection, exists, or_, select

from ledger_app.db import schema
from ledger_app.domain import risk

ExposureBy = Literal["financier", "obligor", "currency"]

#: Root statuses that never became a payable (or stopped being one before confirmation).
_VOID_ROOT = ("NONE", "REJECTED", "CANCELLED")
#: How many 90-day windows of registration volume a score sees, newest first.
VOLUME_WINDOWS = 4
VOLUME_WINDOW_DAYS = 90


class BlockNotIndexed(LookupError):
    """The index holds no timestamp for this block (above its head, or pruned with no
    event in it): a figure "at" it cannot be computed from the index."""


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
    """Lines matching the filters, by id, each as ``line`` shows it; ``at`` is the
    timestamp expiry is judged at (the index head's, ``head``). ``viewer`` None: every
    line; else the lines it may see, a supplier's with its own sub-limit and drawings only.
    """
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
    ids = [r["line_id"] for r in rows]
    suppliers, drawings = _suppliers(conn, ids), _drawings(conn, ids)
    shown = (
        _line_json(r, suppliers.get(r["line_id"], []), drawings.get(r["line_id"], []), at, viewer)
        for r in rows
    )
    return [line for line in shown if line is not None]


def line(
    conn: Connection, line_id: int, *, at: int, viewer: str | None = None
) -> dict[str, Any] | None:
    """One line with its figures, suppliers and drawings (a supplier viewer: its own
    only), or None when it does not exist or ``viewer`` may not see it."""
    cl = schema.credit_lines
    row = conn.execute(select(cl).where(cl.c.line_id == line_id)).mappings().first()
    if row is None:
        return None
    suppliers = _suppliers(conn, [line_id]).get(line_id, [])
    drawings = _drawings(conn, [line_id]).get(line_id, [])
    return _line_json(dict(row), suppliers, drawings, at, viewer)


def _drawings(conn: Connection, line_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    dr = schema.credit_line_drawings
    ids = sorted(set(line_ids))
    found: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return found
    query = (
        select(dr)
        .where(dr.c.line_id.in_(ids))
        .order_by(dr.c.line_id, dr.c.drawn_block, dr.c.receivable_id)
    )
    for d in conn.execute(query).mappings():
        found.setdefault(d["line_id"], []).append(
            {
                "receivable_id": d["receivable_id"], "financing_id": d["financing_id"],
                "supplier": d["supplier"], "amount": d["amount"], "drawn_block": d["drawn_block"],
                "released_block": d["released_block"], "release_cause": d["release_cause"],
                "written_off": str(d["written_off"]),
                "recovered": None if d["recovered"] is None else str(d["recovered"]),
                "recovered_block": d["recovered_block"],
            }
        )  # fmt: skip
    return found


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
    row: Mapping[str, Any],
    suppliers: list[dict[str, Any]],
    drawings: list[dict[str, Any]],
    at: int,
    viewer: str | None,
) -> dict[str, Any] | None:
    access = risk.line_access(viewer, row["financier"], row["obligor"],
                              [s["supplier"] for s in suppliers])  # fmt: skip
    if access is None:
        return None
    if access == risk.LINE_OWN_SUB_LIMIT:
        own = (viewer or "").lower()
        suppliers = [s for s in suppliers if s["supplier"] == own]
        drawings = [d for d in drawings if d["supplier"] == own]
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
        "band": risk.band(risk.utilisation_bps(utilised, limit)),
        "expiry": row["expiry"],
        "status": row["status"],
        "frozen": bool(row["frozen"]),
        "expired": risk.is_expired(row["expiry"], at),
        "programme": bool(row["programme"]),
        "suppliers": suppliers,
        "drawings": drawings,
        "granted_block": row["granted_block"],
        "updated_block": row["updated_block"],
    }


# --- exposure at a block -------------------------------------------------------------


def exposure_at(
    conn: Connection,
    chain_id: int,
    block: int,
    by: ExposureBy,
    viewer: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """Exposure per ``by`` (financier, obligor, or currency alone) and currency at the
    end of ``block``: limits and status as they stood then (``credit_line_history``),
    expiry judged at that block's timestamp, utilisation from the drawings outstanding
    then (drawn at or before it, released after it or not yet). A line counts when it was
    granted by then and was open or still drawn; its limit only while open and not
    expired. ``viewer``: only lines it granted or owes (None: all).

    ``timestamp``: block ``block``'s, when the caller read it from the chain's header
    (the index keeps timestamps only of the reorg window and of blocks with an event).
    Raises BlockNotIndexed when the index has not reached ``block``, or holds no
    timestamp of it and none was given."""
    if by not in ("financier", "obligor", "currency"):
        raise ValueError(f"by must be financier, obligor or currency, not {by!r}")
    top = head(conn, chain_id)
    if top is None or block > top[0]:
        raise BlockNotIndexed(f"the index has not reached block {block}")
    if timestamp is None:
        timestamp = block_timestamp(conn, chain_id, block)
    cl, hist, dr = schema.credit_lines, schema.credit_line_history, schema.credit_line_drawings
    query = select(cl.c.line_id, cl.c.financier, cl.c.obligor, cl.c.currency).where(
        cl.c.granted_block <= block
    )
    if viewer is not None:
        viewer = viewer.lower()
        query = query.where(or_(cl.c.financier == viewer, cl.c.obligor == viewer))
    found = {r.line_id: r for r in conn.execute(query)}
    terms: dict[int, Mapping[str, Any]] = {}
    if found:
        history = conn.execute(
            select(hist)
            .where(hist.c.line_id.in_(sorted(found)), hist.c.block_number <= block)
            .order_by(hist.c.line_id, hist.c.block_number, hist.c.log_index)
        ).mappings()
        for h in history:  # ascending: the last row per line is its terms at the block
            terms[h["line_id"]] = h
    drawn: dict[int, int] = {}
    if found:
        outstanding = conn.execute(
            select(dr.c.line_id, dr.c.amount).where(
                dr.c.line_id.in_(sorted(found)),
                dr.c.drawn_block <= block,
                or_(dr.c.released_block.is_(None), dr.c.released_block > block),
            )
        )
        for line_id, amount in outstanding:
            drawn[line_id] = drawn.get(line_id, 0) + int(amount)
        # Less what was written off, by then, of the drawings still open at the block.
        wo = schema.credit_line_write_offs
        written_off = conn.execute(
            select(wo.c.line_id, wo.c.amount)
            .join(dr, dr.c.receivable_id == wo.c.receivable_id)
            .where(
                wo.c.line_id.in_(sorted(found)),
                wo.c.block_number <= block,
                dr.c.line_id == wo.c.line_id,
                or_(dr.c.released_block.is_(None), dr.c.released_block > block),
            )
        )
        for line_id, amount in written_off:
            drawn[line_id] -= int(amount)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for line_id, r in found.items():
        t = terms.get(line_id)
        if t is None:
            continue
        utilised = drawn.get(line_id, 0)
        is_open = t["status"] == "OPEN" and not risk.is_expired(t["expiry"], timestamp)
        if not is_open and utilised == 0:
            continue
        key = "" if by == "currency" else getattr(r, by)
        g = groups.setdefault((key, r.currency), {"limit": 0, "utilised": 0, "headroom": 0,
                                                   "lines": 0})  # fmt: skip
        g["lines"] += 1
        g["utilised"] += utilised
        if is_open:
            g["limit"] += t["limit"]
            if not t["frozen"]:
                g["headroom"] += risk.headroom(t["limit"], utilised)
    rows = []
    for (key, currency), g in sorted(groups.items()):
        row: dict[str, Any] = {} if by == "currency" else {by: key}
        row.update(currency=currency, limit=g["limit"], utilised=g["utilised"],
                   headroom=g["headroom"], lines=g["lines"],
                   utilisation_bps=risk.utilisation_bps(g["utilised"], g["limit"]))  # fmt: skip
        rows.append(row)
    return {"block": block, "timestamp": timestamp, "rows": rows}


# --- issuance caps and payables --------------------------------------------------------


def payables(
    conn: Connection, *, core: str | None = None, currency: str | None = None
) -> list[dict[str, Any]]:
    """Each core's payables per currency: what it owes, its cap (None: no cap), the
    headroom and utilisation under the cap (None without one), its cap manager."""
    p, m = schema.core_payables, schema.cap_managers
    query = (
        select(p, m.c.manager)
        .select_from(p.outerjoin(m, m.c.core == p.c.core))
        .order_by(p.c.core, p.c.currency)
    )
    if core is not None:
        query = query.where(p.c.core == core.lower())
    if currency is not None:
        query = query.where(p.c.currency == currency.upper())
    out = []
    for r in conn.execute(query).mappings():
        cap = r["cap"] if r["capped"] else None
        outstanding = r["outstanding"]
        out.append(
            {
                "core": r["core"],
                "currency": r["currency"],
                "cap": cap,
                "outstanding": outstanding,
                "headroom": None if cap is None else risk.headroom(cap, outstanding),
                "utilisation_bps": None if cap is None else risk.utilisation_bps(outstanding, cap),
                "manager": r["manager"],
            }
        )
    return out


def cap_manager(conn: Connection, core: str) -> str | None:
    """The bank that may set ``core``'s caps besides the operator, or None."""
    m = schema.cap_managers
    return conn.execute(select(m.c.manager).where(m.c.core == core.lower())).scalar()


# --- the overdue trigger -------------------------------------------------------------


def trigger_days(conn: Connection) -> int | None:
    """Days past due after which an unpaid root may be flagged (None: no RiskControl
    indexed yet)."""
    s = schema.risk_settings
    value = conn.execute(select(s.c.overdue_trigger_days).order_by(s.c.contract)).scalar()
    return None if value is None else int(value)


def open_flags(
    conn: Connection, *, debtor: str | None = None, open_only: bool = True
) -> list[dict[str, Any]]:
    """Overdue flags (open ones only unless ``open_only`` is False), oldest due first."""
    f = schema.overdue_flags
    query = select(f).order_by(f.c.due_date, f.c.root_id)
    if debtor is not None:
        query = query.where(f.c.debtor == debtor.lower())
    if open_only:
        query = query.where(f.c.cured_block.is_(None))
    return [
        {
            "root_id": r["root_id"], "debtor": r["debtor"], "due_date": r["due_date"],
            "flagged_by": r["flagged_by"], "flagged_block": r["flagged_block"],
            "cured_block": r["cured_block"], "open": r["cured_block"] is None,
        }
        for r in conn.execute(query).mappings()
    ]  # fmt: skip


def restricted_cores(conn: Connection) -> list[dict[str, Any]]:
    """Cores with an open flag (the contract refuses their registrations and new
    financings): how many roots, and the oldest due date among them."""
    cores: dict[str, dict[str, Any]] = {}
    for flag in open_flags(conn):
        c = cores.setdefault(flag["debtor"], {"core": flag["debtor"], "overdue_roots": 0,
                                              "oldest_due_date": flag["due_date"]})  # fmt: skip
        c["overdue_roots"] += 1
        c["oldest_due_date"] = min(c["oldest_due_date"], flag["due_date"])
    return [cores[k] for k in sorted(cores)]


# --- what a risk score is built of -----------------------------------------------------


def score_inputs(conn: Connection, chain_id: int, core: str, at: int) -> dict[str, Any]:
    """The ledger's facts about ``core`` as a debtor at timestamp ``at``: its roots
    (registered by then and never voided) with amount, supplier, due date and when each
    was paid into clearing, and the figures a score rule reads from them:

    - ``repaid_on_time`` / ``repaid_late``: roots paid into clearing by / after due date;
    - ``days_past_due``: per root past due at ``at`` (paid late, or still unpaid), whole
      days late; ``max_days_past_due`` and ``open_past_due`` (unpaid and past due now);
    - ``suppliers``: amount per (supplier, currency), and ``top_supplier_share_bps``, the
      largest share one supplier has of the core's roots in a currency;
    - ``volume``: roots registered per 90-day window back from ``at`` (newest first), by
      currency, with their count;
    - ``first_registered_at`` and ``age_days`` on the ledger.
    """
    core = core.lower()
    r = schema.receivables
    rows = conn.execute(
        select(r.c.id, r.c.creditor, r.c.amount, r.c.currency, r.c.issue_date, r.c.due_date,
               r.c.status)
        .where(r.c.parent_id == 0, r.c.debtor == core, r.c.issue_date <= at,
               r.c.status.not_in(_VOID_ROOT))
        .order_by(r.c.id)
    ).all()  # fmt: skip
    repaid_at = _repaid_at(conn, chain_id, [row.id for row in rows], at)
    roots = [
        {
            "root_id": row.id, "supplier": row.creditor, "amount": int(row.amount),
            "currency": row.currency, "issue_date": int(row.issue_date),
            "due_date": int(row.due_date), "status": row.status,
            "repaid_at": repaid_at.get(row.id),
        }
        for row in rows
    ]  # fmt: skip
    on_time = sum(
        1 for x in roots if x["repaid_at"] is not None and x["repaid_at"] <= x["due_date"]
    )
    late = sum(1 for x in roots if x["repaid_at"] is not None and x["repaid_at"] > x["due_date"])
    past_due = []
    for x in roots:
        until = x["repaid_at"] if x["repaid_at"] is not None else at
        if until > x["due_date"]:
            past_due.append({"root_id": x["root_id"], "days": (until - x["due_date"]) // risk.DAY,
                             "open": x["repaid_at"] is None})  # fmt: skip
    suppliers: dict[tuple[str, str], int] = {}
    per_currency: dict[str, int] = {}
    for x in roots:
        key = (x["supplier"], x["currency"])
        suppliers[key] = suppliers.get(key, 0) + x["amount"]
        per_currency[x["currency"]] = per_currency.get(x["currency"], 0) + x["amount"]
    top_share = max(
        (amount * risk.FULL_BPS // per_currency[cur] for (_, cur), amount in suppliers.items()),
        default=None,
    )
    window = VOLUME_WINDOW_DAYS * risk.DAY
    volume = []
    for i in range(VOLUME_WINDOWS):
        start, end = at - (i + 1) * window, at - i * window
        inside = [x for x in roots if start < x["issue_date"] <= end]
        amounts: dict[str, int] = {}
        for x in inside:
            amounts[x["currency"]] = amounts.get(x["currency"], 0) + x["amount"]
        volume.append({"from": start, "to": end, "count": len(inside), "amounts": amounts})
    first = min((x["issue_date"] for x in roots), default=None)
    return {
        "core": core,
        "at": at,
        "roots": roots,
        "repaid_on_time": on_time,
        "repaid_late": late,
        "days_past_due": past_due,
        "max_days_past_due": max((p["days"] for p in past_due), default=0),
        "open_past_due": sum(1 for p in past_due if p["open"]),
        "suppliers": [
            {"supplier": s, "currency": c, "amount": a} for (s, c), a in sorted(suppliers.items())
        ],
        "top_supplier_share_bps": top_share,
        "volume": volume,
        "first_registered_at": first,
        "age_days": None if first is None else (at - first) // risk.DAY,
    }


def _repaid_at(conn: Connection, chain_id: int, root_ids: list[int], at: int) -> dict[int, int]:
    # When each root was paid into clearing: its RootRepaid event's block time
    # (clearing_roots keeps the amounts, not the time), by then.
    e = schema.events
    found: dict[int, int] = {}
    for i in range(0, len(root_ids), 500):
        chunk = root_ids[i : i + 500]
        query = select(e.c.root_id, e.c.block_timestamp).where(
            e.c.chain_id == chain_id,
            e.c.event_name == "RootRepaid",
            e.c.root_id.in_(chunk),
            e.c.block_timestamp <= at,
        )
        for root_id, stamp in conn.execute(query):
            found[int(root_id)] = int(stamp)
    return found


def _norm(column: str, value: str) -> str:
    return value.upper() if column in ("currency", "status") else value.lower()
