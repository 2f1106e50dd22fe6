"""Who is told: every kind's recipients may read what it is about (visibility.py), and a
participant that is no party is never told, whatever the kind."""

from __future__ import annotations

import pytest

from ledger_app.domain.notifications import (
    KINDS,
    PAYMENT_DUE_SOON,
    ReadModel,
    due_soon,
    notices_for,
)
from ledger_app.domain.visibility import Node, named_parties, visible
from ledger_app.domain.vocabulary import RECEIVABLE_STATUS

CORE, SUPPLIER, TIER2, FINANCIER, STRANGER = (f"0x{c * 40}" for c in "abcde")
NOW = 1_800_000_000
#: A root owed by CORE to SUPPLIER, split: leaf 2 passed on to TIER2, leaf 3 kept.
ROWS = {
    1: {"id": 1, "parent_id": 0, "root_id": 1, "holder": SUPPLIER, "status": "SPLIT"},
    2: {"id": 2, "parent_id": 1, "root_id": 1, "holder": TIER2, "status": "FINANCED"},
    3: {"id": 3, "parent_id": 1, "root_id": 1, "holder": SUPPLIER, "status": "ACTIVE"},
}
for _row in ROWS.values():
    _row |= {"debtor": CORE, "creditor": SUPPLIER, "amount": 100, "currency": "CNY",
             "due_date": NOW + 3 * 86_400}  # fmt: skip
FINANCINGS = {7: {"receivable_id": 2, "supplier": TIER2, "financier": FINANCIER}}
LINES = {5: {"financier": FINANCIER, "obligor": CORE, "limit": 1000, "currency": "CNY"}}
MODEL = ReadModel(ROWS.get, FINANCINGS.get, LINES.get)
#: Events (with what the index holds of each receivable's earlier events) per kind.
EVENTS = {
    "receivable.to_confirm": ("ReceivableStatusChanged", {"id": 2, "from": 0, "to": 1}),
    "financing.offer_received": ("FinancingOffered", {"financingId": 7, "offerIndex": 0,
                                 "financier": FINANCIER, "proceeds": 90}),
    "financing.accepted": ("FinancingAccepted", {"financingId": 7, "offerIndex": 0,
                           "financier": FINANCIER}),
    "receivable.overdue": ("ReceivableStatusChanged",
                           {"id": 2, "from": 5, "to": RECEIVABLE_STATUS.index("OVERDUE")}),
    "payment.received": ("LeafRedeemed", {"rootId": 1, "leafId": 2, "holder": TIER2,
                         "amount": 100, "interest": 0}),
    "credit_line.threshold": ("CreditLineConsumed", {"lineId": 5, "financingId": 7,
                              "supplier": TIER2, "amount": 850, "utilised": 850}),
}  # fmt: skip
#: What earlier events named (event_parties): the financing's request and offer.
TOOK_PART = {TIER2: {2}, FINANCIER: {2}}


def _nodes() -> list[Node]:
    return [Node(r["id"], r["parent_id"], r["debtor"], r["creditor"], r["holder"])
            for r in ROWS.values()]  # fmt: skip


def test_every_kind_is_covered_here_or_announced_elsewhere() -> None:
    assert set(EVENTS) | {PAYMENT_DUE_SOON, "receivable.overdue", "alert.raised"} == set(KINDS)


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_recipients_see_what_they_are_told_and_a_stranger_is_never_told(kind: str) -> None:
    name, args = EVENTS[kind]
    notices = notices_for(name, args, MODEL)
    assert [n.kind for n in notices] == [kind]
    notice = notices[0]
    assert notice.recipients
    assert STRANGER not in notice.recipients
    for who in notice.recipients:
        if notice.receivable_id is None:  # a credit line: its own parties
            assert who in (FINANCIER, CORE)
            continue
        took = TOOK_PART.get(who, set()) | ({2} if who in named_parties(name, args) else set())
        assert notice.receivable_id in visible(_nodes(), who, took_part=took), who


def test_a_stranger_holding_nothing_sees_none_of_the_tree() -> None:
    assert visible(_nodes(), STRANGER) == set()


def test_due_soon_only_for_open_receivables_within_the_window() -> None:
    notice = due_soon(ROWS[3], NOW)
    assert notice is not None
    assert set(notice.recipients) == {CORE, SUPPLIER}
    assert due_soon(ROWS[1], NOW) is None  # split: its leaves fall due
    assert due_soon(ROWS[3], NOW - 10 * 86_400) is None  # not yet within 7 days
    assert due_soon(ROWS[3], NOW + 4 * 86_400) is None  # already past due


def test_a_line_below_its_thresholds_announces_nothing() -> None:
    args = {"lineId": 5, "financingId": 7, "supplier": TIER2, "amount": 100, "utilised": 700}
    assert notices_for("CreditLineConsumed", args, MODEL) == []
    crossing = {**args, "amount": 400, "utilised": 1000}
    (notice,) = notices_for("CreditLineConsumed", crossing, MODEL)
    assert notice.payload["threshold_pct"] == 100
