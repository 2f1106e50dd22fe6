"""Early payments, partial repayments and late interest (issue 20, part B): each root's
late-interest rate (inherited by its leaves), early payment offers, one payment row per
leaf paid (early, partly or at redemption, with discount and interest), and each root's
late interest in clearing.

Mirrors ledger_app/db/schema.py. Amounts are NUMERIC(78,0) on PostgreSQL and zero-padded
VARCHAR(78) on SQLite, as in 0002. The new columns default to 0: every receivable
registered before had no late interest, and no root was charged any.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
#: What an AMOUNT column holds for 0 on each dialect (SQLite's is zero-padded text).
ZERO = "0" * 78

INDEXES = (
    ("early_payment_offers", "ix_early_payment_offers_leaf", ["leaf_id"]),
    ("early_payment_offers", "ix_early_payment_offers_debtor", ["debtor"]),
    ("leaf_payments", "ix_leaf_payments_root", ["root_id"]),
)


def _address(name: str, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.String(42), **kwargs)


def _zero() -> sa.TextClause:
    return sa.text("0") if op.get_bind().dialect.name != "sqlite" else sa.text(f"'{ZERO}'")


def upgrade() -> None:
    """Add the late-interest columns and the early payment and leaf payment tables."""
    with op.batch_alter_table("receivables") as batch:
        batch.add_column(
            sa.Column("late_interest_bps", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("clearing_roots") as batch:
        batch.add_column(sa.Column("late_interest", AMOUNT, nullable=False, server_default=_zero()))
        batch.add_column(
            sa.Column("interest_unredeemed", AMOUNT, nullable=False, server_default=_zero())
        )
        batch.add_column(sa.Column("days_late", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "early_payment_offers",
        sa.Column("offer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("leaf_id", sa.BigInteger(), nullable=False),
        _address("debtor", nullable=False),
        sa.Column("annual_rate_bps", sa.Integer(), nullable=False),
        sa.Column("day_count_basis", sa.Integer(), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _address("holder", nullable=True),
        sa.Column("days_early", sa.Integer(), nullable=True),
        sa.Column("discount", AMOUNT, nullable=True),
        sa.Column("paid", AMOUNT, nullable=True),
        sa.Column("offered_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("offer_id"),
    )
    op.create_table(
        "leaf_payments",
        sa.Column("leaf_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _address("holder", nullable=False),
        sa.Column("face", AMOUNT, nullable=False),
        sa.Column("discount", AMOUNT, nullable=False),
        sa.Column("interest", AMOUNT, nullable=False),
        sa.Column("paid", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_id"),
    )
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop them again."""
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("leaf_payments")
    op.drop_table("early_payment_offers")
    with op.batch_alter_table("clearing_roots") as batch:
        for column in ("days_late", "interest_unredeemed", "late_interest"):
            batch.drop_column(column)
    with op.batch_alter_table("receivables") as batch:
        batch.drop_column("late_interest_bps")
