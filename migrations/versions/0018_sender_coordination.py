"""Sending from several API replicas on one PostgreSQL database (issue 22).

``transactions.owner`` and ``idempotency_records.owner``: the process (its instance id,
ledger_app/db/locks.py ProcessIdentity) that made the row. Another replica settles a
QUEUED transaction, or answers a RUNNING Idempotency-Key, only once that process is gone
(its liveness lock released): until then it may still sign the one or answer the other.
NULL (rows from before this revision): made by a process that has stopped since.
``ix_transactions_sender_nonce``: the last nonce journaled for an account, read before
every send (Recovery.settle_account in ledger_app/api/services/journal.py);
``ix_idempotency_state``: the RUNNING keys replicas look at every second.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the owner columns and the (sender, nonce) index."""
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("owner", sa.String(32), nullable=True))
    with op.batch_alter_table("idempotency_records") as batch:
        batch.add_column(sa.Column("owner", sa.String(32), nullable=True))
    op.create_index("ix_transactions_sender_nonce", "transactions", ["participant", "nonce"])
    op.create_index("ix_idempotency_state", "idempotency_records", ["state"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_idempotency_state", table_name="idempotency_records")
    op.drop_index("ix_transactions_sender_nonce", table_name="transactions")
    with op.batch_alter_table("idempotency_records") as batch:
        batch.drop_column("owner")
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("owner")
