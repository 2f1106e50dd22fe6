"""The access log's hash chain and its anchors (issue 21).

Mirrors ledger_app/db/api_tables.py: ``access_log.seq``, ``prev_hash``, ``row_hash``
(unique index on seq); new tables ``access_log_head`` (one row) and ``access_log_anchors``.
The rows already there are chained in id order, so that they are covered from the
start: the next anchor the service sends covers them too.

The encoding is ledger_app/domain/access_chain.py's version 1, copied here on purpose: a
migration must do what it did when it was written, and version 1 never changes (a new
encoding is a new version). tests/db/test_access_chain_writers.py checks that the
rows chained here verify with the domain's code.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
COLUMNS = ("at", "participant", "api_key_id", "method", "path", "operation", "status",
           "duration_ms", "client", "requests")  # fmt: skip
#: Rows read and updated per round (a large log is not read into memory at once).
BATCH = 5000


def _row_hash(row: sa.Row, seq: int, prev_hash: str) -> str:
    at = row.at if isinstance(row.at, datetime) else datetime.fromisoformat(str(row.at))
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    values: list[object] = ["ledger-access-log/1", seq]
    for name in COLUMNS:
        value = getattr(row, name)
        if name == "at":
            value = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif name in ("status", "duration_ms", "requests") and value is not None:
            value = int(value)
        values.append(value)
    values.append(prev_hash)
    encoded = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def _chain_existing_rows() -> tuple[int, str]:
    log = sa.table(
        "access_log",
        sa.column("id", sa.BigInteger()),
        sa.column("at", sa.DateTime(timezone=True)),
        *(sa.column(name) for name in COLUMNS[1:]),
        sa.column("seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("row_hash", sa.String()),
    )
    bind = op.get_bind()
    seq, head, last_id = 0, GENESIS, None
    while True:
        query = sa.select(log).order_by(log.c.id).limit(BATCH)
        if last_id is not None:
            query = query.where(log.c.id > last_id)
        rows = bind.execute(query).all()
        if not rows:
            return seq, head
        for row in rows:
            seq += 1
            row_hash = _row_hash(row, seq, head)
            bind.execute(
                sa.update(log).where(log.c.id == row.id)
                .values(seq=seq, prev_hash=head, row_hash=row_hash)
            )  # fmt: skip
            head = row_hash
        last_id = rows[-1].id


def upgrade() -> None:
    """Add the chain's columns, chain the rows there, then make the columns required."""
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(64), nullable=True))
    seq, head = _chain_existing_rows()
    with op.batch_alter_table("access_log") as batch:
        for name in ("seq", "prev_hash", "row_hash"):
            batch.alter_column(name, nullable=False)
        batch.create_index("ix_access_log_seq", ["seq"], unique=True)
    head_table = op.create_table(
        "access_log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(head_table, [{"id": 1, "seq": seq, "row_hash": head}])
    op.create_table(
        "access_log_anchors",
        sa.Column("count", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("count"),
    )


def downgrade() -> None:
    """Drop them (the chain is lost; the rows stay)."""
    op.drop_table("access_log_anchors")
    op.drop_table("access_log_head")
    with op.batch_alter_table("access_log") as batch:
        batch.drop_index("ix_access_log_seq")
        for name in ("row_hash", "prev_hash", "seq"):
            batch.drop_column(name)
