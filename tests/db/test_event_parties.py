"""The index of who each event names a party (event_parties): migration 0011 fills it from
the events already indexed, and the API's visibility filter reads it through its index
instead of scanning events."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import inspect, select, text

from ledger_app.api.identity import Caller
from ledger_app.api.services.receivables import visible_to
from ledger_app.db import migrate, schema
from ledger_app.db.engine import make_engine

SUPPLIER = "0x" + "a1" * 20
SUPPLIER2 = "0x" + "b2" * 20
FINANCIER = "0x" + "c3" * 20
MIXED_CASE = "0x" + "C3" * 20


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


def _event(n: int, name: str, args: dict, receivable_id: int | None) -> dict:
    return {
        "chain_id": 31337, "tx_hash": f"0x{n:064x}", "log_index": n % 3,
        "block_number": 10 + n, "block_hash": f"0x{10 + n:064x}", "block_timestamp": 1_700_000_000,
        "contract": "0x" + "ee" * 20, "contract_kind": "ReceivableRegistry", "event_name": name,
        "args": json.dumps(args, sort_keys=True, separators=(",", ":")),
        "receivable_id": receivable_id, "root_id": receivable_id,
    }  # fmt: skip


def test_migration_fills_event_parties_from_the_events_already_indexed(tmp_path: Path) -> None:
    engine = make_engine(_url(tmp_path))
    migrate.upgrade(engine, "0010")
    events = [
        _event(1, "ReceivableTransferred", {"from": SUPPLIER, "id": 7, "to": SUPPLIER2}, 7),
        # mixed case as a party field may hold it; the party is kept in the index's form
        _event(2, "FinancingOffered", {"financier": MIXED_CASE, "id": 3, "rate": 5}, 7),
        # one party named twice is one row
        _event(3, "FinancingAccepted", {"financier": FINANCIER, "supplier": FINANCIER}, 8),
        _event(4, "ReceivableFrozen", {"id": 7, "by": SUPPLIER}, 7),  # names no party
        _event(5, "ReceivableTransferred", {"from": SUPPLIER, "id": 9, "to": SUPPLIER2}, None),
    ]
    with engine.begin() as conn:
        conn.execute(schema.events.insert(), events)

    migrate.upgrade(engine)
    p = schema.event_parties
    with engine.connect() as conn:
        rows = sorted(
            conn.execute(
                select(p.c.tx_hash, p.c.log_index, p.c.block_number, p.c.receivable_id, p.c.party)
            ).all()
        )
    with engine.begin() as conn:
        config = migrate.alembic_config(_url(tmp_path))
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")

    assert rows == [
        (f"0x{1:064x}", 1, 11, 7, SUPPLIER),
        (f"0x{1:064x}", 1, 11, 7, SUPPLIER2),
        (f"0x{2:064x}", 2, 12, 7, FINANCIER),
        (f"0x{3:064x}", 0, 13, 8, FINANCIER),
    ]
    assert "event_parties" not in inspect(engine).get_table_names()


def test_a_suppliers_receivable_list_reads_no_event(tmp_path: Path) -> None:
    engine = make_engine(_url(tmp_path))
    migrate.upgrade(engine)
    supplier = Caller(address=SUPPLIER, api_key_id="k", roles=frozenset(), standing="ACTIVE")
    r = schema.receivables
    # The list filter of GET /v1/receivables (ReceivableService.list), a first page.
    query = select(r).where(visible_to(supplier)).order_by(r.c.id).limit(51)
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))

    with engine.connect() as conn:
        plan = [row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]

    assert not [
        step for step in plan if step.split()[:2] in (["SCAN", "events"], ["SEARCH", "events"])
    ], plan
    assert any("event_parties" in s and "ix_event_parties_party" in s for s in plan), plan
