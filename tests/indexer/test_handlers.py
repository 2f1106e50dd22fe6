"""Pure handlers, without a chain or a database: event in, mutations out.

The mutations are applied with the store's own in-memory step (``_mutate``),
so what is checked is the row each event sequence leaves behind.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger_app.chain.decode import DecodedEvent
from ledger_app.db import schema
from ledger_app.domain.vocabulary import ZERO_ADDRESS
from ledger_app.indexer.handlers import INHERITED_TERMS, mutations_for
from ledger_app.indexer.mutations import Add, CopyFrom, Patch
from ledger_app.indexer.store import _mutate, target_key

REGISTRY = "0x" + "a0" * 20
TOKEN = "0x" + "70" * 20
CORE, SUPPLIER, SUPPLIER2 = ("0x" + c * 20 for c in ("c1", "51", "52"))
T0 = 1_700_000_000
_log_index = iter(range(10_000))


def event(kind: str, name: str, address: str = REGISTRY, block: int = 10, **args: Any):
    return DecodedEvent(
        kind=kind, name=name, address=address, block_number=block, block_hash="0x" + "bb" * 32,
        tx_hash="0x" + "cc" * 32, log_index=next(_log_index), args=args,
    )  # fmt: skip


def apply(events: list[DecodedEvent], rows: dict | None = None) -> dict[str, dict]:
    """Rows (table -> key tuple -> row) after the events' mutations, in order."""
    rows = rows if rows is not None else {}
    for e in events:
        for m in mutations_for(e, T0 + e.block_number):
            table = schema.READ_MODELS[m.table]
            key = target_key(m, rows)
            if key is None:
                continue
            cache = rows.setdefault(m.table, {})
            cache[key] = _mutate(table, m, cache.get(key), rows)
    return rows


def registered(rid: int = 1, amount: int = 1_000) -> DecodedEvent:
    return event(
        "ReceivableRegistry", "ReceivableRegistered", block=5, id=rid, debtor=CORE,
        creditor=SUPPLIER, amount=amount, currency="CNY", dueDate=T0 + 90 * 86_400,
        invoiceKey="0x" + "1e" * 32, documentHash="0x" + "d0" * 32, lateInterestBps=730,
    )  # fmt: skip


def split(parent: int, first: int, amounts: list[int], holder: str = SUPPLIER) -> DecodedEvent:
    return event(
        "ReceivableRegistry", "ReceivableSplit", block=7, parentId=parent, firstChildId=first,
        amounts=amounts, holder=holder,
    )  # fmt: skip


def transfer(value: int, sender: str, recipient: str, token: str = TOKEN) -> DecodedEvent:
    return event("SettlementToken", "Transfer", address=token, value=value, **{
        "from": sender, "to": recipient})  # fmt: skip


# --- split: children inherit the root's terms ------------------------------------------


def test_split_children_inherit_the_roots_terms_and_take_their_own_amounts():
    rows = apply([registered(1, 1_000), split(1, 2, [600, 300, 100])])

    receivables = rows["receivables"]
    root = receivables[(1,)]
    assert (root["first_child_id"], root["child_count"]) == (2, 3)
    for child_id, amount in zip((2, 3, 4), (600, 300, 100), strict=True):
        child = receivables[(child_id,)]
        assert {c: child[c] for c in INHERITED_TERMS} == {c: root[c] for c in INHERITED_TERMS}
        assert child["root_id"] == 1
        assert child["issue_date"] == T0 + 5  # the root's registration block, not the split's
        assert (child["parent_id"], child["amount"], child["holder"]) == (1, amount, SUPPLIER)
        assert (child["status"], child["frozen"], child["child_count"]) == ("ACTIVE", False, 0)
        assert child["outstanding"] is None  # only a root tracks what is left to repay
        assert child["created_block"] == 7


