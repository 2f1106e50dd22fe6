"""Reads the services share: participants, currencies, standing (from the index), and who
is entitled to a document (from the API's tables)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, select, union

from ledger_app.db.api_tables import (
    document_grants,
    document_uploads,
    documents,
    participant_tax_ids,
)
from ledger_app.db.schema import participants, settlement_tokens
from ledger_app.domain.standing import ACTIVE, NOT_ONBOARDED, standing_of


def participant_row(engine: Engine, address: str) -> Any:
    """The indexed participant row of ``address`` (None if the index has none)."""
    with engine.connect() as conn:
        return conn.execute(
            select(participants).where(participants.c.account == address.lower())
        ).first()


def roles_of(row: Any) -> set[str]:
    """Role names of an indexed participant row."""
    return set(row.roles.split(",")) if row is not None and row.roles else set()


def standing(row: Any) -> str:
    """The standing of an indexed participant row now (ledger_app/domain/standing.py)."""
    if row is None:
        return NOT_ONBOARDED
    return standing_of(onboarded=row.onboarded, suspended=row.suspended, frozen=row.frozen,
                       kyc_expiry=row.kyc_expiry, roles=roles_of(row), now=time.time())  # fmt: skip


def is_active_with(row: Any, *roles: str) -> bool:
    """Whether the participant is ACTIVE (onboarded, not suspended/frozen, KYC valid)
    and holds one of ``roles``."""
    return standing(row) == ACTIVE and bool(roles_of(row) & set(roles))


def token_of(engine: Engine, currency: str) -> str | None:
    """Address of the settlement token listed for ``currency`` (None: not listed)."""
    with engine.connect() as conn:
        return conn.execute(
            select(settlement_tokens.c.address).where(settlement_tokens.c.currency == currency)
        ).scalar_one_or_none()


def document_entitled(conn: Connection, document_hashes: Iterable[str]) -> dict[str, set[str]]:
    """Commitment -> the participants entitled to that document (its uploaders and
    grantees; ledger_app/domain/documents.py), of each of ``document_hashes`` stored."""
    wanted = sorted({h.lower() for h in document_hashes})
    entitled: dict[str, set[str]] = {}
    for i in range(0, len(wanted), 500):  # well under SQLite's parameter limit
        chunk = wanted[i : i + 500]
        uploaders = select(documents.c.commitment, document_uploads.c.participant).join(
            document_uploads, document_uploads.c.sha256 == documents.c.sha256
        )
        grantees = select(documents.c.commitment, document_grants.c.grantee).join(
            document_grants, document_grants.c.sha256 == documents.c.sha256
        )
        query = union(
            uploaders.where(documents.c.commitment.in_(chunk)),
            grantees.where(documents.c.commitment.in_(chunk)),
        )
        for document_hash, participant in conn.execute(query):
            entitled.setdefault(document_hash, set()).add(participant)
    return entitled


def holder_of_lei(engine: Engine, lei: bytes) -> str | None:
    """The account the index shows onboarded with the bytes32 ``lei`` (None: none)."""
    with engine.connect() as conn:
        return conn.execute(
            select(participants.c.account).where(
                participants.c.lei == "0x" + lei.hex(), participants.c.onboarded.is_(True)
            )
        ).scalar()


def tax_ids_of(engine: Engine, accounts: set[str]) -> dict[str, str]:
    """Account (lower-case) -> the tax id recorded for it, of those ``accounts`` that have one."""
    wanted = sorted(a.lower() for a in accounts)
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for i in range(0, len(wanted), 500):  # well under SQLite's parameter limit
            rows = conn.execute(
                select(participant_tax_ids.c.account, participant_tax_ids.c.tax_id).where(
                    participant_tax_ids.c.account.in_(wanted[i : i + 500])
                )
            )
            found.update({account: tax_id for account, tax_id in rows})
    return found


def holder_of_tax_id(engine: Engine, tax_id: str) -> str | None:
    """The account a (normalised) tax id is recorded for (None: none)."""
    with engine.connect() as conn:
        return conn.execute(
            select(participant_tax_ids.c.account).where(participant_tax_ids.c.tax_id == tax_id)
        ).scalar()
