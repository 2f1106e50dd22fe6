"""API tables: API keys, custodial keystores, idempotency, transactions, documents, access log.

Mirrors ledger_app/db/api_tables.py.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "api_keys", "custodial_keys", "idempotency_records", "transactions", "documents", "access_log",
)  # fmt: skip


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the API's tables and their indexes."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("participant", sa.String(42), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(64), nullable=True),
        _when("created_at"),
        _when("revoked_at", nullable=True),
    )
    op.create_index("ix_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_index("ix_api_keys_participant", "api_keys", ["participant"])
    op.create_table(
        "custodial_keys",
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("keystore", sa.Text(), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("participant", sa.String(42), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        _when("created_at"),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("participant", sa.String(42), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("value", sa.String(78), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("custody", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index("ix_transactions_participant", "transactions", ["participant"])
    op.create_index("ix_transactions_tx_hash", "transactions", ["tx_hash"])
    op.create_table(
        "documents",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("keccak256", sa.String(66), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(42), nullable=False),
        _when("uploaded_at"),
    )
    op.create_index("ix_documents_keccak256", "documents", ["keccak256"], unique=True)
    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        _when("at"),
        sa.Column("participant", sa.String(42), nullable=True),
        sa.Column("api_key_id", sa.String(32), nullable=True),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("operation", sa.String(64), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
    )
    op.create_index("ix_access_log_participant_at", "access_log", ["participant", "at"])
    op.create_index("ix_access_log_at", "access_log", ["at"])


def downgrade() -> None:
    """Drop the API's tables (their indexes go with them)."""
    for table in reversed(TABLES):
        op.drop_table(table)
