"""One indexer backfill in its own process, so its peak RSS is the indexer's alone.

    python -m bench.backfill_driver RPC_URL DB_URL CONTRACTS_JSON START_BLOCK UNTIL

Prints one JSON line: events, seconds (first request to last commit), peak_rss_mb (its
own and its read-ahead helper's, own_rss_mb + helper_rss_mb), and
calls: every eth_getLogs the indexer made as [from, to, addresses], which the limit
replays (the same ranges, fetched and decoded, nothing written).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.db import migrate
from ledger_app.db.engine import make_engine
from ledger_app.indexer.runner import IndexerConfig
from ledger_app.indexer.service import build_indexer
from ledger_app.settings import Settings


def main() -> int:
    rpc_url, db_url, contracts, start, until = sys.argv[1:6]
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    indexer = build_indexer(
        rpc_url=rpc_url,
        engine=engine,
        artifacts=Artifacts.load(PROJECT_ROOT / ".build" / "__local__.json"),
        contracts=json.loads(contracts),
        start_block=int(start),
        # The read-ahead as the service has it (LEDGER_INDEXER_READ_AHEAD, on by default).
        config=IndexerConfig(read_ahead=Settings().indexer_read_ahead),
        # The indexer alone: the rules' cost is measured by bench/monitoring_bench.py.
        monitoring=False,
    )
    indexer.queries = []  # every eth_getLogs, whichever process asked it
    started = time.perf_counter()
    indexer.run(follow=False, until=int(until))
    seconds = time.perf_counter() - started
    events = indexer.store.checkpoint().events_total
    engine.dispose()
    # The backfill's memory is its own and its read-ahead helper's (indexer/reader.py).
    print(json.dumps({"events": events, "seconds": seconds,
                      "peak_rss_mb": (peak_rss_kb() + indexer.helper_peak_rss_kb) / 1024,
                      "own_rss_mb": peak_rss_kb() / 1024,
                      "helper_rss_mb": indexer.helper_peak_rss_kb / 1024,
                      "calls": [list(q) for q in indexer.queries]}))  # fmt: skip
    return 0


def peak_rss_kb() -> int:
    """This process's peak resident memory in KiB: VmHWM, the high-water mark of its own
    address space. Not ru_maxrss: Linux carries it over fork and exec, so a driver
    spawned by a large parent (bench.run, after decoding 100k events for the limit)
    reported the parent's size (861 MB against VmHWM's ~160 MB at 100k events)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; elsewhere no /proc


if __name__ == "__main__":
    sys.exit(main())
