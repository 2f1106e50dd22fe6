"""FinancingDesk: request, escrowed offers, atomic acceptance, refunds and default.

Figures are checked against the Python twin (ledger_app.domain.financing), with
the days to maturity taken from the offer transaction's own block timestamp.
"""

import pytest
from conftest import DAY, ROLES
from statuses import FinancingStatus, OfferStatus, Status, mask

from ledger_app.domain.financing import days_to_maturity, offer_amounts

ZERO = "0x0000000000000000000000000000000000000000"
FACE = 1_000_000_00  # 1,000,000.00 CNY


def expected_amounts(receivables, rid, offer_tx, terms_tuple):
    """advance, discount, proceeds the desk must record for an offer mined in `offer_tx`."""
    adv, rate, basis, _recourse, _grace, _expiry, fee = terms_tuple
    summary = receivables.summary(rid)
    days = days_to_maturity(summary.dueDate, offer_tx.timestamp)
    return offer_amounts(summary.amount, adv, rate, days, fee, basis)


def only_log(tx, event):
    logs = tx.decode_logs(event)
    assert len(logs) == 1, f"expected one {event.name}, got {len(logs)}"
    return logs[0]


# --- happy paths ---------------------------------------------------------------------


def test_financing_single_receivable_end_to_end(
    desk,
    clearing,
    receivables,
    cny,
    active_receivable,
    terms,
    funded,
    supplier,
    financier,
    core,
    chain,
):
    rid = active_receivable(amount=FACE)
    due = receivables.summary(rid).dueDate

    tx = desk.request(rid, financier, sender=supplier)
    fid = tx.return_value
    log = only_log(tx, desk.FinancingRequested)
    assert (log.financingId, log.receivableId, log.supplier, log.financier) == (
        fid,
        rid,
        supplier.address,
        financier.address,
    )
    assert receivables.summary(rid).status == Status.FINANCING
    assert desk.activeFinancingOf(rid) == fid
    assert desk.financing(fid).status == FinancingStatus.REQUESTED

    offered = terms()
    financier_before = cny.balanceOf(financier)
    tx = desk.offer(fid, offered, sender=financier)
    amounts = expected_amounts(receivables, rid, tx, offered)
    assert amounts.advance == 80_000_000
    offer = desk.offerOf(fid, 0)
    assert (offer.advance, offer.discount, offer.proceeds) == amounts
    assert offer.status == OfferStatus.OPEN
    log = only_log(tx, desk.FinancingOffered)
    assert (log.advance, log.discount, log.proceeds) == amounts
    assert cny.balanceOf(financier) == financier_before - amounts.proceeds
    assert cny.balanceOf(desk) == amounts.proceeds
    assert desk.financing(fid).status == FinancingStatus.OFFERED

    supplier_before = cny.balanceOf(supplier)
    tx = desk.accept(fid, 0, sender=supplier)
    assert cny.balanceOf(supplier) == supplier_before + amounts.proceeds
    assert cny.balanceOf(desk) == 0
    record = receivables.receivable(rid)
    assert (record.holder, record.status) == (financier.address, Status.FINANCED)
    f = desk.financing(fid)
    assert (f.status, f.financier, f.acceptedOffer, f.supplier) == (
        FinancingStatus.FUNDED,
        financier.address,
        1,
        supplier.address,
    )
    assert desk.activeFinancingOf(rid) == 0
    log = only_log(tx, desk.FinancingAccepted)
    assert (log.financingId, log.receivableId, log.financier, log.supplier, log.proceeds) == (
        fid,
        rid,
        financier.address,
        supplier.address,
        amounts.proceeds,
    )
    moved = only_log(tx, receivables.ReceivableTransferred)
    assert (moved.id, moved.to) == (rid, financier.address)

    # Maturity: the debtor pays the face value, which reaches the financier.
    core_before = cny.balanceOf(core)
    chain.pending_timestamp = due
    clearing.repay(rid, sender=core)
    clearing.redeem(rid, sender=financier)
    assert cny.balanceOf(core) == core_before - FACE
    # The financier paid the proceeds and collected the face value.
    assert cny.balanceOf(financier) == financier_before - amounts.proceeds + FACE
    assert receivables.summary(rid).status == Status.SETTLED
    assert desk.financing(fid).status == FinancingStatus.REPAID


def test_financing_after_split_tier2_supplier_finances_its_child(
    desk, receivables, cny, active_receivable, terms, funded, supplier, supplier2, financier2
):
    rid = active_receivable(amount=FACE)
    first = receivables.split(rid, [600_000_00, 400_000_00], sender=supplier).return_value
    child, sibling = first + 1, first
    receivables.transfer(child, supplier2, sender=supplier)

    # Open to any financier: financier2 answers.
    fid = desk.request(child, ZERO, sender=supplier2).return_value
    offered = terms(advanceRateBps=9_000, discountRateBps=450, dayCountBasis=360, fee=0)
    tx = desk.offer(fid, offered, sender=financier2)
    amounts = expected_amounts(receivables, child, tx, offered)
    assert amounts.advance == 360_000_00  # 90% of the child, not of the root
    before = cny.balanceOf(supplier2)
    desk.accept(fid, 0, sender=supplier2)

    assert cny.balanceOf(supplier2) == before + amounts.proceeds
    assert receivables.receivable(child).holder == financier2.address
    assert receivables.summary(child).status == Status.FINANCED
    f = desk.financing(fid)
    assert (f.supplier, f.financier, f.receivableId) == (
        supplier2.address,
        financier2.address,
        child,
    )
    # The tier-1 sibling and the root are untouched.
    assert receivables.receivable(sibling).holder == supplier.address
    assert receivables.summary(sibling).status == Status.ACTIVE
    assert receivables.summary(rid).status == Status.SPLIT
    assert receivables.outstanding(rid) == FACE


