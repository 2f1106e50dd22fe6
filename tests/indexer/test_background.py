"""The indexer thread of the API process: waking it with a mined block, and waiting for it,
and stopping it while the node is away."""

from __future__ import annotations

import time

from ledger_app.db.locks import WriterLock
from ledger_app.indexer.background import BackgroundIndexer


def test_wait_for_returns_once_the_woken_step_commits_the_block(make_indexer, ledger, engine):
    ledger.list_token(b"CNY")
    indexer = make_indexer()
    # A poll interval far longer than the test: only a wake makes the thread index.
    background = BackgroundIndexer(indexer, WriterLock(engine, 31337), poll_interval=600)
    background.start()
    try:
        assert background.wait_for(ledger.head(), timeout=30) is not None
        ledger.register()
        block = ledger.head()
        background.wake(block)

        indexed = background.wait_for(block, timeout=30)

        assert indexed is not None
        assert indexed >= block
        assert indexer.store.checkpoint().block_number >= block
    finally:
        background.stop()


def test_wait_for_gives_none_after_timeout_for_a_block_not_mined(make_indexer, ledger, engine):
    background = BackgroundIndexer(make_indexer(), WriterLock(engine, 31337), poll_interval=0.05)
    background.start()
    try:
        assert background.wait_for(ledger.head() + 1_000, timeout=0.3) is None
    finally:
        background.stop()


def test_hinted_step_indexes_to_the_hint_without_asking_the_head(make_indexer, ledger):
    ledger.list_token(b"CNY")
    indexer = make_indexer()
    indexer.run(follow=False)
    ledger.register()
    first = ledger.head()
    ledger.register()

    result = indexer.step(known_tip=first)

    assert result.indexed_to == first  # not the newer head
    assert indexer.step().indexed_to == ledger.head()


def test_stop_ends_the_thread_at_once_while_it_retries_a_node_that_is_gone(
    make_indexer, ledger, anvil, engine
):
    # The service's close gives the indexer what is left of its 7 s; a step retrying a
    # node that is gone (for ever, backing off up to 10 s) used to take all of it, and the
    # stop on SIGINT with the node killed ran past its 15 s bound.
    indexer = make_indexer()
    background = BackgroundIndexer(indexer, WriterLock(engine, 31337), poll_interval=0.05)
    background.start()
    try:
        assert background.wait_for(ledger.head(), timeout=30) is not None
        anvil.stop()
        deadline = time.monotonic() + 30
        while indexer.rpc.errors < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert indexer.rpc.errors >= 3, "the indexer never retried the stopped node"
    finally:
        started = time.monotonic()
        background.stop(timeout=5)
        took = time.monotonic() - started

    assert not background.alive, "the indexer thread still runs after stop()"
    assert took < 1.0, f"stop() took {took:.2f} s"
