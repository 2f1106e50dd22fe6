"""Rule-run cost per 1,000 events (issue 23): the compliance rules (every rule on, its
default configuration) run by the indexer's rule runner over a synthetic index, one run
per 1,000 new events, as after a committed batch.

    python -m bench.monitoring_bench [EVENTS] [DB_URL]

The index is written straight into the tables (no node: what is measured is the runner
alone, reading its window and its look-back, running the rules and storing alerts): a
trade of ``EVENTS`` events over 60 days between 40 participants: registrations (some just
under the structuring threshold), confirmations, transfers (some back to an earlier
holder) and accepted financings. Prints one JSON line: events, runs, alerts, seconds and
ms_per_1000_events (the median run's).
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from ledger_app.db import migrate
from ledger_app.db import monitoring as store
from ledger_app.db.engine import make_engine
from ledger_app.db.schema import canonical_json, checkpoint, events, participants, receivables
from ledger_app.indexer.monitoring import RuleRunner

CHAIN = 31337
DAY = 86_400
T0 = 1_800_000_000
PER_RUN = 1_000


def _trade(count: int, seed: int = 23) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events rows, receivables rows) of a synthetic trade, in chain order."""
    rng = random.Random(seed)
    people = [f"0x{i:040x}" for i in range(1, 41)]
    rows: list[dict[str, Any]] = []
    owned: list[dict[str, Any]] = []
    block, ts, rid = 0, T0, 0

    def add(name: str, args: dict[str, Any], receivable: int | None) -> None:
        rows.append({
            "chain_id": CHAIN, "tx_hash": f"0x{len(rows):064x}", "log_index": 0,
            "block_number": block, "block_hash": f"0x{block:064x}", "block_timestamp": ts,
            "contract": "0x" + "ee" * 20, "contract_kind": "ReceivableRegistry",
            "event_name": name, "args": canonical_json(args),
            "receivable_id": receivable, "root_id": receivable,
        })  # fmt: skip

    holders: dict[int, str] = {}
    while len(rows) < count:
        block += 1
        ts += rng.randint(60, 60 * DAY * 2 // max(count, 1) + 60)
        kind = rng.random()
        if kind < 0.4 or not holders:
            rid += 1
            debtor, creditor = rng.sample(people, 2)
            amount = rng.choice([99_000_000, rng.randint(1_000, 10**9)])
            owned.append({"id": rid, "parent_id": 0, "root_id": rid, "debtor": debtor,
                          "creditor": creditor, "holder": creditor, "amount": amount,
                          "currency": "CNY", "issue_date": ts, "due_date": ts + 90 * DAY,
                          "invoice_key": f"0x{rid:064x}", "document_hash": "0x" + "00" * 32,
                          "status": "ACTIVE", "created_block": block, "updated_block": block})  # fmt: skip
            add("ReceivableRegistered", {"id": rid, "debtor": debtor, "creditor": creditor,
                                         "amount": amount, "currency": "CNY"}, rid)  # fmt: skip
            add("ReceivableStatusChanged", {"id": rid, "from": 1, "to": 2}, rid)
            holders[rid] = creditor
        elif kind < 0.8:
            moved = rng.choice(list(holders))
            to = rng.choice(people)
            add("ReceivableTransferred", {"id": moved, "from": holders[moved], "to": to}, moved)
            holders[moved] = to
        else:
            financed = rng.choice(list(holders))
            add("FinancingAccepted", {"financingId": len(rows), "receivableId": financed,
                                      "financier": people[0], "supplier": holders[financed],
                                      "proceeds": 1}, financed)  # fmt: skip
            holders.pop(financed)
    return rows[:count], owned


def measure(engine: Engine, count: int, per_run: int = PER_RUN) -> dict[str, Any]:
    """Index ``count`` events into ``engine`` ``per_run`` at a time, a rule run after each."""
    migrate.upgrade(engine)
    rows, owned = _trade(count)
    with engine.begin() as conn:
        conn.execute(insert(receivables), owned)
        people = {r["debtor"] for r in owned} | {r["creditor"] for r in owned}
        conn.execute(insert(participants), [
            {"account": p, "lei": None, "onboarded": True, "roles": "SUPPLIER",
             "updated_block": 0} for p in sorted(people)])  # fmt: skip
        conn.execute(insert(checkpoint).values(chain_id=CHAIN, block_number=0, block_hash="0x0",
                                               undo_floor=0, events_total=0))  # fmt: skip
    runner = RuleRunner(engine, CHAIN)
    runner.run()
    runs: list[float] = []
    for at in range(0, len(rows), per_run):
        batch = rows[at : at + per_run]
        with engine.begin() as conn:
            conn.execute(insert(events), batch)
            conn.execute(update(checkpoint).values(block_number=batch[-1]["block_number"]))
        started = time.perf_counter()
        runner.run()
        runs.append(time.perf_counter() - started)
    with engine.connect() as conn:
        alerts = conn.execute(select(func.count()).select_from(store.monitoring_alerts)).scalar()
    return {
        "events": len(rows), "runs": len(runs), "alerts": alerts, "seconds": sum(runs),
        "ms_per_1000_events": statistics.median(runs) * 1000 * 1000 / per_run,
        "ms_per_1000_events_mean": sum(runs) * 1000 * 1000 / len(rows),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    count = int(args[0]) if args else 20_000
    with tempfile.TemporaryDirectory(prefix="monitoring-bench-") as tmp:
        url = args[1] if len(args) > 1 else f"sqlite:///{Path(tmp) / 'index.db'}"
        engine = make_engine(url)
        try:
            print(json.dumps(measure(engine, count)))
        finally:
            engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
