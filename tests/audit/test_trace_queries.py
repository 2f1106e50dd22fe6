"""How SQLite plans the statements build_trace runs: each reads the tree's rows through an
index on what picks them out (the tree's root, its transactions, a receivable's id, a
credit line's contract), never a scan of ``events`` or of every event of a name, whose
cost grows with the whole index (issue 24: read by tx_hash IN (...) AND event_name, the
trace's token transfers were found through ix_events_event_name, every Transfer of the
chain read to keep a dozen). Without statistics, SQLite plans from the schema alone."""

from __future__ import annotations

import re

from scenario import multi_tier
from sqlalchemy import event

from ledger_app.audit.trace import build_trace

#: What a search of the tree's rows may be constrained by (SQLite's "(root_id=?)" etc.).
SELECTIVE = ("root_id=", "tx_hash=", "id=", "contract=")


def test_trace_statements_read_the_tree_through_selective_indexes(ledger, indexer, engine):
    ids = multi_tier(ledger)
    indexer.run(follow=False)
    statements: list[tuple[str, tuple]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _many) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with engine.connect() as conn:
            trace = build_trace(conn, 31337, ids["root"])
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    kinds = {step["kind"] for step in trace["steps"]}
    # The tree has token transfers and a credit line's drawing: every statement ran.
    assert {"token_transfer", "credit_line_drawing"} <= kinds, kinds

    with engine.connect() as conn:
        for statement, parameters in statements:
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]  # fmt: skip
            for step in plan:
                words = step.split()
                if words[0] not in ("SCAN", "SEARCH") or words[1] not in ("events", "receivables"):
                    continue
                constraint = re.search(r"\((.*)\)$", step)
                assert words[0] == "SEARCH", (statement, plan)
                assert constraint is not None, (statement, plan)
                assert any(c in constraint.group(1) for c in SELECTIVE), (statement, plan)
