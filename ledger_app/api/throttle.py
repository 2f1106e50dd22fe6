"""Quotas on callers: request rates, writes in flight, and the access log's share of a flood.

Rates (``limits``, moving windows, counted in this process's memory):

- per API key: an authenticated caller's requests (``rate_limit_per_key``);
- per client address, requests without a key (``rate_limit_per_address``);
- per client address, failed authentications (``auth_failure_limit``, tighter): an
  address over it is answered 429 for every request that presents a key, *before*
  the key is looked at, so that guessing on learns nothing, not even a right guess.

Writes in flight (``WriteGate``): a write holds a worker thread for as long as it waits
for its sender's queue, the chain and the index. One participant's burst used to hold
every thread of the pool, and other tenants' reads queued behind it. A participant
may have ``writes_in_flight_per_participant`` writes under way, and all participants
together ``writes_in_flight`` (fewer than the worker threads, so reads always find
one); a write over either is answered 429 at once, without taking a thread.

Authentications in turns (``TurnsByKey``): the caller is known only once its key is
checked, in a worker thread, for every request, a burst's 429s included. A hundred
requests of one tenant at once were a hundred threads checking keys together, fighting
for the one interpreter, and another tenant's read waited behind all of them, at each of
its own hops to a thread (issue 17: 5 ms became 0.5 s). So at most
``authentications_at_once`` keys are checked at a time, and waiting requests take turns
by the key id they present (its public part, before it is checked): one request of each
waiting key in turn, so another tenant's request waits for at most one turn per key,
not for the burst.

Refused floods (``RefusedRequests``): a request without a valid key refused for its
address's rate is not logged row by row; it is counted per address and kind, and one
summary row per address and kind (``requests`` = how many) is written every
``access_log_summary_interval`` seconds. Requests under the limits, and every request
of an authenticated caller, keep their own row.

Every figure here is per process: several API replicas each count on their own.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger_app.api.errors import refusal_response
from ledger_app.db.access_chain import append_access_rows
from ledger_app.errors import RateLimited
from ledger_app.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Methods that change something: the ones the write gate counts.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Kinds of refusal summarised in the access log (its ``operation`` column).
UNAUTHENTICATED = "rate_limited.unauthenticated"
AUTH_FAILURES = "rate_limited.auth_failures"


def client_address(scope: Scope) -> str:
    """The caller's address as the server saw it (behind a proxy: see FORWARDED_ALLOW_IPS)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimits:
    """The three request rates of the module docstring, over one in-memory store."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_key = parse(settings.rate_limit_per_key)
        self.per_address = parse(settings.rate_limit_per_address)
        self.auth_failures = parse(settings.auth_failure_limit)

    def guessing(self, address: str) -> RateLimited | None:
        """The refusal for ``address`` while it is over its failed-authentication limit."""
        if self._limiter.test(self.auth_failures, "auth-failures", address):
            return None
        return self._refusal(self.auth_failures, "auth_failures", "auth-failures", address,
                             f"too many failed authentications from {address}")  # fmt: skip

    def failed(self, address: str) -> RateLimited | None:
        """Count a failed authentication from ``address``; the refusal if it is one too many."""
        if self._limiter.hit(self.auth_failures, "auth-failures", address):
            return None
        return self._refusal(self.auth_failures, "auth_failures", "auth-failures", address,
                             f"too many failed authentications from {address}")  # fmt: skip

    def anonymous(self, address: str) -> RateLimited | None:
        """Count a request without a key from ``address``; the refusal if over its rate."""
        if self._limiter.hit(self.per_address, "address", address):
            return None
        return self._refusal(self.per_address, "address", "address", address,
                             f"too many requests without an API key from {address}")  # fmt: skip

    def keyed(self, api_key_id: str) -> RateLimited | None:
        """Count a request of API key ``api_key_id``; the refusal if over its rate."""
        if self._limiter.hit(self.per_key, "key", api_key_id):
            return None
        return self._refusal(self.per_key, "key", "key", api_key_id,
                             f"too many requests with API key {api_key_id}")  # fmt: skip

    def _refusal(
        self, item: RateLimitItem, scope: str, namespace: str, who: str, message: str
    ) -> RateLimited:
        reset = self._limiter.get_window_stats(item, namespace, who).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        return RateLimited(
            f"{message}: at most {item}; retry after {retry_after} s",
            retry_after=retry_after,
            scope=scope,
            limit=str(item),
        )


class WriteGate:
    """Counts writes in flight per participant and in all (see the module docstring)."""

    def __init__(self, per_participant: int, total: int) -> None:
        self.per_participant = per_participant
        self.total = total
        self._in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()

    def enter(self, participant: str) -> RateLimited | None:
        """Take a place for one write of ``participant``; the refusal if there is none."""
        with self._lock:
            if self._in_flight[participant] >= self.per_participant:
                return RateLimited(
                    f"{participant} has {self.per_participant} writes in flight already; "
                    "wait for one to be answered",
                    error="TooManyWritesInFlight",
                    retry_after=1,
                    scope="participant",
                    limit=self.per_participant,
                )
            if sum(self._in_flight.values()) >= self.total:
                return RateLimited(
                    f"the service has {self.total} writes in flight; try again shortly",
                    error="TooManyWritesInFlight",
                    retry_after=1,
                    scope="service",
                    limit=self.total,
                )
            self._in_flight[participant] += 1
            return None

    def leave(self, participant: str) -> None:
        """Give back the place ``enter`` took."""
        with self._lock:
            self._in_flight[participant] -= 1
            if self._in_flight[participant] <= 0:
                del self._in_flight[participant]


class WriteGateMiddleware:
    """Answers 429 to a write over its participant's (or the service's) share of writes in
    flight, on the event loop: the refusal needs no worker thread."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.gate = WriteGate(settings.writes_in_flight_per_participant, settings.writes_in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = (scope.get("state") or {}).get("caller")
        if scope["type"] != "http" or caller is None or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        refused = self.gate.enter(caller.key)
        if refused is not None:
            await refusal_response(refused)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave(caller.key)


