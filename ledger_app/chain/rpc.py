"""Raw JSON-RPC for the indexer: retries with backoff, batched requests.

The indexer reads logs and headers as the node's JSON (hex strings), without
web3's formatting layers. Transient failures (connection refused or reset,
timeouts, HTTP 429 and 5xx) are retried with exponential backoff and jitter,
for ever unless ``give_up_after`` is set, so a node that goes away and comes
back is survived. A node refusing a log query as too large raises
RangeTooLargeError at once: the caller shrinks the range rather than retrying.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from ledger_app.errors import ChainUnavailable, RangeTooLargeError, RPCError

log = logging.getLogger(__name__)

# What providers answer when a log query is too big (geth, Besu, Alchemy, Infura,
# QuickNode, Erigon, anvil...). Matched case-insensitively on the error message.
_RANGE_ERROR = re.compile(
    r"too many|range (is )?too (large|big|wide)|block range|exceed|limit|"
    r"more than \d+ (results|logs)|response size|query timeout|returned more than",
    re.IGNORECASE,
)
_RANGE_ERROR_CODES = {-32005}  # "limit exceeded" (EIP-1474)


@dataclass(frozen=True)
class BlockHeader:
    """The parts of a block header the indexer keeps."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int


class TransientError(ChainUnavailable):
    """A failure worth retrying: no answer, a timeout, 429 or 5xx."""


class RpcClient:
    """JSON-RPC over HTTP with retries; one persistent connection."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        give_up_after: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.give_up_after = give_up_after
        self.sleep = sleep
        self.errors = 0  # transient failures seen (for metrics)
        self._session = requests.Session()
        self._ids = itertools.count(1)

    # --- the methods the indexer uses ---------------------------------------------------

    def chain_id(self) -> int:
        """``eth_chainId``."""
        return int(self.call("eth_chainId", []), 16)

    def block_number(self) -> int:
        """``eth_blockNumber``."""
        return int(self.call("eth_blockNumber", []), 16)

    def get_logs(self, start: int, end: int, addresses: Sequence[str]) -> list[dict[str, Any]]:
        """Logs of ``addresses`` in blocks [start, end]; RangeTooLargeError if refused."""
        query = {"fromBlock": hex(start), "toBlock": hex(end), "address": list(addresses)}
        logs = self.call("eth_getLogs", [query])
        return [entry for entry in logs if not entry.get("removed")]

    def headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader | None]:
        """Headers of blocks ``numbers`` in one batched request (None: no such block)."""
        results = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        out: dict[int, BlockHeader | None] = {}
        for number, block in zip(numbers, results, strict=True):
            out[number] = None if block is None else _header(block)
        return out

    # --- transport ------------------------------------------------------------------

    def call(self, method: str, params: list[Any]) -> Any:
        """One request; the ``result``, or RPCError / RangeTooLargeError."""
        (result,) = self.batch([(method, params)], batched=False)
        return result

    def batch(self, calls: Sequence[tuple[str, list[Any]]], *, batched: bool = True) -> list[Any]:
        """Several requests in one HTTP round trip (JSON-RPC batch), results in order."""
        if not calls:
            return []
        started = time.monotonic()
        delay = self.backoff_initial
        while True:
            try:
                return self._send(calls, batched=batched)
            except TransientError as exc:
                self.errors += 1
                waited = time.monotonic() - started
                if self.give_up_after is not None and waited >= self.give_up_after:
                    raise
                log.warning("%s; retrying in %.2f s", exc, delay)
                self.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.backoff_max)

    def _send(self, calls: Sequence[tuple[str, list[Any]]], *, batched: bool) -> list[Any]:
        requests_ = [
            {"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": p} for m, p in calls
        ]
        payload: Any = requests_ if batched else requests_[0]
        what = calls[0][0] if len(calls) == 1 else f"batch of {len(calls)} {calls[0][0]}"
        try:
            response = self._session.post(self.url, json=payload, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(
                f"{what}: no answer from {self.url} ({type(exc).__name__})"
            ) from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"{what}: HTTP {status} from {self.url}")
        if status == 413:
            raise RangeTooLargeError(f"{what}: HTTP 413, request or response too large")
        if status != 200:
            raise RPCError(f"{what}: HTTP {status} from {self.url}")
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError(f"{what}: unreadable answer from {self.url}") from exc
        answers = body if isinstance(body, list) else [body]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for request in requests_:
            answer = by_id.get(request["id"])
            if answer is None:
                raise TransientError(f"{what}: the node left request {request['id']} unanswered")
            if "error" in answer:
                _raise_rpc_error(request["method"], answer["error"])
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


def _header(block: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        number=int(block["number"], 16),
        hash=block["hash"],
        parent_hash=block["parentHash"],
        timestamp=int(block["timestamp"], 16),
    )
