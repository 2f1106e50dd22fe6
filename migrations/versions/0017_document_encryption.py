"""Documents committed to with a salt (issue 21).

``documents.keccak256`` becomes ``documents.commitment`` (what a receivable commits to
on chain, by whatever scheme) and ``documents.commitment_scheme`` says which: every document stored so far keeps its plain
keccak256 as ``keccak256-unsalted`` (its commitments on chain stay as they are, and stay
verifiable); new ones are ``sha256-salted-v1`` (ledger_app/domain/documents.py).

The files themselves are sealed (AES-256-GCM) by the service at start, not here: the
document key is a secret the migrations never see (ledger_app/signing/sealed_documents.py,
``seal_plain_files``, idempotent). Mirrors ledger_app/db/api_tables.py.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Rename the commitment column, record every existing document's scheme."""
    op.drop_index("ix_documents_keccak256", table_name="documents")
    with op.batch_alter_table("documents") as batch:
        batch.alter_column("keccak256", new_column_name="commitment",
                           existing_type=sa.String(66), existing_nullable=False)  # fmt: skip
        batch.add_column(
            sa.Column(
                "commitment_scheme",
                sa.String(32),
                nullable=False,
                server_default="keccak256-unsalted",
            )
        )
    op.create_index("ix_documents_commitment", "documents", ["commitment"], unique=True)


def downgrade() -> None:
    """Back to the keccak256 column; refused while a salted document exists (its
    commitment is no keccak256, and the old code would serve it as one)."""
    salted = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT count(*) FROM documents WHERE commitment_scheme <> 'keccak256-unsalted'"
            )
        )
        .scalar()
    )
    if salted:
        raise RuntimeError(
            f"{salted} documents are committed to with a salt: they cannot go back to a "
            "keccak256 commitment"
        )
    op.drop_index("ix_documents_commitment", table_name="documents")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("commitment_scheme")
        batch.alter_column("commitment", new_column_name="keccak256",
                           existing_type=sa.String(66), existing_nullable=False)  # fmt: skip
    op.create_index("ix_documents_keccak256", "documents", ["keccak256"], unique=True)
