"""Events carry the receivable and tree they belong to, so that a trace reads its tree's
events through an index instead of scanning every event since the root's block.

Mirrors ledger_app/db/schema.py (events.receivable_id, events.root_id). Events
already indexed are linked here, in log order, by the indexer's own rule
(ledger_app/indexer/links.py) against the read models they built.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_app.indexer.links import TRACED, LinkLookups, link

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2_000


def upgrade() -> None:
    """Add events.receivable_id and events.root_id (indexed), and fill them."""
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("receivable_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("root_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_events_root", "events", ["root_id"])
    _link_existing(op.get_bind())


def downgrade() -> None:
    """Drop events.receivable_id and events.root_id."""
    op.drop_index("ix_events_root", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("root_id")
        batch.drop_column("receivable_id")


def _link_existing(conn: sa.Connection) -> None:
    def one(query: str, **params: object) -> object:
        return conn.execute(sa.text(query), params).scalar()

    lookups = LinkLookups(
        root_of=lambda rid: one("SELECT root_id FROM receivables WHERE id = :v", v=rid),
        financing_receivable=lambda fid: one(
            "SELECT receivable_id FROM financings WHERE id = :v", v=fid
        ),
        pvp_reference=lambda uetr: _int(
            one("SELECT reference_id FROM pvp_settlements WHERE uetr = :v", v=uetr)
        ),
        lock_uetr=lambda lock: one("SELECT uetr FROM htlc_locks WHERE lock_id = :v", v=lock),
    )
    kinds = sorted(TRACED)
    rows = conn.execute(
        sa.text(
            "SELECT chain_id, tx_hash, log_index, contract_kind, event_name, args FROM events "
            "WHERE contract_kind IN :kinds ORDER BY chain_id, block_number, log_index"
        ).bindparams(sa.bindparam("kinds", expanding=True)),
        {"kinds": kinds},
    ).all()
    updates = []
    for chain_id, tx_hash, log_index, kind, name, args in rows:
        linked = link(kind, name, json.loads(args), lookups)
        if linked is not None:
            updates.append({"c": chain_id, "t": tx_hash, "i": log_index,
                            "r": linked[0], "o": linked[1]})  # fmt: skip
    update = sa.text(
        "UPDATE events SET receivable_id = :r, root_id = :o "
        "WHERE chain_id = :c AND tx_hash = :t AND log_index = :i"
    )
    for i in range(0, len(updates), _BATCH):
        conn.execute(update, updates[i : i + _BATCH])


def _int(value: object) -> int | None:
    # reference_id is NUMERIC(78,0), or zero-padded text on SQLite.
    return None if value is None else int(value)  # type: ignore[call-overload]
