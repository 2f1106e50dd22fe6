"""Recourse payments and buy-backs, sales of financed receivables, and partial write-offs
with their recovery (issue 20).

Mirrors ledger_app/db/schema.py: ``financings.recourse_paid`` and ``bought_back_block``;
``credit_line_drawings.written_off``, ``freed``, ``recovered`` and ``recovered_block``;
new tables ``recourse_payments``, ``financing_sales`` and ``credit_line_write_offs``.
Nothing to fill: the events that feed them are new. A write-off indexed before this
revision freed the whole face, as the contract then did: its drawing row is released
(WRITTEN_OFF) and stays so.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")

#: (table, index name, columns), created after their tables and dropped before them.
INDEXES = (
    ("financing_sales", "ix_financing_sales_financing", ["financing_id"]),
    ("financing_sales", "ix_financing_sales_buyer", ["buyer"]),
    ("credit_line_write_offs", "ix_credit_line_write_offs_line", ["line_id"]),
)


def _address(name: str, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.String(42), **kwargs)


def _block(name: str = "updated_block", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    """Add the columns and tables."""
    with op.batch_alter_table("financings") as batch:
        batch.add_column(sa.Column("recourse_paid", AMOUNT, nullable=False, server_default="0"))
        batch.add_column(_block("bought_back_block", nullable=True))
    with op.batch_alter_table("credit_line_drawings") as batch:
        batch.add_column(sa.Column("written_off", AMOUNT, nullable=False, server_default="0"))
        batch.add_column(sa.Column("freed", AMOUNT, nullable=False, server_default="0"))
        batch.add_column(sa.Column("recovered", AMOUNT, nullable=True))
        batch.add_column(_block("recovered_block", nullable=True))
    op.create_table(
        "recourse_payments",
        sa.Column("financing_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _block("block_number"),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        _address("supplier", nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("paid", AMOUNT, nullable=False),
        _block(),
        sa.PrimaryKeyConstraint("financing_id", "block_number", "log_index"),
    )
    op.create_table(
        "financing_sales",
        sa.Column("sale_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("financing_id", sa.BigInteger(), nullable=False),
        _address("seller", nullable=False),
        _address("buyer", nullable=False),
        sa.Column("price", AMOUNT, nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _block("offered_block"),
        _block("closed_block", nullable=True),
        _block(),
        sa.PrimaryKeyConstraint("sale_id"),
    )
    op.create_table(
        "credit_line_write_offs",
        sa.Column("receivable_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _block("block_number"),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        _block(),
        sa.PrimaryKeyConstraint("receivable_id", "block_number", "log_index"),
    )
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop them."""
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    for table in ("credit_line_write_offs", "financing_sales", "recourse_payments"):
        op.drop_table(table)
    with op.batch_alter_table("credit_line_drawings") as batch:
        for column in ("recovered_block", "recovered", "freed", "written_off"):
            batch.drop_column(column)
    with op.batch_alter_table("financings") as batch:
        for column in ("bought_back_block", "recourse_paid"):
            batch.drop_column(column)