def test_accept_one_of_several_offers_refunds_the_others(
    desk, receivables, cny, active_receivable, terms, funded, supplier, financier, financier2
):
    rid = active_receivable()
    fid = desk.request(rid, ZERO, sender=supplier).return_value
    start = {a: cny.balanceOf(a) for a in (financier, financier2, supplier)}
    proceeds = []
    for funder, fee in ((financier, 900_00), (financier2, 100_00), (financier, 400_00)):
        desk.offer(fid, terms(fee=fee), sender=funder)
        proceeds.append(desk.offerOf(fid, len(proceeds)).proceeds)
    assert cny.balanceOf(desk) == sum(proceeds)
    assert desk.financing(fid).offerCount == 3

    tx = desk.accept(fid, 1, sender=supplier)

    assert cny.balanceOf(desk) == 0
    assert cny.balanceOf(financier) == start[financier]
    assert cny.balanceOf(financier2) == start[financier2] - proceeds[1]
    assert cny.balanceOf(supplier) == start[supplier] + proceeds[1]
    statuses = [desk.offerOf(fid, i).status for i in range(3)]
    assert statuses == [OfferStatus.SUPERSEDED, OfferStatus.ACCEPTED, OfferStatus.SUPERSEDED]
    closed = tx.decode_logs(desk.FinancingOfferClosed)
    assert [(c.offerIndex, c.status, c.refunded) for c in closed] == [
        (0, OfferStatus.SUPERSEDED, proceeds[0]),
        (2, OfferStatus.SUPERSEDED, proceeds[2]),
    ]
    assert receivables.receivable(rid).holder == financier2.address


def test_accept_at_the_offer_expiry_second_is_allowed(
    desk, receivables, active_receivable, terms, funded, supplier, financier, chain
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    expiry = chain.pending_timestamp + DAY
    desk.offer(fid, terms(expiry=expiry), sender=financier)
    chain.pending_timestamp = expiry
    desk.accept(fid, 0, sender=supplier)
    assert receivables.summary(rid).status == Status.FINANCED


def test_offer_records_the_python_discount_for_a_one_bp_rate_and_zero_days(
    desk, receivables, active_receivable, terms, funded, supplier, financier, chain
):
    due = chain.pending_timestamp + DAY + 3_600
    rid = active_receivable(dueDate=due)
    fid = desk.request(rid, financier, sender=supplier).return_value
    chain.pending_timestamp = due - 3_600  # under a day left: 0 whole days
    offered = terms(advanceRateBps=1, discountRateBps=1, fee=0, expiry=due)
    tx = desk.offer(fid, offered, sender=financier)
    amounts = expected_amounts(receivables, rid, tx, offered)
    assert amounts.discount == 0
    assert desk.offerOf(fid, 0).proceeds == amounts.proceeds == FACE // 10_000


# --- refusals: request -----------------------------------------------------------------


def test_request_by_a_core_enterprise_is_refused(
    desk, participants, active_receivable, reverts, core, financier
):
    rid = active_receivable()
    with reverts(participants.RegistryMissingRole, account=core, role=ROLES["SUPPLIER"]):
        desk.request(rid, financier, sender=core)


def test_request_by_an_outsider_is_refused(
    desk, participants, active_receivable, reverts, outsider, financier
):
    rid = active_receivable()
    with reverts(participants.RegistryUnknownParticipant, account=outsider):
        desk.request(rid, financier, sender=outsider)


def test_request_by_a_supplier_not_holding_it_is_refused(
    desk, receivables, active_receivable, reverts, supplier, supplier2, financier
):
    rid = active_receivable()
    with reverts(receivables.ReceivableNotHolder, id=rid, account=supplier2, holder=supplier):
        desk.request(rid, financier, sender=supplier2)


def test_request_naming_a_non_financier_is_refused(
    desk, participants, active_receivable, reverts, supplier, supplier2
):
    rid = active_receivable()
    with reverts(participants.RegistryMissingRole, account=supplier2, role=ROLES["FINANCIER"]):
        desk.request(rid, supplier2, sender=supplier)


def test_request_of_an_unknown_receivable_is_refused(
    desk, receivables, reverts, supplier, financier
):
    with reverts(receivables.ReceivableUnknown, id=999):
        desk.request(999, financier, sender=supplier)


def test_request_of_a_pending_receivable_is_refused(
    desk, receivables, register, reverts, supplier, financier
):
    rid = register()
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.PENDING):
        desk.request(rid, financier, sender=supplier)


def test_request_of_a_receivable_under_financing_is_refused(
    desk, receivables, active_receivable, reverts, supplier, financier, financier2
):
    rid = active_receivable()
    desk.request(rid, financier, sender=supplier)
    with reverts(
        receivables.ReceivableInvalidStatus,
        id=rid,
        current=Status.FINANCING,
        allowedStatusMask=mask(Status.ACTIVE),
    ):
        desk.request(rid, financier2, sender=supplier)


