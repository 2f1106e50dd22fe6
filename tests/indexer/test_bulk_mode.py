"""The bulk mode of a backfill far behind the head (Store.set_bulk_mode): the unordered
indexes of ``events`` and ``event_parties`` dropped, built again at the reorg window;
a kill in the middle, a reorg right after it and the switch itself lose and duplicate
nothing, and leave every index there."""

from __future__ import annotations

import signal
import subprocess
import time

from helpers import index_to_head, mismatches
from sqlalchemy import func, select
from test_process import chain_logs, checkpoint_of, ledger_app, service_env

from ledger_app.audit.reconcile import digest
from ledger_app.db import migrate, schema
from ledger_app.db.engine import make_engine
from ledger_app.indexer.runner import IndexerConfig
from ledger_app.indexer.store import BULK_INDEXES, _missing_bulk_indexes

WINDOW = 4  # blocks: a short reorg window, so that most of a small chain is "far behind"


def missing(engine) -> list[str]:
    with engine.connect() as conn:
        return _missing_bulk_indexes(conn)


def history(ledger, rounds: int = 6) -> int:
    """Events in many blocks: a scenario, then registrations with empty blocks between."""
    ledger.scenario()
    for _ in range(rounds):
        ledger.register_batch(10)
        ledger.rpc("anvil_mine", [hex(3)])
    return ledger.head()


def fresh_digest(make_indexer, tmp_path, name: str) -> str:
    """The digest of an index of the same chain built without the bulk mode (a reorg
    window wider than the chain)."""
    engine = make_engine(f"sqlite:///{tmp_path}/{name}.db")
    migrate.upgrade(engine)
    indexer = make_indexer(engine=engine, reorg_window=100_000)
    index_to_head(indexer)
    assert missing(engine) == []
    return digest(engine, 31337)


def test_backfill_drops_the_indexes_far_behind_and_builds_them_at_the_window(
    ledger, make_indexer, engine, artifacts, tmp_path
):
    head = history(ledger)
    indexer = make_indexer(reorg_window=WINDOW, config=IndexerConfig(initial_range=2, max_range=2))
    seen: list[tuple[int, int]] = []  # (indexed_to, missing indexes) after each step

    def progress(result, _elapsed) -> None:
        seen.append((result.indexed_to, len(missing(engine))))

    indexer.run(follow=False, on_progress=progress)

    far = [n for block, n in seen if block < head - WINDOW - 2]
    near = [n for block, n in seen if block >= head - WINDOW + 1]
    assert far, seen
    assert all(n == len(BULK_INDEXES) for n in far), seen
    assert near, seen
    assert all(n == 0 for n in near), seen
    assert missing(engine) == []
    block = indexer.store.checkpoint().block_number
    assert block == head
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(schema.events)).scalar_one()
    assert stored == chain_logs(ledger, indexer) == indexer.store.checkpoint().events_total
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, "fresh")


def test_a_restart_near_the_head_builds_the_indexes_a_crash_left_dropped(
    ledger, make_indexer, engine, tmp_path
):
    head = history(ledger)
    first = make_indexer(reorg_window=WINDOW, config=IndexerConfig(initial_range=2, max_range=2))
    first.run(follow=False, until=head - 3 * WINDOW)  # stops far behind: still in bulk mode
    # ``until`` reached counts as caught up: the run built the indexes; a kill would not.
    first.store.set_bulk_mode(True)
    assert len(missing(engine)) == len(BULK_INDEXES)

    # A new process whose reorg window covers what is left: not far behind any more.
    second = make_indexer(reorg_window=10 * WINDOW)
    assert second.store.bulk_mode()  # read from the database, not remembered
    second.step()
    assert missing(engine) == []
    index_to_head(second)
    assert missing(engine) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, "fresh")


def test_sigkill_in_bulk_mode_then_restart_rebuilds_the_indexes(
    ledger, anvil, make_indexer, database_url, engine, artifacts, tmp_path
):
    history(ledger, rounds=10)
    env = service_env(ledger, anvil, database_url, tmp_path)
    window = ["--reorg-window", str(WINDOW)]
    process = subprocess.Popen(
        ledger_app("backfill", "--range", "1", "--max-range", "1", "--quiet", *window), env=env
    )
    # Kill after a few batches, while far behind the head (the indexes dropped).
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        reached = checkpoint_of(engine)
        if reached is not None and reached > ledger.deployment_block + 5:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the backfill ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = checkpoint_of(engine)
    assert killed_at is not None
    assert killed_at < ledger.head() - WINDOW
    assert len(missing(engine)) == len(BULK_INDEXES)

    finished = subprocess.run(
        ledger_app("backfill", "--quiet", *window), env=env, timeout=120, check=False
    )

    assert finished.returncode == 0
    assert missing(engine) == []
    indexer = make_indexer(reorg_window=WINDOW)
    block = indexer.store.checkpoint().block_number
    assert block == ledger.head()
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(schema.events)).scalar_one()
    assert stored == chain_logs(ledger, indexer) == indexer.store.checkpoint().events_total
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, "fresh")


def test_reorg_right_after_the_bulk_mode_ends(ledger, make_indexer, engine, artifacts, tmp_path):
    history(ledger)
    rid = ledger.register()
    ledger.send("supplier", "receivables", "confirm", rid)
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["supplier2"].address)
    ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, 500)
    indexer = make_indexer(reorg_window=WINDOW, config=IndexerConfig(initial_range=2, max_range=2))
    index_to_head(indexer)  # bulk mode far behind, then off for the last WINDOW blocks
    assert missing(engine) == []

    ledger.rpc("evm_revert", [snapshot])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["financier"].address)
    block = index_to_head(indexer)

    with engine.connect() as conn:
        holder = conn.execute(
            select(schema.receivables.c.holder).where(schema.receivables.c.id == rid)
        ).scalar_one()
    assert holder == ledger.accounts["financier"].address.lower()
    assert missing(engine) == []
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, "fresh")