def test_grandchildren_inherit_the_root_not_the_parent():
    rows = apply(
        [
            registered(1, 1_000),
            split(1, 2, [600, 400]),
            split(2, 4, [350, 250], holder=SUPPLIER2),
        ]
    )

    receivables = rows["receivables"]
    for grandchild in (4, 5):
        row = receivables[(grandchild,)]
        assert (row["root_id"], row["parent_id"], row["holder"]) == (1, 2, SUPPLIER2)
        assert (row["debtor"], row["creditor"]) == (CORE, SUPPLIER)
        assert row["invoice_key"] == receivables[(1,)]["invoice_key"]
    assert [receivables[(i,)]["amount"] for i in (4, 5)] == [350, 250]


def test_split_says_what_to_copy_rather_than_reading_the_parent():
    mutations = mutations_for(split(9, 20, [1, 2]), T0)

    assert isinstance(mutations[0], Patch)
    copies = mutations[1:]
    assert all(isinstance(m, CopyFrom) for m in copies)
    assert [m.key for m in copies] == [{"id": 20}, {"id": 21}]
    assert {m.source_key["id"] for m in copies} == {9}
    assert all(m.columns == INHERITED_TERMS for m in copies)


def test_split_of_a_receivable_the_index_lacks_is_loud():
    with pytest.raises(LookupError, match="does not exist"):
        apply([split(1, 2, [1, 2])])


# --- token transfers: balances and supply ----------------------------------------------


def test_token_transfers_move_balances_and_mints_and_burns_change_the_supply():
    rows = apply(
        [
            transfer(1_000, ZERO_ADDRESS, CORE),  # mint
            transfer(300, CORE, SUPPLIER),
            transfer(120, SUPPLIER, SUPPLIER2),
            transfer(50, SUPPLIER2, ZERO_ADDRESS),  # burn
            transfer(0, CORE, SUPPLIER),  # a zero transfer changes nothing
        ]
    )

    balances = {account: row["balance"] for (_, account), row in rows["token_balances"].items()}
    assert balances == {CORE: 700, SUPPLIER: 180, SUPPLIER2: 70}
    assert rows["settlement_tokens"][(TOKEN,)]["total_supply"] == 1_000 - 50
    assert sum(balances.values()) == 950


def test_balances_are_per_token():
    other = "0x" + "71" * 20
    rows = apply([transfer(10, ZERO_ADDRESS, CORE), transfer(7, ZERO_ADDRESS, CORE, token=other)])

    assert rows["token_balances"][(TOKEN, CORE)]["balance"] == 10
    assert rows["token_balances"][(other, CORE)]["balance"] == 7


def test_transfer_mutations_are_exact_for_uint256_values():
    value = 2**256 - 1
    mint, credit = mutations_for(transfer(value, ZERO_ADDRESS, CORE), T0)

    assert mint == Add("settlement_tokens", {"address": TOKEN}, "total_supply", value)
    assert credit == Add("token_balances", {"token": TOKEN, "account": CORE}, "balance", value)
    rows = apply([transfer(value, ZERO_ADDRESS, CORE), transfer(value - 1, CORE, SUPPLIER)])
    assert rows["token_balances"][(TOKEN, CORE)]["balance"] == 1


def test_events_without_a_handler_change_nothing():
    assert mutations_for(event("FxSettlement", "CorridorSet", fromJurisdiction="CN"), T0) == []


# --- risk control: payables, credit lines, overdue flags -------------------------------

LINES, RISK = "0x" + "11" * 20, "0x" + "12" * 20
FINANCIER = "0x" + "f1" * 20
PENDING, ACTIVE, REJECTED, CANCELLED = 1, 2, 9, 10


def status(rid: int, old: int, new: int) -> DecodedEvent:
    return event("ReceivableRegistry", "ReceivableStatusChanged", id=rid, actor=SUPPLIER,
                 **{"from": old, "to": new})  # fmt: skip


