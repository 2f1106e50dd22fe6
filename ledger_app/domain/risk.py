"""The figures of obligor risk: headroom, utilisation in basis points, warning bands and
days left, all in integers (minor units, basis points, whole days of the chain's clock).

One place for each: the risk routes, the financing views' ``risk`` block and the
console's worklists all show these figures, computed here.
"""

from __future__ import annotations

DAY = 86_400
#: Utilisation bands an early warning names (percent of the limit), highest first.
WARNING_BANDS = (100, 90, 80)


def headroom(limit: int, utilised: int) -> int:
    """What is left under ``limit`` (0 when used up or over, as after a lowered cap)."""
    return max(0, limit - utilised)


def utilisation_bps(limit: int, utilised: int) -> int:
    """``utilised`` as basis points of ``limit`` (floor; a limit of 0 used at all: 10000+)."""
    if limit == 0:
        return 0 if utilised == 0 else 10_000
    return utilised * 10_000 // limit


def band(bps: int) -> int | None:
    """The highest warning band (100, 90, 80) ``bps`` reaches; None below 80 %."""
    return next((b for b in WARNING_BANDS if bps >= b * 100), None)


def days_left(moment: int, now: int) -> int:
    """Whole days from ``now`` to ``moment`` (negative once past; floor)."""
    return (moment - now) // DAY
