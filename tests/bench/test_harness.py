"""The benchmark harness's smallest configuration still runs and writes the agreed shape
(timings are never asserted: the benchmarks only report)."""

from __future__ import annotations

import json

import pytest

from bench import run


@pytest.mark.slow
def test_smoke_run_writes_the_agreed_shape(tmp_path):
    assert run.main(["--mode", "smoke", "--out", str(tmp_path), "--only", "api", "indexer"]) == 0
    document = json.loads((tmp_path / "latest.json").read_text())
    run.validate(document)
    names = {b["name"] for b in document["benchmarks"]}
    assert {"indexer_backfill_sqlite", "indexer_peak_rss", "api_write_single",
            "api_write_batch", "write_to_read_p95", "trace_p95", "list_p95"} <= names  # fmt: skip
    table = (tmp_path / "latest.md").read_text()
    assert table.startswith("# Benchmarks (smoke mode)")
    # Issue 24: the machine's load is stated, and rows measured in rounds carry a spread.
    assert "Machine load during the run" in table
    assert "| spread |" in table
    spreads = {b["name"]: b["spread"] for b in document["benchmarks"]}
    assert spreads["indexer_backfill_sqlite"] is not None
    assert spreads["trace_p95"] is None


def test_full_mode_indexes_100k_and_1m_event_histories():
    # Issue 9: 100k events, and a 1M-event run in full mode (rows suffixed with its size).
    histories = dict(run.MODES["full"]["histories"])
    assert {100_000, 1_000_000} <= set(histories)
    assert "indexer_backfill_sqlite_" + run._size(1_000_000) == "indexer_backfill_sqlite_1m"
