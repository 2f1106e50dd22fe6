"""Who each event makes a party to its receivable, indexed by party: the API's visibility
filter reads it instead of scanning events for a party's address in their JSON args.

Mirrors ledger_app/db/schema.py (event_parties). Events already indexed are read here,
those linked to a receivable (events.receivable_id, migration 0005) and named in the
rule's PARTY_EVENTS, and their parties stored by the rule itself
(ledger_app/domain/visibility.py, ``named_parties``), as the indexer stores them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-11
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_app.domain.visibility import PARTY_EVENTS, named_parties

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5_000  # events per page


def upgrade() -> None:
    """Create event_parties and its indexes, and fill it from the stored events."""
    op.create_table(
        "event_parties",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("party", sa.String(42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("receivable_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "tx_hash", "log_index", "party"),
    )
    _fill(op.get_bind())  # before the indexes: building them once is quicker
    op.create_index("ix_event_parties_party", "event_parties", ["party", "receivable_id"])
    op.create_index("ix_event_parties_block", "event_parties", ["chain_id", "block_number"])


def downgrade() -> None:
    """Drop event_parties."""
    op.drop_index("ix_event_parties_block", table_name="event_parties")
    op.drop_index("ix_event_parties_party", table_name="event_parties")
    op.drop_table("event_parties")


def _fill(conn: sa.Connection) -> None:
    # One pass over the events, streamed (a server-side cursor on PostgreSQL), a page at a
    # time: a large index is never held in memory, nor read more than once.
    found = conn.execute(
        sa.text(
            "SELECT chain_id, tx_hash, log_index, block_number, receivable_id, event_name, args "
            "FROM events WHERE receivable_id IS NOT NULL AND event_name IN :names"
        ).bindparams(sa.bindparam("names", expanding=True)),
        {"names": sorted(PARTY_EVENTS)},
        execution_options={"stream_results": True},  # this statement's only
    )
    insert = sa.text(
        "INSERT INTO event_parties "
        "(chain_id, tx_hash, log_index, party, block_number, receivable_id) "
        "VALUES (:chain_id, :tx_hash, :log_index, :party, :block_number, :receivable_id)"
    )
    for page in found.partitions(_BATCH):
        rows = [
            {"chain_id": chain_id, "tx_hash": tx_hash, "log_index": log_index, "party": party,
             "block_number": block, "receivable_id": receivable_id}
            for chain_id, tx_hash, log_index, block, receivable_id, name, args in page
            for party in sorted(named_parties(name, json.loads(args)))
        ]  # fmt: skip
        if rows:
            conn.execute(insert, rows)
