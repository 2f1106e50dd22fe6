"""The production path against what Besu serves (issue 22): ``ledger-app run`` on a node
that is not a managed anvil, through tests/fixtures/besu_proxy.py, which forwards only
Besu's JSON-RPC methods, refuses (and records) every other one, answers Besu's client
version, refuses the ``finalized`` tag as Besu on QBFT does, and gives every block a
QBFT header's extra data (122 bytes). Writes (onboarding, a currency, a mint, a credit
line, register, confirm, financing request, offer, accept) and reads (a trace verified
against the node) must succeed without one refused call. Fees: EIP-1559 fields from the
latest block's base fee, or, on a chain without one, a legacy gas price from
eth_gasPrice; never eth_maxPriorityFeePerGas."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from besu_proxy import QBFT_EXTRA_DATA, BesuProxy
from eth_account import Account

from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.contracts import LedgerContracts
from ledger_app.chain.deploy import read_record
from ledger_app.chain.keys import anvil_dev_account
from ledger_app.chain.node import AnvilNode, find_anvil
from ledger_app.settings import Settings

pytestmark = pytest.mark.slow

CHAIN_ID = 1337  # Besu's QBFT tutorial's; not anvil's 31337
FACE = 100_000_000


@pytest.fixture
def besu(tmp_path: Path, free_port) -> Iterator[tuple[AnvilNode, BesuProxy]]:
    node = AnvilNode(binary=find_anvil(), port=free_port(), chain_id=CHAIN_ID,
                     state_file=tmp_path / "node" / "state.json",
                     log_file=tmp_path / "node" / "anvil.log")  # fmt: skip
    node.start()
    proxy = BesuProxy(node.rpc_url, extra_data=QBFT_EXTRA_DATA).start()
    try:
        yield node, proxy
    finally:
        proxy.close()
        node.stop()


def test_run_on_besu_writes_and_reads_without_a_method_besu_lacks(
    besu: tuple[AnvilNode, BesuProxy], tmp_path: Path, free_port
) -> None:
    import sys

    sys.path.insert(0, str(PROJECT_ROOT / "tests" / "api"))
    from apikit import Service, onboard
    from service_stack import LedgerProcess

    node, proxy = besu
    var = tmp_path / "var"
    keystore = tmp_path / "operator-keystore.json"
    keystore.write_text(json.dumps(Account.encrypt(anvil_dev_account(0).key, "operator-pass",
                                                   iterations=2**10)))  # fmt: skip
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        LEDGER_RPC_URL=proxy.url, LEDGER_CHAIN_ID=str(CHAIN_ID), LEDGER_MANAGED_NODE="false",
        LEDGER_OPERATOR_KEYSTORE=str(keystore), LEDGER_OPERATOR_PASSPHRASE="operator-pass",
        LEDGER_KEYSTORE_PASSPHRASE="besu-path", LEDGER_KEYSTORE_SCRYPT_N=str(2**10),
        LEDGER_DOCUMENT_KEY="42" * 32,  # required off a local anvil (never generated there)
        LEDGER_PORT=str(port), LEDGER_STATE_DIR=str(var),
        LEDGER_DATABASE_URL=f"sqlite:///{var}/ledger.db",
        LEDGER_DEPLOYMENT_FILE=str(var / "deployment.json"),
        LEDGER_BLOCK_TAG="finalized", LEDGER_INDEXER_POLL_INTERVAL="0.1",
        LEDGER_LOG_LEVEL="warning",
    )  # fmt: skip
    service_process = LedgerProcess(["run"], env, tmp_path / "run.log").start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, var / "operator-api-key", service_process)
        record = read_record(var / "deployment.json")
        assert record is not None
        assert record.chain_id == CHAIN_ID
        _wait_indexed(f"sqlite:///{var}/ledger.db", node, service_process)
        artifacts = Artifacts.load(PROJECT_ROOT / ".build" / "__local__.json")
        settings = Settings(rpc_url=proxy.url, chain_id=CHAIN_ID, managed_node=False)
        service = Service(base_url=base_url, settings=settings,
                          client=ChainClient(node.rpc_url, poll_interval=0.01),
                          contracts=LedgerContracts(artifacts, record),
                          operator_key=(var / "operator-api-key").read_text().strip(),
                          operator_address=record.operator)  # fmt: skip
        for name, roles in {"core": ["CORE_ENTERPRISE"], "supplier": ["SUPPLIER"],
                            "financier": ["FINANCIER"], "bank": ["SETTLEMENT_BANK"],
                            "auditor": ["AUDITOR"]}.items():  # fmt: skip
            onboard(service, name, roles)
        listed = service.call("operator", "POST", "/v1/currencies",
                              json={"currency": "CNY", "decimals": 2,
                                    "issuer": service.addresses["bank"]})  # fmt: skip
        assert listed.status_code == 201, listed.text
        service.mint("financier", 10 * FACE)
        service.credit_line("financier")
        receivable = service.active()
        financing = service.call("supplier", "POST", "/v1/financings",
                                 json={"receivable_id": receivable["id"],
                                       "financier": service.addresses["financier"]})  # fmt: skip
        assert financing.status_code == 201, financing.text
        financing_id = financing.json()["result"]["id"]
        offered = service.call("financier", "POST", f"/v1/financings/{financing_id}/offers",
                               json=_terms())  # fmt: skip
        assert offered.status_code == 201, offered.text
        accepted = service.call("supplier", "POST",
                                f"/v1/financings/{financing_id}/offers/0/accept")  # fmt: skip
        assert accepted.status_code == 200, accepted.text
        verdict = service.call("auditor", "POST",
                               f"/v1/receivables/{receivable['id']}/trace/verify")  # fmt: skip
        health = httpx.get(f"{base_url}/health", timeout=10)
    finally:
        service_process.stop()

    print(f"\nbesu-path methods called: {dict(sorted(proxy.called.items()))}")
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["verified"] is True, verdict.json()
    assert health.status_code == 200, health.text
    assert dict(proxy.refused) == {}, f"calls Besu would refuse: {dict(proxy.refused)}"
    assert proxy.called["eth_sendRawTransaction"] >= 10
    assert proxy.called["eth_maxPriorityFeePerGas"] == 0
    assert proxy.blocks_rewritten > 0  # every block read carried QBFT extra data
    # Fees set explicitly from the base fee: every transaction the service sent is EIP-1559.
    sent = service.client.get_transaction_count(record.operator)
    assert sent > 0
    accept_hash = accepted.json()["transaction"]["hash"]
    assert service.client.transport.call("eth_getTransactionByHash", [accept_hash])["type"] == "0x2"


def test_a_chain_without_base_fee_gets_legacy_transactions_priced_by_eth_gas_price(
    tmp_path: Path, free_port
) -> None:
    node = AnvilNode(binary=find_anvil(), port=free_port(), chain_id=CHAIN_ID,
                     state_file=tmp_path / "node" / "state.json",
                     log_file=tmp_path / "node" / "anvil.log")  # fmt: skip
    node.start()
    proxy = BesuProxy(node.rpc_url, extra_data=QBFT_EXTRA_DATA, base_fee=False).start()
    try:
        client = ChainClient(proxy.url, poll_interval=0.01)
        receipt = client.send_transaction(anvil_dev_account(0), to=anvil_dev_account(1).address,
                                          data=b"", value=1)  # fmt: skip
        sent = ChainClient(node.rpc_url).transport.call(
            "eth_getTransactionByHash", [receipt.transaction_hash]
        )
        gas_price = int(ChainClient(node.rpc_url).transport.call("eth_gasPrice", []), 16)
    finally:
        proxy.close()
        node.stop()
    assert receipt.status == 1
    assert sent["type"] == "0x0"
    assert 0 < int(sent["gasPrice"], 16) <= gas_price * 2
    assert dict(proxy.refused) == {}
    assert proxy.called["eth_gasPrice"] >= 1
    assert proxy.called["eth_maxPriorityFeePerGas"] == 0


def _terms() -> dict[str, object]:
    return {
        "advance_rate_bps": 9000,
        "discount_rate_bps": 600,
        "day_count_basis": 365,
        "recourse": True,
        "grace_period_days": 0,
        "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "fee": "50000",
    }


def _wait_indexed(database_url: str, node: AnvilNode, process: object) -> None:
    """Until the index holds the node's head (the operator's role comes from it)."""
    from ledger_app.api.index_state import indexed_block
    from ledger_app.db.engine import make_engine

    engine = make_engine(database_url)
    head = ChainClient(node.rpc_url).block_number()
    deadline = time.monotonic() + 60
    try:
        while indexed_block(engine, CHAIN_ID) < head:
            if time.monotonic() > deadline:
                raise AssertionError(f"not indexed to {head}:\n{process.log_tail()}")  # type: ignore[attr-defined]
            time.sleep(0.1)
    finally:
        engine.dispose()


def _wait_healthy(base_url: str, key_file: Path, process: object, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not process.alive:  # type: ignore[attr-defined]
            raise AssertionError(f"ledger-app run exited:\n{process.log_tail()}")  # type: ignore[attr-defined]
        try:
            health = httpx.get(f"{base_url}/health", timeout=5)
            if health.status_code == 200 and key_file.is_file():
                return
            last = f"{health.status_code} {health.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise AssertionError(f"not healthy: {last}\n{process.log_tail()}")  # type: ignore[attr-defined]
