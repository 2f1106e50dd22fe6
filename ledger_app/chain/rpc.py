"""The indexer's JSON-RPC client: logs and headers as the node's JSON.

The indexer reads logs and headers as the node's JSON (hex strings), without
web3's formatting layers, over the one transport (chain/transport.py). Transient
failures (connection refused or reset, timeouts, HTTP 429 and 5xx) are retried
with exponential backoff and jitter, for ever unless ``give_up_after`` is set, so
a node that goes away and comes back is survived. A node refusing a log query as
too large raises RangeTooLargeError at once: the caller shrinks the range rather
than retrying.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger_app.chain.nodes import NodeSet
from ledger_app.chain.transport import JsonRpcTransport, RetryPolicy
from ledger_app.errors import RPCError


@dataclass(frozen=True)
class BlockHeader:
    """The parts of a block header the indexer keeps."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int


class _RetrySetting:
    """An attribute of RpcClient that is a field of its RetryPolicy, read and set."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, client: RpcClient | None, owner: type | None = None) -> Any:
        return self if client is None else getattr(client.retry, self.name)

    def __set__(self, client: RpcClient, value: Any) -> None:
        setattr(client.retry, self.name, value)


class RpcClient:
    """JSON-RPC over HTTP with retries; a persistent connection per thread."""

    def __init__(
        self,
        url: str | NodeSet,
        *,
        timeout: float = 30.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        give_up_after: float | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.retry = RetryPolicy(backoff_initial, backoff_max, give_up_after, sleep)
        self.transport = JsonRpcTransport(url, timeout=timeout, retry=self.retry)

    # The retry settings, read and set by callers and tests, are the transport's policy.
    backoff_initial = _RetrySetting()
    backoff_max = _RetrySetting()
    give_up_after = _RetrySetting()
    sleep = _RetrySetting()

    @property
    def url(self) -> str:
        """The node's JSON-RPC endpoint."""
        return self.transport.url

    @property
    def timeout(self) -> float:
        """Seconds one HTTP request may take."""
        return self.transport.timeout

    @property
    def errors(self) -> int:
        """Transient failures seen (for metrics)."""
        return self.transport.errors

    def halt(self) -> None:
        """Stop retrying for good (its owner is stopping): a call retrying now, or later,
        raises its TransientError instead of waiting for the node to come back."""
        self.retry.halt()

    # --- the methods the indexer uses ---------------------------------------------------

    def chain_id(self) -> int:
        """``eth_chainId``."""
        return int(self.call("eth_chainId", []), 16)

    def block_number(self) -> int:
        """``eth_blockNumber``."""
        return int(self.call("eth_blockNumber", []), 16)

    def finalized_block(self) -> int | None:
        """Number of the node's ``finalized`` block; None when the node has no such tag
        (it answers an error or null: a chain without a finality gadget, or Besu QBFT)."""
        try:
            block = self.call("eth_getBlockByNumber", ["finalized", False])
        except RPCError:
            return None
        return None if not block else int(block["number"], 16)

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
        return self.transport.call(method, params)

    def batch(self, calls: Sequence[tuple[str, list[Any]]], *, batched: bool = True) -> list[Any]:
        """Several requests in one HTTP round trip (JSON-RPC batch), results in order."""
        return self.transport.batch(calls, batched=batched)


def _header(block: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        number=int(block["number"], 16),
        hash=block["hash"],
        parent_hash=block["parentHash"],
        timestamp=int(block["timestamp"], 16),
    )
