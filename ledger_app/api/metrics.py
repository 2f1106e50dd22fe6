"""The API's view of the chain and the index, computed at each scrape of /metrics.

The process's own series (requests, writes, sender queue, nonce gaps, the indexer's
gauges when it runs here) live in ledger_app.metrics; these few are read when asked:
the node's head and the index's last block as the API's readers see them (the same
database every replica reads), whether an embedded indexer runs, and this process's
sender queues (also kept current by every write: ``ledger_sender_queue_depth``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledger_app import metrics
from ledger_app.api.index_state import indexed_block
from ledger_app.errors import ChainError


class ChainView(Collector):
    """``ledger_chain_head_block``, ``ledger_indexed_block`` and ``ledger_indexer_running``
    of one API process at the moment of the scrape."""

    def __init__(self, app_state: Any) -> None:
        self.state = app_state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges, each left out when it cannot be known now (the node away)."""
        runtime = self.state.runtime
        try:
            head: int | None = self.state.chain.block_number()
            indexed: int | None = indexed_block(self.state.engine, self.state.chain.chain_id())
        except ChainError:
            head = indexed = None
        if runtime is not None:
            # Queue depth of this process also at the scrape, not only at each write.
            metrics.sender_queue_depth(sum(runtime.sender.queue_depths().values()))
        gauges = {
            "ledger_chain_head_block": ("Latest block of the node (read at the scrape).", head),
            "ledger_indexed_block": ("Last block in the index (read at the scrape).", indexed),
            "ledger_indexer_running": (
                "1 while this process's embedded indexer runs.",
                None
                if runtime is None or runtime.indexer is None
                else float(runtime.indexer.alive),
            ),
        }
        for name, (help_text, value) in gauges.items():
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=value)