def test_request_of_a_financed_receivable_is_refused(
    desk,
    receivables,
    participants,
    operator,
    active_receivable,
    finance,
    reverts,
    supplier,
    financier,
    financier2,
):
    rid = active_receivable()
    finance(rid)
    with reverts(receivables.ReceivableNotHolder, id=rid, account=supplier, holder=financier):
        desk.request(rid, financier2, sender=supplier)
    # Even the new holder, were it also a supplier, cannot finance it a second time.
    participants.grantRole(ROLES["SUPPLIER"], financier, sender=operator)
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.FINANCED):
        desk.request(rid, financier2, sender=financier)


def test_request_of_a_frozen_receivable_is_refused(
    desk, receivables, active_receivable, reverts, regulator, supplier, financier
):
    rid = active_receivable()
    receivables.freeze(rid, sender=regulator)
    with reverts(receivables.ReceivableFrozenError, id=rid):
        desk.request(rid, financier, sender=supplier)


def test_request_of_a_settled_receivable_is_refused(
    desk,
    clearing,
    receivables,
    active_receivable,
    funded,
    reverts,
    chain,
    core,
    supplier,
    financier,
):
    rid = active_receivable()
    chain.pending_timestamp = receivables.summary(rid).dueDate
    clearing.repay(rid, sender=core)
    clearing.redeem(rid, sender=supplier)
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.SETTLED):
        desk.request(rid, financier, sender=supplier)


def test_request_of_a_split_parent_is_refused(
    desk, receivables, active_receivable, reverts, supplier, financier
):
    rid = active_receivable(amount=100)
    receivables.split(rid, [40, 60], sender=supplier)
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.SPLIT):
        desk.request(rid, financier, sender=supplier)


def test_request_on_or_after_the_due_date_is_refused(
    desk, receivables, active_receivable, reverts, chain, supplier, financier
):
    rid = active_receivable()
    due = receivables.summary(rid).dueDate
    chain.pending_timestamp = due
    with reverts(desk.FinancingReceivableDue, receivableId=rid, dueDate=due):
        desk.request(rid, financier, sender=supplier)
    assert receivables.summary(rid).status == Status.ACTIVE


def test_receivable_under_financing_cannot_be_split_or_transferred(
    desk, receivables, active_receivable, reverts, supplier, supplier2, financier
):
    rid = active_receivable(amount=100)
    desk.request(rid, financier, sender=supplier)
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.FINANCING):
        receivables.split(rid, [50, 50], sender=supplier)
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.FINANCING):
        receivables.transfer(rid, supplier2, sender=supplier)


def test_financed_receivable_cannot_be_split_or_transferred_by_the_financier(
    receivables, active_receivable, finance, reverts, financier, financier2
):
    rid = active_receivable(amount=100_000)
    finance(rid, fee=0)
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.FINANCED):
        receivables.split(rid, [50_000, 50_000], sender=financier)
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.FINANCED):
        receivables.transfer(rid, financier2, sender=financier)


# --- refusals: bad standing ------------------------------------------------------------


def test_request_by_a_suspended_supplier_is_refused(
    desk, participants, operator, active_receivable, reverts, supplier, financier
):
    rid = active_receivable()
    participants.suspend(supplier, sender=operator)
    with reverts(participants.RegistryParticipantSuspended, account=supplier):
        desk.request(rid, financier, sender=supplier)


def test_request_naming_a_suspended_financier_is_refused(
    desk, participants, operator, active_receivable, reverts, supplier, financier
):
    rid = active_receivable()
    participants.suspend(financier, sender=operator)
    with reverts(participants.RegistryParticipantSuspended, account=financier):
        desk.request(rid, financier, sender=supplier)


