"""Buy-back under recourse, partial write-off with recovery, and sale of a financed
receivable (issue 20): the desk's and the credit lines' life of a financing after it
is funded.

Line 1 is financier -> core CNY, line 3 financier2 -> core CNY (conftest
`credit_lines`). The default terms (conftest `terms`) are with recourse and advance
80% of the face: the recourse claim is 800,000.00 of a 1,000,000.00 face.
"""

import pytest
from conftest import DAY, ROLES
from statuses import FinancingStatus, ReleaseCause, SaleStatus, Status

FACE = 1_000_000_00
CLAIM = FACE * 8_000 // 10_000
LINE, LINE2 = 1, 3
PRICE = 900_000_00


def only_log(tx, event):
    (log,) = tx.decode_logs(event)
    return log


@pytest.fixture
def paying_supplier(cny, bank, supplier, desk):
    """The supplier with tokens enough for the claim, the desk approved for them."""
    cny.mint(supplier, FACE, sender=bank)
    cny.approve(desk, 2**256 - 1, sender=supplier)
    return supplier


@pytest.fixture
def holdings(cny, desk, clearing, supplier, financier, financier2, core):
    """Every party's balance of CNY, and the total: no step may create or lose a unit."""

    def _holdings():
        parties = {
            "supplier": supplier,
            "financier": financier,
            "financier2": financier2,
            "core": core,
            "desk": desk,
            "clearing": clearing,
        }
        balances = {name: cny.balanceOf(account) for name, account in parties.items()}
        return balances, sum(balances.values())

    return _holdings


@pytest.fixture
def funded_financing(active_receivable, finance):
    """A fresh receivable financed by `financier` (line 1): (receivable id, financing id)."""

    def _funded(**overrides):
        rid = active_receivable(amount=FACE)
        return rid, finance(rid, **overrides)

    return _funded


# ------------------------------------------------------------------ buy-back


def test_pay_recourse_in_parts_buys_the_receivable_back(
    desk, receivables, credit_lines, cny, defaulted_financing, paying_supplier, holdings, financier
):
    rid, fid = defaulted_financing(amount=FACE)
    assert desk.financing(fid).recourseClaim == CLAIM
    before, total = holdings()
    tx = desk.payRecourse(fid, 300_000_00, sender=paying_supplier)
    log = only_log(tx, desk.RecoursePaid)
    assert (log.financingId, log.supplier, log.amount, log.paid, log.claim) == (
        fid,
        paying_supplier.address,
        300_000_00,
        300_000_00,
        CLAIM,
    )
    # Held by the desk until the claim is paid in full; nothing else changed.
    assert desk.recoursePaid(fid) == 300_000_00
    assert desk.financing(fid).status == FinancingStatus.DEFAULTED
    assert receivables.summary(rid).holder == financier.address
    assert credit_lines.creditLine(LINE).utilised == FACE

    tx = desk.payRecourse(fid, CLAIM - 300_000_00, sender=paying_supplier)
    assert only_log(tx, desk.RecoursePaid).paid == CLAIM
    bought = only_log(tx, desk.FinancingBoughtBack)
    assert (
        bought.financingId,
        bought.receivableId,
        bought.supplier,
        bought.financier,
        bought.claim,
    ) == (
        fid,
        rid,
        paying_supplier.address,
        financier.address,
        CLAIM,
    )
    released = only_log(tx, credit_lines.CreditLineReleased)
    assert (released.cause, released.amount, released.utilised) == (
        ReleaseCause.BOUGHT_BACK,
        FACE,
        0,
    )
    moved = only_log(tx, receivables.ReceivableTransferred)
    assert (moved.id, moved.to) == (rid, paying_supplier.address)
    s = receivables.summary(rid)
    assert (s.holder, s.status) == (paying_supplier.address, Status.OVERDUE)
    assert desk.financing(fid).status == FinancingStatus.BOUGHT_BACK
    after, total_after = holdings()
    assert total_after == total
    assert after["financier"] - before["financier"] == CLAIM
    assert before["supplier"] - after["supplier"] == CLAIM
    assert after["desk"] == before["desk"]
    assert credit_lines.drawingOf(rid).lineId == 0


