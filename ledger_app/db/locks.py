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
A second one gets SenderLockedError and must not start.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from ledger_app.errors import IndexerLockedError, LedgerError, SenderLockedError

# An arbitrary constant naming "the ledger indexer's writer" among advisory locks.
_ADVISORY_KEY = 0x1ED6E1


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
            self._conn.close()  # ends the session, and the advisory lock with it
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
