"""Refunds that never block (issue 20): a payment to a third party that may not receive
now (suspended, KYC expired, frozen) waits for it to claim, and the action that owed it
goes through.

FinancingDesk: the supplier's accept of another offer, reject and cancel, and anyone's
expireOffer, whatever the standing of an offer's financier. HashTimeLock: a claim for a
frozen recipient, a refund to a frozen sender. Each test also checks that the desk (or
the lock) holds exactly what it owes: open escrows (or locks) plus what is claimable.
"""

import hashlib

import pytest
from conftest import DAY
from eth_utils import keccak
from statuses import FinancingStatus, OfferStatus

ZERO = "0x0000000000000000000000000000000000000000"
STANDINGS = ["suspended", "kyc_expired", "frozen"]


def _reinstate(participants, operator, regulator, chain, account, standing):
    if standing == "suspended":
        participants.reinstate(account, sender=operator)
    elif standing == "kyc_expired":
        participants.updateKyc(account, chain.pending_timestamp + 365 * DAY, sender=operator)
    else:
        participants.unfreezeAccount(account, sender=regulator)


@pytest.fixture
def reinstate(participants, operator, regulator, chain):
    """Puts a participant `deactivate` put in bad standing back in good standing."""

    def _reinstate_account(account, standing):
        _reinstate(participants, operator, regulator, chain, account, standing)

    return _reinstate_account


def open_escrows(desk, fids) -> int:
    """What the desk holds for offers still open on financings `fids`."""
    total = 0
    for fid in fids:
        for index in range(desk.financing(fid).offerCount):
            offer = desk.offerOf(fid, index)
            if offer.status == OfferStatus.OPEN:
                total += offer.proceeds
    return total


def assert_desk_owes_what_it_holds(desk, cny, fids, payees):
    claimable = sum(desk.claimable(p, cny) for p in payees)
    assert cny.balanceOf(desk) == open_escrows(desk, fids) + claimable


def only_log(tx, event):
    logs = tx.decode_logs(event)
    assert len(logs) == 1, f"expected one {event.name}, got {len(logs)}"
    return logs[0]


@pytest.fixture
def two_offers(desk, active_receivable, terms, funded, supplier, financier, financier2):
    """A request with offer 0 by `financier` and offer 1 by `financier2`, both open."""
    rid = active_receivable()
    fid = desk.request(rid, ZERO, sender=supplier).return_value
    desk.offer(fid, terms(fee=300_00), sender=financier)
    desk.offer(fid, terms(fee=100_00), sender=financier2)
    return rid, fid


# --- the financing desk: every refund path goes through ---------------------------------


@pytest.mark.parametrize("standing", STANDINGS)
def test_accept_of_another_offer_defers_the_refund_of_an_inactive_financier(
    desk, cny, two_offers, deactivate, supplier, financier, financier2, standing
):
    _, fid = two_offers
    refund = desk.offerOf(fid, 0).proceeds
    paid = desk.offerOf(fid, 1).proceeds
    deactivate(financier, standing)
    before = {a: cny.balanceOf(a) for a in (financier, financier2, supplier)}

    tx = desk.accept(fid, 1, sender=supplier)

    assert desk.financing(fid).status == FinancingStatus.FUNDED
    assert cny.balanceOf(supplier) == before[supplier] + paid
    assert cny.balanceOf(financier) == before[financier]  # nothing pushed to it
    assert desk.claimable(financier, cny) == refund
    deferred = only_log(tx, desk.PaymentDeferred)
    assert (deferred.payee, deferred.token, deferred.amount, deferred.claimable) == (
        financier.address,
        cny.address,
        refund,
        refund,
    )
    closed = only_log(tx, desk.FinancingOfferClosed)
    assert (closed.offerIndex, closed.status, closed.refunded) == (
        0,
        OfferStatus.SUPERSEDED,
        refund,
    )
    assert_desk_owes_what_it_holds(desk, cny, [fid], [financier, financier2])


