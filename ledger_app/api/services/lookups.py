"""Reads of the index the services share: participants, currencies, standing."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, select

from ledger_app.indexer.schema import participants, settlement_tokens


def participant_row(engine: Engine, address: str) -> Any:
    """The indexed participant row of ``address`` (None if the index has none)."""
    with engine.connect() as conn:
        return conn.execute(
            select(participants).where(participants.c.account == address.lower())
        ).first()


def roles_of(row: Any) -> set[str]:
    """Role names of an indexed participant row."""
    return set(row.roles.split(",")) if row is not None and row.roles else set()


def is_active_with(row: Any, *roles: str) -> bool:
    """Whether the participant is active (onboarded, not suspended/frozen, KYC valid)
    and holds one of ``roles``."""
    return (
        row is not None
        and row.onboarded
        and not row.suspended
        and not row.frozen
        and (row.kyc_expiry or 0) >= time.time()
        and bool(roles_of(row) & set(roles))
    )


def token_of(engine: Engine, currency: str) -> str | None:
    """Address of the settlement token listed for ``currency`` (None: not listed)."""
    with engine.connect() as conn:
        return conn.execute(
            select(settlement_tokens.c.address).where(settlement_tokens.c.currency == currency)
        ).scalar_one_or_none()
