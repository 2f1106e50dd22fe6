"""Notifications (issue 23): the outbox, webhook subscriptions and their delivery log.

Mirrors ledger_app/db/notification_tables.py.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                     autoincrement=True)  # fmt: skip


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the three tables."""
    op.create_table(
        "notifications",
        _id(),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("audience", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("receivable_id", sa.BigInteger, nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        _when("created_at"),
    )
    op.create_index("ix_notifications_key", "notifications", ["key"], unique=True)
    op.create_index("ix_notifications_audience", "notifications", ["audience", "id"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("participant", sa.String(42), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("kinds", sa.Text, nullable=False),
        sa.Column("secret_nonce", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disabled_reason", sa.Text, nullable=True),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        _when("next_attempt_at", nullable=True),
        _when("lease_until", nullable=True),
        sa.Column("lease_holder", sa.String(64), nullable=True),
        _when("created_at"),
        _when("deleted_at", nullable=True),
    )
    op.create_index(
        "ix_webhook_subscriptions_participant", "webhook_subscriptions", ["participant"]
    )
    op.create_table(
        "webhook_deliveries",
        _id(),
        sa.Column("subscription_id", sa.String(32), nullable=False),
        sa.Column("notification_id", sa.BigInteger, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        _when("attempted_at"),
    )
    op.create_index(
        "ix_webhook_deliveries_subscription", "webhook_deliveries", ["subscription_id", "id"]
    )


def downgrade() -> None:
    """Drop them (undelivered notifications are lost). Those already gone are passed:
    SQLite's DDL does not roll back with a failed downgrade further down (0017's refusal),
    so this may be run twice."""
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for table in ("webhook_deliveries", "webhook_subscriptions", "notifications"):
        if table in present:
            op.drop_table(table)
