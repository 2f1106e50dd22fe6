"""CreditLines: a financier's limit on its exposure to one obligor, drawn at accept and
freed at clearing (REPAID), after a default (RECOVERED) or by a write-off.

The session's lines (conftest `credit_lines`): 1 financier->core CNY, 2 financier->core
USD, 3 financier2->core CNY, 4 financier2->core USD; LINE_LIMIT each, ten years.
Every refusal is checked with its custom error and the values it carries.
"""

import pytest
from conftest import CNY, DAY, LINE_LIMIT, ROLES, TRIGGER_DAYS, USD
from statuses import FinancingStatus

FACE = 1_000_000_00  # 1,000,000.00 CNY
LINE = 1  # financier -> core, CNY
LINE2 = 3  # financier2 -> core, CNY
OPEN, CLOSED = 1, 2
REPAID, RECOVERED, WRITTEN_OFF = 0, 1, 2
BAD_STANDINGS = ["suspended", "kyc_expired", "frozen"]


def only_log(tx, event):
    logs = tx.decode_logs(event)
    assert len(logs) == 1, f"expected one {event.name}, got {len(logs)}"
    return logs[0]


def sub_limit(credit_lines, supplier, line_id: int = LINE) -> tuple[int, int]:
    """(sub-limit, utilised) of `supplier` on a line."""
    s = credit_lines.supplierLimit(line_id, supplier)
    return s.limit, s.utilised


def later(chain, days: int) -> int:
    return chain.pending_timestamp + days * DAY


def line_expiry(credit_lines, line_id: int = LINE) -> int:
    return credit_lines.creditLine(line_id).expiry


# --- grant --------------------------------------------------------------------------------


def test_grant_opens_a_line_and_emits_its_terms(credit_lines, chain, core, financier):
    credit_lines.close(LINE, sender=financier)
    expiry = later(chain, 365)
    tx = credit_lines.grant(core, CNY, 5_000_000_00, expiry, sender=financier)
    assert tx.return_value == credit_lines.lastLineId() == 5
    log = only_log(tx, credit_lines.CreditLineGranted)
    assert (log.lineId, log.financier, log.obligor, bytes(log.currency)) == (
        5,
        financier.address,
        core.address,
        CNY,
    )
    assert (log.limit, log.expiry) == (5_000_000_00, expiry)
    line = credit_lines.creditLine(5)
    assert (line.financier, line.obligor, bytes(line.currency)) == (
        financier.address,
        core.address,
        CNY,
    )
    assert (line.status, line.frozen, line.programme) == (OPEN, False, False)
    assert (line.expiry, line.limit, line.utilised) == (expiry, 5_000_000_00, 0)
    assert credit_lines.lineOf(financier, core, CNY) == 5
    assert credit_lines.headroom(5, financier) == 5_000_000_00


def test_grant_by_a_supplier_is_refused(credit_lines, participants, reverts, chain, core, supplier):
    with reverts(participants.RegistryMissingRole, account=supplier, role=ROLES["FINANCIER"]):
        credit_lines.grant(core, CNY, FACE, later(chain, 30), sender=supplier)


def test_grant_by_an_outsider_is_refused(credit_lines, participants, reverts, chain, core, outsider):
    with reverts(participants.RegistryUnknownParticipant, account=outsider):
        credit_lines.grant(core, CNY, FACE, later(chain, 30), sender=outsider)


@pytest.mark.parametrize("standing", BAD_STANDINGS)
def test_grant_by_a_financier_in_bad_standing_is_refused(
    credit_lines, deactivate, reverts, chain, core, financier, standing
):
    credit_lines.close(LINE, sender=financier)
    error, arguments = deactivate(financier, standing)
    with reverts(error, **arguments):
        credit_lines.grant(core, CNY, FACE, later(chain, 30), sender=financier)


def test_grant_to_a_supplier_as_obligor_is_refused(
    credit_lines, participants, reverts, chain, supplier, financier
):
    with reverts(
        participants.RegistryMissingRole, account=supplier, role=ROLES["CORE_ENTERPRISE"]
    ):
        credit_lines.grant(supplier, CNY, FACE, later(chain, 30), sender=financier)


def test_grant_to_a_suspended_obligor_is_refused(
    credit_lines, participants, operator, reverts, chain, core, financier
):
    credit_lines.close(LINE, sender=financier)
    participants.suspend(core, sender=operator)
    with reverts(participants.RegistryParticipantSuspended, account=core):
        credit_lines.grant(core, CNY, FACE, later(chain, 30), sender=financier)


