#!/usr/bin/env python3
"""Verify an exported receivable trace against a node, trusting nothing of the service.

    python scripts/verify_trace.py TRACE.json RPC_URL [ABIS.json]

TRACE.json is what GET /v1/receivables/{id}/trace answers to an auditor (or one line of
GET /v1/audit/exports/traces?format=ndjson); ABIS.json is the build manifest
(.build/__local__.json, default) or any {"contractTypes": {Name: {"abi": [...]}}}.

For every step this script, using only urllib, json, eth_abi and eth_utils:
  1. decodes the step's raw log (topics, data) with the ABI of its event and checks it
     says what the step claims (its ``args``);
  2. asks the node for the transaction's receipt and for the block at the step's number
     and checks the same log (address, topics, data) is at the step's log index, in a
     block with the step's hash that is the canonical block at that number, with the
     step's timestamp;
then reads ``receivable(id)`` of every receivable in the trace from the registry and
compares holder, amount, status and the rest.

Prints one line per check; exits 1 if anything does not match, 0 if all does.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic

STATUS = ("NONE", "PENDING", "ACTIVE", "SPLIT", "FINANCING", "FINANCED", "OVERDUE",
          "DEFAULTED", "SETTLED", "REJECTED", "CANCELLED")  # fmt: skip


def rpc(url: str, method: str, params: list[Any]) -> Any:
    """One JSON-RPC call."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        reply = json.load(answer)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def load_abis(path: Path) -> dict[str, list[dict[str, Any]]]:
    """ABI by contract name from a build manifest."""
    manifest = json.loads(path.read_text())
    types = manifest.get("contractTypes", manifest)
    return {name: entry["abi"] for name, entry in types.items() if "abi" in entry}


def normalise(item: dict[str, Any], value: Any) -> Any:
    """A decoded value in the trace's notation (lower-case hex, ASCII ISO codes, dicts)."""
    kind = item["type"]
    if kind.endswith("]"):
        inner = {**item, "type": kind[: kind.rindex("[")]}
        return [normalise(inner, v) for v in value]
    if kind == "tuple":
        return {c["name"]: normalise(c, v) for c, v in zip(item["components"], value, strict=True)}
    if kind == "address":
        return value.lower()
    if kind in ("bytes2", "bytes3"):
        return value.rstrip(b"\0").decode("ascii", "replace")
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def decode_log(event: dict[str, Any], topics: list[str], data: str) -> dict[str, Any]:
    """The arguments of ``event`` in a raw log."""
    args: dict[str, Any] = {}
    indexed = [i for i in event["inputs"] if i.get("indexed")]
    for item, topic in zip(indexed, topics[1:], strict=True):
        if item["type"] in ("string", "bytes", "tuple") or item["type"].endswith("]"):
            args[item["name"]] = topic
        else:
            (value,) = decode([item["type"]], bytes.fromhex(topic[2:]))
            args[item["name"]] = normalise(item, value)
    rest = [i for i in event["inputs"] if not i.get("indexed")]
    values = decode([collapse_if_tuple(i) for i in rest], bytes.fromhex(data[2:]))
    for item, value in zip(rest, values, strict=True):
        args[item["name"]] = normalise(item, value)
    return args


