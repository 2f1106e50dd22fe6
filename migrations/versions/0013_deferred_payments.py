"""Deferred payments: what a ledger contract keeps for a payee it could not pay (a refund
to a financier not in good standing, an HTLC payment to a frozen party), and the history
of each deferral and claim.

Mirrors ledger_app/db/schema.py (section "deferred payments"). Amounts are NUMERIC(78,0)
on PostgreSQL and zero-padded VARCHAR(78) on SQLite, as in 0002. Nothing to fill: no
contract emitted PaymentDeferred or PaymentClaimed before this release.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")

#: (table, index name, columns), created after their tables and dropped before them.
INDEXES = (
    ("deferred_payments", "ix_deferred_payments_payee", ["payee"]),
    (
        "deferred_payment_history",
        "ix_deferred_payment_history_payee",
        ["payee", "contract", "token"],
    ),
)


def _address(name: str, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.String(42), **kwargs)


def upgrade() -> None:
    """Create the deferred payment read models."""
    op.create_table(
        "deferred_payments",
        _address("contract", nullable=False),
        _address("payee", nullable=False),
        _address("token", nullable=False),
        sa.Column("claimable", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("contract", "payee", "token"),
    )
    op.create_table(
        "deferred_payment_history",
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        _address("contract", nullable=False),
        _address("payee", nullable=False),
        _address("token", nullable=False),
        sa.Column("event_name", sa.String(64), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("claimable", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index"),
    )
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop the deferred payment read models."""
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    for table in ("deferred_payment_history", "deferred_payments"):
        op.drop_table(table)