def test_grant_in_a_currency_not_listed_is_refused(credit_lines, reverts, chain, core, financier):
    with reverts(credit_lines.CreditLineCurrencyNotListed, currency=b"EUR"):
        credit_lines.grant(core, b"EUR", FACE, later(chain, 30), sender=financier)


def test_grant_of_a_zero_limit_is_refused(credit_lines, reverts, chain, core, financier):
    credit_lines.close(LINE, sender=financier)
    with reverts(credit_lines.CreditLineInvalidTerms, field="limit", value=0):
        credit_lines.grant(core, CNY, 0, later(chain, 30), sender=financier)


def test_grant_expiring_now_is_refused(credit_lines, reverts, chain, core, financier):
    credit_lines.close(LINE, sender=financier)
    expiry = chain.pending_timestamp
    chain.pending_timestamp = expiry
    with reverts(credit_lines.CreditLineInvalidTerms, field="expiry", value=expiry):
        credit_lines.grant(core, CNY, FACE, expiry, sender=financier)


def test_grant_of_a_second_open_line_to_the_same_obligor_is_refused(
    credit_lines, reverts, chain, core, financier
):
    with reverts(
        credit_lines.CreditLineExists,
        financier=financier,
        obligor=core,
        currency=CNY,
        lineId=LINE,
    ):
        credit_lines.grant(core, CNY, FACE, later(chain, 30), sender=financier)


# --- amend --------------------------------------------------------------------------------


def test_amend_changes_limit_and_expiry(credit_lines, chain, financier):
    expiry = later(chain, 100)
    tx = credit_lines.amend(LINE, 3 * FACE, expiry, sender=financier)
    log = only_log(tx, credit_lines.CreditLineAmended)
    assert (log.lineId, log.limit, log.expiry, log.actor) == (
        LINE,
        3 * FACE,
        expiry,
        financier.address,
    )
    line = credit_lines.creditLine(LINE)
    assert (line.limit, line.expiry) == (3 * FACE, expiry)


def test_amend_of_an_unknown_line_is_refused(credit_lines, reverts, chain, financier):
    with reverts(credit_lines.CreditLineUnknown, lineId=99):
        credit_lines.amend(99, FACE, later(chain, 30), sender=financier)


def test_amend_by_another_financier_is_refused(credit_lines, reverts, chain, financier, financier2):
    with reverts(
        credit_lines.CreditLineNotFinancier,
        lineId=LINE,
        account=financier2,
        financier=financier,
    ):
        credit_lines.amend(LINE, FACE, later(chain, 30), sender=financier2)


def test_amend_by_the_obligor_is_refused(credit_lines, reverts, chain, core, financier):
    with reverts(credit_lines.CreditLineNotFinancier, account=core, financier=financier):
        credit_lines.amend(LINE, FACE, later(chain, 30), sender=core)


@pytest.mark.parametrize("standing", BAD_STANDINGS)
def test_amend_by_a_financier_in_bad_standing_is_refused(
    credit_lines, deactivate, reverts, chain, financier, standing
):
    expiry = later(chain, 30)
    error, arguments = deactivate(financier, standing)
    with reverts(error, **arguments):
        credit_lines.amend(LINE, FACE, expiry, sender=financier)


def test_amend_to_a_zero_limit_or_a_past_expiry_is_refused(credit_lines, reverts, chain, financier):
    with reverts(credit_lines.CreditLineInvalidTerms, field="limit", value=0):
        credit_lines.amend(LINE, 0, later(chain, 30), sender=financier)
    past = chain.pending_timestamp - 1
    with reverts(credit_lines.CreditLineInvalidTerms, field="expiry", value=past):
        credit_lines.amend(LINE, FACE, past, sender=financier)


def test_amend_below_what_is_utilised_is_refused_and_to_it_is_allowed(
    credit_lines, active_receivable, finance, reverts, chain, financier
):
    finance(active_receivable(amount=FACE))
    expiry = later(chain, 30)
    with reverts(
        credit_lines.CreditLineBelowUtilisation, lineId=LINE, limit=FACE - 1, utilised=FACE
    ):
        credit_lines.amend(LINE, FACE - 1, expiry, sender=financier)
    credit_lines.amend(LINE, FACE, expiry, sender=financier)
    assert credit_lines.headroom(LINE, financier) == 0


def test_amend_of_a_closed_line_is_refused(credit_lines, reverts, chain, financier):
    credit_lines.close(LINE, sender=financier)
    with reverts(credit_lines.CreditLineClosedError, lineId=LINE):
        credit_lines.amend(LINE, FACE, later(chain, 30), sender=financier)


