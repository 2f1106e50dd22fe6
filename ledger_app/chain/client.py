"""A thin JSON-RPC client over web3's HTTPProvider.

What it does, it does explicitly: no web3 middleware, no gas-price strategy,
no signing middleware. A transaction is built here (nonce, chain id, gas from
``eth_estimateGas`` plus a margin, EIP-1559 fees from the latest base fee),
signed with a local eth-account key, sent raw, and waited for; a revert is
raised as TransactionReverted with the contract's custom error decoded.

Transactions from one sender are serialised (the next is built only after the
previous one is mined): no nonce gaps, and never several pending transactions
from one key, which is what stalls anvil's automine (foundry-rs/foundry#10122).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    TransactionNotFound,
    Web3RPCError,
)

from ledger_app.chain.abi import (
    ABI,
    decode_function_result,
    decode_revert,
    encode_deployment,
    encode_function_call,
)
from ledger_app.errors import (
    ChainTimeout,
    ChainUnavailable,
    RPCError,
    TransactionReverted,
)

if TYPE_CHECKING:
    from ledger_app.chain.artifacts import ContractArtifact
    from ledger_app.settings import Settings

# eth_estimateGas is exact for the state it ran against; the margin absorbs a
# state change between estimation and inclusion (a storage slot going from zero
# to non-zero costs 20,000 more).
GAS_MARGIN_NUMERATOR, GAS_MARGIN_DENOMINATOR = 6, 5
# How long a block gas limit read from the node is trusted (it is a network setting,
# changed rarely if ever).
GAS_LIMIT_TTL = 60.0


@dataclass(frozen=True)
class Receipt:
    """The parts of a transaction receipt the service uses."""

    transaction_hash: str
    block_number: int
    block_hash: str
    status: int
    gas_used: int
    contract_address: str | None
    logs: list[dict[str, Any]] = field(repr=False, default_factory=list)
    transaction_index: int = 0


class ChainClient:
    """JSON-RPC access to one chain, and the sending of signed transactions."""

    def __init__(
        self,
        rpc_url: str,
        *,
        timeout: float = 30.0,
        receipt_timeout: float = 120.0,
        priority_fee_wei: int = 0,
        poll_interval: float = 0.05,
    ) -> None:
        self.rpc_url = rpc_url
        self.receipt_timeout = receipt_timeout
        self.priority_fee_wei = priority_fee_wei
        self.poll_interval = poll_interval
        # No retries inside the provider: a node that does not answer is
        # reported at once as ChainUnavailable, and callers decide.
        provider = HTTPProvider(
            rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
        )
        self.web3 = Web3(provider, middleware=[])
        self._sender_locks: dict[str, threading.Lock] = {}
        self._sender_locks_guard = threading.Lock()
        self._chain_id: int | None = None
        self._block_gas_limit: tuple[float, int] | None = None  # (read at, gas)

    @classmethod
    def from_settings(cls, settings: Settings) -> ChainClient:
        """A client for ``settings.rpc_url`` with the configured timeouts and tip."""
        return cls(
            settings.rpc_url,
            timeout=settings.rpc_timeout,
            receipt_timeout=settings.receipt_timeout,
            priority_fee_wei=settings.priority_fee_wei,
        )

    # --- reading -----------------------------------------------------------------

    def chain_id(self) -> int:
        """``eth_chainId`` (asked once, then remembered: it cannot change)."""
        if self._chain_id is None:
            with self._translate("eth_chainId"):
                self._chain_id = int(self.web3.eth.chain_id)
        return self._chain_id

    def block_number(self) -> int:
        """Number of the latest block."""
        with self._translate("eth_blockNumber"):
            return int(self.web3.eth.block_number)

    def get_block(self, block: int | str = "latest") -> dict[str, Any]:
        """A block header (without transactions) by number or tag."""
        with self._translate("eth_getBlockByNumber"):
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

    def client_version(self) -> str:
        """``web3_clientVersion``, e.g. ``anvil/v1.5.1`` or ``besu/v25...``."""
        with self._translate("web3_clientVersion"):
            return str(self.web3.client_version)

    def is_anvil(self) -> bool:
        """Whether the node is a local anvil (whose dev accounts are public)."""
        return self.client_version().lower().startswith("anvil/")

    def get_code(self, address: str, block: int | str = "latest") -> bytes:
        """Runtime code at ``address`` (empty when no contract is there)."""
        with self._translate("eth_getCode"):
            return bytes(self.web3.eth.get_code(to_checksum_address(address), block))

    def get_transaction_count(self, address: str, block: int | str = "latest") -> int:
        """Nonce of ``address``: the number of transactions it has sent."""
        with self._translate("eth_getTransactionCount"):
            return int(self.web3.eth.get_transaction_count(to_checksum_address(address), block))

    def call_function(
        self, address: str, abi: ABI, name: str, *args: Any, block: int | str = "latest"
    ) -> tuple[Any, ...]:
        """``eth_call`` of a view function; returns its decoded outputs."""
        data = encode_function_call(abi, name, args)
        with self._translate(f"eth_call {name}", abis=[abi]):
            output = self.web3.eth.call({"to": to_checksum_address(address), "data": data}, block)
        return decode_function_result(abi, name, len(args), bytes(output))

    # --- writing -------------------------------------------------------------------

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

        ``abis`` are used to decode a custom error in the revert data.
        """
        abis = list(abis)
        with self._sender_lock(account.address):
            tx: dict[str, Any] = {
                "from": account.address,
                "data": data,
                "value": value,
                "chainId": self.chain_id(),
            }
            if to is not None:
                tx["to"] = to_checksum_address(to)
            with self._translate("eth_estimateGas", abis=abis):
                estimate = int(self.web3.eth.estimate_gas(tx))  # type: ignore[arg-type]
            tx["gas"] = self._with_margin(estimate)
            tx["nonce"] = self.get_transaction_count(account.address, "pending")
            tx.update(self._fees())
            del tx["from"]
            signed = account.sign_transaction(tx)
            with self._translate("eth_sendRawTransaction", abis=abis):
                tx_hash = (
                    "0x" + bytes(self.web3.eth.send_raw_transaction(signed.raw_transaction)).hex()
                )
            receipt = self.wait_for_receipt(tx_hash)
        if receipt.status != 1:
            self._raise_revert(tx, account.address, receipt, abis)
        return receipt

    def wait_for_receipt(self, transaction_hash: str) -> Receipt:
        """Poll for the receipt of a sent transaction until ``receipt_timeout``."""
        deadline = time.monotonic() + self.receipt_timeout
        while True:
            try:
                with self._translate("eth_getTransactionReceipt"):
                    raw = self.web3.eth.get_transaction_receipt(transaction_hash)  # type: ignore[arg-type]
            except RPCError as exc:
                if not isinstance(exc.__cause__, TransactionNotFound):
                    raise
            else:
                return _receipt(raw)
            if time.monotonic() >= deadline:
                raise ChainTimeout(
                    f"transaction {transaction_hash} not mined after {self.receipt_timeout:g} s",
                    transaction_hash=transaction_hash,
                )
            time.sleep(self.poll_interval)

    # --- the steps of sending, for callers that queue them (chain/sender.py) ---------

    def estimate_gas(self, tx: dict[str, Any], abis: Iterable[ABI] = ()) -> int:
        """Gas for ``tx`` (which has ``from``) plus the safety margin; raises on a revert."""
        with self._translate("eth_estimateGas", abis=list(abis)):
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
        request = _call_request(tx)
        with self._translate("eth_createAccessList"):
            answer = self.web3.provider.make_request(  # type: ignore[attr-defined]
                "eth_createAccessList", [request, "latest"]
            )
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, dict) or result.get("error") or "gasUsed" not in result:
            return self.estimate_gas(tx, abis)
        return self._with_margin(int(result["gasUsed"], 16))

    def prepare(
        self, tx: dict[str, Any], abis: Iterable[ABI] = (), *, gas: int | None = None
    ) -> dict[str, int]:
        """``gas`` (as ``estimate_gas``, unless given), the pending ``nonce`` of
        ``tx["from"]`` and the fee fields, asked in one JSON-RPC batch: one round trip
        instead of three on the write path. Any error in the batch is asked again one
        call at a time, so a revert or a refusal is raised exactly as those calls raise it."""
        abis = list(abis)
        if gas is not None:
            return {"gas": gas, "nonce": self.get_transaction_count(tx["from"], "pending"),
                    **self._fees()}  # fmt: skip
        request = _call_request(tx)
        calls = [
            ("eth_estimateGas", [request]),
            ("eth_getTransactionCount", [tx["from"], "pending"]),
            ("eth_getBlockByNumber", ["latest", False]),
        ]
        with self._translate("eth_estimateGas + eth_getTransactionCount + eth_getBlockByNumber"):
            answers = self.web3.provider.make_batch_request(calls)  # type: ignore[attr-defined]
        results = [a.get("result") for a in answers] if isinstance(answers, list) else []
        if len(results) != len(calls) or any(r is None for r in results):
            return {
                "gas": self.estimate_gas(tx, abis),
                "nonce": self.get_transaction_count(tx["from"], "pending"),
                **self._fees(),
            }
        estimate, nonce, block = int(results[0], 16), int(results[1], 16), results[2]
        fields = {
            "gas": self._with_margin(estimate, int(block["gasLimit"], 16)),
            "nonce": nonce,
        }
        if block.get("baseFeePerGas") is None:
            return {**fields, **self._fees()}
        return {**fields, **self._eip1559(int(block["baseFeePerGas"], 16))}

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

    def fee_fields(self) -> dict[str, int]:
        """Explicit fee fields for a transaction sent now (see ``_fees``)."""
        return self._fees()

    def send_raw_transaction(self, raw: bytes, abis: Iterable[ABI] = ()) -> str:
        """Broadcast a signed transaction; returns its hash."""
        with self._translate("eth_sendRawTransaction", abis=list(abis)):
            return "0x" + bytes(self.web3.eth.send_raw_transaction(raw)).hex()

    def transaction_known(self, transaction_hash: str) -> bool:
        """Whether the node knows the transaction (pending or mined)."""
        try:
            with self._translate("eth_getTransactionByHash"):
                self.web3.eth.get_transaction(transaction_hash)  # type: ignore[arg-type]
        except RPCError as exc:
            if isinstance(exc.__cause__, TransactionNotFound):
                return False
            raise
        return True

    def receipt_if_mined(self, transaction_hash: str) -> Receipt | None:
        """The receipt, or None while the transaction is not mined."""
        try:
            with self._translate("eth_getTransactionReceipt"):
                raw = self.web3.eth.get_transaction_receipt(transaction_hash)  # type: ignore[arg-type]
        except RPCError as exc:
            if isinstance(exc.__cause__, TransactionNotFound):
                return None
            raise
        return _receipt(raw)

    def raise_revert(
        self, tx: dict[str, Any], sender: str, receipt: Receipt, abis: Iterable[ABI]
    ) -> None:
        """Raise the TransactionReverted of a mined, failed transaction (replayed)."""
        self._raise_revert(tx, sender, receipt, list(abis))

    # --- internals -----------------------------------------------------------------

    def _fees(self) -> dict[str, int]:
        """Explicit fee fields: EIP-1559 when the chain has a base fee, legacy otherwise."""
        base_fee = self.get_block("latest").get("baseFeePerGas")
        if base_fee is None:
            with self._translate("eth_gasPrice"):
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

    def _raise_revert(
        self, tx: dict[str, Any], sender: str, receipt: Receipt, abis: list[ABI]
    ) -> None:
        # A receipt says only "status 0": replaying the call on the state the
        # transaction ran against recovers the revert data.
        replay = {**tx, "from": sender}
        for key in ("nonce", "type", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "chainId"):
            replay.pop(key, None)
        try:
            with self._translate("eth_call (revert replay)", abis=abis):
                self.web3.eth.call(replay, receipt.block_number - 1)  # type: ignore[arg-type]
        except TransactionReverted as exc:
            exc.transaction_hash = receipt.transaction_hash
            raise
        raise TransactionReverted(
            f"transaction {receipt.transaction_hash} reverted (no revert data on replay)",
            transaction_hash=receipt.transaction_hash,
        )

    @contextmanager
    def _translate(self, action: str, *, abis: Iterable[ABI] = ()) -> Iterator[None]:
        """Translate web3 / requests exceptions into the ledger_app tree."""
        try:
            yield
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ChainUnavailable(f"{action}: no answer from {self.rpc_url} ({exc})") from exc
        except requests.HTTPError as exc:
            # 429 and 5xx: the node (or a proxy in front of it) is overloaded or failing,
            # and may or may not have acted on the request; any other status is an error.
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429 or status >= 500:
                raise ChainUnavailable(f"{action}: HTTP {status} from {self.rpc_url}") from exc
            raise RPCError(f"{action}: HTTP {status} from {self.rpc_url}") from exc
        except ContractLogicError as exc:
            data = _revert_bytes(exc.data)
            name, args = decode_revert(data, abis)
            shown = f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})" if name else ""
            raise TransactionReverted(
                f"{action} reverted: {shown or exc.message or 'no reason'}",
                data=data,
                error_name=name,
                error_args=args,
            ) from exc
        except Web3RPCError as exc:
            raise RPCError(f"{action}: {exc.message}") from exc


def _revert_bytes(data: object) -> bytes:
    if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."}
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return b""


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


def _receipt(raw: Any) -> Receipt:
    address = raw.get("contractAddress")
    return Receipt(
        transaction_hash="0x" + bytes(raw["transactionHash"]).hex(),
        block_number=int(raw["blockNumber"]),
        block_hash="0x" + bytes(raw["blockHash"]).hex(),
        transaction_index=int(raw.get("transactionIndex") or 0),
        status=int(raw["status"]),
        gas_used=int(raw["gasUsed"]),
        contract_address=to_checksum_address(address) if address else None,
        logs=[dict(log) for log in raw.get("logs", [])],
    )
