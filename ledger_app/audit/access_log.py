"""Verifying the access log: its rows, as the database holds them, against the anchors the
ledger holds (``ledger-app verify-access-log`` and ``GET /v1/audit/access-log/verify``).

The anchors are read from the node (``eth_getLogs`` of the ``AccessLogAnchored`` events
of the deployment's AccessLogAnchor), never from the service's own table of them: whoever
can edit the rows can edit that table too. What is checked, and how a finding is
placed, is ledger_app/domain/access_chain.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from eth_utils import keccak
from sqlalchemy import Connection

from ledger_app.db.access_chain import chained_rows
from ledger_app.domain.access_chain import Anchor, Verification, verify
from ledger_app.errors import RangeTooLargeError

#: topic0 of ``AccessLogAnchored(uint64 indexed count, bytes32 head, address by)``.
ANCHORED_TOPIC = "0x" + keccak(text="AccessLogAnchored(uint64,bytes32,address)").hex()
#: Blocks per eth_getLogs to begin with (halved when the node refuses a range).
LOG_RANGE = 100_000


class JsonRpc(Protocol):
    """The one method reading the anchors needs of a JSON-RPC client."""

    def call(self, method: str, params: list[Any]) -> Any: ...


def read_anchors(rpc: JsonRpc, address: str, from_block: int) -> list[Anchor]:
    """Every ``AccessLogAnchored`` event of the contract at ``address``, from block
    ``from_block`` to the node's head, in order."""
    head = int(rpc.call("eth_blockNumber", []), 16)
    anchors: list[Anchor] = []
    start, span = from_block, LOG_RANGE
    while start <= head:
        end = min(head, start + span - 1)
        query = {"fromBlock": hex(start), "toBlock": hex(end), "address": address,
                 "topics": [ANCHORED_TOPIC]}  # fmt: skip
        try:
            logs = rpc.call("eth_getLogs", [query])
        except RangeTooLargeError:
            if span == 1:
                raise
            span //= 2
            continue
        anchors.extend(_anchor(entry) for entry in logs if not entry.get("removed"))
        start = end + 1
    return anchors


def _anchor(entry: dict[str, Any]) -> Anchor:
    data = bytes.fromhex(entry["data"][2:])
    return Anchor(
        count=int(entry["topics"][1], 16),
        head=data[:32].hex(),
        block_number=int(entry["blockNumber"], 16),
        transaction_hash=entry["transactionHash"],
    )


def verify_access_log(conn: Connection, anchors: Sequence[Anchor]) -> Verification:
    """The access log in ``conn``'s database checked against ``anchors``."""
    return verify(chained_rows(conn), anchors)