# --- supplier sub-limits (programme) ------------------------------------------------------


def test_set_supplier_limit_makes_the_line_a_programme(credit_lines, supplier, financier):
    tx = credit_lines.setSupplierLimit(LINE, supplier, FACE, sender=financier)
    log = only_log(tx, credit_lines.CreditLineSupplierLimitSet)
    assert (log.lineId, log.supplier, log.limit, log.actor) == (
        LINE,
        supplier.address,
        FACE,
        financier.address,
    )
    assert credit_lines.creditLine(LINE).programme
    assert sub_limit(credit_lines, supplier) == (FACE, 0)
    assert credit_lines.headroom(LINE, supplier) == FACE


def test_set_supplier_limit_to_zero_takes_the_supplier_off(
    credit_lines, offered_financing, desk, reverts, supplier, financier
):
    credit_lines.setSupplierLimit(LINE, supplier, FACE, sender=financier)
    tx = credit_lines.setSupplierLimit(LINE, supplier, 0, sender=financier)
    log = only_log(tx, credit_lines.CreditLineSupplierLimitSet)
    assert (log.supplier, log.limit) == (supplier.address, 0)
    assert credit_lines.headroom(LINE, supplier) == 0
    _, fid = offered_financing()
    with reverts(credit_lines.CreditLineSupplierNotEligible, lineId=LINE, supplier=supplier):
        desk.accept(fid, 0, sender=supplier)


def test_set_supplier_limit_on_an_unknown_line_is_refused(
    credit_lines, reverts, supplier, financier
):
    with reverts(credit_lines.CreditLineUnknown, lineId=0):
        credit_lines.setSupplierLimit(0, supplier, FACE, sender=financier)


def test_set_supplier_limit_by_another_financier_is_refused(
    credit_lines, reverts, supplier, financier, financier2
):
    with reverts(
        credit_lines.CreditLineNotFinancier, lineId=LINE, account=financier2, financier=financier
    ):
        credit_lines.setSupplierLimit(LINE, supplier, FACE, sender=financier2)


@pytest.mark.parametrize("standing", BAD_STANDINGS)
def test_set_supplier_limit_by_a_financier_in_bad_standing_is_refused(
    credit_lines, deactivate, reverts, supplier, financier, standing
):
    error, arguments = deactivate(financier, standing)
    with reverts(error, **arguments):
        credit_lines.setSupplierLimit(LINE, supplier, FACE, sender=financier)


def test_set_supplier_limit_for_a_non_supplier_is_refused(
    credit_lines, participants, reverts, core, outsider, financier
):
    with reverts(participants.RegistryMissingRole, account=core, role=ROLES["SUPPLIER"]):
        credit_lines.setSupplierLimit(LINE, core, FACE, sender=financier)
    with reverts(participants.RegistryUnknownParticipant, account=outsider):
        credit_lines.setSupplierLimit(LINE, outsider, FACE, sender=financier)


def test_set_supplier_limit_above_the_line_is_refused(
    credit_lines, reverts, chain, supplier, financier
):
    credit_lines.amend(LINE, FACE, later(chain, 30), sender=financier)
    with reverts(
        credit_lines.CreditLineSubLimitAboveLimit, lineId=LINE, subLimit=FACE + 1, limit=FACE
    ):
        credit_lines.setSupplierLimit(LINE, supplier, FACE + 1, sender=financier)
    credit_lines.setSupplierLimit(LINE, supplier, FACE, sender=financier)  # equal: allowed


def test_set_supplier_limit_below_what_it_drew_is_refused(
    credit_lines, active_receivable, finance, reverts, supplier, financier
):
    credit_lines.setSupplierLimit(LINE, supplier, 2 * FACE, sender=financier)
    finance(active_receivable(amount=FACE))
    assert sub_limit(credit_lines, supplier) == (2 * FACE, FACE)
    with reverts(
        credit_lines.CreditLineSubLimitBelowUtilisation,
        lineId=LINE,
        supplier=supplier,
        limit=FACE - 1,
        utilised=FACE,
    ):
        credit_lines.setSupplierLimit(LINE, supplier, FACE - 1, sender=financier)
    # Taking a supplier with drawings off the programme (0) is lowering below them too.
    with reverts(credit_lines.CreditLineSubLimitBelowUtilisation, limit=0, utilised=FACE):
        credit_lines.setSupplierLimit(LINE, supplier, 0, sender=financier)


