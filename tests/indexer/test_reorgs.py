"""Reorganisations made with anvil's own methods: the index follows the new chain exactly."""

from __future__ import annotations

import pytest
from helpers import index_to_head, mismatches
from sqlalchemy import func, select

from ledger_app.indexer import schema
from ledger_app.indexer.errors import ReorgTooDeepError
from ledger_app.indexer.reconcile import digest


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


def test_reorg_deeper_than_window_stops_loudly(ledger, make_indexer, engine):
    active_receivable(ledger)
    indexer = make_indexer(reorg_window=3)
    snapshot = ledger.rpc("evm_snapshot", [])
    for amount in range(1, 7):
        ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, amount)
    index_to_head(indexer)
    before = digest(engine, 31337)

    ledger.rpc("evm_revert", [snapshot])
    for _ in range(8):
        ledger.rpc("evm_mine", [])

    with pytest.raises(ReorgTooDeepError, match="deeper than the reorg window"):
        index_to_head(indexer)
    assert digest(engine, 31337) == before  # nothing was guessed or half-undone
