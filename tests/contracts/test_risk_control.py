"""RiskControl: issuance caps per (core, currency), the cap manager, the overdue trigger
and the registry's binding and hooks (recordIssued / recordVoided / recordRootRepaid).

The session's risk control (conftest `risk`) is bound to the registry with a trigger of
TRIGGER_DAYS. Every refusal is checked with its custom error and the values it carries.
"""

import uuid

import pytest
from conftest import CNY, DAY, ROLES, TRIGGER_DAYS, USD
from statuses import Status

FACE = 1_000_000_00
ZERO = "0x0000000000000000000000000000000000000000"
MAX_TRIGGER_DAYS = 3650


def only_log(tx, event):
    logs = tx.decode_logs(event)
    assert len(logs) == 1, f"expected one {event.name}, got {len(logs)}"
    return logs[0]


def payables(risk, core, currency=CNY) -> tuple[int, int, bool]:
    p = risk.payables(core, currency)
    return p.outstanding, p.cap, p.capped


def past_trigger(receivables, root, chain, offset: int = 0) -> int:
    """Sets the next block to the first second root may be flagged (+ offset)."""
    flaggable = receivables.summary(root).dueDate + TRIGGER_DAYS * DAY + 1
    chain.pending_timestamp = flaggable + offset
    return flaggable


def flagged_root(risk, receivables, active_receivable, chain, auditor, amount=FACE):
    """A confirmed root due tomorrow, flagged past the trigger: its debtor is restricted."""
    root = active_receivable(amount=amount, dueDate=chain.pending_timestamp + DAY)
    past_trigger(receivables, root, chain)
    risk.flagOverdue(root, sender=auditor)
    return root


# --- deployment and binding -----------------------------------------------------------------


def test_deployment_sets_and_emits_the_trigger(project, participants, receivables, operator, chain):
    contract = operator.deploy(project.RiskControl, participants, receivables, 45)
    assert contract.overdueTriggerDays() == 45
    log = only_log(chain.provider.get_receipt(contract.txn_hash), contract.OverdueTriggerSet)
    assert (log.triggerDays, log.actor) == (45, operator.address)


def test_deployment_with_a_trigger_above_the_maximum_is_refused(
    project, participants, receivables, operator, reverts
):
    with reverts(project.RiskControl.RiskInvalidTriggerDays, triggerDays=MAX_TRIGGER_DAYS + 1):
        operator.deploy(project.RiskControl, participants, receivables, MAX_TRIGGER_DAYS + 1)


@pytest.fixture
def unbound(project, participants, operator):
    """A fresh registry with no risk control bound, and a risk control for it."""
    registry = operator.deploy(project.ReceivableRegistry, participants)
    return registry, operator.deploy(project.RiskControl, participants, registry, TRIGGER_DAYS)


def test_bind_risk_control_binds_once_and_emits(unbound, operator):
    registry, control = unbound
    assert registry.riskControl() == ZERO
    tx = registry.bindRiskControl(control, sender=operator)
    log = only_log(tx, registry.ReceivableRiskControlBound)
    assert (log.riskControl, log.actor) == (control.address, operator.address)
    assert registry.riskControl() == control.address


def test_an_unbound_registry_refuses_registration(unbound, reverts, registration, core):
    registry, _ = unbound
    with reverts(registry.ReceivableRiskControlUnbound):
        registry.register(registration(), sender=core)
    with reverts(registry.ReceivableRiskControlUnbound):
        registry.registerBatch([registration(), registration()], sender=core)
    assert registry.lastId() == 0


def test_bind_risk_control_by_anyone_but_the_operator_is_refused(
    unbound, reverts, core, financier, regulator
):
    registry, control = unbound
    for account in (core, financier, regulator):
        with reverts(registry.ReceivableNotOperator, account=account):
            registry.bindRiskControl(control, sender=account)


def test_bind_risk_control_twice_is_refused(unbound, reverts, operator):
    registry, control = unbound
    registry.bindRiskControl(control, sender=operator)
    with reverts(registry.ReceivableRiskControlAlreadyBound, riskControl=control):
        registry.bindRiskControl(control, sender=operator)