def line_event(name: str, block: int = 20, **args: Any) -> DecodedEvent:
    return event("CreditLines", name, address=LINES, block=block, **args)


def granted(line_id: int = 1, limit: int = 10_000) -> DecodedEvent:
    return line_event("CreditLineGranted", block=8, lineId=line_id, financier=FINANCIER,
                      obligor=CORE, currency="CNY", limit=limit, expiry=T0 + 365 * 86_400)  # fmt: skip


def consumed(rid: int, amount: int, utilised: int, supplier: str = SUPPLIER) -> DecodedEvent:
    return line_event("CreditLineConsumed", block=30, lineId=1, receivableId=rid,
                      supplier=supplier, financingId=rid + 100, amount=amount, utilised=utilised)  # fmt: skip


def released(rid: int, amount: int, utilised: int, cause: int = 0) -> DecodedEvent:
    return line_event("CreditLineReleased", block=40, lineId=1, receivableId=rid, cause=cause,
                      amount=amount, utilised=utilised)  # fmt: skip


def test_registration_adds_to_the_debtors_payables_and_voids_and_repayments_take_it_off():
    rows = apply(
        [
            registered(1, 1_000),
            registered(2, 300),
            registered(3, 50),
            registered(4, 7),
            status(1, 0, PENDING),
            status(1, PENDING, ACTIVE),  # confirmed: still owed
            status(2, PENDING, REJECTED),
            status(3, PENDING, CANCELLED),
        ]
    )
    assert rows["core_payables"][(CORE, "CNY")]["outstanding"] == 1_000 + 7

    repaid = event("ReceivableRegistry", "ReceivableRootRepaid", rootId=1, actor=SUPPLIER)
    apply([repaid], rows)
    assert rows["core_payables"][(CORE, "CNY")]["outstanding"] == 7


def test_payables_fall_by_each_leaf_paid_ahead_and_then_by_what_was_left_at_repayment():
    # Issue 20: a root's repayment took its whole amount off payables, so a leaf paid
    # ahead of it (partly, or early at a discount) would have been taken off twice.
    clearing = "0x" + "ce" * 20
    settled = event("ReceivableRegistry", "ReceivableSettled", id=2, rootId=1,
                    holder=SUPPLIER, amount=600, outstanding=400)  # fmt: skip
    leaf_repaid = event("MaturityClearing", "LeafRepaid", address=clearing, leafId=2, rootId=1,
                        holder=SUPPLIER, debtor=CORE, amount=600, interest=9)  # fmt: skip
    rows = apply([registered(1, 1_000), split(1, 2, [600, 300, 100]), settled, leaf_repaid])
    assert rows["core_payables"][(CORE, "CNY")]["outstanding"] == 400
    assert rows["leaf_payments"][(2,)] | {"updated_block": None} == {
        "leaf_id": 2, "root_id": 1, "kind": "PARTIAL", "holder": SUPPLIER, "face": 600,
        "discount": 0, "interest": 9, "paid": 609, "updated_block": None,
    }  # fmt: skip

    settled_early = event("ReceivableRegistry", "ReceivableSettled", id=3, rootId=1,
                          holder=SUPPLIER, amount=300, outstanding=100)  # fmt: skip
    accepted = event("MaturityClearing", "EarlyPaymentAccepted", address=clearing, offerId=1,
                     leafId=3, holder=SUPPLIER, debtor=CORE, face=300, daysEarly=30,
                     discount=3, paid=297)  # fmt: skip
    offered = event("MaturityClearing", "EarlyPaymentOffered", address=clearing, offerId=1,
                    leafId=3, debtor=CORE, annualRateBps=1_200, dayCountBasis=360,
                    expiry=T0 + 86_400)  # fmt: skip
    apply([offered, settled_early, accepted], rows)
    assert rows["core_payables"][(CORE, "CNY")]["outstanding"] == 100
    assert rows["early_payment_offers"][(1,)]["status"] == "ACCEPTED"
    assert (rows["leaf_payments"][(3,)]["kind"], rows["leaf_payments"][(3,)]["paid"]) == (
        "EARLY", 297,
    )  # fmt: skip

    repaid = event("ReceivableRegistry", "ReceivableRootRepaid", rootId=1, actor=CORE)
    apply([repaid], rows)
    assert rows["core_payables"][(CORE, "CNY")]["outstanding"] == 0


