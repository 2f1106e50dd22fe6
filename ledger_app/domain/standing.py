"""A participant's standing: whether it may change ledger state now, and if not, why.

The twin of ``ParticipantRegistry._standing`` (contracts/ParticipantRegistry.sol), in
the same order of precedence: a ledger contract (LEDGER role) is always ACTIVE; else
not onboarded, suspended, KYC expired (expiry before ``now``), frozen, in that order.
``now`` is the caller's clock in unix seconds; the contract's is ``block.timestamp``.
"""

from __future__ import annotations

from collections.abc import Collection

from ledger_app.domain.vocabulary import STANDING

ACTIVE, NOT_ONBOARDED, SUSPENDED, KYC_EXPIRED, FROZEN = STANDING


def standing_of(
    *,
    onboarded: bool,
    suspended: bool,
    frozen: bool,
    kyc_expiry: int | None,
    roles: Collection[str],
    now: float,
) -> str:
    """The standing name of a participant with these facts at ``now``."""
    if "LEDGER" in roles:
        return ACTIVE
    if not onboarded:
        return NOT_ONBOARDED
    if suspended:
        return SUSPENDED
    if (kyc_expiry or 0) < now:
        return KYC_EXPIRED
    if frozen:
        return FROZEN
    return ACTIVE


def caller_standing(
    *,
    onboarded: bool,
    suspended: bool,
    frozen: bool,
    kyc_expiry: int | None,
    roles: Collection[str],
    now: float,
) -> str:
    """The standing the API checks before a caller acts: ``standing_of``, but the
    operator acts by its OPERATOR role alone (the contracts check it with ``onlyRole``,
    not ``requireActor``), onboarded or not."""
    if "OPERATOR" in roles:
        return ACTIVE
    return standing_of(
        onboarded=onboarded,
        suspended=suspended,
        frozen=frozen,
        kyc_expiry=kyc_expiry,
        roles=roles,
        now=now,
    )
