"""Reorganisations made with anvil's own methods, and a node restarted from an older state:
the index follows the new chain exactly, beyond the undo window too (by a rebuild)."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest
from helpers import index_to_head, mismatches
from sqlalchemy import func, select

from ledger_app.audit.reconcile import digest
from ledger_app.db import schema
from ledger_app.db.locks import WriterLock
from ledger_app.indexer.background import BackgroundIndexer


def holder_of(engine, receivable_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(
            select(schema.receivables.c.holder).where(schema.receivables.c.id == receivable_id)
        ).scalar_one()


def events_named(engine, name: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(schema.events)
            .where(schema.events.c.event_name == name)
        ).scalar_one()


def fresh_digest(make_indexer, tmp_path, ledger) -> str:
    """Digest of a brand-new index of the same chain, built from scratch."""
    from ledger_app.db import migrate
    from ledger_app.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/fresh-{ledger.head()}.db")
    migrate.upgrade(engine)
    index_to_head(make_indexer(engine=engine))
    return digest(engine, 31337)


def active_receivable(ledger) -> int:
    ledger.list_token(b"CNY")
    rid = ledger.register()
    ledger.send("supplier", "receivables", "confirm", rid)
    return rid


def test_one_block_reorg_changing_a_value(ledger, make_indexer, artifacts, engine, tmp_path):
    rid = active_receivable(ledger)
    indexer = make_indexer()
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["supplier2"].address)
    index_to_head(indexer)
    assert holder_of(engine, rid) == ledger.accounts["supplier2"].address.lower()

    ledger.rpc("evm_revert", [snapshot])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["financier"].address)
    block = index_to_head(indexer)

    assert holder_of(engine, rid) == ledger.accounts["financier"].address.lower()
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, ledger)


def test_reorg_removing_an_event(ledger, make_indexer, artifacts, engine, tmp_path):
    rid = active_receivable(ledger)
    indexer = make_indexer()
    ledger.send("regulator", "receivables", "freeze", rid)
    index_to_head(indexer)
    assert events_named(engine, "ReceivableFrozen") == 1

    ledger.rpc("anvil_rollback", [1])
    ledger.rpc("evm_mine", [])  # same height, another (empty) block
    block = index_to_head(indexer)

    assert events_named(engine, "ReceivableFrozen") == 0
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, ledger)


def test_several_reorgs_in_a_row(ledger, make_indexer, artifacts, engine, tmp_path):
    rid = active_receivable(ledger)
    indexer = make_indexer()
    index_to_head(indexer)
    targets = ["supplier2", "financier", "financier2"]
    for round_, target in enumerate(targets):
        snapshot = ledger.rpc("evm_snapshot", [])
        ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts[target].address)
        ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, 100 + round_)
        index_to_head(indexer)
        ledger.rpc("evm_revert", [snapshot])
        # anvil_reorg: the last block replaced by an empty one, and one more block.
        ledger.send("bank", "cny", "mint", ledger.accounts["supplier"].address, 7)
        ledger.rpc("anvil_reorg", [1, []])
        ledger.rpc("evm_mine", [])
        block = index_to_head(indexer)
        assert mismatches(indexer, artifacts, block) == []

    assert holder_of(engine, rid) == ledger.accounts["supplier"].address.lower()
    assert events_named(engine, "ReceivableTransferred") == 0
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, ledger)


def test_reorg_while_indexer_stopped(ledger, make_indexer, artifacts, engine, tmp_path):
    rid = active_receivable(ledger)
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["supplier2"].address)
    ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, 500)
    index_to_head(make_indexer())

    ledger.rpc("evm_revert", [snapshot])
    ledger.send("supplier", "receivables", "reject", ledger.register())
    block = index_to_head(make_indexer())  # a new process, as after a restart

    assert holder_of(engine, rid) == ledger.accounts["supplier"].address.lower()
    assert mismatches(indexer := make_indexer(), artifacts, block) == []
    assert (
        indexer.store.checkpoint().block_hash == ledger.client.get_block(block)["hash"].to_0x_hex()
    )
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, ledger)


def test_reorg_deeper_than_window_rebuilds_the_index(
    ledger, make_indexer, artifacts, engine, tmp_path, caplog
):
    rid = active_receivable(ledger)
    indexer = make_indexer(reorg_window=3)
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["supplier2"].address)
    for amount in range(1, 7):
        ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, amount)
    indexed = index_to_head(indexer)

    ledger.rpc("evm_revert", [snapshot])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["financier"].address)
    for _ in range(8):  # other blocks at every indexed height, and beyond
        ledger.rpc("evm_mine", [])
    with caplog.at_level(logging.WARNING, logger="ledger_app.indexer"):
        block = index_to_head(indexer)

    assert block == ledger.head() > indexed
    assert "building it again from deployment block" in caplog.text
    assert holder_of(engine, rid) == ledger.accounts["financier"].address.lower()
    assert events_named(engine, "ReceivableTransferred") == 1
    assert events_named(engine, "Transfer") == 0  # the old chain's mints are gone
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, ledger)


@pytest.mark.parametrize(
    ("window", "logged"),
    [(16, "rolling back to block"), (2, "building it again from deployment block")],
    ids=["within-undo-window", "beyond-undo-window"],
)
def test_node_lower_than_checkpoint_is_indexed_to_its_head(
    ledger, make_indexer, artifacts, engine, tmp_path, caplog, window, logged
):
    rid = active_receivable(ledger)
    indexer = make_indexer(reorg_window=window)
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["supplier2"].address)
    for amount in range(1, 5):
        ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, amount)
    indexed = index_to_head(indexer)

    ledger.rpc("evm_revert", [snapshot])  # the same blocks up to the (lower) head
    with caplog.at_level(logging.WARNING, logger="ledger_app.indexer"):
        block = index_to_head(indexer)

    assert block == ledger.head() < indexed
    assert logged in caplog.text
    assert holder_of(engine, rid) == ledger.accounts["supplier"].address.lower()
    assert indexer.diverged is None
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, ledger)


def test_background_indexer_follows_a_node_restarted_from_an_older_state(
    anvil, ledger, make_indexer, artifacts, engine, tmp_path
):
    rid = active_receivable(ledger)
    indexer = make_indexer(reorg_window=4)
    background = BackgroundIndexer(indexer, WriterLock(engine, 31337), poll_interval=0.05)
    background.start()
    try:
        assert background.wait_for(ledger.head(), timeout=30) is not None
        anvil.stop()  # SIGTERM: anvil saves this state; the next start loads it
        anvil.start()
        ledger.send("supplier", "receivables", "transfer", rid,
                    ledger.accounts["supplier2"].address)  # fmt: skip
        for amount in range(1, 7):
            ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, amount)
        before_crash = ledger.head()
        assert background.wait_for(before_crash, timeout=30) is not None

        os.killpg(anvil.pid, signal.SIGKILL)  # nothing saved: it comes back older
        anvil.stop()
        anvil.start()
        assert ledger.head() < before_crash
        ledger.send("supplier", "receivables", "transfer", rid,
                    ledger.accounts["financier"].address)  # fmt: skip
        for _ in range(8):  # other blocks at the heights indexed before the crash
            ledger.rpc("evm_mine", [])
        head = ledger.head()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            checkpoint = indexer.store.checkpoint()
            if checkpoint is not None and checkpoint.block_number == head:
                break
            time.sleep(0.05)

        assert background.alive, background.error
        assert indexer.store.checkpoint().block_hash == ledger.client.block_hash(head)
        assert background.indexed_to == head
    finally:
        background.stop()
    assert holder_of(engine, rid) == ledger.accounts["financier"].address.lower()
    assert mismatches(indexer, artifacts, head) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, ledger)


def test_blocks_swapped_while_their_logs_are_read_are_read_again(
    ledger, make_indexer, artifacts, engine
):
    # A log query says nothing of a block without our logs: if the node swaps its blocks
    # between the query and the headers (restarted from an older state, then mined
    # others: what the chaos suite's node kills do), an empty answer from the old blocks
    # must not be committed under the new blocks' hashes.
    active_receivable(ledger)
    indexer = make_indexer()
    index_to_head(indexer)
    registered = events_named(engine, "ReceivableRegistered")
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.rpc("evm_mine", [])  # the old chain's next block: empty
    real_get_logs, swapped = indexer.rpc.get_logs, []

    def get_logs_then_swap(start, end, addresses):
        logs = real_get_logs(start, end, addresses)
        if not swapped:
            swapped.append(True)
            ledger.rpc("evm_revert", [snapshot])
            ledger.register()  # the new chain's block at the same height has a receivable
        return logs

    indexer.rpc.get_logs = get_logs_then_swap
    block = index_to_head(indexer)

    assert swapped
    assert events_named(engine, "ReceivableRegistered") == registered + 1
    assert mismatches(indexer, artifacts, block) == []


def party_rows(engine) -> list[tuple]:
    """The index's event_parties, in key order."""
    p = schema.event_parties
    with engine.connect() as conn:
        columns = ("chain_id", "tx_hash", "log_index", "party", "block_number", "receivable_id")
        rows = conn.execute(select(*(p.c[name] for name in columns))).all()
    return sorted(tuple(row) for row in rows)


