"""Monitoring (issue 23): the rules' checkpoint and configuration log, alerts, cases and
their history, the sanctions list and participants' off-chain profiles.

Mirrors ledger_app/db/monitoring.py.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)


def upgrade() -> None:
    """Create the monitoring tables."""
    op.create_table(
        "monitoring_checkpoint",
        sa.Column("chain_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("block_number", sa.BigInteger, nullable=False),
        sa.Column("runs", sa.BigInteger, nullable=False),
        _when("updated_at"),
    )
    op.create_table(
        "monitoring_rules",
        sa.Column("rule", sa.String(64), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(42), nullable=False),
        _when("updated_at"),
    )
    op.create_table(
        "monitoring_rule_changes",
        _id(),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("old", sa.Text, nullable=False),
        sa.Column("new", sa.Text, nullable=False),
        sa.Column("changed_by", sa.String(42), nullable=False),
        _when("changed_at"),
    )
    op.create_index("ix_monitoring_rule_changes_rule", "monitoring_rule_changes", ["rule"])
    op.create_table(
        "monitoring_alerts",
        _id(),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subjects", sa.Text, nullable=False),
        sa.Column("rows", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("block_number", sa.BigInteger, nullable=True),
        sa.Column("chain_time", sa.BigInteger, nullable=True),
        _when("raised_at"),
    )
    op.create_index("ix_monitoring_alerts_key", "monitoring_alerts", ["key"], unique=True)
    op.create_index("ix_monitoring_alerts_rule", "monitoring_alerts", ["rule"])
    op.create_table(
        "monitoring_cases",
        _id(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("opened_by", sa.String(42), nullable=False),
        _when("opened_at"),
        sa.Column("closed_by", sa.String(42), nullable=True),
        _when("closed_at", nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_table(
        "monitoring_case_alerts",
        sa.Column("case_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("alert_id", sa.BigInteger, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "monitoring_case_events",
        _id(),
        sa.Column("case_id", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(42), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        _when("at"),
    )
    op.create_index("ix_monitoring_case_events_case", "monitoring_case_events", ["case_id"])
    op.create_table(
        "sanctions_entries",
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("lei", sa.String(20), nullable=True),
        sa.Column("aliases", sa.Text, nullable=False),
        sa.Column("source", sa.String(400), nullable=False),
        _when("loaded_at"),
    )
    op.create_table(
        "participant_profiles",
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("legal_name", sa.String(400), nullable=True),
        sa.Column("registered_address", sa.String(400), nullable=True),
        sa.Column("recorded_by", sa.String(42), nullable=False),
        _when("recorded_at"),
    )


def downgrade() -> None:
    """Drop the monitoring tables. Those already gone are passed: SQLite's DDL does not roll
    back with a failed downgrade further down (0017's refusal), so it may be run twice."""
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for table in (
        "participant_profiles", "sanctions_entries", "monitoring_case_events",
        "monitoring_case_alerts", "monitoring_cases", "monitoring_alerts",
        "monitoring_rule_changes", "monitoring_rules", "monitoring_checkpoint",
    ):  # fmt: skip
        if table in present:
            op.drop_table(table)
