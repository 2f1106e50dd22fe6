"""GET /metrics: Prometheus text: this process's series (or, with PROMETHEUS_MULTIPROC_DIR,
every process's of the host), then the chain head and index read at the scrape."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ledger_app import metrics as process_metrics
from ledger_app.api.metrics import ChainView

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Counters, histograms and gauges in the Prometheus text exposition format (no key
    needed); README "Metrics" lists them."""
    body = process_metrics.render(extra=[ChainView(request.app.state)])
    return Response(body, media_type=process_metrics.CONTENT_TYPE)
