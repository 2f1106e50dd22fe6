"""The indexer as a process: SIGKILLed mid-backfill and restarted, one writer at a time, and
`ledger-app index` outliving a node or a PostgreSQL server that goes away and comes back."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import index_to_head, mismatches
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ledger_app.audit.reconcile import digest
from ledger_app.chain.deploy import DeployedContract, DeploymentRecord, write_record
from ledger_app.db import migrate, schema
from ledger_app.db.engine import make_engine

pytestmark = pytest.mark.slow


def service_env(ledger, anvil, database_url: str, tmp_path: Path) -> dict[str, str]:
    """LEDGER_* for a ledger-app process indexing ``ledger`` into ``database_url``."""
    record = DeploymentRecord(
        chain_id=31337,
        genesis_hash=ledger.client.genesis_hash(),
        deployment_block=ledger.deployment_block,
        operator=ledger.operator.address,
        fingerprint="sha256:test",
        contracts={
            name: DeployedContract(kind, ledger.addresses[name], ledger.deployment_block, "0x")
            for name, kind in ledger.kinds.items()
            if kind != "SettlementToken"
        },
    )
    write_record(tmp_path / "deployment.json", record)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        LEDGER_RPC_URL=anvil.rpc_url,
        LEDGER_MANAGED_NODE="false",
        LEDGER_DATABASE_URL=database_url,
        LEDGER_DEPLOYMENT_FILE=str(tmp_path / "deployment.json"),
        LEDGER_STATE_DIR=str(tmp_path / "var"),
        LEDGER_LOG_LEVEL="warning",
    )
    return env


def ledger_app(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from ledger_app.cli import main; sys.exit(main())",
            *args]  # fmt: skip


def checkpoint_of(engine) -> int | None:
    """The committed checkpoint block, None before the first batch."""
    with engine.connect() as conn:
        return conn.execute(select(schema.checkpoint.c.block_number)).scalar()


def chain_logs(ledger, indexer) -> int:
    """How many logs the followed contracts (tokens included) emitted, per the node."""
    addresses = [*indexer.contracts, *indexer.tokens]
    return len(indexer.rpc.get_logs(ledger.deployment_block, ledger.head(), addresses))


def test_sigkill_during_backfill_then_restart_loses_and_duplicates_nothing(
    ledger, anvil, make_indexer, database_url, engine, artifacts, tmp_path
):
    ledger.scenario()
    for _ in range(12):
        ledger.register_batch(50)  # 100 events per transaction
        ledger.rpc("anvil_mine", [hex(40)])  # empty blocks: many small batches to die in
    env = service_env(ledger, anvil, database_url, tmp_path)
    rng = random.Random(6)
    kills = 0
    partial: list[int] = []  # checkpoints a killed backfill left short of the head
    for _ in range(6):
        start = checkpoint_of(engine)
        process = subprocess.Popen(
            ledger_app("backfill", "--range", "2", "--max-range", "2", "--quiet"), env=env
        )
        # Kill at a random moment after this run committed its first batch.
        while process.poll() is None and checkpoint_of(engine) == start:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.4))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        reached = checkpoint_of(engine)
        if reached is not None and reached < ledger.head():
            partial.append(reached)
    finished = subprocess.run(ledger_app("backfill", "--quiet"), env=env, timeout=120, check=False)

    assert finished.returncode == 0
    assert kills >= 3
    assert len(set(partial)) >= 2, f"no kill landed mid-backfill: {partial}"
    indexer = make_indexer()
    block = indexer.store.checkpoint().block_number
    assert block == ledger.head()
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(schema.events)).scalar_one()
    assert stored == chain_logs(ledger, indexer) == indexer.store.checkpoint().events_total
    assert mismatches(indexer, artifacts, block) == []
    fresh = make_engine(f"sqlite:///{tmp_path}/fresh.db")
    migrate.upgrade(fresh)
    index_to_head(make_indexer(engine=fresh))
    assert digest(engine, 31337) == digest(fresh, 31337)


def test_second_indexer_exits_with_clear_message(ledger, anvil, database_url, tmp_path):
    env = service_env(ledger, anvil, database_url, tmp_path)
    first = subprocess.Popen(ledger_app("index", "--quiet", "--poll", "0.1"), env=env)
    try:
        deadline = time.monotonic() + 30
        lock_ready = False
        engine = make_engine(database_url)
        while time.monotonic() < deadline and not lock_ready:
            time.sleep(0.2)
            try:
                with engine.connect() as conn:
                    lock_ready = conn.execute(select(schema.checkpoint)).first() is not None
            except Exception:
                continue
        engine.dispose()
        assert lock_ready, "the first indexer never wrote a checkpoint"

        second = subprocess.run(
            ledger_app("backfill", "--quiet"), env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)

    assert second.returncode == 1
    assert "another indexer" in second.stderr
    assert "IndexerLockedError" in second.stderr


def wait_for_checkpoint(engine, block: int, process, timeout: float = 60) -> int | None:
    """Until the checkpoint reaches ``block`` (or the process exits); the checkpoint."""
    deadline = time.monotonic() + timeout
    reached = None
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OperationalError):  # the database may be away
            reached = checkpoint_of(engine)
        if reached is not None and reached >= block:
            break
        time.sleep(0.1)
    return reached


def test_index_survives_node_stopped_and_restarted(ledger, anvil, database_url, engine, tmp_path):
    ledger.list_token(b"CNY")
    env = service_env(ledger, anvil, database_url, tmp_path)
    process = subprocess.Popen(ledger_app("index", "--quiet", "--poll", "0.1"), env=env)
    try:
        assert wait_for_checkpoint(engine, ledger.head(), process) == ledger.head()
        anvil.stop()  # SIGTERM: anvil saves its chain and comes back with it
        time.sleep(4)
        anvil.start()
        ledger.register()
        ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, 5)

        reached = wait_for_checkpoint(engine, ledger.head(), process)

        assert process.poll() is None, "ledger-app index exited while the node was away"
        assert reached == ledger.head()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_index_survives_postgresql_stopped_and_restarted(ledger, anvil, postgres, tmp_path):
    database_url = postgres.create_database()
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    env = service_env(ledger, anvil, database_url, tmp_path)
    process = subprocess.Popen(ledger_app("index", "--quiet", "--poll", "0.1"), env=env)
    try:
        assert wait_for_checkpoint(engine, ledger.head(), process) == ledger.head()
        postgres.stop_server()
        ledger.list_token(b"CNY")  # blocks to index while the database is away
        ledger.register()
        time.sleep(3)
        postgres.start_server()
        engine.dispose()  # its pooled connections died with the server

        reached = wait_for_checkpoint(engine, ledger.head(), process)

        assert process.poll() is None, "ledger-app index exited while the database was away"
        assert reached == ledger.head()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        engine.dispose()
