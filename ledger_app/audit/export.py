"""Streamed exports of events and traces, as CSV or NDJSON.

Each export is a generator of text chunks over a server-side cursor (``yield_per``),
holding one connection for its lifetime: memory stays flat however long the period.
The HTTP routes hand the generators to StreamingResponse.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Engine, select

from ledger_app.audit.encode import EventEncoder
from ledger_app.audit.queries import Period, event_json, iter_period_events
from ledger_app.audit.trace import build_trace
from ledger_app.db import schema

EVENT_COLUMNS = (
    "block_number", "block_timestamp", "block_hash", "tx_hash", "log_index",
    "contract", "contract_kind", "event", "args",
)  # fmt: skip
STEP_COLUMNS = (
    "root_id", "seq", "receivable_id", "kind", "event", "actors", "amounts", "block_number",
    "block_timestamp", "block_hash", "tx_hash", "log_index", "contract",
)  # fmt: skip
_CHUNK_ROWS = 500


def export_events(engine: Engine, chain_id: int, period: Period, fmt: str) -> Iterator[str]:
    """Every event of ``period`` as CSV (args as JSON text) or NDJSON."""
    with engine.connect() as conn:
        rows = (event_json(e) for e in iter_period_events(conn, chain_id, period))
        yield from _render(rows, EVENT_COLUMNS, fmt)


def export_traces(
    engine: Engine,
    chain_id: int,
    period: Period,
    fmt: str,
    encoder: EventEncoder | None = None,
    contracts: Mapping[str, str] | None = None,
    from_block: int | None = None,
) -> Iterator[str]:
    """The trace of every root registered in ``period``: NDJSON one trace per line (with
    ``contracts`` and ``from_block`` for the completeness check: build_trace), or CSV
    one step per row. One trace is in memory at a time."""
    e = schema.events
    query = (
        select(e.c.args)
        .where(e.c.chain_id == chain_id, e.c.event_name == "ReceivableRegistered", *period.where())
        .order_by(e.c.block_number, e.c.log_index)
    )
    with engine.connect() as roots_conn, engine.connect() as conn:
        roots = (
            json.loads(a)["id"]
            for (a,) in roots_conn.execution_options(yield_per=500).execute(query)
        )
        if fmt == "ndjson":
            for root in roots:
                trace = build_trace(conn, chain_id, root, encoder, contracts, from_block)
                yield json.dumps(trace, sort_keys=True) + "\n"
            return
        steps = (
            {"root_id": trace["root_id"], **step}
            for root in roots
            for trace in [build_trace(conn, chain_id, root)]
            for step in trace["steps"]
        )
        yield from _render(steps, STEP_COLUMNS, "csv")


def _render(rows: Iterator[dict[str, Any]], columns: tuple[str, ...], fmt: str) -> Iterator[str]:
    if fmt == "ndjson":
        batch: list[str] = []
        for row in rows:
            batch.append(json.dumps({c: row[c] for c in columns}, sort_keys=True))
            if len(batch) == _CHUNK_ROWS:
                yield "\n".join(batch) + "\n"
                batch = []
        if batch:
            yield "\n".join(batch) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for n, row in enumerate(rows, start=1):
        writer.writerow([_cell(row[c]) for c in columns])
        if n % _CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)