class TurnsByKey:
    """Runs blocking calls in worker threads, at most ``capacity`` at once; waiting callers
    take turns round-robin by key (see the module docstring). Used from the event loop."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.busy = 0
        # key -> its callers' events, oldest first; the key first in line is served next.
        self._queues: OrderedDict[str, deque[anyio.Event]] = OrderedDict()

    async def run(self, key: str, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in a worker thread, once it is ``key``'s turn."""
        await self._take_turn(key)
        try:
            return await anyio.to_thread.run_sync(func, *args)
        finally:
            self._pass_turn()

    def waiting(self) -> int:
        """How many callers wait for a turn."""
        return sum(len(queue) for queue in self._queues.values())

    async def _take_turn(self, key: str) -> None:
        if self.busy < self.capacity and not self._queues:
            self.busy += 1
            return
        turn = anyio.Event()
        self._queues.setdefault(key, deque()).append(turn)
        try:
            await turn.wait()  # set by _pass_turn, which handed its place to this caller
        except BaseException:
            if turn.is_set():
                self._pass_turn()  # given the turn, then cancelled: the next one has it
            else:
                self._withdraw(key, turn)
            raise

    def _pass_turn(self) -> None:
        if not self._queues:
            self.busy -= 1
            return
        key, queue = next(iter(self._queues.items()))
        turn = queue.popleft()
        if queue:
            self._queues.move_to_end(key)  # its next caller waits for the other keys' turn
        else:
            del self._queues[key]
        turn.set()  # the place passes on: busy is unchanged

    def _withdraw(self, key: str, turn: anyio.Event) -> None:
        queue = self._queues.get(key)
        if queue is not None and turn in queue:
            queue.remove(turn)
            if not queue:
                del self._queues[key]


class RefusedRequests:
    """Counts the refusals not logged row by row, and writes them as summary rows."""

    def __init__(self, engine: Engine | None = None, interval: float = 60.0) -> None:
        self.engine = engine
        self.interval = interval
        self._counts: Counter[tuple[str, str]] = Counter()  # (address, kind) -> requests
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def count(self, address: str, kind: str) -> None:
        """One more refused request of ``kind`` from ``address``."""
        with self._lock:
            self._counts[(address, kind)] += 1

    def start(self, engine: Engine) -> None:
        """Write the summary rows every ``interval`` seconds into ``engine``'s access log."""
        self.engine = engine
        self._thread = threading.Thread(target=self._run, name="access-summary", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop, writing what is counted so far."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def flush(self) -> int:
        """Write one row per (address, kind) counted since the last flush; how many rows."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts or self.engine is None:
            return 0
        now = datetime.now(UTC)
        summary = {"at": now, "method": "*", "path": "*", "status": 429, "duration_ms": 0}
        rows = [
            {**summary, "operation": kind, "client": address, "requests": requests}
            for (address, kind), requests in counts.items()
        ]
        try:
            with self.engine.begin() as conn:
                append_access_rows(conn, rows)
        except Exception:
            log.exception("could not write %d access log summary rows", len(rows))
            with self._lock:
                self._counts.update(counts)  # kept for the next flush
            return 0
        return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