def test_offer_by_a_kyc_expired_financier_is_refused(
    desk,
    participants,
    operator,
    active_receivable,
    terms,
    funded,
    reverts,
    chain,
    supplier,
    financier,
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    expiry = chain.pending_timestamp + 60
    participants.updateKyc(financier, expiry, sender=operator)
    chain.mine(deltatime=120)
    with reverts(participants.RegistryKycExpired, account=financier, kycExpiry=expiry):
        desk.offer(fid, terms(), sender=financier)


def test_offer_by_a_frozen_financier_is_refused(
    desk, participants, active_receivable, terms, funded, reverts, regulator, supplier, financier
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    participants.freezeAccount(financier, sender=regulator)
    with reverts(participants.RegistryAccountFrozen, account=financier):
        desk.offer(fid, terms(), sender=financier)


def test_accept_by_a_suspended_supplier_is_refused(
    desk,
    cny,
    participants,
    operator,
    active_receivable,
    terms,
    funded,
    reverts,
    supplier,
    financier,
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    desk.offer(fid, terms(), sender=financier)
    escrow = cny.balanceOf(desk)
    participants.suspend(supplier, sender=operator)
    with reverts(participants.RegistryParticipantSuspended, account=supplier):
        desk.accept(fid, 0, sender=supplier)
    assert cny.balanceOf(desk) == escrow


def test_accept_by_a_kyc_expired_supplier_is_refused(
    desk,
    participants,
    operator,
    active_receivable,
    terms,
    funded,
    reverts,
    chain,
    supplier,
    financier,
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    desk.offer(fid, terms(), sender=financier)
    expiry = chain.pending_timestamp + 60
    participants.updateKyc(supplier, expiry, sender=operator)
    chain.mine(deltatime=120)
    with reverts(participants.RegistryKycExpired, account=supplier, kycExpiry=expiry):
        desk.accept(fid, 0, sender=supplier)


def test_declare_default_by_a_suspended_financier_is_refused(
    desk,
    participants,
    operator,
    receivables,
    active_receivable,
    finance,
    reverts,
    chain,
    financier,
):
    rid = active_receivable()
    fid = finance(rid)
    chain.pending_timestamp = receivables.summary(rid).dueDate + 30 * DAY
    participants.suspend(financier, sender=operator)
    with reverts(participants.RegistryParticipantSuspended, account=financier):
        desk.declareDefault(fid, sender=financier)


# --- refusals: offer -------------------------------------------------------------------


def test_offer_by_a_supplier_is_refused(
    desk, participants, active_receivable, terms, reverts, supplier, supplier2
):
    rid = active_receivable()
    fid = desk.request(rid, ZERO, sender=supplier).return_value
    with reverts(participants.RegistryMissingRole, account=supplier2, role=ROLES["FINANCIER"]):
        desk.offer(fid, terms(), sender=supplier2)


def test_offer_by_another_than_the_named_financier_is_refused(
    desk, active_receivable, terms, funded, reverts, supplier, financier, financier2
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    with reverts(
        desk.FinancingNotFinancier, financingId=fid, account=financier2, financier=financier
    ):
        desk.offer(fid, terms(), sender=financier2)


def test_offer_on_an_unknown_request_is_refused(desk, terms, funded, reverts, financier):
    with reverts(desk.FinancingUnknown, financingId=42):
        desk.offer(42, terms(), sender=financier)


def test_offer_beyond_max_offers_is_refused_even_after_withdrawals(
    desk, cny, active_receivable, terms, funded, reverts, supplier, financier, financier2
):
    rid = active_receivable()
    fid = desk.request(rid, ZERO, sender=supplier).return_value
    assert desk.MAX_OFFERS() == 8
    for i in range(8):
        desk.offer(fid, terms(fee=i + 1), sender=financier if i % 2 else financier2)
    desk.withdrawOffer(fid, 0, sender=financier2)  # a closed offer still counts
    with reverts(desk.FinancingTooManyOffers, financingId=fid, maxOffers=8):
        desk.offer(fid, terms(), sender=financier)
    assert cny.balanceOf(desk) == sum(desk.offerOf(fid, i).proceeds for i in range(1, 8))


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("advanceRateBps", {"advanceRateBps": 0}),
        ("advanceRateBps", {"advanceRateBps": 10_001}),
        ("dayCountBasis", {"dayCountBasis": 364}),
        ("dayCountBasis", {"dayCountBasis": 0}),
        ("expiry", {"expiry": 1}),
    ],
)
def test_offer_with_bad_terms_is_refused(
    desk, active_receivable, terms, funded, reverts, supplier, financier, field, overrides
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    with reverts(desk.FinancingInvalidTerms, field=field):
        desk.offer(fid, terms(**overrides), sender=financier)


@pytest.mark.parametrize(
    ("field", "overrides", "value"),
    [
        ("advanceRateBps", {"advanceRateBps": 10_001}, 10_001),
        ("dayCountBasis", {"dayCountBasis": 364}, 364),
        ("expiry", {"expiry": 1}, 1),
    ],
)
def test_offer_with_bad_terms_reports_the_value_refused(
    desk, active_receivable, terms, funded, reverts, supplier, financier, field, overrides, value
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    with reverts(desk.FinancingInvalidTerms, field=field, value=value):
        desk.offer(fid, terms(**overrides), sender=financier)


def test_offer_with_an_expiry_already_past_by_one_second_is_refused(
    desk, active_receivable, terms, funded, reverts, chain, supplier, financier
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    now = chain.pending_timestamp + 10
    chain.pending_timestamp = now
    with reverts(desk.FinancingInvalidTerms, field="expiry"):
        desk.offer(fid, terms(expiry=now - 1), sender=financier)


@pytest.mark.parametrize("extra_fee", [0, 1, 10**6])
def test_offer_leaving_no_proceeds_is_refused(
    desk,
    receivables,
    active_receivable,
    terms,
    funded,
    reverts,
    chain,
    supplier,
    financier,
    extra_fee,
):
    rid = active_receivable(amount=FACE)
    due = receivables.summary(rid).dueDate
    fid = desk.request(rid, financier, sender=supplier).return_value
    now = due - 90 * DAY + 100  # 89 whole days
    chain.pending_timestamp = now
    # advance 80,000,000; discount floor(1e8 x .8 x .06 x 89 / 365) = 1,170,410
    fee = 80_000_000 - 1_170_410 + extra_fee
    with reverts(desk.FinancingNoProceeds, advance=80_000_000, discount=1_170_410, fee=fee):
        desk.offer(fid, terms(fee=fee), sender=financier)
    chain.pending_timestamp = now + 1
    desk.offer(fid, terms(fee=fee - extra_fee - 1), sender=financier)  # one unit left
    assert desk.offerOf(fid, 0).proceeds == 1


def test_offer_whose_discount_exceeds_uint128_is_refused_not_truncated(
    desk,
    receivables,
    cny,
    bank,
    active_receivable,
    terms,
    funded,
    reverts,
    chain,
    supplier,
    financier,
):
    # A face near 2^127 due far in the future gives a discount above 2^128. Cast to
    # uint128 it wrapped to a small number and the offer passed with a wrong figure;
    # the contract must compare the true discount with the advance.
    face = 2**127
    now = chain.pending_timestamp + 10
    days = next(
        d
        for d in range(10**12, 10**12 + 10**6)
        if (face * 10_000 * 10_000 * d // (10**8 * 360)) % 2**128 < face // 2
    )
    rid = active_receivable(amount=face, dueDate=now + days * DAY + 10)
    fid = desk.request(rid, financier, sender=supplier).return_value
    cny.mint(financier, face, sender=bank)
    chain.pending_timestamp = now + 5
    offered = terms(
        advanceRateBps=10_000, discountRateBps=10_000, dayCountBasis=360, fee=0, expiry=now + DAY
    )
    with reverts(desk.FinancingNoProceeds, advance=face, discount=2**128 - 1, fee=0):
        desk.offer(fid, offered, sender=financier)


def test_offer_on_or_after_the_due_date_is_refused(
    desk, receivables, active_receivable, terms, funded, reverts, chain, supplier, financier
):
    rid = active_receivable()
    due = receivables.summary(rid).dueDate
    fid = desk.request(rid, financier, sender=supplier).return_value
    chain.pending_timestamp = due
    with reverts(desk.FinancingReceivableDue, receivableId=rid, dueDate=due):
        desk.offer(fid, terms(expiry=due + DAY), sender=financier)


def test_offer_without_allowance_is_refused_and_escrows_nothing(
    desk, cny, bank, active_receivable, terms, funded, reverts, supplier, financier
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    cny.approve(desk, 0, sender=financier)
    with reverts(cny.ERC20InsufficientAllowance, spender=desk):
        desk.offer(fid, terms(), sender=financier)
    assert cny.balanceOf(desk) == 0
    assert desk.financing(fid).offerCount == 0


def test_offer_on_a_cancelled_request_is_refused(
    desk, active_receivable, terms, funded, reverts, supplier, financier
):
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    desk.cancel(fid, sender=supplier)
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.CLOSED):
        desk.offer(fid, terms(), sender=financier)


def test_offer_on_a_funded_request_is_refused(
    desk, active_receivable, finance, terms, reverts, financier2
):
    rid = active_receivable()
    fid = finance(rid)
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.FUNDED):
        desk.offer(fid, terms(), sender=financier2)


def test_offer_on_a_funded_request_names_the_statuses_it_needs(
    desk, active_receivable, finance, terms, reverts, financier2
):
    rid = active_receivable()
    fid = finance(rid)
    with reverts(
        desk.FinancingInvalidStatus,
        financingId=fid,
        current=FinancingStatus.FUNDED,
        allowedStatusMask=mask(FinancingStatus.REQUESTED, FinancingStatus.OFFERED),
    ):
        desk.offer(fid, terms(), sender=financier2)


# --- refusals: accept ------------------------------------------------------------------


@pytest.fixture
def offered(desk, active_receivable, terms, funded, supplier, financier):
    """A request by `supplier` naming `financier`, with one open offer (index 0)."""
    rid = active_receivable()
    fid = desk.request(rid, financier, sender=supplier).return_value
    desk.offer(fid, terms(), sender=financier)
    return rid, fid


def test_accept_by_another_supplier_is_refused(desk, offered, reverts, supplier, supplier2):
    _, fid = offered
    with reverts(desk.FinancingNotSupplier, financingId=fid, account=supplier2, supplier=supplier):
        desk.accept(fid, 0, sender=supplier2)


def test_accept_by_the_financier_itself_is_refused(desk, offered, reverts, supplier, financier):
    _, fid = offered
    with reverts(desk.FinancingNotSupplier, account=financier, supplier=supplier):
        desk.accept(fid, 0, sender=financier)


def test_accept_of_an_expired_offer_is_refused(
    desk, cny, receivables, offered, reverts, chain, supplier
):
    rid, fid = offered
    expiry = desk.offerOf(fid, 0).terms.expiry
    chain.pending_timestamp = expiry + 1
    with reverts(desk.FinancingOfferExpired, financingId=fid, offerIndex=0, expiry=expiry):
        desk.accept(fid, 0, sender=supplier)
    assert receivables.summary(rid).status == Status.FINANCING
    assert cny.balanceOf(desk) == desk.offerOf(fid, 0).proceeds


def test_accept_twice_is_refused(desk, cny, offered, reverts, supplier):
    _, fid = offered
    desk.accept(fid, 0, sender=supplier)
    balance = cny.balanceOf(supplier)
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.FUNDED):
        desk.accept(fid, 0, sender=supplier)
    assert cny.balanceOf(supplier) == balance


def test_accept_after_cancel_is_refused(desk, offered, reverts, supplier):
    _, fid = offered
    desk.cancel(fid, sender=supplier)
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.CLOSED):
        desk.accept(fid, 0, sender=supplier)


def test_accept_of_a_rejected_offer_is_refused(
    desk, active_receivable, terms, funded, reverts, supplier, financier, financier2
):
    rid = active_receivable()
    fid = desk.request(rid, ZERO, sender=supplier).return_value
    desk.offer(fid, terms(), sender=financier)
    desk.offer(fid, terms(), sender=financier2)
    desk.rejectOffer(fid, 0, sender=supplier)
    with reverts(
        desk.FinancingOfferNotOpen, financingId=fid, offerIndex=0, current=OfferStatus.REJECTED
    ):
        desk.accept(fid, 0, sender=supplier)


def test_accept_after_the_only_offer_was_rejected_is_refused(desk, offered, reverts, supplier):
    _, fid = offered
    desk.rejectOffer(fid, 0, sender=supplier)
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.CLOSED):
        desk.accept(fid, 0, sender=supplier)


def test_accept_of_an_unknown_offer_is_refused(desk, offered, reverts, supplier):
    _, fid = offered
    with reverts(desk.FinancingUnknownOffer, financingId=fid, offerIndex=1):
        desk.accept(fid, 1, sender=supplier)


def test_accept_while_the_receivable_is_frozen_is_refused_and_moves_nothing(
    desk, cny, receivables, offered, reverts, regulator, supplier
):
    rid, fid = offered
    receivables.freeze(rid, sender=regulator)
    escrow, balance = cny.balanceOf(desk), cny.balanceOf(supplier)
    with reverts(receivables.ReceivableFrozenError, id=rid):
        desk.accept(fid, 0, sender=supplier)
    assert (cny.balanceOf(desk), cny.balanceOf(supplier)) == (escrow, balance)
    assert receivables.receivable(rid).holder == supplier.address
    assert desk.offerOf(fid, 0).status == OfferStatus.OPEN


# --- closing offers and requests: every way refunds the escrow ----------------------------


def _assert_refunded(desk, cny, receivables, rid, fid, financier, before, offer_status):
    assert cny.balanceOf(desk) == 0
    assert cny.balanceOf(financier) == before
    assert desk.offerOf(fid, 0).status == offer_status
    # Its last open offer gone, the request closes and the receivable is free again.
    assert desk.financing(fid).status == FinancingStatus.CLOSED
    assert receivables.summary(rid).status == Status.ACTIVE
    assert desk.activeFinancingOf(rid) == 0


def test_reject_offer_refunds_escrow(desk, cny, receivables, offered, supplier, financier):
    rid, fid = offered
    proceeds = desk.offerOf(fid, 0).proceeds
    before = cny.balanceOf(financier) + proceeds
    tx = desk.rejectOffer(fid, 0, sender=supplier)
    _assert_refunded(desk, cny, receivables, rid, fid, financier, before, OfferStatus.REJECTED)
    log = only_log(tx, desk.FinancingOfferClosed)
    assert (log.status, log.refunded, log.actor) == (
        OfferStatus.REJECTED,
        proceeds,
        supplier.address,
    )
    closed = only_log(tx, desk.FinancingClosed)
    assert (closed.financingId, closed.receivableId, closed.cause, closed.actor) == (
        fid,
        rid,
        OfferStatus.REJECTED,
        supplier.address,
    )


def test_withdraw_offer_refunds_escrow(desk, cny, receivables, offered, financier):
    rid, fid = offered
    before = cny.balanceOf(financier) + desk.offerOf(fid, 0).proceeds
    desk.withdrawOffer(fid, 0, sender=financier)
    _assert_refunded(desk, cny, receivables, rid, fid, financier, before, OfferStatus.WITHDRAWN)


def test_expire_offer_refunds_escrow_once_past_expiry(
    desk, cny, receivables, offered, reverts, chain, auditor, financier
):
    rid, fid = offered
    before = cny.balanceOf(financier) + desk.offerOf(fid, 0).proceeds
    expiry = desk.offerOf(fid, 0).terms.expiry
    chain.pending_timestamp = expiry
    with reverts(desk.FinancingOfferNotExpired, financingId=fid, offerIndex=0, expiry=expiry):
        desk.expireOffer(fid, 0, sender=auditor)
    chain.pending_timestamp = expiry + 1
    desk.expireOffer(fid, 0, sender=auditor)  # any active participant may sweep it
    _assert_refunded(desk, cny, receivables, rid, fid, financier, before, OfferStatus.EXPIRED)


def test_expire_offer_by_an_outsider_is_refused(
    desk, participants, offered, reverts, chain, outsider
):
    _, fid = offered
    chain.pending_timestamp = desk.offerOf(fid, 0).terms.expiry + 1
    with reverts(participants.RegistryUnknownParticipant, account=outsider):
        desk.expireOffer(fid, 0, sender=outsider)


def test_reject_with_another_offer_open_keeps_the_request_and_the_other_can_be_accepted(
    desk, cny, receivables, active_receivable, terms, funded, supplier, financier, financier2
):
    rid = active_receivable()
    fid = desk.request(rid, ZERO, sender=supplier).return_value
    desk.offer(fid, terms(), sender=financier)
    desk.offer(fid, terms(fee=1), sender=financier2)
    tx = desk.rejectOffer(fid, 0, sender=supplier)
    assert not list(tx.decode_logs(desk.FinancingClosed))
    assert desk.financing(fid).status == FinancingStatus.OFFERED
    assert receivables.summary(rid).status == Status.FINANCING
    desk.accept(fid, 1, sender=supplier)
    assert receivables.receivable(rid).holder == financier2.address
    assert cny.balanceOf(desk) == 0


def test_after_the_last_offer_is_rejected_the_receivable_can_be_financed_anew(
    desk, receivables, offered, terms, supplier, financier
):
    rid, fid = offered
    desk.rejectOffer(fid, 0, sender=supplier)
    again = desk.request(rid, ZERO, sender=supplier).return_value
    assert again == fid + 1
    desk.offer(again, terms(), sender=financier)
    desk.accept(again, 0, sender=supplier)
    assert receivables.receivable(rid).holder == financier.address


def test_accept_at_or_after_the_due_date_is_refused(
    desk, receivables, active_receivable, terms, funded, reverts, chain, supplier, financier
):
    rid = active_receivable()
    due = receivables.summary(rid).dueDate
    fid = desk.request(rid, financier, sender=supplier).return_value
    desk.offer(fid, terms(expiry=due + 30 * DAY), sender=financier)  # outlives the receivable
    chain.pending_timestamp = due
    with reverts(desk.FinancingReceivableDue, receivableId=rid, dueDate=due):
        desk.accept(fid, 0, sender=supplier)


def test_cancel_refunds_every_open_offer_and_frees_the_receivable(
    desk,
    cny,
    receivables,
    active_receivable,
    terms,
    funded,
    supplier,
    supplier2,
    financier,
    financier2,
):
    rid = active_receivable(amount=FACE)
    fid = desk.request(rid, ZERO, sender=supplier).return_value
    start = {a: cny.balanceOf(a) for a in (financier, financier2)}
    desk.offer(fid, terms(), sender=financier)
    desk.offer(fid, terms(fee=0), sender=financier2)
    desk.offer(fid, terms(fee=7), sender=financier)
    desk.rejectOffer(fid, 2, sender=supplier)

    tx = desk.cancel(fid, sender=supplier)

    assert {a: cny.balanceOf(a) for a in start} == start
    assert cny.balanceOf(desk) == 0
    assert desk.financing(fid).status == FinancingStatus.CLOSED
    assert [desk.offerOf(fid, i).status for i in range(3)] == [
        OfferStatus.SUPERSEDED,
        OfferStatus.SUPERSEDED,
        OfferStatus.REJECTED,
    ]
    log = only_log(tx, desk.FinancingCancelled)
    assert (log.financingId, log.receivableId, log.supplier) == (fid, rid, supplier.address)
    assert [c.offerIndex for c in tx.decode_logs(desk.FinancingOfferClosed)] == [0, 1]
    # Free again: it can be split, transferred, and financed anew.
    assert receivables.summary(rid).status == Status.ACTIVE
    assert desk.activeFinancingOf(rid) == 0
    receivables.transfer(rid, supplier2, sender=supplier)
    fid2 = desk.request(rid, financier, sender=supplier2).return_value
    assert fid2 == fid + 1


def test_cancel_by_another_than_the_supplier_is_refused(
    desk, offered, reverts, supplier, supplier2
):
    _, fid = offered
    with reverts(desk.FinancingNotSupplier, financingId=fid, account=supplier2, supplier=supplier):
        desk.cancel(fid, sender=supplier2)


def test_cancel_after_funding_is_refused(desk, offered, reverts, supplier):
    _, fid = offered
    desk.accept(fid, 0, sender=supplier)
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.FUNDED):
        desk.cancel(fid, sender=supplier)


def test_withdraw_by_another_financier_is_refused(desk, offered, reverts, financier, financier2):
    _, fid = offered
    with reverts(
        desk.FinancingNotFinancier, financingId=fid, account=financier2, financier=financier
    ):
        desk.withdrawOffer(fid, 0, sender=financier2)


def test_reject_by_another_than_the_supplier_is_refused(desk, offered, reverts, financier):
    _, fid = offered
    with reverts(desk.FinancingNotSupplier, account=financier):
        desk.rejectOffer(fid, 0, sender=financier)


def test_withdraw_after_acceptance_is_refused(desk, offered, reverts, supplier, financier):
    _, fid = offered
    desk.accept(fid, 0, sender=supplier)
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.FUNDED):
        desk.withdrawOffer(fid, 0, sender=financier)


# --- default ---------------------------------------------------------------------------


@pytest.mark.parametrize("recourse", [True, False])
def test_declare_default_after_due_plus_grace(
    desk, receivables, active_receivable, finance, reverts, chain, supplier, financier, recourse
):
    rid = active_receivable()
    fid = finance(rid, recourse=recourse, gracePeriod=3 * DAY)
    advance = desk.offerOf(fid, 0).advance
    earliest = receivables.summary(rid).dueDate + 3 * DAY + 1

    chain.pending_timestamp = earliest - 1
    with reverts(desk.FinancingDefaultTooEarly, financingId=fid, earliest=earliest):
        desk.declareDefault(fid, sender=financier)

    chain.pending_timestamp = earliest
    tx = desk.declareDefault(fid, sender=financier)

    assert receivables.summary(rid).status == Status.DEFAULTED
    f = desk.financing(fid)
    assert f.status == FinancingStatus.DEFAULTED
    log = only_log(tx, desk.FinancingDefaulted)
    assert (log.financingId, log.receivableId, log.financier, log.recourse) == (
        fid,
        rid,
        financier.address,
        recourse,
    )
    claims = tx.decode_logs(desk.RecourseClaimRecorded)
    if recourse:
        assert f.recourseClaim == advance
        assert [(c.financingId, c.financier, c.supplier, c.amountDue) for c in claims] == [
            (fid, financier.address, supplier.address, advance)
        ]
    else:
        assert f.recourseClaim == 0
        assert claims == []


def test_declare_default_of_an_overdue_receivable(
    desk, receivables, active_receivable, finance, chain, auditor, financier
):
    rid = active_receivable()
    fid = finance(rid, gracePeriod=0)
    chain.pending_timestamp = receivables.summary(rid).dueDate + 1
    receivables.markOverdue(rid, sender=auditor)
    desk.declareDefault(fid, sender=financier)
    assert receivables.summary(rid).status == Status.DEFAULTED


def test_declare_default_by_a_non_funder_is_refused(
    desk,
    receivables,
    active_receivable,
    finance,
    reverts,
    chain,
    supplier,
    financier,
    financier2,
):
    rid = active_receivable()
    fid = finance(rid)
    chain.pending_timestamp = receivables.summary(rid).dueDate + 30 * DAY
    for account in (financier2, supplier):
        with reverts(
            desk.FinancingNotFinancier, financingId=fid, account=account, financier=financier
        ):
            desk.declareDefault(fid, sender=account)


def test_declare_default_before_funding_is_refused(
    desk, offered, reverts, chain, receivables, financier
):
    rid, fid = offered
    chain.pending_timestamp = receivables.summary(rid).dueDate + 30 * DAY
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.OFFERED):
        desk.declareDefault(fid, sender=financier)


