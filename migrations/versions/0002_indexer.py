"""Indexer tables: raw events, blocks, checkpoint, undo log and the read models.

Mirrors ledger_app/db/schema.py. Amounts are NUMERIC(78,0) on PostgreSQL;
on SQLite, VARCHAR(78) holding zero-padded digits, because SQLite turns an
integer beyond 64 bits into a REAL even in a NUMERIC column.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AMOUNT = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")

TABLES = (
    "events", "blocks", "checkpoint", "undo_log", "participants", "settlement_tokens",
    "receivables", "financings", "financing_offers", "clearing_roots", "token_balances",
    "fx_quotes", "pvp_settlements", "htlc_locks",
)  # fmt: skip


def upgrade() -> None:
    """Create the indexer's tables and the indexes of the trace and list queries."""
    op.create_table(
        "events",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tx_hash", sa.String(66), primary_key=True),
        sa.Column("log_index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("contract", sa.String(42), nullable=False),
        sa.Column("contract_kind", sa.String(64), nullable=False),
        sa.Column("event_name", sa.String(64), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
    )
    op.create_index("ix_events_block", "events", ["block_number", "log_index"])
    op.create_index("ix_events_contract_event", "events", ["contract", "event_name"])
    op.create_index("ix_events_event_name", "events", ["event_name"])
    op.create_index("ix_events_tx_hash", "events", ["tx_hash"])
    op.create_table(
        "blocks",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("number", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("parent_hash", sa.String(66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "checkpoint",
        sa.Column("chain_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("undo_floor", sa.BigInteger(), nullable=False),
        sa.Column("events_total", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "undo_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("row_key", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
    )
    op.create_index("ix_undo_log_block", "undo_log", ["block_number"])
    op.create_table(
        "participants",
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("lei", sa.String(66), nullable=True),
        sa.Column("jurisdiction", sa.String(2), nullable=True),
        sa.Column("kyc_expiry", sa.BigInteger(), nullable=True),
        sa.Column("onboarded", sa.Boolean(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "settlement_tokens",
        sa.Column("address", sa.String(42), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=True, unique=True),
        sa.Column("total_supply", AMOUNT, nullable=False),
        sa.Column("listed_block", sa.BigInteger(), nullable=True),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "receivables",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=False),
        sa.Column("root_id", sa.BigInteger(), nullable=False),
        sa.Column("debtor", sa.String(42), nullable=False),
        sa.Column("creditor", sa.String(42), nullable=False),
        sa.Column("holder", sa.String(42), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issue_date", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.BigInteger(), nullable=False),
        sa.Column("invoice_key", sa.String(66), nullable=False),
        sa.Column("document_hash", sa.String(66), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("first_child_id", sa.BigInteger(), nullable=False),
        sa.Column("child_count", sa.Integer(), nullable=False),
        sa.Column("outstanding", AMOUNT, nullable=True),
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_receivables_debtor", "receivables", ["debtor"])
    op.create_index("ix_receivables_due_date", "receivables", ["due_date"])
    op.create_index("ix_receivables_holder", "receivables", ["holder"])
    op.create_index("ix_receivables_root", "receivables", ["root_id"])
    op.create_index("ix_receivables_status", "receivables", ["status"])
    op.create_table(
        "financings",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("receivable_id", sa.BigInteger(), nullable=False),
        sa.Column("supplier", sa.String(42), nullable=False),
        sa.Column("financier", sa.String(42), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("offer_count", sa.Integer(), nullable=False),
        sa.Column("open_offers", sa.Integer(), nullable=False),
        sa.Column("accepted_offer", sa.Integer(), nullable=False),
        sa.Column("recourse", sa.Boolean(), nullable=True),
        sa.Column("recourse_claim", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_financings_receivable", "financings", ["receivable_id"])
    op.create_index("ix_financings_supplier", "financings", ["supplier"])
    op.create_table(
        "financing_offers",
        sa.Column("financing_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("offer_index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("financier", sa.String(42), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("advance_rate_bps", sa.Integer(), nullable=False),
        sa.Column("discount_rate_bps", sa.Integer(), nullable=False),
        sa.Column("day_count_basis", sa.Integer(), nullable=False),
        sa.Column("recourse", sa.Boolean(), nullable=False),
        sa.Column("grace_period", sa.BigInteger(), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("fee", AMOUNT, nullable=False),
        sa.Column("advance", AMOUNT, nullable=False),
        sa.Column("discount", AMOUNT, nullable=False),
        sa.Column("proceeds", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_financing_offers_financier", "financing_offers", ["financier"])
    op.create_table(
        "clearing_roots",
        sa.Column("root_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("debtor", sa.String(42), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("repaid", AMOUNT, nullable=False),
        sa.Column("unredeemed", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "token_balances",
        sa.Column("token", sa.String(42), primary_key=True),
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("balance", AMOUNT, nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_token_balances_account", "token_balances", ["account"])
    op.create_table(
        "fx_quotes",
        sa.Column("quote_id", sa.String(66), primary_key=True),
        sa.Column("provider", sa.String(42), nullable=True),
        sa.Column("sell_currency", sa.String(3), nullable=True),
        sa.Column("buy_currency", sa.String(3), nullable=True),
        sa.Column("rate", AMOUNT, nullable=True),
        sa.Column("issued_at", sa.BigInteger(), nullable=True),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.Column("payer", sa.String(42), nullable=True),
        sa.Column("posted", sa.Boolean(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "pvp_settlements",
        sa.Column("uetr", sa.String(34), primary_key=True),
        sa.Column("payer", sa.String(42), nullable=False),
        sa.Column("payee", sa.String(42), nullable=False),
        sa.Column("provider", sa.String(42), nullable=False),
        sa.Column("quote_id", sa.String(66), nullable=False),
        sa.Column("sell_currency", sa.String(3), nullable=False),
        sa.Column("sell_amount", AMOUNT, nullable=False),
        sa.Column("buy_currency", sa.String(3), nullable=False),
        sa.Column("buy_amount", AMOUNT, nullable=False),
        sa.Column("purpose", sa.String(66), nullable=False),
        sa.Column("reference_id", AMOUNT, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_pvp_settlements_payee", "pvp_settlements", ["payee"])
    op.create_index("ix_pvp_settlements_payer", "pvp_settlements", ["payer"])
    op.create_table(
        "htlc_locks",
        sa.Column("lock_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("recipient", sa.String(42), nullable=False),
        sa.Column("token", sa.String(42), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("hashlock", sa.String(66), nullable=False),
        sa.Column("timeout", sa.BigInteger(), nullable=False),
        sa.Column("uetr", sa.String(34), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("preimage", sa.String(66), nullable=True),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    """Drop the indexer's tables (their indexes go with them)."""
    for table in reversed(TABLES):
        op.drop_table(table)
