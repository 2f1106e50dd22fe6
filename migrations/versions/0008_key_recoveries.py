"""Key recoveries: the operator's delayed, cancellable requests to recover a participant's
API key, and every step of each (requested, cancelled, completed) for the audit.

Mirrors ledger_app/db/api_tables.py (key_recoveries, key_recovery_events).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create key_recoveries and key_recovery_events with their indexes."""
    op.create_table(
        "key_recoveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("participant", sa.String(42), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(42), nullable=False),
        _when("requested_at"),
        _when("completable_at"),
        sa.Column("closed_by", sa.String(42), nullable=True),
        _when("closed_at", nullable=True),
        sa.Column("api_key_id", sa.String(32), nullable=True),
    )
    op.create_index(
        "ix_key_recoveries_participant", "key_recoveries", ["participant", "requested_at"]
    )
    op.create_index("ix_key_recoveries_status", "key_recoveries", ["status"])
    op.create_table(
        "key_recovery_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("recovery_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(42), nullable=False),
        sa.Column("api_key_id", sa.String(32), nullable=False),
        _when("at"),
    )
    op.create_index("ix_key_recovery_events_recovery", "key_recovery_events", ["recovery_id", "id"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index("ix_key_recovery_events_recovery", table_name="key_recovery_events")
    op.drop_table("key_recovery_events")
    op.drop_index("ix_key_recoveries_status", table_name="key_recoveries")
    op.drop_index("ix_key_recoveries_participant", table_name="key_recoveries")
    op.drop_table("key_recoveries")
