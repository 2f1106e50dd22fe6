"""The read-ahead (indexer/reader.py): far behind the head a helper process reads the next
range while a batch is written. What it reads must index exactly what reading in the
indexer's own process does; a helper that dies, or a chain that changes under a read
made ahead, costs a read again and nothing else; no helper outlives the backfill."""

from __future__ import annotations

import contextlib
import os
import select as io_select
import signal
import subprocess
import time
from pathlib import Path

from helpers import index_to_head, mismatches
from sqlalchemy import func, select
from test_bulk_mode import fresh_digest, history
from test_process import chain_logs, ledger_app, service_env

from ledger_app.audit.reconcile import digest
from ledger_app.db import schema
from ledger_app.indexer.reader import ReadAhead
from ledger_app.indexer.runner import IndexerConfig

WINDOW = 4  # blocks: most of a small chain is far behind the head
# Many steps, many reads ahead, and a helper however few events are left.
NARROW = IndexerConfig(initial_range=2, max_range=2, read_ahead_min_events=0)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: reaped by its parent's wait(), it is gone from /proc.
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:\tZ") for line in status)
    except FileNotFoundError:
        return False


def stored_events(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.events)).scalar_one()


def step_until_reading_ahead(indexer) -> int:
    """Step until the helper is up (it has answered) and has one read asked of it, the
    next range's; its pid."""
    for _ in range(200):
        indexer.step()
        ahead = indexer._ahead
        if ahead is not None and ahead._answered and len(ahead._asked) == 1:
            return ahead._process.pid
    raise AssertionError("no read ahead was asked for")


def test_a_backfill_read_ahead_indexes_what_one_read_in_process_does(
    ledger, make_indexer, engine, artifacts, tmp_path
):
    head = history(ledger, rounds=8)
    indexer = make_indexer(reorg_window=WINDOW, config=NARROW)
    pid = step_until_reading_ahead(indexer)
    taken = []
    take = indexer._ahead.take

    def counted(*args, **kwargs):
        read = take(*args, **kwargs)
        taken.append(read is not None)
        return read

    indexer._ahead.take = counted
    indexer.run(follow=False)

    assert taken
    assert all(taken), taken  # every step after the first read ahead was used
    assert not alive(pid)  # caught up: the helper is stopped
    assert indexer._ahead is None
    assert indexer.helper_peak_rss_kb > 0
    block = indexer.store.checkpoint().block_number
    assert block == head
    assert stored_events(engine) == chain_logs(ledger, indexer)
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, "fresh")


def test_a_helper_killed_mid_backfill_costs_a_read_in_process_and_nothing_else(
    ledger, make_indexer, engine, artifacts, tmp_path
):
    head = history(ledger, rounds=8)
    indexer = make_indexer(reorg_window=WINDOW, config=NARROW)
    pid = step_until_reading_ahead(indexer)
    os.kill(pid, signal.SIGKILL)

    block = index_to_head(indexer)

    assert block == head
    assert stored_events(engine) == chain_logs(ledger, indexer)
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, "fresh")
    assert not alive(pid)


def test_a_chain_replaced_under_a_read_ahead_is_indexed_as_the_node_has_it_now(
    ledger, make_indexer, engine, artifacts, tmp_path, caplog
):
    """The helper has read blocks that the node then throws away and mines again
    differently (a node restarted from an older state): the index ends up as the new
    chain, every block of it, nothing of the old one."""
    history(ledger, rounds=8)
    snapshot, forked_at = ledger.rpc("evm_snapshot", []), ledger.head()
    rid = ledger.register()
    ledger.send("supplier", "receivables", "confirm", rid)
    for _ in range(6):
        ledger.register_batch(5)
        ledger.rpc("anvil_mine", [hex(2)])
    indexer = make_indexer(reorg_window=WINDOW, config=NARROW)
    while True:  # until the read ahead is of blocks the revert replaces
        step_until_reading_ahead(indexer)
        if indexer._ahead._asked[0][0] > forked_at + 1:
            break
    # The helper has answered: its read is old now.
    assert io_select.select([indexer._ahead._process.stdout], [], [], 30)[0]

    ledger.rpc("evm_revert", [snapshot])
    other = ledger.register()
    for _ in range(8):
        ledger.register_batch(4)
        ledger.rpc("anvil_mine", [hex(3)])
    block = index_to_head(indexer)

    # Found as any replaced block is: the stale read's parent was the checkpoint, so it
    # went in, and the next range's parent did not match it.
    assert any("chain changed" in r.getMessage() for r in caplog.records)
    assert block == ledger.head()
    with engine.connect() as conn:
        ids = set(conn.execute(select(schema.receivables.c.id)).scalars())
    assert other in ids
    assert stored_events(engine) == chain_logs(ledger, indexer)
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, "fresh")


