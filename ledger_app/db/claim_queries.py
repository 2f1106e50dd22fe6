"""Read-only queries of deferred payments (issue 20): what waits for a payee, what made it
up, and which offers' refunds a financing had deferred.

SQLAlchemy Core over the tables the indexer writes (``deferred_payments``,
``deferred_payment_history``, ``events``, ``settlement_tokens``; ledger_app/db/schema.py).
Which paying step a deferral belongs to is domain/claims.py's rule. Addresses are the
index's form (lower case).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from ledger_app.db import schema
from ledger_app.domain.claims import CLAIMED, DEFERRED, PAYING_EVENTS, deferral_causes


def waiting(conn: Connection, payee: str, contracts: Iterable[str]) -> list[Any]:
    """Rows (contract, token, currency, claimable) with something waiting for ``payee`` in
    one of ``contracts`` (addresses), by contract then currency."""
    dp, st = schema.deferred_payments, schema.settlement_tokens
    query = (
        select(dp.c.contract, dp.c.token, st.c.currency, dp.c.claimable)
        .join(st, st.c.address == dp.c.token, isouter=True)
        .where(
            dp.c.payee == payee.lower(),
            dp.c.contract.in_([c.lower() for c in contracts]),
        )
        .order_by(dp.c.contract, st.c.currency)
    )
    return [row for row in conn.execute(query) if int(row.claimable) > 0]


def claimable(conn: Connection, contract: str, payee: str, token: str) -> int:
    """What of ``token`` waits for ``payee`` in ``contract``, as indexed (0: nothing)."""
    dp = schema.deferred_payments
    found = conn.execute(
        select(dp.c.claimable).where(
            dp.c.contract == contract.lower(),
            dp.c.payee == payee.lower(),
            dp.c.token == token.lower(),
        )
    ).scalar_one_or_none()
    return 0 if found is None else int(found)


def pending_deferrals(conn: Connection, contract: str, payee: str, token: str) -> list[dict]:
    """The deferrals that make up what waits now (those since the payee's last claim),
    oldest first, each with the paying event it deferred the payment of."""
    h = schema.deferred_payment_history
    rows = conn.execute(
        select(h)
        .where(h.c.contract == contract.lower(), h.c.payee == payee.lower(),
               h.c.token == token.lower())
        .order_by(h.c.block_number, h.c.log_index)
    ).all()  # fmt: skip
    pending: list[Any] = []
    for row in rows:
        pending = [] if row.event_name == CLAIMED else [*pending, row]
    causes = _causes(conn, [(r.tx_hash, r.log_index) for r in pending])
    return [
        {
            "block_number": r.block_number,
            "tx_hash": r.tx_hash,
            "log_index": r.log_index,
            "amount": int(r.amount),
            "cause": causes.get((r.tx_hash, r.log_index)),
        }
        for r in pending
    ]


def deferred_refunds(conn: Connection, receivable_id: int, desk: str) -> dict[tuple[int, int], int]:
    """(financing id, offer index) -> the refund the desk deferred, of the offers closed on
    financings of ``receivable_id`` whose financier could not be paid."""
    e = schema.events
    rows = conn.execute(
        select(e.c.tx_hash, e.c.contract, e.c.event_name, e.c.args)
        .where(e.c.receivable_id == receivable_id, e.c.contract == desk.lower(),
               e.c.event_name.in_(["FinancingOfferClosed", DEFERRED]))
        .order_by(e.c.block_number, e.c.log_index)
    ).all()  # fmt: skip
    causes = deferral_causes([(r.tx_hash, r.contract, r.event_name) for r in rows])
    refunds: dict[tuple[int, int], int] = {}
    for deferral, cause in causes.items():
        closed = json.loads(rows[cause].args)
        amount = json.loads(rows[deferral].args)["amount"]
        refunds[(int(closed["financingId"]), int(closed["offerIndex"]))] = int(amount)
    return refunds


def _causes(conn: Connection, deferrals: list[tuple[str, int]]) -> dict[tuple[str, int], dict]:
    """For each deferral (tx hash, log index): the paying event it deferred, as
    {"event", "contract", "receivable_id", "args"} (None-less: left out when unknown)."""
    if not deferrals:
        return {}
    e = schema.events
    wanted = sorted({tx for tx, _ in deferrals})
    rows = conn.execute(
        select(e.c.tx_hash, e.c.log_index, e.c.contract, e.c.event_name, e.c.args,
               e.c.receivable_id)
        .where(e.c.tx_hash.in_(wanted),
               e.c.event_name.in_([*PAYING_EVENTS, DEFERRED]))
        .order_by(e.c.block_number, e.c.log_index)
    ).all()  # fmt: skip
    causes = deferral_causes([(r.tx_hash, r.contract, r.event_name) for r in rows])
    found: dict[tuple[str, int], dict] = {}
    for deferral, cause in causes.items():
        c = rows[cause]
        found[(rows[deferral].tx_hash, rows[deferral].log_index)] = {
            "event": c.event_name,
            "contract": c.contract,
            "receivable_id": c.receivable_id,
            "args": json.loads(c.args),
        }
    return found
