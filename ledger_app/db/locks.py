"""One indexer writes to a database at a time.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a
connection held for the writer's lifetime; it is released when that
connection ends, also when the process is killed. SQLite: an exclusive
``flock`` on a file next to the database, released by the kernel when the
process ends. A second indexer gets IndexerLockedError at once. ``ensure`` takes
a PostgreSQL lock again after the server restarted under its holder.

SenderLock is the same lock for another role: the process that sends the custodial
accounts' transactions. Two senders for one account would take the same nonces, and
one left running would send its stale transactions into a node the other restarted.
A second one gets SenderLockedError and must not start. API replicas (``ledger-app api``,
PostgreSQL only) take it shared (``acquire_shared``): any number of them send side by side,
coordinated per account by NamedLocks, but none beside an exclusive holder (``run``,
which sends without asking the database) and no ``run`` beside them.

NamedLocks: locks by name across every process of one PostgreSQL database (session
advisory locks, each on a connection of its own held while the lock is); a per-process
threading lock on SQLite, whose sending is one process anyway. The sender holds one per
custodial account around each transaction (chain/sender.py), a spend holds one around its
approval and its spending call, the keeper one around its passes.

ProcessIdentity: this process's instance id, and a lock on it held for the process's
life, so that another replica can tell whether the process that made a row is still
there (pg_locks) before it settles the row for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from ledger_app.errors import IndexerLockedError, LedgerError, SenderLockedError

log = logging.getLogger(__name__)

# An arbitrary constant naming "the ledger indexer's writer" among advisory locks.
_ADVISORY_KEY = 0x1ED6E1
#: The first key of NamedLocks' advisory locks, one per scope (the second is the name's).
ACCOUNT_SCOPE = _ADVISORY_KEY + 2  # one custodial account's sending
SPENDING_SCOPE = _ADVISORY_KEY + 3  # an approval and the call that spends it
KEEPER_SCOPE = _ADVISORY_KEY + 4  # the overdue keeper's passes
_PROCESS_SCOPE = _ADVISORY_KEY + 5  # a process alive (ProcessIdentity)
#: How long one wait for an advisory lock lasts before stopping is looked at again. Each
#: new wait queues behind later arrivals, so not much shorter than a transaction's turn.
_LOCK_WAIT_MS = 2000


class WriterLock:
    """Held while the indexer writes; use as a context manager."""

    role = "indexer"
    doing = "is writing to"
    advisory_key = _ADVISORY_KEY
    error: type[LedgerError] = IndexerLockedError

    def __init__(self, engine: Engine, chain_id: int) -> None:
        self.engine = engine
        self.chain_id = chain_id
        self._conn: Connection | None = None
        self._file: IO[str] | None = None

    def acquire(self) -> Self:
        """Take the lock or raise IndexerLockedError naming what holds it."""
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:a, :b)"),
                {"a": self.advisory_key, "b": self.chain_id % 2**31},
            ).scalar_one()
            conn.commit()
            if not got:
                conn.close()
                raise self.error(
                    f"another {self.role} {self.doing} {self.engine.url.render_as_string()} "
                    f"(PostgreSQL advisory lock {self.advisory_key}/{self.chain_id} is held); "
                    "this one exits"
                )
            self._conn = conn
            return self
        return self._acquire_file()

    def acquire_shared(self) -> Self:
        """Take the lock shared with other holders of it shared (PostgreSQL only: API
        replicas); raises the role's error while a process holds it exclusively."""
        if self.engine.dialect.name != "postgresql":
            raise self.error(
                f"several {self.role}s need PostgreSQL; {self.engine.url.render_as_string()} "
                "is SQLite, which one process serves (use `ledger-app run`)"
            )
        conn = self.engine.connect()
        got = conn.execute(
            text("SELECT pg_try_advisory_lock_shared(:a, :b)"),
            {"a": self.advisory_key, "b": self.chain_id % 2**31},
        ).scalar_one()
        conn.commit()
        if not got:
            conn.close()
            raise self.error(
                f"a single {self.role} (`ledger-app run`) {self.doing} "
                f"{self.engine.url.render_as_string()}; replicas do not start beside it"
            )
        self._conn = conn
        return self

    def wait(self, poll: float, stopping: threading.Event | None = None) -> Self:
        """Take the lock, waiting as standby while another process holds it (polled every
        ``poll`` s; its holder dying releases it with its connection)."""
        announced = False
        while True:
            try:
                return self.acquire()
            except LedgerError as exc:
                if not announced:
                    log.warning("standby: %s; waiting for it to be released", exc)
                    announced = True
            if stopping is not None and stopping.wait(poll):
                raise KeyboardInterrupt
            if stopping is None:
                time.sleep(poll)

    def _acquire_file(self) -> Self:
        path = self._lock_path()
        if path is None:  # in-memory SQLite: private to this process anyway
            return self
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise self.error(
                f"another {self.role} (pid {holder}) {self.doing} "
                f"{path.with_suffix('').with_suffix('')}; this one exits"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def ensure(self) -> None:
        """Hold the lock still, or again: a PostgreSQL restart ends the session that held
        it. OperationalError while the database is away; IndexerLockedError if another
        indexer took the lock meanwhile."""
        if self.engine.dialect.name != "postgresql":
            return  # SQLite: the flock lives as long as this process
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return
            except OperationalError:
                self._conn.close()  # the session (and the advisory lock with it) is gone
                self._conn = None
        self.acquire()

    def release(self) -> None:
        """Let the next writer in."""
        if self._conn is not None:
            # Unlocked first: the server ends a closed session's backend (and frees its
            # locks) a moment after the client hangs up, so a lock taken again at once
            # could still find it held (tests/replicas/test_roles.py did, under load).
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                self._conn.commit()
            # Closed, not handed back to the pool: a pooled session keeps the lock until
            # the engine is disposed (tests/replicas/test_roles.py found a released lock
            # still held).
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _lock_path(self) -> Path | None:
        database = self.engine.url.database
        if not database or database == ":memory:":
            return None
        return Path(f"{database}.{self.role}.lock")

    def __enter__(self) -> Self:
        if self._conn is not None or self._file is not None:
            return self  # taken already (``wait``)
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class SenderLock(WriterLock):
    """Held by the one process that sends the custodial accounts' transactions."""

    role = "sender"
    doing = "sends the custodial accounts' transactions of"
    advisory_key = _ADVISORY_KEY + 1
    error = SenderLockedError


class KeeperLock(WriterLock):
    """Held by the one overdue keeper at work (``ledger-app keeper``)."""

    role = "keeper"
    doing = "keeps"
    advisory_key = KEEPER_SCOPE


def _name_key(name: str) -> int:
    """A name as the second key of an advisory lock (a signed 32-bit integer). Two names
    with one key only wait for each other, never run together."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)


class NamedLocks:
    """Locks by (scope, name) across the processes of one database (see the module doc)."""

    def __init__(self, engine: Engine) -> None:
        self.shared = engine.dialect.name == "postgresql"
        # Connections of their own: one is held while its lock is, and a sender waiting
        # for an account must not take one the requests need.
        self._engine = (
            create_engine(engine.url, pool_size=2, max_overflow=-1, pool_pre_ping=True)
            if self.shared
            else None
        )
        self._local: dict[tuple[int, str], threading.Lock] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def hold(
        self, scope: int, name: str, stopping: threading.Event | None = None
    ) -> Iterator[None]:
        """Hold the lock (scope, name) for the block; waits for it. ``stopping`` set while
        waiting: raises InterruptedError."""
        with self._guard:
            local = self._local.setdefault((scope, name.lower()), threading.Lock())
        # The process's own threads queue here first: one database session per name.
        while not local.acquire(timeout=_LOCK_WAIT_MS / 1000):
            if stopping is not None and stopping.is_set():
                raise InterruptedError(f"stopped while waiting for the lock on {name}")
        try:
            if self._engine is None:
                yield
                return
            with self._engine.connect() as conn:
                self._lock(conn, scope, name, stopping)
                try:
                    yield
                finally:
                    try:
                        conn.execute(
                            text("SELECT pg_advisory_unlock(:a, :b)"),
                            {"a": scope, "b": _name_key(name.lower())},
                        )
                        conn.commit()
                    except DBAPIError:
                        # Not unlocked: the connection is dropped, and its session (the
                        # lock with it) ends with it.
                        conn.invalidate()
        finally:
            local.release()

    def _lock(
        self, conn: Connection, scope: int, name: str, stopping: threading.Event | None
    ) -> None:
        key = _name_key(name.lower())
        while True:
            try:
                conn.execute(text(f"SET LOCAL lock_timeout = {_LOCK_WAIT_MS}"))
                conn.execute(text("SELECT pg_advisory_lock(:a, :b)"), {"a": scope, "b": key})
                conn.commit()  # a session lock: it outlives the transaction
                return
            except OperationalError as exc:
                conn.rollback()
                if "lock timeout" not in str(exc).lower():
                    raise
            if stopping is not None and stopping.is_set():
                raise InterruptedError(f"stopped while waiting for the lock on {name}")

    def dispose(self) -> None:
        """Close the lock connections (their locks end with them)."""
        if self._engine is not None:
            self._engine.dispose()


class ProcessIdentity:
    """This process's instance id, and whether the process that wrote an ``owner`` is
    still there (see the module doc)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.id = str(secrets.randbelow(2**31 - 1) + 1)
        self._conn: Connection | None = None
        self._seen: dict[str, tuple[float, bool]] = {}
        if engine.dialect.name == "postgresql":
            self._conn = engine.connect()
            self._conn.execute(text("SELECT pg_advisory_lock(:a, :b)"),
                               {"a": _PROCESS_SCOPE, "b": int(self.id)})  # fmt: skip
            self._conn.commit()

    def alive(self, owner: str | None, cache: float = 0.0) -> bool:
        """Whether the process ``owner`` still runs: this one; on PostgreSQL also another
        one holding its liveness lock. None (a row from before owners were kept): no."""
        if owner is None:
            return False
        if owner == self.id:
            return True
        if self._conn is None or not owner.isdigit():
            return False  # SQLite: one process serves the database
        now = time.monotonic()
        seen = self._seen.get(owner)
        if seen is not None and now - seen[0] < cache:
            return seen[1]
        with self.engine.connect() as conn:
            held = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = :a AND objid = :b AND objsubid = 2"
                ),
                {"a": _PROCESS_SCOPE, "b": int(owner)},
            ).scalar_one()
        self._seen[owner] = (now, bool(held))
        return bool(held)

    def ensure(self) -> None:
        """Hold the liveness lock still (a PostgreSQL restart ends the session)."""
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except OperationalError:
            self._conn.invalidate()
            self._conn = self.engine.connect()
            self._conn.execute(text("SELECT pg_advisory_lock(:a, :b)"),
                               {"a": _PROCESS_SCOPE, "b": int(self.id)})  # fmt: skip
            self._conn.commit()

    def release(self) -> None:
        """This process stops: its rows become another's to settle."""
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                # Unlocked first: the backend of a closed session lingers a moment.
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                self._conn.commit()
                self._conn.invalidate()  # the session ends, and the lock with it
                self._conn.close()
            self._conn = None


#: (scope, name) -> a context manager holding that lock; see NamedLocks.hold.
HoldLock = Callable[..., contextlib.AbstractContextManager[None]]
