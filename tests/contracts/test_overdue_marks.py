"""The time-driven marks a keeper sends: who may send them, and what a paid root refuses."""

import ape
from conftest import DAY, TRIGGER_DAYS
from statuses import Status


def _past_due(active_receivable, receivables, chain, days=1):
    rid = active_receivable()
    chain.pending_timestamp = receivables.summary(rid).dueDate + days * DAY
    return rid


def test_mark_overdue_refuses_a_leaf_of_a_root_paid_into_clearing(
    active_receivable, receivables, clearing, cny, bank, core, auditor, chain
):
    rid = _past_due(active_receivable, receivables, chain)
    amount = receivables.summary(rid).amount
    cny.mint(core, amount, sender=bank)
    cny.approve(clearing, amount, sender=core)
    clearing.repay(rid, sender=core)

    with ape.reverts(receivables.ReceivableRootAlreadyRepaid, rootId=rid):
        receivables.markOverdue(rid, sender=auditor)


def test_mark_overdue_and_flag_overdue_accepted_from_the_operator(
    active_receivable, receivables, risk, operator, core, chain
):
    # The operator's service runs the keeper; the operator is no onboarded participant.
    rid = _past_due(active_receivable, receivables, chain, days=TRIGGER_DAYS + 1)

    receivables.markOverdue(rid, sender=operator)
    tx = risk.flagOverdue(rid, sender=operator)

    assert receivables.summary(rid).status == Status.OVERDUE
    assert risk.isRestricted(core)
    assert [e.event_name for e in tx.events] == ["RootOverdueFlagged"]


def test_flag_overdue_refused_from_an_account_never_onboarded(
    active_receivable, receivables, risk, participants, outsider, chain
):
    rid = _past_due(active_receivable, receivables, chain, days=TRIGGER_DAYS + 1)

    with ape.reverts(participants.RegistryUnknownParticipant, account=outsider.address):
        risk.flagOverdue(rid, sender=outsider)
