"""The risk score rule (ledger_app/domain/risk_score.py): bounded, deterministic, and never
lower for a better history in any one input."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from ledger_app.domain.risk_score import (
    DAY,
    RULE_VERSION,
    RootHistory,
    ScoreInputs,
    grade_of,
    inputs_at,
    score,
)

NOW = 1_900_000_000

rates = st.none() | st.integers(0, 10_000)
days = st.integers(0, 5_000)
counts = st.integers(0, 1_000)
shares = st.integers(0, 10_000)

inputs = st.builds(
    ScoreInputs,
    repaid_roots=counts,
    on_time_rate_bps=rates,
    worst_days_past_due=days,
    average_days_past_due=days,
    open_past_due_roots=counts,
    concentration_bps=shares,
    volume_recent=counts,
    volume_prior=counts,
    age_days=days,
)


@given(inputs)
def test_score_is_bounded_and_graded(given_inputs: ScoreInputs) -> None:
    result = score(given_inputs)

    assert 0 <= result.score <= 100
    assert result.grade == grade_of(result.score)
    assert result.rule_version == RULE_VERSION
    assert sum(i["points"] or 0 for i in result.inputs.values()) == result.score


@given(inputs)
def test_score_is_deterministic(given_inputs: ScoreInputs) -> None:
    assert score(given_inputs) == score(dataclasses.replace(given_inputs))


#: (input, worse-is-higher): raising a "worse" input never raises the score.
WORSE_WHEN_HIGHER = ("worst_days_past_due", "average_days_past_due", "open_past_due_roots",
                     "concentration_bps")  # fmt: skip
BETTER_WHEN_HIGHER = ("age_days", "volume_recent")


@given(inputs, st.sampled_from(WORSE_WHEN_HIGHER), st.integers(1, 5_000))
def test_score_never_rises_when_a_bad_input_worsens(
    given_inputs: ScoreInputs, name: str, more: int
) -> None:
    worse = dataclasses.replace(given_inputs, **{name: getattr(given_inputs, name) + more})

    assert score(worse).score <= score(given_inputs).score


@given(inputs, st.sampled_from(BETTER_WHEN_HIGHER), st.integers(1, 5_000))
def test_score_never_falls_when_a_good_input_improves(
    given_inputs: ScoreInputs, name: str, more: int
) -> None:
    better = dataclasses.replace(given_inputs, **{name: getattr(given_inputs, name) + more})

    assert score(better).score >= score(given_inputs).score


@given(inputs, st.integers(0, 10_000), st.integers(0, 10_000))
def test_score_never_falls_with_a_better_on_time_rate(
    given_inputs: ScoreInputs, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    at_low = dataclasses.replace(given_inputs, on_time_rate_bps=low)
    at_high = dataclasses.replace(given_inputs, on_time_rate_bps=high)

    assert score(at_high).score >= score(at_low).score


def test_spotless_long_history_scores_a_and_no_history_scores_neutral() -> None:
    spotless = ScoreInputs(repaid_roots=40, on_time_rate_bps=10_000, worst_days_past_due=0,
                           average_days_past_due=0, open_past_due_roots=0,
                           concentration_bps=2_500, volume_recent=10, volume_prior=10,
                           age_days=800)  # fmt: skip
    empty = inputs_at([], NOW)

    assert score(spotless).score == 100
    assert score(spotless).grade == "A"
    assert empty == ScoreInputs(0, None, 0, 0, 0, 0, 0, 0, 0)
    # unknown repayment record, no lateness, no concentration, no volume, no age
    assert score(empty).score == 15 + 15 + 10 + 20 + 10 + 2 + 0


def _root(rid: int, creditor: str, registered: int, due: int, repaid: int | None,
          amount: int = 100, voided: bool = False) -> RootHistory:  # fmt: skip
    return RootHistory(rid, creditor, amount, NOW + registered * DAY, NOW + due * DAY,
                       None if repaid is None else NOW + repaid * DAY, voided)  # fmt: skip


def test_inputs_at_a_block_time_count_only_what_had_happened() -> None:
    roots = [
        _root(1, "0xa", -400, -300, -300),  # on time
        _root(2, "0xa", -200, -100, -90),  # 10 days late
        _root(3, "0xb", -50, -5, None, amount=300),  # open, 5 days past due
        _root(4, "0xb", -10, 30, None),  # open, not due
        _root(5, "0xc", -10, 30, None, voided=True),  # rejected: counts nowhere
        _root(6, "0xc", 5, 60, None),  # registered after the block: not yet history
    ]

    found = inputs_at(roots, NOW)

    assert found.repaid_roots == 2
    assert found.on_time_rate_bps == 5_000
    assert found.worst_days_past_due == 10
    assert found.average_days_past_due == (0 + 10 + 5) // 3
    assert found.open_past_due_roots == 1
    assert found.concentration_bps == 10_000  # open roots all owed to 0xb
    assert (found.volume_recent, found.volume_prior) == (2, 0)
    assert found.age_days == 400


def test_inputs_before_a_repayment_see_the_root_unpaid() -> None:
    late = [_root(1, "0xa", -100, -20, -2)]  # paid 18 days late, 2 days ago

    before = inputs_at(late, NOW - 3 * DAY)
    after = inputs_at(late, NOW)

    assert (before.open_past_due_roots, before.repaid_roots) == (1, 0)
    assert (after.open_past_due_roots, after.repaid_roots) == (0, 1)
    assert after.worst_days_past_due == 18


def test_worked_example_of_docs_risk_md() -> None:
    roots = [
        _root(1, "0xs1", -200, -100, -100),  # on time
        _root(2, "0xs2", -150, -60, -60),  # on time
        _root(3, "0xs1", -80, -40, -28),  # 12 days late
        _root(4, "0xs1", -60, -2, None, amount=600),  # open, 2 days past due
        _root(5, "0xs2", -30, 50, None, amount=400),  # open, not due
    ]
    repaid_later = [*roots[:3], _root(4, "0xs1", -60, -2, 1, amount=600), roots[4]]

    example = score(inputs_at(roots, NOW))
    after = score(inputs_at(repaid_later, NOW + DAY))

    points = {name: given["points"] for name, given in example.inputs.items()}
    assert points == {"on_time_rate_bps": 8, "worst_days_past_due": 5,
                      "average_days_past_due": 7, "open_past_due_roots": 8,
                      "concentration_bps": 4, "volume_trend_pct": 5, "age_days": 4,
                      "repaid_roots": None, "volume_recent": None, "volume_prior": None}  # fmt: skip
    assert (example.score, example.grade) == (41, "D")
    assert (after.score, after.grade) == (49, "D")