def test_bind_risk_control_after_a_registration_is_refused(
    receivables, risk, register, reverts, operator, project, participants
):
    """The session registry has registered: a second binding is refused (nothing
    registers unbound, so a registry that has registered is bound)."""
    register()
    other = operator.deploy(project.RiskControl, participants, receivables, TRIGGER_DAYS)
    with reverts(receivables.ReceivableRiskControlAlreadyBound, riskControl=risk):
        receivables.bindRiskControl(other, sender=operator)
    assert receivables.riskControl() == risk.address


def test_bind_risk_control_to_an_account_that_is_not_a_contract_is_refused(
    unbound, reverts, operator, outsider
):
    registry, _ = unbound
    with reverts(registry.ReceivableRiskControlUnbound):
        registry.bindRiskControl(outsider, sender=operator)
    assert registry.riskControl() == ZERO


def test_record_hooks_are_refused_to_anyone_but_the_registry(risk, reverts, core, operator, desk):
    for account in (core, operator):
        with reverts(risk.RiskNotRegistry, account=account):
            risk.recordIssued(core, CNY, 1, sender=account)
        with reverts(risk.RiskNotRegistry, account=account):
            risk.recordVoided(core, CNY, 1, sender=account)
        with reverts(risk.RiskNotRegistry, account=account):
            risk.recordRootRepaid(1, core, CNY, 1, sender=account)


def test_record_hooks_are_refused_to_a_ledger_contract_too(risk, ledger, reverts, core):
    with reverts(risk.RiskNotRegistry, account=ledger):
        risk.recordIssued(core, CNY, 1, sender=ledger)


# --- payables: counted from the registry's hooks -------------------------------------------


def test_payables_follow_registration_void_and_repayment(
    risk, receivables, clearing, register, active_receivable, chain, core, supplier
):
    assert payables(risk, core) == (0, 0, False)
    pending = register(amount=FACE)
    assert payables(risk, core) == (FACE, 0, False)
    receivables.cancel(pending, sender=core)
    assert payables(risk, core) == (0, 0, False)
    rejected = register(amount=2 * FACE)
    receivables.reject(rejected, sender=supplier)
    assert payables(risk, core)[0] == 0
    root = active_receivable(amount=3 * FACE)
    register(amount=5, currency=USD)
    assert payables(risk, core)[0] == 3 * FACE
    assert payables(risk, core, USD)[0] == 5
    chain.pending_timestamp = receivables.summary(root).dueDate
    clearing.repay(root, sender=core)
    assert payables(risk, core)[0] == 0  # repaid into clearing, before any redemption
    assert payables(risk, core, USD)[0] == 5


# --- issuance caps --------------------------------------------------------------------------


def test_set_issuance_cap_by_the_operator_emits_and_caps(
    risk, register, reverts, operator, core
):
    register(amount=FACE)
    tx = risk.setIssuanceCap(core, CNY, 2 * FACE, sender=operator)
    log = only_log(tx, risk.IssuanceCapSet)
    assert (log.core, log.cap, log.actor) == (core.address, 2 * FACE, operator.address)
    assert payables(risk, core) == (FACE, 2 * FACE, True)
    register(amount=FACE)  # exactly to the cap
    with reverts(
        risk.RiskIssuanceCapExceeded,
        core=core,
        currency=CNY,
        cap=2 * FACE,
        outstanding=2 * FACE,
        requested=1,
    ):
        register(amount=1)
    register(amount=1, currency=USD)  # another currency: not capped


def test_a_cap_of_zero_stops_every_registration(risk, register, reverts, operator, core):
    risk.setIssuanceCap(core, CNY, 0, sender=operator)
    with reverts(risk.RiskIssuanceCapExceeded, cap=0, outstanding=0, requested=FACE):
        register(amount=FACE)


def test_a_cap_below_what_is_owed_stops_registration_until_enough_is_repaid(
    risk, receivables, clearing, register, active_receivable, reverts, chain, operator, core
):
    root = active_receivable(amount=2 * FACE)
    risk.setIssuanceCap(core, CNY, FACE, sender=operator)
    with reverts(risk.RiskIssuanceCapExceeded, cap=FACE, outstanding=2 * FACE, requested=FACE):
        register(amount=FACE)
    chain.pending_timestamp = receivables.summary(root).dueDate
    clearing.repay(root, sender=core)
    register(amount=FACE)
    assert payables(risk, core) == (FACE, FACE, True)


