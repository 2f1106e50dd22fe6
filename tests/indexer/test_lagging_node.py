"""A node behind the index (issue 22): after a failover the node in use can be lower than
the index's checkpoint. With LEDGER_BLOCK_TAG=finalized what is indexed is final, so the
indexer waits for that node, neither rolling back nor skipping, and goes on from its
checkpoint once the node has caught up; a node that comes back with other blocks is
still followed by the reorg code. The node here is anvil behind a proxy that answers as
Besu on QBFT (no 'finalized' tag: the indexer falls back to head - confirmations) and
hides the blocks above a height: a node still syncing."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import index_to_head, mismatches
from test_reorgs import active_receivable, fresh_digest, holder_of

from ledger_app.audit.reconcile import digest
from ledger_app.indexer.runner import IndexerConfig

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
from besu_proxy import BesuProxy

FINAL = IndexerConfig(poll_interval=0.05, initial_range=4, block_tag="finalized")


class LaggingProxy(BesuProxy):
    """A Besu-like node that has synced only up to ``synced`` (None: all of it)."""

    synced: int | None = None

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """Besu's answer, as a node that has no block above ``synced`` yet."""
        answer = super().answer(request)
        synced, method = self.synced, request.get("method")
        if synced is None or "result" not in answer:
            return answer
        if method == "eth_blockNumber":
            answer["result"] = hex(min(int(answer["result"], 16), synced))
        elif method == "eth_getBlockByNumber" and answer["result"] is not None:
            if int(answer["result"]["number"], 16) > synced:
                answer["result"] = None
        elif method == "eth_getLogs":
            answer["result"] = [e for e in answer["result"] if int(e["blockNumber"], 16) <= synced]
        return answer


@pytest.fixture
def lagging(anvil):
    proxy = LaggingProxy(anvil.rpc_url).start()
    yield proxy
    proxy.close()


def test_a_node_behind_the_final_index_is_waited_for_never_rolled_back(
    ledger, make_indexer, artifacts, engine, tmp_path, lagging, caplog
):
    caplog.set_level(logging.INFO, logger="ledger_app.indexer")
    rid = active_receivable(ledger)
    indexer = make_indexer(rpc_url=lagging.url, config=FINAL)
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["supplier2"].address)
    for amount in range(1, 4):
        ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, amount)
    indexed = index_to_head(indexer)
    events = indexer.store.checkpoint().events_total

    lagging.synced = indexed - 3  # failed over to a node three blocks behind
    result = indexer.step()

    assert result.caught_up
    assert indexer.store.checkpoint().block_number == indexed
    assert indexer.store.checkpoint().events_total == events
    assert indexer.lagging == f"the node's head {indexed - 3} is below the indexed block {indexed}"
    assert indexer.diverged is None
    assert "rolling back" not in caplog.text
    assert "no 'finalized' block" in caplog.text  # Besu QBFT: head - confirmations

    ledger.send("supplier2", "receivables", "transfer", rid, ledger.accounts["financier"].address)
    lagging.synced = None  # caught up, and one block further
    block = index_to_head(indexer)

    assert block == ledger.head() == indexed + 1
    assert indexer.lagging is None
    assert holder_of(engine, rid) == ledger.accounts["financier"].address.lower()
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, ledger)


def test_a_node_that_comes_back_with_other_blocks_is_still_followed_by_the_reorg_code(
    ledger, make_indexer, artifacts, engine, tmp_path, lagging, caplog
):
    rid = active_receivable(ledger)
    indexer = make_indexer(rpc_url=lagging.url, config=FINAL)
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["supplier2"].address)
    indexed = index_to_head(indexer)

    ledger.rpc("evm_revert", [snapshot])  # the new node has other blocks at those heights
    ledger.send("supplier", "receivables", "transfer", rid, ledger.accounts["financier"].address)
    ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, 7)
    with caplog.at_level(logging.WARNING, logger="ledger_app.indexer"):
        block = index_to_head(indexer)

    assert block == ledger.head() > indexed
    assert "rolling back to block" in caplog.text
    assert holder_of(engine, rid) == ledger.accounts["financier"].address.lower()
    assert mismatches(indexer, artifacts, block) == []
    assert digest(engine, 31337) == fresh_digest(make_indexer, tmp_path, ledger)
