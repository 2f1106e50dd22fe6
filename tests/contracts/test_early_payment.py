"""Issue 20 (B): early payment at a discount, partial repayment leaf by leaf, and late
interest, in MaturityClearing; late interest set at registration (ReceivableRegistry);
the risk control's payables falling by exactly what is paid, as it is paid.

The amounts are checked against ledger_app.domain.clearing_amounts, the service's twin
of the contract's arithmetic, and the tokens are followed: every unit the debtor pays
reaches a holder, once.
"""

import pytest
from conftest import DAY, TRIGGER_DAYS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statuses import Status

from ledger_app.domain.clearing_amounts import (
    days_late,
    early_payment,
    early_payment_discount,
    interest_shares,
    late_interest,
)

CNY = b"CNY"
FACE = 1_000_000_00


class Offer:
    NONE, OPEN, WITHDRAWN, ACCEPTED = range(4)


def one(tx, event):
    logs = tx.decode_logs(event)
    assert len(logs) == 1, f"expected one {event.name}, got {len(logs)}"
    return logs[0]


def owed(risk, core):
    return risk.payables(core, CNY).outstanding


@pytest.fixture
def tree(active_receivable, receivables, supplier, chain):
    """A confirmed root split in three (60/30/10% of `amount`), all held by the supplier:
    returns (root, [leaves])."""

    def _tree(amount=FACE, parts=None, **overrides):
        root = active_receivable(amount=amount, **overrides)
        parts = parts or [amount * 6 // 10, amount * 3 // 10, amount - amount * 9 // 10]
        first = receivables.split(root, parts, sender=supplier).return_value
        return root, list(range(first, first + len(parts)))

    return _tree


@pytest.fixture
def offer(clearing, receivables, core, chain):
    """The core offers an early payment on `leaf`, open a week (before its due date)."""

    def _offer(leaf, rate=1_200, basis=365, expiry=None):
        expiry = expiry or chain.pending_timestamp + 7 * DAY
        return clearing.offerEarlyPayment(leaf, rate, basis, expiry, sender=core).return_value

    return _offer


# --- late interest at registration ------------------------------------------------------------


def test_register_records_late_interest_in_terms_event_and_views(register, receivables, core):
    rid = register(lateInterestBps=1_825)
    assert receivables.lateInterestBps(rid) == 1_825
    assert receivables.receivable(rid).lateInterestBps == 1_825
    assert receivables.MAX_LATE_INTEREST_BPS() == 10_000


def test_register_event_carries_late_interest(receivables, registration, core):
    tx = receivables.register(registration(lateInterestBps=700), sender=core)
    assert one(tx, receivables.ReceivableRegistered).lateInterestBps == 700


def test_register_above_max_late_interest_is_refused(receivables, registration, core, reverts):
    with reverts(receivables.ReceivableInvalidLateInterest, lateInterestBps=10_001, maxBps=10_000):
        receivables.register(registration(lateInterestBps=10_001), sender=core)
    with reverts(receivables.ReceivableInvalidLateInterest, lateInterestBps=10_001, maxBps=10_000):
        receivables.registerBatch(
            [registration(), registration(lateInterestBps=10_001)], sender=core
        )


def test_split_children_inherit_late_interest(tree, receivables, register):
    _, leaves = tree(lateInterestBps=900)
    assert [receivables.lateInterestBps(leaf) for leaf in leaves] == [900] * 3


# --- early payment -----------------------------------------------------------------------------


def test_accept_early_payment_pays_face_less_discount_and_settles_the_leaf(
    clearing, receivables, risk, cny, tree, offer, core, supplier, funded, chain
):
    root, (a, b, c) = tree()
    face = receivables.summary(a).amount
    due = receivables.summary(a).dueDate
    before = (cny.balanceOf(supplier), cny.balanceOf(core), owed(risk, core))
    oid = offer(a, rate=1_200, basis=360)
    offered = clearing.earlyPaymentOffer(oid)
    assert (offered.leafId, offered.debtor, offered.annualRateBps, offered.dayCountBasis) == (
        a, core.address, 1_200, 360,
    )  # fmt: skip
    assert offered.status == Offer.OPEN

    chain.pending_timestamp = chain.pending_timestamp + 3 * DAY + 5
    accepted_at = chain.pending_timestamp
    expected = early_payment(face, 1_200, due, accepted_at, 360)
    tx = clearing.acceptEarlyPayment(oid, sender=supplier)
    log = one(tx, clearing.EarlyPaymentAccepted)
    assert (log.offerId, log.leafId, log.holder, log.debtor, log.face) == (
        oid, a, supplier.address, core.address, face,
    )  # fmt: skip
    assert (log.daysEarly, log.discount, log.paid) == tuple(expected)
    assert expected.discount > 0
    assert tx.return_value == expected.paid
    assert cny.balanceOf(supplier) == before[0] + expected.paid
    assert cny.balanceOf(core) == before[1] - expected.paid
    assert receivables.summary(a).status == Status.SETTLED
    assert receivables.outstanding(root) == FACE - face
    assert owed(risk, core) == before[2] - face  # the core owes the face no more
    assert clearing.earlyPaymentOffer(oid).status == Offer.ACCEPTED

    # At maturity the root pays only what is still outstanding; no leaf is paid twice.
    chain.pending_timestamp = due
    assert clearing.repay(root, sender=core).return_value == FACE - face
    clearing.redeemBatch([b, c], sender=core)
    assert receivables.summary(root).status == Status.SETTLED
    assert owed(risk, core) == before[2] - FACE
    assert cny.balanceOf(clearing) == 0


def test_early_payment_of_a_financed_leaf_goes_to_its_financier_and_frees_the_line(
    clearing, receivables, credit_lines, cny, tree, offer, finance, core, financier, chain
):
    _, (a, _, _) = tree()
    finance(a)
    line = credit_lines.lineOf(financier, core, CNY)
    drawn = credit_lines.creditLine(line).utilised
    face = receivables.summary(a).amount
    oid = offer(a, rate=0)  # rate 0: the face, early
    balance = cny.balanceOf(financier)
    tx = clearing.acceptEarlyPayment(oid, sender=financier)
    assert one(tx, clearing.EarlyPaymentAccepted).paid == face
    assert cny.balanceOf(financier) == balance + face
    released = one(tx, credit_lines.CreditLineReleased)
    assert released.amount == face
    assert credit_lines.creditLine(line).utilised == drawn - face
    assert receivables.summary(a).status == Status.SETTLED


def test_early_payment_offer_stands_for_whoever_holds_the_leaf_at_accept(
    clearing, receivables, tree, offer, supplier, supplier2, reverts, funded
):
    _, (a, _, _) = tree()
    oid = offer(a)
    receivables.transfer(a, supplier2, sender=supplier)
    with reverts(
        clearing.ClearingNotHolder, leafId=a, account=supplier.address, holder=supplier2.address
    ):
        clearing.acceptEarlyPayment(oid, sender=supplier)
    clearing.acceptEarlyPayment(oid, sender=supplier2)
    with reverts(clearing.ClearingEarlyPaymentNotOpen, offerId=oid, status=Offer.ACCEPTED):
        clearing.acceptEarlyPayment(oid, sender=supplier2)


def test_offer_early_payment_refusals(
    clearing, receivables, tree, desk, core, supplier, financier, regulator, chain, reverts, funded,
    active_receivable, register,
):  # fmt: skip
    root, (a, b, c) = tree()
    due = receivables.summary(a).dueDate
    week = chain.pending_timestamp + 7 * DAY
    with reverts(
        clearing.ClearingNotDebtor, rootId=root, account=supplier.address, debtor=core.address
    ):
        clearing.offerEarlyPayment(a, 100, 365, week, sender=supplier)
    with reverts(clearing.ClearingInvalidEarlyPaymentTerms, field="annualRateBps", value=10_001):
        clearing.offerEarlyPayment(a, 10_001, 365, week, sender=core)
    with reverts(clearing.ClearingInvalidEarlyPaymentTerms, field="dayCountBasis", value=366):
        clearing.offerEarlyPayment(a, 100, 366, week, sender=core)
    with reverts(clearing.ClearingInvalidEarlyPaymentTerms, field="expiry", value=due):
        clearing.offerEarlyPayment(a, 100, 365, due, sender=core)
    split_mask = (1 << Status.ACTIVE) | (1 << Status.FINANCED)
    with reverts(
        clearing.ClearingNotPayable, rootId=root, status=Status.SPLIT, allowedStatusMask=split_mask
    ):
        clearing.offerEarlyPayment(root, 100, 365, week, sender=core)
    desk.request(b, financier, sender=supplier)  # b is locked in a financing request
    with reverts(
        clearing.ClearingNotPayable, rootId=b, status=Status.FINANCING, allowedStatusMask=split_mask
    ):
        clearing.offerEarlyPayment(b, 100, 365, week, sender=core)
    receivables.freeze(c, sender=regulator)
    with reverts(clearing.ReceivableFrozenError, id=c):
        clearing.offerEarlyPayment(c, 100, 365, week, sender=core)
    pending = register()
    with reverts(
        clearing.ClearingNotPayable,
        rootId=pending,
        status=Status.PENDING,
        allowedStatusMask=split_mask,
    ):
        clearing.offerEarlyPayment(pending, 100, 365, week, sender=core)
    chain.pending_timestamp = due
    with reverts(clearing.ClearingPastDue, leafId=a, dueDate=due, nowTimestamp=due):
        clearing.offerEarlyPayment(a, 100, 365, due + DAY, sender=core)


def test_accept_and_withdraw_refusals(
    clearing, receivables, tree, offer, core, supplier, supplier2, regulator, chain, reverts, funded
):
    _, (a, b, c) = tree()
    with reverts(clearing.ClearingEarlyPaymentUnknown, offerId=99):
        clearing.acceptEarlyPayment(99, sender=supplier)
    oid = offer(a)
    with reverts(
        clearing.ClearingEarlyPaymentNotOfferor,
        offerId=oid,
        account=supplier.address,
        debtor=core.address,
    ):
        clearing.withdrawEarlyPayment(oid, sender=supplier)
    tx = clearing.withdrawEarlyPayment(oid, sender=core)
    assert one(tx, clearing.EarlyPaymentWithdrawn).offerId == oid
    with reverts(clearing.ClearingEarlyPaymentNotOpen, offerId=oid, status=Offer.WITHDRAWN):
        clearing.acceptEarlyPayment(oid, sender=supplier)

    expiring = offer(b, expiry=chain.pending_timestamp + DAY)
    chain.pending_timestamp = chain.pending_timestamp + 2 * DAY
    with reverts(clearing.ClearingEarlyPaymentExpired, offerId=expiring):
        clearing.acceptEarlyPayment(expiring, sender=supplier)

    frozen = offer(c)
    receivables.freeze(c, sender=regulator)  # an offer dies with nothing: it waits
    with reverts(clearing.ReceivableFrozenError, id=c):
        clearing.acceptEarlyPayment(frozen, sender=supplier)
    receivables.unfreeze(c, sender=regulator)
    clearing.acceptEarlyPayment(frozen, sender=supplier)


def test_accept_on_a_leaf_split_since_the_offer_is_refused(
    clearing, receivables, active_receivable, offer, supplier, reverts, funded
):
    rid = active_receivable()
    oid = offer(rid)
    receivables.split(rid, [FACE // 2, FACE - FACE // 2], sender=supplier)
    mask = (1 << Status.ACTIVE) | (1 << Status.FINANCED)
    with reverts(
        clearing.ClearingNotPayable, rootId=rid, status=Status.SPLIT, allowedStatusMask=mask
    ):
        clearing.acceptEarlyPayment(oid, sender=supplier)


def test_accept_whose_discount_swallows_the_face_is_refused(
    clearing, active_receivable, chain, core, supplier, reverts, funded
):
    rid = active_receivable(dueDate=chain.pending_timestamp + 800 * DAY)
    oid = clearing.offerEarlyPayment(
        rid, 10_000, 360, chain.pending_timestamp + DAY, sender=core
    ).return_value
    with reverts(clearing.ClearingEarlyPaymentNoProceeds, offerId=oid, face=FACE):
        clearing.acceptEarlyPayment(oid, sender=supplier)


# --- partial repayment -----------------------------------------------------------------------


def test_repay_leaves_before_maturity_pays_each_holder_its_face_once(
    clearing, receivables, risk, cny, tree, core, supplier, supplier2, chain, reverts, funded
):
    root, (a, b, c) = tree()
    receivables.transfer(b, supplier2, sender=supplier)
    faces = {leaf: receivables.summary(leaf).amount for leaf in (a, b, c)}
    before = {x: cny.balanceOf(x) for x in (supplier, supplier2, core)}
    payables = owed(risk, core)
    tx = clearing.repayLeaves([a, b], sender=core)
    assert tx.return_value == faces[a] + faces[b]
    assert [
        (x.leafId, x.rootId, x.holder, x.amount, x.interest)
        for x in tx.decode_logs(clearing.LeafRepaid)
    ] == [
        (a, root, supplier.address, faces[a], 0),
        (b, root, supplier2.address, faces[b], 0),
    ]
    assert cny.balanceOf(supplier) == before[supplier] + faces[a]
    assert cny.balanceOf(supplier2) == before[supplier2] + faces[b]
    assert cny.balanceOf(core) == before[core] - faces[a] - faces[b]
    assert receivables.outstanding(root) == faces[c]
    assert owed(risk, core) == payables - faces[a] - faces[b]
    repayable = (
        (1 << Status.ACTIVE)
        | (1 << Status.FINANCED)
        | (1 << Status.OVERDUE)
        | (1 << Status.DEFAULTED)
    )
    with reverts(
        clearing.ClearingNotPayable, rootId=a, status=Status.SETTLED, allowedStatusMask=repayable
    ):
        clearing.repayLeaves([a], sender=core)  # never twice
    chain.pending_timestamp = receivables.summary(root).dueDate
    assert clearing.repay(root, sender=core).return_value == faces[c]
    mask_error = clearing.ClearingAlreadyRepaid
    with reverts(mask_error, rootId=root):
        clearing.repayLeaves([c], sender=core)  # a repaid root's leaves are redeemed
    clearing.redeem(c, sender=core)
    assert cny.balanceOf(clearing) == 0
    assert owed(risk, core) == payables - FACE


def test_repay_leaves_refusals(
    clearing, receivables, participants, tree, desk, core, supplier, financier, regulator, reverts,
    funded, register,
):  # fmt: skip
    root, (a, b, c) = tree()
    with reverts(clearing.ClearingBatchSize, size=0):
        clearing.repayLeaves([], sender=core)
    with reverts(participants.RegistryMissingRole, account=supplier.address):
        clearing.repayLeaves([a], sender=supplier)
    desk.request(b, financier, sender=supplier)
    repayable = (
        (1 << Status.ACTIVE)
        | (1 << Status.FINANCED)
        | (1 << Status.OVERDUE)
        | (1 << Status.DEFAULTED)
    )
    with reverts(
        clearing.ClearingNotPayable, rootId=b, status=Status.FINANCING, allowedStatusMask=repayable
    ):
        clearing.repayLeaves([a, b], sender=core)  # all or none
    assert receivables.summary(a).status == Status.ACTIVE
    with reverts(
        clearing.ClearingNotPayable, rootId=root, status=Status.SPLIT, allowedStatusMask=repayable
    ):
        clearing.repayLeaves([root], sender=core)
    receivables.freeze(c, sender=regulator)
    with reverts(clearing.ReceivableFrozenError, id=c):
        clearing.repayLeaves([c], sender=core)
    pending = register()
    with reverts(
        clearing.ClearingNotPayable,
        rootId=pending,
        status=Status.PENDING,
        allowedStatusMask=repayable,
    ):
        clearing.repayLeaves([pending], sender=core)


def test_repay_leaves_after_due_date_adds_each_leafs_late_interest(
    clearing, receivables, cny, tree, core, supplier, chain, funded
):
    root, (a, b, _) = tree(
        amount=1_000_003, parts=[333_337, 600_001, 66_665], lateInterestBps=1_234
    )
    due = receivables.summary(root).dueDate
    chain.pending_timestamp = due + 17 * DAY + 3_600
    late = 17
    expected = [late_interest(face, 1_234, late) for face in (333_337, 600_001)]
    assert all(expected)
    before = cny.balanceOf(supplier)
    tx = clearing.repayLeaves([a, b], sender=core)
    assert [x.interest for x in tx.decode_logs(clearing.LeafRepaid)] == expected
    assert cny.balanceOf(supplier) == before + 333_337 + 600_001 + sum(expected)


def test_repay_a_defaulted_leaf_frees_its_line_as_recovered(
    clearing, receivables, credit_lines, defaulted_financing, core, financier, cny, funded
):
    rid, _ = defaulted_financing()
    balance = cny.balanceOf(financier)
    tx = clearing.repayLeaves([rid], sender=core)
    released = one(tx, credit_lines.CreditLineReleased)
    assert released.amount == FACE
    assert released.cause == 1  # RECOVERED
    assert cny.balanceOf(financier) == balance + FACE
    assert receivables.summary(rid).status == Status.SETTLED


# --- late interest at repayment, pro rata at redemption ----------------------------------------


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_late_repay_interest_is_shared_pro_rata_and_conserved(
    clearing,
    receivables,
    cny,
    active_receivable,
    core,
    supplier,
    supplier2,
    financier,
    chain,
    funded,
    order,
):
    parts = [1, 7, 99_999, 123_457, 3, 876_543, 13, 2]
    amount = sum(parts)
    root = active_receivable(amount=amount, lateInterestBps=9_999)
    first = receivables.split(root, parts, sender=supplier).return_value
    leaves = list(range(first, first + len(parts)))
    holders = [supplier, supplier2, financier]
    for i, leaf in enumerate(leaves):
        if holders[i % 3] != supplier:
            receivables.transfer(leaf, holders[i % 3], sender=supplier)
    due = receivables.summary(root).dueDate
    chain.mine(timestamp=due + 45 * DAY + 17)  # amountDue is a view: of the last block
    assert clearing.amountDue(root) == (amount, late_interest(amount, 9_999, 45))
    core_before = cny.balanceOf(core)
    tx = clearing.repay(root, sender=core)
    interest = late_interest(amount, 9_999, 45)
    charged = one(tx, clearing.RootLateInterestCharged)
    assert (charged.outstanding, charged.lateInterestBps, charged.daysLate, charged.interest) == (
        amount, 9_999, 45, interest,
    )  # fmt: skip
    assert cny.balanceOf(core) == core_before - amount - interest
    assert clearing.lateInterestCharged(root) == clearing.lateInterestUnredeemed(root) == interest
    assert clearing.amountDue(root) == (0, 0)

    ordered = leaves if order == "forward" else leaves[::-1]
    faces = parts if order == "forward" else parts[::-1]
    before = {h: cny.balanceOf(h) for h in holders}
    shares = []
    for chunk in (ordered[:3], ordered[3:]):
        tx = clearing.redeemBatch(chunk, sender=core)
        shares += [x.interest for x in tx.decode_logs(clearing.LeafRedeemed)]
    assert shares == interest_shares(interest, faces)
    assert sum(shares) == interest  # no unit created or lost
    assert sum(cny.balanceOf(h) - before[h] for h in holders) == amount + interest
    assert cny.balanceOf(clearing) == clearing.lateInterestUnredeemed(root) == 0


def test_repay_within_the_first_day_past_due_charges_no_interest(
    clearing, receivables, active_receivable, core, chain, funded
):
    root = active_receivable(lateInterestBps=10_000)
    chain.pending_timestamp = receivables.summary(root).dueDate + DAY - 1
    tx = clearing.repay(root, sender=core)
    assert tx.decode_logs(clearing.RootLateInterestCharged) == []
    assert clearing.lateInterestCharged(root) == 0


# --- a holder's standing never blocks another's redemption -------------------------------------


def test_redeem_batch_with_a_frozen_holder_pays_the_others_and_defers_its_share(
    clearing,
    receivables,
    participants,
    cny,
    tree,
    core,
    supplier,
    supplier2,
    regulator,
    chain,
    funded,
):
    # Before issue 20 the frozen holder's transfer reverted the whole batch.
    root, (a, b, c) = tree()
    receivables.transfer(b, supplier2, sender=supplier)
    chain.pending_timestamp = receivables.summary(root).dueDate
    clearing.repay(root, sender=core)
    participants.freezeAccount(supplier2, sender=regulator)
    before = cny.balanceOf(supplier)
    face_b = receivables.summary(b).amount
    tx = clearing.redeemBatch([a, b, c], sender=core)
    deferred = one(tx, clearing.PaymentDeferred)
    assert (deferred.payee, deferred.amount) == (supplier2.address, face_b)
    assert cny.balanceOf(supplier) == before + FACE - face_b
    assert clearing.claimable(supplier2, cny) == face_b
    participants.unfreezeAccount(supplier2, sender=regulator)
    held = cny.balanceOf(supplier2)
    clearing.claim(cny, sender=supplier2)
    assert cny.balanceOf(supplier2) == held + face_b
    assert cny.balanceOf(clearing) == 0


def test_repay_leaves_with_a_frozen_holder_defers_its_payment(
    clearing, receivables, participants, cny, tree, core, supplier, supplier2, regulator, funded
):
    _, (a, b, _) = tree()
    receivables.transfer(b, supplier2, sender=supplier)
    participants.freezeAccount(supplier2, sender=regulator)
    tx = clearing.repayLeaves([a, b], sender=core)
    assert one(tx, clearing.PaymentDeferred).payee == supplier2.address
    assert clearing.claimable(supplier2, cny) == receivables.summary(b).amount


# --- risk control: payables fall as paid; a flag cured by the last leaf ----------------------


def test_a_flag_is_cured_by_paying_the_roots_last_leaf_not_one_of_several(
    clearing, receivables, risk, tree, core, auditor, chain, funded
):
    root, (a, b, c) = tree(dueDate=chain.pending_timestamp + DAY)
    chain.pending_timestamp = receivables.summary(root).dueDate + TRIGGER_DAYS * DAY + 1
    risk.flagOverdue(root, sender=auditor)
    payables = owed(risk, core)
    clearing.repayLeaves([a, b], sender=core)
    assert risk.isFlagged(root)
    assert risk.isRestricted(core)
    tx = clearing.repayLeaves([c], sender=core)
    assert one(tx, risk.RootOverdueCured).rootId == root
    assert not risk.isRestricted(core)
    assert owed(risk, core) == payables - FACE
    assert receivables.summary(root).status == Status.SETTLED


def test_repay_after_partial_payment_reports_only_what_was_outstanding(
    clearing, receivables, risk, tree, core, chain, funded
):
    root, (a, _, _) = tree()
    payables = owed(risk, core)
    clearing.repayLeaves([a], sender=core)
    chain.pending_timestamp = receivables.summary(root).dueDate
    clearing.repay(root, sender=core)
    # Before issue 20 the root's whole face was reported: payables fell by FACE + a's face.
    assert owed(risk, core) == payables - FACE


# --- the contract's arithmetic is the domain's ---------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    face=st.integers(0, 2**128 - 1),
    rate=st.integers(0, 10_000),
    days=st.integers(0, 3_650),
    basis=st.sampled_from([365, 360]),
)
def test_early_discount_and_late_interest_views_equal_the_domain(clearing, face, rate, days, basis):
    assert clearing.earlyDiscount(face, rate, days, basis) == early_payment_discount(
        face, rate, days, basis
    )
    assert clearing.lateInterest(face, rate, days) == late_interest(face, rate, days)


@given(due=st.integers(0, 2**40), now=st.integers(0, 2**40))
def test_days_late_is_whole_days_past_due(due, now):
    assert days_late(due, now) == (max(0, now - due) // DAY)


@given(
    interest=st.integers(0, 10**12), faces=st.lists(st.integers(1, 10**9), min_size=1, max_size=30)
)
def test_interest_shares_sum_to_the_interest(interest, faces):
    shares = interest_shares(interest, faces)
    assert sum(shares) == interest
    assert all(s >= 0 for s in shares)
