"""The write-ahead journal: a write's signed bytes are kept before the broadcast, a key whose
process died answers from its transactions, and a node that lost acknowledged blocks is
sent them again.

The states a killed process leaves behind (a row SIGNED and never broadcast, a row QUEUED
and never signed, a key RUNNING) are written into the running service's database as the
dead process would have left them; recovery then runs as it does at a start. The node's
loss is real: anvil is reverted to a snapshot taken before the writes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apikit import Service
from eth_utils import keccak
from sqlalchemy import insert, select

from ledger_app.api.idempotency import _Captured, _find, _fingerprint, _settle
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.journal import Recovery
from ledger_app.chain.sender import ContractCall
from ledger_app.db import migrate
from ledger_app.db.api_tables import idempotency_records, transactions
from ledger_app.db.engine import make_engine
from ledger_app.errors import ChainError, SenderLockedError


def _runtime(service: Service) -> Runtime:
    return service.app.state.runtime


def _row(runtime: Runtime, transaction_id: str) -> Any:
    with runtime.engine.connect() as conn:
        return conn.execute(select(transactions).where(transactions.c.id == transaction_id)).one()


def _dead_request(runtime: Runtime, participant: str, key: str, body: dict[str, Any]) -> bytes:
    """The RUNNING record a process killed in the middle of POST /v1/receivables leaves."""
    payload = json.dumps(body).encode()
    scope = {"method": "POST", "path": "/v1/receivables", "query_string": b""}
    with runtime.engine.begin() as conn:
        conn.execute(
            insert(idempotency_records).values(
                participant=participant,
                key=key,
                request_hash=_fingerprint(scope, payload),
                state="RUNNING",
                created_at=datetime.now(UTC) - timedelta(minutes=1),
            )
        )
    return payload


def _journal_row(runtime: Runtime, participant: str, key: str, call: ContractCall, **values: Any):
    now = datetime.now(UTC) - timedelta(minutes=1)
    transaction_id = keccak(text=key).hex()[:16]
    with runtime.engine.begin() as conn:
        conn.execute(
            insert(transactions).values(
                id=transaction_id,
                participant=participant,
                operation="receivables.register",
                to_address=call.to.lower() if call.to else None,
                data="0x" + call.data.hex(),
                value="0",
                chain_id=runtime.chain_id,
                custody="CUSTODIAL",
                idempotency_key=key,
                created_at=now,
                updated_at=now,
                **values,
            )
        )
    return transaction_id


def _registration_call(service: Service, runtime: Runtime, invoice: str) -> ContractCall:
    due = int(service.client.get_block("latest")["timestamp"]) + 90 * 86_400
    row = (service.addresses["supplier"], 100, b"CNY", due, keccak(text=invoice), b"\0" * 32, 0)
    return runtime.contracts.call("receivables", "register", row)


def _signed_at_nonce_zero(service: Service, runtime: Runtime, call: ContractCall) -> bytes:
    """``call`` signed by core at nonce 0, long taken: bytes that can never be mined."""
    signer = runtime.custody.signer(service.addresses["core"])
    tx = {"to": call.to, "data": call.data, "value": 0, "chainId": runtime.chain_id,
          "nonce": 0, "gas": 500_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 0}  # fmt: skip
    return bytes(signer.sign_transaction(tx).raw_transaction)


def _recover(runtime: Runtime) -> Any:
    return runtime.recovery.run("test", keys_before=datetime.now(UTC))


def test_write_is_journaled_with_its_signed_bytes_and_key(
    service: Service, unique: Callable[[], str]
) -> None:
    key = unique()
    answer = service.call(
        "core", "POST", "/v1/receivables", json=service.registration(),
        headers={"Idempotency-Key": key},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text

    row = _row(_runtime(service), answer.json()["transaction"]["id"])
    assert row.status == "MINED"
    assert row.idempotency_key == key
    assert "0x" + keccak(bytes.fromhex(row.raw_transaction[2:])).hex() == row.tx_hash
    assert row.tx_hash == answer.json()["transaction"]["hash"]
    receipt = service.client.receipt_if_mined(row.tx_hash)
    assert (row.block_number, row.block_hash) == (receipt.block_number, receipt.block_hash)
    assert row.nonce == service.nonce("core") - 1


def test_signed_but_never_broadcast_is_sent_and_its_key_answers_it(
    service: Service, unique: Callable[[], str]
) -> None:
    # Killed between journaling the signed bytes and broadcasting them.
    runtime, key, core = _runtime(service), unique(), service.addresses["core"].lower()
    body = service.registration()
    payload = _dead_request(runtime, core, key, body)
    call = _registration_call(service, runtime, unique())
    signer = runtime.custody.signer(service.addresses["core"])
    tx = {"from": signer.address, "to": call.to, "data": call.data, "value": 0,
          "chainId": runtime.chain_id}  # fmt: skip
    tx.update(runtime.client.prepare(tx, call.abis))
    raw = bytes(
        signer.sign_transaction({k: v for k, v in tx.items() if k != "from"}).raw_transaction
    )
    tx_hash = "0x" + keccak(raw).hex()
    transaction_id = _journal_row(runtime, core, key, call, status="SIGNED",
                                  raw_transaction="0x" + raw.hex(), tx_hash=tx_hash,
                                  nonce=tx["nonce"])  # fmt: skip
    last_id = service.view("receivables", "lastId")

    report = _recover(runtime)

    assert report.resent == 1
    assert report.keys_resolved >= 1
    assert service.client.receipt_if_mined(tx_hash).status == 1
    assert service.view("receivables", "lastId") == last_id + 1
    assert _row(runtime, transaction_id).status == "MINED"
    runtime.wait_indexed(service.client.block_number(), 10)
    retry = service.call("core", "POST", "/v1/receivables", content=payload,
                         headers={"Idempotency-Key": key, "Content-Type": "application/json"})  # fmt: skip
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "done"
    assert retry.json()["transaction"]["hash"] == tx_hash
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert service.view("receivables", "lastId") == last_id + 1  # the retry sent nothing


def test_never_signed_is_not_executed_and_its_key_says_so(
    service: Service, unique: Callable[[], str]
) -> None:
    # Killed after the row was queued and before the sender signed it.
    runtime, key, core = _runtime(service), unique(), service.addresses["core"].lower()
    payload = _dead_request(runtime, core, key, service.registration())
    call = _registration_call(service, runtime, unique())
    transaction_id = _journal_row(runtime, core, key, call, status="QUEUED")
    nonce = service.nonce("core")

    report = _recover(runtime)

    assert report.not_executed >= 1
    assert _row(runtime, transaction_id).status == "FAILED"
    for _ in range(2):  # final: the same answer each time
        retry = service.call("core", "POST", "/v1/receivables", content=payload,
                             headers={"Idempotency-Key": key, "Content-Type": "application/json"})  # fmt: skip
        assert retry.status_code == 409, retry.text
        assert retry.json()["error"] == "WriteNotExecuted"
        assert "safe to send it again" in retry.json()["message"]
    assert service.nonce("core") == nonce


def test_a_request_that_failed_before_signing_leaves_no_queued_promise(
    service: Service, unique: Callable[[], str]
) -> None:
    # The request answered 503 (its database went away after the row was queued, before
    # the sender signed it). Found by tests/faults/test_outages.py: the key then replayed
    # 202 "queued" to the retry, a client took that as accepted, and nothing was ever sent.
    runtime, key, core = _runtime(service), unique(), service.addresses["core"].lower()
    payload = _dead_request(runtime, core, key, service.registration())
    call = _registration_call(service, runtime, unique())
    transaction_id = _journal_row(runtime, core, key, call, status="QUEUED")
    answered = _Captured(None)  # type: ignore[arg-type]
    answered.status = 503
    last_id = service.view("receivables", "lastId")

    _settle(runtime.engine, core, key, answered)

    assert _row(runtime, transaction_id).status == "FAILED"
    assert _find(runtime.engine, core, key) is None  # forgotten: the retry runs
    retry = service.call("core", "POST", "/v1/receivables", content=payload,
                         headers={"Idempotency-Key": key, "Content-Type": "application/json"})  # fmt: skip
    assert retry.status_code == 201, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    assert service.view("receivables", "lastId") == last_id + 1


def test_key_without_transactions_is_not_executed(
    service: Service, unique: Callable[[], str]
) -> None:
    runtime, key, core = _runtime(service), unique(), service.addresses["core"].lower()
    payload = _dead_request(runtime, core, key, service.registration())

    _recover(runtime)

    retry = service.call("core", "POST", "/v1/receivables", content=payload,
                         headers={"Idempotency-Key": key, "Content-Type": "application/json"})  # fmt: skip
    assert retry.status_code == 409
    assert retry.json()["error"] == "WriteNotExecuted"


def test_writes_wait_while_the_journal_is_recovered(service: Service) -> None:
    runtime = _runtime(service)
    nonce = service.nonce("core")
    runtime.recovering = "recovering the transaction journal (test)"
    try:
        refused = service.call("core", "POST", "/v1/receivables", json=service.registration())
    finally:
        runtime.recovering = None
    assert refused.status_code == 503
    assert "recovering the transaction journal" in refused.json()["message"]
    assert service.nonce("core") == nonce


def test_second_sender_on_the_same_database_is_refused(service: Service) -> None:
    engine = make_engine(service.settings.database_url)
    try:
        with pytest.raises(SenderLockedError, match="another sender"):
            Runtime.start(service.settings, engine, service.client)
    finally:
        engine.dispose()


def test_acknowledged_write_that_cannot_be_sent_again_is_reported_lost_once(
    service: Service, unique: Callable[[], str]
) -> None:
    # A journaled, mined transaction the node lacks and whose nonce another took: it can
    # never be mined again. Reported lost, and its block forgotten: a FAILED row's old
    # block must not read as a lost block at every later look (writes held back for good).
    runtime, key, core = _runtime(service), unique(), service.addresses["core"].lower()
    call = _registration_call(service, runtime, unique())
    raw = _signed_at_nonce_zero(service, runtime, call)
    tx_hash = "0x" + keccak(raw).hex()
    gone = service.client.block_number() + 1_000
    transaction_id = _journal_row(runtime, core, key, call, status="MINED",
                                  raw_transaction="0x" + raw.hex(), tx_hash=tx_hash, nonce=0,
                                  block_number=gone, block_hash="0x" + "ab" * 32,
                                  transaction_index=0)  # fmt: skip

    report = _recover(runtime)

    assert tx_hash in report.lost or (
        runtime.last_recovery and tx_hash in runtime.last_recovery.lost
    )
    row = _row(runtime, transaction_id)
    assert row.status == "FAILED"
    assert row.block_number is None
    assert runtime.recovery.fork_point() is None
    deadline = time.monotonic() + 10
    while runtime.recovering is not None:
        assert time.monotonic() < deadline, runtime.recovering
        time.sleep(0.05)
    assert (
        service.call("core", "POST", "/v1/receivables", json=service.registration()).status_code
        == 201
    )


def test_the_journal_is_not_sent_into_a_chain_without_the_deployment(
    service: Service, unique: Callable[[], str], tmp_path: Path
) -> None:
    # A journal (its own database here) whose first rows the node lacks: sent again into
    # the deployment's chain, never into one whose deployment block is another.
    runtime = _runtime(service)
    engine = make_engine(f"sqlite:///{tmp_path / 'journal.db'}")
    migrate.upgrade(engine)
    call = _registration_call(service, runtime, unique())
    raw = _signed_at_nonce_zero(service, runtime, call)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(transactions).values(
                id="0" * 16, participant=service.addresses["core"].lower(),
                operation="receivables.register", to_address=call.to.lower(),
                data="0x" + call.data.hex(), value="0", chain_id=runtime.chain_id,
                custody="CUSTODIAL", created_at=now, updated_at=now, status="MINED",
                raw_transaction="0x" + raw.hex(), tx_hash="0x" + keccak(raw).hex(), nonce=0,
                block_number=service.client.block_number() + 5, block_hash="0x" + "cd" * 32,
                transaction_index=0,
            )
        )  # fmt: skip
    deployment = runtime.recovery.deployment_block
    try:
        other = Recovery(engine, service.client, indexed_to=lambda: 0,
                         deployment_block=deployment, deployment_hash="0x" + "ee" * 32)  # fmt: skip
        with pytest.raises(ChainError, match="lacks the blocks up to the deployment"):
            other.run("test", keys_before=None)
        ours = Recovery(engine, service.client, indexed_to=lambda: 0,
                        deployment_block=deployment,
                        deployment_hash=runtime.recovery.deployment_hash)  # fmt: skip
        report = ours.run("test", keys_before=None)
        assert report.fork_block == -1  # nothing journaled below it
        assert report.lost == ["0x" + keccak(raw).hex()]  # nonce 0: taken long ago
    finally:
        engine.dispose()


def test_node_that_lost_acknowledged_blocks_gets_them_again(service: Service) -> None:
    # Last in the module: the node is reverted under the running service.
    client = service.client
    last_id = service.view("receivables", "lastId")
    rewinds_before = _rewinds_counted(service)
    snapshot = client.web3.provider.make_request("evm_snapshot", [])["result"]
    answers = [
        service.call("core", "POST", "/v1/receivables", json=service.registration())
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [201] * 3
    hashes = [a.json()["transaction"]["hash"] for a in answers]
    ids = [a.json()["result"]["id"] for a in answers]

    # The node loses the three blocks: what a SIGKILL between two state saves does.
    assert client.web3.provider.make_request("evm_revert", [snapshot])["result"] is True
    assert service.view("receivables", "lastId") == last_id

    deadline = time.monotonic() + 30
    while any(client.receipt_if_mined(h) is None for h in hashes):
        assert time.monotonic() < deadline, "the journal was not sent again within 30 s"
        time.sleep(0.1)
    assert service.view("receivables", "lastId") == last_id + 3
    for receivable_id in ids:  # the same ids: sent again in the order first mined
        assert service.call("core", "GET", f"/v1/receivables/{receivable_id}").status_code in (
            200,
            404,  # not indexed yet
        )
    report = _runtime(service).last_recovery
    assert report is not None
    assert report.resent == 3
    assert _rewinds_counted(service) == rewinds_before + 1  # /metrics, detected_by=journal
    assert report.lost == []
    runtime = _runtime(service)
    assert runtime.wait_indexed(client.block_number(), 30) is not None
    health = service.call("auditor", "GET", "/health").json()
    assert health["recovery"]["reason"] == "node rewound"
    assert health["recovery"]["resent"] == 3
    with service.http("auditor") as http:
        reconciled = http.get("/v1/reconcile").json()
    assert reconciled["mismatches"] == []
    for receivable_id in ids:
        found = service.call("core", "GET", f"/v1/receivables/{receivable_id}")
        assert found.status_code == 200
    # And writes go on, on the nonces after the replayed ones.
    assert (
        service.call("core", "POST", "/v1/receivables", json=service.registration()).status_code
        == 201
    )


def test_a_lost_write_is_found_though_others_were_mined_above_it(service: Service) -> None:
    # The node loses three acknowledged blocks of core; before the journal looks, the bank
    # (untouched by the loss) writes, mined above them. Taking the newest journaled block
    # on the chain as proof that the older ones are too left core's three lost for good
    # (the chaos suite's "answered 2xx, not on chain").
    client, runtime = service.client, _runtime(service)
    last_id = service.view("receivables", "lastId")
    snapshot = client.web3.provider.make_request("evm_snapshot", [])["result"]
    answers = [
        service.call("core", "POST", "/v1/receivables", json=service.registration())
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [201] * 3
    hashes = [a.json()["transaction"]["hash"] for a in answers]
    with runtime.recovery._watch:  # the journal's look waits until the bank's write is in
        assert client.web3.provider.make_request("evm_revert", [snapshot])["result"] is True
        for _ in range(3):
            client.web3.provider.make_request("evm_mine", [])
        service.mint("supplier", 1)
    deadline = time.monotonic() + 30
    while any(client.receipt_if_mined(h) is None for h in hashes):
        assert time.monotonic() < deadline, "the lost writes were not sent again within 30 s"
        time.sleep(0.1)
    assert service.view("receivables", "lastId") == last_id + 3
    assert runtime.recovery.lost_rows() == []


def test_a_row_naming_a_block_the_node_lost_is_found_below_newer_ones(
    service: Service, unique: Callable[[], str]
) -> None:
    # A request writes its row after it read the receipt: the node may have lost that
    # block (and mined others at its height, and above) before the row is written.
    runtime, key, core = _runtime(service), unique(), service.addresses["core"].lower()
    service.register()  # a journaled block, on the chain, the newest one
    call = _registration_call(service, runtime, unique())
    raw = _signed_at_nonce_zero(service, runtime, call)
    below = service.client.block_number() - 1
    now = datetime.now(UTC)
    with runtime.engine.begin() as conn:
        conn.execute(
            insert(transactions).values(
                id=keccak(text=key).hex()[:16], participant=core,
                operation="receivables.register", to_address=call.to.lower(),
                data="0x" + call.data.hex(), value="0", chain_id=runtime.chain_id,
                custody="CUSTODIAL", idempotency_key=key, created_at=now, updated_at=now,
                status="MINED", raw_transaction="0x" + raw.hex(), tx_hash="0x" + keccak(raw).hex(),
                nonce=0, block_number=below, block_hash="0x" + "cd" * 32, transaction_index=0,
            )
        )  # fmt: skip
    deadline = time.monotonic() + 15
    while (row := _row(runtime, keccak(text=key).hex()[:16])).status == "MINED":
        assert time.monotonic() < deadline, "the journal did not look at the row within 15 s"
        time.sleep(0.1)
    # Its nonce is long taken: it can never be mined again, and is reported lost.
    assert row.status == "FAILED"
    assert "taken by another transaction" in row.error


def _rewinds_counted(service: Service) -> float:
    """ledger_chain_rewound_total{detected_by="journal"} of the service's /metrics."""
    with service.http() as http:
        text = http.get("/metrics").text
    found = re.search(r'^ledger_chain_rewound_total\{detected_by="journal"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0
