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
compares holder, amount, status and the rest; and last proves the trace COMPLETE:
  3. confirms the trace's ``contracts`` (the deployment record's ledger contracts and the
     listed tokens) where the chain links them: code at each address, the participant
     registry (a token's ``registry()``) calls the desk, clearing, FX and HTLC contracts
     ledger contracts, the receivable registry's ``riskControl()`` is the listed one,
     each token is ``settlementToken(currency)``;
  4. rebuilds the root's whole tree from the node's logs alone: eth_getLogs over those
     contracts with the tree's receivable ids (then financing and lock ids) OR-ed in the
     indexed topic of each followed event, round after round as splits name children,
     in block spans of at most --max-span (halved when the node refuses one), each
     round's queries in one JSON-RPC batch; then the receipts of the transactions found,
     for their token transfers and deferred payments;
  5. attributes each log to its receivable and orders the steps by the trace's rule and
     compares them with the trace: a missing, extra (fabricated), misattributed, altered
     or reordered step and a missing subtree are each named.

What it trusts: the node, the ABIs, and the contract list as far as step 3 cannot
confirm it (the receivable registry and the credit lines are linked on chain to no
other contract that names them: their addresses are the deployment record's).

The rule of step 5 is ledger_app/domain/links.py's (which receivable a log belongs to)
and ledger_app/audit/trace.py's (a token transfer belongs to the step it pays for, a
deferral to the payment it defers, order by block and log index). This script may not
import ledger_app, so it carries its own copy of both, below (LINK RULE);
tests/audit/test_completeness.py runs both on the same stories so that they cannot drift.

Prints one line per check and the completeness check's RPC cost (requests, calls, logs,
ms); exits 1 if anything does not match, 0 if all does.

    python scripts/verify_trace.py TRACE.json RPC_URL [ABIS.json] [--max-span N]
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import urllib.error
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
    argv = list(argv)
    max_span = DEFAULT_MAX_SPAN
    if "--max-span" in argv:
        at = argv.index("--max-span")
        max_span = int(argv[at + 1])
        del argv[at : at + 2]
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    abis_path = (
        Path(argv[3]) if len(argv) == 4 else Path(__file__).parents[1] / ".build" / "__local__.json"
    )
    trace = json.loads(Path(argv[1]).read_text())
    abis = load_abis(abis_path)
    ok = verify(trace, argv[2], abis)
    ok &= verify_completeness(trace, argv[2], abis, max_span)
    print("trace VERIFIED against the node" if ok else "trace does NOT match the chain")
    return 0 if ok else 1


# --- completeness -----------------------------------------------------------------------

DEFAULT_MAX_SPAN = 10_000
MAX_TOPICS = 500
BATCH = 100
TOKEN = "SettlementToken"
LEDGER_POWERS = ("FinancingDesk", "MaturityClearing", "FxSettlement", "HashTimeLock")


class RangeRefused(RuntimeError):
    """The node refused an eth_getLogs range (too large, too many results)."""


class Rpc:
    """Batched JSON-RPC with a count of what it asked."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.requests = self.calls = self.get_logs = self.receipts = self.logs = 0
        self.refused = 0
        self.started = time.monotonic()

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of ``calls`` in one HTTP request, in order."""
        if not calls:
            return []
        self.requests += 1
        self.calls += len(calls)
        body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                           for i, (m, p) in enumerate(calls)]).encode()  # fmt: skip
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                replies = json.load(answer)
        except urllib.error.HTTPError as exc:
            if exc.code == 413:
                raise RangeRefused("HTTP 413") from exc
            raise
        by_id = {r["id"]: r for r in replies}
        out = []
        for i, (method, _) in enumerate(calls):
            reply = by_id[i]
            if "error" in reply:
                message = str(reply["error"].get("message", "")).lower()
                if method == "eth_getLogs" and (
                    reply["error"].get("code") == -32005  # "limit exceeded" (EIP-1474)
                    or any(w in message for w in ("range", "too many", "limit", "exceed", "too large"))
                ):
                    raise RangeRefused(message)
                raise RuntimeError(f"{method}: {reply['error']}")
            out.append(reply["result"])
        return out

    def cost(self) -> dict[str, Any]:
        """What was asked, as the API's verify reports it."""
        return {"requests": self.requests, "calls": self.calls, "get_logs_calls": self.get_logs,
                "receipt_calls": self.receipts, "logs_fetched": self.logs,
                "refused_ranges": self.refused,
                "ms": round((time.monotonic() - self.started) * 1000, 1)}  # fmt: skip


