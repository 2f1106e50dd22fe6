"""Factoring arithmetic: the Python twin of contracts/FinancingDesk.sol.

Every amount is an integer number of minor units and every rate an integer number
of basis points; there are no floats anywhere, so a figure computed here is the
figure the contract computes, to the unit::

    advance  = floor(face x advanceRate / 10^4)
    discount = floor(face x advanceRate x discountRate x days / (10^4 x 10^4 x basis))
    proceeds = advance - discount - fee          (what the supplier receives)
    days     = floor((dueDate - now) / 86 400)   (whole days to maturity, at offer time)

The discount is one exact division of the whole product, not a chain of rounded
steps, exactly as `FinancingDesk.discount`; tests compare the two on thousands of
inputs. Where the contract would revert, these functions raise instead:

    ValueError
     └── FinancingTermsError      terms the desk refuses (FinancingInvalidTerms, ...)
          └── NoProceedsError     discount + fee >= advance (FinancingNoProceeds)
    OverflowError                 an intermediate product exceeds uint256 (panic 0x11)
"""

from __future__ import annotations

from typing import NamedTuple

BPS = 10_000
"""One hundred percent, in basis points."""

SECONDS_PER_DAY = 86_400

DAY_COUNT_BASES = (365, 360)
"""ACT/365 (the default) and ACT/360: the only bases the desk accepts in an offer."""

UINT128_MAX = 2**128 - 1
"""The largest face value or fee the contracts can store."""

UINT256_MAX = 2**256 - 1


