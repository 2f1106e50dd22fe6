"""Payments a ledger contract kept for a payee it could not pay, and their claims (issue 20).

A contract that pays a third party as part of someone else's action (the desk refunding
an offer's financier while the supplier accepts another, the HTLC paying a recipient,
clearing redeeming a leaf) pays through ``DeferredPayments._payOrDefer``: a payee not in
good standing has the payment kept, as claimable, and emits ``PaymentDeferred`` right
after the event of the step that owed it. The payee later claims everything of one token
at once (``claim(token)``, ``PaymentClaimed``).

What each rule here says, it says once: the API's names of the contracts that keep
payments, and which step a deferral belongs to (the indexer's link, the audit trace and
the financing view all ask ``deferral_causes``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger_app.domain.refusals import Refusal

#: The API's name of each contract that may keep payments -> its name in the deployment.
#: "clearing" keeps redemptions once MaturityClearing pays through DeferredPayments.
DEFERRING_CONTRACTS: dict[str, str] = {
    "financing": "financing_desk",
    "clearing": "maturity_clearing",
    "escrows": "hash_time_lock",
}

DEFERRED = "PaymentDeferred"
CLAIMED = "PaymentClaimed"

#: Events of a step that pays a third party: a PaymentDeferred after one, from the same
#: contract in the same transaction, defers that step's payment. (An offer closed or
#: superseded refunds its financier; an HTLC claim pays its recipient, a refund its
#: sender; a redemption or a leaf paid ahead pays a leaf's holder; a buy-back pays the
#: financier the recourse claim.)
PAYING_EVENTS = frozenset(
    {
        "FinancingOfferClosed",
        "FinancingBoughtBack",
        "HtlcClaimed",
        "HtlcRefunded",
        "LeafRedeemed",
        "LeafRepaid",
    }
)


def deferral_causes(events: Sequence[tuple[str, str, str]]) -> dict[int, int]:
    """For ``events`` in log order, each (tx hash, contract address, event name): the
    position of each PaymentDeferred -> the position of the paying event it defers the
    payment of (the last one before it from its contract in its transaction). The desk
    may emit other events in between (the request's own closing, the registry's), never
    another paying event."""
    last: dict[tuple[str, str], int] = {}
    causes: dict[int, int] = {}
    for position, (tx_hash, contract, name) in enumerate(events):
        where = (tx_hash, contract.lower())
        if name == DEFERRED:
            if where in last:
                causes[position] = last[where]
        elif name in PAYING_EVENTS:
            last[where] = position
    return causes


def check_claimable(waiting: int, contract: str, currency: str, payee: str) -> None:
    """A claim takes what waits: refused (as the contract's DeferredNothingToClaim) when
    nothing of ``currency`` waits for ``payee`` in ``contract``."""
    if waiting <= 0:
        raise Refusal(
            "DeferredNothingToClaim",
            f"nothing in {currency} waits for {payee} in {contract}",
            field="currency",
            currency=currency,
            contract=contract,
            payee=payee,
        )
