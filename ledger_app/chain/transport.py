"""The one JSON-RPC transport: HTTP, request ids, batching, retries, error translation.

Every conversation with the node goes through ``JsonRpcTransport``: the indexer's
RpcClient (chain/rpc.py) and the service's ChainClient (chain/client.py), which
the transaction sender (chain/sender.py) drives. Foreign exceptions are translated
here, once, into the ledger_app tree, and raised ``from`` the original::

    requests.ConnectionError, Timeout   -> TransientError (a ChainUnavailable)
    HTTP 429, 5xx, unreadable answer    -> TransientError
    HTTP 413                            -> RangeTooLargeError
    any other HTTP status but 200       -> RPCError
    JSON-RPC error                      -> RPCError; RangeTooLargeError for an
                                           eth_getLogs refused as too wide;
                                           TransientError for a node-side timeout
    web3's ContractLogicError           -> TransactionReverted (custom error decoded)
    web3's Web3RPCError                 -> RPCError

A transport over several nodes (a ``NodeSet``, chain/nodes.py: ``LEDGER_RPC_URLS``)
sends to the node in use; a TransientError there moves the set to the next node and the
request is sent again there, once per node, before the failure is reported (or retried).

A transport with a ``RetryPolicy`` retries TransientError with exponential backoff
and jitter (for ever unless ``give_up_after`` is set: the indexer outlives a node
that goes away, until its owner ``halt``s the policy to stop it); one without (the
service's writes) reports it at once, and the caller decides, since a write must
never be sent twice blindly.

``TransportProvider`` lets web3 (for its result formatting and revert detection)
speak through the same transport, so the session, the ids and the translation of
HTTP failures are this module's for web3 calls too.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.providers.base import JSONBaseProvider

from ledger_app.chain.abi import ABI, decode_revert
from ledger_app.chain.nodes import NodeSet
from ledger_app.errors import (
    ChainUnavailable,
    RangeTooLargeError,
    RPCError,
    TransactionReverted,
    TransientError,
)

log = logging.getLogger(__name__)

# What providers answer when a log query is too big (geth, Besu, Alchemy, Infura,
# QuickNode, Erigon, anvil...). Matched case-insensitively on the error message.
_RANGE_ERROR = re.compile(
    r"too many|range (is )?too (large|big|wide)|block range|exceed|limit|"
    r"more than \d+ (results|logs)|response size|query timeout|returned more than",
    re.IGNORECASE,
)
_RANGE_ERROR_CODES = {-32005}  # "limit exceeded" (EIP-1474)

Call = tuple[str, Sequence[Any]]


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter for TransientError; ``give_up_after`` None: never.
    ``sleep`` None waits between tries on ``halted``, which ``halt()`` sets."""

    backoff_initial: float = 0.1
    backoff_max: float = 10.0
    give_up_after: float | None = None
    sleep: Callable[[float], None] | None = field(default=None, repr=False)
    halted: threading.Event = field(default_factory=threading.Event, repr=False)

    def halt(self) -> None:
        """Stop retrying, for good: the wait between tries ends now, and a transient
        failure is raised at once (the caller is stopping: a thread retrying a node that
        is gone must not hold up a shutdown)."""
        self.halted.set()

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` before the next try; whether the policy was halted."""
        if self.sleep is None:
            return self.halted.wait(seconds)
        self.sleep(seconds)
        return self.halted.is_set()


class JsonRpcTransport:
    """JSON-RPC 2.0 over HTTP to the node in use: a persistent session per thread."""

    def __init__(
        self, url: str | NodeSet, *, timeout: float = 30.0, retry: RetryPolicy | None = None
    ):
        self.nodes = url if isinstance(url, NodeSet) else NodeSet([url])
        self.nodes.start()
        self.timeout = timeout
        self.retry = retry
        self.errors = 0  # transient failures retried (for metrics)
        self._ids = itertools.count(1)
        self._local = threading.local()  # a requests.Session is not shared across threads

    def call(self, method: str, params: Sequence[Any]) -> Any:
        """One request; its ``result``, or the translated error."""
        (result,) = self.batch([(method, params)], batched=False)
        return result

    def batch(self, calls: Sequence[Call], *, batched: bool = True) -> list[Any]:
        """Several requests in one HTTP round trip (JSON-RPC batch), results in order;
        the first JSON-RPC error among them is raised."""
        if not calls:
            return []
        return self._retrying(
            lambda: _results(calls, self._failing_over(lambda: self._exchange(calls, batched)))
        )

    def answers(self, calls: Sequence[Call], *, batched: bool = True) -> list[dict[str, Any]]:
        """The node's answers (with ``result`` or ``error``) as they are, in order: for a
        caller that reads the errors itself (web3, or a batch that falls back)."""
        if not calls:
            return []
        return self._retrying(lambda: self._failing_over(lambda: self._exchange(calls, batched)))

    @property
    def url(self) -> str:
        """The node in use."""
        return self.nodes.current

    # --- internals ------------------------------------------------------------------

    def _failing_over(self, attempt: Callable[[], Any]) -> Any:
        # Each node at most once per attempt: a failure everywhere is the caller's (or
        # the retry policy's) to handle, as with one node.
        tried: set[str] = set()
        while True:
            url = self.nodes.current
            try:
                return attempt()
            except TransientError as exc:
                tried.add(url)
                moved_to = self.nodes.failed(url, str(exc))
                if moved_to is None or moved_to in tried:
                    raise

    def _retrying(self, attempt: Callable[[], Any]) -> Any:
        if self.retry is None:
            return attempt()
        started = time.monotonic()
        delay = self.retry.backoff_initial
        while True:
            try:
                return attempt()
            except TransientError as exc:
                self.errors += 1
                waited = time.monotonic() - started
                if self.retry.give_up_after is not None and waited >= self.retry.give_up_after:
                    raise
                if self.retry.halted.is_set():
                    raise
                log.warning("%s; retrying in %.2f s", exc, delay)
                if self.retry.pause(delay * random.uniform(0.5, 1.0)):
                    raise
                delay = min(delay * 2, self.retry.backoff_max)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _exchange(self, calls: Sequence[Call], batched: bool) -> list[dict[str, Any]]:
        url = self.nodes.current
        requests_ = [
            {"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": list(p)}
            for m, p in calls
        ]
        payload: Any = requests_ if batched else requests_[0]
        what = calls[0][0] if len(calls) == 1 else f"batch of {len(calls)} {calls[0][0]}"
        try:
            response = self._session().post(
                url,
                data=json.dumps(payload, default=_json_default),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"{what}: no answer from {url} ({type(exc).__name__})") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"{what}: HTTP {status} from {url}")
        if status == 413:
            raise RangeTooLargeError(f"{what}: HTTP 413, request or response too large")
        if status != 200:
            raise RPCError(f"{what}: HTTP {status} from {url}")
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError(f"{what}: unreadable answer from {url}") from exc
        answers = body if isinstance(body, list) else [body]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        ordered = []
        for request in requests_:
            answer = by_id.get(request["id"])
            if answer is None:
                raise TransientError(f"{what}: the node left request {request['id']} unanswered")
            ordered.append(answer)
        return ordered


class TransportProvider(JSONBaseProvider):
    """A web3 provider that sends through a JsonRpcTransport (no retries of its own)."""

    def __init__(self, transport: JsonRpcTransport) -> None:
        super().__init__()
        self.transport = transport
        self.endpoint_uri = transport.url  # the first node's; requests go to the one in use

    def make_request(self, method: Any, params: Any) -> Any:
        """One request, answered as the node answered it (web3 reads the error)."""
        (answer,) = self.transport.answers([(str(method), params or [])], batched=False)
        return answer

    def make_batch_request(self, requests: list[tuple[Any, Any]]) -> Any:
        """Several requests in one round trip, answered in order."""
        return self.transport.answers([(str(m), p or []) for m, p in requests])

    def is_connected(self, show_traceback: bool = False) -> bool:
        """Whether the node answers ``web3_clientVersion``."""
        try:
            self.transport.call("web3_clientVersion", [])
        except (ChainUnavailable, RPCError):
            if show_traceback:
                raise
            return False
        return True


@contextmanager
def translating(action: str, *, abis: Iterable[ABI] = ()) -> Iterator[None]:
    """Translate what web3 raises over a TransportProvider into the ledger_app tree
    (the transport's own errors pass through as they are)."""
    try:
        yield
    except ContractLogicError as exc:
        data = revert_bytes(exc.data)
        name, args = decode_revert(data, list(abis))
        shown = f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})" if name else ""
        raise TransactionReverted(
            f"{action} reverted: {shown or exc.message or 'no reason'}",
            data=data,
            error_name=name,
            error_args=args,
        ) from exc
    except Web3RPCError as exc:
        raise RPCError(f"{action}: {exc.message}") from exc


def revert_bytes(data: object) -> bytes:
    """The revert data of a JSON-RPC error's ``data`` (b"" if there is none)."""
    if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."}
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return b""


def _results(calls: Sequence[Call], answers: list[dict[str, Any]]) -> list[Any]:
    results = []
    for (method, _), answer in zip(calls, answers, strict=True):
        if "error" in answer:
            _raise_rpc_error(method, answer["error"])
        results.append(answer.get("result"))
    return results


def _raise_rpc_error(method: str, error: Any) -> None:
    message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    if method == "eth_getLogs" and (code in _RANGE_ERROR_CODES or _RANGE_ERROR.search(message)):
        raise RangeTooLargeError(f"{method}: {message}")
    if code == -32603 and "timeout" in message.lower():
        raise TransientError(f"{method}: {message}")
    raise RPCError(f"{method}: {message} (code {code})")


def _json_default(value: Any) -> Any:
    # web3 hands over bytes (HexBytes) and read-only mappings (AttributeDict).
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
