"""The databases tests/db runs on: each test on SQLite and on PostgreSQL (a cluster per
module, stopped and deleted at its end)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger_app.db import migrate
from ledger_app.db.engine import make_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "indexer"))
from pgcluster import PostgresCluster, running_cluster


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this module, stopped and deleted at its end."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(params=("sqlite", "postgresql"))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database's URL, SQLite then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return request.getfixturevalue("postgres").create_database()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
