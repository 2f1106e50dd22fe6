"""Two processes sending for one account on one PostgreSQL database take consecutive nonces.

Each "process" here is what ``ledger-app api`` assembles for sending (ledger_app/api/
runtime.py): its own engine, its own NamedLocks (so its own database sessions), its own
journal settling and its own TransactionSender, all against one real anvil and one real
PostgreSQL cluster (tests/indexer/pgcluster.py). Without the account lock both would read
the same pending nonce and the node would refuse or replace one transaction of each pair.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, insert, select

from ledger_app.api.services.journal import Recovery, journal_signed
from ledger_app.chain.client import ChainClient
from ledger_app.chain.keys import anvil_dev_account
from ledger_app.chain.node import AnvilNode
from ledger_app.chain.sender import ContractCall, TransactionSender, _hash_of
from ledger_app.chain.sending import signed_bytes, transaction_request
from ledger_app.db import migrate
from ledger_app.db.api_tables import idempotency_records, transactions
from ledger_app.db.engine import make_engine
from ledger_app.db.locks import ACCOUNT_SCOPE, NamedLocks, ProcessIdentity
from ledger_app.settings import Settings

sys.path.append(str(Path(__file__).parents[1] / "indexer"))
from pgcluster import PostgresCluster

JOBS = 12  # per process
RECIPIENT = "0x000000000000000000000000000000000000bEEF"


@dataclass
class Process:
    """The sending half of one API replica."""

    engine: Engine
    locks: NamedLocks
    sender: TransactionSender

    def close(self) -> None:
        self.sender.close()
        self.locks.dispose()
        self.engine.dispose()


def _process(url: str, client: ChainClient) -> Process:
    engine = make_engine(url)
    locks = NamedLocks(engine)
    sender = TransactionSender(client, journal=journal_signed(engine))

    def account_lock(account: str, stopping: threading.Event = sender.stopping) -> Any:
        return locks.hold(ACCOUNT_SCOPE, account, stopping)

    recovery = Recovery(engine, client, indexed_to=lambda: 0, deployment_block=0,
                        account_lock=account_lock)  # fmt: skip
    sender.account_lock = account_lock
    sender.settle_account = recovery.settle_account
    return Process(engine, locks, sender)


def _queued(engine: Engine, account: LocalAccount, tag: str, **values: object) -> str:
    """A journal row as a write records it before handing the call to the sender."""
    now = datetime.now(UTC)
    transaction_id = f"{tag:0>16}"[-16:]
    with engine.begin() as conn:
        conn.execute(
            insert(transactions).values(
                **{"id": transaction_id, "participant": account.address.lower(),
                   "operation": "test.pay", "to_address": RECIPIENT.lower(), "data": "0x",
                   "value": "1", "chain_id": 31337, "custody": "CUSTODIAL", "status": "QUEUED",
                   "created_at": now, "updated_at": now, **values}
            )
        )  # fmt: skip
    return transaction_id


@pytest.fixture
def node_and_db(
    cluster: PostgresCluster, anvil_node: AnvilNode, ledger_settings: Settings
) -> tuple[str, ChainClient]:
    url = cluster.create_database()
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url, ChainClient.from_settings(ledger_settings)


def test_two_processes_sending_for_one_account_take_consecutive_nonces(
    node_and_db: tuple[str, ChainClient],
) -> None:
    url, client = node_and_db
    account = anvil_dev_account(7)
    first_nonce = client.get_transaction_count(account.address, "pending")
    processes = [_process(url, client), _process(url, client)]
    try:
        futures = []
        for i in range(JOBS):  # interleaved: both queues busy at once
            for p, process in enumerate(processes):
                transaction_id = _queued(process.engine, account, f"{p}x{i}")
                call = ContractCall(to=RECIPIENT, data=b"", value=1)
                futures.append(process.sender.send(account, call, transaction_id=transaction_id))
        receipts = [future.result(timeout=60) for future in futures]
    finally:
        for process in processes:
            process.close()
    assert all(receipt.status == 1 for receipt in receipts)
    engine = make_engine(url)
    with engine.connect() as conn:
        nonces = sorted(conn.execute(select(transactions.c.nonce)).scalars())
    engine.dispose()
    assert nonces == list(range(first_nonce, first_nonce + 2 * JOBS))
    assert client.get_transaction_count(account.address, "latest") == first_nonce + 2 * JOBS
    assert len({receipt.transaction_hash for receipt in receipts}) == 2 * JOBS


def test_transaction_a_dead_process_signed_is_sent_first_as_signed(
    node_and_db: tuple[str, ChainClient],
) -> None:
    """A process killed between journaling and broadcasting left a SIGNED row: the next
    process to send for the account sends those bytes (never signs that nonce anew), then
    its own transaction on the next nonce."""
    url, client = node_and_db
    account = anvil_dev_account(8)
    nonce = client.get_transaction_count(account.address, "pending")
    tx = transaction_request(account.address, RECIPIENT, b"", 1, client.chain_id())
    tx.update(client.prepare(tx))
    raw = signed_bytes(account, tx)

    process = _process(url, client)
    try:
        dead = _queued(process.engine, account, "dead", status="SIGNED", owner="12345",
                       raw_transaction="0x" + raw.hex(), tx_hash=_hash_of(raw),
                       nonce=tx["nonce"])  # fmt: skip
        mine = _queued(process.engine, account, "mine")
        call = ContractCall(to=RECIPIENT, data=b"", value=1)
        receipt = process.sender.send(account, call, transaction_id=mine).result(timeout=60)
        with process.engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(transactions))}
    finally:
        process.close()
    assert rows[dead].status == "MINED"
    assert rows[dead].tx_hash == _hash_of(raw)
    assert client.receipt_if_mined(_hash_of(raw)) is not None
    assert rows[mine].nonce == nonce + 1
    assert receipt.status == 1


def test_key_of_a_dead_replica_is_answered_not_executed_and_a_live_ones_is_left(
    node_and_db: tuple[str, ChainClient],
) -> None:
    """A replica killed with a request's row still QUEUED: another replica answers the key
    409 WriteNotExecuted (nothing will sign that row), never 202 "queued"; a key whose
    replica lives is left to it."""
    url, client = node_and_db
    account = anvil_dev_account(9)
    engine = make_engine(url)
    me, other = ProcessIdentity(engine), ProcessIdentity(engine)
    recovery = Recovery(engine, client, indexed_to=lambda: 0, deployment_block=0,
                        alive=me.alive)  # fmt: skip
    now = datetime.now(UTC)
    try:
        for key, owner in (("dead-key", "12345"), ("live-key", other.id)):
            with engine.begin() as conn:
                conn.execute(
                    insert(idempotency_records).values(
                        participant=account.address.lower(), key=key, request_hash="x" * 64,
                        state="RUNNING", owner=owner, created_at=now,
                    )
                )  # fmt: skip
            _queued(engine, account, key, owner=owner, idempotency_key=key)
        assert recovery.resolve_dead_keys() == 1
        with engine.connect() as conn:
            keys = {r.key: r for r in conn.execute(select(idempotency_records))}
            rows = {r.idempotency_key: r for r in conn.execute(select(transactions))}
    finally:
        me.release()
        other.release()
        engine.dispose()
    assert keys["dead-key"].state == "DONE"
    assert keys["dead-key"].status_code == 409
    assert "WriteNotExecuted" in keys["dead-key"].response_body
    assert rows["dead-key"].status == "FAILED"
    assert keys["live-key"].state == "RUNNING"
    assert rows["live-key"].status == "QUEUED"
