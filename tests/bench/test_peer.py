"""The peer row's correctness check (bench/peer_bench.py): both sides' rows reduce to the
same digest exactly when they hold the same values, whatever types their drivers return."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench import peer_bench, run
from bench.peer_bench import EVENT_COLUMNS, RECEIVABLE_COLUMNS, PeerMismatch, compare, digest


def ours_receivable(**over):
    """A receivables row as psycopg returns ours: BIGINT as int, the uint256 columns
    (NUMERIC(78,0)) as Decimal, frozen as bool."""
    row = {
        "id": 7, "parent_id": 3, "root_id": 3, "debtor": "0x" + "a" * 40,
        "creditor": "0x" + "b" * 40, "holder": "0x" + "c" * 40, "amount": Decimal(1000),
        "currency": "CNY", "issue_date": 1_700_000_000, "due_date": 1_707_776_000,
        "invoice_key": "0x" + "1" * 64, "document_hash": "0x" + "2" * 64,
        "late_interest_bps": 0, "status": "ACTIVE", "frozen": False, "first_child_id": 0,
        "child_count": 0, "outstanding": None, "created_block": 12, "updated_block": 14,
    }  # fmt: skip
    return row | over


def peer_receivable(**over):
    """The same row as psycopg returns Ponder's: its t.bigint() columns are NUMERIC(78),
    so every one arrives as Decimal; its t.integer() as int."""
    ints = ("id", "parent_id", "root_id", "amount", "issue_date", "due_date",
            "first_child_id", "created_block", "updated_block")  # fmt: skip
    row = {k: Decimal(v) if k in ints and v is not None else v
           for k, v in ours_receivable().items()}  # fmt: skip
    return row | over


def test_digest_equal_for_the_same_rows_in_both_drivers_shapes():
    ours = [ours_receivable(), ours_receivable(id=8, outstanding=Decimal(500))]
    peer = [peer_receivable(id=Decimal(8), outstanding=Decimal(500)), peer_receivable()]
    assert digest(ours, RECEIVABLE_COLUMNS) == digest(peer, RECEIVABLE_COLUMNS)


@pytest.mark.parametrize(("column", "value"), [
    ("holder", "0x" + "d" * 40), ("amount", Decimal(1001)), ("status", "SPLIT"),
    ("frozen", True), ("outstanding", Decimal(0)), ("updated_block", Decimal(15)),
])  # fmt: skip
def test_digest_differs_when_one_value_differs(column, value):
    ours = digest([ours_receivable()], RECEIVABLE_COLUMNS)
    assert digest([peer_receivable(**{column: value})], RECEIVABLE_COLUMNS) != ours


def test_digest_tells_null_from_zero_and_a_missing_row():
    base = digest([ours_receivable(outstanding=None)], RECEIVABLE_COLUMNS)
    assert digest([ours_receivable(outstanding=0)], RECEIVABLE_COLUMNS) != base
    two = [ours_receivable(), ours_receivable(id=8)]
    assert digest(two, RECEIVABLE_COLUMNS) != digest(two[:1], RECEIVABLE_COLUMNS)


def test_canonical_refuses_a_fraction_in_an_integer_column():
    with pytest.raises(ValueError, match="not an integer"):
        digest([ours_receivable(amount=Decimal("10.5"))], RECEIVABLE_COLUMNS)


def side(per_event, receivables_digest="r", events_digest="e"):
    return {"per_event": per_event, "events": sum(per_event.values()),
            "events_digest": events_digest, "receivables": 2,
            "receivables_digest": receivables_digest}  # fmt: skip


def test_compare_passes_equal_sides_and_names_each_difference():
    compare(side({"Transfer": 3}), side({"Transfer": 3}))
    with pytest.raises(PeerMismatch, match="Transfer ours 3 peer 2"):
        compare(side({"Transfer": 3}), side({"Transfer": 2}))
    with pytest.raises(PeerMismatch, match="receivables_digest"):
        compare(side({"Transfer": 3}), side({"Transfer": 3}, receivables_digest="x"))
    with pytest.raises(PeerMismatch, match="events_digest"):
        compare(side({"Transfer": 3}), side({"Transfer": 3}, events_digest="x"))


def test_event_identity_columns_are_the_brief_s():
    # chain, tx hash, log index, block, contract, event name (issue 24).
    assert [n for n, _ in EVENT_COLUMNS] == [
        "chain_id", "tx_hash", "log_index", "block_number", "contract", "event_name"]  # fmt: skip


def test_full_mode_runs_the_peer_and_the_others_skip_it():
    assert run.MODES["full"]["peer"] >= 3
    assert run.MODES["quick"]["peer"] == 0
    assert run.MODES["smoke"]["peer"] == 0


def test_the_peer_is_pinned_outside_the_service_dependencies():
    import json

    root = json.loads((run.PROJECT_ROOT / "package.json").read_text())
    assert "ponder" not in root.get("dependencies", {})
    assert peer_bench.PONDER_VERSION == "0.16.10"
    assert peer_bench.NODE_VERSION.startswith("22.")
    lock = json.loads((peer_bench.PEER / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/ponder"]["version"] == "0.16.10"


def test_peer_rows_are_ours_over_ponder_with_the_per_round_spread(monkeypatch, tmp_path):
    def side(rates, rss, cpu):
        return [{"rate": r, "peak_rss_mb": m, "cpu_s": c / 2, "work_cpu_s": c, "events": 100,
                 "rate_from_spawn": r / 2} for r, m, c in zip(rates, rss, cpu, strict=True)]  # fmt: skip

    measured = {
        "ours": side([9000, 8000, 10000], [120, 125, 130], [10, 11, 12]),
        "peer": side([3000, 3200, 2500], [800, 750, 900], [40, 44, 42]),
        "peer_default": side([1500, 1600, 1400], [810, 760, 905], [41, 45, 43]),
        "check": {"events": 100, "receivables": 7, "receivables_digest": "ab" * 32},
    }
    monkeypatch.setattr(peer_bench, "measure", lambda *args, **kwargs: measured)
    results, notes = [], []

    run.bench_peer(None, None, 3, tmp_path, results, notes, print)
    rows = {r["name"]: r for r in results}
    assert rows["indexer_peer_postgres"]["figure"] == 3000
    vs = rows["indexer_vs_peer_postgres"]
    assert (vs["figure"], vs["limit"], vs["ratio"]) == (9000, 3000, 3.0)
    assert vs["spread"] == [2.5, 4.0]  # 8000/3200 and 10000/2500: each round's own ratio
    assert rows["indexer_vs_peer_default_postgres"]["ratio"] == 6.0
    assert rows["indexer_vs_peer_rss"]["ratio"] == pytest.approx(125 / 800, abs=1e-3)
    assert rows["indexer_vs_peer_cpu"]["spread"] == [0.25, 0.286]
    assert "7 receivables with the same digest" in notes[0]