def test_caps_and_their_manager_are_kept_per_core_and_currency():
    cap_set = event("RiskControl", "IssuanceCapSet", address=RISK, core=CORE, currency="CNY",
                    cap=5_000, actor=FINANCIER)  # fmt: skip
    rows = apply([registered(1, 1_000), cap_set])
    assert rows["core_payables"][(CORE, "CNY")] | {"updated_block": None} == {
        "core": CORE, "currency": "CNY", "outstanding": 1_000, "cap": 5_000, "capped": True,
        "updated_block": None,
    }  # fmt: skip
    removed = event("RiskControl", "IssuanceCapRemoved", address=RISK, core=CORE,
                    currency="CNY", actor=FINANCIER)  # fmt: skip
    manager = event("RiskControl", "IssuanceCapManagerSet", address=RISK, core=CORE,
                    manager=ZERO_ADDRESS, actor=FINANCIER)  # fmt: skip
    apply([removed, manager], rows)
    payables = rows["core_payables"][(CORE, "CNY")]
    assert (payables["cap"], payables["capped"], payables["outstanding"]) == (0, False, 1_000)
    assert rows["cap_managers"][(CORE,)]["manager"] is None  # zero: none named


def test_a_programme_drawing_counts_on_the_suppliers_sub_limit_until_released():
    sub_limit = line_event("CreditLineSupplierLimitSet", block=9, lineId=1, supplier=SUPPLIER,
                           limit=4_000, actor=FINANCIER)  # fmt: skip
    rows = apply([granted(), sub_limit, consumed(7, 1_500, 1_500)])

    line = rows["credit_lines"][(1,)]
    assert (line["programme"], line["utilised"], line["status"]) == (True, 1_500, "OPEN")
    assert rows["credit_line_suppliers"][(1, SUPPLIER)]["utilised"] == 1_500
    drawing = rows["credit_line_drawings"][(7,)]
    assert (drawing["line_id"], drawing["financing_id"], drawing["programme"]) == (1, 107, True)

    apply([released(7, 1_500, 0, cause=1)], rows)
    assert rows["credit_lines"][(1,)]["utilised"] == 0
    assert rows["credit_line_suppliers"][(1, SUPPLIER)]["utilised"] == 0
    drawing = rows["credit_line_drawings"][(7,)]  # kept, released
    assert (drawing["released_block"], drawing["release_cause"]) == (40, "RECOVERED")


def test_a_drawing_made_before_the_line_became_a_programme_never_touches_a_sub_limit():
    # As CreditLines._repay: only what was counted against the supplier is uncounted.
    rows = apply([granted(), consumed(7, 1_000, 1_000)])
    assert "credit_line_suppliers" not in rows
    sub_limit = line_event("CreditLineSupplierLimitSet", block=35, lineId=1, supplier=SUPPLIER,
                           limit=4_000, actor=FINANCIER)  # fmt: skip
    apply([sub_limit, released(7, 1_000, 0)], rows)
    assert rows["credit_line_suppliers"][(1, SUPPLIER)]["utilised"] == 0
    assert rows["credit_line_drawings"][(7,)]["programme"] is False


