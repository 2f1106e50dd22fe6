"""Key recovery: the operator's only way to a participant's API key, delayed and cancellable.

After onboarding, only a participant issues, rotates and revokes its own API keys. A
participant that lost every key is recovered by the operator, never at once::

    request (operator) ──> PENDING ──cancel (the participant, or the operator)──> CANCELLED
                              │
                              └─ complete (operator), not before ``completable_at`` ─> COMPLETED

``completable_at`` is fixed when the request is made (request time + the delay then in
force), so a later change of the delay moves no open request. A participant has at most
one request pending. Refusals raise ``KeyRecoveryRefused`` with the name the API answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ledger_app.domain.refusals import Refusal

PENDING = "PENDING"
CANCELLED = "CANCELLED"
COMPLETED = "COMPLETED"
STATUSES = (PENDING, CANCELLED, COMPLETED)

#: The steps recorded for the audit, one row each.
REQUESTED = "REQUESTED"
ACTIONS = (REQUESTED, CANCELLED, COMPLETED)


class KeyRecoveryRefused(Refusal):
    """A step the recovery's state does not allow; ``name`` is the API's error name."""


def completable_at(requested_at: datetime, delay_seconds: float) -> datetime:
    """The earliest moment a recovery requested at ``requested_at`` may complete."""
    return requested_at + timedelta(seconds=delay_seconds)


def check_request(pending: bool, of_operator: bool) -> None:
    """A new request: none may be pending already, and the operator recovers no key of its own
    (it manages those with its own key, or ``ledger-app operator-key`` on the host)."""
    if of_operator:
        raise KeyRecoveryRefused(
            "KeyRecoveryOfOperator",
            "the operator's own keys are not recovered: issue or rotate them with an operator "
            "key, or run `ledger-app operator-key` on the service's host",
        )
    if pending:
        raise KeyRecoveryRefused(
            "KeyRecoveryPending", "a key recovery of this participant is pending already"
        )


def check_cancel(status: str) -> None:
    """Only a pending recovery can be cancelled."""
    if status != PENDING:
        raise KeyRecoveryRefused("KeyRecoveryNotPending", f"the key recovery is {status}")


def check_complete(status: str, due: datetime, now: datetime) -> None:
    """Only a pending recovery, and not before ``due`` (its ``completable_at``)."""
    if status != PENDING:
        raise KeyRecoveryRefused("KeyRecoveryNotPending", f"the key recovery is {status}")
    if now < due:
        raise KeyRecoveryRefused(
            "KeyRecoveryNotDue",
            f"the key recovery can complete from {due.isoformat()} on: until then the "
            "participant's keys may cancel it",
        )