def test_set_supplier_limit_on_a_closed_line_is_refused(credit_lines, reverts, supplier, financier):
    credit_lines.close(LINE, sender=financier)
    with reverts(credit_lines.CreditLineClosedError, lineId=LINE):
        credit_lines.setSupplierLimit(LINE, supplier, FACE, sender=financier)


# --- close --------------------------------------------------------------------------------


def test_close_ends_the_line_and_frees_its_key(credit_lines, chain, core, financier):
    tx = credit_lines.close(LINE, sender=financier)
    log = only_log(tx, credit_lines.CreditLineClosed)
    assert (log.lineId, log.actor) == (LINE, financier.address)
    assert credit_lines.creditLine(LINE).status == CLOSED
    assert credit_lines.lineOf(financier, core, CNY) == 0
    assert credit_lines.headroom(LINE, financier) == 0
    # The financier may grant again to the same obligor.
    assert credit_lines.grant(core, CNY, FACE, later(chain, 30), sender=financier).return_value == 5


def test_close_by_another_financier_is_refused(credit_lines, reverts, financier, financier2):
    with reverts(
        credit_lines.CreditLineNotFinancier, lineId=LINE, account=financier2, financier=financier
    ):
        credit_lines.close(LINE, sender=financier2)


@pytest.mark.parametrize("standing", BAD_STANDINGS)
def test_close_by_a_financier_in_bad_standing_is_refused(
    credit_lines, deactivate, reverts, financier, standing
):
    error, arguments = deactivate(financier, standing)
    with reverts(error, **arguments):
        credit_lines.close(LINE, sender=financier)


def test_close_twice_or_of_an_unknown_line_is_refused(credit_lines, reverts, financier):
    credit_lines.close(LINE, sender=financier)
    with reverts(credit_lines.CreditLineClosedError, lineId=LINE):
        credit_lines.close(LINE, sender=financier)
    with reverts(credit_lines.CreditLineUnknown, lineId=77):
        credit_lines.close(77, sender=financier)


def test_close_keeps_releases_of_what_was_drawn_working(
    credit_lines, clearing, receivables, active_receivable, finance, chain, core, financier
):
    rid = active_receivable(amount=FACE)
    finance(rid)
    credit_lines.close(LINE, sender=financier)
    chain.pending_timestamp = receivables.summary(rid).dueDate
    clearing.repay(rid, sender=core)
    tx = clearing.redeem(rid, sender=financier)
    log = only_log(tx, credit_lines.CreditLineReleased)
    assert (log.lineId, log.receivableId, log.cause, log.amount, log.utilised) == (
        LINE,
        rid,
        REPAID,
        FACE,
        0,
    )
    line = credit_lines.creditLine(LINE)
    assert (line.status, line.utilised) == (CLOSED, 0)


# --- freeze / unfreeze ----------------------------------------------------------------------


def test_freeze_stops_drawing_and_unfreeze_restores_it(
    credit_lines, desk, offered_financing, reverts, regulator, supplier, financier
):
    tx = credit_lines.freeze(LINE, sender=regulator)
    log = only_log(tx, credit_lines.CreditLineFrozen)
    assert (log.lineId, log.regulator) == (LINE, regulator.address)
    assert credit_lines.creditLine(LINE).frozen
    assert credit_lines.headroom(LINE, supplier) == 0
    _, fid = offered_financing()
    with reverts(credit_lines.CreditLineFrozenError, lineId=LINE):
        desk.accept(fid, 0, sender=supplier)

    tx = credit_lines.unfreeze(LINE, sender=regulator)
    log = only_log(tx, credit_lines.CreditLineUnfrozen)
    assert (log.lineId, log.regulator) == (LINE, regulator.address)
    assert not credit_lines.creditLine(LINE).frozen
    desk.accept(fid, 0, sender=supplier)
    assert credit_lines.creditLine(LINE).utilised == FACE


@pytest.mark.parametrize("who", ["financier", "operator", "auditor", "core"])
def test_freeze_by_anyone_but_a_regulator_is_refused(
    credit_lines, participants, reverts, request, who
):
    account = request.getfixturevalue(who)
    if who == "operator":  # holds OPERATOR only, never onboarded as a participant
        with reverts(participants.RegistryUnknownParticipant, account=account):
            credit_lines.freeze(LINE, sender=account)
        return
    with reverts(participants.RegistryMissingRole, account=account, role=ROLES["REGULATOR"]):
        credit_lines.freeze(LINE, sender=account)