def fresh_party_rows(make_indexer, tmp_path, ledger) -> list[tuple]:
    """event_parties of a brand-new index of the same chain, built from scratch."""
    from ledger_app.db import migrate
    from ledger_app.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/fresh-parties-{ledger.head()}.db")
    migrate.upgrade(engine)
    index_to_head(make_indexer(engine=engine))
    return party_rows(engine)


def sees(engine, who: str, receivable_id: int) -> bool:
    """Whether ``who`` may read the receivable, by the API's own filter."""
    from ledger_app.api.identity import Caller
    from ledger_app.api.services.receivables import visible_to

    caller = Caller(address=who, api_key_id="k", roles=frozenset(), standing="ACTIVE")
    r = schema.receivables
    with engine.connect() as conn:
        found = conn.execute(select(r.c.id).where(r.c.id == receivable_id, visible_to(caller)))
        return found.first() is not None


@pytest.mark.parametrize(
    ("window", "logged"),
    [(16, "rolling back to block"), (2, "building it again from deployment block")],
    ids=["rollback", "rebuild"],
)
def test_a_party_named_only_in_a_dropped_block_loses_the_receivable(
    ledger, make_indexer, engine, tmp_path, caplog, window, logged
):
    rid = active_receivable(ledger)
    indexer = make_indexer(reorg_window=window)
    index_to_head(indexer)
    snapshot = ledger.rpc("evm_snapshot", [])
    supplier2 = ledger.accounts["supplier2"].address
    ledger.send("supplier", "receivables", "transfer", rid, supplier2)
    ledger.send("supplier2", "receivables", "transfer", rid, ledger.accounts["financier"].address)
    for amount in range(1, 5):  # the fork point falls below a window of 2
        ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, amount)
    index_to_head(indexer)
    # supplier2 holds nothing now: only the two transfers name it, a past holder.
    assert holder_of(engine, rid) == ledger.accounts["financier"].address.lower()
    assert sees(engine, supplier2, rid)
    assert supplier2.lower() in {row[3] for row in party_rows(engine)}

    ledger.rpc("evm_revert", [snapshot])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["financier"].address)
    for _ in range(8):  # other blocks at every height indexed before, and beyond
        ledger.rpc("evm_mine", [])
    with caplog.at_level(logging.WARNING, logger="ledger_app.indexer"):
        index_to_head(indexer)

    assert logged in caplog.text
    assert holder_of(engine, rid) == ledger.accounts["financier"].address.lower()
    assert not sees(engine, supplier2, rid)
    assert sees(engine, ledger.accounts["supplier"].address, rid)  # the creditor still does
    rows = party_rows(engine)
    assert supplier2.lower() not in {row[3] for row in rows}
    assert rows
    assert rows == fresh_party_rows(make_indexer, tmp_path, ledger)
