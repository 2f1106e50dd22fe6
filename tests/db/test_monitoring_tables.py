"""Migration 0019 (monitoring) on SQLite and PostgreSQL: the models match, an alert's key
is unique in the database itself, and the way back drops the tables."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError

from ledger_app.db import load_models, migrate
from ledger_app.db import monitoring as store
from ledger_app.db.engine import make_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "indexer"))
from pgcluster import PostgresCluster, running_cluster

#: The revision before monitoring's (the lead rechains 0019 when merging: keep in step).
BEFORE = "0018"
TABLES = {"monitoring_alerts", "monitoring_cases", "monitoring_case_events",
          "monitoring_checkpoint", "sanctions_entries", "participant_profiles"}  # fmt: skip


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this module, stopped and deleted at its end."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(params=("sqlite", "postgresql"))
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return request.getfixturevalue("postgres").create_database()


def _alert(key: str) -> dict:
    return {"key": key, "rule": "structuring", "severity": "medium", "status": "OPEN",
            "subjects": "[]", "rows": "[]", "details": "{}", "raised_at": store.now()}  # fmt: skip


def test_monitoring_tables_up_unique_and_down(url: str) -> None:
    engine = make_engine(url)
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
        config = migrate.alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, BEFORE)
    assert not TABLES & set(inspect(engine).get_table_names())
    engine.dispose()