def check_step(step: dict[str, Any], abis: dict[str, Any], url: str) -> list[str]:
    """Reasons the step does not hold; empty when it does."""
    raw = step.get("raw")
    if not raw:
        return ["the step carries no raw log (export it as an auditor)"]
    event = next((e for e in abis.get(step["contract_kind"], []) if e.get("type") == "event"
                  and e["name"] == step["event"]), None)  # fmt: skip
    if event is None:
        return [f"no event {step['event']} in the ABI of {step['contract_kind']}"]
    reasons = []
    if raw["topics"][0] != "0x" + event_abi_to_log_topic(event).hex():
        reasons.append("topic0 is not the event's signature")
    else:
        claimed = decode_log(event, raw["topics"], raw["data"])
        for name, value in claimed.items():
            if step["args"].get(name) != value:
                reasons.append(
                    f"{name}: the raw log says {value!r}, the step {step['args'].get(name)!r}"
                )
    receipt = rpc(url, "eth_getTransactionReceipt", [step["tx_hash"]])
    block = rpc(url, "eth_getBlockByNumber", [hex(step["block_number"]), False])
    if block is None or block["hash"] != step["block_hash"]:
        reasons.append(f"block {step['block_number']} on the node is not {step['block_hash']}")
    elif (
        step.get("block_timestamp") is not None
        and int(block["timestamp"], 16) != step["block_timestamp"]
    ):
        reasons.append("the block's timestamp differs")
    if receipt is None:
        return [*reasons, f"the node knows no transaction {step['tx_hash']}"]
    if receipt["blockHash"] != step["block_hash"]:
        reasons.append(f"the transaction is in block {receipt['blockHash']}")
    log = next((x for x in receipt["logs"] if int(x["logIndex"], 16) == step["log_index"]), None)
    if log is None:
        return [*reasons, f"no log at index {step['log_index']}"]
    if log["address"].lower() != raw["address"].lower():
        reasons.append(f"the log is from {log['address']}")
    if [t.lower() for t in log["topics"]] != [t.lower() for t in raw["topics"]]:
        reasons.append("the log's topics differ")
    if log["data"].lower() != raw["data"].lower():
        reasons.append("the log's data differs")
    return reasons


def check_receivable(
    node: dict[str, Any], registry: str, abis: dict[str, Any], url: str, block: str
) -> list[str]:
    """Reasons the receivable's on-chain state differs from the trace's; empty when equal."""
    function = next(f for f in abis["ReceivableRegistry"] if f.get("type") == "function"
                    and f["name"] == "receivable" and len(f["inputs"]) == 1)  # fmt: skip
    selector = keccak(text=f"receivable({function['inputs'][0]['type']})")[:4]
    data = "0x" + (selector + encode(["uint256"], [node["id"]])).hex()
    output = rpc(url, "eth_call", [{"to": registry, "data": data}, block])
    (r,) = decode([collapse_if_tuple(o) for o in function["outputs"]], bytes.fromhex(output[2:]))
    chain = {
        "parent_id": r[1], "root_id": r[2], "debtor": r[3].lower(), "creditor": r[4].lower(),
        "holder": r[5].lower(), "amount": str(r[6]), "currency": r[7].rstrip(b"\0").decode(),
        "due_date": r[9], "status": STATUS[r[12]], "frozen": bool(r[13]),
    }  # fmt: skip
    return [
        f"{k}: trace {node[k]!r}, chain {v!r}"
        for k, v in chain.items()
        if k in node and node[k] != v
    ]


def verify(trace: dict[str, Any], url: str, abis: dict[str, Any]) -> bool:
    """Check every step and receivable, printing each verdict; True when all hold."""
    ok = True
    for step in trace["steps"]:
        reasons = check_step(step, abis, url)
        ok &= not reasons
        verdict = "ok      " if not reasons else "MISMATCH"
        print(f"{verdict} step {step.get('seq')} #{step['receivable_id']} {step['kind']} "
              f"tx {step['tx_hash']} log {step['log_index']}" + "".join(f"\n    {r}" for r in reasons))  # fmt: skip
    block = hex(trace["as_of_block"]) if trace.get("as_of_block") is not None else "latest"
    for node in trace["receivables"]:
        reasons = check_receivable(node, trace["registry"], abis, url, block)
        ok &= not reasons
        verdict = "ok      " if not reasons else "MISMATCH"
        print(
            f"{verdict} receivable #{node['id']} {node['status']}"
            + "".join(f"\n    {r}" for r in reasons)
        )
    return ok


def main(argv: list[str]) -> int:
    """Entry point."""
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    abis_path = (
        Path(argv[3]) if len(argv) == 4 else Path(__file__).parents[1] / ".build" / "__local__.json"
    )
    trace = json.loads(Path(argv[1]).read_text())
    ok = verify(trace, argv[2], load_abis(abis_path))
    print("trace VERIFIED against the node" if ok else "trace does NOT match the chain")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
