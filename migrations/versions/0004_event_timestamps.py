"""Events keep their block's timestamp: the audit trail needs every event's time, and
the ``blocks`` table only holds the reorg window.

Mirrors ledger_app/db/schema.py (events.block_timestamp).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add events.block_timestamp and its index (NULL for events indexed before)."""
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("block_timestamp", sa.BigInteger(), nullable=True))
    op.create_index("ix_events_block_timestamp", "events", ["block_timestamp"])


def downgrade() -> None:
    """Drop events.block_timestamp."""
    op.drop_index("ix_events_block_timestamp", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("block_timestamp")