def test_declare_default_before_funding_names_the_status_it_needs(
    desk, offered, reverts, chain, receivables, financier
):
    rid, fid = offered
    chain.pending_timestamp = receivables.summary(rid).dueDate + 30 * DAY
    with reverts(
        desk.FinancingInvalidStatus,
        financingId=fid,
        current=FinancingStatus.OFFERED,
        allowedStatusMask=mask(FinancingStatus.FUNDED),
    ):
        desk.declareDefault(fid, sender=financier)


def test_declare_default_twice_is_refused(
    desk, receivables, active_receivable, finance, reverts, chain, financier
):
    rid = active_receivable()
    fid = finance(rid)
    chain.pending_timestamp = receivables.summary(rid).dueDate + 30 * DAY
    desk.declareDefault(fid, sender=financier)
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.DEFAULTED):
        desk.declareDefault(fid, sender=financier)


def test_declare_default_after_settlement_is_refused(
    desk, clearing, receivables, active_receivable, finance, reverts, chain, core, financier
):
    rid = active_receivable()
    fid = finance(rid)
    chain.pending_timestamp = receivables.summary(rid).dueDate
    clearing.repay(rid, sender=core)
    clearing.redeem(rid, sender=financier)
    chain.pending_timestamp = receivables.summary(rid).dueDate + 30 * DAY
    with reverts(receivables.ReceivableRootAlreadyRepaid, rootId=rid):
        desk.declareDefault(fid, sender=financier)
    assert desk.financing(fid).status == FinancingStatus.REPAID


