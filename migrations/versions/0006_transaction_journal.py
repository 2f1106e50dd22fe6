"""The write-ahead transaction journal: a write's signed bytes, nonce and block are kept
with its row, and the row is bound to the Idempotency-Key of the request that made it.

Mirrors ledger_app/db/api_tables.py (transactions.raw_transaction, nonce, block_hash,
transaction_index, idempotency_key and their indexes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the journal's columns to transactions, and the indexes recovery reads by."""
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(sa.Column("raw_transaction", sa.Text(), nullable=True))
        batch.add_column(sa.Column("nonce", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("block_hash", sa.String(66), nullable=True))
        batch.add_column(sa.Column("transaction_index", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("idempotency_key", sa.String(255), nullable=True))
    op.create_index("ix_transactions_status", "transactions", ["status"])
    op.create_index(
        "ix_transactions_idempotency", "transactions", ["participant", "idempotency_key"]
    )
    op.create_index("ix_transactions_block", "transactions", ["block_number"])


def downgrade() -> None:
    """Drop the journal's columns and indexes."""
    op.drop_index("ix_transactions_block", table_name="transactions")
    op.drop_index("ix_transactions_idempotency", table_name="transactions")
    op.drop_index("ix_transactions_status", table_name="transactions")
    with op.batch_alter_table("transactions") as batch:
        for column in (
            "idempotency_key", "transaction_index", "block_hash", "nonce", "raw_transaction"
        ):  # fmt: skip
            batch.drop_column(column)
