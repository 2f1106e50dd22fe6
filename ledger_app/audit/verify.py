"""Checking a trace against the node: every step's log, and every receivable's state.

For each step the node is asked for the transaction's receipt and for the block at
the step's number. The step is verified when the receipt is in a block with the
step's block hash, that block is the canonical one at that number with the step's
timestamp, and the receipt holds a log at the step's log index from the step's
contract whose topics and data equal those ABI-encoded from the indexed arguments
(encode.py). Anything else is a mismatch with its reason: a changed argument (named,
with both values), a reorged-away transaction, a different block.

Then each receivable of the trace is read with ``receivable(id)`` at the block the
index reflects, and compared with what the trace says of it.

Last, completeness (completeness.py): the tree is rebuilt from the node's logs alone
over the trace's ``contracts`` (confirmed against the chain first) and compared with
the trace step by step, so that a step or a subtree missing from the index, a step
shown under the wrong receivable, a fabricated or reordered one, is named. A trace that
names no contracts cannot be checked for completeness and is not verified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ledger_app.audit.completeness import (
    DEFAULT_MAX_SPAN,
    DEFAULT_MAX_TOPICS,
    compare,
    confirm_contracts,
    rebuild,
)
from ledger_app.audit.encode import ABI, EventEncoder
from ledger_app.chain.abi import decode_function_result, encode_function_call
from ledger_app.chain.decode import EventDecoder, UnknownEventError
from ledger_app.domain.vocabulary import RECEIVABLE_STATUS

VERIFIED, MISMATCH = "verified", "mismatch"
_BATCH = 200


class JsonRpc(Protocol):
    """The one method verification needs of a JSON-RPC client (indexer.rpc.RpcClient)."""

    def batch(self, calls: Sequence[tuple[str, list[Any]]], *, batched: bool = True) -> list[Any]:
        """Results of several calls, in order."""
        ...


def verify_trace(
    trace: Mapping[str, Any],
    rpc: JsonRpc,
    abis: Mapping[str, ABI],
    *,
    max_span: int = DEFAULT_MAX_SPAN,
    max_topics: int = DEFAULT_MAX_TOPICS,
) -> dict[str, Any]:
    """Per-step and per-receivable verified/mismatch of a full trace (build_trace output),
    and its completeness against the tree rebuilt from the node (``max_span``: blocks per
    eth_getLogs; ``max_topics``: keys OR-ed in one topic filter)."""
    steps = trace["steps"]
    encoder = EventEncoder(abis)
    decoder = EventDecoder(abis)
    for step in steps:
        decoder.follow(step["contract"], step["contract_kind"])
    receipts = _batched(
        rpc, [("eth_getTransactionReceipt", [s]) for s in _unique(st["tx_hash"] for st in steps)]
    )
    numbers = _unique(s["block_number"] for s in steps)
    blocks = _batched(rpc, [("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
    receipt_of = dict(zip(_unique(s["tx_hash"] for s in steps), receipts, strict=True))
    block_of = dict(zip(numbers, blocks, strict=True))
    step_results = []
    for step in steps:
        expected = encoder.encode(step["contract_kind"], step["event"], step["args"])
        expected["address"] = step["contract"]
        reasons = check_step(
            step, expected, receipt_of[step["tx_hash"]], block_of[step["block_number"]], decoder
        )
        step_results.append(_result(step, reasons))
    receivable_results = _check_receivables(trace, rpc, abis)
    completeness = check_completeness(trace, rpc, abis, max_span=max_span, max_topics=max_topics)
    ok = all(r["status"] == VERIFIED for r in step_results + receivable_results)
    return {
        "receivable_id": trace["receivable_id"],
        "root_id": trace["root_id"],
        "verified": ok and completeness["complete"],
        "checked_at_block": trace.get("as_of_block"),
        "steps": step_results,
        "receivables": receivable_results,
        "completeness": completeness,
    }


def check_completeness(
    trace: Mapping[str, Any],
    rpc: JsonRpc,
    abis: Mapping[str, ABI],
    *,
    max_span: int = DEFAULT_MAX_SPAN,
    max_topics: int = DEFAULT_MAX_TOPICS,
) -> dict[str, Any]:
    """The trace against the tree rebuilt from the node: ``complete`` and every
    difference named (completeness.compare), the contract list's confirmation, the cost."""
    contracts = trace.get("contracts")
    if not contracts:
        return {"complete": False, "checked": False,
                "reason": "the trace names no ledger contracts: completeness cannot be checked"}  # fmt: skip
    to_block = trace.get("as_of_block")
    if to_block is None:
        to_block = int(rpc.batch([("eth_blockNumber", [])])[0], 16)
    block = hex(to_block)
    contract_problems = confirm_contracts(rpc, abis, contracts, block)
    chain = rebuild(rpc, abis, contracts, trace["root_id"], int(trace.get("from_block") or 0),
                    to_block, max_span=max_span, max_topics=max_topics)  # fmt: skip
    result = compare(trace, chain)
    result["checked"] = True
    result["contracts"] = {"count": len(contracts), "problems": contract_problems}
    result["blocks"] = {"from": int(trace.get("from_block") or 0), "to": to_block}
    result["complete"] = result["complete"] and not contract_problems
    return result


