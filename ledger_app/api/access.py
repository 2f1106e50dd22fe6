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
which are kept and written at the next try; a crash loses at most the last interval's.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
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
from ledger_app.errors import RateLimited
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

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": _hardened(scope["path"], message, caller)}
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
        finally:
            operation = state.get("operation")
            seconds = time.monotonic() - started
            duration_ms = int(seconds * 1000)
            metrics.observe_request(scope["method"], operation, status["code"], seconds)
            self.access_log.add(
                participant=caller.key if caller else None,
                api_key_id=caller.api_key_id if caller else None,
                method=scope["method"][:8],
                path=scope["path"][:512],
                operation=operation,
                status=status["code"],
                duration_ms=duration_ms,
                client=address[:64],
            )

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
        self.dropped = 0
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _pending (held for an append or a swap)
        self._writing = threading.Lock()  # one batch at a time: ids follow arrival order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, **row: Any) -> None:
        """One request's row, stamped now, written at the next flush."""
        row["at"] = datetime.now(UTC)
        with self._lock:
            self._pending.append(row)
            excess = len(self._pending) - self.MAX_PENDING
            if excess > 0:
                del self._pending[:excess]
                self.dropped += excess
        if excess > 0:
            log.error("access log: %d rows dropped, the database has not taken them", excess)

    def start(self, engine: Engine) -> None:
        """Write the rows into ``engine``'s access log every ``interval`` seconds."""
        self.engine = engine
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
            if not rows:
                return 0
            try:
                with self.engine.begin() as conn:
                    append_access_rows(conn, rows)
            except Exception:
                log.warning("access log: %d rows not written yet; retrying", len(rows),
                            exc_info=True)  # fmt: skip
                with self._lock:
                    self._pending[:0] = rows
                return 0
            return len(rows)

    def close(self) -> None:
        """Stop, writing what is left (a last try: the process is going away)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.flush() == 0 and self._pending:
            log.error("access log: %d rows could not be written at shutdown", len(self._pending))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
