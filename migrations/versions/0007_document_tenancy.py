"""Documents belong to the participants that uploaded them, who grant them to others.

``documents.uploaded_by`` (one participant per stored bytes: a second uploader of the
same bytes owned nothing) becomes ``document_uploads``, one row per uploader; an
uploader's grants are ``document_grants``. Mirrors ledger_app/db/api_tables.py.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Move each document's uploader to document_uploads; create document_grants."""
    op.create_table(
        "document_uploads",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("participant", sa.String(42), primary_key=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_document_uploads_participant", "document_uploads", ["participant"])
    op.execute(
        "INSERT INTO document_uploads (sha256, participant, uploaded_at) "
        "SELECT sha256, lower(uploaded_by), uploaded_at FROM documents"
    )
    op.create_table(
        "document_grants",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("grantor", sa.String(42), primary_key=True),
        sa.Column("grantee", sa.String(42), primary_key=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("uploaded_by")


def downgrade() -> None:
    """Back to one uploader per document (the first of them); grants are dropped."""
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("uploaded_by", sa.String(42), nullable=True))
    op.execute(
        "UPDATE documents SET uploaded_by = (SELECT u.participant FROM document_uploads u "
        "WHERE u.sha256 = documents.sha256 ORDER BY u.uploaded_at, u.participant LIMIT 1)"
    )
    with op.batch_alter_table("documents") as batch:
        batch.alter_column("uploaded_by", existing_type=sa.String(42), nullable=False)
    op.drop_table("document_grants")
    op.drop_index("ix_document_uploads_participant", table_name="document_uploads")
    op.drop_table("document_uploads")
