"""The managed anvil keeps its state across restarts, and deployment happens once per chain.

Real anvil processes on free ports, real transactions; nothing is mocked.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from stub_deployment import PLAN as STUB_PLAN

from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.deploy import PLAN, ensure_deployed, read_record, write_record
from ledger_app.chain.keys import anvil_dev_account
from ledger_app.chain.node import AnvilNode
from ledger_app.errors import NodeError, TransactionReverted
from ledger_app.settings import Settings

OPERATOR = anvil_dev_account(0)


def deploy(settings: Settings, plan=STUB_PLAN, artifacts_file: Path | None = None):
    """ensure_deployed against the node of ``settings`` with the operator key."""
    return ensure_deployed(
        ChainClient.from_settings(settings),
        OPERATOR,
        Artifacts.load(artifacts_file or settings.artifacts_file),
        plan,
        settings.deployment_file,
    )


def test_restart_finds_same_addresses_without_redeploying(ledger_settings: Settings) -> None:
    client = ChainClient.from_settings(ledger_settings)
    with AnvilNode.from_settings(ledger_settings):
        first = deploy(ledger_settings)
        nonce_after_deploy = client.get_transaction_count(OPERATOR.address)
    assert ledger_settings.anvil_state_file.is_file()

    with AnvilNode.from_settings(ledger_settings):
        second = deploy(ledger_settings)
        assert client.get_transaction_count(OPERATOR.address) == nonce_after_deploy
        deployment_block_hash = client.block_hash(first.record.deployment_block)
        registry = second.record.contracts["participants"].address
        registry_abi = Artifacts.load(ledger_settings.artifacts_file)["StubParticipantRegistry"].abi
        desk = second.record.contracts["financing_desk"].address
        wired = client.call_function(registry, registry_abi, "isLedgerContract", desk)

    assert not first.reused
    assert second.reused
    assert second.record.addresses() == first.record.addresses()
    assert wired == (True,)
    assert deployment_block_hash == first.record.deployment_block_hash
    assert first.record.chain_id == ledger_settings.chain_id
    assert first.record.deployment_block >= 1


def test_fresh_chain_redeploys(ledger_settings: Settings) -> None:
    with AnvilNode.from_settings(ledger_settings):
        first = deploy(ledger_settings)
    ledger_settings.anvil_state_file.unlink()

    with AnvilNode.from_settings(ledger_settings):
        second = deploy(ledger_settings)
        client = ChainClient.from_settings(ledger_settings)
        code_everywhere = all(client.get_code(a) for a in second.record.addresses().values())
        deployment_block_hash = client.block_hash(second.record.deployment_block)

    assert not second.reused
    assert "not the chain deployed to" in (second.reason or "")
    assert second.record.deployment_block_hash == deployment_block_hash
    # Not compared with the first record's: two anvil chains started within
    # the same second and sent the same transactions have the same blocks.
    assert second.record.deployed_at >= first.record.deployed_at
    assert code_everywhere
    assert read_record(ledger_settings.deployment_file) == second.record


def test_record_of_another_chain_redeploys(
    anvil_node: AnvilNode, ledger_settings: Settings
) -> None:
    record = deploy(ledger_settings).record
    write_record(
        ledger_settings.deployment_file,
        dataclasses.replace(record, deployment_block_hash="0x" + "11" * 32),
    )

    outcome = deploy(ledger_settings)

    assert not outcome.reused
    assert f"block {record.deployment_block} is" in (outcome.reason or "")


def test_anvil_genesis_hash_is_not_trusted_after_reload(ledger_settings: Settings) -> None:
    # anvil 1.5.1 may answer block 0 with a new genesis after loading state;
    # the record must be recognised all the same.
    with AnvilNode.from_settings(ledger_settings):
        record = deploy(ledger_settings).record
    write_record(
        ledger_settings.deployment_file,
        dataclasses.replace(record, genesis_hash="0x" + "22" * 32),
    )

    with AnvilNode.from_settings(ledger_settings):
        outcome = deploy(ledger_settings)

    assert outcome.reused


def test_changed_plan_redeploys(anvil_node: AnvilNode, ledger_settings: Settings) -> None:
    deploy(ledger_settings)

    outcome = deploy(ledger_settings, plan=STUB_PLAN[:-1])

    assert not outcome.reused
    assert "plan" in (outcome.reason or "")
    assert len(outcome.record.calls) == 1


def test_plan_with_appended_steps_extends_the_deployment(
    anvil_node: AnvilNode, ledger_settings: Settings
) -> None:
    first = deploy(ledger_settings, plan=STUB_PLAN[:-1]).record

    extended = deploy(ledger_settings)
    again = deploy(ledger_settings)

    assert extended.reused
    assert "extended" in (extended.reason or "")
    assert extended.record.addresses() == first.addresses()
    assert extended.record.deployment_block == first.deployment_block
    assert len(extended.record.calls) == 2
    assert again.reused
    assert again.reason is None
    assert read_record(ledger_settings.deployment_file) == extended.record


def test_record_pointing_at_empty_address_redeploys(
    anvil_node: AnvilNode, ledger_settings: Settings
) -> None:
    record = deploy(ledger_settings).record
    contracts = dict(record.contracts)
    contracts["receivables"] = dataclasses.replace(
        contracts["receivables"], address="0x000000000000000000000000000000000000dEaD"
    )
    write_record(ledger_settings.deployment_file, dataclasses.replace(record, contracts=contracts))

    outcome = deploy(ledger_settings)

    assert not outcome.reused
    assert "no code at receivables" in (outcome.reason or "")


def test_revert_raises_decoded_custom_error(
    anvil_node: AnvilNode, ledger_settings: Settings
) -> None:
    record = deploy(ledger_settings).record
    registry_abi = Artifacts.load(ledger_settings.artifacts_file)["StubParticipantRegistry"].abi
    stranger = anvil_dev_account(1)
    client = ChainClient.from_settings(ledger_settings)

    with pytest.raises(TransactionReverted) as raised:
        client.transact(
            stranger,
            record.contracts["participants"].address,
            registry_abi,
            "registerLedgerContract",
            [stranger.address],
        )

    assert raised.value.error_name == "StubNotOperator"
    assert raised.value.error_args == {"caller": stranger.address}


def test_node_refuses_port_already_in_use(anvil_node: AnvilNode, ledger_settings: Settings) -> None:
    with pytest.raises(NodeError, match="already listens"):
        AnvilNode.from_settings(ledger_settings).start()


def test_stop_leaves_no_anvil_process(ledger_settings: Settings) -> None:
    node = AnvilNode.from_settings(ledger_settings).start()
    pid = node.pid
    assert pid is not None
    assert node.pid_file.read_text().strip() == str(pid)

    node.stop()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not node.pid_file.exists()


def test_old_block_states_stay_beside_the_state_file_and_go_with_the_node(
    ledger_settings: Settings,
) -> None:
    node = AnvilNode.from_settings(ledger_settings)
    node.cache_dir.mkdir(parents=True)
    (node.cache_dir / "left-by-a-killed-anvil.json").write_text("{}")
    node.start()
    try:
        assert not (node.cache_dir / "left-by-a-killed-anvil.json").exists()
        client = ChainClient(node.rpc_url)
        # Enough blocks that anvil moves the oldest states out of memory.
        for _ in range(3):
            client.web3.provider.make_request("anvil_mine", [hex(400)])
        written = [path for path in node.cache_dir.rglob("*") if path.is_file()]
        assert written, "anvil wrote no old state where the node told it to"
    finally:
        node.stop()
    assert not node.cache_dir.exists()


def test_real_plan_deploys_when_contracts_compiled(
    anvil_node: AnvilNode, ledger_settings: Settings
) -> None:
    build = PROJECT_ROOT / ".build" / "__local__.json"
    compiled = set(Artifacts.load(build)) if build.is_file() else set()
    missing = {step.contract for step in PLAN if hasattr(step, "contract")} - compiled
    if missing:
        pytest.skip(f"not compiled yet: {', '.join(sorted(missing))} (make compile)")

    outcome = deploy(ledger_settings, plan=PLAN, artifacts_file=build)

    client = ChainClient.from_settings(ledger_settings)
    assert not outcome.reused
    assert set(outcome.record.contracts) == {
        "participants",
        "receivables",
        "risk_control",
        "credit_lines",
        "financing_desk",
        "maturity_clearing",
        "fx_settlement",
        "hash_time_lock",
        "access_log_anchor",
    }
    assert all(client.get_code(a) for a in outcome.record.addresses().values())
    # bindRiskControl, then four ledger contracts registered.
    assert len(outcome.record.calls) == 5