def test_every_line_event_leaves_a_history_row_with_the_terms_after_it():
    amended = line_event("CreditLineAmended", block=12, lineId=1, limit=20_000,
                         expiry=T0 + 400 * 86_400, actor=FINANCIER)  # fmt: skip
    frozen = line_event("CreditLineFrozen", block=32, lineId=1, regulator=FINANCIER)
    closed = line_event("CreditLineClosed", block=34, lineId=1, actor=FINANCIER)
    rows = apply([granted(limit=10_000), amended, consumed(7, 500, 500), frozen, closed])

    history = sorted(rows["credit_line_history"].items())
    assert [(k[1], r["event_name"], r["limit"], r["frozen"], r["status"], r["utilised"])
            for k, r in history] == [
        (8, "CreditLineGranted", 10_000, False, "OPEN", 0),
        (12, "CreditLineAmended", 20_000, False, "OPEN", 0),
        (30, "CreditLineConsumed", 20_000, False, "OPEN", 500),
        (32, "CreditLineFrozen", 20_000, True, "OPEN", 500),
        (34, "CreditLineClosed", 20_000, True, "CLOSED", 500),
    ]  # fmt: skip


def test_an_overdue_flag_stays_open_until_its_root_is_cured():
    flagged = event("RiskControl", "RootOverdueFlagged", address=RISK, rootId=1, debtor=CORE,
                    dueDate=T0, overdueRoots=1, actor=SUPPLIER)  # fmt: skip
    rows = apply([flagged])
    flag = rows["overdue_flags"][(1,)]
    assert (flag["debtor"], flag["due_date"], flag["cured_block"]) == (CORE, T0, None)
    cured = event("RiskControl", "RootOverdueCured", address=RISK, block=50, rootId=1,
                  debtor=CORE, overdueRoots=0)  # fmt: skip
    apply([cured], rows)
    assert rows["overdue_flags"][(1,)]["cured_block"] == 50


def test_the_trigger_days_are_kept_per_risk_control_contract():
    rows = apply([event("RiskControl", "OverdueTriggerSet", address=RISK, triggerDays=45,
                        actor=FINANCIER)])  # fmt: skip
    assert rows["risk_settings"][(RISK,)]["overdue_trigger_days"] == 45


# --- deferred payments (issue 20): keyed on the event, whatever contract emits it ----------

DESK, HTLC = "0x" + "de" * 20, "0x" + "4c" * 20
FINANCIER = "0x" + "f1" * 20


@pytest.mark.parametrize(
    ("kind", "address"),
    [("FinancingDesk", DESK), ("HashTimeLock", HTLC), ("MaturityClearing", "0x" + "c0" * 20)],
)
def test_deferrals_and_claims_of_any_contract_keep_what_waits_and_their_history(kind, address):
    def deferred(amount, total, block):
        return event(kind, "PaymentDeferred", address=address, block=block, payee=FINANCIER,
                     token=TOKEN, amount=amount, claimable=total)  # fmt: skip

    rows = apply([deferred(300, 300, 20), deferred(200, 500, 21)])
    key = (address, FINANCIER, TOKEN)
    assert rows["deferred_payments"][key]["claimable"] == 500
    claimed = event(kind, "PaymentClaimed", address=address, block=22, payee=FINANCIER,
                    token=TOKEN, amount=500)  # fmt: skip
    rows = apply([claimed], rows)
    assert rows["deferred_payments"][key]["claimable"] == 0
    history = [
        rows["deferred_payment_history"][k] for k in sorted(rows["deferred_payment_history"])
    ]
    assert [(h["event_name"], h["amount"], h["claimable"]) for h in history] == [
        ("PaymentDeferred", 300, 300),
        ("PaymentDeferred", 200, 500),
        ("PaymentClaimed", 500, 0),
    ]


def test_a_replayed_deferral_writes_the_same_total():
    e = event("FinancingDesk", "PaymentDeferred", address=DESK, block=30, payee=FINANCIER,
              token=TOKEN, amount=70, claimable=70)  # fmt: skip
    once = apply([e])
    twice = apply([e], apply([e]))
    assert once["deferred_payments"] == twice["deferred_payments"]
