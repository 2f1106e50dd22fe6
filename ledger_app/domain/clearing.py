"""Maturity clearing's rules, checked by the API before the chain does.

The checks of a clearing's writes (repay a root, in its currency or through FX, and
redeem its leaves) anticipate MaturityClearing's own errors of the same names from what
the index shows (not a root, not the debtor, not due, repaid already, not repaid yet);
the contract checks them again. The statuses are the refusal table's
(ledger_app/api/errors.py).

``SETTLE_FROM`` mirrors ``_SETTLE_FROM`` (contracts/ReceivableLedgerEntryPoints.sol),
the statuses ``ReceivableRegistry.settle`` accepts: a leaf in one of them is unsettled
and MaturityClearing's ``redeem`` pays its holder; any other status (SETTLED, and those
a repaid root's leaf cannot be in) is not redeemed.
tests/domain/test_clearing_statuses.py checks the list against the contract's source.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger_app.domain.refusals import Refusal

#: Leaf statuses the registry settles (_SETTLE_FROM of ReceivableLedgerEntryPoints.sol), in enum order.
SETTLE_FROM = ("ACTIVE", "FINANCING", "FINANCED", "OVERDUE", "DEFAULTED")


def check_root(receivable_id: int, parent_id: int, root_id: int) -> None:
    """Clearing is of a root: a part of a split is not one (its root is named)."""
    if parent_id != 0:
        raise Refusal(
            "ClearingNotRoot",
            f"receivable {receivable_id} is a part of root {root_id}",
            field="root_id",
            root_id=root_id,
        )


def check_debtor(root_id: int, account: str, debtor: str) -> None:
    """Only the root's debtor repays it."""
    if account.lower() != debtor.lower():
        raise Refusal(
            "ClearingNotDebtor",
            f"only the debtor {debtor} repays root {root_id}",
            root_id=root_id,
            account=account,
            debtor=debtor,
        )


def check_due(root_id: int, due_date: int, now: int) -> None:
    """A root is repaid at or after its due date (``now``: the chain's clock)."""
    if now < due_date:
        raise Refusal(
            "ClearingNotDue",
            f"root {root_id} is due at {due_date}, not yet",
            root_id=root_id,
            due_date=due_date,
            now=now,
        )


def check_not_repaid(root_id: int, repaid: bool) -> None:
    """A root is repaid once."""
    if repaid:
        raise Refusal("ClearingAlreadyRepaid", f"root {root_id} is repaid already", root_id=root_id)


def check_repaid(root_id: int, repaid: bool) -> None:
    """Leaves are redeemed from a repaid root only."""
    if not repaid:
        raise Refusal("ClearingNotRepaid", f"root {root_id} is not repaid yet", root_id=root_id)


def check_fx_currency(root_id: int, owed: str, bought: str) -> None:
    """A repayment through FX buys the currency the root is owed in."""
    if bought != owed:
        raise Refusal(
            "ClearingFxCurrencyMismatch",
            f"root {root_id} is owed in {owed}; the quote buys {bought}",
            field="quote.buy_currency",
            root_id=root_id,
            expected=owed,
            quoted=bought,
        )


def check_leaves_to_redeem(root_id: int, leaves: Sequence[int]) -> None:
    """A redemption of a whole root needs an unsettled, unfrozen leaf to pay."""
    if not leaves:
        raise Refusal(
            "ClearingNothingToRedeem",
            f"root {root_id} has no unsettled leaf to redeem",
            root_id=root_id,
        )
