"""ChainClient: the service's access to one chain, reading and sending.

What it does, it does explicitly: no gas-price strategy, no signing middleware, no
retries; the one web3 middleware is ExtraDataToPOAMiddleware, because web3's block
formatter refuses an ``extraData`` over 32 bytes and a QBFT (or any PoA) block carries
far more: the validators, the round and the seals (found by tests/chain/test_besu_path.py). It is assembled from two halves of one size each:

    chain/transport.py  the JSON-RPC transport (HTTP, ids, batching, error translation)
    chain/reads.py      ChainReads: blocks, code, nonces, view calls, receipts
    chain/sending.py    ChainSending: the one send path (build, prepare, sign, send)

web3 is used over the transport (``TransportProvider``) for its result formatting
and its detection of reverts; a node that does not answer is reported at once as
ChainUnavailable, and callers decide.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

from ledger_app.chain.nodes import NodeSet
from ledger_app.chain.reads import Receipt
from ledger_app.chain.sending import ChainSending
from ledger_app.chain.transport import JsonRpcTransport, TransportProvider

if TYPE_CHECKING:
    from ledger_app.settings import Settings

# Receipt is defined with the reads; importers of chain.client get it here too.
__all__ = ["ChainClient", "Receipt"]


class ChainClient(ChainSending):
    """JSON-RPC access to one chain, and the sending of signed transactions."""

    def __init__(
        self,
        rpc_url: str | NodeSet,
        *,
        timeout: float = 30.0,
        receipt_timeout: float = 120.0,
        priority_fee_wei: int = 0,
        poll_interval: float = 0.05,
    ) -> None:
        self.receipt_timeout = receipt_timeout
        self.priority_fee_wei = priority_fee_wei
        self.poll_interval = poll_interval
        # No retry policy: a node that does not answer is reported at once.
        self.transport = JsonRpcTransport(rpc_url, timeout=timeout)
        self.nodes = self.transport.nodes
        # extraData is moved to proofOfAuthorityData, which nothing here reads.
        self.web3 = Web3(TransportProvider(self.transport), middleware=[ExtraDataToPOAMiddleware])
        self._sender_locks: dict[str, threading.Lock] = {}
        self._sender_locks_guard = threading.Lock()
        self._chain_id: int | None = None
        self._block_gas_limit: tuple[float, int] | None = None  # (read at, gas)

    @property
    def rpc_url(self) -> str:
        """The node in use (one of LEDGER_RPC_URLS)."""
        return self.transport.url

    @classmethod
    def from_settings(cls, settings: Settings) -> ChainClient:
        """A client for the nodes of ``settings`` with the configured timeouts and tip."""
        return cls(
            NodeSet.from_settings(settings),
            timeout=settings.rpc_timeout,
            receipt_timeout=settings.receipt_timeout,
            priority_fee_wei=settings.priority_fee_wei,
        )
