"""Building, signing and sending transactions: the one send path.

The sending half of ChainClient (chain/client.py). A transaction is built here and
only here (``transaction_request``: sender, chain id, calldata, value), completed
with gas, nonce and fees in one batched round trip (``prepare``), signed with a
local eth-account key (``signed_bytes``), sent raw, and waited for; a revert is
raised as TransactionReverted with the contract's custom error decoded.
``send_transaction`` does these steps in a row for one caller at a time per sender
(deployment, scripts, tests); the service's TransactionSender (chain/sender.py)
does the same steps with a write-ahead journal between signing and broadcasting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from ledger_app.chain.abi import ABI, encode_deployment, encode_function_call
from ledger_app.chain.reads import ChainReads, Receipt
from ledger_app.chain.transport import translating
from ledger_app.errors import TransactionReverted

if TYPE_CHECKING:
    from ledger_app.chain.artifacts import ContractArtifact

# eth_estimateGas is exact for the state it ran against; the margin absorbs a
# state change between estimation and inclusion (a storage slot going from zero
# to non-zero costs 20,000 more).
GAS_MARGIN_NUMERATOR, GAS_MARGIN_DENOMINATOR = 6, 5
# How long a block gas limit read from the node is trusted (it is a network setting,
# changed rarely if ever).
GAS_LIMIT_TTL = 60.0


def transaction_request(
    sender: str, to: str | None, data: bytes, value: int = 0, chain_id: int | None = None
) -> dict[str, Any]:
    """The transaction ``sender`` sends: ``from``, ``data``, ``value``, ``to`` (absent when
    it creates a contract) and ``chainId`` (when given). ``prepare`` adds gas, nonce and
    fees; ``signed_bytes`` drops ``from``."""
    tx: dict[str, Any] = {"from": sender, "data": data, "value": value}
    if chain_id is not None:
        tx["chainId"] = chain_id
    if to is not None:
        tx["to"] = to_checksum_address(to)
    return tx


def signed_bytes(account: LocalAccount, tx: dict[str, Any]) -> bytes:
    """``tx`` (prepared) signed by ``account``: the raw transaction to broadcast."""
    unsigned = {k: v for k, v in tx.items() if k != "from"}
    return bytes(account.sign_transaction(unsigned).raw_transaction)


class ChainSending(ChainReads):
    """The send methods of ChainClient."""

    priority_fee_wei: int
    _block_gas_limit: tuple[float, int] | None
    _sender_locks: dict[str, threading.Lock]
    _sender_locks_guard: threading.Lock

    def deploy(
        self, account: LocalAccount, artifact: ContractArtifact, args: Sequence[Any] = ()
    ) -> Receipt:
        """Deploy ``artifact`` with constructor ``args``; the receipt has the address."""
        data = encode_deployment(artifact.abi, artifact.bytecode, args)
        return self.send_transaction(account, to=None, data=data, abis=[artifact.abi])

    def transact(
        self,
        account: LocalAccount,
        address: str,
        abi: ABI,
        name: str,
        args: Sequence[Any] = (),
        *,
        value: int = 0,
    ) -> Receipt:
        """Call function ``name`` of the contract at ``address`` in a transaction."""
        data = encode_function_call(abi, name, args)
        return self.send_transaction(account, to=address, data=data, value=value, abis=[abi])

    def send_transaction(
        self,
        account: LocalAccount,
        *,
        to: str | None,
        data: bytes,
        value: int = 0,
        abis: Iterable[ABI] = (),
    ) -> Receipt:
        """Build, sign, send and wait for one transaction; raise if it reverts.

        Transactions from one sender are serialised (the next is built only after the
        previous one is mined): no nonce gaps, and never several pending transactions
        from one key, which is what stalls anvil's automine (foundry-rs/foundry#10122).
        ``abis`` are used to decode a custom error in the revert data.
        """
        abis = list(abis)
        with self._sender_lock(account.address):
            tx = transaction_request(account.address, to, data, value, self.chain_id())
            tx.update(self.prepare(tx, abis))
            tx_hash = self.send_raw_transaction(signed_bytes(account, tx), abis)
            receipt = self.wait_for_receipt(tx_hash)
        if receipt.status != 1:
            self.raise_revert(tx, account.address, receipt, abis)
        return receipt

    # --- the steps of sending ---------------------------------------------------------

    def estimate_gas(self, tx: dict[str, Any], abis: Iterable[ABI] = ()) -> int:
        """Gas for ``tx`` (which has ``from``) plus the safety margin; raises on a revert."""
        with translating("eth_estimateGas", abis=list(abis)):
            estimate = int(self.web3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        return self._with_margin(estimate)

    def execution_gas(self, tx: dict[str, Any], abis: Iterable[ABI] = ()) -> int:
        """Gas for ``tx`` (which has ``from``) from one execution, eth_createAccessList's
        ``gasUsed``, plus the margin. eth_estimateGas searches for the lowest gas limit
        that succeeds, one execution a step (about twenty for a registerBatch of 150);
        one execution is enough for a call that frees no storage (no refund) and makes
        only view calls, whose 1/64 held back the margin covers, as registerBatch does.
        (Sent without the list, each slot and address it names costs 100 more: under 1%.)
        A revert, or a node without the method, is asked of eth_estimateGas, which
        raises exactly as ``estimate_gas`` does."""
        (gas,) = self.execution_gases([tx], abis)
        return gas

    def execution_gases(self, txs: Sequence[dict[str, Any]], abis: Iterable[ABI] = ()) -> list[int]:
        """``execution_gas`` of each of ``txs``, each against the latest state, asked in one
        JSON-RPC batch (the chunks of a batch request, all simulated before any is sent:
        one round trip instead of one a chunk); raises as ``execution_gas`` does."""
        abis = list(abis)
        calls = [("eth_createAccessList", [_call_request(tx), "latest"]) for tx in txs]
        answers = self.transport.answers(calls, batched=len(calls) > 1)
        gases = []
        for tx, answer in zip(txs, answers, strict=True):
            result = answer.get("result")
            if not isinstance(result, dict) or result.get("error") or "gasUsed" not in result:
                gases.append(self.estimate_gas(tx, abis))
            else:
                gases.append(self._with_margin(int(result["gasUsed"], 16)))
        return gases

    def prepare(
        self, tx: dict[str, Any], abis: Iterable[ABI] = (), *, gas: int | None = None
    ) -> dict[str, int]:
        """``gas`` (as ``estimate_gas``, unless given), the pending ``nonce`` of
        ``tx["from"]`` and the fee fields, asked in one JSON-RPC batch: one round trip
        instead of three (two when ``gas`` is given) on the write path. Any error in the
        batch is asked again one call at a time, so a revert or a refusal is raised exactly
        as those calls raise it."""
        abis = list(abis)
        calls = [
            ("eth_getTransactionCount", [tx["from"], "pending"]),
            ("eth_getBlockByNumber", ["latest", False]),
        ]
        if gas is None:
            calls.insert(0, ("eth_estimateGas", [_call_request(tx)]))
        results = [answer.get("result") for answer in self.transport.answers(calls)]
        if any(r is None for r in results):
            return {
                "gas": self.estimate_gas(tx, abis) if gas is None else gas,
                "nonce": self.get_transaction_count(tx["from"], "pending"),
                **self._fees(),
            }
        if gas is None:
            estimate, nonce, block = int(results[0], 16), int(results[1], 16), results[2]
            gas = self._with_margin(estimate, int(block["gasLimit"], 16))
        else:
            # Given: estimated by a caller that simulated the call just before (a batch's
            # chunks, all simulated before the first is sent), so not asked again.
            nonce, block = int(results[0], 16), results[1]
        fields = {"gas": gas, "nonce": nonce}
        if block.get("baseFeePerGas") is None:
            return {**fields, **self._fees()}
        return {**fields, **self._eip1559(int(block["baseFeePerGas"], 16))}

    def fee_fields(self) -> dict[str, int]:
        """Explicit fee fields for a transaction sent now (see ``_fees``)."""
        return self._fees()

    def send_raw_transaction(self, raw: bytes, abis: Iterable[ABI] = ()) -> str:
        """Broadcast a signed transaction; returns its hash."""
        with translating("eth_sendRawTransaction", abis=list(abis)):
            return "0x" + bytes(self.web3.eth.send_raw_transaction(raw)).hex()

    def raise_revert(
        self, tx: dict[str, Any], sender: str, receipt: Receipt, abis: Iterable[ABI]
    ) -> None:
        """Raise the TransactionReverted of a mined, failed transaction (replayed)."""
        # A receipt says only "status 0": replaying the call on the state the
        # transaction ran against recovers the revert data.
        replay = {**tx, "from": sender}
        for key in ("nonce", "type", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "chainId"):
            replay.pop(key, None)
        try:
            with translating("eth_call (revert replay)", abis=list(abis)):
                self.web3.eth.call(replay, receipt.block_number - 1)  # type: ignore[arg-type]
        except TransactionReverted as exc:
            exc.transaction_hash = receipt.transaction_hash
            raise
        raise TransactionReverted(
            f"transaction {receipt.transaction_hash} reverted (no revert data on replay)",
            transaction_hash=receipt.transaction_hash,
        )

    # --- internals -----------------------------------------------------------------

    def _with_margin(self, estimate: int, block_gas_limit: int | None = None) -> int:
        """``estimate`` plus the margin, but never over the block gas limit: a node refuses
        a transaction whose gas exceeds it outright, though the estimate itself fits (150
        registrations with documents need 25.5M gas of a 30M block, 30.6M with the margin)."""
        gas = estimate * GAS_MARGIN_NUMERATOR // GAS_MARGIN_DENOMINATOR
        if block_gas_limit is None:  # read once a minute: a network setting
            cached, now = self._block_gas_limit, time.monotonic()
            if cached is None or now - cached[0] > GAS_LIMIT_TTL:
                cached = (now, int(self.get_block("latest")["gasLimit"]))
                self._block_gas_limit = cached
            block_gas_limit = cached[1]
        return max(estimate, min(gas, block_gas_limit))

    def _fees(self) -> dict[str, int]:
        """Explicit fee fields: EIP-1559 when the chain has a base fee, legacy otherwise."""
        base_fee = self.get_block("latest").get("baseFeePerGas")
        if base_fee is None:
            with translating("eth_gasPrice"):
                return {"gasPrice": int(self.web3.eth.gas_price)}
        return self._eip1559(int(base_fee))

    def _eip1559(self, base_fee: int) -> dict[str, int]:
        # Twice the base fee stays valid through six full blocks in a row, each
        # raising the base fee by the EIP-1559 maximum of 12.5%.
        return {
            "type": 2,
            "maxFeePerGas": 2 * base_fee + self.priority_fee_wei,
            "maxPriorityFeePerGas": self.priority_fee_wei,
        }

    def _sender_lock(self, address: str) -> threading.Lock:
        with self._sender_locks_guard:
            return self._sender_locks.setdefault(address.lower(), threading.Lock())


def _call_request(tx: dict[str, Any]) -> dict[str, Any]:
    """``tx`` (with ``from``) as the JSON-RPC call object of eth_estimateGas and kin."""
    request: dict[str, Any] = {
        "from": tx["from"],
        "data": "0x" + bytes(tx["data"]).hex(),
        "value": hex(tx.get("value", 0)),
    }
    if tx.get("to") is not None:
        request["to"] = tx["to"]
    return request