def test_after_a_buy_back_the_debtors_payment_redeems_to_the_supplier(
    desk, receivables, credit_lines, clearing, defaulted_financing, paying_supplier, core, holdings
):
    rid, fid = defaulted_financing(amount=FACE)
    desk.payRecourse(fid, CLAIM, sender=paying_supplier)
    before, total = holdings()
    clearing.repay(rid, sender=core)
    tx = clearing.redeem(rid, sender=paying_supplier)
    assert tx.decode_logs(credit_lines.CreditLineReleased) == []
    after, total_after = holdings()
    assert after["supplier"] - before["supplier"] == FACE
    assert total_after == total
    assert receivables.summary(rid).status == Status.SETTLED
    assert desk.financing(fid).status == FinancingStatus.BOUGHT_BACK


def test_a_frozen_financier_does_not_block_the_final_recourse_payment(
    desk, receivables, cny, participants, regulator, defaulted_financing, paying_supplier, financier
):
    rid, fid = defaulted_financing(amount=FACE)
    desk.payRecourse(fid, 1, sender=paying_supplier)
    participants.freezeAccount(financier, sender=regulator)
    held = cny.balanceOf(financier)
    tx = desk.payRecourse(fid, CLAIM - 1, sender=paying_supplier)
    deferred = only_log(tx, desk.PaymentDeferred)
    assert (deferred.payee, deferred.amount, deferred.claimable) == (
        financier.address,
        CLAIM,
        CLAIM,
    )
    assert receivables.summary(rid).holder == paying_supplier.address
    assert cny.balanceOf(financier) == held
    assert desk.claimable(financier, cny) == CLAIM
    participants.unfreezeAccount(financier, sender=regulator)
    desk.claim(cny, sender=financier)
    assert cny.balanceOf(financier) == held + CLAIM
    assert cny.balanceOf(desk) == 0


def test_pay_recourse_of_nothing_or_more_than_outstanding_is_refused(
    desk, defaulted_financing, paying_supplier, reverts
):
    _, fid = defaulted_financing(amount=FACE)
    with reverts(desk.FinancingRecourseAmount, financingId=fid, amount=0, outstanding=CLAIM):
        desk.payRecourse(fid, 0, sender=paying_supplier)
    desk.payRecourse(fid, 100, sender=paying_supplier)
    with reverts(desk.FinancingRecourseAmount, amount=CLAIM, outstanding=CLAIM - 100):
        desk.payRecourse(fid, CLAIM, sender=paying_supplier)


def test_pay_recourse_by_anyone_but_the_supplier_is_refused(
    desk, defaulted_financing, financier, reverts, paying_supplier
):
    _, fid = defaulted_financing(amount=FACE)
    with reverts(
        desk.FinancingNotSupplier, financingId=fid, account=financier, supplier=paying_supplier
    ):
        desk.payRecourse(fid, 1, sender=financier)


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
def test_pay_recourse_by_a_supplier_in_bad_standing_is_refused(
    desk, defaulted_financing, paying_supplier, deactivate, reverts, standing
):
    _, fid = defaulted_financing(amount=FACE)
    error, arguments = deactivate(paying_supplier, standing)
    with reverts(error, **arguments):
        desk.payRecourse(fid, 1, sender=paying_supplier)


def test_pay_recourse_without_recourse_or_before_default_is_refused(
    desk, receivables, funded_financing, paying_supplier, financier, chain, reverts
):
    _, funded = funded_financing()
    with reverts(desk.FinancingInvalidStatus, financingId=funded, current=FinancingStatus.FUNDED):
        desk.payRecourse(funded, 1, sender=paying_supplier)
    rid, fid = funded_financing(recourse=False, gracePeriod=DAY)
    chain.pending_timestamp = receivables.summary(rid).dueDate + DAY + 1
    desk.declareDefault(fid, sender=financier)
    with reverts(desk.FinancingNoRecourse, financingId=fid):
        desk.payRecourse(fid, 1, sender=paying_supplier)


