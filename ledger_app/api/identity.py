"""Who is calling: the participant behind an API key, with its on-chain roles and standing.

Roles and standing come from the participant's on-chain record as indexed
(``participants``): the chain is the truth, and the API checks it again in
front of the contracts. The operator account is not onboarded like the others;
its OPERATOR role alone makes it active.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from eth_utils import to_checksum_address
from sqlalchemy import Engine, select

from ledger_app.api.auth import verify_key
from ledger_app.api.permissions import READERS, Role
from ledger_app.api.recovery import pending_of
from ledger_app.api.schemas import utc
from ledger_app.db.schema import participants
from ledger_app.domain.standing import ACTIVE, caller_standing

__all__ = ["ACTIVE", "Caller", "authenticate"]
_ROLE_NAMES = frozenset(role.value for role in Role)


@dataclass(frozen=True)
class Caller:
    """An authenticated participant."""

    address: str  # checksummed
    api_key_id: str
    roles: frozenset[Role]
    standing: str  # ACTIVE, NOT_ONBOARDED, SUSPENDED, KYC_EXPIRED, FROZEN
    #: (id, completable_at) of a pending operator recovery of this participant's key:
    #: every answer to it says so (ledger_app/api/access.py), so that any of its keys can
    #: see the request in time to cancel it.
    pending_recovery: tuple[str, datetime] | None = None

    @property
    def reads_all(self) -> bool:
        """Auditors and regulators are parties to every object they may read."""
        return bool(self.roles & READERS)

    @property
    def key(self) -> str:
        """The address in the index's form (lower case)."""
        return self.address.lower()

    def is_(self, address: str | None) -> bool:
        """Whether ``address`` is the caller's."""
        return address is not None and address.lower() == self.key


def authenticate(engine: Engine, presented: str | None) -> Caller | None:
    """The caller a presented key belongs to, or None if the key is not a live one.

    One connection for the key, the participant and its pending recovery: this runs for
    every request, a burst's included, and each checkout is a trip through the pool."""
    if not presented:
        return None
    with engine.connect() as conn:
        record = verify_key(conn, presented)
        if record is None:
            return None
        row = conn.execute(
            select(participants).where(participants.c.account == record.participant.lower())
        ).first()
        pending = pending_of(conn, record.participant)
    roles = frozenset(
        Role(name)
        for name in (row.roles.split(",") if row and row.roles else [])
        if name in _ROLE_NAMES
    )
    return Caller(
        address=to_checksum_address(record.participant),
        api_key_id=record.id,
        roles=roles,
        standing=_standing(row, roles),
        pending_recovery=(pending.id, utc(pending.completable_at)) if pending else None,
    )


def _standing(row: object | None, roles: frozenset[Role]) -> str:
    if row is None:
        return caller_standing(onboarded=False, suspended=False, frozen=False,
                               kyc_expiry=None, roles=roles, now=time.time())  # fmt: skip
    return caller_standing(
        onboarded=row.onboarded,  # type: ignore[attr-defined]
        suspended=row.suspended,  # type: ignore[attr-defined]
        frozen=row.frozen,  # type: ignore[attr-defined]
        kyc_expiry=row.kyc_expiry,  # type: ignore[attr-defined]
        roles=roles,
        now=time.time(),
    )
