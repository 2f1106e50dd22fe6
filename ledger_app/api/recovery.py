"""Key recovery, stored: the operator's delayed and cancellable way to a participant's key.

The rules (states, delay, who may do what) are ledger_app/domain/key_recovery.py's; this
module keeps them in the API's database, like auth.py keeps the keys. Each step changes
the request's row and appends one ``key_recovery_events`` row (who, with which key, when)
in the same transaction, so the audit trail and the state never disagree. A completion
issues the participant a new key (returned once, stored only as a hash) and revokes every
other key it had: recovery replaces the participant's credentials.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from ledger_app.api import auth
from ledger_app.api.errors import refused
from ledger_app.api.schemas import utc
from ledger_app.db.api_tables import key_recoveries, key_recovery_events
from ledger_app.domain import key_recovery as rules
from ledger_app.errors import Conflict, NotFound


@dataclass(frozen=True)
class RecoveryEvent:
    """One step of a recovery, as the audit reads it."""

    action: str
    actor: str
    api_key_id: str
    at: datetime


@dataclass(frozen=True)
class Recovery:
    """A recovery request and its steps so far."""

    id: str
    participant: str
    reason: str
    status: str
    requested_by: str
    requested_at: datetime
    completable_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    api_key_id: str | None
    events: tuple[RecoveryEvent, ...]


@dataclass(frozen=True)
class Actor:
    """Who takes a step: the participant's address and the key it used."""

    address: str
    api_key_id: str


def request(engine: Engine, participant: str, reason: str, by: Actor, *, of_operator: bool,
            delay_seconds: float) -> Recovery:  # fmt: skip
    """Open a recovery of ``participant``'s key; KeyRecoveryPending if one is open already."""
    now = datetime.now(UTC)
    recovery_id = secrets.token_hex(8)
    with engine.begin() as conn:
        _refuse(rules.check_request, pending_of(conn, participant) is not None, of_operator)
        conn.execute(
            insert(key_recoveries).values(
                id=recovery_id,
                participant=participant.lower(),
                reason=reason,
                status=rules.PENDING,
                requested_by=by.address.lower(),
                requested_at=now,
                completable_at=rules.completable_at(now, delay_seconds),
            )
        )
        _record(conn, recovery_id, rules.REQUESTED, by, now)
    return find(engine, recovery_id)


def cancel(engine: Engine, recovery_id: str, by: Actor) -> Recovery:
    """Cancel a pending recovery (KeyRecoveryNotPending otherwise)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = _row(conn, recovery_id)
        _refuse(rules.check_cancel, row.status)
        _close(conn, recovery_id, rules.CANCELLED, by, now)
    return find(engine, recovery_id)


def complete(engine: Engine, recovery_id: str, by: Actor) -> tuple[Recovery, auth.IssuedKey]:
    """Complete a pending recovery whose delay is over: a new key for the participant (its
    other keys revoked), returned with the recovery."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = _row(conn, recovery_id)
        _refuse(rules.check_complete, row.status, utc(row.completable_at), now)
        auth.revoke_all(conn, row.participant, now)
        issued = auth.issue_key(conn, row.participant, f"recovered ({recovery_id})")
        _close(conn, recovery_id, rules.COMPLETED, by, now, api_key_id=issued.id)
    return find(engine, recovery_id), issued


def find(engine: Engine, recovery_id: str) -> Recovery:
    """The recovery ``recovery_id`` with its steps; NotFound if there is none."""
    with engine.connect() as conn:
        row = _row(conn, recovery_id)
        return _recovery(row, _events(conn, [recovery_id]))


def of_participant(
    engine: Engine, participant: str, *, pending_only: bool = False
) -> list[Recovery]:
    """The recoveries of ``participant``'s keys, newest first, each with its steps."""
    query = select(key_recoveries).where(key_recoveries.c.participant == participant.lower())
    if pending_only:
        query = query.where(key_recoveries.c.status == rules.PENDING)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(key_recoveries.c.requested_at.desc())).all()
        events = _events(conn, [row.id for row in rows])
    return [_recovery(row, events) for row in rows]


def pending_of(conn: Connection, participant: str) -> Any:
    """The pending recovery row of ``participant``, or None."""
    return conn.execute(
        select(key_recoveries).where(
            key_recoveries.c.participant == participant.lower(),
            key_recoveries.c.status == rules.PENDING,
        )
    ).first()


def _refuse(check: Any, *args: Any) -> None:
    try:
        check(*args)
    except rules.KeyRecoveryRefused as exc:
        raise refused(exc) from exc


def _row(conn: Connection, recovery_id: str) -> Any:
    row = conn.execute(select(key_recoveries).where(key_recoveries.c.id == recovery_id)).first()
    if row is None:
        raise NotFound(f"no key recovery {recovery_id}", error="KeyRecoveryUnknown",
                       id=recovery_id)  # fmt: skip
    return row


def _close(conn: Connection, recovery_id: str, status: str, by: Actor, at: datetime,
           api_key_id: str | None = None) -> None:  # fmt: skip
    # Only from PENDING: of two concurrent steps on one request, the second changes nothing
    # and is refused (its transaction, a key it may have issued included, rolls back).
    closed = conn.execute(
        update(key_recoveries)
        .where(key_recoveries.c.id == recovery_id, key_recoveries.c.status == rules.PENDING)
        .values(status=status, closed_by=by.address.lower(), closed_at=at, api_key_id=api_key_id)
    )
    if closed.rowcount != 1:
        raise Conflict("the key recovery is no longer pending", error="KeyRecoveryNotPending")
    _record(conn, recovery_id, status, by, at)


def _record(conn: Connection, recovery_id: str, action: str, by: Actor, at: datetime) -> None:
    conn.execute(
        insert(key_recovery_events).values(
            recovery_id=recovery_id,
            action=action,
            actor=by.address.lower(),
            api_key_id=by.api_key_id,
            at=at,
        )
    )


def _events(conn: Connection, ids: list[str]) -> dict[str, list[RecoveryEvent]]:
    found: dict[str, list[RecoveryEvent]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = conn.execute(
        select(key_recovery_events)
        .where(key_recovery_events.c.recovery_id.in_(ids))
        .order_by(key_recovery_events.c.id)
    ).all()
    for row in rows:
        found[row.recovery_id].append(
            RecoveryEvent(row.action, row.actor, row.api_key_id, utc(row.at))
        )
    return found


def _recovery(row: Any, events: dict[str, list[RecoveryEvent]]) -> Recovery:
    return Recovery(
        id=row.id,
        participant=row.participant,
        reason=row.reason,
        status=row.status,
        requested_by=row.requested_by,
        requested_at=utc(row.requested_at),
        completable_at=utc(row.completable_at),
        closed_by=row.closed_by,
        closed_at=utc(row.closed_at),
        api_key_id=row.api_key_id,
        events=tuple(events.get(row.id, ())),
    )