def call_view(rpc_: Rpc, abi: list[dict[str, Any]], to: str, name: str, args: list[Any],
              block: str) -> tuple[Any, ...]:  # fmt: skip
    """A view function's decoded outputs."""
    function = next(f for f in abi if f.get("type") == "function" and f["name"] == name
                    and len(f["inputs"]) == len(args))  # fmt: skip
    types = [collapse_if_tuple(i) for i in function["inputs"]]
    selector = keccak(text=f"{name}({','.join(types)})")[:4]
    (out,) = rpc_.batch(
        [("eth_call", [{"to": to, "data": "0x" + (selector + encode(types, args)).hex()}, block])]
    )
    return tuple(
        decode([collapse_if_tuple(o) for o in function["outputs"]], bytes.fromhex(out[2:]))
    )


def confirm_contracts(
    rpc_: Rpc, abis: dict[str, Any], contracts: dict[str, str], block: str
) -> list[str]:
    """Why the trace's contract list is not what the chain links; [] if it is."""
    problems = []
    addresses = sorted(contracts)
    for address, code in zip(addresses, rpc_.batch([("eth_getCode", [a, block]) for a in addresses]),
                             strict=True):  # fmt: skip
        if code in (None, "", "0x"):
            problems.append(f"no contract at {address} ({contracts[address]})")
    of_kind: dict[str, list[str]] = {}
    for address, kind in contracts.items():
        of_kind.setdefault(kind, []).append(address)
    participants = of_kind.get("ParticipantRegistry", [])
    for token in of_kind.get(TOKEN, []):
        (registry,) = call_view(rpc_, abis[TOKEN], token, "registry", [], block)
        if registry.lower() not in participants:
            problems.append(
                f"token {token} answers to registry {registry.lower()}, not a listed one"
            )
        (currency,) = call_view(rpc_, abis[TOKEN], token, "currency", [], block)
        for p in participants:
            (listed,) = call_view(
                rpc_, abis["ParticipantRegistry"], p, "settlementToken", [currency], block
            )
            if listed.lower() != token:
                problems.append(f"token {token} is not the one listed for {currency!r}")
    for kind in LEDGER_POWERS:
        for address in of_kind.get(kind, []):
            for p in participants:
                (ok,) = call_view(
                    rpc_, abis["ParticipantRegistry"], p, "isLedgerContract", [address], block
                )
                if not ok:
                    problems.append(
                        f"{kind} {address} is no ledger contract of the participant registry"
                    )
    for registry in of_kind.get("ReceivableRegistry", []):
        (risk,) = call_view(rpc_, abis["ReceivableRegistry"], registry, "riskControl", [], block)
        if risk.lower() not in of_kind.get("RiskControl", []) and int(risk, 16) != 0:
            problems.append(f"the registry's risk control is {risk.lower()}, not a listed one")
    return problems


# --- LINK RULE: a copy of ledger_app/domain/links.py, domain/claims.py (deferral causes),
# --- domain/vocabulary.py (TRACED) and audit/trace.py (anchors, kinds, order). Keep equal.

