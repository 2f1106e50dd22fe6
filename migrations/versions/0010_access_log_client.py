"""The access log names each request's client address, and a row may stand for many
refused requests (a summary of a flood without a valid key, issue 17).

Mirrors ledger_app/db/api_tables.py (access_log.client, access_log.requests).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the client address and the count of requests a row stands for."""
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(sa.Column("client", sa.String(64), nullable=True))
        batch.add_column(sa.Column("requests", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("requests")
        batch.drop_column("client")
