"""A range answering more logs than max_batch_logs is cut at a block boundary."""

from __future__ import annotations

from sqlalchemy import func, select

from ledger_app.db import schema
from ledger_app.indexer.runner import IndexerConfig


def test_capped_batches_index_every_event_once_in_whole_blocks(make_indexer, ledger, engine):
    ledger.list_token(b"CNY")
    for _ in range(3):
        ledger.register()
    indexer = make_indexer(config=IndexerConfig(initial_range=10_000, max_batch_logs=3))

    first = indexer.step()

    assert first.indexed_to < ledger.head()  # cut: the first range held more than 3 logs
    indexer.run(follow=False)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(schema.events)).scalar_one()
        followed = [*indexer.contracts, *indexer.tokens]
        logs = indexer.rpc.get_logs(ledger.deployment_block, ledger.head(), followed)
    assert stored == indexer.store.checkpoint().events_total
    assert stored == len(logs)  # every followed log (tokens' too) stored, none twice
    assert indexer.store.checkpoint().block_number == ledger.head()
