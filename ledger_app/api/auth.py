"""API keys: issued per participant, stored as a hash, shown once, revocable and rotatable.

A key reads ``lk_<id>_<secret>``: ``id`` is public (it names the key in lists
and in the access log), ``secret`` is 256 random bits. Only sha256 of the
whole key is stored; a presented key is found by its id and compared by hash
in constant time. Nothing caches a verification, so a revocation holds from
the next request on, in every API process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, select, update

from ledger_app.db.api_tables import api_keys
from ledger_app.errors import Conflict, NotFound

KEY_PREFIX = "lk_"


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``key`` is the secret, returned to its owner once and never again."""

    id: str
    participant: str
    key: str
    label: str | None
    created_at: datetime


@dataclass(frozen=True)
class KeyRecord:
    """What is stored about a key (never the key)."""

    id: str
    participant: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    """sha256 hex of a presented key."""
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(conn: Connection, participant: str, label: str | None = None) -> IssuedKey:
    """Create and store (hashed) a new key for ``participant`` in ``conn``'s transaction."""
    key_id = secrets.token_hex(8)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    conn.execute(
        insert(api_keys).values(
            id=key_id,
            participant=participant.lower(),
            key_hash=hash_key(key),
            label=label,
            created_at=now,
        )
    )
    return IssuedKey(key_id, participant, key, label, now)


def presented_key_id(presented: str) -> str | None:
    """The id part of a presented key, unchecked (None if it is not shaped like a key)."""
    if not presented.startswith(KEY_PREFIX) or len(presented) > 128:
        return None
    key_id, _, secret = presented[len(KEY_PREFIX) :].partition("_")
    return key_id if key_id and secret else None


def verify_key(conn: Connection, presented: str) -> KeyRecord | None:
    """The live key ``presented`` is, or None (unknown, malformed, wrong secret, revoked)."""
    key_id = presented_key_id(presented)
    if key_id is None:
        return None
    row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    if row is None:
        hmac.compare_digest(hash_key(presented), "0" * 64)  # same work as a known id
        return None
    if not hmac.compare_digest(hash_key(presented), row.key_hash) or row.revoked_at is not None:
        return None
    return _record(row)


def list_keys(engine: Engine, participant: str) -> list[KeyRecord]:
    """Every key of ``participant``, newest first, revoked ones included."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(api_keys)
            .where(api_keys.c.participant == participant.lower())
            .order_by(api_keys.c.created_at.desc())
        ).all()
    return [_record(row) for row in rows]


def find_key(engine: Engine, key_id: str) -> KeyRecord:
    """The key with id ``key_id``; NotFound if there is none."""
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    if row is None:
        raise NotFound(f"no API key {key_id}", error="ApiKeyUnknown", id=key_id)
    return _record(row)


def revoke_key(engine: Engine, key_id: str) -> KeyRecord:
    """Revoke ``key_id`` (revoking a revoked key changes nothing)."""
    with engine.begin() as conn:
        conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return find_key(engine, key_id)


def rotate_key(engine: Engine, key_id: str) -> IssuedKey:
    """Issue a new key to the owner of ``key_id`` and revoke ``key_id``, in one transaction.

    Only a live key rotates: a revoked one is Conflict ``ApiKeyRevoked`` and nothing is
    issued (otherwise a key once revoked, say as compromised, could be turned back into a
    live one). The revocation is the transaction's first step, so that of two concurrent
    rotations of one key only one issues.
    """
    old = find_key(engine, key_id)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        revoked = conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if revoked.rowcount != 1:
            raise Conflict(
                f"API key {key_id} is revoked: only a live key can be rotated",
                error="ApiKeyRevoked",
                id=key_id,
            )
        return issue_key(conn, old.participant, old.label)


def revoke_all(conn: Connection, participant: str, at: datetime) -> list[str]:
    """Revoke every live key of ``participant`` in ``conn``'s transaction; their ids."""
    live = (
        conn.execute(
            select(api_keys.c.id).where(
                api_keys.c.participant == participant.lower(), api_keys.c.revoked_at.is_(None)
            )
        )
        .scalars()
        .all()
    )
    if live:
        conn.execute(update(api_keys).where(api_keys.c.id.in_(live)).values(revoked_at=at))
    return list(live)


def has_live_key(engine: Engine, participant: str) -> bool:
    """Whether ``participant`` has at least one key not revoked."""
    with engine.connect() as conn:
        row = conn.execute(
            select(api_keys.c.id).where(
                api_keys.c.participant == participant.lower(), api_keys.c.revoked_at.is_(None)
            )
        ).first()
    return row is not None


def _record(row: object) -> KeyRecord:
    return KeyRecord(
        id=row.id,  # type: ignore[attr-defined]
        participant=row.participant,  # type: ignore[attr-defined]
        label=row.label,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
    )


def first_operator_key(engine: Engine, operator: str) -> IssuedKey | None:
    """A key for the operator if it never had one (first start), else None.

    ``ledger-app run`` prints it once; after that only its hash exists.
    """
    with engine.begin() as conn:
        known = conn.execute(
            select(api_keys.c.id).where(api_keys.c.participant == operator.lower())
        ).first()
        if known is not None:
            return None
        return issue_key(conn, operator, "operator (first start)")
