"""A receivable's trace: the tree from its root, and every step of it from the events table.

Steps come from the raw ``events`` table, never from the read models, so that each
one names the log it rests on (block number, block hash, tx hash, log index) and can
be checked against the chain (verify.py). The read models only say which receivables
belong to the tree and what they look like now.

What belongs to a tree:

- ReceivableRegistry events of its receivables (registration, status changes,
  splits, transfers, freezes, settlement);
- FinancingDesk events of financings requested on them (request, offers, acceptance,
  cancellation, default, recourse);
- MaturityClearing's repayment of the root and redemption of its leaves;
- CreditLines' drawing of a financier's line by a financed receivable (at accept) and
  its release (at clearing, or a write-off), each shown with the line's financier
  (from the line's own CreditLineGranted event); RiskControl's overdue flag on the root
  and its cure;
- FxSettlement PvP settlements whose ``referenceId`` is one of its receivables, and
  HashTimeLock locks carrying such a settlement's UETR (the other ledger's leg);
- settlement-token transfers in the same transaction as any of those (disbursement,
  escrow, refund, repayment and payout legs);
- a PaymentDeferred in the same transaction as one of those steps, from the same
  contract: the payment that step owed a party not in good standing (an offer's refund
  to a frozen financier, an HTLC payment), kept for it to claim. The step names what it
  defers ("refund of offer 1 of financing 7 deferred"). The claim itself is the payee's
  own transaction and one claim may take the refunds of several financings, so it is not
  a step of any one tree: GET /v1/claims lists it with the deferrals it took.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select

from ledger_app.audit.encode import EventEncoder
from ledger_app.db import schema
from ledger_app.domain.claims import deferral_causes
from ledger_app.domain.vocabulary import OFFER_STATUS, RECEIVABLE_STATUS, RELEASE_CAUSE, TRACED

#: The events a trace follows, by contract kind (token transfers are found by tx).
FOLLOWED = TRACED

#: What a token transfer is for, by the event that shares its transaction (first wins).
_TRANSFER_PURPOSE = (
    ("FinancingAccepted", "disbursement"),
    ("FinancingBoughtBack", "recourse_to_financier"),
    ("RecoursePaid", "recourse_payment"),
    ("RecourseWithdrawn", "recourse_refund"),
    ("FinancingSold", "sale_price"),
    ("FinancingOffered", "escrow"),
    ("FinancingOfferClosed", "escrow_refund"),
    ("FinancingCancelled", "escrow_refund"),
    ("RootRepaid", "repayment"),
    ("LeafRedeemed", "redemption_payout"),
    ("EarlyPaymentAccepted", "early_payment"),
    ("LeafRepaid", "partial_repayment"),
    ("PvpSettled", "pvp_leg"),
    ("HtlcLocked", "htlc_escrow"),
    ("HtlcClaimed", "htlc_release"),
    ("HtlcRefunded", "htlc_refund"),
)
_PURPOSES = dict(_TRANSFER_PURPOSE)
#: The receivables columns a trace shows, in the order _nodes unpacks them.
_NODE_COLUMNS = ("id", "parent_id", "root_id", "debtor", "creditor", "holder", "amount",
                 "currency", "due_date", "status", "frozen")  # fmt: skip


class ReceivableNotIndexed(LookupError):
    """The index holds no receivable with this id."""


@dataclass(frozen=True)
class EventRow:
    """One row of the events table, args parsed."""

    contract_kind: str
    event_name: str
    contract: str
    block_number: int
    block_hash: str
    block_timestamp: int | None
    tx_hash: str
    log_index: int
    args: dict[str, Any]


def build_trace(
    conn: Connection,
    chain_id: int,
    receivable_id: int,
    encoder: EventEncoder | None = None,
    contracts: Mapping[str, str] | None = None,
    from_block: int | None = None,
) -> dict[str, Any]:
    """The full trace of the tree ``receivable_id`` belongs to, as JSON-ready data.

    ``encoder`` (from the ABIs) adds each step's raw log (address, topics, data), which
    an exported trace must carry for scripts/verify_trace.py. ``contracts`` (address ->
    kind, the deployment record's ledger contracts) and ``from_block`` (the ledger's
    deployment block) are carried as ``contracts`` (with the listed settlement tokens)
    and ``from_block``: what a completeness check searches. Raises
    ReceivableNotIndexed for an unknown id.
    """
    nodes = _tree_nodes(conn, receivable_id)
    if not nodes:
        raise ReceivableNotIndexed(receivable_id)
    root_id = int(nodes[0][2])
    root = next(n for n in nodes if n[0] == root_id)
    currency = root[7]
    listed = conn.execute(select(schema.settlement_tokens.c.address,
                                 schema.settlement_tokens.c.currency)).all()  # fmt: skip
    tokens = {address: code for address, code in listed if code}
    events = _tree_events(conn, chain_id, {n[0] for n in nodes}, root_id)
    events.sort(key=lambda pair: (pair[0].block_number, pair[0].log_index))
    timestamps = _fill_timestamps(conn, chain_id, [e for e, _ in events])
    financiers = _line_financiers(conn, chain_id, [e for e, _ in events])
    steps = assemble_steps(events, currency, tokens, financiers, timestamps, encoder)
    as_of = _checkpoint(conn, chain_id)
    trace = {
        "chain_id": chain_id,
        "receivable_id": receivable_id,
        "root_id": root_id,
        "as_of_block": as_of,
        "registry": _registry_address(steps),
        "receivables": _nodes(nodes),
        "steps": steps,
    }
    if contracts is not None:
        # What the completeness check (completeness.py, scripts/verify_trace.py) searches:
        # every ledger contract by address, the listed tokens, and the blocks since the
        # ledger was deployed up to the indexed one.
        trace["contracts"] = {**{a.lower(): k for a, k in sorted(contracts.items())},
                              **{a.lower(): "SettlementToken" for a in sorted(a for a, _ in listed)}}  # fmt: skip
        trace["from_block"] = from_block
    return trace


def assemble_steps(
    events: list[tuple[EventRow, int | None]],
    currency: str,
    tokens: Mapping[str, str],
    financiers: Mapping[tuple[str, int], str] | None = None,
    timestamps: Mapping[int, int | None] | None = None,
    encoder: EventEncoder | None = None,
) -> list[dict[str, Any]]:
    """The steps of a tree's events, each (event, its receivable; None for a token
    transfer), sorted in chain order (block, log index) here: a transfer takes the
    receivable of the step it pays for, a deferral its cause's details. One rule for the
    trace from the index and for the tree rebuilt from the node (completeness.py)."""
    events = sorted(events, key=lambda pair: (pair[0].block_number, pair[0].log_index))
    anchors = _anchors(events)
    steps: list[dict[str, Any]] = []
    causes = deferral_causes([(e.tx_hash, e.contract, e.event_name) for e, _ in events])
    for seq, (event, rid) in enumerate(events, start=1):
        if rid is None:  # a token transfer: the receivable of the step it pays for
            rid = _anchor_for(anchors, event)
        step = describe(event, rid, currency, tokens, anchors_purpose=_purpose(anchors, event),
                        line_financiers=financiers)  # fmt: skip
        step["seq"] = seq
        step["block_timestamp"] = (timestamps or {}).get(event.block_number)
        if seq - 1 in causes:  # steps so far are in events' order: its cause is among them
            step["details"].update(deferral_cause(steps[causes[seq - 1]]))
        if encoder is not None:
            step["raw"] = {"address": event.contract,
                           **encoder.encode(event.contract_kind, event.event_name, event.args)}  # fmt: skip
        steps.append(step)
    return steps


def describe(
    event: EventRow,
    receivable_id: int | None,
    currency: str,
    tokens: Mapping[str, str],
    *,
    anchors_purpose: str | None = None,
    line_financiers: Mapping[tuple[str, int], str] | None = None,
) -> dict[str, Any]:
    """One event as a trace step: kind, actors, amounts with currency, and where it is.

    ``line_financiers``: (CreditLines address, line id) -> the financier that granted it,
    named as the actor of a line's drawing and release (their events name the line only).
    """
    a = event.args
    kind, actors, amounts, details = _STEP_BUILDERS[event.event_name](a, currency, tokens, event)
    if event.event_name == "Transfer" and anchors_purpose:
        details["purpose"] = anchors_purpose
    if event.contract_kind == "CreditLines" and line_financiers is not None:
        financier = line_financiers.get((event.contract, a["lineId"]))
        if financier is not None:
            actors["financier"] = financier
    return {
        "receivable_id": receivable_id,
        "kind": kind,
        "event": event.event_name,
        "contract_kind": event.contract_kind,
        "contract": event.contract,
        "actors": actors,
        "amounts": amounts,
        "details": details,
        "block_number": event.block_number,
        "block_hash": event.block_hash,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
        "args": a,
    }


#: What a payment deferred right after a step of these kinds was owed for.
_DEFERRED_FOR = {
    "offer_closed": "refund of offer {offer_index} of financing {financing_id}",
    "htlc_claim": "payment of HTLC lock {lock_id} to its recipient",
    "htlc_refund": "refund of HTLC lock {lock_id} to its sender",
    "redemption": "redemption of leaf {leaf_id}",
    "partial_repayment": "payment of leaf {leaf_id} ahead of its root",
    "buy_back": "recourse paid for financing {financing_id} to its financier",
}


def deferral_cause(cause: Mapping[str, Any]) -> dict[str, Any]:
    """The details a PaymentDeferred step takes from the step it defers a payment of (the
    step before it from the same contract in the same transaction)."""
    template = _DEFERRED_FOR.get(cause["kind"])
    ids = {
        k: v for k, v in cause["details"].items() if k in ("financing_id", "offer_index", "lock_id")
    }
    if cause["kind"] in ("redemption", "partial_repayment"):
        ids["leaf_id"] = cause["receivable_id"]
    purpose = template.format(**ids) if template else cause["kind"]
    return {**ids, "deferred_for": cause["kind"], "purpose": f"{purpose} deferred"}


def iter_events(conn: Connection, query: Any, *, yield_per: int = 1000) -> Iterator[EventRow]:
    """Rows of an events query, streamed from a server-side cursor."""
    result = conn.execution_options(yield_per=yield_per).execute(query)
    for row in result:
        yield _event_row(row)


def _event_row(row: Any) -> EventRow:
    return EventRow(
        contract_kind=row.contract_kind,
        event_name=row.event_name,
        contract=row.contract,
        block_number=int(row.block_number),
        block_hash=row.block_hash,
        block_timestamp=None if row.block_timestamp is None else int(row.block_timestamp),
        tx_hash=row.tx_hash,
        log_index=int(row.log_index),
        args=json.loads(row.args),
    )


def event_columns() -> list[Any]:
    """The events columns an EventRow needs."""
    e = schema.events
    return [
        e.c.contract_kind, e.c.event_name, e.c.contract, e.c.block_number, e.c.block_hash,
        e.c.block_timestamp, e.c.tx_hash, e.c.log_index, e.c.args,
    ]  # fmt: skip


# --- finding the tree's events -------------------------------------------------------


def _tree_nodes(conn: Connection, receivable_id: int) -> list[Row]:
    # The receivables of the tree ``receivable_id`` belongs to, in id order, as tuples of
    # _NODE_COLUMNS (the columns a trace shows; rows become dicts once, in _nodes); none
    # for an unknown id. One statement: the root's id comes from a subquery.
    r = schema.receivables
    root_of = select(r.c.root_id).where(r.c.id == receivable_id).scalar_subquery()
    query = select(*(r.c[name] for name in _NODE_COLUMNS)).where(r.c.root_id == root_of)
    return list(conn.execute(query.order_by(r.c.id)))


def _tree_events(
    conn: Connection, chain_id: int, ids: set[int], root_id: int
) -> list[tuple[EventRow, int | None]]:
    # The indexer links each event to its receivable and tree as it stores it
    # (ledger_app/indexer/links.py). One statement reads every event of the tree's
    # transactions (ix_events_root finds the transactions, then the primary key's
    # (chain_id, tx_hash) their events): the tree's own, and the settlement-token
    # transfers among the rest. Asked for the transfers by tx_hash IN (...) with
    # contract_kind and event_name, SQLite (no statistics) read every Transfer of the
    # chain through ix_events_event_name instead.
    e = schema.events
    tree_txs = select(e.c.tx_hash).where(e.c.chain_id == chain_id, e.c.root_id == root_id)
    query = select(*event_columns(), e.c.receivable_id, e.c.root_id).where(
        e.c.chain_id == chain_id, e.c.tx_hash.in_(tree_txs)
    )
    found: list[tuple[EventRow, int | None]] = []
    for row in conn.execute(query):
        if row.root_id == root_id and row.receivable_id in ids:
            found.append((_event_row(row), int(row.receivable_id)))
        if row.contract_kind == "SettlementToken" and row.event_name == "Transfer":
            found.append((_event_row(row), None))
    return found


#: Per transaction, its traced (non-token) events as (log index, receivable, event name),
#: in log order.
Anchors = dict[str, list[tuple[int, int, str]]]


def _anchors(events: list[tuple[EventRow, int | None]]) -> Anchors:
    anchors: Anchors = {}
    for event, rid in sorted(events, key=lambda pair: pair[0].log_index):
        if rid is not None:
            anchors.setdefault(event.tx_hash, []).append((event.log_index, rid, event.event_name))
    return anchors


def _anchor_for(anchors: Anchors, transfer: EventRow) -> int | None:
    # The receivable of the traced event just before the transfer in its transaction (a
    # batch redemption pays each leaf right after that leaf's events), else of the first
    # one after it.
    traced = anchors.get(transfer.tx_hash)
    if not traced:
        return None
    at = bisect.bisect_left(traced, (transfer.log_index, -1))
    return traced[at - 1][1] if at > 0 else traced[0][1]


def _purpose(anchors: Anchors, transfer: EventRow) -> str | None:
    # The traced event just before the transfer in its transaction says what it is for
    # (accept disburses, then refunds the other offers); else the first one after it.
    # Found from the transfer's place among its transaction's traced events: scanning
    # every event of the tree for every transfer made a tree of a thousand redeemed
    # leaves quadratic.
    if transfer.event_name != "Transfer":
        return None
    traced = anchors.get(transfer.tx_hash, [])
    before = bisect.bisect_left(traced, (transfer.log_index,))
    after = bisect.bisect_left(traced, (transfer.log_index + 1,))
    for at in itertools.chain(range(before - 1, -1, -1), range(after, len(traced))):
        if traced[at][2] in _PURPOSES:
            return _PURPOSES[traced[at][2]]
    return None


def _fill_timestamps(
    conn: Connection, chain_id: int, events: list[EventRow]
) -> dict[int, int | None]:
    stamps: dict[int, int | None] = {e.block_number: e.block_timestamp for e in events}
    missing = [n for n, t in stamps.items() if t is None]
    if missing:  # events indexed before migration 0004: the blocks table may still know
        b = schema.blocks
        for number, timestamp in conn.execute(
            select(b.c.number, b.c.timestamp).where(
                b.c.chain_id == chain_id, b.c.number.in_(missing)
            )
        ):
            stamps[int(number)] = int(timestamp)
    return stamps


def _line_financiers(
    conn: Connection, chain_id: int, events: list[EventRow]
) -> dict[tuple[str, int], str]:
    # Who granted each line the tree drew on, from the line's CreditLineGranted event
    # (the events table, like every step; not the credit_lines read model).
    wanted = {(e.contract, e.args["lineId"]) for e in events if e.contract_kind == "CreditLines"}
    if not wanted:
        return {}
    e = schema.events
    query = select(e.c.contract, e.c.args).where(
        e.c.chain_id == chain_id,
        e.c.event_name == "CreditLineGranted",
        e.c.contract.in_(sorted({c for c, _ in wanted})),
    )
    found = {}
    for contract, args in conn.execute(query):
        granted = json.loads(args)
        if (contract, granted["lineId"]) in wanted:
            found[(contract, granted["lineId"])] = granted["financier"]
    return found


def _checkpoint(conn: Connection, chain_id: int) -> int | None:
    c = schema.checkpoint
    value = conn.execute(select(c.c.block_number).where(c.c.chain_id == chain_id)).scalar()
    return None if value is None else int(value)


def _registry_address(steps: list[dict[str, Any]]) -> str | None:
    return next((s["contract"] for s in steps if s["contract_kind"] == "ReceivableRegistry"), None)


def _nodes(rows: list[Row]) -> list[dict[str, Any]]:
    # Each row of _tree_nodes as the trace shows it. Parents and children are looked up
    # in maps built once: a tree of a thousand nodes would otherwise scan every node for
    # every node.
    parent_of = {row[0]: row[1] for row in rows}
    children: dict[int, list[int]] = {}
    for rid, parent_id in parent_of.items():
        children.setdefault(parent_id, []).append(rid)
    nodes = []
    for rid, parent_id, root_id, debtor, creditor, holder, amount, currency, due, status, frozen in rows:  # fmt: skip
        tier, parent = 0, parent_id
        while parent:
            tier += 1
            parent = parent_of.get(parent, 0)
        nodes.append({
            "id": rid, "parent_id": parent_id, "root_id": root_id, "tier": tier,
            "children": children.get(rid, []), "debtor": debtor, "creditor": creditor,
            "holder": holder, "amount": str(amount), "currency": currency, "due_date": due,
            "status": status, "frozen": bool(frozen),
        })  # fmt: skip
    return nodes


# --- one step per event --------------------------------------------------------------

Built = tuple[str, dict[str, str], list[dict[str, str]], dict[str, Any]]


def _money(amount: int, currency: str | None, role: str) -> dict[str, str]:
    return {"role": role, "amount": str(amount), "currency": currency or "?"}


def _registered(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("registration", {"debtor": a["debtor"], "creditor": a["creditor"]},
            [_money(a["amount"], a["currency"], "face")],
            {"due_date": a["dueDate"], "invoice_key": a["invoiceKey"]}
            | ({"late_interest_bps": a["lateInterestBps"]} if a.get("lateInterestBps") else {}))  # fmt: skip


def _status(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    old, new = RECEIVABLE_STATUS[a["from"]], RECEIVABLE_STATUS[a["to"]]
    kind = {
        ("PENDING", "ACTIVE"): "confirmation",
        ("PENDING", "REJECTED"): "rejection",
        ("PENDING", "CANCELLED"): "cancellation",
    }.get(
        (old, new),
        {"DEFAULTED": "default", "OVERDUE": "overdue", "SETTLED": "settled"}.get(
            new, "status_change"
        ),
    )
    return kind, {"actor": a["actor"]}, [], {"from": old, "to": new}


def _split(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    children = [a["firstChildId"] + i for i in range(len(a["amounts"]))]
    return ("split", {"holder": a["holder"]},
            [_money(v, cur, f"child {c}") for c, v in zip(children, a["amounts"], strict=True)],
            {"children": children})  # fmt: skip


def _transferred(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return "transfer", {"from": a["from"], "to": a["to"], "actor": a["actor"]}, [], {}


def _frozen(a: dict, _c: str, _t: Mapping, e: EventRow) -> Built:
    kind = "freeze" if e.event_name == "ReceivableFrozen" else "unfreeze"
    return kind, {"regulator": a["regulator"]}, [], {}


def _settled(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("settlement", {"holder": a["holder"]},
            [_money(a["amount"], cur, "paid"), _money(a["outstanding"], cur, "root outstanding")],
            {"root_id": a["rootId"]})  # fmt: skip


def _requested(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return ("financing_request", {"supplier": a["supplier"], "financier": a["financier"]}, [],
            {"financing_id": a["financingId"]})  # fmt: skip


def _offered(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    terms = a["terms"]
    return ("financing_offer", {"financier": a["financier"]},
            [_money(a["advance"], cur, "advance"), _money(a["discount"], cur, "discount"),
             _money(terms["fee"], cur, "fee"), _money(a["proceeds"], cur, "proceeds")],
            {"financing_id": a["financingId"], "offer_index": a["offerIndex"],
             "advance_rate_bps": terms["advanceRateBps"], "discount_rate_bps": terms["discountRateBps"],
             "recourse": terms["recourse"], "expiry": terms["expiry"]})  # fmt: skip


def _offer_closed(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("offer_closed", {"actor": a["actor"]}, [_money(a["refunded"], cur, "refunded")],
            {"financing_id": a["financingId"], "offer_index": a["offerIndex"],
             "status": OFFER_STATUS[a["status"]]})  # fmt: skip


def _accepted(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("financing_acceptance", {"supplier": a["supplier"], "financier": a["financier"]},
            [_money(a["proceeds"], cur, "proceeds")],
            {"financing_id": a["financingId"], "offer_index": a["offerIndex"]})  # fmt: skip


def _cancelled(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return (
        "financing_cancellation",
        {"supplier": a["supplier"]},
        [],
        {"financing_id": a["financingId"]},
    )


def _defaulted(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return ("financing_default", {"financier": a["financier"]}, [],
            {"financing_id": a["financingId"], "recourse": a["recourse"]})  # fmt: skip


def _recourse(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("recourse", {"financier": a["financier"], "supplier": a["supplier"]},
            [_money(a["amountDue"], cur, "due")], {"financing_id": a["financingId"]})  # fmt: skip


def _recourse_paid(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("recourse_payment", {"supplier": a["supplier"]},
            [_money(a["amount"], cur, "paid"), _money(a["paid"], cur, "paid so far"),
             _money(a["claim"] - a["paid"], cur, "outstanding")],
            {"financing_id": a["financingId"]})  # fmt: skip


def _recourse_withdrawn(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("recourse_withdrawal", {"supplier": a["supplier"]},
            [_money(a["amount"], cur, "returned")], {"financing_id": a["financingId"]})  # fmt: skip


def _bought_back(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("buy_back", {"supplier": a["supplier"], "financier": a["financier"]},
            [_money(a["claim"], cur, "claim paid")], {"financing_id": a["financingId"]})  # fmt: skip


def _sale_offered(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("sale_offer", {"seller": a["seller"], "buyer": a["buyer"]},
            [_money(a["price"], cur, "price")],
            {"financing_id": a["financingId"], "sale_id": a["saleId"], "expiry": a["expiry"]})  # fmt: skip


def _sale_cancelled(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return ("sale_cancellation", {"seller": a["seller"]}, [],
            {"financing_id": a["financingId"], "sale_id": a["saleId"]})  # fmt: skip


def _sold(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("sale", {"seller": a["seller"], "buyer": a["buyer"]}, [_money(a["price"], cur, "price")],
            {"financing_id": a["financingId"], "sale_id": a["saleId"]})  # fmt: skip


def _line_recovered(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("recovery", {},
            [_money(a["recovered"], cur, "recovered"), _money(a["writtenOff"], cur, "written off")],
            {"line_id": a["lineId"]})  # fmt: skip


def _repaid(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return "repayment", {"debtor": a["debtor"]}, [_money(a["amount"], a["currency"], "repaid")], {}


def _redeemed(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    amounts = [_money(a["amount"], cur, "paid")]
    if a.get("interest"):
        amounts.append(_money(a["interest"], cur, "late interest share"))
    return "redemption", {"holder": a["holder"]}, amounts, {}


def _late_interest(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("late_interest", {"debtor": a["debtor"]},
            [_money(a["outstanding"], cur, "outstanding"), _money(a["interest"], cur, "interest")],
            {"late_interest_bps": a["lateInterestBps"], "days_late": a["daysLate"]})  # fmt: skip


def _leaf_repaid(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("partial_repayment", {"debtor": a["debtor"], "holder": a["holder"]},
            [_money(a["amount"], cur, "face"), _money(a["interest"], cur, "late interest"),
             _money(a["amount"] + a["interest"], cur, "paid")],
            {})  # fmt: skip


def _early_offered(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return ("early_payment_offer", {"debtor": a["debtor"]}, [],
            {"offer_id": a["offerId"], "annual_rate_bps": a["annualRateBps"],
             "day_count_basis": a["dayCountBasis"], "expiry": a["expiry"]})  # fmt: skip


def _early_withdrawn(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return "early_payment_withdrawal", {"debtor": a["debtor"]}, [], {"offer_id": a["offerId"]}


def _early_accepted(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("early_payment", {"debtor": a["debtor"], "holder": a["holder"]},
            [_money(a["face"], cur, "face"), _money(a["discount"], cur, "discount"),
             _money(a["paid"], cur, "paid")],
            {"offer_id": a["offerId"], "days_early": a["daysEarly"]})  # fmt: skip


def _line_consumed(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    return ("credit_line_drawing", {"supplier": a["supplier"]},
            [_money(a["amount"], cur, "drawn"), _money(a["utilised"], cur, "line utilised")],
            {"line_id": a["lineId"], "financing_id": a["financingId"]})  # fmt: skip


def _line_released(a: dict, cur: str, _t: Mapping, _e: EventRow) -> Built:
    written_off = RELEASE_CAUSE[a["cause"]] == "WRITTEN_OFF"
    kind, role = (
        ("write_off", "written off") if written_off else ("credit_line_release", "released")
    )
    return (kind, {},
            [_money(a["amount"], cur, role), _money(a["utilised"], cur, "line utilised")],
            {"line_id": a["lineId"], "cause": RELEASE_CAUSE[a["cause"]]})  # fmt: skip


def _overdue_flagged(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return ("overdue_flag", {"debtor": a["debtor"], "actor": a["actor"]}, [],
            {"due_date": a["dueDate"], "overdue_roots": a["overdueRoots"]})  # fmt: skip


def _overdue_cured(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return "overdue_cure", {"debtor": a["debtor"]}, [], {"overdue_roots": a["overdueRoots"]}


def _pvp(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return ("cross_border_settlement",
            {"payer": a["payer"], "payee": a["payee"], "provider": a["provider"]},
            [_money(a["sellAmount"], a["sellCurrency"], "sold"),
             _money(a["buyAmount"], a["buyCurrency"], "bought")],
            {"uetr": a["uetr"], "quote_id": a["quoteId"]})  # fmt: skip


def _htlc_locked(a: dict, _c: str, tokens: Mapping, _e: EventRow) -> Built:
    return ("htlc_lock", {"sender": a["sender"], "recipient": a["recipient"]},
            [_money(a["amount"], tokens.get(a["token"]), "locked")],
            {"lock_id": a["lockId"], "uetr": a["uetr"], "timeout": a["timeout"]})  # fmt: skip


def _htlc_claimed(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return "htlc_claim", {"recipient": a["recipient"]}, [], {"lock_id": a["lockId"]}


def _htlc_refunded(a: dict, _c: str, _t: Mapping, _e: EventRow) -> Built:
    return "htlc_refund", {"sender": a["sender"]}, [], {"lock_id": a["lockId"]}


def _payment_deferred(a: dict, _c: str, tokens: Mapping, _e: EventRow) -> Built:
    currency = tokens.get(a["token"])
    return ("payment_deferred", {"payee": a["payee"]},
            [_money(a["amount"], currency, "deferred"),
             _money(a["claimable"], currency, "claimable")], {"token": a["token"]})  # fmt: skip


def _payment_claimed(a: dict, _c: str, tokens: Mapping, _e: EventRow) -> Built:
    return ("deferred_payment_claim", {"payee": a["payee"]},
            [_money(a["amount"], tokens.get(a["token"]), "claimed")], {"token": a["token"]})  # fmt: skip


def _token_transfer(a: dict, _c: str, tokens: Mapping, e: EventRow) -> Built:
    return ("token_transfer", {"from": a["from"], "to": a["to"]},
            [_money(a["value"], tokens.get(e.contract), "value")], {})  # fmt: skip


_STEP_BUILDERS = {
    "ReceivableRegistered": _registered,
    "ReceivableStatusChanged": _status,
    "ReceivableSplit": _split,
    "ReceivableTransferred": _transferred,
    "ReceivableFrozen": _frozen,
    "ReceivableUnfrozen": _frozen,
    "ReceivableSettled": _settled,
    "FinancingRequested": _requested,
    "FinancingOffered": _offered,
    "FinancingOfferClosed": _offer_closed,
    "FinancingAccepted": _accepted,
    "FinancingCancelled": _cancelled,
    "FinancingDefaulted": _defaulted,
    "RecourseClaimRecorded": _recourse,
    "RecoursePaid": _recourse_paid,
    "RecourseWithdrawn": _recourse_withdrawn,
    "FinancingBoughtBack": _bought_back,
    "FinancingSaleOffered": _sale_offered,
    "FinancingSaleCancelled": _sale_cancelled,
    "FinancingSold": _sold,
    "CreditLineRecovered": _line_recovered,
    "RootRepaid": _repaid,
    "LeafRedeemed": _redeemed,
    "RootLateInterestCharged": _late_interest,
    "LeafRepaid": _leaf_repaid,
    "EarlyPaymentOffered": _early_offered,
    "EarlyPaymentWithdrawn": _early_withdrawn,
    "EarlyPaymentAccepted": _early_accepted,
    "CreditLineConsumed": _line_consumed,
    "CreditLineReleased": _line_released,
    "RootOverdueFlagged": _overdue_flagged,
    "RootOverdueCured": _overdue_cured,
    "PvpSettled": _pvp,
    "HtlcLocked": _htlc_locked,
    "HtlcClaimed": _htlc_claimed,
    "HtlcRefunded": _htlc_refunded,
    "PaymentDeferred": _payment_deferred,
    "PaymentClaimed": _payment_claimed,
    "Transfer": _token_transfer,
}
