"""Risk control's pure figures (ledger_app/domain/risk.py): headroom, utilisation in
basis points, warning bands, expiry at a chain timestamp, and who sees a line."""

from __future__ import annotations

import pytest

from ledger_app.domain import risk

FINANCIER, OBLIGOR, SUPPLIER = "0x" + "f1" * 20, "0x" + "c1" * 20, "0x" + "51" * 20


def test_headroom_is_what_is_left_and_never_negative():
    assert risk.headroom(1_000, 250) == 750
    assert risk.headroom(1_000, 1_000) == 0
    assert risk.headroom(500, 800) == 0  # a cap lowered under what is owed


def test_utilisation_bps_is_floored_integer_basis_points():
    assert risk.utilisation_bps(1, 3) == 3_333
    assert risk.utilisation_bps(2, 3) == 6_666  # floored, not rounded
    assert risk.utilisation_bps(3, 3) == 10_000
    assert risk.utilisation_bps(2**200, 2**200) == 10_000  # exact for uint256 figures
    assert risk.utilisation_bps(0, 0) == 0
    assert risk.utilisation_bps(5, 0) == risk.FULL_BPS  # a cap of 0 with anything owed
    with pytest.raises(ValueError, match="negative"):
        risk.utilisation_bps(-1, 10)


@pytest.mark.parametrize(
    ("bps", "band"),
    [(0, None), (7_999, None), (8_000, 80), (8_999, 80), (9_000, 90), (9_999, 90),
     (10_000, 100), (12_500, 100)],
)  # fmt: skip
def test_band_is_the_highest_warning_band_reached(bps, band):
    assert risk.band(bps) == band


def test_expiry_is_judged_as_the_contract_does_usable_through_the_expiry_second():
    assert risk.is_expired(1_000, 1_000) is False
    assert risk.is_expired(1_000, 1_001) is True


def test_expires_within_counts_whole_days_from_the_given_timestamp():
    at = 1_700_000_000
    assert risk.expires_within(at + 30 * risk.DAY, at, 30) is True
    assert risk.expires_within(at + 30 * risk.DAY + 1, at, 30) is False
    assert risk.expires_within(at - 1, at, 30) is False  # already expired: not "expiring"
    assert risk.days_left(at + 30 * risk.DAY - 1, at) == 29
    assert risk.days_left(at - 1, at) == -1
    with pytest.raises(ValueError, match="days"):
        risk.expires_within(at, at, -1)


def test_line_access_all_for_its_parties_own_sub_limit_for_a_named_supplier():
    assert risk.line_access(None, FINANCIER, OBLIGOR, []) == risk.LINE_ALL
    assert (
        risk.line_access(FINANCIER.upper().replace("0X", "0x"), FINANCIER, OBLIGOR, [])
        == risk.LINE_ALL
    )
    assert risk.line_access(OBLIGOR, FINANCIER, OBLIGOR, [SUPPLIER]) == risk.LINE_ALL
    assert risk.line_access(SUPPLIER, FINANCIER, OBLIGOR, [SUPPLIER]) == risk.LINE_OWN_SUB_LIMIT
    assert risk.line_access(SUPPLIER, FINANCIER, OBLIGOR, []) is None