@pytest.mark.parametrize("standing", STANDINGS)
def test_reject_of_an_inactive_financiers_offer_defers_its_refund(
    desk, cny, offered_financing, deactivate, supplier, financier, financier2, standing
):
    _, fid = offered_financing()
    refund = desk.offerOf(fid, 0).proceeds
    deactivate(financier, standing)
    before = cny.balanceOf(financier)

    tx = desk.rejectOffer(fid, 0, sender=supplier)

    assert desk.offerOf(fid, 0).status == OfferStatus.REJECTED
    assert desk.financing(fid).status == FinancingStatus.CLOSED
    assert cny.balanceOf(financier) == before
    assert desk.claimable(financier, cny) == refund
    assert only_log(tx, desk.PaymentDeferred).amount == refund
    assert_desk_owes_what_it_holds(desk, cny, [fid], [financier, financier2])


@pytest.mark.parametrize("standing", STANDINGS)
def test_cancel_defers_only_the_refund_of_the_inactive_financier(
    desk, cny, two_offers, deactivate, supplier, financier, financier2, standing
):
    _, fid = two_offers
    refunds = [desk.offerOf(fid, i).proceeds for i in range(2)]
    deactivate(financier, standing)
    before = {a: cny.balanceOf(a) for a in (financier, financier2)}

    tx = desk.cancel(fid, sender=supplier)

    assert desk.financing(fid).status == FinancingStatus.CLOSED
    assert cny.balanceOf(financier) == before[financier]
    assert cny.balanceOf(financier2) == before[financier2] + refunds[1]  # paid at once
    assert desk.claimable(financier, cny) == refunds[0]
    assert desk.claimable(financier2, cny) == 0
    assert only_log(tx, desk.PaymentDeferred).payee == financier.address
    assert cny.balanceOf(desk) == refunds[0]
    assert_desk_owes_what_it_holds(desk, cny, [fid], [financier, financier2])


@pytest.mark.parametrize("standing", STANDINGS)
def test_expire_offer_of_an_inactive_financier_defers_its_refund(
    desk, cny, offered_financing, deactivate, chain, auditor, financier, standing
):
    _, fid = offered_financing(expiry=chain.pending_timestamp + DAY)
    refund = desk.offerOf(fid, 0).proceeds
    deactivate(financier, standing)
    chain.pending_timestamp = desk.offerOf(fid, 0).terms.expiry + 1

    desk.expireOffer(fid, 0, sender=auditor)

    assert desk.offerOf(fid, 0).status == OfferStatus.EXPIRED
    assert desk.claimable(financier, cny) == refund
    assert cny.balanceOf(desk) == refund


@pytest.mark.parametrize("standing", STANDINGS)
def test_claim_refused_while_inactive_then_pays_once_reinstated(
    desk,
    cny,
    offered_financing,
    deactivate,
    reinstate,
    reverts,
    supplier,
    financier,
    standing,
):
    _, fid = offered_financing()
    refund = desk.offerOf(fid, 0).proceeds
    deactivate(financier, standing)
    desk.rejectOffer(fid, 0, sender=supplier)
    before = cny.balanceOf(financier)

    with reverts(cny.SettlementTokenAccountRefused, account=financier.address):
        desk.claim(cny, sender=financier)
    assert desk.claimable(financier, cny) == refund  # still waiting, nothing lost

    reinstate(financier, standing)
    tx = desk.claim(cny, sender=financier)

    assert cny.balanceOf(financier) == before + refund
    assert desk.claimable(financier, cny) == 0
    assert cny.balanceOf(desk) == 0
    claimed = only_log(tx, desk.PaymentClaimed)
    assert (claimed.payee, claimed.token, claimed.amount) == (
        financier.address,
        cny.address,
        refund,
    )
    with reverts(desk.DeferredNothingToClaim, payee=financier.address, token=cny.address):
        desk.claim(cny, sender=financier)  # nothing claimed twice
    assert cny.balanceOf(financier) == before + refund