def test_after_the_root_is_paid_into_clearing_recourse_is_refused_and_withdrawn(
    desk, clearing, cny, defaulted_financing, paying_supplier, core, financier, holdings, reverts
):
    rid, fid = defaulted_financing(amount=FACE)
    with reverts(desk.FinancingNothingToWithdraw, financingId=fid, paid=0, rootRepaid=False):
        desk.withdrawRecourse(fid, sender=paying_supplier)
    desk.payRecourse(fid, 250_000_00, sender=paying_supplier)
    with reverts(desk.FinancingNothingToWithdraw, paid=250_000_00, rootRepaid=False):
        desk.withdrawRecourse(fid, sender=paying_supplier)
    before, total = holdings()
    clearing.repay(rid, sender=core)
    with reverts(desk.FinancingRootRepaid, financingId=fid, rootId=rid):
        desk.payRecourse(fid, 1, sender=paying_supplier)
    tx = desk.withdrawRecourse(fid, sender=paying_supplier)
    log = only_log(tx, desk.RecourseWithdrawn)
    assert (log.financingId, log.supplier, log.amount) == (fid, paying_supplier.address, 250_000_00)
    assert desk.recoursePaid(fid) == 0
    # The financier is paid by clearing: the face, once.
    clearing.redeem(rid, sender=financier)
    after, total_after = holdings()
    assert after["supplier"] - before["supplier"] == 250_000_00
    assert after["financier"] - before["financier"] == FACE
    assert total_after == total
    assert desk.financing(fid).status == FinancingStatus.REPAID
    with reverts(desk.FinancingNothingToWithdraw, paid=0, rootRepaid=True):
        desk.withdrawRecourse(fid, sender=paying_supplier)


def test_buy_back_after_a_partial_write_off_frees_only_the_rest(
    desk, credit_lines, defaulted_financing, paying_supplier, financier
):
    rid, fid = defaulted_financing(amount=FACE)
    credit_lines.writeOff(rid, 400_000_00, sender=financier)
    assert credit_lines.creditLine(LINE).utilised == FACE - 400_000_00
    tx = desk.payRecourse(fid, CLAIM, sender=paying_supplier)
    released = only_log(tx, credit_lines.CreditLineReleased)
    assert (released.cause, released.amount, released.utilised) == (
        ReleaseCause.BOUGHT_BACK,
        FACE - 400_000_00,
        0,
    )


def test_a_frozen_receivable_cannot_be_handed_back(
    desk, receivables, defaulted_financing, paying_supplier, regulator, reverts
):
    rid, fid = defaulted_financing(amount=FACE)
    receivables.freeze(rid, sender=regulator)
    with reverts(receivables.ReceivableFrozenError, id=rid):
        desk.payRecourse(fid, CLAIM, sender=paying_supplier)
    assert desk.recoursePaid(fid) == 0


def test_registry_hand_back_and_financed_transfer_are_ledger_only(
    receivables, defaulted_financing, supplier, financier, financier2, reverts
):
    rid, _ = defaulted_financing(amount=FACE)
    with reverts(receivables.ReceivableNotLedgerContract, caller=financier):
        receivables.returnToSupplier(rid, supplier, sender=financier)
    with reverts(receivables.ReceivableNotLedgerContract, caller=financier):
        receivables.transferFinanced(rid, financier, financier2, sender=financier)


# ------------------------------------------------------------------ sale


