"""Completeness: a receivable's tree rebuilt from the node's logs alone, and compared
with the trace step by step.

The per-step check (verify.py) proves that each step the trace shows is on chain; it
cannot see a step the index lost or that someone deleted. This module asks the node for
every log of the tree, by the keys the logs carry in their indexed topics:

1. from the root's id, ``eth_getLogs`` over every ledger contract of the trace's
   ``contracts`` with the receivable ids of the tree known so far OR-ed in the topic of
   each followed event that names a receivable (a split names its children: they are
   asked for in the next round), the financing ids in the topic of the desk's events,
   the lock ids in the HTLC's; an event whose key is not indexed (a PvP's referenceId,
   an HTLC lock's UETR) is asked for by its signature alone, once, and kept only if the
   rule below links it to the tree. Rounds repeat until no new key turns up. Block
   ranges go in spans of at most ``max_span`` blocks, halved when the node refuses a
   range as too large; key sets in chunks of ``max_topics``; each round's queries go in
   one JSON-RPC batch.
2. the receipts of the transactions found (batched): their settlement-token transfers
   and deferred payments attach by transaction, as in the trace;
3. every log of those receipts is linked to its receivable by ledger_app/domain/links.py,
   the rule the indexer's store applied when it wrote the index, and the steps are
   assembled and ordered by trace.assemble_steps, as build_trace does.

``compare`` then names every difference: a step missing from the trace, a step the
chain does not have in this tree (fabricated, or reorged away), a step shown under the
wrong receivable, an altered step (its arguments, with both values), steps out of
order, and a missing subtree (a receivable of the tree on chain the trace lacks, with
its step count). ``cost`` says what it took: requests, calls, logs and wall time.

What this trusts: the node; the ABIs; the contract list of the trace, which is the
deployment record's and which ``confirm_contracts`` checks against the chain where the
contracts link to each other (code at each address, the participant registry's
``isLedgerContract`` for the contracts that hold ledger powers, the receivable
registry's ``riskControl()``, ``settlementToken(currency)`` for each token).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils.abi import event_abi_to_log_topic

from ledger_app.audit.encode import ABI
from ledger_app.audit.trace import EventRow, assemble_steps
from ledger_app.chain.abi import decode_function_result, encode_function_call
from ledger_app.chain.decode import EventDecoder, UnknownEventError
from ledger_app.domain.links import LinkLookups, link_all, link_key
from ledger_app.domain.vocabulary import TRACED
from ledger_app.errors import RangeTooLargeError

DEFAULT_MAX_SPAN = 10_000
DEFAULT_MAX_TOPICS = 500
_BATCH = 100
_TOKEN = "SettlementToken"
#: The fields of a step the chain decides (seq and timestamps are the per-step check's).
_COMPARED = ("event", "contract", "kind", "block_number", "block_hash")


@dataclass
class Cost:
    """What the rebuild asked of the node."""

    requests: int = 0  # HTTP round trips (one JSON-RPC batch is one)
    calls: int = 0  # JSON-RPC calls in them
    get_logs: int = 0
    receipts: int = 0
    logs: int = 0  # logs the node returned to eth_getLogs
    refused_ranges: int = 0
    started: float = field(default_factory=time.monotonic)

    def json(self) -> dict[str, Any]:
        """As the verify result carries it."""
        return {
            "requests": self.requests, "calls": self.calls, "get_logs_calls": self.get_logs,
            "receipt_calls": self.receipts, "logs_fetched": self.logs,
            "refused_ranges": self.refused_ranges,
            "ms": round((time.monotonic() - self.started) * 1000, 1),
        }  # fmt: skip


class _Counted:
    def __init__(self, rpc: Any, cost: Cost) -> None:
        self.rpc, self.cost = rpc, cost

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        self.cost.requests += 1
        self.cost.calls += len(calls)
        return self.rpc.batch(calls)


@dataclass
class Rebuilt:
    """The tree as the chain has it."""

    receivables: dict[int, int]  # id -> parent id (0 for the root)
    steps: list[dict[str, Any]]
    cost: Cost


def rebuild(
    rpc: Any,
    abis: Mapping[str, ABI],
    contracts: Mapping[str, str],
    root_id: int,
    from_block: int,
    to_block: int,
    *,
    max_span: int = DEFAULT_MAX_SPAN,
    max_topics: int = DEFAULT_MAX_TOPICS,
) -> Rebuilt:
    """The tree of ``root_id`` from the logs of ``contracts`` (address -> kind) in blocks
    [from_block, to_block], with every step as the trace would show it."""
    cost = Cost()
    counted = _Counted(rpc, cost)
    decoder = EventDecoder(abis)
    for address, kind in contracts.items():
        decoder.follow(address.lower(), kind)
    by_kind: dict[str, list[str]] = {}
    for address, kind in sorted(contracts.items()):
        by_kind.setdefault(kind, []).append(address.lower())
    plan = _plan(abis)
    keys: dict[str, set[int | str]] = {
        "receivable": {root_id},
        "financing": set(),
        "uetr": set(),
        "lock": set(),
    }
    new: dict[str, set[int | str]] = {k: set(v) for k, v in keys.items()}
    parents: dict[int, int] = {root_id: 0}
    found: dict[tuple[str, int], dict[str, Any]] = {}
    first = True
    span = max(1, max_span)
    while any(new.values()) or first:
        queries = []
        for kind, position, space, topic0s in plan:
            addresses = by_kind.get(kind)
            if not addresses:
                continue
            if position is None:  # key not indexed: by signature, once
                if first:
                    queries.append({"address": addresses, "topics": [topic0s]})
                continue
            wanted = sorted(new[space], key=str)
            for i in range(0, len(wanted), max_topics):
                topics: list[Any] = [topic0s] + [None] * (position - 1)
                topics.append([_topic(space, k) for k in wanted[i : i + max_topics]])
                queries.append({"address": addresses, "topics": topics})
        first = False
        logs, span = _get_logs(counted, queries, from_block, to_block, span, cost)
        for log in logs:
            found.setdefault((log["transactionHash"], int(log["logIndex"], 16)), log)
        new = {k: set() for k in keys}
        # Which keys the tree has now: link what was found, in chain order.
        events = _decoded(decoder, found.values())
        linked = _link(events, parents, root_id)
        for event, _rid in linked:
            for space, value in _keys_of(event):
                if value not in keys[space]:
                    keys[space].add(value)
                    new[space].add(value)
    # Every log of the transactions that touched the tree: transfers and deferrals too.
    hashes = sorted({event.tx_hash for event, _ in linked})
    receipts: list[Any] = []
    for i in range(0, len(hashes), _BATCH):
        chunk = [("eth_getTransactionReceipt", [h]) for h in hashes[i : i + _BATCH]]
        cost.receipts += len(chunk)
        receipts += counted.batch(chunk)
    all_logs = [log for r in receipts if r for log in r["logs"]]
    events = _decoded(decoder, all_logs)
    tree_txs = set(hashes)
    pairs: list[tuple[EventRow, int | None]] = []
    for event, link in zip(events, link_all(events, _lookups(parents, root_id)), strict=True):
        if event.kind == _TOKEN:
            if event.name == "Transfer" and event.tx_hash in tree_txs:
                pairs.append((_row(event), None))
        elif link is not None and link[1] == root_id:
            pairs.append((_row(event), link[0]))
    currency = next((e.args["currency"] for e, rid in pairs
                     if e.event_name == "ReceivableRegistered" and rid == root_id), "?")  # fmt: skip
    steps = assemble_steps(pairs, currency, {})
    return Rebuilt(receivables=parents, steps=steps, cost=cost)


def compare(trace: Mapping[str, Any], chain: Rebuilt) -> dict[str, Any]:
    """Every difference between the trace's steps and receivables and the chain's, named."""
    shown = {_key(s): s for s in trace["steps"]}
    real = {_key(s): s for s in chain.steps}
    shown_ids = {n["id"] for n in trace["receivables"]}
    missing_subtrees = []
    children: dict[int, list[int]] = {}
    for rid, parent in chain.receivables.items():
        children.setdefault(parent, []).append(rid)
    for rid in sorted(chain.receivables):
        parent = chain.receivables[rid]
        if rid not in shown_ids and (parent == 0 or parent in shown_ids):
            subtree = _subtree(rid, children)
            missing_subtrees.append({
                "receivable_id": rid, "parent_id": parent, "receivables": sorted(subtree),
                "steps": sum(1 for s in chain.steps if s["receivable_id"] in subtree),
                "reason": f"receivable #{rid} (child of #{parent}) and its "
                          f"{len(subtree) - 1} descendants are on chain, not in the trace",
            })  # fmt: skip
    in_subtree = {r for m in missing_subtrees for r in m["receivables"]}
    unknown_receivables = [
        {"receivable_id": rid, "reason": f"receivable #{rid} is not in this tree on chain"}
        for rid in sorted(shown_ids - set(chain.receivables))
    ]
    missing = [
        _named(s, f"missing step: {s['kind']} of receivable #{s['receivable_id']} "
                  f"(tx {s['tx_hash']} log {s['log_index']}) is on chain, not in the trace")
        for k, s in real.items() if k not in shown and s["receivable_id"] not in in_subtree
    ]  # fmt: skip
    extra = [
        _named(s, f"extra step: {s['kind']} shown for receivable #{s['receivable_id']} "
                  f"(tx {s['tx_hash']} log {s['log_index']}) is no log of this tree on chain")
        for k, s in shown.items() if k not in real
    ]  # fmt: skip
    misattributed, altered = [], []
    for k, s in shown.items():
        c = real.get(k)
        if c is None:
            continue
        if c["receivable_id"] != s["receivable_id"]:
            misattributed.append(_named(s, (
                f"{s['kind']} (tx {s['tx_hash']} log {s['log_index']}) is shown for receivable "
                f"#{s['receivable_id']}; on chain it belongs to #{c['receivable_id']}")))  # fmt: skip
        diffs = [
            f"{f}: trace {s.get(f)!r}, chain {c.get(f)!r}"
            for f in _COMPARED
            if s.get(f) != c.get(f)
        ]
        diffs += [
            f"{name}: trace {s['args'].get(name)!r}, chain {value!r}"
            for name, value in c["args"].items() if s["args"].get(name) != value
        ]  # fmt: skip
        if diffs:
            altered.append(_named(s, f"altered step {s['kind']} of receivable #{s['receivable_id']}: "
                                     + "; ".join(diffs)))  # fmt: skip
    order = {k: i for i, k in enumerate(real)}
    common = [k for k in shown if k in real]
    reordered = []
    for before, after in itertools.pairwise(common):
        if order[before] > order[after]:
            a, b = shown[before], shown[after]
            reordered.append({
                "steps": [_where(a), _where(b)],
                "reason": f"{a['kind']} (tx {a['tx_hash']} log {a['log_index']}) is shown before "
                          f"{b['kind']} (tx {b['tx_hash']} log {b['log_index']}); the chain has them "
                          f"the other way round",
            })  # fmt: skip
    problems = {
        "missing_steps": missing, "extra_steps": extra, "misattributed_steps": misattributed,
        "altered_steps": altered, "reordered_steps": reordered,
        "missing_subtrees": missing_subtrees, "unknown_receivables": unknown_receivables,
    }  # fmt: skip
    return {
        "complete": not any(problems.values()),
        "chain_steps": len(chain.steps),
        "trace_steps": len(trace["steps"]),
        "chain_receivables": len(chain.receivables),
        **problems,
        "rpc": chain.cost.json(),
    }


def confirm_contracts(
    rpc: Any, abis: Mapping[str, ABI], contracts: Mapping[str, str], block: str
) -> list[str]:
    """Why the contract list cannot be trusted, from what the chain says of it; [] if it
    holds: code at every address; the participant registry (from a token's
    ``registry()``) calls each desk, clearing, FX and HTLC contract a ledger contract;
    the receivable registry's ``riskControl()`` is the listed RiskControl; each token is
    the one listed for its currency."""
    problems: list[str] = []
    addresses = sorted(contracts)
    codes = rpc.batch([("eth_getCode", [a, block]) for a in addresses])
    for address, code in zip(addresses, codes, strict=True):
        if code in (None, "0x", ""):
            problems.append(f"no contract at {address} ({contracts[address]})")
    of_kind: dict[str, list[str]] = {}
    for address, kind in contracts.items():
        of_kind.setdefault(kind, []).append(address)

    def call(address: str, kind: str, function: str, *args: Any) -> Any:
        data = "0x" + encode_function_call(abis[kind], function, list(args)).hex()
        out = rpc.batch([("eth_call", [{"to": address, "data": data}, block])])[0]
        return decode_function_result(abis[kind], function, len(args), bytes.fromhex(out[2:]))

    participants = of_kind.get("ParticipantRegistry", [])
    for token in of_kind.get(_TOKEN, []):
        (registry,) = call(token, _TOKEN, "registry")
        if registry.lower() not in participants:
            problems.append(
                f"token {token} answers to registry {registry.lower()}, not a listed one"
            )
        (currency,) = call(token, _TOKEN, "currency")
        for registry_address in participants:
            (listed,) = call(registry_address, "ParticipantRegistry", "settlementToken", currency)
            if listed.lower() != token:
                problems.append(f"token {token} is not the one listed for {currency!r}")
    for kind in ("FinancingDesk", "MaturityClearing", "FxSettlement", "HashTimeLock"):
        for address in of_kind.get(kind, []):
            for registry_address in participants:
                (ok,) = call(registry_address, "ParticipantRegistry", "isLedgerContract", address)
                if not ok:
                    problems.append(
                        f"{kind} {address} is no ledger contract of the participant registry"
                    )
    for registry_address in of_kind.get("ReceivableRegistry", []):
        (risk,) = call(registry_address, "ReceivableRegistry", "riskControl")
        if risk.lower() not in of_kind.get("RiskControl", []) and int(risk, 16) != 0:
            problems.append(f"the registry's risk control is {risk.lower()}, not a listed one")
    return problems


# --- internals ------------------------------------------------------------------------


def _plan(abis: Mapping[str, ABI]) -> list[tuple[str, int | None, str, list[str]]]:
    # (kind, topic position of the key or None, key space, topic0s): one filter per
    # kind, position and space, from the ABI's indexed inputs.
    groups: dict[tuple[str, int | None, str], list[str]] = {}
    for kind, names in TRACED.items():
        events = {e["name"]: e for e in abis.get(kind, []) if e.get("type") == "event"}
        for name in names:
            if name not in events:
                continue
            space, arg = link_key(kind, name)
            indexed = [i["name"] for i in events[name]["inputs"] if i.get("indexed")]
            position = indexed.index(arg) + 1 if arg in indexed else None
            topic0 = "0x" + event_abi_to_log_topic(events[name]).hex()
            groups.setdefault((kind, position, space), []).append(topic0)
    return [(k, p, s, t) for (k, p, s), t in groups.items()]


def _topic(space: str, key: int | str) -> str:
    if space == "uetr":
        return "0x" + bytes.fromhex(str(key)[2:]).ljust(32, b"\0").hex()
    return "0x" + abi_encode(["uint256"], [int(key)]).hex()


def _get_logs(
    rpc: _Counted, queries: list[dict[str, Any]], start: int, end: int, span: int, cost: Cost
) -> tuple[list[dict[str, Any]], int]:
    # Every query over [start, end] in spans the node accepts, each span's queries in
    # batches; a refused span is halved and asked again. Returns the logs and the span
    # that worked (the next round starts from it).
    logs: list[dict[str, Any]] = []
    if not queries or start > end:
        return logs, span
    at = start
    while at <= end:
        upto = min(end, at + span - 1)
        calls = [
            ("eth_getLogs", [{**q, "fromBlock": hex(at), "toBlock": hex(upto)}]) for q in queries
        ]
        try:
            answers = []
            for i in range(0, len(calls), _BATCH):
                cost.get_logs += len(calls[i : i + _BATCH])
                answers += rpc.batch(calls[i : i + _BATCH])
        except RangeTooLargeError:
            if span == 1:
                raise
            cost.refused_ranges += 1
            span = max(1, span // 2)
            continue
        for answer in answers:
            cost.logs += len(answer)
            logs += [log for log in answer if not log.get("removed")]
        at = upto + 1
    return logs, span


def _decoded(decoder: EventDecoder, logs: Any) -> list[Any]:
    events = []
    for log in logs:
        try:
            events.append(decoder.decode(log))
        except UnknownEventError:
            continue
    events.sort(key=lambda e: (e.block_number, e.log_index))
    return events


def _lookups(parents: dict[int, int], root_id: int) -> LinkLookups:
    # The rule's questions answered from what the logs established, in chain order (a
    # receivable outside this tree is unknown here, as it is to the tree).
    return LinkLookups(
        root_of=lambda rid: root_id if rid in parents else None,
        financing_receivable=lambda _fid: None,
        pvp_reference=lambda _uetr: None,
        lock_uetr=lambda _lock: None,
    )


def _link(events: list[Any], parents: dict[int, int], root_id: int) -> list[tuple[Any, int]]:
    linked = []
    for event, link in zip(events, link_all(events, _lookups(parents, root_id)), strict=True):
        if link is None or link[1] != root_id:
            continue
        if event.name == "ReceivableSplit":
            for i in range(len(event.args["amounts"])):
                parents.setdefault(event.args["firstChildId"] + i, link[0])
        linked.append((event, link[0]))
    return linked


def _keys_of(event: Any) -> list[tuple[str, int | str]]:
    a = event.args
    if event.name == "ReceivableSplit":
        return [("receivable", a["firstChildId"] + i) for i in range(len(a["amounts"]))]
    if event.name == "FinancingRequested":
        return [("financing", a["financingId"])]
    if event.name == "HtlcLocked":
        return [("lock", a["lockId"])]
    return []


def _row(event: Any) -> EventRow:
    return EventRow(
        contract_kind=event.kind, event_name=event.name, contract=event.address,
        block_number=event.block_number, block_hash=event.block_hash, block_timestamp=None,
        tx_hash=event.tx_hash, log_index=event.log_index, args=event.args,
    )  # fmt: skip


def _subtree(rid: int, children: Mapping[int, list[int]]) -> set[int]:
    out, stack = set(), [rid]
    while stack:
        node = stack.pop()
        out.add(node)
        stack += children.get(node, [])
    return out


def _key(step: Mapping[str, Any]) -> tuple[str, int]:
    return step["tx_hash"].lower(), int(step["log_index"])


def _where(step: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": step["kind"], "receivable_id": step["receivable_id"],
            "tx_hash": step["tx_hash"], "log_index": step["log_index"]}  # fmt: skip


def _named(step: Mapping[str, Any], reason: str) -> dict[str, Any]:
    return {**_where(step), "event": step.get("event"), "reason": reason}