def test_deferred_refunds_add_up_across_financings(
    desk, cny, offered_financing, deactivate, reinstate, supplier, financier, financier2
):
    (_, first), (_, second) = offered_financing(), offered_financing()
    refunds = [desk.offerOf(fid, 0).proceeds for fid in (first, second)]
    deactivate(financier, "frozen")
    desk.rejectOffer(first, 0, sender=supplier)
    tx = desk.cancel(second, sender=supplier)
    assert only_log(tx, desk.PaymentDeferred).claimable == sum(refunds)
    assert desk.claimable(financier, cny) == sum(refunds)
    assert_desk_owes_what_it_holds(desk, cny, [first, second], [financier, financier2])
    reinstate(financier, "frozen")
    assert desk.claim(cny, sender=financier).return_value == sum(refunds)
    assert cny.balanceOf(desk) == 0


def test_claim_with_nothing_waiting_is_refused(desk, cny, reverts, financier):
    with reverts(desk.DeferredNothingToClaim, payee=financier.address, token=cny.address):
        desk.claim(cny, sender=financier)


def test_refund_to_a_financier_in_good_standing_is_paid_at_once(
    desk, cny, offered_financing, supplier, financier
):
    _, fid = offered_financing()
    before = cny.balanceOf(financier) + desk.offerOf(fid, 0).proceeds
    tx = desk.rejectOffer(fid, 0, sender=supplier)
    assert cny.balanceOf(financier) == before
    assert tx.decode_logs(desk.PaymentDeferred) == []
    assert desk.claimable(financier, cny) == 0


# --- the hash-time lock -----------------------------------------------------------------

SECRET = keccak(text="the preimage the other ledger revealed")
HASHLOCK = hashlib.sha256(SECRET).digest()
UETR = bytes.fromhex("5d7c7c3a6a0e4e0f9d1c2b3a4f5e6d7c")


@pytest.fixture
def htlc_lock(htlc, cny, bank, core, supplier, chain):
    """Locks `amount` CNY of core for supplier for an hour: returns (lockId, timeout)."""
    cny.mint(core, 1_000_00, sender=bank)
    cny.approve(htlc, 1_000_00, sender=core)
    timeout = chain.pending_timestamp + 3600
    tx = htlc.lock(cny, supplier, 1_000_00, HASHLOCK, timeout, UETR, sender=core)
    return tx.return_value, timeout


@pytest.mark.parametrize("standing", STANDINGS)
def test_htlc_claim_for_an_inactive_recipient_by_anyone_defers_its_payment(
    htlc, cny, htlc_lock, deactivate, reinstate, reverts, outsider, supplier, standing
):
    lock_id, _ = htlc_lock
    deactivate(supplier, standing)
    before = cny.balanceOf(supplier)

    tx = htlc.claim(lock_id, SECRET, sender=outsider)  # the preimage is public now

    assert htlc.lockOf(lock_id).state == 2  # CLAIMED: the lock can no longer time out
    assert cny.balanceOf(supplier) == before
    assert htlc.claimable(supplier, cny) == 1_000_00
    assert cny.balanceOf(htlc) == 1_000_00
    assert only_log(tx, htlc.PaymentDeferred).payee == supplier.address
    with reverts(cny.SettlementTokenAccountRefused, account=supplier.address):
        htlc.claim(cny, sender=supplier)
    reinstate(supplier, standing)
    htlc.claim(cny, sender=supplier)
    assert cny.balanceOf(supplier) == before + 1_000_00
    assert cny.balanceOf(htlc) == 0


def test_htlc_refund_to_a_frozen_sender_defers_it(
    htlc, cny, htlc_lock, participants, regulator, reverts, chain, outsider, core
):
    lock_id, timeout = htlc_lock
    participants.freezeAccount(core, sender=regulator)
    chain.pending_timestamp = timeout
    before = cny.balanceOf(core)

    tx = htlc.refund(lock_id, sender=outsider)

    assert htlc.lockOf(lock_id).state == 3  # REFUNDED
    assert cny.balanceOf(core) == before
    assert htlc.claimable(core, cny) == 1_000_00
    assert only_log(tx, htlc.PaymentDeferred).amount == 1_000_00
    participants.unfreezeAccount(core, sender=regulator)
    htlc.claim(cny, sender=core)
    assert cny.balanceOf(core) == before + 1_000_00
    with reverts(htlc.DeferredNothingToClaim, payee=core.address, token=cny.address):
        htlc.claim(cny, sender=core)
