"""Which receivable a token transfer in a trace belongs to (pure, no chain)."""

from ledger_app.audit.trace import EventRow, _anchor_for, _anchors


def _event(name: str, log_index: int, tx: str = "0xbatch") -> EventRow:
    return EventRow("Kind", name, "0xc0ffee", 7, "0xblock", None, tx, log_index, {})


def test_batch_redemption_payouts_belong_to_the_leaf_redeemed_just_before_each():
    # redeemBatch([19, 20]): each leaf's events, then its payout, in one transaction.
    events = [
        (_event("ReceivableSettled", 0), 19),
        (_event("LeafRedeemed", 1), 19),
        (_event("Transfer", 2), None),
        (_event("ReceivableSettled", 3), 20),
        (_event("LeafRedeemed", 4), 20),
        (_event("Transfer", 5), None),
    ]
    anchors = _anchors(events)
    assert _anchor_for(anchors, events[2][0]) == 19
    assert _anchor_for(anchors, events[5][0]) == 20


def test_transfer_before_any_traced_event_belongs_to_the_first_one_after_it():
    events = [(_event("Transfer", 0), None), (_event("RootRepaid", 1), 16)]
    assert _anchor_for(_anchors(events), events[0][0]) == 16


def test_transfer_in_an_untraced_transaction_belongs_to_no_receivable():
    events = [(_event("RootRepaid", 1), 16)]
    assert _anchor_for(_anchors(events), _event("Transfer", 0, tx="0xother")) is None
