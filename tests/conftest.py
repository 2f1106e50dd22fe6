"""Fixtures shared by the service tests (tests/toolchain, tests/chain, tests/api).

`ape test tests/contracts` loads this file too, so it holds only fixtures that
do nothing unless a test asks for them (nothing autouse, no hooks, no
module-level work beyond imports), under names that cannot shadow ape's own
(accounts, chain, networks, project, compilers, Contract).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ledger_app.chain.node import AnvilNode
    from ledger_app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def solc_pin() -> str:
    """The solc version pinned in package.json (the project's one solc pin)."""
    return json.loads((ROOT / "package.json").read_text())["dependencies"]["solc"]


@pytest.fixture(scope="session")
def solc_binary(solc_pin: str) -> Path:
    """The solc-js launcher py-solc-x uses (installed by toolchain/install-solc.sh)."""
    directory = Path(os.environ.get("SOLCX_BINARY_PATH", ROOT / ".venv" / "solcx"))
    binary = directory / f"solc-v{solc_pin}"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `make setup`")
    return binary


@pytest.fixture(scope="session")
def stub_artifacts_file(solc_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build manifest of tests/fixtures/contracts, compiled once per session."""
    from stub_deployment import compile_stubs

    return compile_stubs(solc_binary, tmp_path_factory.mktemp("stubs") / "__local__.json")


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a TCP port nothing listens on right now."""

    def pick() -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    return pick


@pytest.fixture
def ledger_env(
    tmp_path: Path, free_port: Callable[[], int], stub_artifacts_file: Path
) -> dict[str, str]:
    """LEDGER_* variables of an isolated embedded service under tmp_path.

    Own anvil port, own var/ directory, the stub plan and its artifacts.
    """
    var = tmp_path / "var"
    return {
        "LEDGER_RPC_URL": f"http://127.0.0.1:{free_port()}",
        "LEDGER_PORT": str(free_port()),
        "LEDGER_STATE_DIR": str(var),
        "LEDGER_DATABASE_URL": f"sqlite:///{var}/ledger.db",
        "LEDGER_DEPLOYMENT_FILE": str(var / "deployment.json"),
        "LEDGER_ARTIFACTS_FILE": str(stub_artifacts_file),
        "LEDGER_DEPLOY_PLAN": "stub_deployment:PLAN",
        # Tests move the chain's clock: the overdue keeper runs only where a test asks.
        "LEDGER_KEEPER_INTERVAL": "0",
    }


@pytest.fixture
def ledger_settings(ledger_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of the isolated service, whatever LEDGER_* the developer's shell has."""
    from ledger_app.settings import Settings

    for name in list(os.environ):
        if name.startswith("LEDGER_"):
            monkeypatch.delenv(name)
    for name, value in ledger_env.items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.fixture
def anvil_node(ledger_settings: Settings) -> Iterator[AnvilNode]:
    """A running anvil for ledger_settings, stopped after the test."""
    from ledger_app.chain.node import AnvilNode

    node = AnvilNode.from_settings(ledger_settings)
    node.start()
    try:
        yield node
    finally:
        node.stop()