TRACED = {
    "ReceivableRegistry": (
        "ReceivableRegistered", "ReceivableStatusChanged", "ReceivableSplit",
        "ReceivableTransferred", "ReceivableFrozen", "ReceivableUnfrozen", "ReceivableSettled",
    ),
    "FinancingDesk": (
        "FinancingRequested", "FinancingOffered", "FinancingOfferClosed", "FinancingAccepted",
        "FinancingCancelled", "FinancingDefaulted", "RecourseClaimRecorded",
        "RecoursePaid", "RecourseWithdrawn", "FinancingBoughtBack",
        "FinancingSaleOffered", "FinancingSaleCancelled", "FinancingSold",
    ),
    "MaturityClearing": (
        "RootRepaid", "LeafRedeemed", "RootLateInterestCharged", "LeafRepaid",
        "EarlyPaymentOffered", "EarlyPaymentWithdrawn", "EarlyPaymentAccepted",
    ),
    "FxSettlement": ("PvpSettled",),
    "HashTimeLock": ("HtlcLocked", "HtlcClaimed", "HtlcRefunded"),
    "CreditLines": ("CreditLineConsumed", "CreditLineReleased", "CreditLineRecovered"),
    "RiskControl": ("RootOverdueFlagged", "RootOverdueCured"),
}  # fmt: skip
PAYING_EVENTS = {"FinancingOfferClosed", "FinancingBoughtBack", "HtlcClaimed", "HtlcRefunded",
                 "LeafRedeemed", "LeafRepaid"}  # fmt: skip
ROOT_EVENTS = ("RootRepaid", "RootLateInterestCharged", "RootOverdueFlagged", "RootOverdueCured")
KIND_OF = {
    "ReceivableRegistered": "registration", "ReceivableSplit": "split",
    "ReceivableTransferred": "transfer", "ReceivableFrozen": "freeze",
    "ReceivableUnfrozen": "unfreeze", "ReceivableSettled": "settlement",
    "FinancingRequested": "financing_request", "FinancingOffered": "financing_offer",
    "FinancingOfferClosed": "offer_closed", "FinancingAccepted": "financing_acceptance",
    "FinancingCancelled": "financing_cancellation", "FinancingDefaulted": "financing_default",
    "RecourseClaimRecorded": "recourse", "RecoursePaid": "recourse_payment",
    "RecourseWithdrawn": "recourse_withdrawal", "FinancingBoughtBack": "buy_back",
    "FinancingSaleOffered": "sale_offer", "FinancingSaleCancelled": "sale_cancellation",
    "FinancingSold": "sale", "CreditLineRecovered": "recovery", "RootRepaid": "repayment",
    "LeafRedeemed": "redemption", "RootLateInterestCharged": "late_interest",
    "LeafRepaid": "partial_repayment", "EarlyPaymentOffered": "early_payment_offer",
    "EarlyPaymentWithdrawn": "early_payment_withdrawal", "EarlyPaymentAccepted": "early_payment",
    "CreditLineConsumed": "credit_line_drawing", "RootOverdueFlagged": "overdue_flag",
    "RootOverdueCured": "overdue_cure", "PvpSettled": "cross_border_settlement",
    "HtlcLocked": "htlc_lock", "HtlcClaimed": "htlc_claim", "HtlcRefunded": "htlc_refund",
    "PaymentDeferred": "payment_deferred", "PaymentClaimed": "deferred_payment_claim",
    "Transfer": "token_transfer",
}  # fmt: skip
RELEASE_WRITTEN_OFF = 2  # ICreditLines.ReleaseCause.WRITTEN_OFF


def step_kind(name: str, args: dict[str, Any]) -> str:
    """The trace's kind of a step (audit/trace.py's builders)."""
    if name == "ReceivableStatusChanged":
        old, new = STATUS[args["from"]], STATUS[args["to"]]
        named = {("PENDING", "ACTIVE"): "confirmation", ("PENDING", "REJECTED"): "rejection",
                 ("PENDING", "CANCELLED"): "cancellation"}  # fmt: skip
        return named.get((old, new)) or {"DEFAULTED": "default", "OVERDUE": "overdue",
                                         "SETTLED": "settled"}.get(new, "status_change")  # fmt: skip
    if name == "CreditLineReleased":
        return "write_off" if args["cause"] == RELEASE_WRITTEN_OFF else "credit_line_release"
    return KIND_OF[name]


