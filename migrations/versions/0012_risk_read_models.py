"""Risk control read models: credit lines, their sub-limits, drawings and history, core
payables with their caps, cap managers, the overdue trigger and overdue flags.

Mirrors ledger_app/db/schema.py (section "risk control"). Amounts are NUMERIC(78,0) on
PostgreSQL and zero-padded VARCHAR(78) on SQLite, as in 0002. Nothing to fill: the
contracts these tables follow (CreditLines, RiskControl) are new, so no event already
indexed feeds them, and no stored event names a party under the new PARTY_EVENTS entries.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")

#: (table, index name, columns), created after their tables and dropped before them.
INDEXES = (
    ("credit_lines", "ix_credit_lines_financier", ["financier"]),
    ("credit_lines", "ix_credit_lines_obligor", ["obligor"]),
    ("credit_line_suppliers", "ix_credit_line_suppliers_supplier", ["supplier"]),
    ("credit_line_drawings", "ix_credit_line_drawings_line", ["line_id"]),
    ("overdue_flags", "ix_overdue_flags_debtor", ["debtor"]),
)


def _address(name: str, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.String(42), **kwargs)


def _block(name: str = "updated_block", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    """Create the risk control read models."""
    op.create_table(
        "credit_lines",
        sa.Column("line_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _address("financier", nullable=False),
        _address("obligor", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("limit", AMOUNT, nullable=False),
        sa.Column("utilised", AMOUNT, nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("programme", sa.Boolean(), nullable=False),
        _block("granted_block"),
        _block(),
        sa.PrimaryKeyConstraint("line_id"),
    )
    op.create_table(
        "credit_line_suppliers",
        sa.Column("line_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _address("supplier", nullable=False),
        sa.Column("limit", AMOUNT, nullable=False),
        sa.Column("utilised", AMOUNT, nullable=False),
        _block(),
        sa.PrimaryKeyConstraint("line_id", "supplier"),
    )
    op.create_table(
        "credit_line_drawings",
        sa.Column("receivable_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=False),
        sa.Column("financing_id", sa.BigInteger(), nullable=False),
        _address("supplier", nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("programme", sa.Boolean(), nullable=False),
        _block("drawn_block"),
        _block("released_block", nullable=True),
        sa.Column("release_cause", sa.String(16), nullable=True),
        _block(),
        sa.PrimaryKeyConstraint("receivable_id"),
    )
    op.create_table(
        "credit_line_history",
        sa.Column("line_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_name", sa.String(64), nullable=False),
        sa.Column("limit", AMOUNT, nullable=False),
        sa.Column("utilised", AMOUNT, nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("programme", sa.Boolean(), nullable=False),
        _block(),
        sa.PrimaryKeyConstraint("line_id", "block_number", "log_index"),
    )
    op.create_table(
        "core_payables",
        _address("core", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("outstanding", AMOUNT, nullable=False),
        sa.Column("cap", AMOUNT, nullable=False),
        sa.Column("capped", sa.Boolean(), nullable=False),
        _block(),
        sa.PrimaryKeyConstraint("core", "currency"),
    )
    op.create_table(
        "cap_managers",
        _address("core", nullable=False),
        _address("manager", nullable=True),
        _block(),
        sa.PrimaryKeyConstraint("core"),
    )
    op.create_table(
        "risk_settings",
        _address("contract", nullable=False),
        sa.Column("overdue_trigger_days", sa.Integer(), nullable=False),
        _block(),
        sa.PrimaryKeyConstraint("contract"),
    )
    op.create_table(
        "overdue_flags",
        sa.Column("root_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _address("debtor", nullable=False),
        sa.Column("due_date", sa.BigInteger(), nullable=False),
        _address("flagged_by", nullable=False),
        _block("flagged_block"),
        _block("cured_block", nullable=True),
        _block(),
        sa.PrimaryKeyConstraint("root_id"),
    )
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    """Drop the risk control read models."""
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    for table in (
        "overdue_flags", "risk_settings", "cap_managers", "core_payables",
        "credit_line_history", "credit_line_drawings", "credit_line_suppliers", "credit_lines",
    ):  # fmt: skip
        op.drop_table(table)
