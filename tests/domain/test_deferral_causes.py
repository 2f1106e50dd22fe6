"""Which step a PaymentDeferred defers the payment of (domain/claims.deferral_causes): the
last paying event from the same contract in the same transaction, for every contract
that pays a third party through DeferredPayments."""

from __future__ import annotations

import pytest

from ledger_app.domain.claims import PAYING_EVENTS, deferral_causes

DESK, CLEARING, REGISTRY, LINES = "0xDe5k", "0xC1ea", "0xRe61", "0x11e5"


@pytest.mark.parametrize(
    ("contract", "paying", "between"),
    [
        (DESK, "FinancingOfferClosed", []),
        (CLEARING, "LeafRedeemed", [(LINES, "CreditLineReleased")]),
        # A leaf paid ahead of its root (repayLeaves): the registry's settlement between.
        (CLEARING, "LeafRepaid", [(REGISTRY, "ReceivableSettled")]),
        # A buy-back: the lines' release and the registry's hand-back between.
        (
            DESK,
            "FinancingBoughtBack",
            [(LINES, "CreditLineReleased"), (REGISTRY, "ReceivableTransferred")],
        ),
    ],
)
def test_a_deferral_belongs_to_the_paying_step_of_its_contract_in_its_transaction(
    contract, paying, between
):
    events = [("0xt1", contract, paying), *[("0xt1", c, n) for c, n in between]]
    events.append(("0xt1", contract, "PaymentDeferred"))
    assert deferral_causes(events) == {len(events) - 1: 0}


def test_a_deferral_is_not_tied_to_another_transaction_or_contract():
    events = [
        ("0xt1", CLEARING, "LeafRepaid"),
        ("0xt2", DESK, "FinancingBoughtBack"),
        ("0xt2", CLEARING, "PaymentDeferred"),  # clearing paid nothing in t2
    ]
    assert deferral_causes(events) == {}


def test_every_event_that_pays_a_third_party_is_a_paying_event():
    assert {
        "LeafRepaid",
        "FinancingBoughtBack",
        "LeafRedeemed",
        "FinancingOfferClosed",
    } <= PAYING_EVENTS
