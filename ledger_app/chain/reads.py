"""Reading the chain: blocks, code, nonces, view calls, receipts.

The reading half of ChainClient (chain/client.py). Values come formatted by web3
(ints, HexBytes) where the callers expect that; receipts are taken as the node's
JSON, so their logs are exactly what eth_getLogs returns and the event decoder
(chain/decode.py) reads them as they are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address
from web3.exceptions import BlockNotFound

from ledger_app.chain.abi import ABI, decode_function_result, encode_function_call
from ledger_app.chain.transport import translating
from ledger_app.errors import ChainTimeout, RPCError

if TYPE_CHECKING:
    from web3 import Web3

    from ledger_app.chain.transport import JsonRpcTransport


@dataclass(frozen=True)
class Receipt:
    """The parts of a transaction receipt the service uses; ``logs`` as the node sent
    them (hex strings, the shape eth_getLogs returns)."""

    transaction_hash: str
    block_number: int
    block_hash: str
    status: int
    gas_used: int
    contract_address: str | None
    logs: list[dict[str, Any]] = field(repr=False, default_factory=list)
    transaction_index: int = 0


class ChainReads:
    """The read methods of ChainClient (``web3`` and ``transport`` are the client's)."""

    web3: Web3
    transport: JsonRpcTransport
    receipt_timeout: float
    poll_interval: float
    _chain_id: int | None

    def chain_id(self) -> int:
        """``eth_chainId`` (asked once, then remembered: it cannot change)."""
        if self._chain_id is None:
            with translating("eth_chainId"):
                self._chain_id = int(self.web3.eth.chain_id)
        return self._chain_id

    def block_number(self) -> int:
        """Number of the latest block."""
        with translating("eth_blockNumber"):
            return int(self.web3.eth.block_number)

    def get_block(self, block: int | str = "latest") -> dict[str, Any]:
        """A block header (without transactions) by number or tag."""
        with translating("eth_getBlockByNumber"):
            return dict(self.web3.eth.get_block(block))

    def genesis_hash(self) -> str:
        """Hash of block 0: tells one chain from another with the same chain id."""
        return "0x" + bytes(self.get_block(0)["hash"]).hex()

    def block_hash(self, number: int) -> str | None:
        """Hash of block ``number``, None if the chain has no such block yet."""
        try:
            block = self.get_block(number)
        except RPCError as exc:
            if isinstance(exc.__cause__, BlockNotFound):
                return None
            raise
        return "0x" + bytes(block["hash"]).hex()

    def block_hashes(self, numbers: list[int | str]) -> list[tuple[int, str] | None]:
        """(number, hash) of each block (a number, or a tag such as ``latest``), None for one
        the chain does not have; one JSON-RPC batch."""
        tags = [hex(n) if isinstance(n, int) else n for n in numbers]
        blocks = self.transport.batch([("eth_getBlockByNumber", [tag, False]) for tag in tags])
        return [None if b is None else (int(b["number"], 16), b["hash"]) for b in blocks]

    def client_version(self) -> str:
        """``web3_clientVersion``, e.g. ``anvil/v1.5.1`` or ``besu/v25...``."""
        with translating("web3_clientVersion"):
            return str(self.web3.client_version)

    def is_anvil(self) -> bool:
        """Whether the node is a local anvil (whose dev accounts are public)."""
        return self.client_version().lower().startswith("anvil/")

    def get_code(self, address: str, block: int | str = "latest") -> bytes:
        """Runtime code at ``address`` (empty when no contract is there)."""
        with translating("eth_getCode"):
            return bytes(self.web3.eth.get_code(to_checksum_address(address), block))

    def get_transaction_count(self, address: str, block: int | str = "latest") -> int:
        """Nonce of ``address``: the number of transactions it has sent."""
        with translating("eth_getTransactionCount"):
            return int(self.web3.eth.get_transaction_count(to_checksum_address(address), block))

    def call_function(
        self, address: str, abi: ABI, name: str, *args: Any, block: int | str = "latest"
    ) -> tuple[Any, ...]:
        """``eth_call`` of a view function; returns its decoded outputs."""
        data = encode_function_call(abi, name, args)
        with translating(f"eth_call {name}", abis=[abi]):
            output = self.web3.eth.call({"to": to_checksum_address(address), "data": data}, block)
        return decode_function_result(abi, name, len(args), bytes(output))

    # --- transactions sent ------------------------------------------------------------

    def wait_for_receipt(self, transaction_hash: str) -> Receipt:
        """Poll for the receipt of a sent transaction until ``receipt_timeout``."""
        deadline = time.monotonic() + self.receipt_timeout
        while True:
            receipt = self.receipt_if_mined(transaction_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise ChainTimeout(
                    f"transaction {transaction_hash} not mined after {self.receipt_timeout:g} s",
                    transaction_hash=transaction_hash,
                )
            time.sleep(self.poll_interval)

    def transaction_known(self, transaction_hash: str) -> bool:
        """Whether the node knows the transaction (pending or mined)."""
        return self.transport.call("eth_getTransactionByHash", [transaction_hash]) is not None

    def receipt_if_mined(self, transaction_hash: str) -> Receipt | None:
        """The receipt, or None while the transaction is not mined."""
        raw = self.transport.call("eth_getTransactionReceipt", [transaction_hash])
        return None if raw is None else _receipt(raw)


def _receipt(raw: dict[str, Any]) -> Receipt:
    address = raw.get("contractAddress")
    return Receipt(
        transaction_hash=raw["transactionHash"],
        block_number=int(raw["blockNumber"], 16),
        block_hash=raw["blockHash"],
        transaction_index=int(raw.get("transactionIndex") or "0x0", 16),
        status=int(raw["status"], 16),
        gas_used=int(raw["gasUsed"], 16),
        contract_address=to_checksum_address(address) if address else None,
        logs=list(raw.get("logs", [])),
    )
