"""ChainClient.execution_gas: one execution's gas (eth_createAccessList) for a batch
registration is enough to mine it, and a revert is raised as eth_estimateGas raises it;
gas with its margin stays inside the block gas limit."""

from __future__ import annotations

import sys

import pytest
from eth_utils import keccak

from ledger_app import PROJECT_ROOT
from ledger_app.chain.abi import encode_function_call
from ledger_app.errors import TransactionReverted

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "indexer"))
from ledger import DAY, Ledger


def _batch(ledger: Ledger, count: int, tag: str) -> dict:
    supplier = ledger.accounts["supplier"].address
    due = ledger.now() + 90 * DAY
    rows = [(supplier, 100 + i, b"CNY", due, keccak(text=f"{tag}-{i}"), keccak(text="doc"), 0)
            for i in range(count)]  # fmt: skip
    abi = ledger.artifacts["ReceivableRegistry"].abi
    return {"from": ledger.accounts["core"].address, "to": ledger.addresses["receivables"],
            "data": encode_function_call(abi, "registerBatch", (rows,))}  # fmt: skip


def test_one_execution_gives_enough_gas_for_a_full_batch_inside_the_block(ledger: Ledger) -> None:
    client = ledger.client
    tx = _batch(ledger, 150, "full")
    abis = [ledger.artifacts["ReceivableRegistry"].abi]

    gas = client.execution_gas(tx, abis)
    estimate = client.estimate_gas(tx, abis)
    core = ledger.accounts["core"]
    fields = client.prepare(tx, abis, gas=gas)
    signed = core.sign_transaction({**{k: v for k, v in tx.items() if k != "from"}, **fields,
                                    "value": 0, "chainId": client.chain_id()})  # fmt: skip
    receipt = client.wait_for_receipt(client.send_raw_transaction(signed.raw_transaction, abis))

    block_gas_limit = int(client.get_block("latest")["gasLimit"])
    assert receipt.status == 1
    # 150 rows with documents need about 25.5M gas: with the 20% margin more than the
    # 30M a block holds, which the node would refuse; the margin is cut at the limit.
    assert receipt.gas_used < gas <= block_gas_limit
    assert gas == estimate == block_gas_limit
    assert int(ledger.view("receivables", "lastId")) == 150


def test_a_revert_is_raised_as_estimate_gas_raises_it(ledger: Ledger) -> None:
    client = ledger.client
    abis = [ledger.artifacts["ReceivableRegistry"].abi]
    first = _batch(ledger, 3, "dup")
    unsigned = {"to": first["to"], "data": first["data"], "value": 0, "chainId": client.chain_id()}
    signed = ledger.accounts["core"].sign_transaction({**unsigned, **client.prepare(first, abis)})
    client.wait_for_receipt(client.send_raw_transaction(signed.raw_transaction, abis))

    again = _batch(ledger, 3, "dup")  # the same invoice keys
    with pytest.raises(TransactionReverted) as by_estimate:
        client.estimate_gas(again, abis)
    with pytest.raises(TransactionReverted) as by_execution:
        client.execution_gas(again, abis)

    assert by_execution.value.error_name == "ReceivableDuplicateInvoice"
    assert by_execution.value.error_args == by_estimate.value.error_args


def test_a_small_batch_gets_one_execution_plus_the_margin(ledger: Ledger) -> None:
    client = ledger.client
    abis = [ledger.artifacts["ReceivableRegistry"].abi]
    tx = _batch(ledger, 5, "small")

    gas, estimate = client.execution_gas(tx, abis), client.estimate_gas(tx, abis)

    # Both carry the same 20% margin; one execution is within 2% of the binary search.
    assert abs(gas - estimate) <= estimate // 50
    assert gas < int(client.get_block("latest")["gasLimit"])


def test_chunks_asked_together_get_what_each_gets_alone_and_a_revert_raises(
    ledger: Ledger,
) -> None:
    """execution_gases: a batch request's chunks in one JSON-RPC round trip, each the gas
    execution_gas gives it; a chunk that reverts raises as it would alone."""
    client = ledger.client
    abis = [ledger.artifacts["ReceivableRegistry"].abi]
    chunks = [_batch(ledger, 4, "together-a"), _batch(ledger, 7, "together-b")]

    assert client.execution_gases(chunks, abis) == [client.execution_gas(c, abis) for c in chunks]

    first = _batch(ledger, 2, "taken")
    unsigned = {"to": first["to"], "data": first["data"], "value": 0, "chainId": client.chain_id()}
    signed = ledger.accounts["core"].sign_transaction({**unsigned, **client.prepare(first, abis)})
    client.wait_for_receipt(client.send_raw_transaction(signed.raw_transaction, abis))
    with pytest.raises(TransactionReverted) as refused:
        client.execution_gases([chunks[0], _batch(ledger, 2, "taken")], abis)
    assert refused.value.error_name == "ReceivableDuplicateInvoice"
