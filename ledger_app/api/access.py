"""The outermost middleware: authenticate the caller, hold it to its rates, log the access,
count the request.

Pure ASGI (no BaseHTTPMiddleware), so streaming and background work are not
disturbed. The caller found from ``X-API-Key`` (or ``Authorization: Bearer``)
is put in the request state for the ``Actor`` dependency and the idempotency
middleware; whether the request is then allowed is decided there. Keys are checked in
worker threads, a few at once, in turns by key (``throttle.TurnsByKey``). Before that,
the rates of ledger_app/api/throttle.py: an address over its failed-authentication
limit is refused before its key is looked at; a request without a key counts
against its address, one with a valid key against the key; over a rate: 429 with
``Retry-After``.

Every request of an authenticated caller, allowed or not, gets one append-only
``access_log`` row: who, from where, method, path, operation, status, when, how
long; so does every request without a valid key while its address is under its
rates. Past them, the refusals of an address are counted and written as one summary
row per address and kind every ``access_log_summary_interval`` seconds
(``RefusedRequests``): a flood cannot fill the database, and the log still shows it.

The rows are written off the request path (``AccessLogWriter``): kept in memory and
written together every ``access_log_flush_interval`` seconds by one thread. A row
written per request was a write transaction per read: it waited for SQLite's one writer
lock (held by the indexer's and the journal's transactions) up to the busy timeout,
holding a worker thread and a pooled connection meanwhile, so that under another
tenant's burst of writes the reads queued behind their own log rows (issue 17), and a
row that waited longer than the timeout was lost. Now a locked database delays the rows,
which are kept and written at the next try.

A crash loses no row of an answered request (issue 24): each row is appended to a local
file (``AccessJournal``, under ``state_dir/access-log``) before the answer's first byte
is sent: one ``write`` to the kernel, no fsync (a process killed at any point loses
nothing; a power cut may lose the last rows, as SQLite's synchronous=NORMAL may lose its
last commits). A file is deleted once its rows are committed. At the next start, the
files a dead process left are taken over (a live process holds a lock on its own) and
their rows written ahead of new ones, those already in the database (the process died
between the commit and the delete) skipped.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, select
from sqlalchemy.exc import OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger_app import metrics
from ledger_app.api.auth import presented_key_id
from ledger_app.api.errors import database_unavailable, refusal_response
from ledger_app.api.identity import Caller, authenticate
from ledger_app.api.throttle import (
    AUTH_FAILURES,
    UNAUTHENTICATED,
    RateLimits,
    RefusedRequests,
    TurnsByKey,
    client_address,
)
from ledger_app.db.access_chain import append_access_rows
from ledger_app.db.api_tables import access_log
from ledger_app.errors import RateLimited, ServiceStopping
from ledger_app.settings import Settings

log = logging.getLogger(__name__)
#: On every answer to a participant with a pending key recovery: ``<id>; completable-at=<time>``.
RECOVERY_HEADER = b"x-ledger-key-recovery"


def presented_key(scope: Scope) -> str | None:
    """The API key in the request's headers, if any."""
    headers = dict(scope.get("headers") or [])
    key = headers.get(b"x-api-key")
    if key:
        return key.decode("latin-1").strip()
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


