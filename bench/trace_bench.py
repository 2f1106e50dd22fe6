"""A receivable's trace read from an existing index: ms per build_trace + JSON as
indexer_bench.trace_latencies times it (wall and this thread's CPU, which other work on
the machine disturbs less), and the plan of every statement it runs (SQLite's EXPLAIN
QUERY PLAN, PostgreSQL's EXPLAIN ANALYZE): which indexes of ``events`` the trace needs.

    python -m bench.trace_bench DB_URL RECEIVABLE_ID [--samples N] [--plans]

The index is any backfilled one (bench.backfill_driver on a cached history with the tree
of bench.chain.add_tree on top); nothing is written to it. Nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from sqlalchemy import Engine, event

from bench.api_bench import percentile
from ledger_app import PROJECT_ROOT
from ledger_app.audit.encode import EventEncoder
from ledger_app.audit.trace import build_trace
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.decode import KINDS
from ledger_app.db.engine import make_engine

CHAIN_ID = 31337


def latencies(engine: Engine, root: int, samples: int) -> dict[str, Any]:
    """p50/p95 wall and CPU ms of ``samples`` traces of ``root`` (after 3 unmeasured)."""
    artifacts = Artifacts.load(PROJECT_ROOT / ".build" / "__local__.json")
    encoder = EventEncoder({kind: artifacts[kind].abi for kind in KINDS})
    wall, cpu, steps = [], [], 0
    for n in range(samples + 3):
        started, busy = time.perf_counter(), time.thread_time()
        with engine.connect() as conn:
            trace = build_trace(conn, CHAIN_ID, root, encoder)
        json.dumps(trace)
        if n >= 3:
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - busy) * 1000)
        steps = len(trace["steps"])
    return {"samples": samples, "steps": steps, "receivables": len(trace["receivables"]),
            "wall_p50": percentile(wall, 50), "wall_p95": percentile(wall, 95),
            "cpu_p50": percentile(cpu, 50), "cpu_p95": percentile(cpu, 95)}  # fmt: skip


def plans(engine: Engine, root: int) -> list[tuple[str, list[str]]]:
    """Each statement one trace of ``root`` runs, with its plan's lines."""
    statements: list[tuple[str, Any]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _many) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with engine.connect() as conn:
            build_trace(conn, CHAIN_ID, root)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    found = []
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
        for statement, parameters in statements:
            rows = conn.exec_driver_sql(explain + statement, parameters).all()
            found.append((statement, [row[3] if sqlite else row[0] for row in rows]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db_url")
    parser.add_argument("receivable_id", type=int)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--plans", action="store_true", help="print each statement's plan")
    args = parser.parse_args()
    engine = make_engine(args.db_url)
    try:
        if args.plans:
            for statement, plan in plans(engine, args.receivable_id):
                print("--", " ".join(statement.split())[:300])
                print("\n".join(f"   {line}" for line in plan))
        result = latencies(engine, args.receivable_id, args.samples)
        print(
            json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()})
        )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