def test_a_batch_over_the_cap_is_refused_whole(
    risk, receivables, registration, reverts, operator, core
):
    risk.setIssuanceCap(core, CNY, 3 * FACE, sender=operator)
    last = receivables.lastId()
    with reverts(
        risk.RiskIssuanceCapExceeded, core=core, cap=3 * FACE, outstanding=0, requested=4 * FACE
    ):
        receivables.registerBatch([registration(amount=FACE) for _ in range(4)], sender=core)
    assert receivables.lastId() == last
    receivables.registerBatch([registration(amount=FACE) for _ in range(3)], sender=core)
    assert payables(risk, core)[0] == 3 * FACE


def test_a_batch_mixing_currencies_counts_each_against_its_own_cap(
    risk, receivables, registration, reverts, operator, core
):
    risk.setIssuanceCap(core, CNY, 2 * FACE, sender=operator)
    risk.setIssuanceCap(core, USD, 10, sender=operator)
    rows = [
        registration(amount=FACE),
        registration(amount=4, currency=USD),
        registration(amount=FACE),
        registration(amount=6, currency=USD),
    ]
    receivables.registerBatch(rows, sender=core)
    assert payables(risk, core) == (2 * FACE, 2 * FACE, True)
    assert payables(risk, core, USD) == (10, 10, True)
    # Both at their caps: one more unit of either is refused.
    for currency, cap in ((USD, 10), (CNY, 2 * FACE)):
        with reverts(
            risk.RiskIssuanceCapExceeded, currency=currency, cap=cap, outstanding=cap, requested=1
        ):
            receivables.registerBatch([registration(amount=1, currency=currency)], sender=core)


def test_a_mixed_batch_whose_later_run_crosses_the_cap_is_refused(
    risk, receivables, registration, reverts, operator, core
):
    risk.setIssuanceCap(core, CNY, 2 * FACE, sender=operator)
    rows = [
        registration(amount=FACE),
        registration(amount=1, currency=USD),
        registration(amount=FACE + 1),
    ]
    with reverts(
        risk.RiskIssuanceCapExceeded, currency=CNY, cap=2 * FACE, outstanding=FACE, requested=FACE + 1
    ):
        receivables.registerBatch(rows, sender=core)
    assert payables(risk, core)[0] == 0
    assert payables(risk, core, USD)[0] == 0


def test_the_named_cap_manager_sets_and_removes_caps(risk, reverts, operator, core, financier):
    tx = risk.setCapManager(core, financier, sender=operator)
    log = only_log(tx, risk.IssuanceCapManagerSet)
    assert (log.core, log.manager, log.actor) == (core.address, financier.address, operator.address)
    assert risk.capManager(core) == financier.address
    tx = risk.setIssuanceCap(core, USD, 7, sender=financier)
    log = only_log(tx, risk.IssuanceCapSet)
    assert (log.core, log.cap, log.actor) == (core.address, 7, financier.address)
    assert payables(risk, core, USD) == (0, 7, True)
    tx = risk.removeIssuanceCap(core, USD, sender=financier)
    log = only_log(tx, risk.IssuanceCapRemoved)
    assert (log.core, log.actor) == (core.address, financier.address)
    assert payables(risk, core, USD) == (0, 0, False)


def test_set_issuance_cap_by_someone_else_is_refused(
    risk, reverts, operator, core, financier, financier2, supplier
):
    for account in (financier, core, supplier):  # no manager named yet
        with reverts(risk.RiskNotCapSetter, core=core, account=account, manager=ZERO):
            risk.setIssuanceCap(core, CNY, FACE, sender=account)
    risk.setCapManager(core, financier, sender=operator)
    with reverts(risk.RiskNotCapSetter, core=core, account=financier2, manager=financier):
        risk.setIssuanceCap(core, CNY, FACE, sender=financier2)
    with reverts(risk.RiskNotCapSetter, core=core, account=financier2, manager=financier):
        risk.removeIssuanceCap(core, CNY, sender=financier2)


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
def test_a_cap_manager_in_bad_standing_is_refused(
    risk, deactivate, reverts, operator, core, financier, standing
):
    risk.setCapManager(core, financier, sender=operator)
    error, arguments = deactivate(financier, standing)
    with reverts(error, **arguments):
        risk.setIssuanceCap(core, CNY, FACE, sender=financier)


