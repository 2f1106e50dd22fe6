"""Indexer backfill, two source trees side by side on one chain: before vs after a change.

    python -m bench.indexer_compare EVENTS ROUNDS [BEFORE_TREE] [--only sqlite|postgres]

Starts the cached chain of EVENTS events (bench/.cache; it is never generated here:
a missing cache is an error), then per round, alternating, runs one backfill with
BEFORE_TREE's code (default /work/main, with its own .venv), the limit (the backfill's
eth_getLogs calls replayed + decoded), and one with this tree's code, into fresh SQLite
files and fresh PostgreSQL databases. Prints events/s and the ratio to the limit, with
medians. Timings on a shared machine are noisy: compare only rows of one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import indexer_bench
from bench.chain import (
    ARTIFACTS,
    CACHE,
    EVENTS_PER_CYCLE,
    GeneratedChain,
    cycles_per_block,
    events_hash,
    generate,
)
from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "indexer"))
from pgcluster import PostgresCluster


def run_tree(tree: Path, chain: GeneratedChain, db_url: str) -> dict:
    ledger = chain.ledger
    contracts = {
        ledger.addresses[n].lower(): k for n, k in ledger.kinds.items() if k != "SettlementToken"
    }
    done = subprocess.run(
        [str(tree / ".venv" / "bin" / "python"), "-m", "bench.backfill_driver",
         chain.node.rpc_url, db_url, json.dumps(contracts), str(ledger.deployment_block),
         str(chain.head)],
        cwd=tree, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"backfill in {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("events", type=int)
    parser.add_argument("rounds", type=int)
    parser.add_argument("before", nargs="?", default="/work/main")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--no-before", action="store_true")
    args = parser.parse_args()
    artifacts = Artifacts.load(ARTIFACTS)
    per_block = cycles_per_block(max(1, -(-args.events // EVENTS_PER_CYCLE)))
    key = f"chain-{events_hash(artifacts)}-{args.events}-{per_block}perblock"
    if not (CACHE / f"{key}.state.json").is_file():
        raise SystemExit(f"no cached chain {key}: not generating one here")
    trees = {"after": PROJECT_ROOT}
    if not args.no_before:
        trees = {"before": Path(args.before), **trees}
    engines = ["sqlite", "postgres"] if args.only is None else [args.only]
    with tempfile.TemporaryDirectory(
        dir="/work/tmp" if Path("/work/tmp").is_dir() else None
    ) as tmp:
        work = Path(tmp)
        chain = generate(work / "chain", args.events, artifacts)
        cluster = PostgresCluster.start() if "postgres" in engines else None
        rates: dict[str, list[float]] = {}
        rss: dict[str, list[float]] = {}
        limits: list[float] = []
        try:
            for i in range(args.rounds):
                for name, tree in trees.items():
                    for engine in engines:
                        if engine == "sqlite":
                            url = f"sqlite:///{work}/{name}{i}.db"
                        else:
                            assert cluster is not None
                            url = cluster.create_database()
                        out = run_tree(tree, chain, url)
                        rate = out["events"] / out["seconds"]
                        rates.setdefault(f"{name} {engine}", []).append(rate)
                        rss.setdefault(f"{name} {engine}", []).append(out["peak_rss_mb"])
                        print(f"round {i + 1} {name:6} {engine:8} {out['events']:,} events "
                              f"{rate:8,.0f}/s rss {out['peak_rss_mb']:.0f} MB", flush=True)  # fmt: skip
                        if engine == "sqlite":
                            Path(f"{work}/{name}{i}.db").unlink(missing_ok=True)
                        if name == "after" and engine == engines[0]:
                            limit, _ = indexer_bench.raw_limit(chain, out["calls"])
                            limits.append(limit)
                            print(f"round {i + 1} limit {limit:,.0f}/s", flush=True)
        finally:
            chain.node.stop()
            if cluster is not None:
                cluster.stop()
    limit = statistics.median(limits)
    print(f"limit median {limit:,.0f}/s {[round(x) for x in limits]}")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:16} median {median:8,.0f}/s ratio {median / limit:.2f} "
              f"{[round(x) for x in values]} rss {max(rss[name]):.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