def test_buy_sale_moves_price_holder_financier_and_lines_at_once(
    desk, receivables, credit_lines, funded_financing, financier, financier2, chain, holdings
):
    rid, fid = funded_financing()
    expiry = chain.pending_timestamp + 3 * DAY
    tx = desk.offerSale(fid, financier2, PRICE, expiry, sender=financier)
    sale_id = tx.return_value or desk.lastSaleId()
    offered = only_log(tx, desk.FinancingSaleOffered)
    assert (
        offered.saleId,
        offered.financingId,
        offered.seller,
        offered.buyer,
        offered.price,
        offered.expiry,
    ) == (
        sale_id,
        fid,
        financier.address,
        financier2.address,
        PRICE,
        expiry,
    )
    assert desk.openSaleOf(fid) == sale_id
    before, total = holdings()
    tx = desk.buySale(sale_id, sender=financier2)
    sold = only_log(tx, desk.FinancingSold)
    assert (sold.saleId, sold.financingId, sold.buyer, sold.seller, sold.price) == (
        sale_id,
        fid,
        financier2.address,
        financier.address,
        PRICE,
    )
    released = only_log(tx, credit_lines.CreditLineReleased)
    assert (released.lineId, released.cause, released.amount) == (LINE, ReleaseCause.SOLD, FACE)
    consumed = only_log(tx, credit_lines.CreditLineConsumed)
    assert (consumed.lineId, consumed.receivableId, consumed.amount) == (LINE2, rid, FACE)
    moved = only_log(tx, receivables.ReceivableTransferred)
    assert (moved.id, moved.to, getattr(moved, "from")) == (
        rid,
        financier2.address,
        financier.address,
    )
    s = receivables.summary(rid)
    assert (s.holder, s.status) == (financier2.address, Status.FINANCED)
    f = desk.financing(fid)
    assert (f.financier, f.status) == (financier2.address, FinancingStatus.FUNDED)
    assert desk.sale(sale_id).status == SaleStatus.SOLD
    assert desk.openSaleOf(fid) == 0
    after, total_after = holdings()
    assert total_after == total
    assert after["financier"] - before["financier"] == PRICE
    assert before["financier2"] - after["financier2"] == PRICE
    assert credit_lines.creditLine(LINE).utilised == 0
    assert credit_lines.creditLine(LINE2).utilised == FACE


def test_the_buyer_may_declare_default_and_is_paid_at_maturity(
    desk, receivables, clearing, funded_financing, financier, financier2, core, chain, reverts
):
    rid, fid = funded_financing(gracePeriod=DAY)
    sale_id = desk.offerSale(
        fid, financier2, PRICE, chain.pending_timestamp + DAY, sender=financier
    ).return_value
    desk.buySale(sale_id or desk.lastSaleId(), sender=financier2)
    chain.pending_timestamp = receivables.summary(rid).dueDate + DAY + 1
    with reverts(
        desk.FinancingNotFinancier, financingId=fid, account=financier, financier=financier2
    ):
        desk.declareDefault(fid, sender=financier)
    desk.declareDefault(fid, sender=financier2)
    clearing.repay(rid, sender=core)
    tx = clearing.redeem(rid, sender=core)
    assert only_log(tx, clearing.LeafRedeemed).holder == financier2.address


def test_offer_sale_refusals(
    desk, participants, funded_financing, financier, financier2, supplier, chain, reverts
):
    _, fid = funded_financing()
    later = chain.pending_timestamp + DAY
    with reverts(
        desk.FinancingNotFinancier, financingId=fid, account=financier2, financier=financier
    ):
        desk.offerSale(fid, financier2, PRICE, later, sender=financier2)
    with reverts(desk.FinancingSaleInvalid, field="buyer"):
        desk.offerSale(fid, financier, PRICE, later, sender=financier)
    with reverts(desk.FinancingSaleInvalid, field="price", value=0):
        desk.offerSale(fid, financier2, 0, later, sender=financier)
    with reverts(desk.FinancingSaleInvalid, field="expiry", value=1):
        desk.offerSale(fid, financier2, PRICE, 1, sender=financier)
    with reverts(participants.RegistryMissingRole, account=supplier, role=ROLES["FINANCIER"]):
        desk.offerSale(fid, supplier, PRICE, later, sender=financier)
    first = (
        desk.offerSale(fid, financier2, PRICE, later, sender=financier).return_value
        or desk.lastSaleId()
    )
    with reverts(desk.FinancingSaleAlreadyOpen, financingId=fid, saleId=first):
        desk.offerSale(fid, financier2, PRICE, later, sender=financier)
    desk.cancelSale(first, sender=financier)
    desk.offerSale(fid, financier2, PRICE, later, sender=financier)


