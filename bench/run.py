"""`make bench` / `make bench-quick`: speed, memory and gas against limits measured in
the same run, written to bench/results/latest.json and latest.md (issue 9).

    python -m bench.run [--mode full|quick|smoke] [--out DIR]

Every figure is a ratio against a limit taken side by side on the same machine, so a
noisy shared machine shifts both. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import (
    api_bench,
    durability_bench,
    fairness_bench,
    gas_bench,
    indexer_bench,
    monitoring_bench,
    noise,
    peer_bench,
    replicas_bench,
)
from bench.chain import ARTIFACTS, add_tree, generate
from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.db.engine import make_engine

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "indexer"))
from pgcluster import PostgresCluster, PostgresUnavailable

MODES = {  # indexed histories (events, rounds), API writes, tree shape (groups x fanout), query samples
    "full": {"histories": [(100_000, 3), (1_000_000, 1)], "single": 600, "batch_rows": 1000,
             "batch_repeats": 3, "w2r": 100, "tree": (10, 100), "queries": 100, "clearing": True,
             "repeats": 3, "burst": 100, "replicas": (50, 30, 3),
             "monitoring": 100_000, "peer": 3},
    "quick": {"histories": [(12_000, 3)], "single": 150, "batch_rows": 300, "batch_repeats": 3,
              "w2r": 40, "tree": (10, 100), "queries": 40, "clearing": True, "repeats": 3,
              "burst": 100, "replicas": (20, 15, 2), "monitoring": 20_000,
              "peer": 0},
    "smoke": {"histories": [(800, 1)], "single": 3, "batch_rows": 20, "batch_repeats": 1,
              "w2r": 5, "tree": (2, 2), "queries": 5, "clearing": False, "repeats": 1,
              "burst": 16, "replicas": (6, 5, 1), "monitoring": 3_000,
              "peer": 0},
}  # fmt: skip
# "peer": rounds of ours against Ponder on the first history (0: not run; bench/peer_bench.py).
#: spread: [min, max] of the per-round ratios of a row measured in rounds, else None.
KEYS = ("name", "figure", "unit", "limit", "ratio", "target", "spread")


def entry(name: str, figure: float, unit: str, limit: float | None, target: str,
          ratio: float | None = None, spread: list[float] | None = None) -> dict[str, Any]:  # fmt: skip
    """One benchmark row; ratio = figure / limit unless given; spread = [min, max] of the
    per-round ratios (noise.spread) for a row measured in rounds."""
    if ratio is None and limit:
        ratio = figure / limit
    rnd = lambda v: None if v is None else round(v, 3)  # noqa: E731
    return {"name": name, "figure": rnd(figure), "unit": unit, "limit": rnd(limit),
            "ratio": rnd(ratio), "target": target, "spread": spread}  # fmt: skip


def machine(mode: str, notes: list[str], load: dict[str, Any]) -> dict[str, Any]:
    anvil = subprocess.run([str(ARTIFACTS.parent.parent / "node_modules" / ".bin" / "anvil"),
                            "--version"], capture_output=True, text=True, check=False)  # fmt: skip
    versions = {}
    for package in ("web3", "eth-abi", "fastapi", "uvicorn", "sqlalchemy", "psycopg", "eth-ape"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cores": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(), "anvil": anvil.stdout.strip().splitlines()[0] if anvil.stdout else None,
        "solc": "0.8.28", "versions": versions, "mode": mode,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "notes": notes,
        "load": load,
    }  # fmt: skip


def bench_indexer(cfg: dict, work: Path, results: list, notes: list, log,
                  failures: list[str] | None = None) -> None:  # fmt: skip
    """Each history in turn: the first gives the named rows, a larger one (full mode) rows
    suffixed with its size; the last also gives peak RSS (at half the chain vs the whole)
    and the trace among all its events."""
    try:
        cluster = PostgresCluster.start()
    except PostgresUnavailable as exc:
        cluster = None
        notes.append(f"indexer_backfill_postgres not run: {str(exc).splitlines()[0]}")
        log(notes[-1])
    try:
        histories = cfg["histories"]
        for n, (events, rounds) in enumerate(histories):
            suffix = "" if n == 0 else "_" + _size(events)
            index_history(cfg, work / f"history-{events}", events, rounds, suffix,
                          n == len(histories) - 1, cluster, results, notes, log,
                          [] if failures is None else failures)  # fmt: skip
    finally:
        if cluster is not None:
            noise.count_cluster(cluster)
            cluster.stop()


def _size(events: int) -> str:
    """1000000 -> "1m", 100000 -> "100k": a history's size in a benchmark's name."""
    return f"{events // 1_000_000}m" if events >= 1_000_000 else f"{events // 1000}k"


def index_history(cfg: dict, work: Path, target: int, rounds: int, suffix: str, last: bool,
                  cluster: PostgresCluster | None, results: list, notes: list, log,
                  failures: list[str]) -> None:  # fmt: skip
    """Backfills of one generated history into SQLite and PostgreSQL against the limit."""
    chain = generate(work / "chain", target, Artifacts.load(ARTIFACTS), log=log)
    try:
        saved = durability_bench.state_save(chain.node)
        log(f"state save at {target:,} events: {saved['seconds']:.2f} s, {saved['mb']:.0f} MB")
        results.append(entry(f"state_save{suffix}", saved["seconds"], "s", None,
                             "report only (anvil_dumpState + fsync + rename)"))  # fmt: skip
        notes.append(f"state_save{suffix}: the node's state at {target:,} events is "
                     f"{saved['mb']:.0f} MB; a save takes {saved['seconds']:.2f} s (median of 3)")  # fmt: skip
        groups, fanout = cfg["tree"]
        root = add_tree(chain, groups, fanout) if last else None  # the trace's tree, on top
        half = (
            indexer_bench.backfill(chain, f"sqlite:///{work}/half.db", chain.mid_block)
            if last
            else None
        )
        if half is not None:
            (work / "half.db").unlink(missing_ok=True)
        # The limit replays each backfill's own eth_getLogs calls; limit and backfills
        # alternate round by round, so a burst of load from other work on the machine
        # falls on both. Figures and limit are medians.
        limits, sqlite_rates, pg_rates, sqlite, events = [], [], [], {}, 0
        for i in range(rounds):
            sqlite = indexer_bench.backfill(chain, f"sqlite:///{work}/full{i}.db", chain.head)
            sqlite_rates.append(sqlite["events"] / sqlite["seconds"])
            limit, events = indexer_bench.raw_limit(chain, sqlite["calls"])
            limits.append(limit)
            if cluster is not None:
                pg = indexer_bench.backfill(chain, cluster.create_database(), chain.head)
                pg_rates.append(pg["events"] / pg["seconds"])
            if i > 0:
                (work / f"full{i}.db").unlink(missing_ok=True)
            log(f"indexer {events:,} events, round {i + 1}: limit {limit:,.0f}/s, sqlite "
                f"{sqlite_rates[-1]:,.0f}/s" + (f", postgres {pg_rates[-1]:,.0f}/s" if pg_rates else ""))  # fmt: skip
        limit = statistics.median(limits)
        results.append(entry(f"indexer_backfill_sqlite{suffix}", statistics.median(sqlite_rates),
                             "events/s", limit, ">= 0.6",
                             spread=noise.spread(sqlite_rates, limits)))  # fmt: skip
        if pg_rates:
            results.append(entry(f"indexer_backfill_postgres{suffix}", statistics.median(pg_rates),
                                 "events/s", limit, ">= 0.6",
                                 spread=noise.spread(pg_rates, limits)))  # fmt: skip
        notes.append(f"indexer, {events:,} events ({chain.head:,} blocks, {chain.transactions:,} "
                     f"transactions): {rounds} round(s), each a backfill into a fresh SQLite "
                     f"database, the limit (its {len(sqlite['calls']):,} eth_getLogs calls "
                     f"replayed + decoded), a backfill into a fresh PostgreSQL database; limit "
                     f"{[round(x) for x in limits]}, sqlite {[round(x) for x in sqlite_rates]}, "
                     f"postgres {[round(x) for x in pg_rates]} events/s")  # fmt: skip
        if half is not None and root is not None:
            trace_rows(cfg, work, chain, root, sqlite, half, results, notes, log)
        # Last: the peer mines empty blocks on top, and the node keeps no old states
        # (--prune-history), which the completeness check above reads at the tree's block.
        if cfg["peer"] and not suffix and cluster is not None:
            try:
                bench_peer(chain, cluster, cfg["peer"], work / "peer", results, notes, log)
            except (peer_bench.PeerMismatch, peer_bench.PeerFailed) as exc:
                failures.append(f"indexer_vs_peer_postgres FAILED: {exc}")
                notes.append(failures[-1])
                log(failures[-1])
    finally:
        chain.node.stop()
        shutil.rmtree(work, ignore_errors=True)


def trace_rows(cfg: dict, work: Path, chain, root: int, sqlite: dict, half: dict,
               results: list, notes: list, log) -> None:  # fmt: skip
    """The last history's peak RSS (whole vs half the chain), trace and completeness rows."""
    groups, fanout = cfg["tree"]
    # Flat: the indexer's own process, whole chain vs half. Its read-ahead helper runs only
    # while far behind the head, which half a small chain may never be: its memory is a
    # row of its own (the two together: what a backfill of the whole chain takes).
    results.append(entry("indexer_peak_rss", sqlite["own_rss_mb"], "MB", half["own_rss_mb"],
                         "<= 1.1 (flat: limit = peak RSS at half the chain)"))  # fmt: skip
    results.append(entry("indexer_peak_rss_with_helper", sqlite["peak_rss_mb"], "MB", None,
                         "report only (the indexer's own and its read-ahead helper's)"))  # fmt: skip
    notes.append(f"indexer_peak_rss: {sqlite['own_rss_mb']:.0f} MB indexing {sqlite['events']:,} "
                 f"events vs {half['own_rss_mb']:.0f} MB indexing the first {half['events']:,}; "
                 f"its read-ahead helper's {sqlite['helper_rss_mb']:.0f} MB and "
                 f"{half['helper_rss_mb']:.0f} MB")  # fmt: skip
    traces, steps = indexer_bench.trace_latencies(f"sqlite:///{work}/full0.db", chain, root,
                                                  cfg["queries"])  # fmt: skip
    p50, p95 = api_bench.percentile(traces, 50), api_bench.percentile(traces, 95)
    log(
        f"trace (SQLite index of {sqlite['events']:,} events): p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    )
    results.append(entry("trace_p95", p95, "ms", None, "<= 50"))
    notes.append(f"trace: root with {groups + groups * fanout:,} descendants ({steps:,} steps) "
                 f"among {sqlite['events']:,} events in a backfilled SQLite index, "
                 f"build_trace + JSON as the route does: p50 {p50:.1f} ms, p95 {p95:.1f} ms")  # fmt: skip
    complete = indexer_bench.trace_completeness(f"sqlite:///{work}/full0.db", chain, root)
    cost = complete["rpc"]
    log(f"trace completeness ({complete['descendants']:,} descendants): {cost['requests']} "
        f"requests, {cost['calls']} calls, {cost['logs_fetched']:,} logs, {cost['ms']:.0f} ms")  # fmt: skip
    results.append(entry("trace_completeness", cost["ms"], "ms", None,
                         "report only (the verifier's rebuild of the tree from the node)"))  # fmt: skip
    notes.append(f"trace_completeness: the verifier rebuilt the root's tree ({complete['descendants']:,} "
                 f"descendants, {complete['chain_steps']:,} steps) from the node's logs alone over "
                 f"{complete['blocks_searched']:,} blocks and compared it with the trace "
                 f"(complete: {complete['complete']}): {cost['requests']} JSON-RPC requests "
                 f"carrying {cost['calls']} calls ({cost['get_logs_calls']} eth_getLogs, "
                 f"{cost['receipt_calls']} receipts), {cost['logs_fetched']:,} logs fetched, "
                 f"{cost['ms']:.0f} ms; with the contract list's confirmation "
                 f"{complete['ms_total']:.0f} ms")  # fmt: skip


def bench_peer(chain, cluster: PostgresCluster, rounds: int, work: Path, results: list,
               notes: list, log) -> None:  # fmt: skip
    """Ours against Ponder on the same history and PostgreSQL cluster, alternating rounds,
    both sides' rows compared each round (bench/peer_bench.py)."""
    m = peer_bench.measure(chain, cluster, rounds, work, log)
    rate = {side: [r["rate"] for r in m[side]] for side in ("ours", "peer", "peer_default")}
    rss = {side: [r["peak_rss_mb"] for r in m[side]] for side in ("ours", "peer", "peer_default")}
    cpu = {side: [r["cpu_s"] for r in m[side]] for side in ("ours", "peer", "peer_default")}
    work_cpu = {side: [r["work_cpu_s"] for r in m[side]] for side in ("ours", "peer", "peer_default")}
    med = statistics.median
    results.append(entry("indexer_peer_postgres", med(rate["peer"]), "events/s", None,
                         f"report only (Ponder {peer_bench.PONDER_VERSION}, tuned; "
                         f"peak RSS {med(rss['peer']):,.0f} MB)"))  # fmt: skip
    results.append(entry("indexer_vs_peer_postgres", med(rate["ours"]), "events/s",
                         med(rate["peer"]), ">= 3 (ours / Ponder tuned, same rows)",
                         spread=noise.spread(rate["ours"], rate["peer"])))  # fmt: skip
    if rate["peer_default"]:
        results.append(entry("indexer_vs_peer_default_postgres", med(rate["ours"]), "events/s",
                             med(rate["peer_default"]), "report only (ours / Ponder as configured by default)",
                             spread=noise.spread(rate["ours"], rate["peer_default"])))  # fmt: skip
    results.append(entry("indexer_vs_peer_rss", med(rss["ours"]), "MB", med(rss["peer"]),
                         "report only (peak RSS, ours / Ponder's process tree; lower is better)",
                         spread=noise.spread(rss["ours"], rss["peer"])))  # fmt: skip
    results.append(entry("indexer_vs_peer_cpu", med(work_cpu["ours"]), "CPU s", med(work_cpu["peer"]),
                         "report only (CPU for the whole history: the indexer, PostgreSQL and the "
                         "node, ours / Ponder tuned; lower is better, less stretched by load than wall time)",
                         spread=noise.spread(work_cpu["ours"], work_cpu["peer"])))  # fmt: skip
    check = m["check"]
    notes.append(f"indexer_vs_peer_postgres: {rounds} alternating rounds on the same "
                 f"{check['events']:,}-event history and PostgreSQL cluster, each into a fresh "
                 f"database: ours (bench.backfill_driver, first request to last commit), then "
                 f"Ponder {peer_bench.PONDER_VERSION} under Node {peer_bench.NODE_VERSION} "
                 f"tuned (the RPC URL listed {peer_bench.TUNED_RPC_COPIES} times: its request "
                 f"pacing opened up) and as configured by default, each Ponder run from its log's "
                 f"'Started backfill indexing' to /ready with /status at the head; events/s ours {[round(x) for x in rate['ours']]}, "
                 f"Ponder tuned {[round(x) for x in rate['peer']]}, default "
                 f"{[round(x) for x in rate['peer_default']]}; peak RSS MB ours "
                 f"{[round(x) for x in rss['ours']]}, Ponder tuned {[round(x) for x in rss['peer']]}, "
                 f"default {[round(x) for x in rss['peer_default']]}; CPU s of the indexer "
                 f"process ours {[round(x, 1) for x in cpu['ours']]}, Ponder tuned "
                 f"{[round(x, 1) for x in cpu['peer']]}, default "
                 f"{[round(x, 1) for x in cpu['peer_default']]}; with PostgreSQL's and the "
                 f"node's ours {[round(x, 1) for x in work_cpu['ours']]}, Ponder tuned "
                 f"{[round(x, 1) for x in work_cpu['peer']]}, default "
                 f"{[round(x, 1) for x in work_cpu['peer_default']]}; from the spawn of `ponder "
                 f"start` (its build and start-up included) Ponder tuned "
                 f"{[round(r['rate_from_spawn']) for r in m['peer']]} events/s. Every round both sides "
                 f"held the same events per event name, the same events digest and "
                 f"{check['receivables']:,} receivables with the same digest "
                 f"(sha256 {check['receivables_digest'][:16]})")  # fmt: skip


def bench_api(cfg: dict, work: Path, results: list, notes: list, log) -> None:
    with api_bench.Api(work / "api").serving() as api:
        # API and raw rounds alternate, so a burst of load from other work on the machine
        # falls on both sides; figure and limit are the medians of the rounds.
        rounds = cfg["repeats"]
        per_round = max(1, cfg["single"] // rounds)
        singles, raws = [], []
        for _ in range(rounds):
            singles.append(api_bench.write_single(api, per_round))
            raws.append(api_bench.raw_single(api, per_round))
        single, single_limit = statistics.median(singles), statistics.median(raws)
        log(f"api single: {single:.1f}/s, raw {single_limit:.1f}/s (rounds {singles} / {raws})")
        results.append(entry("api_write_single", single, "receivables/s", single_limit, ">= 0.4",
                             spread=noise.spread(singles, raws)))  # fmt: skip
        journal_ms = durability_bench.journal_write(work / "journal")
        log(f"journal write: {journal_ms:.2f} ms per transaction")
        results.append(entry("journal_write", journal_ms, "ms", None,
                             "report only (the write-ahead UPDATE per transaction)"))  # fmt: skip
        batches, ceilings = [], []
        for _ in range(cfg["batch_repeats"]):
            batches.append(api_bench.write_batch(api, cfg["batch_rows"], 1))
            # The chain's ceiling: registerBatch(150) sent raw as fast as anvil mines them
            # (measured gas/s under automine, in receivables/s).
            ceilings.append(api_bench.raw_batch(api, 150, max(2, cfg["batch_rows"] // 150)))
        batch, batch_limit = statistics.median(batches), statistics.median(ceilings)
        log(f"api batch: {batch:.1f}/s, chain ceiling {batch_limit:.1f}/s")
        results.append(entry("api_write_batch", batch, "receivables/s", batch_limit, ">= 0.8",
                             spread=noise.spread(batches, ceilings)))  # fmt: skip
        notes.append(f"api_write_single: {rounds} alternating rounds of {per_round} API / raw "
                     f"writes; api_write_batch: {cfg['batch_repeats']} alternating rounds of "
                     f"{cfg['batch_rows']} rows / raw registerBatch(150)")  # fmt: skip
        latencies = api_bench.write_to_read(api, cfg["w2r"], load_rate=2.0)
        p = {q: api_bench.percentile(latencies, q) for q in (50, 95, 99)}
        log(f"write-to-read ms: p50 {p[50]:.1f} p95 {p[95]:.1f} p99 {p[99]:.1f}")
        results.append(entry("write_to_read_p95", p[95], "ms", None, "<= 250"))
        notes.append(f"write_to_read ms: p50 {p[50]:.1f}, p95 {p[95]:.1f}, p99 {p[99]:.1f} "
                     f"({len(latencies)} samples under 2 registrations/s of load)")  # fmt: skip
        groups, fanout = cfg["tree"]
        hooks = api_bench.webhook_latency(api, cfg["w2r"])
        p = {q: api_bench.percentile(hooks, q) for q in (50, 95)}
        results.append(entry("webhook_latency_p50", p[50], "ms", None, "report only"))
        results.append(entry("webhook_latency_p95", p[95], "ms", None, "<= 1000"))
        notes.append(f"webhook latency (commit -> received) ms: p50 {p[50]:.1f}, "
                     f"p95 {p[95]:.1f} over {len(hooks)}")  # fmt: skip
        root = api_bench.build_tree(api, fanout, groups)
        traces, pages = api_bench.query_latencies(api, root, cfg["queries"])
        descendants = groups + groups * fanout
        p50, p95 = api_bench.percentile(pages, 50), api_bench.percentile(pages, 95)
        log(f"list_p95: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        results.append(entry("list_p95", p95, "ms", None, "none set"))
        notes.append(f"list (HTTP, filtered, 50 a page): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        p50, p95 = api_bench.percentile(traces, 50), api_bench.percentile(traces, 95)
        log(f"trace over HTTP: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        notes.append(f"trace over HTTP (auditor, the API's own small index, root with "
                     f"{descendants:,} descendants): p50 {p50:.1f} ms, p95 {p95:.1f} ms")  # fmt: skip


def bench_fairness(cfg: dict, work: Path, results: list, notes: list, log) -> None:
    """Tenant B's reads under tenant A's burst of concurrent writes (issue 17), against B's
    reads at rest on the same service a moment before."""
    writes = cfg["burst"]
    rest, under, statuses = fairness_bench.measure(work / "fairness", writes)
    p = api_bench.percentile
    log(f"fairness: B's reads p50 {p(under, 50):.1f} / p95 {p(under, 95):.1f} ms under A's "
        f"{writes} writes, {p(rest, 50):.1f} / {p(rest, 95):.1f} ms at rest")  # fmt: skip
    results.append(entry("fairness_read_p95", p(under, 95), "ms", p(rest, 95),
                         "report only (B's read p95 under A's burst / at rest)"))  # fmt: skip
    notes.append(f"fairness: B's reads under A's {writes} concurrent writes p50 "
                 f"{p(under, 50):.1f} ms, p95 {p(under, 95):.1f} ms ({len(under)} reads); at "
                 f"rest p50 {p(rest, 50):.1f} ms, p95 {p(rest, 95):.1f} ms; A's answers "
                 f"{dict(sorted(statuses.items()))}")  # fmt: skip


def bench_replicas(cfg: dict, work: Path, results: list, notes: list, log) -> None:
    """Registrations/s through three API replicas against one, and the standby indexer's
    takeover (issue 22; bench/replicas_bench.py)."""
    clients, seconds, rounds = cfg["replicas"]
    m = replicas_bench.measure(work / "replicas", clients, seconds, rounds)
    log(f"replicas: {m['three']:.1f}/s through three, {m['one']:.1f}/s through one "
        f"(rounds {m['rounds_three']} / {m['rounds_one']}); standby writing after "
        f"{m['takeover_lock_s']:.2f} s, index past the head after {m['takeover_index_s']:.2f} s")  # fmt: skip
    results.append(entry("api_replicas_3_vs_1", m["three"], "receivables/s", m["one"],
                         "report only (3 replicas / 1, same stack, same run)",
                         spread=noise.spread(m["rounds_three"], m["rounds_one"])))  # fmt: skip
    results.append(entry("indexer_takeover", m["takeover_lock_s"], "s", None,
                         "report only (SIGKILL of the writer to the standby holding the lock)"))  # fmt: skip
    notes.append(f"api_replicas_3_vs_1: {clients} clients registering for 4 custodial debtors, "
                 f"{rounds} alternating rounds of {seconds:g} s through 1 / 3 `ledger-app api` "
                 f"on PostgreSQL beside `ledger-app index`; indexer takeover: the standby "
                 f"held the writer lock {m['takeover_lock_s']:.2f} s after the writer's SIGKILL, "
                 f"the index passed the head at the kill after {m['takeover_index_s']:.2f} s")  # fmt: skip


def bench_gas(cfg: dict, results: list, notes: list, log) -> None:
    rows = gas_bench.run_gas_table(clearing=cfg["clearing"])
    by_operation = {row["operation"]: row for row in rows}
    for operation, (name, bound, _items) in gas_bench.BOUNDS.items():
        row = by_operation.get(operation)
        if row is not None:
            results.append(entry(name, row["gas"], "gas", bound, "<= 1.5"))
    for operation, name in gas_bench.REPORTED.items():
        row = by_operation.get(operation)
        if row is not None:
            results.append(entry(name, row["gas"], "gas", None, f"report only ({row['note']})"))
    for row in rows:
        if row["operation"].startswith("clearing:") and "leaves in total" in row["operation"]:
            results.append(entry("clearing_5000_leaves", row["gas"], "gas", None, "report only"))
            results.append(entry("clearing_5000_leaves_seconds", row["seconds"], "s", None,
                                 "report only (ape + anvil; includes building the tree)"))  # fmt: skip
    if not cfg["clearing"]:
        notes.append("clearing_5000_leaves not run in this mode")
    log(f"gas: {len(rows)} rows from scripts/gas_table.py")


def bench_erc1155(results: list, log, work: Path) -> None:
    from bench.chain import start_anvil

    node = start_anvil(work / "erc1155")
    try:
        gas = gas_bench.measure_erc1155(node.rpc_url)
    finally:
        node.stop()
    results.append(entry("gas_erc1155_mint_batch_2", gas["mint_batch_2"], "gas",
                         gas_bench.erc1155_mint_batch_bound(2), "compare gas_split_2"))  # fmt: skip
    results.append(entry("gas_erc1155_mint_batch_10", gas["mint_batch_10"], "gas",
                         gas_bench.erc1155_mint_batch_bound(10), "compare gas_split_10"))  # fmt: skip
    results.append(entry("gas_erc1155_transfer", gas["transfer"], "gas",
                         gas_bench.ERC1155_TRANSFER_BOUND, "compare gas_transfer"))  # fmt: skip
    log(f"erc1155: {gas}")


def bench_monitoring(cfg: dict, work: Path, results: list, notes: list, log) -> None:
    """The compliance rules' run cost per 1,000 indexed events (issue 23)."""
    log(f"monitoring: rule runs over {cfg['monitoring']:,} synthetic events")
    engine = make_engine(f"sqlite:///{work}/monitoring.db")
    try:
        cost = monitoring_bench.measure(engine, cfg["monitoring"])
    finally:
        engine.dispose()
    results.append(entry("monitoring_rules_per_1000_events", cost["ms_per_1000_events"], "ms",
                         None, "report only"))  # fmt: skip
    notes.append(f"monitoring: every rule on, one run per 1,000 new events over {cost['events']:,} "
                 f"events (60 days, 31-day look-back), median run {cost['ms_per_1000_events']:.0f} "
                 f"ms, mean {cost['ms_per_1000_events_mean']:.0f} ms; {cost['alerts']:,} alerts "
                 "(SQLite; python -m bench.monitoring_bench EVENTS)")  # fmt: skip


def markdown(document: dict[str, Any]) -> str:
    m = document["machine"]
    lines = [
        f"# Benchmarks ({m['mode']} mode)", "",
        f"`python -m bench.run --mode {m['mode']}` on {m['cores']} cores, Python {m['python']}, "
        f"{m['anvil']}, {m['date']}. Ratio = figure / limit (throughput: higher is better; "
        "gas: lower is better); limits are measured in the same run. Spread: the lowest and "
        "highest of a row's per-round ratios (each round's figure over that round's limit).",
        "", noise.describe(m["load"]) if m.get("load") else "Machine load: not recorded.", "",
        "| benchmark | figure | unit | limit | ratio | spread | target |",
        "|---|---:|---|---:|---:|---:|---|",
    ]  # fmt: skip

    def fmt(v: float | None) -> str:
        if v is None:
            return ""
        return f"{v:,.2f}" if isinstance(v, float) and v < 100 else f"{v:,.0f}"

    for b in document["benchmarks"]:
        ratio = "" if b["ratio"] is None else f"{b['ratio']:.2f}"
        spread = "" if not b.get("spread") else f"{b['spread'][0]:.2f}-{b['spread'][1]:.2f}"
        lines.append(f"| {b['name']} | {fmt(b['figure'])} | {b['unit']} | {fmt(b['limit'])} | "
                     f"{ratio} | {spread} | {b['target']} |")  # fmt: skip
    lines += ["", "Notes:", ""] + [f"- {n}" for n in m["notes"]]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())]
    return "\n".join(lines) + "\n"


def validate(document: dict[str, Any]) -> None:
    """The agreed shape: machine + benchmarks with exactly KEYS each."""
    assert set(document) == {"machine", "benchmarks"}, document.keys()
    assert {"cores", "python", "versions", "load"} <= set(document["machine"])
    for b in document["benchmarks"]:
        assert tuple(b) == KEYS, b
        spread = b["spread"]
        assert spread is None or (len(spread) == 2 and spread[0] <= spread[1]), b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=list(MODES), default="full")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "bench" / "results")
    parser.add_argument("--only", nargs="*",
                        default=["indexer", "api", "fairness", "replicas", "gas", "erc1155", "monitoring"])  # fmt: skip
    parser.add_argument("--peer", type=int, default=None, metavar="ROUNDS",
                        help="rounds of ours against Ponder (default: the mode's; 0 skips)")  # fmt: skip
    args = parser.parse_args(argv)
    cfg = MODES[args.mode] | ({} if args.peer is None else {"peer": args.peer})
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    failures: list[str] = []  # correctness checks that failed: the run exits 1
    started = time.perf_counter()
    load = noise.Load()

    def log(message: str) -> None:
        load.sample()
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", flush=True)

    log(
        f"mode {args.mode}, {os.cpu_count()} cores, Python {platform.python_version()}, work {work}"
    )
    try:
        for part, run in (("gas", lambda: bench_gas(cfg, results, notes, log)),
                          ("erc1155", lambda: bench_erc1155(results, log, work)),
                          ("api", lambda: bench_api(cfg, work, results, notes, log)),
                          ("fairness", lambda: bench_fairness(cfg, work, results, notes, log)),
                          ("replicas", lambda: bench_replicas(cfg, work, results, notes, log)),
                          ("indexer", lambda: bench_indexer(cfg, work, results, notes, log, failures)),
                          ("monitoring", lambda: bench_monitoring(cfg, work, results, notes, log))):  # fmt: skip
            if part in args.only:
                run()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    order = {n: i for i, n in enumerate(["indexer_backfill_sqlite", "indexer_backfill_postgres",
             "indexer_peer_postgres", "indexer_vs_peer_postgres",
             "indexer_vs_peer_default_postgres", "indexer_vs_peer_rss", "indexer_vs_peer_cpu",
             "indexer_peak_rss", "indexer_peak_rss_with_helper", "api_write_single",
             "api_write_batch", "write_to_read_p95",
             "webhook_latency_p50", "webhook_latency_p95", "trace_p95", "list_p95",
             "fairness_read_p95", "api_replicas_3_vs_1", "indexer_takeover"])}  # fmt: skip
    results.sort(key=lambda b: order.get(b["name"], len(order)))
    document = {"machine": machine(args.mode, notes, load.summary()), "benchmarks": results}
    validate(document)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    (args.out / "latest.md").write_text(markdown(document))
    print(markdown(document))
    log(f"wrote {args.out}/latest.json and latest.md")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
