"""Fixtures of the audit suite: a real anvil per test, the ledger deployed and onboarded by
tests/indexer/ledger.py's driver, a migrated SQLite index and an indexer run by hand
(so a test decides when the index catches up, e.g. not after a reorg)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.decode import KINDS
from ledger_app.chain.node import AnvilNode, find_anvil
from ledger_app.db import migrate
from ledger_app.db.engine import make_engine
from ledger_app.indexer.runner import Indexer, IndexerConfig
from ledger_app.indexer.service import build_indexer

# Appended, not prepended: tests/indexer holds a conftest.py too, and tests/api imports
# its own as ``conftest``; only ``ledger`` (the scenario driver) is wanted from there.
sys.path.append(str(Path(__file__).parents[1] / "indexer"))
from ledger import Ledger


@pytest.fixture(scope="session")
def artifacts() -> Artifacts:
    """The compiled contracts (``ape compile`` output)."""
    return Artifacts.load(PROJECT_ROOT / ".build" / "__local__.json")


@pytest.fixture(scope="session")
def abis(artifacts: Artifacts) -> dict:
    """ABI by contract kind, for the kinds the indexer follows."""
    return {kind: artifacts[kind].abi for kind in KINDS}


@pytest.fixture
def anvil(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[AnvilNode]:
    """A fresh anvil, automining only."""
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
    return Ledger(ChainClient(anvil.rpc_url, poll_interval=0.01), artifacts).deploy()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite index."""
    engine = make_engine(f"sqlite:///{tmp_path}/index.db")
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def indexer(anvil: AnvilNode, ledger: Ledger, artifacts: Artifacts, engine: Engine) -> Indexer:
    """An indexer of ``ledger`` into ``engine``; ``catch_up(indexer)`` runs it to the head."""
    return build_indexer(
        rpc_url=anvil.rpc_url,
        engine=engine,
        artifacts=artifacts,
        contracts=ledger.contracts(),
        start_block=ledger.deployment_block,
        config=IndexerConfig(poll_interval=0.05),
        reorg_window=16,
        rpc_timeout=5.0,
    )