class FinancingTermsError(ValueError):
    """Offer terms the FinancingDesk would refuse; `field` names the offending one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NoProceedsError(FinancingTermsError):
    """Discount plus fee swallow the whole advance: the supplier would receive nothing."""

    def __init__(self, advance: int, discount: int, fee: int) -> None:
        super().__init__(
            "fee",
            f"discount {discount} + fee {fee} >= advance {advance}: proceeds would not be positive",
        )
        self.advance = advance
        self.discount = discount
        self.fee = fee


class OfferAmounts(NamedTuple):
    """The three figures the desk records with an offer (event FinancingOffered)."""

    advance: int
    discount: int
    proceeds: int


def discount(
    face: int, advance_rate_bps: int, discount_rate_bps: int, days: int, basis: int = 365
) -> int:
    """The discount on an advance: floor(face x adv x disc x days / (10^4 x 10^4 x basis)).

    Equals `FinancingDesk.discount(face, adv, disc, days, basis)` for every input the
    contract answers. Like the contract it accepts any non-negative integers (the
    bounds of real offer terms are checked by `proceeds`).

    Raises:
        ValueError: an argument is not an int, is negative or exceeds uint256, or
            `basis` is 0 (the contract divides by zero).
        OverflowError: a product the contract forms exceeds uint256 (it reverts).
    """
    for name, value in (
        ("face", face),
        ("advance_rate_bps", advance_rate_bps),
        ("discount_rate_bps", discount_rate_bps),
        ("days", days),
        ("basis", basis),
    ):
        _require_uint(name, value, UINT256_MAX)
    if basis == 0:
        raise ValueError("basis: must be positive")
    # Solidity evaluates left to right with checked arithmetic, so each partial
    # product must fit, not only the whole one (0 days does not rescue an overflow).
    numerator = face
    for factor in (advance_rate_bps, discount_rate_bps, days):
        numerator = _checked_mul(numerator, factor)
    denominator = _checked_mul(BPS * BPS, basis)
    return numerator // denominator


def advance(face: int, advance_rate_bps: int) -> int:
    """The share of the face value a financier advances: floor(face x adv / 10^4).

    Raises:
        FinancingTermsError: `advance_rate_bps` outside 1..10 000 (the desk refuses it).
        ValueError: `face` is not an int in 0..2^128-1.
    """
    _require_uint("face", face, UINT128_MAX)
    _require_uint("advance_rate_bps", advance_rate_bps, UINT256_MAX)
    if not 1 <= advance_rate_bps <= BPS:
        raise FinancingTermsError(
            "advance_rate_bps", f"must be in 1..{BPS}, got {advance_rate_bps}"
        )
    return face * advance_rate_bps // BPS


def offer_amounts(
    face: int,
    advance_rate_bps: int,
    discount_rate_bps: int,
    days: int,
    fee: int,
    basis: int = 365,
) -> OfferAmounts:
    """Advance, discount and proceeds of an offer, exactly as the desk records them.

    Raises:
        FinancingTermsError: a term the desk refuses (advance rate, day-count basis).
        NoProceedsError: discount + fee >= advance.
        ValueError: an amount is not an int in its on-chain range.
    """
    if basis not in DAY_COUNT_BASES:
        raise FinancingTermsError("basis", f"must be one of {DAY_COUNT_BASES}, got {basis!r}")
    _require_uint("fee", fee, UINT128_MAX)
    advanced = advance(face, advance_rate_bps)
    discounted = discount(face, advance_rate_bps, discount_rate_bps, days, basis)
    if discounted + fee >= advanced:
        raise NoProceedsError(advanced, discounted, fee)
    return OfferAmounts(advanced, discounted, advanced - discounted - fee)


def proceeds(
    face: int,
    advance_rate_bps: int,
    discount_rate_bps: int,
    days: int,
    fee: int,
    basis: int = 365,
) -> int:
    """What the supplier receives on acceptance: advance - discount - fee, always > 0.

    Raises:
        NoProceedsError: discount + fee >= advance (the desk refuses such an offer).
        FinancingTermsError: another term the desk refuses.
        ValueError: an amount is not an int in its on-chain range.
    """
    return offer_amounts(face, advance_rate_bps, discount_rate_bps, days, fee, basis).proceeds


def days_to_maturity(due_ts: int, now_ts: int) -> int:
    """Whole days from `now_ts` to `due_ts` (unix seconds), rounded down, as at offer time.

    Raises:
        ValueError: the receivable is already due (`now_ts >= due_ts`): the desk takes
            no offer on it.
    """
    _require_uint("due_ts", due_ts, UINT256_MAX)
    _require_uint("now_ts", now_ts, UINT256_MAX)
    if now_ts >= due_ts:
        raise ValueError(f"due_ts: receivable due at {due_ts} is already due at {now_ts}")
    return (due_ts - now_ts) // SECONDS_PER_DAY


def _require_uint(name: str, value: object, maximum: int) -> None:
    # bool is an int subclass; True as a face value is a bug upstream, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name}: must be an int, got {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise ValueError(f"{name}: must be in 0..{maximum}, got {value}")


def _checked_mul(a: int, b: int) -> int:
    product = a * b
    if product > UINT256_MAX:
        raise OverflowError(f"{a} x {b} exceeds uint256: FinancingDesk.discount would revert")
    return product


# --- the status a financing is shown with ----------------------------------------------

#: Stored statuses the desk's ``financing`` view reports as REPAID once the financed
#: receivable is SETTLED (the indexer stores what the events said; repayment at maturity
#: emits no FinancingDesk event).
REPAID_ONCE_SETTLED = ("FUNDED", "DEFAULTED")


def shown_status(status: str, receivable_status: str) -> str:
    """A financing's status as the desk's view reports it: its stored ``status``, but
    REPAID for a FUNDED or DEFAULTED one whose receivable is SETTLED."""
    if status in REPAID_ONCE_SETTLED and receivable_status == "SETTLED":
        return "REPAID"
    return status


def stored_for(shown: str) -> tuple[tuple[str, ...], bool | None]:
    """What a filter on shown status ``shown`` asks of the stored rows: the stored
    statuses, and whether the receivable must be SETTLED (True), must not be (False),
    or either (None); the inverse of ``shown_status``."""
    if shown == "REPAID":
        return REPAID_ONCE_SETTLED, True
    if shown in REPAID_ONCE_SETTLED:
        return (shown,), False
    return (shown,), None
