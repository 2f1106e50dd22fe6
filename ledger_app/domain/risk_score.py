"""A core enterprise's risk score: a documented, deterministic rule over its ledger history.

No model and no weights fitted to data: each input is a figure the index holds (every
root the core registered, when it fell due, when it was paid into clearing, whom it
owes), judged at one block's timestamp (the chain's clock, never the server's). Each
input gives integer points by the table below; the score is their sum (0..100) and the
grade its band. Better history never scores lower: the points of every input are
monotonic in it (tests/domain/test_risk_score.py holds the rule to that).

========================  ==========================================  ======
input                     points                                      max
========================  ==========================================  ======
on_time_rate_bps          of its repaid roots, the share paid less     30
                          than a day past the due date: >= 9500: 30;
                          >= 8500: 22; >= 7000: 15; >= 5000: 8;
                          below: 0. No root repaid yet: 15 (unknown)
worst_days_past_due       the most days any root was (or is) past      15
                          due unpaid: 0: 15; <= 7: 10; <= 30: 5;
                          more: 0
average_days_past_due     days past due averaged over its due roots    10
                          (floor): 0: 10; <= 3: 7; <= 10: 4; more: 0
open_past_due_roots       roots past due and unpaid now: 0: 20;        20
                          1: 8; more: 0
concentration_bps         the largest supplier's share of what it      10
                          owes (open roots, else all it registered):
                          <= 3000: 10; <= 5000: 7; <= 8000: 4;
                          more: 0
volume_trend_pct          roots registered in the last 90 days as a     5
                          percentage of the 90 before: >= 80: 5;
                          >= 50: 3; below: 0. None before: 5 if any
                          now, 2 if none either
age_days                  days since its first registration:           10
                          >= 730: 10; >= 365: 7; >= 180: 4; >= 90: 2;
                          less: 0
========================  ==========================================  ======

Grades: A >= 85, B >= 70, C >= 55, D >= 40, E below. A root is "due" once the block
time is past its due date; its days past due are whole days from the due date to its
repayment (or to the block time while unpaid), 0 when paid on time. Cancelled or
rejected roots owe nothing and count nowhere. ``RULE_VERSION`` changes whenever a
threshold or a point value does, so that a score is always quoted with its rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

RULE_VERSION = "2026-12.1"
DAY = 86_400
#: The window of the volume trend: the last WINDOW_DAYS against the WINDOW_DAYS before.
WINDOW_DAYS = 90

#: (grade, lowest score) from the best.
GRADES: tuple[tuple[str, int], ...] = (("A", 85), ("B", 70), ("C", 55), ("D", 40), ("E", 0))


@dataclass(frozen=True)
class RootHistory:
    """What the index shows of one root a core registered (times: unix seconds)."""

    root_id: int
    creditor: str
    amount: int
    registered_at: int
    due_date: int
    repaid_at: int | None  # when it was paid into clearing; None while unpaid
    voided: bool = False  # rejected or cancelled: owes nothing


@dataclass(frozen=True)
class ScoreInputs:
    """The figures the score is computed from, all integers (None: no history to judge)."""

    repaid_roots: int
    on_time_rate_bps: int | None
    worst_days_past_due: int
    average_days_past_due: int
    open_past_due_roots: int
    concentration_bps: int
    volume_recent: int
    volume_prior: int
    age_days: int

    @property
    def volume_trend_pct(self) -> int | None:
        """Registrations of the last window as a percentage of the window before."""
        return None if self.volume_prior == 0 else self.volume_recent * 100 // self.volume_prior


@dataclass(frozen=True)
class Score:
    """A score, its grade, and each input with the points it gave."""

    score: int
    grade: str
    rule_version: str
    inputs: dict[str, dict[str, int | None]]


def _days_past_due(root: RootHistory, as_of: int) -> int:
    paid_or_now = root.repaid_at if root.repaid_at is not None else as_of
    return max(0, paid_or_now - root.due_date) // DAY


def inputs_at(roots: Iterable[RootHistory], as_of: int) -> ScoreInputs:
    """The score's inputs from a core's roots, judged at block time ``as_of``. Roots
    registered after ``as_of`` and repayments after it are not yet history."""
    known = [r for r in roots if r.registered_at <= as_of and not r.voided]
    history = [r if r.repaid_at is None or r.repaid_at <= as_of else _unpaid(r) for r in known]
    repaid = [r for r in history if r.repaid_at is not None]
    # Clearing takes a repayment from the due date on: on time is within that first day.
    on_time = sum(1 for r in repaid if _days_past_due(r, as_of) == 0)
    due = [r for r in history if r.due_date < as_of or r.repaid_at is not None]
    late = [_days_past_due(r, as_of) for r in due]
    open_past_due = sum(1 for r in history if r.repaid_at is None and r.due_date < as_of)
    open_roots = [r for r in history if r.repaid_at is None]
    owed = _by_creditor(open_roots or history)
    total = sum(owed.values())
    window = WINDOW_DAYS * DAY
    return ScoreInputs(
        repaid_roots=len(repaid),
        on_time_rate_bps=on_time * 10_000 // len(repaid) if repaid else None,
        worst_days_past_due=max(late, default=0),
        average_days_past_due=sum(late) // len(late) if late else 0,
        open_past_due_roots=open_past_due,
        concentration_bps=max(owed.values()) * 10_000 // total if total else 0,
        volume_recent=sum(1 for r in history if as_of - window < r.registered_at),
        volume_prior=sum(
            1 for r in history if as_of - 2 * window < r.registered_at <= as_of - window
        ),
        age_days=(as_of - min(r.registered_at for r in history)) // DAY if history else 0,
    )


def _unpaid(root: RootHistory) -> RootHistory:
    return RootHistory(root.root_id, root.creditor, root.amount, root.registered_at,
                       root.due_date, None, root.voided)  # fmt: skip


def _by_creditor(roots: Sequence[RootHistory]) -> dict[str, int]:
    owed: dict[str, int] = defaultdict(int)
    for r in roots:
        owed[r.creditor.lower()] += r.amount
    return owed


# --- the points of each input (the module docstring's table) -----------------------------


def _band(value: int, bands: Sequence[tuple[int, int]], below: int) -> int:
    """The points of the first (threshold, points) band with value >= threshold."""
    return next((points for threshold, points in bands if value >= threshold), below)


def _at_most(value: int, bands: Sequence[tuple[int, int]], above: int) -> int:
    """The points of the first (ceiling, points) band with value <= ceiling."""
    return next((points for ceiling, points in bands if value <= ceiling), above)


def on_time_points(rate_bps: int | None) -> int:
    """Up to 30: the share of repaid roots paid by their due date (None: none repaid)."""
    if rate_bps is None:
        return 15
    return _band(rate_bps, ((9_500, 30), (8_500, 22), (7_000, 15), (5_000, 8)), 0)


def worst_late_points(days: int) -> int:
    """Up to 15: the most days a root was past due."""
    return _at_most(days, ((0, 15), (7, 10), (30, 5)), 0)


def average_late_points(days: int) -> int:
    """Up to 10: the average days past due of its due roots."""
    return _at_most(days, ((0, 10), (3, 7), (10, 4)), 0)


def open_past_due_points(count: int) -> int:
    """Up to 20: roots past due and unpaid now."""
    return _at_most(count, ((0, 20), (1, 8)), 0)


def concentration_points(share_bps: int) -> int:
    """Up to 10: the largest supplier's share of its payables."""
    return _at_most(share_bps, ((3_000, 10), (5_000, 7), (8_000, 4)), 0)


