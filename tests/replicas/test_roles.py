"""The roles of processes (issue 22): which may start beside which, and the standbys.

- ``ledger-app api`` on SQLite refuses at once, saying replicas need PostgreSQL;
- on PostgreSQL, replicas share the sending lock, and neither a ``run`` (exclusive) starts
  beside them nor they beside a ``run``;
- a second writer (index, keeper) waits as standby and takes the lock the moment the
  first one's connection ends, as when its process is killed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pgcluster import PostgresCluster

from ledger_app.cli import main
from ledger_app.db.engine import make_engine
from ledger_app.db.locks import KeeperLock, NamedLocks, SenderLock, WriterLock
from ledger_app.errors import SenderLockedError
from ledger_app.settings import Settings


def test_api_on_sqlite_refuses_to_start_naming_postgresql(
    ledger_settings: Settings, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["api"]) == 1
    assert "need PostgreSQL" in caplog.text
    assert "ledger-app run" in caplog.text


def test_replicas_share_the_sending_lock_and_run_is_refused_beside_them(
    cluster: PostgresCluster,
) -> None:
    engine = make_engine(cluster.create_database())
    try:
        first = SenderLock(engine, 31337).acquire_shared()
        second = SenderLock(engine, 31337).acquire_shared()
        with pytest.raises(SenderLockedError):
            SenderLock(engine, 31337).acquire()  # `run` beside replicas
        first.release()
        second.release()
        alone = SenderLock(engine, 31337).acquire()
        with pytest.raises(SenderLockedError, match="replicas do not start beside it"):
            SenderLock(engine, 31337).acquire_shared()
        alone.release()
    finally:
        engine.dispose()


@pytest.mark.parametrize("lock_class", [WriterLock, KeeperLock])
def test_standby_takes_the_lock_when_the_holder_goes(
    cluster: PostgresCluster, lock_class: type[WriterLock]
) -> None:
    engine = make_engine(cluster.create_database())
    try:
        holder = lock_class(engine, 31337).acquire()
        standby = lock_class(engine, 31337)
        took: list[float] = []
        thread = threading.Thread(
            target=lambda: took.append(time.monotonic()) if standby.wait(0.05) else None
        )
        thread.start()
        time.sleep(0.5)
        assert not took  # still waiting while the holder holds it
        released = time.monotonic()
        holder._conn.invalidate()  # type: ignore[union-attr]  # as a killed process's session ends
        holder._conn = None
        thread.join(timeout=10)
        assert took, "the standby never took the lock"
        assert took[0] - released < 2.0
        standby.release()
    finally:
        engine.dispose()


def test_named_lock_is_held_by_one_process_at_a_time(cluster: PostgresCluster) -> None:
    """Two NamedLocks (two processes' sessions) on one name: the critical sections never
    overlap, and a stop while waiting gives up."""
    url = cluster.create_database()
    engines = [make_engine(url), make_engine(url)]
    locks = [NamedLocks(e) for e in engines]
    inside, overlaps = [0], [0]
    guard = threading.Lock()

    def work(lock: NamedLocks) -> None:
        for _ in range(20):
            with lock.hold(7, "0xAbC"):
                with guard:
                    inside[0] += 1
                    overlaps[0] += inside[0] > 1
                time.sleep(0.002)
                with guard:
                    inside[0] -= 1

    threads = [threading.Thread(target=work, args=(lock,)) for lock in locks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert overlaps == [0]
    stopping = threading.Event()
    with locks[0].hold(7, "0xabc"):
        stopping.set()
        with pytest.raises(InterruptedError), locks[1].hold(7, "0xABC", stopping):
            pass
    for lock, engine in zip(locks, engines, strict=True):
        lock.dispose()
        engine.dispose()


def test_keeper_lock_file_on_sqlite(tmp_path: Path) -> None:
    """On SQLite the keeper lock is a file lock: a second holder is refused while the first
    holds it."""
    engine = make_engine(f"sqlite:///{tmp_path}/ledger.db")
    first = KeeperLock(engine, 31337).acquire()
    with pytest.raises(SenderLockedError.__base__):  # LedgerError
        KeeperLock(engine, 31337).acquire()
    first.release()
    KeeperLock(engine, 31337).acquire().release()
    engine.dispose()