def link_key(kind: str, name: str) -> tuple[str, str]:
    """(key space, argument) by which a followed event links to its receivable."""
    if kind == "ReceivableRegistry":
        return "receivable", "parentId" if name == "ReceivableSplit" else "id"
    if name == "FinancingRequested":
        return "receivable", "receivableId"
    if kind == "FinancingDesk":
        return "financing", "financingId"
    if name in ROOT_EVENTS:
        return "receivable", "rootId"
    if kind == "CreditLines":
        return "receivable", "receivableId"
    if name in ("LeafRedeemed", "LeafRepaid") or name.startswith("EarlyPayment"):
        return "receivable", "leafId"
    if name == "PvpSettled":
        return "receivable", "referenceId"
    if name == "HtlcLocked":
        return "uetr", "uetr"
    return "lock", "lockId"


def link_tree(events: list[dict[str, Any]], root_id: int, tree: dict[int, int]) -> list[int | None]:
    """For ``events`` in chain order (dicts: kind, name, address, tx, args), the receivable
    of ``root_id``'s tree each belongs to, or None; ``tree`` (id -> parent) grows with the
    splits found. A PaymentDeferred takes the receivable of the paying event before it
    from its contract in its transaction."""
    financings: dict[int, int] = {}
    references: dict[str, int] = {}
    locks: dict[int, str] = {}
    last_paying: dict[tuple[str, str], int] = {}
    out: list[int | None] = []
    for position, ev in enumerate(events):
        kind, name, a = ev["kind"], ev["name"], ev["args"]
        rid: int | None = None
        where = (ev["tx"], ev["address"])
        if name == "PaymentDeferred":
            cause = last_paying.get(where)
            out.append(None if cause is None else out[cause])
            continue
        if name in PAYING_EVENTS:
            last_paying[where] = position
        if name not in TRACED.get(kind, ()):
            out.append(None)
            continue
        if kind == "ReceivableRegistry":
            rid = a["parentId"] if name == "ReceivableSplit" else a["id"]
        elif name == "FinancingRequested":
            financings[a["financingId"]] = a["receivableId"]
            rid = a["receivableId"]
        elif kind == "FinancingDesk":
            rid = financings.get(a["financingId"])
        elif name in ROOT_EVENTS:
            rid = a["rootId"]
        elif kind == "CreditLines":
            rid = a["receivableId"]
        elif name in ("LeafRedeemed", "LeafRepaid") or name.startswith("EarlyPayment"):
            rid = a["leafId"]
        elif name == "PvpSettled":
            references[a["uetr"]] = a["referenceId"]
            rid = a["referenceId"]
        elif name == "HtlcLocked":
            locks[a["lockId"]] = a["uetr"]
            rid = references.get(a["uetr"])
        else:  # HtlcClaimed, HtlcRefunded
            uetr = locks.get(a["lockId"])
            rid = None if uetr is None else references.get(uetr)
        if rid is None or rid not in tree:
            out.append(None)
            continue
        if name == "ReceivableSplit":
            for i in range(len(a["amounts"])):
                tree.setdefault(a["firstChildId"] + i, rid)
        out.append(rid)
    return out


def anchor(events: list[dict[str, Any]], rids: list[int | None], transfer: int) -> int | None:
    """A token transfer's receivable: that of the traced event just before it in its
    transaction, else of the first one after it (audit/trace.py's _anchor_for)."""
    tx = events[transfer]["tx"]
    same = [(events[i]["log_index"], rids[i]) for i in range(len(events))
            if events[i]["tx"] == tx and rids[i] is not None and events[i]["kind"] != TOKEN]  # fmt: skip
    before = [r for li, r in same if li < events[transfer]["log_index"]]
    if before:
        return before[-1]
    return same[0][1] if same else None