def test_offer_sale_of_a_frozen_due_or_defaulted_receivable_is_refused(
    desk, receivables, funded_financing, financier, financier2, regulator, chain, reverts
):
    rid, fid = funded_financing(gracePeriod=DAY)
    receivables.freeze(rid, sender=regulator)
    later = chain.pending_timestamp + 200 * DAY
    with reverts(
        desk.FinancingReceivableNotSaleable, receivableId=rid, status=Status.FINANCED, frozen=True
    ):
        desk.offerSale(fid, financier2, PRICE, later, sender=financier)
    receivables.unfreeze(rid, sender=regulator)
    due = receivables.summary(rid).dueDate
    chain.pending_timestamp = due
    with reverts(desk.FinancingReceivableDue, receivableId=rid, dueDate=due):
        desk.offerSale(fid, financier2, PRICE, later, sender=financier)
    chain.pending_timestamp = due + DAY + 1
    desk.declareDefault(fid, sender=financier)
    with reverts(desk.FinancingInvalidStatus, financingId=fid, current=FinancingStatus.DEFAULTED):
        desk.offerSale(fid, financier2, PRICE, later, sender=financier)


def test_buy_sale_refusals(
    desk, credit_lines, funded_financing, financier, financier2, supplier, chain, reverts
):
    _, fid = funded_financing()
    expiry = chain.pending_timestamp + DAY
    sale_id = (
        desk.offerSale(fid, financier2, PRICE, expiry, sender=financier).return_value
        or desk.lastSaleId()
    )
    with reverts(desk.FinancingSaleUnknown, saleId=sale_id + 1):
        desk.buySale(sale_id + 1, sender=financier2)
    with reverts(desk.FinancingNotBuyer, saleId=sale_id, account=financier, buyer=financier2):
        desk.buySale(sale_id, sender=financier)
    with reverts(desk.FinancingNotFinancier, account=financier2, financier=financier):
        desk.cancelSale(sale_id, sender=financier2)
    # The buyer must hold a line to the debtor: a financed exposure without one is refused.
    credit_lines.close(LINE2, sender=financier2)
    with reverts(credit_lines.CreditLineMissing, financier=financier2):
        desk.buySale(sale_id, sender=financier2)
    chain.pending_timestamp = expiry + 1
    with reverts(desk.FinancingSaleExpired, saleId=sale_id, expiry=expiry):
        desk.buySale(sale_id, sender=financier2)
    desk.cancelSale(sale_id, sender=financier)
    with reverts(desk.FinancingSaleNotOpen, saleId=sale_id, current=SaleStatus.CANCELLED):
        desk.buySale(sale_id, sender=financier2)


@pytest.mark.parametrize("standing", ["suspended", "frozen"])
def test_a_seller_in_bad_standing_cannot_be_paid_so_the_sale_is_refused(
    desk, receivables, funded_financing, financier, financier2, deactivate, chain, reverts, standing
):
    rid, fid = funded_financing()
    sale_id = desk.offerSale(
        fid, financier2, PRICE, chain.pending_timestamp + DAY, sender=financier
    ).return_value
    error, arguments = deactivate(financier, standing)
    with reverts(error, **arguments):
        desk.buySale(sale_id or desk.lastSaleId(), sender=financier2)
    assert receivables.summary(rid).holder == financier.address
