"""Backfill speed: index ~100k events into SQLite and into PostgreSQL, report events/s.

    .venv/bin/python scripts/bench_indexer.py [--events 100000]

Starts its own anvil and (for PostgreSQL) its own throw-away cluster, like the
indexer tests (tests/indexer/pgcluster.py, which needs Debian's postgresql
binaries). The chain: the ledger of tests/indexer/ledger.py, then receivables
registered 100 per transaction (two events each: ReceivableRegistered and
ReceivableStatusChanged). Each database is filled by a whole indexer backfill
(eth_getLogs, decoding, handlers, one transaction per range), timed from the
first request to the last commit; both must end with the same digest.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "indexer"))

from ledger import Ledger  # noqa: E402
from pgcluster import PostgresCluster  # noqa: E402

from ledger_app import PROJECT_ROOT  # noqa: E402
from ledger_app.audit.reconcile import digest  # noqa: E402
from ledger_app.chain.artifacts import Artifacts  # noqa: E402
from ledger_app.chain.client import ChainClient  # noqa: E402
from ledger_app.chain.node import AnvilNode, find_anvil  # noqa: E402
from ledger_app.db import migrate  # noqa: E402
from ledger_app.db.engine import make_engine  # noqa: E402
from ledger_app.indexer.runner import IndexerConfig  # noqa: E402
from ledger_app.indexer.service import build_indexer  # noqa: E402

PER_TX = 100  # well inside a block (150, the contract's cap, needs more than 30M gas here)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def backfill(url: str, anvil: AnvilNode, ledger: Ledger, artifacts: Artifacts) -> tuple:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        indexer = build_indexer(
            rpc_url=anvil.rpc_url,
            engine=engine,
            artifacts=artifacts,
            contracts=ledger.contracts(),
            start_block=ledger.deployment_block,
            config=IndexerConfig(),
        )
        started = time.perf_counter()
        indexer.run(follow=False)
        elapsed = time.perf_counter() - started
        events = indexer.store.checkpoint().events_total
        return events, elapsed, digest(engine, 31337)
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    artifacts = Artifacts.load(PROJECT_ROOT / ".build" / "__local__.json")
    work = Path(tempfile.mkdtemp(prefix="bench-indexer-"))
    anvil = AnvilNode(
        binary=find_anvil(),
        port=free_port(),
        chain_id=31337,
        state_file=work / "state.json",
        log_file=work / "anvil.log",
    )
    anvil.start()
    cluster = PostgresCluster.start()
    try:
        ledger = Ledger(ChainClient(anvil.rpc_url, poll_interval=0.01), artifacts).deploy()
        ledger.list_token(b"CNY")
        started = time.perf_counter()
        transactions = -(-args.events // (2 * PER_TX))
        for _ in range(transactions):
            ledger.register_batch(PER_TX)
        print(
            f"chain: {transactions} transactions, {ledger.head() - ledger.deployment_block} blocks "
            f"in {time.perf_counter() - started:.0f} s"
        )
        results = {}
        for name, url in (
            ("sqlite", f"sqlite:///{work}/index.db"),
            ("postgresql", cluster.create_database()),
        ):
            events, elapsed, fingerprint = backfill(url, anvil, ledger, artifacts)
            results[name] = fingerprint
            print(
                f"{name:10} {events:,} events in {elapsed:.1f} s: {events / elapsed:,.0f} events/s"
            )
        if len(set(results.values())) != 1:
            print(f"digests differ: {results}")
            return 1
        print(f"digest (both): {results['sqlite']}")
    finally:
        cluster.stop()
        anvil.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