# --- END OF LINK RULE ------------------------------------------------------------------


def _event_abis(abis: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (kind, e["name"]): e for kind, abi in abis.items() for e in abi if e.get("type") == "event"
    }


def _decode_logs(logs: list[dict[str, Any]], contracts: dict[str, str],
                 abis: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
    by_topic: dict[tuple[str, str], dict[str, Any]] = {}
    for (kind, _), event in _event_abis(abis).items():
        by_topic[(kind, "0x" + event_abi_to_log_topic(event).hex())] = event
    out = []
    for log in logs:
        address = log["address"].lower()
        kind = contracts.get(address)
        event = by_topic.get((kind, log["topics"][0].lower())) if kind and log["topics"] else None
        if (
            event is None
            or len([i for i in event["inputs"] if i.get("indexed")]) != len(log["topics"]) - 1
        ):
            continue
        out.append({"kind": kind, "name": event["name"], "address": address,
                    "tx": log["transactionHash"].lower(), "log_index": int(log["logIndex"], 16),
                    "block_number": int(log["blockNumber"], 16), "block_hash": log["blockHash"].lower(),
                    "args": decode_log(event, log["topics"], log["data"])})  # fmt: skip
    out.sort(key=lambda e: (e["block_number"], e["log_index"]))
    return out


def get_logs(
    rpc_: Rpc, queries: list[dict[str, Any]], start: int, end: int, span: int
) -> tuple[list, int]:
    """Every query over [start, end] in spans of ``span`` blocks (halved when refused)."""
    logs: list[dict[str, Any]] = []
    at = start
    while queries and at <= end:
        upto = min(end, at + span - 1)
        calls = [
            ("eth_getLogs", [{**q, "fromBlock": hex(at), "toBlock": hex(upto)}]) for q in queries
        ]
        try:
            answers = []
            for i in range(0, len(calls), BATCH):
                rpc_.get_logs += len(calls[i : i + BATCH])
                answers += rpc_.batch(calls[i : i + BATCH])
        except RangeRefused:
            if span == 1:
                raise
            rpc_.refused += 1
            span = max(1, span // 2)
            continue
        for answer in answers:
            rpc_.logs += len(answer)
            logs += [log for log in answer if not log.get("removed")]
        at = upto + 1
    return logs, span


def rebuild(rpc_: Rpc, abis: dict[str, Any], contracts: dict[str, str], root_id: int,
            start: int, end: int, max_span: int = DEFAULT_MAX_SPAN) -> tuple[dict[int, int], list[dict]]:  # fmt: skip
    """(receivable id -> parent id, steps in chain order) of ``root_id``'s tree from the
    node's logs alone; each step: receivable_id, kind, event, contract, tx_hash,
    log_index, block_number, block_hash, args."""
    by_kind: dict[str, list[str]] = {}
    for address, kind in sorted(contracts.items()):
        by_kind.setdefault(kind, []).append(address)
    plan: dict[tuple[str, int | None, str], list[str]] = {}
    events_abi = _event_abis(abis)
    for kind, names in TRACED.items():
        for name in names:
            event = events_abi.get((kind, name))
            if event is None:
                continue
            space, arg = link_key(kind, name)
            indexed = [i["name"] for i in event["inputs"] if i.get("indexed")]
            position = indexed.index(arg) + 1 if arg in indexed else None
            plan.setdefault((kind, position, space), []).append(
                "0x" + event_abi_to_log_topic(event).hex()
            )
    keys: dict[str, set[Any]] = {
        "receivable": {root_id},
        "financing": set(),
        "uetr": set(),
        "lock": set(),
    }
    new = {k: set(v) for k, v in keys.items()}
    tree: dict[int, int] = {root_id: 0}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    first, span = True, max(1, max_span)
    linked: list[dict[str, Any]] = []
    while first or any(new.values()):
        queries = []
        for (kind, position, space), topic0s in plan.items():
            if kind not in by_kind:
                continue
            if position is None:
                if first:
                    queries.append({"address": by_kind[kind], "topics": [topic0s]})
                continue
            wanted = sorted(new[space], key=str)
            for i in range(0, len(wanted), MAX_TOPICS):
                words = [
                    "0x" + encode(["uint256"], [int(k)]).hex() for k in wanted[i : i + MAX_TOPICS]
                ]
                queries.append(
                    {"address": by_kind[kind], "topics": [topic0s, *[None] * (position - 1), words]}
                )
        first = False
        logs, span = get_logs(rpc_, queries, start, end, span)
        for log in logs:
            found.setdefault((log["transactionHash"].lower(), log["logIndex"]), log)
        events = _decode_logs(list(found.values()), contracts, abis)
        rids = link_tree(events, root_id, tree)
        linked = [e for e, r in zip(events, rids, strict=True) if r is not None]
        new = {k: set() for k in keys}
        for ev in linked:
            a = ev["args"]
            got: list[tuple[str, Any]] = []
            if ev["name"] == "ReceivableSplit":
                got = [("receivable", a["firstChildId"] + i) for i in range(len(a["amounts"]))]
            elif ev["name"] == "FinancingRequested":
                got = [("financing", a["financingId"])]
            elif ev["name"] == "HtlcLocked":
                got = [("lock", a["lockId"])]
            for space, value in got:
                if value not in keys[space]:
                    keys[space].add(value)
                    new[space].add(value)
    hashes = sorted({e["tx"] for e in linked})
    receipts: list[Any] = []
    for i in range(0, len(hashes), BATCH):
        chunk = [("eth_getTransactionReceipt", [h]) for h in hashes[i : i + BATCH]]
        rpc_.receipts += len(chunk)
        receipts += rpc_.batch(chunk)
    events = _decode_logs([log for r in receipts if r for log in r["logs"]], contracts, abis)
    rids = link_tree(events, root_id, dict(tree))
    steps = []
    for i, ev in enumerate(events):
        rid = rids[i]
        if ev["kind"] == TOKEN:
            if ev["name"] != "Transfer":
                continue
            rid = anchor(events, rids, i)
        elif rid is None:
            continue
        steps.append({"receivable_id": rid, "kind": step_kind(ev["name"], ev["args"]),
                      "event": ev["name"], "contract": ev["address"], "tx_hash": ev["tx"],
                      "log_index": ev["log_index"], "block_number": ev["block_number"],
                      "block_hash": ev["block_hash"], "args": ev["args"]})  # fmt: skip
    return tree, steps


def compare(trace: dict[str, Any], tree: dict[int, int], steps: list[dict[str, Any]]) -> list[str]:
    """Each difference between the trace and the chain's tree, named; [] when complete."""
    problems = []
    shown = {(s["tx_hash"].lower(), s["log_index"]): s for s in trace["steps"]}
    real = {(s["tx_hash"], s["log_index"]): s for s in steps}
    shown_ids = {n["id"] for n in trace["receivables"]}
    children: dict[int, list[int]] = {}
    for rid, parent in tree.items():
        children.setdefault(parent, []).append(rid)
    lost: set[int] = set()
    for rid in sorted(tree):
        if rid not in shown_ids and (tree[rid] == 0 or tree[rid] in shown_ids):
            sub, stack = set(), [rid]
            while stack:
                node = stack.pop()
                sub.add(node)
                stack += children.get(node, [])
            lost |= sub
            count = sum(1 for s in steps if s["receivable_id"] in sub)
            problems.append(f"missing subtree: receivable #{rid} (child of #{tree[rid]}) and its "
                            f"{len(sub) - 1} descendants, {count} steps, are on chain, not in the trace")  # fmt: skip
    for rid in sorted(shown_ids - set(tree)):
        problems.append(f"unknown receivable: #{rid} is not in this tree on chain")
    for key, s in real.items():
        if key not in shown and s["receivable_id"] not in lost:
            problems.append(f"missing step: {s['kind']} of receivable #{s['receivable_id']} "
                            f"(tx {s['tx_hash']} log {s['log_index']}) is on chain, not in the trace")  # fmt: skip
    for key, s in shown.items():
        c = real.get(key)
        if c is None:
            problems.append(f"extra step: {s['kind']} shown for receivable #{s['receivable_id']} "
                            f"(tx {s['tx_hash']} log {s['log_index']}) is no log of this tree on chain")  # fmt: skip
            continue
        if c["receivable_id"] != s["receivable_id"]:
            problems.append(f"misattributed step: {s['kind']} (tx {s['tx_hash']} log {s['log_index']}) "
                            f"is shown for receivable #{s['receivable_id']}; on chain it belongs to "
                            f"#{c['receivable_id']}")  # fmt: skip
        diffs = [
            f"{f}: trace {s.get(f)!r}, chain {c[f]!r}"
            for f in ("event", "contract", "kind", "block_number", "block_hash")
            if s.get(f) != c[f]
        ]
        diffs += [f"{n}: trace {s['args'].get(n)!r}, chain {v!r}" for n, v in c["args"].items()
                  if s["args"].get(n) != v]  # fmt: skip
        if diffs:
            problems.append(
                f"altered step: {s['kind']} of receivable #{s['receivable_id']}: "
                + "; ".join(diffs)
            )
    order = {k: i for i, k in enumerate(real)}
    common = [k for k in shown if k in real]
    for a, b in itertools.pairwise(common):
        if order[a] > order[b]:
            problems.append(f"reordered steps: {shown[a]['kind']} (tx {a[0]} log {a[1]}) is shown before "
                            f"{shown[b]['kind']} (tx {b[0]} log {b[1]}); the chain has them the other way round")  # fmt: skip
    return problems


def verify_completeness(trace: dict[str, Any], url: str, abis: dict[str, Any],
                        max_span: int = DEFAULT_MAX_SPAN) -> bool:  # fmt: skip
    """Confirm the contract list, rebuild the tree from the node and compare; print each
    difference and the RPC cost; True when the trace is complete."""
    contracts = {a.lower(): k for a, k in (trace.get("contracts") or {}).items()}
    if not contracts:
        print("INCOMPLETE the trace names no ledger contracts: completeness cannot be checked")
        return False
    rpc_ = Rpc(url)
    end = trace.get("as_of_block")
    if end is None:
        (head,) = rpc_.batch([("eth_blockNumber", [])])
        end = int(head, 16)
    problems = confirm_contracts(rpc_, abis, contracts, hex(end))
    tree, steps = rebuild(rpc_, abis, contracts, trace["root_id"], int(trace.get("from_block") or 0),
                          end, max_span)  # fmt: skip
    problems += compare(trace, tree, steps)
    for problem in problems:
        print(f"INCOMPLETE {problem}")
    cost = rpc_.cost()
    print(f"completeness: {len(steps)} steps and {len(tree)} receivables on chain, "
          f"{len(trace['steps'])} steps in the trace; blocks {trace.get('from_block') or 0}-{end}; "
          f"rpc {cost['requests']} requests, {cost['calls']} calls ({cost['get_logs_calls']} eth_getLogs, "
          f"{cost['receipt_calls']} receipts), {cost['logs_fetched']} logs, {cost['ms']} ms")  # fmt: skip
    if not problems:
        print("ok       the trace is COMPLETE: no step or subtree of the tree on chain is missing")
    return not problems


if __name__ == "__main__":
    sys.exit(main(sys.argv))
