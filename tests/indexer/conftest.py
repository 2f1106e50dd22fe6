"""Fixtures of the indexer suite: a real anvil per test, the deployed ledger, a database.

Run with ``pytest -p no:ape_test tests/indexer``. Every test that takes a
database runs twice, ``[sqlite]`` and ``[postgresql]``: the PostgreSQL variant
gets an empty database of a cluster this session starts itself (pgcluster.py).
Without PostgreSQL's binaries those variants fail, saying how to install them;
``-k "not postgresql"`` runs the SQLite variants alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.node import AnvilNode, find_anvil
from ledger_app.db import migrate
from ledger_app.db.engine import make_engine
from ledger_app.indexer.runner import Indexer, IndexerConfig
from ledger_app.indexer.service import build_indexer

sys.path.insert(0, str(Path(__file__).parent))
from ledger import Ledger
from pgcluster import PostgresCluster, running_cluster

DATABASES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def artifacts() -> Artifacts:
    """The compiled contracts (``ape compile`` output)."""
    return Artifacts.load(PROJECT_ROOT / ".build" / "__local__.json")


@pytest.fixture
def anvil(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[AnvilNode]:
    """A fresh anvil, automining only (no empty interval blocks)."""
    node = AnvilNode(
        binary=find_anvil(),
        port=free_port(),
        chain_id=31337,
        state_file=tmp_path / "anvil" / "state.json",
        log_file=tmp_path / "anvil" / "anvil.log",
    )
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def ledger(anvil: AnvilNode, artifacts: Artifacts) -> Ledger:
    """The ledger deployed on ``anvil``, the cast onboarded."""
    client = ChainClient(anvil.rpc_url, poll_interval=0.01)
    return Ledger(client, artifacts).deploy()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this test session, stopped and deleted at its end."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: SQLite under tmp_path, or a new one on the session's cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/index.db"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The migrated database."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def make_indexer(
    anvil: AnvilNode, ledger: Ledger, artifacts: Artifacts, engine: Engine
) -> Callable[..., Indexer]:
    """Builds an indexer of ``ledger`` into ``engine``; keyword arguments override."""

    def build(**overrides: Any) -> Indexer:
        options: dict[str, Any] = {
            "rpc_url": anvil.rpc_url,
            "engine": engine,
            "artifacts": artifacts,
            "contracts": ledger.contracts(),
            "start_block": ledger.deployment_block,
            "config": IndexerConfig(poll_interval=0.05, initial_range=4),
            "reorg_window": 16,
            "rpc_timeout": 5.0,
        }
        options.update(overrides)
        return build_indexer(**options)

    return build
