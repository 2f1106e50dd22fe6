"""The compiler's EVM version is a setting (LEDGER_EVM_VERSION) that ape-config.yaml and the
build must agree with before anything is deployed, and the deployment record keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stub_deployment import PLAN as STUB_PLAN

from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.deploy import check_evm_version, ensure_deployed, read_record
from ledger_app.chain.keys import anvil_dev_account
from ledger_app.chain.node import AnvilNode
from ledger_app.errors import DeploymentError
from ledger_app.settings import Settings

APE_CONFIG = PROJECT_ROOT / "ape-config.yaml"
BUILD = PROJECT_ROOT / ".build" / "__local__.json"


def test_the_default_agrees_with_ape_config_and_the_build() -> None:
    artifacts = Artifacts.load(BUILD)

    check_evm_version(Settings().evm_version, artifacts, APE_CONFIG)

    assert artifacts.evm_versions == {Settings().evm_version}


def test_a_setting_other_than_ape_config_and_the_build_refuses_to_deploy() -> None:
    with pytest.raises(DeploymentError) as refused:
        check_evm_version("shanghai", Artifacts.load(BUILD), APE_CONFIG)

    message = str(refused.value)
    assert "LEDGER_EVM_VERSION is shanghai" in message
    assert "ape-config.yaml has solidity.evm_version cancun" in message
    assert "was compiled for cancun" in message
    assert "genesis" in message


def test_a_build_for_another_evm_than_ape_config_is_refused(tmp_path: Path) -> None:
    manifest = json.loads(BUILD.read_text())
    for compiler in manifest["compilers"]:
        compiler["settings"]["evmVersion"] = "paris"
    stale = tmp_path / "__local__.json"
    stale.write_text(json.dumps(manifest))

    with pytest.raises(DeploymentError, match="compiled for paris"):
        check_evm_version("cancun", Artifacts.load(stale), APE_CONFIG)


def test_the_deployment_record_keeps_the_evm_version(ledger_settings: Settings) -> None:
    with AnvilNode.from_settings(ledger_settings):
        outcome = ensure_deployed(
            ChainClient.from_settings(ledger_settings),
            anvil_dev_account(0),
            Artifacts.load(ledger_settings.artifacts_file),
            STUB_PLAN,
            ledger_settings.deployment_file,
            evm_version="cancun",
        )

    assert outcome.record.evm_version == "cancun"
    assert read_record(ledger_settings.deployment_file).evm_version == "cancun"