def test_a_manager_unnamed_again_may_no_longer_set_caps(risk, reverts, operator, core, financier):
    risk.setCapManager(core, financier, sender=operator)
    tx = risk.setCapManager(core, ZERO, sender=operator)
    assert only_log(tx, risk.IssuanceCapManagerSet).manager == ZERO
    with reverts(risk.RiskNotCapSetter, account=financier, manager=ZERO):
        risk.setIssuanceCap(core, CNY, FACE, sender=financier)


def test_set_issuance_cap_for_a_non_core_or_an_unlisted_currency_is_refused(
    risk, participants, reverts, operator, core, supplier
):
    with reverts(
        participants.RegistryMissingRole, account=supplier, role=ROLES["CORE_ENTERPRISE"]
    ):
        risk.setIssuanceCap(supplier, CNY, FACE, sender=operator)
    with reverts(risk.RiskCurrencyNotListed, currency=b"EUR"):
        risk.setIssuanceCap(core, b"EUR", FACE, sender=operator)
    with reverts(
        participants.RegistryMissingRole, account=supplier, role=ROLES["CORE_ENTERPRISE"]
    ):
        risk.removeIssuanceCap(supplier, CNY, sender=operator)


def test_remove_issuance_cap_when_none_is_set_is_refused(risk, reverts, operator, core):
    with reverts(risk.RiskCapNotSet, core=core, currency=CNY):
        risk.removeIssuanceCap(core, CNY, sender=operator)


def test_set_cap_manager_refusals(risk, participants, reverts, operator, core, financier, supplier):
    with reverts(risk.RiskNotOperator, account=financier):
        risk.setCapManager(core, financier, sender=financier)
    with reverts(
        participants.RegistryMissingRole, account=supplier, role=ROLES["CORE_ENTERPRISE"]
    ):
        risk.setCapManager(supplier, financier, sender=operator)
    with reverts(participants.RegistryMissingRole, account=supplier, role=ROLES["FINANCIER"]):
        risk.setCapManager(core, supplier, sender=operator)


# --- overdue trigger ------------------------------------------------------------------------


def test_set_overdue_trigger_by_the_operator_emits(risk, operator):
    tx = risk.setOverdueTrigger(MAX_TRIGGER_DAYS, sender=operator)
    log = only_log(tx, risk.OverdueTriggerSet)
    assert (log.triggerDays, log.actor) == (MAX_TRIGGER_DAYS, operator.address)
    assert risk.overdueTriggerDays() == MAX_TRIGGER_DAYS
    risk.setOverdueTrigger(0, sender=operator)
    assert risk.overdueTriggerDays() == 0


def test_set_overdue_trigger_refusals(risk, reverts, operator, regulator):
    with reverts(risk.RiskNotOperator, account=regulator):
        risk.setOverdueTrigger(10, sender=regulator)
    with reverts(risk.RiskInvalidTriggerDays, triggerDays=MAX_TRIGGER_DAYS + 1):
        risk.setOverdueTrigger(MAX_TRIGGER_DAYS + 1, sender=operator)


def test_flag_overdue_restricts_the_debtor_and_emits(
    risk, receivables, active_receivable, chain, core, auditor
):
    root = active_receivable(amount=FACE, dueDate=chain.pending_timestamp + DAY)
    due = receivables.summary(root).dueDate
    past_trigger(receivables, root, chain)
    tx = risk.flagOverdue(root, sender=auditor)
    log = only_log(tx, risk.RootOverdueFlagged)
    assert (log.rootId, log.debtor, log.dueDate, log.overdueRoots, log.actor) == (
        root,
        core.address,
        due,
        1,
        auditor.address,
    )
    assert risk.isFlagged(root)
    assert risk.isRestricted(core)
    assert risk.overdueRoots(core) == 1


