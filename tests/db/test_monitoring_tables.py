"""Migration 0019 (monitoring) on SQLite and PostgreSQL: the models match, an alert's key
is unique in the database itself, and the way back drops the tables."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError

from ledger_app.db import load_models, migrate
from ledger_app.db import monitoring as store
from ledger_app.db.engine import make_engine

#: The revision before monitoring's (the lead rechains 0019 when merging: keep in step).
BEFORE = "0018"
TABLES = {"monitoring_alerts", "monitoring_cases", "monitoring_case_events",
          "monitoring_checkpoint", "sanctions_entries", "participant_profiles"}  # fmt: skip


def _alert(key: str) -> dict:
    return {"key": key, "rule": "structuring", "severity": "medium", "status": "OPEN",
            "subjects": "[]", "rows": "[]", "details": "{}", "raised_at": store.now()}  # fmt: skip


def test_monitoring_tables_up_unique_and_down(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, BEFORE)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), load_models()) == []
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.begin() as connection:
        connection.execute(insert(store.monitoring_alerts).values(**_alert("k1")))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert(store.monitoring_alerts).values(**_alert("k1")))
    with engine.begin() as connection:
        config = migrate.alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, BEFORE)
    assert not TABLES & set(inspect(engine).get_table_names())
    engine.dispose()