class AccessMiddleware:
    """Authenticates every HTTP request, holds it to its rates, then logs and counts it."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        refused: RefusedRequests,
        access_log: AccessLogWriter,
    ) -> None:
        self.app = app
        self.rates = RateLimits(settings)
        self.refused = refused
        self.access_log = access_log
        self.authentications = TurnsByKey(settings.authentications_at_once)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        engine = scope["app"].state.engine
        started = time.monotonic()
        address = client_address(scope)
        key = presented_key(scope)
        caller: Caller | None = None
        if key is not None:
            # A guesser over its limit learns nothing more, not even of a right guess.
            refused = self.rates.guessing(address)
            if refused is not None:
                await self._refuse_unlogged(scope, receive, send, refused, address, AUTH_FAILURES)
                return
            try:
                # In turns by the key's id: one tenant's burst does not queue the others.
                turn = presented_key_id(key) or key[:128]
                caller = await self.authentications.run(turn, authenticate, engine, key)
            except OperationalError:
                # The database is locked or away: no caller can be known; a clear 503
                # (try again) rather than an unhandled 500.
                await database_unavailable()(scope, receive, send)
                return
            if caller is None:
                refused = self.rates.failed(address)
                if refused is not None:
                    await self._refuse_unlogged(scope, receive, send, refused, address,
                                                AUTH_FAILURES)  # fmt: skip
                    return
        else:
            refused = self.rates.anonymous(address)
            if refused is not None:
                await self._refuse_unlogged(scope, receive, send, refused, address,
                                            UNAUTHENTICATED)  # fmt: skip
                return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["caller"] = caller
        state["key_presented"] = key is not None
        status = {"code": 500}
        logged = {"row": False}

        def log_access() -> None:
            # Once a request: at its answer's start (journaled before the client sees a
            # byte of it), or at the end for a request that raised before answering.
            if logged["row"]:
                return
            logged["row"] = True
            self.access_log.add(
                participant=caller.key if caller else None,
                api_key_id=caller.api_key_id if caller else None,
                method=scope["method"][:8],
                path=scope["path"][:512],
                operation=state.get("operation"),
                status=status["code"],
                duration_ms=int((time.monotonic() - started) * 1000),
                client=address[:64],
            )

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": _hardened(scope["path"], message, caller)}
                log_access()
            await send(message)

        # An authenticated caller over its key's rate is refused, and logged like any call.
        over = self.rates.keyed(caller.api_key_id) if caller is not None else None
        try:
            if over is not None:
                await refusal_response(over, caller.address if caller else None)(
                    scope, receive, send_and_note
                )
            else:
                await self.app(scope, receive, send_and_note)
        except asyncio.CancelledError:
            # Cut short by a shutdown (uvicorn cancels what outlives its grace period):
            # answered in the API's words, not as a server error. A write's thread may
            # still finish it; its Idempotency-Key is answered from the journal.
            if logged["row"]:
                raise  # the answer had started: nothing more can be said
            stopping = ServiceStopping(
                "the service stopped before this request was answered; if it was a write, "
                "retry it with the same Idempotency-Key to learn its outcome"
            )
            await refusal_response(stopping)(scope, receive, send_and_note)
        finally:
            seconds = time.monotonic() - started
            metrics.observe_request(scope["method"], state.get("operation"), status["code"],
                                    seconds)  # fmt: skip
            log_access()

    async def _refuse_unlogged(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        refused: RateLimited,
        address: str,
        kind: str,
    ) -> None:
        """429 for a request without a valid key over its address's rate: counted for the
        access log's summary row, not logged on its own (counted in /metrics as ``kind``)."""
        self.refused.count(address, kind)
        metrics.observe_request(scope["method"], kind, 429, 0.0)

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _hardened(scope["path"], message, None)}
            await send(message)

        await refusal_response(refused)(scope, receive, send_hardened)


def _hardened(path: str, start: Message, caller: Caller | None) -> list[tuple[bytes, bytes]]:
    """The answer's headers, with ``nosniff`` on every answer and ``no-store`` on every
    API answer (each is one caller's view, and some carry a key shown once); and, to a
    participant whose key the operator asked to recover, the notice of that request."""
    headers = list(start.get("headers", []))
    names = {name.lower() for name, _ in headers}
    if b"x-content-type-options" not in names:
        headers.append((b"x-content-type-options", b"nosniff"))
    if path.startswith("/v1/") and b"cache-control" not in names:
        headers.append((b"cache-control", b"no-store"))
    if caller is not None and caller.pending_recovery is not None:
        recovery_id, due = caller.pending_recovery
        notice = f"{recovery_id}; completable-at={due.isoformat()}"
        headers.append((RECOVERY_HEADER, notice.encode("latin-1")))
    return headers


def access_log_query(
    *,
    participant: str | None = None,
    operation: str | None = None,
    status: int | None = None,
    path_prefix: str | None = None,
    client: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    before: int | None = None,
    limit: int = 100,
) -> Select:
    """The access log's rows matching every filter given, newest first (at most ``limit``)."""
    t = access_log
    query = select(t).order_by(t.c.id.desc()).limit(limit)
    if participant:
        query = query.where(t.c.participant == participant.lower())
    if operation:
        query = query.where(t.c.operation == operation)
    if status is not None:
        query = query.where(t.c.status == status)
    if path_prefix:
        # autoescape: "%" and "_" in the prefix are characters of a path, not wildcards
        # (and with an explicit ESCAPE, PostgreSQL's default escape, a backslash, is plain too).
        query = query.where(t.c.path.startswith(path_prefix, autoescape=True))
    if client:
        query = query.where(t.c.client == client)
    if start:
        query = query.where(t.c.at >= start)
    if end:
        query = query.where(t.c.at < end)
    if before is not None:
        query = query.where(t.c.id < before)
    return query


