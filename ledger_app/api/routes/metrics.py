"""GET /metrics: Prometheus text: requests, indexer head / indexed / lag, sender queues."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from ledger_app.api.index_state import indexed_block
from ledger_app.errors import ChainError

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Counters and gauges in the Prometheus text exposition format (no key needed)."""
    runtime = request.app.state.runtime
    try:
        head: int | None = request.app.state.chain.block_number()
        indexed: int | None = indexed_block(
            request.app.state.engine, request.app.state.chain.chain_id()
        )
    except ChainError:
        head = indexed = None
    queued = sum(runtime.sender.queue_depths().values()) if runtime else None
    gauges = {
        "ledger_chain_head_block": ("Latest block of the node.", head),
        "ledger_indexed_block": ("Last block in the index.", indexed),
        "ledger_indexer_lag_blocks": (
            "Blocks the index is behind the node.",
            None if head is None or indexed is None else max(0, head - indexed),
        ),
        "ledger_indexer_running": (
            "1 while the embedded indexer runs.",
            None if runtime is None or runtime.indexer is None else float(runtime.indexer.alive),
        ),
        "ledger_sender_queued_transactions": ("Writes waiting in the sender queues.", queued),
    }
    return PlainTextResponse(
        request.app.state.metrics.render(gauges), media_type="text/plain; version=0.0.4"
    )
