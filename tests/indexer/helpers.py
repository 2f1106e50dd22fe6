"""Assertions the indexer tests share."""

from __future__ import annotations

from ledger_app.audit.reconcile import reconcile
from ledger_app.chain.decode import KINDS
from ledger_app.indexer.runner import Indexer


def index_to_head(indexer: Indexer) -> int:
    """Run the indexer until it has caught up; returns the checkpoint block."""
    indexer.run(follow=False)
    checkpoint = indexer.store.checkpoint()
    assert checkpoint is not None
    return checkpoint.block_number


def mismatches(indexer: Indexer, artifacts, block: int) -> list[str]:
    """Every difference between the index and the chain at ``block``, as text."""
    abis = {k: artifacts[k].abi for k in KINDS}
    found = reconcile(indexer.store.engine, indexer.rpc, abis, indexer.contracts, block)
    return [str(m) for m in found]