class AccessLogWriter:
    """Writes the access log's rows in batches, from a thread of its own (see the module
    docstring): ``add`` only appends to a list, so no request waits for the database."""

    #: Rows kept while the database cannot take them; past it the oldest are dropped (and
    #: counted, loudly): a database away for long must not take the process's memory too.
    MAX_PENDING = 100_000

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.engine: Engine | None = None
        self.journal: AccessJournal | None = None
        self.dropped = 0
        self._pending: list[dict[str, Any]] = []
        # Rows of the files dead processes left, written ahead of ours (see the module doc).
        self._adopted: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _pending (held for an append or a swap)
        self._writing = threading.Lock()  # one batch at a time: ids follow arrival order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, **row: Any) -> None:
        """One request's row, stamped now, written at the next flush."""
        row["at"] = datetime.now(UTC)
        with self._lock:
            if self.journal is not None:
                self.journal.append(row)  # in the file in the order of the list
            self._pending.append(row)
            excess = len(self._pending) - self.MAX_PENDING
            if excess > 0:
                del self._pending[:excess]
                self.dropped += excess
        if excess > 0:
            log.error("access log: %d rows dropped, the database has not taken them", excess)

    def start(self, engine: Engine, journal_dir: Path | None = None) -> None:
        """Write the rows into ``engine``'s access log every ``interval`` seconds; with
        ``journal_dir``, each row is first appended to a file there (see the module doc),
        and the rows of files a dead process left there are written first."""
        self.engine = engine
        if journal_dir is not None:
            self.journal = AccessJournal(journal_dir)
            self._adopted = self.journal.adopt()
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def flush(self) -> int:
        """Write every row added so far, in one transaction; how many. Rows the database
        refuses (locked or away) are kept, ahead of newer ones, for the next flush."""
        with self._writing:
            if self.engine is None:
                return 0
            with self._lock:
                rows, self._pending = self._pending, []
                # The rows from here on go to a new file: the ones so far are these.
                files = self.journal.rotate() if self.journal is not None else []
            adopted = self._adopted
            if not rows and not adopted:
                self._forget(files)
                return 0
            try:
                with self.engine.begin() as conn:
                    if adopted:
                        # Under the chain's head lock: no other process appends meanwhile.
                        append_access_rows(conn, [])
                        adopted = _not_yet_written(conn, adopted)
                    append_access_rows(conn, adopted + rows)
            except Exception:
                log.warning("access log: %d rows not written yet; retrying", len(rows),
                            exc_info=True)  # fmt: skip
                with self._lock:
                    self._pending[:0] = rows
                    if self.journal is not None:
                        self.journal.keep(files)  # deleted once their rows are written
                return 0
            if self._adopted and self.journal is not None:
                self.journal.forget_adopted()
            self._adopted = []
            self._forget(files)
            return len(adopted) + len(rows)

    def _forget(self, files: list[Path]) -> None:
        if self.journal is not None:
            self.journal.delete(files)

    def close(self) -> None:
        """Stop, writing what is left (a last try: the process is going away; rows it
        cannot write stay in their file for the next start)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.flush() == 0 and self._pending:
            log.error("access log: %d rows could not be written at shutdown; kept in %s",
                      len(self._pending), self.journal.directory if self.journal else "memory")  # fmt: skip
        if self.journal is not None:
            with self._lock:  # no append meets a closed file (or its number reused since)
                self.journal.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()


#: The columns that tell one request's row from another's (``at`` to the microsecond).
_ROW_KEY = ("at", "participant", "method", "path", "status", "duration_ms", "client")


def _row_key(row: Any) -> tuple[Any, ...]:
    values = dict(row)
    at = values["at"]
    if at.tzinfo is not None:  # PostgreSQL answers aware datetimes, SQLite naive UTC ones
        at = at.astimezone(UTC).replace(tzinfo=None)
    return (at, *(values[name] for name in _ROW_KEY[1:]))


def _not_yet_written(conn: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those of a dead process's ``rows`` the database does not hold yet: it may have died
    after committing them and before deleting their file."""
    since = min(row["at"] for row in rows)
    columns = [access_log.c[name] for name in _ROW_KEY]
    held = {
        _row_key(r._mapping) for r in conn.execute(select(*columns).where(access_log.c.at >= since))
    }
    return [row for row in rows if _row_key(row) not in held]


