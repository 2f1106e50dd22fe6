"""The notifications' tables: the outbox, webhook subscriptions and their delivery log.

On the same metadata as the others; migrations/versions/0020_notifications.py creates
them and must be kept equal to this file (tests/db checks). Not among the index's tables
(schema.INDEX_TABLES): a rebuild of the index keeps the outbox, and the outbox's keys
keep a rebuilt index from announcing anything twice.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, String, Table, Text
from sqlmodel import SQLModel

metadata = SQLModel.metadata


def _when(name: str, *, nullable: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


#: The outbox: one row per notification and audience, written in the transaction that
#: commits what it announces; its id orders deliveries and is the stream's event id.
notifications = Table(
    "notifications",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("kind", String(48), nullable=False),
    # A participant's address (lower case) or ``role:<ROLE>``.
    Column("audience", String(64), nullable=False),
    # Announced once per key: (chain, tx, log index, kind, audience) for an event's.
    Column("key", String(200), nullable=False),
    Column("receivable_id", BigInteger, nullable=True),
    Column("payload", Text, nullable=False),  # canonical JSON
    _when("created_at"),
    Index("ix_notifications_key", "key", unique=True),
    Index("ix_notifications_audience", "audience", "id"),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("participant", String(42), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("kinds", Text, nullable=False),  # comma-separated
    # The signing secret is derived (HMAC of the service's webhook key over id and this
    # nonce), never stored: rotation draws a new nonce.
    Column("secret_nonce", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # ACTIVE, DISABLED
    Column("disabled_reason", Text, nullable=True),
    # The last notification id delivered (or skipped as not its own): the next one after
    # it is the head, tried until delivered (per-subscription order).
    Column("cursor", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),  # on the head, so far
    Column("consecutive_failures", Integer, nullable=False, default=0),
    _when("next_attempt_at", nullable=True),
    # A replica delivering it holds it until then (several API replicas share the outbox).
    _when("lease_until", nullable=True),
    Column("lease_holder", String(64), nullable=True),
    _when("created_at"),
    _when("deleted_at", nullable=True),
    Index("ix_webhook_subscriptions_participant", "participant"),
)

#: Every attempt, successful or not: the delivery log a participant reads.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("subscription_id", String(32), nullable=False),
    Column("notification_id", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    _when("attempted_at"),
    Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
)
