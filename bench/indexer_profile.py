"""Where a backfill's time goes (issue 24): the indexer run in this process on a bench
history, with timers around its parts, read-ahead on and off side by side, and a cProfile
of the writing process if asked. Not part of `make bench`: a tool for reading, never a
limit (bench/indexer_bench.py measures the ratios).

    .venv/bin/python -m bench.indexer_profile [--events N] [--db sqlite|postgresql]
        [--rounds R] [--profile] [--max-batch-logs M]

Each round runs a backfill with read-ahead on, then one with it off, each into a fresh
database, and prints per run: seconds; the writing (Store.apply); the reading this
process did itself (RangeReader.read); the waits for the helper and how many of its reads
were taken (ReadAhead.take); the helper's peak memory. ``--profile`` adds a cProfile of
the first run with read-ahead on (the writing process only: the helper's reading is not
in it).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.db import migrate
from ledger_app.db.engine import make_engine
from ledger_app.indexer import reader, store
from ledger_app.indexer.runner import IndexerConfig
from ledger_app.indexer.service import build_indexer

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "indexer"))
from bench import chain as bench_chain

TIMES: dict[str, float] = {}
COUNTS: dict[str, int] = {}


def _timed(owner: Any, name: str, label: str, count: Callable[[Any], str] | None = None) -> None:
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = original(*args, **kwargs)
        TIMES[label] = TIMES.get(label, 0.0) + time.perf_counter() - started
        if count is not None:
            key = count(result)
            COUNTS[key] = COUNTS.get(key, 0) + 1
        return result

    setattr(owner, name, timed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--max-batch-logs", type=int, default=IndexerConfig().max_batch_logs)
    args = parser.parse_args()

    _timed(store.Store, "apply", "writing (Store.apply)")
    _timed(reader.RangeReader, "read", "reading here (RangeReader.read)")
    _timed(reader.ReadAhead, "take", "waiting for the helper (ReadAhead.take)",
           lambda read: "helper's reads taken" if read is not None else "not taken")  # fmt: skip
    artifacts = Artifacts.load(PROJECT_ROOT / ".build" / "__local__.json")
    work = Path(tempfile.mkdtemp(prefix="indexer-profile-"))
    chain = bench_chain.generate(work, args.events, artifacts)
    ledger = chain.ledger
    contracts = {ledger.addresses[n].lower(): k for n, k in ledger.kinds.items()
                 if k != "SettlementToken"}  # fmt: skip
    cluster = None
    if args.db == "postgresql":
        from pgcluster import PostgresCluster

        cluster = PostgresCluster.start()
    try:
        for round_ in range(1, args.rounds + 1):
            for read_ahead in (True, False):
                TIMES.clear()
                COUNTS.clear()
                url = (cluster.create_database() if cluster is not None
                       else f"sqlite:///{work}/r{round_}-{read_ahead}.db")  # fmt: skip
                engine = make_engine(url)
                migrate.upgrade(engine)
                config = IndexerConfig(read_ahead=read_ahead, max_batch_logs=args.max_batch_logs)
                indexer = build_indexer(rpc_url=chain.node.rpc_url, engine=engine,
                                        artifacts=artifacts, contracts=contracts,
                                        start_block=ledger.deployment_block, config=config,
                                        monitoring=False)  # fmt: skip
                profile = (
                    cProfile.Profile() if args.profile and round_ == 1 and read_ahead else None
                )
                started, cpu = time.perf_counter(), time.process_time()
                if profile is not None:
                    profile.enable()
                indexer.run(follow=False, until=chain.head)
                if profile is not None:
                    profile.disable()
                seconds = time.perf_counter() - started
                events = indexer.store.checkpoint().events_total
                parts = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(TIMES.items()))
                counts = ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items()))
                print(f"round {round_}, read-ahead {'on ' if read_ahead else 'off'}: "
                      f"{events:,} events in {seconds:.2f} s ({events / seconds:,.0f}/s), "
                      f"this process's CPU {time.process_time() - cpu:.2f} s; {parts}"
                      f"{'; ' + counts if counts else ''}; helper peak "
                      f"{indexer.helper_peak_rss_kb / 1024:.0f} MB", flush=True)  # fmt: skip
                if profile is not None:
                    for order in ("tottime", "cumulative"):
                        out = io.StringIO()
                        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(40)
                        print(out.getvalue())
                engine.dispose()
    finally:
        chain.node.stop()
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