def test_unfreeze_by_anyone_but_a_regulator_is_refused(
    credit_lines, participants, reverts, regulator, financier
):
    credit_lines.freeze(LINE, sender=regulator)
    with reverts(participants.RegistryMissingRole, account=financier, role=ROLES["REGULATOR"]):
        credit_lines.unfreeze(LINE, sender=financier)


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired"])
def test_freeze_by_a_regulator_in_bad_standing_is_refused(
    credit_lines, deactivate, reverts, regulator, standing
):
    error, arguments = deactivate(regulator, standing)
    with reverts(error, **arguments):
        credit_lines.freeze(LINE, sender=regulator)


def test_freeze_twice_unfreeze_unfrozen_and_unknown_lines_are_refused(
    credit_lines, reverts, regulator
):
    with reverts(credit_lines.CreditLineNotFrozen, lineId=LINE):
        credit_lines.unfreeze(LINE, sender=regulator)
    credit_lines.freeze(LINE, sender=regulator)
    with reverts(credit_lines.CreditLineFrozenError, lineId=LINE):
        credit_lines.freeze(LINE, sender=regulator)
    with reverts(credit_lines.CreditLineUnknown, lineId=42):
        credit_lines.freeze(42, sender=regulator)
    with reverts(credit_lines.CreditLineUnknown, lineId=42):
        credit_lines.unfreeze(42, sender=regulator)


# --- consume at accept ----------------------------------------------------------------------


