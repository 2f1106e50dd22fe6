"""Outages under the running service: the node, the JSON-RPC path, the database, the process.

One `ledger-app run` (embedded indexer, SQLite) for the module; clients keep writing
(registrations and mints, retried with their Idempotency-Key) through each fault. After
each, with nothing restarted by hand but the part the test took away: every accepted
write is on chain and in the index exactly once, every ambiguous one at most once, and
reconcile reports nothing (workload.verify_writes). PostgreSQL gets its own service,
its server stopped and started again.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_stack import FAULTS, Stack, running_stack
from workload import Recorder, Verdict, Writers, report, verify_writes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "indexer"))
from pgcluster import PostgresCluster

pytestmark = pytest.mark.slow

CAST = {
    "core": ["CORE_ENTERPRISE"],
    "supplier": ["SUPPLIER"],
    "financier": ["FINANCIER"],
    "bank": ["SETTLEMENT_BANK"],
    "auditor": ["AUDITOR"],
}
ENV = {"LEDGER_WRITE_INDEX_WAIT": "2"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("outages"), CAST, env=ENV) as stack:
        yield stack


def _check(verdict: Verdict, writers: Writers, least: int) -> None:
    assert writers.errors == []
    assert verdict.problems == []
    assert verdict.accepted >= least


def test_node_stopped_and_restarted_under_the_service_loses_nothing(stack: Stack) -> None:
    recorder = Recorder()
    with Writers(stack, recorder, run="node") as writers:
        for _ in range(2):
            writers.wait_accepted(4)
            stack.node.stop()  # saved, then SIGTERM: anvil comes back with its chain
            time.sleep(2)
            stack.node.start()
        writers.wait_accepted(4)
    verdict = verify_writes(stack, recorder.snapshot())

    report("node", verdict, recorder.snapshot(), restarts=2)
    _check(verdict, writers, 12)


def test_rpc_errors_429_5xx_and_hangs_are_survived(stack: Stack) -> None:
    recorder = Recorder()
    with Writers(stack, recorder, run="rpc") as writers:
        writers.wait_accepted(2)
        with stack.proxy.faulty(FAULTS, rate=0.25):
            deadline = time.monotonic() + 12
            while time.monotonic() < deadline or not set(FAULTS) <= set(stack.proxy.served):
                time.sleep(0.5)
        writers.wait_accepted(6)
    verdict = verify_writes(stack, recorder.snapshot())

    report("rpc", verdict, recorder.snapshot(), served=dict(stack.proxy.served))
    _check(verdict, writers, 8)
    assert set(FAULTS) <= set(stack.proxy.served), stack.proxy.served


def test_sqlite_locked_by_another_process_is_waited_out(stack: Stack) -> None:
    recorder = Recorder()
    database = stack.database_url.removeprefix("sqlite:///")
    with Writers(stack, recorder, run="db") as writers:
        writers.wait_accepted(4)
        for _ in range(2):
            _hold_exclusive(database, seconds=8)  # longer than the 5 s busy timeout
            writers.wait_accepted(2)
        writers.wait_accepted(4)
    verdict = verify_writes(stack, recorder.snapshot())

    report("sqlite-lock", verdict, recorder.snapshot(), outages=2)
    _check(verdict, writers, 12)


def test_service_killed_under_writes_restarts_alone_and_loses_nothing(stack: Stack) -> None:
    recorder, rng = Recorder(), random.Random(11)
    # A write running when its process died is answered from the journal once the service
    # is back (its key is "in progress", 409, only until then).
    with Writers(stack, recorder, run="svc", patience=8) as writers:
        for _ in range(3):
            writers.wait_accepted(4)
            time.sleep(rng.uniform(0, 1.0))
            stack.api.kill()
            stack.api.start()
            stack.wait_healthy()
        writers.wait_accepted(4)
    verdict = verify_writes(stack, recorder.snapshot())

    report("service-kill", verdict, recorder.snapshot(), kills=stack.api.kills)
    _check(verdict, writers, 12)
    assert stack.api.kills == 3


def _hold_exclusive(database: str, seconds: float) -> None:
    """A connection holding the SQLite file's write lock for ``seconds``, as another
    process (a backup, an operator's sqlite3 shell) can: in WAL mode every other writer
    waits its busy timeout (5 s) and then fails with "database is locked"."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("UPDATE checkpoint SET events_total = events_total")
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def postgres_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, PostgresCluster]]:
    cluster = PostgresCluster.start()
    try:
        url = cluster.create_database()
        with running_stack(tmp_path_factory.mktemp("pg"), CAST, database_url=url, env=ENV) as stack:
            yield stack, cluster
    finally:
        cluster.stop()


def test_postgres_stopped_and_restarted_under_the_service_loses_nothing(
    postgres_stack: tuple[Stack, PostgresCluster],
) -> None:
    stack, cluster = postgres_stack
    recorder = Recorder()
    with Writers(stack, recorder, run="pg") as writers:
        writers.wait_accepted(4)
        cluster.stop_server()  # fast shutdown: every session, the indexer's lock too, ends
        time.sleep(4)
        cluster.start_server()
        writers.wait_accepted(6)
    verdict = verify_writes(stack, recorder.snapshot())

    report("postgres", verdict, recorder.snapshot(), restarts=1)
    _check(verdict, writers, 10)
