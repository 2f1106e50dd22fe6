"""Reads the services share: participants, currencies, standing (from the index), and who
is entitled to a document (from the API's tables)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, select, union

from ledger_app.db.api_tables import document_grants, document_uploads, documents
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


def document_entitled(conn: Connection, document_hashes: Iterable[str]) -> dict[str, set[str]]:
    """keccak256 -> the participants entitled to that document (its uploaders and
    grantees; ledger_app/domain/documents.py), of each of ``document_hashes`` stored."""
    wanted = sorted({h.lower() for h in document_hashes})
    entitled: dict[str, set[str]] = {}
    for i in range(0, len(wanted), 500):  # well under SQLite's parameter limit
        chunk = wanted[i : i + 500]
        uploaders = select(documents.c.keccak256, document_uploads.c.participant).join(
            document_uploads, document_uploads.c.sha256 == documents.c.sha256
        )
        grantees = select(documents.c.keccak256, document_grants.c.grantee).join(
            document_grants, document_grants.c.sha256 == documents.c.sha256
        )
        query = union(
            uploaders.where(documents.c.keccak256.in_(chunk)),
            grantees.where(documents.c.keccak256.in_(chunk)),
        )
        for document_hash, participant in conn.execute(query):
            entitled.setdefault(document_hash, set()).add(participant)
    return entitled