def check_step(
    step: Mapping[str, Any],
    expected: Mapping[str, Any],
    receipt: Mapping[str, Any] | None,
    block: Mapping[str, Any] | None,
    decoder: EventDecoder | None = None,
) -> list[str]:
    """Why ``step`` (whose raw log should be ``expected``) does not hold on the node; [] if it does."""
    reasons: list[str] = []
    if block is None:
        reasons.append(f"the node has no block {step['block_number']}")
    else:
        if block["hash"] != step["block_hash"]:
            reasons.append(
                f"block {step['block_number']} is {block['hash']} on the node, "
                f"{step['block_hash']} in the trace (reorged?)"
            )
        stamp = int(block["timestamp"], 16)
        if step.get("block_timestamp") is not None and stamp != step["block_timestamp"]:
            reasons.append(
                f"block timestamp {stamp} on the node, {step['block_timestamp']} in the trace"
            )
    if receipt is None:
        reasons.append(f"the node knows no transaction {step['tx_hash']} (reorged away?)")
        return reasons
    if receipt["blockHash"] != step["block_hash"]:
        reasons.append(
            f"the transaction is in block {receipt['blockHash']}, not {step['block_hash']}"
        )
    log = next(
        (x for x in receipt.get("logs", []) if int(x["logIndex"], 16) == step["log_index"]), None
    )
    if log is None:
        reasons.append(f"the transaction has no log at index {step['log_index']}")
        return reasons
    if log["address"].lower() != expected["address"].lower():
        reasons.append(f"the log is from {log['address'].lower()}, not {expected['address']}")
    if [t.lower() for t in log["topics"]] != [t.lower() for t in expected["topics"]] or (
        log["data"].lower() != expected["data"].lower()
    ):
        reasons.append(_difference(step, log, decoder))
    return reasons


def _difference(
    step: Mapping[str, Any], log: Mapping[str, Any], decoder: EventDecoder | None
) -> str:
    if decoder is not None:
        try:
            on_chain = decoder.decode(log)
        except UnknownEventError:
            return "the log on chain is a different event"
        if on_chain.name != step["event"]:
            return f"the log on chain is {on_chain.name}, not {step['event']}"
        changed = [
            f"{name}: trace {step['args'].get(name)!r}, chain {value!r}"
            for name, value in on_chain.args.items()
            if step["args"].get(name) != value
        ]
        if changed:
            return "arguments differ from the chain's log: " + "; ".join(changed)
    return "topics or data differ from the chain's log"


def _check_receivables(
    trace: Mapping[str, Any], rpc: JsonRpc, abis: Mapping[str, ABI]
) -> list[dict[str, Any]]:
    registry = trace.get("registry")
    nodes = trace["receivables"]
    if registry is None or not nodes:
        return []
    abi = abis["ReceivableRegistry"]
    block = hex(trace["as_of_block"]) if trace.get("as_of_block") is not None else "latest"
    calls = [
        (
            "eth_call",
            [
                {
                    "to": registry,
                    "data": "0x" + encode_function_call(abi, "receivable", [n["id"]]).hex(),
                },
                block,
            ],
        )
        for n in nodes
    ]
    results = []
    for node, output in zip(nodes, _batched(rpc, calls), strict=True):
        (r,) = decode_function_result(abi, "receivable", 1, bytes.fromhex(output[2:]))
        chain = {
            "parent_id": r[1], "root_id": r[2], "debtor": r[3].lower(), "creditor": r[4].lower(),
            "holder": r[5].lower(), "amount": str(r[6]), "currency": r[7].rstrip(b"\0").decode("ascii", "replace"),
            "due_date": r[9], "status": RECEIVABLE_STATUS[r[12]], "frozen": bool(r[13]),
        }  # fmt: skip
        reasons = [
            f"{field}: index {node[field]!r}, chain {value!r}"
            for field, value in chain.items()
            if field in node and node[field] != value
        ]
        results.append(
            {"id": node["id"], "status": MISMATCH if reasons else VERIFIED, "reasons": reasons}
        )
    return results


def _result(step: Mapping[str, Any], reasons: list[str]) -> dict[str, Any]:
    return {
        "seq": step.get("seq"),
        "receivable_id": step["receivable_id"],
        "kind": step["kind"],
        "tx_hash": step["tx_hash"],
        "log_index": step["log_index"],
        "block_number": step["block_number"],
        "status": MISMATCH if reasons else VERIFIED,
        "reasons": reasons,
    }


def _batched(rpc: JsonRpc, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(calls), _BATCH):
        out += rpc.batch(calls[i : i + _BATCH])
    return out


def _unique(values: Any) -> list[Any]:
    return list(dict.fromkeys(values))