def helpers_of(pid: int) -> list[int]:
    """The read-ahead helpers among ``pid``'s children."""
    found = []
    for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                                check=False).stdout.split():  # fmt: skip
        with contextlib.suppress(FileNotFoundError):
            if b"ledger_app.indexer.reader" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def test_a_backfill_killed_takes_its_helper_with_it_and_a_rerun_finishes(
    ledger, anvil, make_indexer, database_url, engine, artifacts, tmp_path
):
    history(ledger, rounds=10)
    env = service_env(ledger, anvil, database_url, tmp_path)
    env["LEDGER_INDEXER_READ_AHEAD_MIN_EVENTS"] = "0"  # a small chain: start it anyway
    window = ["--reorg-window", str(WINDOW)]
    process = subprocess.Popen(
        ledger_app("backfill", "--range", "1", "--max-range", "1", "--quiet", *window), env=env
    )
    helpers: list[int] = []
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline and not helpers:
        helpers = helpers_of(process.pid)
        time.sleep(0.01)
    assert helpers, "the backfill started no read-ahead helper"
    process.send_signal(signal.SIGKILL)
    process.wait()

    # Its stdin ends with the indexer: it exits at once, or after the read in hand.
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in helpers)
    finished = subprocess.run(
        ledger_app("backfill", "--quiet", *window), env=env, timeout=120, check=False
    )
    assert finished.returncode == 0
    indexer = make_indexer(reorg_window=WINDOW)
    block = indexer.store.checkpoint().block_number
    assert block == ledger.head()
    assert stored_events(engine) == chain_logs(ledger, indexer)
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, "fresh")


def test_a_backfill_of_few_events_starts_no_helper(ledger, make_indexer, engine, artifacts):
    """Far behind in blocks but with few events left (the default threshold, 50,000, at
    the density seen): the step reads its ranges itself; a process's start-up would cost
    more than it saves."""
    head = history(ledger, rounds=8)
    indexer = make_indexer(reorg_window=WINDOW, config=IndexerConfig(initial_range=2, max_range=2))
    indexer.run(follow=False)

    assert indexer.helper_peak_rss_kb == 0  # no helper ever ran
    assert indexer.store.checkpoint().block_number == head
    assert mismatches(indexer, artifacts, head) == []


def test_a_helper_found_dead_with_a_stale_answer_is_not_replaced(ledger, make_indexer):
    """The helper dies while an answer nobody will take is still due: the next request
    finds the pipe ended, turns the read-ahead off for this backfill, and starts no other
    helper in its place."""
    indexer = make_indexer(reorg_window=WINDOW, config=NARROW)
    ahead = ReadAhead(indexer.rpc, indexer.decoder, indexer.contracts, 5_000)
    first = ledger.deployment_block
    ahead.submit(first, first + 1, {})
    pid = ahead._process.pid
    os.kill(pid, signal.SIGKILL)
    ahead._process.wait()

    ahead.submit(first + 2, first + 3, {})  # the answer for `first` is stale now

    assert ahead.failed
    assert ahead._process is None
    assert ahead.take(first + 2, {}, first + 3) is None
    ahead.close()