def test_flag_overdue_one_second_too_early_is_refused(
    risk, receivables, active_receivable, reverts, chain, auditor
):
    root = active_receivable(dueDate=chain.pending_timestamp + DAY)
    flaggable = past_trigger(receivables, root, chain, offset=-1)
    with reverts(
        risk.RiskRootNotPastTrigger,
        rootId=root,
        flaggableFrom=flaggable,
        nowTimestamp=flaggable - 1,
    ):
        risk.flagOverdue(root, sender=auditor)
    chain.pending_timestamp = flaggable
    risk.flagOverdue(root, sender=auditor)


def test_flag_overdue_follows_the_trigger_set_since(
    risk, receivables, active_receivable, reverts, chain, operator, auditor
):
    root = active_receivable(dueDate=chain.pending_timestamp + DAY)
    risk.setOverdueTrigger(0, sender=operator)
    due = receivables.summary(root).dueDate
    chain.pending_timestamp = due
    with reverts(risk.RiskRootNotPastTrigger, flaggableFrom=due + 1, nowTimestamp=due):
        risk.flagOverdue(root, sender=auditor)
    chain.pending_timestamp = due + 1
    risk.flagOverdue(root, sender=auditor)


def test_flag_overdue_twice_is_refused(risk, receivables, active_receivable, reverts, chain, auditor):
    root = flagged_root(risk, receivables, active_receivable, chain, auditor)
    with reverts(risk.RiskRootAlreadyFlagged, rootId=root):
        risk.flagOverdue(root, sender=auditor)