def test_unknown_financing_is_refused_by_views(desk, reverts):
    with reverts(desk.FinancingUnknown, financingId=7):
        desk.financing(7)
    with reverts(desk.FinancingUnknown, financingId=7):
        desk.offerOf(7, 0)


def test_reverts_fixture_fails_on_another_error_or_other_inputs(
    desk, receivables, reverts, supplier
):
    # ReceivableUnknown comes from the registry through the desk; ape does not decode
    # it, and plain `ape.reverts(desk.FinancingUnknown)` would accept it.
    with pytest.raises(AssertionError, match="expected FinancingUnknown"):  # noqa: SIM117
        with reverts(desk.FinancingUnknown):
            desk.request(999, ZERO, sender=supplier)
    with pytest.raises(AssertionError, match="id: expected 1"):  # noqa: SIM117
        with reverts(receivables.ReceivableUnknown, id=1):
            desk.request(999, ZERO, sender=supplier)
    with reverts(receivables.ReceivableUnknown, id=999):
        desk.request(999, ZERO, sender=supplier)


def test_declare_default_once_the_debtor_has_paid_into_clearing_is_refused(
    desk, clearing, receivables, active_receivable, finance, reverts, chain, core, financier
):
    rid = active_receivable()
    fid = finance(rid)
    chain.pending_timestamp = receivables.summary(rid).dueDate
    clearing.repay(rid, sender=core)
    chain.pending_timestamp = receivables.summary(rid).dueDate + 30 * DAY
    with reverts(receivables.ReceivableRootAlreadyRepaid, rootId=rid):
        desk.declareDefault(fid, sender=financier)
    assert desk.financing(fid).recourseClaim == 0
    clearing.redeem(rid, sender=financier)  # the financier is paid by redemption instead
    assert desk.financing(fid).status == FinancingStatus.REPAID