def test_accept_consumes_the_financiers_line_and_emits_utilisation_after(
    credit_lines, desk, offered_financing, supplier, financier
):
    credit_lines.amend(LINE, 3 * FACE, line_expiry(credit_lines), sender=financier)
    rid, fid = offered_financing()
    before = credit_lines.creditLine(LINE2).utilised
    tx = desk.accept(fid, 0, sender=supplier)
    log = only_log(tx, credit_lines.CreditLineConsumed)
    assert (log.lineId, log.receivableId, log.supplier, log.financingId) == (
        LINE,
        rid,
        supplier.address,
        fid,
    )
    assert (log.amount, log.utilised) == (FACE, FACE)
    assert credit_lines.creditLine(LINE).utilised == FACE
    assert credit_lines.creditLine(LINE2).utilised == before  # the other financier's
    d = credit_lines.drawingOf(rid)
    assert (d.lineId, d.supplier, d.amount) == (LINE, supplier.address, FACE)
    assert credit_lines.headroom(LINE, supplier) == 2 * FACE

    rid2, fid2 = offered_financing(amount=FACE // 2)
    tx = desk.accept(fid2, 0, sender=supplier)
    log = only_log(tx, credit_lines.CreditLineConsumed)
    assert (log.receivableId, log.amount, log.utilised) == (rid2, FACE // 2, FACE + FACE // 2)


def test_accept_up_to_the_limit_is_allowed_and_one_unit_over_is_refused(
    credit_lines, desk, cny, offered_financing, reverts, supplier, financier
):
    credit_lines.amend(LINE, 2 * FACE - 1, line_expiry(credit_lines), sender=financier)
    _, fid = offered_financing()
    desk.accept(fid, 0, sender=supplier)
    rid, fid = offered_financing()
    escrow = cny.balanceOf(desk)
    with reverts(
        credit_lines.CreditLineExceeded, lineId=LINE, limit=2 * FACE - 1, utilised=FACE, requested=FACE
    ):
        desk.accept(fid, 0, sender=supplier)
    # Nothing moved: the offer's escrow is still held and the receivable under request.
    assert cny.balanceOf(desk) == escrow
    assert credit_lines.creditLine(LINE).utilised == FACE
    assert credit_lines.drawingOf(rid).lineId == 0
    _, fid = offered_financing(amount=FACE - 1)
    desk.accept(fid, 0, sender=supplier)
    assert credit_lines.creditLine(LINE).utilised == 2 * FACE - 1


def test_accept_without_an_open_line_is_refused(
    credit_lines, desk, offered_financing, reverts, core, supplier, financier
):
    _, fid = offered_financing()
    credit_lines.close(LINE, sender=financier)  # closed: no open line any more
    with reverts(credit_lines.CreditLineMissing, financier=financier, obligor=core, currency=CNY):
        desk.accept(fid, 0, sender=supplier)


def test_accept_in_a_currency_the_financier_has_no_line_in_is_refused(
    credit_lines, desk, usd, bank, terms, active_receivable, reverts, core, supplier, financier
):
    credit_lines.close(2, sender=financier)  # its USD line
    usd.mint(financier, 10 * FACE, sender=bank)
    usd.approve(desk, 2**256 - 1, sender=financier)
    rid = active_receivable(amount=FACE, currency=USD)
    fid = desk.request(rid, financier, sender=supplier).return_value
    desk.offer(fid, terms(), sender=financier)
    with reverts(credit_lines.CreditLineMissing, financier=financier, obligor=core, currency=USD):
        desk.accept(fid, 0, sender=supplier)


def test_accept_on_an_expired_line_is_refused_at_the_second_after_expiry(
    credit_lines, desk, offered_financing, reverts, chain, supplier, financier
):
    expiry = later(chain, 2)
    credit_lines.amend(LINE, LINE_LIMIT, expiry, sender=financier)
    _, fid = offered_financing()
    _, fid2 = offered_financing()
    chain.pending_timestamp = expiry  # the last second it is usable
    desk.accept(fid, 0, sender=supplier)
    chain.pending_timestamp = expiry + 1
    with reverts(
        credit_lines.CreditLineExpired, lineId=LINE, expiry=expiry, nowTimestamp=expiry + 1
    ):
        desk.accept(fid2, 0, sender=supplier)
    assert credit_lines.headroom(LINE, supplier) == 0


def test_accept_over_the_suppliers_sub_limit_is_refused(
    credit_lines, desk, offered_financing, reverts, supplier, financier
):
    credit_lines.setSupplierLimit(LINE, supplier, FACE + FACE // 2, sender=financier)
    _, fid = offered_financing()
    tx = desk.accept(fid, 0, sender=supplier)
    assert only_log(tx, credit_lines.CreditLineConsumed).utilised == FACE
    assert sub_limit(credit_lines, supplier) == (FACE + FACE // 2, FACE)
    assert credit_lines.headroom(LINE, supplier) == FACE // 2
    _, fid = offered_financing()
    with reverts(
        credit_lines.CreditLineSubLimitExceeded,
        lineId=LINE,
        supplier=supplier,
        limit=FACE + FACE // 2,
        utilised=FACE,
        requested=FACE,
    ):
        desk.accept(fid, 0, sender=supplier)


def test_accept_by_a_supplier_not_on_the_programme_is_refused(
    credit_lines, desk, offered_financing, reverts, supplier, supplier2, financier
):
    credit_lines.setSupplierLimit(LINE, supplier, FACE, sender=financier)
    _, fid = offered_financing(holder=supplier2)
    with reverts(credit_lines.CreditLineSupplierNotEligible, lineId=LINE, supplier=supplier2):
        desk.accept(fid, 0, sender=supplier2)
    assert credit_lines.headroom(LINE, supplier2) == 0


def test_accept_while_the_debtor_is_restricted_is_refused(
    credit_lines, desk, risk, receivables, active_receivable, terms, reverts, chain, core, auditor,
    supplier, financier,
):  # fmt: skip
    rid = active_receivable(amount=FACE)
    fid = desk.request(rid, financier, sender=supplier).return_value
    desk.offer(fid, terms(expiry=later(chain, 60)), sender=financier)
    root = active_receivable(amount=FACE, dueDate=later(chain, 1))
    chain.pending_timestamp = receivables.summary(root).dueDate + TRIGGER_DAYS * DAY + 1
    risk.flagOverdue(root, sender=auditor)
    with reverts(risk.RiskObligorRestricted, core=core, overdueRoots=1):
        desk.accept(fid, 0, sender=supplier)
    assert credit_lines.drawingOf(rid).lineId == 0


def test_consume_and_release_by_anyone_but_a_ledger_contract_are_refused(
    credit_lines, active_receivable, reverts, supplier, financier, operator
):
    rid = active_receivable()
    for account in (financier, supplier, operator):
        with reverts(credit_lines.CreditLineNotLedgerContract, caller=account):
            credit_lines.consume(rid, 1, financier, supplier, sender=account)
        with reverts(credit_lines.CreditLineNotLedgerContract, caller=account):
            credit_lines.release(rid, FACE, False, sender=account)


def test_views_of_an_unknown_line_are_refused(credit_lines, reverts, supplier):
    with reverts(credit_lines.CreditLineUnknown, lineId=5):
        credit_lines.creditLine(5)
    with reverts(credit_lines.CreditLineUnknown, lineId=5):
        credit_lines.supplierLimit(5, supplier)
    with reverts(credit_lines.CreditLineUnknown, lineId=5):
        credit_lines.headroom(5, supplier)


# --- release: repaid, recovered, written off ----------------------------------------------


def test_redeem_of_a_financed_leaf_releases_it_as_repaid(
    credit_lines, clearing, desk, receivables, active_receivable, finance, chain, core, auditor
):
    rid = active_receivable(amount=FACE)
    fid = finance(rid)
    chain.pending_timestamp = receivables.summary(rid).dueDate
    tx = clearing.repay(rid, sender=core)
    assert tx.decode_logs(credit_lines.CreditLineReleased) == []  # at redemption, not repay
    tx = clearing.redeem(rid, sender=auditor)
    log = only_log(tx, credit_lines.CreditLineReleased)
    assert (log.lineId, log.receivableId, log.cause, log.amount, log.utilised) == (
        LINE,
        rid,
        REPAID,
        FACE,
        0,
    )
    assert credit_lines.creditLine(LINE).utilised == 0
    assert credit_lines.drawingOf(rid).lineId == 0
    assert desk.financing(fid).status == FinancingStatus.REPAID


def test_redeem_of_a_leaf_never_financed_releases_nothing(
    credit_lines, clearing, receivables, active_receivable, chain, core, supplier
):
    rid = active_receivable(amount=FACE)
    chain.pending_timestamp = receivables.summary(rid).dueDate
    clearing.repay(rid, sender=core)
    tx = clearing.redeem(rid, sender=supplier)
    assert tx.decode_logs(credit_lines.CreditLineReleased) == []


def test_redeem_of_a_programme_drawing_frees_the_sub_limit_too(
    credit_lines, clearing, receivables, active_receivable, finance, chain, core, supplier, financier
):
    credit_lines.setSupplierLimit(LINE, supplier, 2 * FACE, sender=financier)
    rid = active_receivable(amount=FACE)
    finance(rid)
    chain.pending_timestamp = receivables.summary(rid).dueDate
    clearing.repay(rid, sender=core)
    clearing.redeem(rid, sender=financier)
    assert sub_limit(credit_lines, supplier) == (2 * FACE, 0)
    assert credit_lines.creditLine(LINE).utilised == 0


def test_a_line_made_a_programme_after_a_drawing_still_releases_it(
    credit_lines, clearing, receivables, active_receivable, finance, chain, core, supplier, financier
):
    """DrawnBy.onProgramme: the drawing was not counted on the supplier's sub-limit, so
    its release must not uncount it (that would underflow the sub-limit's utilisation)."""
    rid = active_receivable(amount=FACE)
    finance(rid)
    credit_lines.setSupplierLimit(LINE, supplier, FACE // 2, sender=financier)
    assert sub_limit(credit_lines, supplier) == (FACE // 2, 0)
    chain.pending_timestamp = receivables.summary(rid).dueDate
    clearing.repay(rid, sender=core)
    tx = clearing.redeem(rid, sender=financier)
    log = only_log(tx, credit_lines.CreditLineReleased)
    assert (log.cause, log.amount, log.utilised) == (REPAID, FACE, 0)
    assert sub_limit(credit_lines, supplier) == (FACE // 2, 0)


def test_a_default_keeps_the_line_drawn_until_clearing_recovers_it(
    credit_lines, clearing, receivables, defaulted_financing, chain, core, financier
):
    rid, _ = defaulted_financing()
    assert credit_lines.creditLine(LINE).utilised == FACE
    chain.pending_timestamp = receivables.summary(rid).dueDate + 40 * DAY
    clearing.repay(rid, sender=core)
    tx = clearing.redeem(rid, sender=financier)
    log = only_log(tx, credit_lines.CreditLineReleased)
    assert (log.lineId, log.receivableId, log.cause, log.amount, log.utilised) == (
        LINE,
        rid,
        RECOVERED,
        FACE,
        0,
    )


def test_write_off_of_a_defaulted_receivable_releases_it(
    credit_lines, clearing, receivables, defaulted_financing, chain, core, financier
):
    rid, _ = defaulted_financing()
    tx = credit_lines.writeOff(rid, FACE, sender=financier)
    log = only_log(tx, credit_lines.CreditLineReleased)
    assert (log.lineId, log.receivableId, log.cause, log.amount, log.utilised) == (
        LINE,
        rid,
        WRITTEN_OFF,
        FACE,
        0,
    )
    assert (credit_lines.drawingOf(rid).amount, credit_lines.writtenOffOf(rid)) == (0, FACE)
    # A late payment after the write-off pays the financier, frees nothing twice, and
    # is recorded as a recovery of what was written off.
    chain.pending_timestamp = receivables.summary(rid).dueDate + 40 * DAY
    clearing.repay(rid, sender=core)
    tx = clearing.redeem(rid, sender=financier)
    log = only_log(tx, credit_lines.CreditLineReleased)
    assert (log.cause, log.amount, log.utilised) == (RECOVERED, 0, 0)
    recovered = only_log(tx, credit_lines.CreditLineRecovered)
    assert (recovered.recovered, recovered.writtenOff) == (FACE, FACE)
    assert credit_lines.creditLine(LINE).utilised == 0
    assert credit_lines.drawingOf(rid).lineId == 0


def test_write_off_of_part_frees_that_part_and_recovery_frees_exactly_the_rest(
    credit_lines, clearing, receivables, defaulted_financing, chain, core, financier
):
    rid, _ = defaulted_financing()
    first = credit_lines.writeOff(rid, 300_000_00, sender=financier)
    assert only_log(first, credit_lines.CreditLineReleased).utilised == FACE - 300_000_00
    second = credit_lines.writeOff(rid, 200_000_00, sender=financier)
    log = only_log(second, credit_lines.CreditLineReleased)
    assert (log.cause, log.amount, log.utilised) == (WRITTEN_OFF, 200_000_00, FACE - 500_000_00)
    assert credit_lines.drawingOf(rid).amount == FACE - 500_000_00
    assert credit_lines.writtenOffOf(rid) == 500_000_00
    chain.pending_timestamp = receivables.summary(rid).dueDate + 40 * DAY
    clearing.repay(rid, sender=core)
    tx = clearing.redeem(rid, sender=financier)
    log = only_log(tx, credit_lines.CreditLineReleased)
    assert (log.cause, log.amount, log.utilised) == (RECOVERED, FACE - 500_000_00, 0)
    recovered = only_log(tx, credit_lines.CreditLineRecovered)
    assert (recovered.recovered, recovered.writtenOff) == (FACE, 500_000_00)


def test_write_off_of_a_receivable_that_drew_nothing_is_refused(
    credit_lines, active_receivable, reverts, financier
):
    rid = active_receivable()
    with reverts(credit_lines.CreditLineNotDrawn, receivableId=rid):
        credit_lines.writeOff(rid, FACE, sender=financier)


def test_write_off_beyond_what_is_still_drawn_is_refused(
    credit_lines, defaulted_financing, reverts, financier
):
    rid, _ = defaulted_financing()
    with reverts(
        credit_lines.CreditLineWriteOffAmount, receivableId=rid, amount=FACE + 1, drawn=FACE
    ):
        credit_lines.writeOff(rid, FACE + 1, sender=financier)
    with reverts(credit_lines.CreditLineWriteOffAmount, receivableId=rid, amount=0, drawn=FACE):
        credit_lines.writeOff(rid, 0, sender=financier)
    credit_lines.writeOff(rid, FACE - 1, sender=financier)
    with reverts(credit_lines.CreditLineWriteOffAmount, receivableId=rid, amount=2, drawn=1):
        credit_lines.writeOff(rid, 2, sender=financier)


def test_write_off_twice_is_refused(credit_lines, defaulted_financing, reverts, financier):
    rid, _ = defaulted_financing()
    credit_lines.writeOff(rid, FACE, sender=financier)
    with reverts(credit_lines.CreditLineWriteOffAmount, receivableId=rid, amount=FACE, drawn=0):
        credit_lines.writeOff(rid, FACE, sender=financier)


def test_write_off_by_another_financier_is_refused(
    credit_lines, defaulted_financing, reverts, financier, financier2
):
    rid, _ = defaulted_financing()
    with reverts(
        credit_lines.CreditLineNotFinancier, lineId=LINE, account=financier2, financier=financier
    ):
        credit_lines.writeOff(rid, FACE, sender=financier2)


@pytest.mark.parametrize("standing", BAD_STANDINGS)
def test_write_off_by_a_financier_in_bad_standing_is_refused(
    credit_lines, defaulted_financing, deactivate, reverts, financier, standing
):
    rid, _ = defaulted_financing()
    error, arguments = deactivate(financier, standing)
    with reverts(error, **arguments):
        credit_lines.writeOff(rid, FACE, sender=financier)


def test_write_off_of_a_financed_receivable_not_in_default_is_refused(
    credit_lines, active_receivable, finance, reverts, financier
):
    rid = active_receivable()
    finance(rid)
    with reverts(credit_lines.CreditLineNotDefaulted, receivableId=rid):
        credit_lines.writeOff(rid, FACE, sender=financier)