def test_flag_overdue_of_a_child_is_refused(
    risk, receivables, active_receivable, reverts, chain, supplier, auditor
):
    root = active_receivable(amount=FACE, dueDate=chain.pending_timestamp + DAY)
    first = receivables.split(root, [FACE // 2, FACE // 2], sender=supplier).return_value
    past_trigger(receivables, root, chain)
    with reverts(risk.RiskNotRoot, id=first, rootId=root):
        risk.flagOverdue(first, sender=auditor)
    risk.flagOverdue(root, sender=auditor)  # a split root still owes: it may be flagged


def test_flag_overdue_of_an_unconfirmed_or_voided_root_is_refused(
    risk, receivables, register, reverts, chain, core, supplier, auditor
):
    due = chain.pending_timestamp + DAY
    pending = register(dueDate=due)
    cancelled = register(dueDate=due)
    receivables.cancel(cancelled, sender=core)
    rejected = register(dueDate=due)
    receivables.reject(rejected, sender=supplier)
    past_trigger(receivables, pending, chain)
    for root in (pending, cancelled, rejected):
        with reverts(risk.RiskRootNotOpen, rootId=root):
            risk.flagOverdue(root, sender=auditor)


def test_flag_overdue_of_a_repaid_root_is_refused(
    risk, receivables, clearing, active_receivable, reverts, chain, core, supplier, auditor
):
    root = active_receivable(dueDate=chain.pending_timestamp + DAY)
    chain.pending_timestamp = receivables.summary(root).dueDate
    clearing.repay(root, sender=core)
    past_trigger(receivables, root, chain)
    with reverts(risk.RiskRootNotOpen, rootId=root):  # repaid, not yet redeemed
        risk.flagOverdue(root, sender=auditor)
    clearing.redeem(root, sender=supplier)
    assert receivables.summary(root).status == Status.SETTLED
    with reverts(risk.RiskRootNotOpen, rootId=root):
        risk.flagOverdue(root, sender=auditor)


def test_flag_overdue_by_an_outsider_or_a_participant_in_bad_standing_is_refused(
    risk, participants, receivables, active_receivable, deactivate, reverts, chain, outsider,
    auditor,
):  # fmt: skip
    root = active_receivable(dueDate=chain.pending_timestamp + DAY)
    past_trigger(receivables, root, chain)
    with reverts(participants.RegistryUnknownParticipant, account=outsider):
        risk.flagOverdue(root, sender=outsider)
    error, arguments = deactivate(auditor, "suspended")
    with reverts(error, **arguments):
        risk.flagOverdue(root, sender=auditor)


def test_flag_overdue_of_an_unknown_receivable_is_refused(risk, receivables, reverts, auditor):
    with reverts(receivables.ReceivableUnknown, id=999):
        risk.flagOverdue(999, sender=auditor)


# --- the trigger at work --------------------------------------------------------------------


def test_a_restricted_core_cannot_register_singly_or_in_batch(
    risk, receivables, active_receivable, register, registration, reverts, chain, core, auditor
):
    flagged_root(risk, receivables, active_receivable, chain, auditor)
    with reverts(risk.RiskObligorRestricted, core=core, overdueRoots=1):
        register()
    with reverts(risk.RiskObligorRestricted, core=core, overdueRoots=1):
        receivables.registerBatch([registration(), registration(currency=USD)], sender=core)


def test_a_restricted_cores_receivables_cannot_be_requested(
    risk, desk, receivables, active_receivable, reverts, chain, core, supplier, financier, auditor
):
    rid = active_receivable(dueDate=chain.pending_timestamp + 300 * DAY)
    flagged_root(risk, receivables, active_receivable, chain, auditor)
    with reverts(risk.RiskObligorRestricted, core=core, overdueRoots=1):
        desk.request(rid, financier, sender=supplier)
    assert receivables.summary(rid).status == Status.ACTIVE


def test_repaying_the_flagged_root_cures_it_and_lifts_the_restriction(
    risk, receivables, clearing, active_receivable, register, chain, core, auditor
):
    root = flagged_root(risk, receivables, active_receivable, chain, auditor)
    tx = clearing.repay(root, sender=core)
    log = only_log(tx, risk.RootOverdueCured)
    assert (log.rootId, log.debtor, log.overdueRoots) == (root, core.address, 0)
    assert not risk.isFlagged(root)
    assert not risk.isRestricted(core)
    register()  # may issue again


def test_repaying_an_unflagged_root_cures_nothing(
    risk, receivables, clearing, active_receivable, chain, core
):
    root = active_receivable(dueDate=chain.pending_timestamp + DAY)
    chain.pending_timestamp = receivables.summary(root).dueDate
    tx = clearing.repay(root, sender=core)
    assert tx.decode_logs(risk.RootOverdueCured) == []


def test_a_core_is_unrestricted_only_once_every_flagged_root_is_repaid(
    risk, receivables, clearing, active_receivable, register, reverts, chain, core, auditor
):
    first = active_receivable(dueDate=chain.pending_timestamp + DAY)
    second = active_receivable(dueDate=chain.pending_timestamp + 2 * DAY)
    past_trigger(receivables, second, chain)
    risk.flagOverdue(first, sender=auditor)
    tx = risk.flagOverdue(second, sender=auditor)
    assert only_log(tx, risk.RootOverdueFlagged).overdueRoots == 2
    tx = clearing.repay(first, sender=core)
    assert only_log(tx, risk.RootOverdueCured).overdueRoots == 1
    assert risk.isRestricted(core)
    with reverts(risk.RiskObligorRestricted, core=core, overdueRoots=1):
        register()
    tx = clearing.repay(second, sender=core)
    assert only_log(tx, risk.RootOverdueCured).overdueRoots == 0
    assert not risk.isRestricted(core)
    register()


def test_repaying_a_flagged_root_via_fx_cures_it(
    risk, receivables, clearing, fx, active_receivable, usd_debtor, usd_quote, corridor_open,
    chain, core, auditor,
):  # fmt: skip
    root = flagged_root(risk, receivables, active_receivable, chain, auditor)
    quote, signature = usd_quote()
    tx = clearing.repayViaFx(
        root, fx, uuid.uuid4().bytes, tuple(quote.values()), signature, sender=core
    )
    log = only_log(tx, risk.RootOverdueCured)
    assert (log.rootId, log.debtor, log.overdueRoots) == (root, core.address, 0)
    assert not risk.isRestricted(core)
    assert payables(risk, core)[0] == 0


def test_require_unrestricted_view_names_the_count(
    risk, receivables, active_receivable, reverts, chain, core, auditor
):
    risk.requireUnrestricted(core)  # no flag: returns
    flagged_root(risk, receivables, active_receivable, chain, auditor)
    with reverts(risk.RiskObligorRestricted, core=core, overdueRoots=1):
        risk.requireUnrestricted(core)
