"""The noise reporting of `make bench` (bench/noise.py): spreads over rounds and the
machine's load, arithmetic only (no timing is asserted)."""

from __future__ import annotations

import os

import pytest

from bench import noise, run


def test_spread_is_the_lowest_and_highest_per_round_ratio():
    # Each round's figure over the same round's limit, not over the median limit.
    assert noise.round_ratios([10, 30, 20], [20, 30, 10]) == [0.5, 1.0, 2.0]
    assert noise.spread([10, 30, 20], [20, 30, 10]) == [0.5, 2.0]


def test_spread_of_one_round_is_a_point_and_of_none_is_none():
    assert noise.spread([9.0], [3.0]) == [3.0, 3.0]
    assert noise.spread([], []) is None


def test_spread_refuses_unpaired_rounds():
    with pytest.raises(ValueError, match="2 figures for 1 limits"):
        noise.spread([1, 2], [1])


def test_machine_busy_counts_all_but_idle_and_iowait():
    ticks = os.sysconf("SC_CLK_TCK")
    busy, total = noise.machine_busy_seconds(
        "cpu  100 10 50 800 40 0 0 0 0 0\ncpu0 1 1 1 1 1 1 1 1 1 1\n"
    )
    assert (busy, total) == (160 / ticks, 1000 / ticks)


def test_load_summary_shares_are_fractions_and_add_up():
    load = noise.Load()
    sum(i * i for i in range(200_000))  # some CPU of our own
    summary = load.summary()
    for key in ("cpu_busy_share", "cpu_ours_share", "cpu_others_share"):
        assert 0 <= summary[key] <= 1.0 + 1e-9, summary
    assert summary["cpu_ours_share"] + summary["cpu_others_share"] == pytest.approx(
        summary["cpu_busy_share"], abs=0.002
    )
    assert summary["loadavg_samples"] >= 2


def test_the_table_header_states_the_load_and_every_row_its_spread():
    load = {"cores": 2, "seconds": 100.0, "loadavg_start": 1.5, "loadavg_end": 6.25,
            "loadavg_min": 1.5, "loadavg_max": 7.0, "loadavg_samples": 9,
            "cpu_busy_share": 0.95, "cpu_ours_share": 0.4, "cpu_others_share": 0.55}  # fmt: skip
    rows = [run.entry("indexer_vs_peer_postgres", 9000.0, "events/s", 3000.0, ">= 3",
                      spread=noise.spread([8000, 9000, 10000], [3200, 3000, 2900])),
            run.entry("gas_split_2", 100_000, "gas", 120_000, "<= 1.5")]  # fmt: skip
    document = {"machine": {"mode": "full", "cores": 2, "python": "3.11", "anvil": "anvil",
                            "date": "today", "notes": [], "versions": {}, "load": load},
                "benchmarks": rows}  # fmt: skip
    run.validate(document)
    table = run.markdown(document)
    assert "load average 1.5 at the start, 6.2 at the end" in table
    assert "other processes 55%" in table
    assert (
        "| indexer_vs_peer_postgres | 9,000 | events/s | 3,000 | 3.00 | 2.50-3.45 | >= 3 |" in table
    )
    assert "| gas_split_2 | 100,000 | gas | 120,000 | 0.83 |  | <= 1.5 |" in table


def test_a_server_outside_our_tree_counts_as_ours_once_named(tmp_path):
    class Cluster:  # a stopped PostgresCluster: no postmaster.pid
        data = tmp_path

    assert noise.postmaster_pid(Cluster()) is None
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n{tmp_path}\n")
    assert noise.postmaster_pid(Cluster()) == os.getpid()
    load = noise.Load()
    noise.count_cluster(Cluster())  # ourselves, standing in for the server
    assert load.foreign > 0