def volume_points(recent: int, prior: int) -> int:
    """Up to 5: registrations of the last 90 days against the 90 before."""
    if prior == 0:
        return 5 if recent else 2
    return _band(recent * 100 // prior, ((80, 5), (50, 3)), 0)


def age_points(days: int) -> int:
    """Up to 10: days since its first registration."""
    return _band(days, ((730, 10), (365, 7), (180, 4), (90, 2)), 0)


def grade_of(score: int) -> str:
    """The grade of a score (A best)."""
    return next(grade for grade, lowest in GRADES if score >= lowest)


def score(inputs: ScoreInputs) -> Score:
    """The score of ``inputs``: each input's points, their sum, its grade."""
    points = {
        "on_time_rate_bps": on_time_points(inputs.on_time_rate_bps),
        "worst_days_past_due": worst_late_points(inputs.worst_days_past_due),
        "average_days_past_due": average_late_points(inputs.average_days_past_due),
        "open_past_due_roots": open_past_due_points(inputs.open_past_due_roots),
        "concentration_bps": concentration_points(inputs.concentration_bps),
        "volume_trend_pct": volume_points(inputs.volume_recent, inputs.volume_prior),
        "age_days": age_points(inputs.age_days),
    }
    values = asdict(inputs) | {"volume_trend_pct": inputs.volume_trend_pct}
    shown: dict[str, dict[str, int | None]] = {
        name: {"value": values[name], "points": given} for name, given in points.items()
    }
    shown["repaid_roots"] = {"value": inputs.repaid_roots, "points": None}
    shown["volume_recent"] = {"value": inputs.volume_recent, "points": None}
    shown["volume_prior"] = {"value": inputs.volume_prior, "points": None}
    total = sum(points.values())
    return Score(score=total, grade=grade_of(total), rule_version=RULE_VERSION, inputs=shown)