class AccessJournal:
    """The local files the access log's rows are appended to before their request is
    answered (see the module docstring). One process: a lock file held for its lifetime
    (``flock``: released by the kernel when the process dies, however it dies) and
    numbered segment files, a new one from each flush on, deleted once its rows are in
    the database."""

    SUFFIX = ".rows"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.name = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._lock_fd = os.open(directory / f"{self.name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        # Blocking: a process starting now may hold it for a moment, looking for orphans.
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._segment = 0
        self._kept: list[Path] = []  # segments whose rows are not written yet
        self._adopted: list[Path] = []  # a dead process's files whose rows are being written
        self._fd: int | None = self._open()

    def append(self, row: dict[str, Any]) -> None:
        """``row`` at the end of the current segment (one write: whole, or torn at a crash).
        Once closed (a request cut short at a shutdown), in a segment of its own, for the
        next start to take over."""
        line = json.dumps({**row, "at": row["at"].isoformat()}, separators=(",", ":")) + "\n"
        if self._fd is not None:
            os.write(self._fd, line.encode())
            return
        self._segment += 1
        late = os.open(self._path(self._segment), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        try:
            os.write(late, line.encode())
        finally:
            os.close(late)
        (self.directory / f"{self.name}.lock").touch()  # what a start looks for

    def rotate(self) -> list[Path]:
        """Start a new segment; the segments whose rows are pending until now."""
        if self._fd is not None:
            os.close(self._fd)
        done = [*self._kept, self._path(self._segment)]
        self._kept = []
        self._segment += 1
        self._fd = self._open()
        return done

    def keep(self, files: list[Path]) -> None:
        """``files``' rows were not written: keep them until they are."""
        self._kept[:0] = files

    def delete(self, files: list[Path]) -> None:
        """``files``' rows are in the database."""
        for path in files:
            path.unlink(missing_ok=True)

    def adopt(self) -> list[dict[str, Any]]:
        """The rows of the files dead processes left here, oldest process first; their
        files are deleted by ``forget_adopted`` once the rows are written."""
        rows: list[dict[str, Any]] = []
        for lock in sorted(self.directory.glob("*.lock"), key=lambda p: p.stat().st_mtime):
            if lock.stem == self.name:
                continue
            fd = os.open(lock, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # its process lives
            segments = sorted(self.directory.glob(f"{lock.stem}.*{self.SUFFIX}"),
                              key=lambda p: int(p.name.split(".")[1]))  # fmt: skip
            if not segments:  # nothing to take over (or a process still starting)
                os.close(fd)
                continue
            for segment in segments:
                rows += _read_rows(segment)
            self._adopted += [*segments, lock]
            os.close(fd)  # the lock file is deleted with the rows written
        if rows:
            log.warning("access log: %d rows of a stopped process taken over", len(rows))
        return rows

    def forget_adopted(self) -> None:
        """The adopted files' rows are in the database."""
        self.delete(self._adopted)
        self._adopted = []

    def close(self) -> None:
        """Close the current segment (deleted when empty) and release the lock: rows not
        written stay, for the next start to take over."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        current = self._path(self._segment)
        if not self._kept and current.exists() and current.stat().st_size == 0:
            current.unlink()
            if not any(self.directory.glob(f"{self.name}.*{self.SUFFIX}")):
                (self.directory / f"{self.name}.lock").unlink(missing_ok=True)
        os.close(self._lock_fd)

    def _path(self, segment: int) -> Path:
        return self.directory / f"{self.name}.{segment}{self.SUFFIX}"

    def _open(self) -> int:
        return os.open(self._path(self._segment), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of one segment file; a last line torn by a crash is skipped (its request
    was not answered: the line is written before the answer starts)."""
    rows = []
    for line in path.read_bytes().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        row["at"] = datetime.fromisoformat(row["at"])
        rows.append(row)
    return rows
