"""The nodes the service may talk to (``LEDGER_RPC_URLS``): one in use, the others on
standby; health checks and failover.

A ``NodeSet`` holds the URLs in the operator's order of preference and the one in use.
The transport (chain/transport.py) sends every request to the node in use; when that
node gives no answer (refused, reset, timed out, HTTP 429/5xx: a TransientError), the
transport calls ``failed`` and the set moves to the next node, where the request is sent
again. That is safe for every request the service makes: reads are reads, and a write
is a signed transaction whose bytes, hash and nonce are fixed, so the same bytes reach
the other node and can be mined at most once.

With several URLs a daemon thread probes every node each ``check_interval`` seconds
(``eth_chainId`` and ``eth_blockNumber``, ``probe_timeout`` each). A node is healthy
when it answers, is on the configured chain id, and its head is at most ``max_lag``
blocks behind the best head seen among the nodes on that chain. The node in use stays
while it is healthy (no flapping back to the first URL); an unhealthy one is left for
the first healthy node in the operator's order. When every node is unhealthy the set
stays where it is: the callers' own retries and timeouts then decide.

Listeners (``on_switch``) learn of each move: the service's sender has the
transactions it is waiting for looked up on the new node at once (and sent again,
same bytes, when that node does not know them), and its journal keeper settles what
the new node lacks (chain/sender.py, api/services/journal.py).

One process shares one set per list of URLs (``NodeSet.shared``), so its sender, its
indexer and its reads are on the same node.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import requests

from ledger_app.errors import ConfigurationError

if TYPE_CHECKING:
    from ledger_app.settings import Settings

log = logging.getLogger(__name__)

#: Called with (node left, node now in use, why) after each move.
SwitchListener = Callable[[str, str, str], None]


@dataclass
class NodeHealth:
    """What the last probe of one node found."""

    url: str
    chain_id: int | None = None
    head: int | None = None
    error: str | None = None  # why it is not usable; None after a good answer
    checked_at: float = float("-inf")


@dataclass(frozen=True)
class Switch:
    """One move from a node to another."""

    at: float  # time.monotonic()
    left: str
    to: str
    why: str


class NodeSet:
    """The node URLs, the one in use, and the moves between them (see the module doc)."""

    _shared: ClassVar[dict[tuple[object, ...], NodeSet]] = {}
    _shared_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        urls: Sequence[str],
        *,
        chain_id: int | None = None,
        max_lag: int = 8,
        check_interval: float = 2.0,
        probe_timeout: float = 2.0,
    ) -> None:
        urls = [u.strip() for u in urls if u.strip()]
        if not urls:
            raise ConfigurationError("no JSON-RPC URL: set LEDGER_RPC_URL or LEDGER_RPC_URLS")
        if len(set(urls)) != len(urls):
            raise ConfigurationError(f"LEDGER_RPC_URLS names a node twice: {', '.join(urls)}")
        self.urls = tuple(urls)
        self.chain_id = chain_id
        self.max_lag = max_lag
        self.check_interval = check_interval
        self.probe_timeout = probe_timeout
        self.health = {url: NodeHealth(url) for url in self.urls}
        self.switches: list[Switch] = []
        self._current = self.urls[0]
        self._lock = threading.Lock()
        self._listeners: list[SwitchListener] = []
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def shared(cls, urls: Sequence[str], **options: object) -> NodeSet:
        """The process's one set for ``urls`` (and options), made on first use."""
        key = (tuple(urls), *sorted(options.items()))
        with cls._shared_guard:
            nodes = cls._shared.get(key)
            if nodes is None or nodes._halt.is_set():
                nodes = cls._shared[key] = cls(urls, **options)  # type: ignore[arg-type]
            return nodes

    @classmethod
    def from_settings(cls, settings: Settings) -> NodeSet:
        """The process's set for ``settings``' URLs, chain id and health settings."""
        return cls.shared(
            settings.rpc_endpoints,
            chain_id=settings.chain_id,
            max_lag=settings.rpc_max_lag,
            check_interval=settings.rpc_check_interval,
            probe_timeout=min(settings.rpc_timeout, settings.rpc_check_interval),
        )

    # --- in use ---------------------------------------------------------------------

    @property
    def current(self) -> str:
        """The URL requests go to now."""
        return self._current

    @property
    def several(self) -> bool:
        """Whether there is anywhere to fail over to."""
        return len(self.urls) > 1

    def on_switch(self, listener: SwitchListener) -> None:
        """Have ``listener(left, to, why)`` called after every move."""
        with self._lock:
            self._listeners.append(listener)

    def off_switch(self, listener: SwitchListener) -> None:
        """Forget a listener (its owner is closing; the set outlives it in the process)."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def failed(self, url: str, why: str) -> str | None:
        """A request to ``url`` got no answer: move to the next node. The node now in use
        (another thread may have moved already), or None when there is no other node."""
        if not self.several:
            return None
        with self._lock:
            if url != self._current:
                return self._current
            state = self.health[url]
            state.error, state.checked_at = why, time.monotonic()
            target = self._next_after(url)
        if target is None:
            return None
        self._move(url, target, f"no answer from {url}: {why}")
        return target

    # --- health -----------------------------------------------------------------------

    def start(self) -> NodeSet:
        """Start the health checks (a daemon thread; nothing to do with one URL)."""
        with self._lock:
            if not self.several or self._thread is not None:
                return self
            self._thread = threading.Thread(target=self._watch, name="rpc-health", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the health checks."""
        self._halt.set()

    def check(self) -> None:
        """Probe every node now; leave the node in use if it is unhealthy."""
        for url in self.urls:
            self._probe(url)
        with self._lock:
            healthy = self._healthy()
            current = self._current
            if current in healthy or not healthy:
                return
            target = healthy[0]
            why = self.health[current].error or self._lag_reason(current)
        self._move(current, target, f"{current} is unhealthy: {why}")

    def describe(self) -> list[dict[str, object]]:
        """Each node's last probe and whether it is in use (for /health)."""
        with self._lock:
            healthy = set(self._healthy())
            return [
                {
                    "url": url,
                    "in_use": url == self._current,
                    "healthy": url in healthy,
                    "head": state.head,
                    "error": state.error,
                }
                for url, state in self.health.items()
            ]

    # --- internals ----------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._halt.is_set():
            try:
                self.check()
            except Exception:  # a probe must never end the watch
                log.exception("node health check failed")
            self._halt.wait(self.check_interval)

    def _probe(self, url: str) -> None:
        state = self.health[url]
        try:
            chain_id, head = _ask(url, self.probe_timeout)
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            error: str | None = f"no answer ({type(exc).__name__})"
            chain_id, head = state.chain_id, state.head
        else:
            error = None
            if self.chain_id is not None and chain_id != self.chain_id:
                error = f"chain id {chain_id}, not the configured {self.chain_id}"
        with self._lock:
            state.chain_id, state.head, state.error = chain_id, head, error
            state.checked_at = time.monotonic()

    def _best_head(self) -> int | None:
        heads = [s.head for s in self.health.values() if s.error is None and s.head is not None]
        return max(heads) if heads else None

    def _lag_reason(self, url: str) -> str:
        head, best = self.health[url].head, self._best_head()
        return f"head {head}, {best} on the best node (more than {self.max_lag} behind)"

    def _healthy(self) -> list[str]:
        best = self._best_head()
        return [
            url
            for url, s in self.health.items()
            if s.error is None and s.head is not None and best is not None
            and s.head >= best - self.max_lag
        ]  # fmt: skip

    def _next_after(self, url: str) -> str | None:
        # The first healthy node after the failed one in the operator's order; else the
        # first not found dead within the last check interval (never probed, or not
        # since); else none: with every node down, requests do not bounce between them.
        healthy = set(self._healthy())
        index = self.urls.index(url)
        ring = [*self.urls[index + 1 :], *self.urls[:index]]
        recent = time.monotonic() - self.check_interval
        return next(
            (u for u in ring if u in healthy),
            next((u for u in ring if not (self.health[u].error and
                                          self.health[u].checked_at > recent)), None),
        )  # fmt: skip

    def _move(self, left: str, to: str, why: str) -> None:
        with self._lock:
            if self._current != left or to == left:
                return
            self._current = to
            self.switches.append(Switch(time.monotonic(), left, to, why))
            listeners = list(self._listeners)
        log.warning("JSON-RPC node %s -> %s (%s)", left, to, why)
        for listener in listeners:
            try:
                listener(left, to, why)
            except Exception:
                log.exception("a listener of the node switch failed")


def _ask(url: str, timeout: float) -> tuple[int, int]:
    payload = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
    ]
    response = requests.post(
        url, data=json.dumps(payload), headers={"Content-Type": "application/json"},
        timeout=timeout,
    )  # fmt: skip
    response.raise_for_status()
    by_id = {a["id"]: a["result"] for a in response.json()}
    return int(by_id[1], 16), int(by_id[2], 16)
