"""Seller tax ids recorded at onboarding: one per participant, one participant per tax id.

Mirrors ledger_app/db/api_tables.py (participant_tax_ids).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create participant_tax_ids and its unique index on the tax id."""
    op.create_table(
        "participant_tax_ids",
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("tax_id", sa.String(64), nullable=False),
        sa.Column("recorded_by", sa.String(42), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_participant_tax_ids_tax_id", "participant_tax_ids", ["tax_id"], unique=True)


def downgrade() -> None:
    """Drop participant_tax_ids."""
    op.drop_index("ix_participant_tax_ids_tax_id", table_name="participant_tax_ids")
    op.drop_table("participant_tax_ids")
