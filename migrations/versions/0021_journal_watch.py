"""The journal's watch over a node that lost blocks (issue 16, found under fault tests).

``ix_transactions_updated``: each look at the chain (Recovery.lost_rows in
ledger_app/api/services/journal.py, once a second) compares the blocks of the journaled
rows written since the previous look, besides those above the head it saw then: a row
is written after its receipt is read, so it can name a block the node lost before.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the index."""
    op.create_index("ix_transactions_updated", "transactions", ["updated_at"])


def downgrade() -> None:
    """Drop it (if there: SQLite's DDL does not roll back with a failed downgrade further
    down, 0017's refusal, so this may be run twice)."""
    op.drop_index("ix_transactions_updated", table_name="transactions", if_exists=True)
