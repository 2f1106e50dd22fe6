"""Clearing arithmetic: early payment, partial repayment and late interest, the Python
twin of contracts/MaturityClearing(Base).sol.

Both figures are the financing discount (`financing.discount`) at a 100% advance, so
one formula, with one rounding, serves the desk, clearing and this service::

    early discount = floor(face x rate x daysEarly / (10^4 x basis))   basis 365 | 360
    daysEarly      = floor((dueDate - now) / 86 400)   (whole days left, at acceptance)
    late interest  = floor(amount x lateBps x daysLate / (10^4 x 365))  (ACT/365)
    daysLate       = floor((now - dueDate) / 86 400)   (0 until a whole day has passed)

A root paid late pays interest on what is still outstanding; its leaves receive it as
they are redeemed, pro rata to face: share = floor(left x face / faceLeft), and the last
leaf redeemed takes all that is left, so the shares sum exactly to the interest charged
(`interest_shares`). A leaf repaid on its own after the due date pays `late_interest`
on its own face.
"""

from __future__ import annotations

from typing import NamedTuple

from ledger_app.domain.financing import BPS, DAY_COUNT_BASES, SECONDS_PER_DAY, discount

MAX_LATE_INTEREST_BPS = 10_000
"""The highest annual late-interest rate a registration may set (ReceivableRegistry)."""

MAX_EARLY_PAYMENT_RATE_BPS = BPS
"""The highest annual discount rate an early payment offer may name."""

LATE_INTEREST_BASIS = 365


class EarlyPayment(NamedTuple):
    """What accepting an early payment offer pays its holder (EarlyPaymentAccepted)."""

    days_early: int
    discount: int
    paid: int


def early_payment_discount(face: int, rate_bps: int, days_early: int, basis: int = 365) -> int:
    """floor(face x rate x days / (10^4 x basis)): `MaturityClearing.earlyDiscount`."""
    return discount(face, BPS, rate_bps, days_early, basis)


def early_payment(
    face: int, rate_bps: int, due_ts: int, now_ts: int, basis: int = 365
) -> EarlyPayment:
    """The early payment of a leaf of `face` due at `due_ts`, accepted at `now_ts`.

    Raises:
        ValueError: the leaf is due already, the basis or rate is refused, or the
            discount swallows the face (the contract refuses each).
    """
    if basis not in DAY_COUNT_BASES:
        raise ValueError(f"dayCountBasis: must be one of {DAY_COUNT_BASES}, got {basis!r}")
    if not 0 <= rate_bps <= MAX_EARLY_PAYMENT_RATE_BPS:
        raise ValueError(f"annualRateBps: must be in 0..{MAX_EARLY_PAYMENT_RATE_BPS}")
    if now_ts >= due_ts:
        raise ValueError(f"due_ts: the leaf due at {due_ts} is already due at {now_ts}")
    days = (due_ts - now_ts) // SECONDS_PER_DAY
    cut = early_payment_discount(face, rate_bps, days, basis)
    if cut >= face:
        raise ValueError(f"annualRateBps: discount {cut} would swallow the face {face}")
    return EarlyPayment(days, cut, face - cut)


def days_late(due_ts: int, now_ts: int) -> int:
    """Whole days from `due_ts` to `now_ts`; 0 before the due date's first whole day."""
    return max(0, now_ts - due_ts) // SECONDS_PER_DAY


def late_interest(amount: int, late_interest_bps: int, days: int) -> int:
    """floor(amount x bps x days / (10^4 x 365)): `MaturityClearing.lateInterest`."""
    return discount(amount, BPS, late_interest_bps, days, LATE_INTEREST_BASIS)


def interest_shares(interest: int, faces: list[int]) -> list[int]:
    """Each leaf's share of a root's late interest, in the order the leaves are redeemed
    (`faces` are all the root's unsettled leaves): floor(left x face / faceLeft), the
    last taking what is left. They sum to `interest` exactly."""
    left, face_left, shares = interest, sum(faces), []
    for face in faces:
        share = left if face == face_left else left * face // face_left
        shares.append(share)
        left, face_left = left - share, face_left - face
    return shares
