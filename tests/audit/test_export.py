"""Exports stream (memory flat from 10k to 100k events) and round-trip (CSV -> same rows)."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from ledger_app.audit.export import EVENT_COLUMNS, export_events
from ledger_app.audit.queries import Period
from ledger_app.db import migrate, schema
from ledger_app.db.engine import make_engine


@pytest.fixture
def synthetic(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite index with no events yet (``fill`` adds them)."""
    engine = make_engine(f"sqlite:///{tmp_path}/synthetic.db")
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def fill(engine: Engine, start: int, count: int) -> None:
    """``count`` synthetic events, 10 per block, inserted straight in SQL."""
    rows = [
        {
            "chain_id": 31337, "tx_hash": f"0x{n:064x}", "log_index": n % 10, "block_number": n // 10,
            "block_hash": f"0x{n // 10:064x}", "block_timestamp": 1_700_000_000 + n // 10,
            "contract": "0x" + "ab" * 20, "contract_kind": "SettlementToken", "event_name": "Transfer",
            "args": json.dumps({"from": "0x" + "01" * 20, "to": "0x" + "02" * 20, "value": n * 10**20},
                               sort_keys=True, separators=(",", ":")),
        }
        for n in range(start, start + count)
    ]  # fmt: skip
    with engine.begin() as conn:
        for i in range(0, len(rows), 5_000):
            conn.execute(insert(schema.events), rows[i : i + 5_000])


def peak_while_exporting(engine: Engine, fmt: str) -> tuple[int, int]:
    """(tracemalloc peak bytes, bytes written) of one export, written nowhere."""
    tracemalloc.start()
    try:
        written = sum(len(chunk) for chunk in export_events(engine, 31337, Period(), fmt))
        return tracemalloc.get_traced_memory()[1], written
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_export_memory_stays_flat_from_10k_to_100k_events(synthetic, fmt):
    fill(synthetic, 0, 10_000)
    small_peak, small_size = peak_while_exporting(synthetic, fmt)
    fill(synthetic, 10_000, 90_000)
    large_peak, large_size = peak_while_exporting(synthetic, fmt)

    assert large_size > 9 * small_size  # ten times the data went out...
    assert large_peak < 1.5 * small_peak  # ...through the same memory
    assert large_peak < large_size / 20


def test_csv_export_round_trips_to_the_same_rows(synthetic):
    fill(synthetic, 0, 2_500)
    e = schema.events

    text = "".join(export_events(synthetic, 31337, Period(), "csv"))
    parsed = list(csv.DictReader(io.StringIO(text)))

    with synthetic.connect() as conn:
        stored = conn.execute(
            select(e.c.block_number, e.c.block_timestamp, e.c.block_hash, e.c.tx_hash, e.c.log_index,
                   e.c.contract, e.c.contract_kind, e.c.event_name, e.c.args)
            .order_by(e.c.block_number, e.c.log_index)
        ).all()  # fmt: skip
    assert list(parsed[0]) == list(EVENT_COLUMNS)
    assert [
        (int(r["block_number"]), int(r["block_timestamp"]), r["block_hash"], r["tx_hash"], int(r["log_index"]),
         r["contract"], r["contract_kind"], r["event"], json.loads(r["args"]))
        for r in parsed
    ] == [(*row[:8], json.loads(row[8])) for row in stored]  # fmt: skip


def test_ndjson_export_of_a_period_holds_exactly_its_events(synthetic):
    fill(synthetic, 0, 1_000)  # blocks 0..99, timestamps 1_700_000_000 + block

    lines = "".join(
        export_events(synthetic, 31337, Period(1_700_000_010, 1_700_000_020), "ndjson")
    ).splitlines()

    assert len(lines) == 100
    assert {json.loads(line)["block_number"] for line in lines} == set(range(10, 20))
