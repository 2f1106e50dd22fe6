"""Risk control's figures: headroom, utilisation, warning bands and expiry.

Pure integer arithmetic on what the index (or a contract's view) holds: the credit
lines' API, the early-warning worklists, exposure reports and issuance-cap views all
take their figures from here, so that the same line shows the same numbers everywhere.
Money is in integer minor units; utilisation in basis points (1 % = 100 bps), floored;
times are the chain's (block timestamps), passed in by the caller, never the clock.

A line is usable while the block's timestamp is at or before its expiry
(``CreditLines.consume`` refuses ``block.timestamp > expiry``): ``is_expired`` is the
same comparison.
"""

from __future__ import annotations

from collections.abc import Iterable

#: 100 % in basis points.
FULL_BPS = 10_000
#: Utilisation bands the early warning reports, in percent: over 80 %, 90 %, 100 % used.
WARNING_BANDS: tuple[int, ...] = (80, 90, 100)
#: Seconds in a day, as Solidity's ``1 days``.
DAY = 86_400
#: Leaf statuses the registry's markOverdue takes (``_OVERDUE_FROM``, ReceivableRegistry.sol).
OVERDUE_FROM = ("ACTIVE", "FINANCED")
#: Root statuses that still owe, which RiskControl.flagOverdue takes (``_OPEN_ROOT``,
#: RiskControl.sol): confirmed, neither settled nor ended. In enum order.
OPEN_ROOT = ("ACTIVE", "SPLIT", "FINANCING", "FINANCED", "OVERDUE", "DEFAULTED")


def headroom(limit: int, utilised: int) -> int:
    """What is left to draw: ``limit - utilised``, never below 0 (a cap lowered under
    what is owed leaves no room, not a negative one)."""
    return max(limit - utilised, 0)


def utilisation_bps(utilised: int, limit: int) -> int:
    """``utilised * 10000 // limit``, floored. A zero limit (a cap of 0) is fully used as
    soon as anything is owed under it: FULL_BPS, else 0."""
    if utilised < 0 or limit < 0:
        raise ValueError(f"negative figure: utilised {utilised}, limit {limit}")
    if limit == 0:
        return FULL_BPS if utilised else 0
    return utilised * FULL_BPS // limit


def band(bps: int) -> int | None:
    """The highest warning band (80, 90 or 100) a utilisation in bps has reached, or
    None below the lowest: 8000 bps is in band 80, 7999 in none."""
    reached = [b for b in WARNING_BANDS if bps >= b * FULL_BPS // 100]
    return reached[-1] if reached else None


def is_expired(expiry: int, at: int) -> bool:
    """Whether a line with ``expiry`` is expired at timestamp ``at`` (strictly after it)."""
    return at > expiry


def days_left(deadline: int, at: int) -> int:
    """Whole days from ``at`` to ``deadline`` (floored; negative once past it)."""
    return (deadline - at) // DAY


def expires_within(expiry: int, at: int, days: int) -> bool:
    """Whether a line not expired at ``at`` expires within ``days`` days of it
    (``expiry - at <= days * DAY``)."""
    if days < 0:
        raise ValueError(f"days must be 0 or more, not {days}")
    return not is_expired(expiry, at) and expiry - at <= days * DAY


#: What a viewer sees of a credit line (``line_access``).
LINE_ALL = "all"
LINE_OWN_SUB_LIMIT = "own_sub_limit"


def line_access(
    viewer: str | None, financier: str, obligor: str, named_suppliers: Iterable[str]
) -> str | None:
    """What ``viewer`` may see of a line: LINE_ALL for its financier and its obligor (and
    for a reader of everything, ``viewer`` None: AUDITOR, REGULATOR, OPERATOR, decided by
    the caller from the role); LINE_OWN_SUB_LIMIT for a supplier named on its programme
    (its own sub-limit and drawings only); None for anyone else."""
    if viewer is None:
        return LINE_ALL
    viewer = viewer.lower()
    if viewer in (financier.lower(), obligor.lower()):
        return LINE_ALL
    if viewer in {s.lower() for s in named_suppliers}:
        return LINE_OWN_SUB_LIMIT
    return None
