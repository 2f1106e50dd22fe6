"""Unit tests of the factoring arithmetic (ledger_app/domain/financing.py).

The on-chain twin is compared on random inputs in
tests/contracts/test_financing_properties.py; here the formula itself is pinned
down with hand-computed figures and every refusal.
"""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_app.domain.financing import (
    BPS,
    UINT128_MAX,
    UINT256_MAX,
    FinancingTermsError,
    NoProceedsError,
    OfferAmounts,
    advance,
    days_to_maturity,
    discount,
    offer_amounts,
    proceeds,
)

DAY = 86_400


def test_discount_hand_computed_act365():
    # 1,000,000.00 CNY, 80% advanced, 6% a year, 90 days, ACT/365:
    # 100_000_000 x 0.8 x 0.06 x 90 / 365 = 1_183_561.64... -> 1_183_561
    assert discount(100_000_000, 8_000, 600, 90) == 1_183_561


def test_discount_hand_computed_act360():
    # same terms on ACT/360: 100_000_000 x 0.8 x 0.06 x 90 / 360 = 1_200_000 exactly
    assert discount(100_000_000, 8_000, 600, 90, basis=360) == 1_200_000


def test_discount_rounds_down_once_not_per_step():
    # Rounding each factor would give 0 (1 x 1 / 10^4 -> 0); one exact division gives
    # floor(10^4 x 1 x 10^4 x 365 / (10^8 x 365)) = 1.
    assert discount(10_000, 1, 10_000, 365) == 1
    assert discount(10_000, 1, 10_000, 364) == 0


def test_discount_zero_when_any_factor_is_zero():
    assert discount(0, 8_000, 600, 90) == 0
    assert discount(100_000_000, 0, 600, 90) == 0
    assert discount(100_000_000, 8_000, 0, 90) == 0
    assert discount(100_000_000, 8_000, 600, 0) == 0


def test_discount_max_face_is_exact():
    expected = UINT128_MAX * BPS * 65_535 * 36_500 // (BPS * BPS * 365)
    assert discount(UINT128_MAX, BPS, 65_535, 36_500) == expected


@given(
    face=st.integers(0, UINT128_MAX),
    adv=st.integers(0, BPS),
    rate=st.integers(0, 2**16 - 1),
    days=st.integers(0, 2**48),
    basis=st.sampled_from([360, 365]),
)
def test_discount_equals_exact_rational_floor(face, adv, rate, days, basis):
    exact = Fraction(face) * Fraction(adv, BPS) * Fraction(rate, BPS) * Fraction(days, basis)
    assert discount(face, adv, rate, days, basis) == exact.numerator // exact.denominator


def test_discount_overflow_of_a_partial_product_raises_even_if_a_later_factor_is_zero():
    # Solidity multiplies left to right with checked arithmetic: face x adv overflows
    # before x 0 days could bring it back.
    with pytest.raises(OverflowError):
        discount(UINT256_MAX, 2, 1, 0)
    with pytest.raises(OverflowError):
        discount(2**200, 2**40, 2**16, 1)


@pytest.mark.parametrize(
    "args",
    [
        (-1, 8_000, 600, 90, 365),
        (100, -1, 600, 90, 365),
        (100, 8_000, 600, -5, 365),
        (100, 8_000, 600, 90, 0),
        (UINT256_MAX + 1, 1, 1, 1, 365),
        (100.0, 8_000, 600, 90, 365),
        (True, 8_000, 600, 90, 365),
        ("100", 8_000, 600, 90, 365),
    ],
)
def test_discount_rejects_values_the_contract_cannot_take(args):
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by argument
        discount(*args)


def test_advance_floors_share_of_face():
    assert advance(100_000_000, 8_000) == 80_000_000
    assert advance(99, 5_000) == 49
    assert advance(1, BPS) == 1
    assert advance(UINT128_MAX, BPS) == UINT128_MAX


@pytest.mark.parametrize("rate", [0, BPS + 1])
def test_advance_rejects_rate_outside_1_to_10000(rate):
    with pytest.raises(FinancingTermsError) as info:
        advance(100, rate)
    assert info.value.field == "advance_rate_bps"


def test_advance_rejects_face_above_uint128():
    with pytest.raises(ValueError, match="face"):
        advance(UINT128_MAX + 1, BPS)


def test_proceeds_is_advance_minus_discount_minus_fee():
    # 80_000_000 - 1_183_561 - 50_000
    assert proceeds(100_000_000, 8_000, 600, 90, 50_000) == 78_766_439
    assert offer_amounts(100_000_000, 8_000, 600, 90, 50_000) == OfferAmounts(
        80_000_000, 1_183_561, 78_766_439
    )


def test_proceeds_of_one_unit_is_allowed():
    # advance 80, discount 0, fee 79: one unit left for the supplier
    assert proceeds(100, 8_000, 600, 0, 79) == 1


def test_proceeds_zero_raises_no_proceeds():
    with pytest.raises(NoProceedsError) as info:
        proceeds(100, 8_000, 600, 0, 80)
    assert (info.value.advance, info.value.discount, info.value.fee) == (80, 0, 80)
    assert "proceeds would not be positive" in str(info.value)


def test_proceeds_negative_raises_no_proceeds():
    # discount larger than the advance: 100% a year for 400 days
    with pytest.raises(NoProceedsError):
        proceeds(1_000_000, BPS, BPS, 400, 0)


def test_proceeds_no_proceeds_error_is_a_value_error():
    with pytest.raises(ValueError, match="proceeds would not be positive"):
        proceeds(10, 1, 0, 0, 0)  # advance floors to 0


@pytest.mark.parametrize("basis", [0, 364, 366, 252])
def test_proceeds_rejects_day_count_basis_other_than_360_or_365(basis):
    with pytest.raises(FinancingTermsError) as info:
        proceeds(100_000_000, 8_000, 600, 90, 0, basis=basis)
    assert info.value.field == "basis"


def test_proceeds_rejects_negative_or_oversized_fee():
    with pytest.raises(ValueError, match="fee"):
        proceeds(100_000_000, 8_000, 600, 90, -1)
    with pytest.raises(ValueError, match="fee"):
        proceeds(100_000_000, 8_000, 600, 90, UINT128_MAX + 1)


def test_days_to_maturity_counts_whole_days_down():
    now = 1_700_000_000
    assert days_to_maturity(now + 90 * DAY, now) == 90
    assert days_to_maturity(now + 90 * DAY - 1, now) == 89
    assert days_to_maturity(now + DAY - 1, now) == 0
    assert days_to_maturity(now + 1, now) == 0


@pytest.mark.parametrize("offset", [0, -1, -DAY])
def test_days_to_maturity_refuses_a_due_receivable(offset):
    now = 1_700_000_000
    with pytest.raises(ValueError, match="already due"):
        days_to_maturity(now + offset, now)


def test_everything_is_int_never_float():
    results = [
        discount(123_456_789, 7_777, 333, 91, 360),
        advance(123_456_789, 7_777),
        proceeds(123_456_789, 7_777, 333, 91, 17),
        days_to_maturity(10 * DAY, 0),
        *offer_amounts(123_456_789, 7_777, 333, 91, 17),
    ]
    assert all(type(value) is int for value in results)
