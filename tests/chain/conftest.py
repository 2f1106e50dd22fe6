"""Fixtures of the chain layer's tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.node import AnvilNode, find_anvil

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "indexer"))
from ledger import Ledger


@pytest.fixture
def ledger(tmp_path: Path, free_port) -> Iterator[Ledger]:
    """A fresh anvil with the ledger deployed and CNY listed."""
    node = AnvilNode(binary=find_anvil(), port=free_port(), chain_id=31337,
                     state_file=tmp_path / "anvil" / "state.json",
                     log_file=tmp_path / "anvil" / "anvil.log")  # fmt: skip
    node.start()
    try:
        client = ChainClient(node.rpc_url, poll_interval=0.01)
        ledger = Ledger(client, Artifacts.load(PROJECT_ROOT / ".build" / "__local__.json")).deploy()
        ledger.list_token(b"CNY")
        yield ledger
    finally:
        node.stop()
