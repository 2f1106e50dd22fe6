"""Prometheus metrics of every ledger process, with the maintained ``prometheus_client``.

What each process records (names are the Prometheus series):

- API (``ledger-app run`` / ``api``): ``ledger_http_requests_total`` and the histogram
  ``ledger_http_request_duration_seconds`` by operation and status class; the histogram
  ``ledger_write_duration_seconds`` of a write from its start to its answer (``done``
  once the index holds it, ``indexing``, ``pending``, ...) by operation;
  ``ledger_sender_queue_depth`` (transactions waiting in this process's sender queues);
  ``ledger_chain_rewound_total`` (nonce gaps found: the node had lost transactions this
  process sent).
- Indexer (embedded in ``run``, or ``ledger-app index``): ``ledger_indexer_lag_blocks``,
  ``ledger_indexer_lag_seconds`` (0 at the head; else seconds since it last was),
  ``ledger_indexer_head_block``, ``ledger_indexer_indexed_block``,
  ``ledger_indexer_last_step_timestamp_seconds`` (a stalled writer shows here),
  ``ledger_indexer_active`` (1 in the process holding the writer lock).

Two ways to run, both documented in the README ("Metrics"):

- **one registry per process** (the default): every process serves its own metrics, the
  API at ``/metrics``, a process without HTTP (``index``, ``keeper``) on
  ``LEDGER_METRICS_PORT`` (``serve``); Prometheus scrapes each process.
- **several processes of one host sharing a directory**: with ``PROMETHEUS_MULTIPROC_DIR``
  set (before the process starts; prometheus_client reads it at import) every process
  writes its samples to memory-mapped files there, and whichever process is scraped
  answers for all of them (counters and histograms summed; the queue depth per ``pid``;
  the indexer's gauges as the highest of the live processes). The directory must be
  emptied when the host's processes are (re)started, never while they run.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

import prometheus_client
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# ``_created`` series double every counter and histogram for no use here.
prometheus_client.disable_created_metrics()

#: Seconds: a read answers in milliseconds; a write waits for a block and the index.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WRITE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)

HTTP_REQUESTS = Counter(
    "ledger_http_requests",
    "HTTP requests answered, by operation and status.",
    ["method", "operation", "status"],
)
HTTP_DURATION = Histogram(
    "ledger_http_request_duration_seconds",
    "Seconds from a request's arrival to its answer, by operation and status class (2xx...).",
    ["method", "operation", "status_class"],
    buckets=HTTP_BUCKETS,
)
WRITE_DURATION = Histogram(
    "ledger_write_duration_seconds",
    "Seconds from a write's start to its answer, by operation and outcome (done: mined "
    "and indexed; indexing: mined, index slower; pending: sent, not yet mined; "
    "awaiting_signature; reverted; refused).",
    ["operation", "outcome"],
    buckets=WRITE_BUCKETS,
)
SENDER_QUEUE_DEPTH = Gauge(
    "ledger_sender_queue_depth",
    "Transactions waiting in this process's sender queues (all sender addresses).",
    multiprocess_mode="liveall",
)
CHAIN_REWOUND = Counter(
    "ledger_chain_rewound",
    "The node lost transactions this process sent (restarted from an older state): found "
    "by the sender as a nonce gap when signing (detected_by=sender, ChainRewound answered) "
    "or by the journal's watch (detected_by=journal); the journal sends them again.",
    ["detected_by"],
)

_indexer_lock = threading.Lock()
_indexer_gauges: dict[str, Gauge] = {}
_caught_up_at: float | None = None
_started_at = time.time()


def _indexer(name: str) -> Gauge:
    # Created at the first step, so that a process without an indexer (an API replica)
    # does not report a lag of 0 it knows nothing about.
    with _indexer_lock:
        if not _indexer_gauges:
            for key, help_text in INDEXER_GAUGES.items():
                _indexer_gauges[key] = Gauge(key, help_text, multiprocess_mode="livemax")
        return _indexer_gauges[name]


INDEXER_GAUGES = {
    "ledger_indexer_head_block": "The node's head at the indexer's last step.",
    "ledger_indexer_indexed_block": "The last block the indexer committed.",
    "ledger_indexer_lag_blocks": "Blocks the index is behind the node's head.",
    "ledger_indexer_lag_seconds": (
        "0 while the index is at the head; else seconds since it last was (since the "
        "process started if never)."
    ),
    "ledger_indexer_last_step_timestamp_seconds": "Unix time of the indexer's last step.",
    "ledger_indexer_active": "1 in the process that holds the index writer lock.",
}


# --- recording ------------------------------------------------------------------------


def observe_request(method: str, operation: str | None, status: int, seconds: float) -> None:
    """Count one answered HTTP request and its duration."""
    name = operation or "other"
    HTTP_REQUESTS.labels(method, name, str(status)).inc()
    HTTP_DURATION.labels(method, name, f"{status // 100}xx").observe(max(0.0, seconds))


def observe_write(operation: str, outcome: str, seconds: float) -> None:
    """One write's duration from its start to its answer, by how it ended."""
    WRITE_DURATION.labels(operation, outcome).observe(max(0.0, seconds))


def sender_queue_depth(depth: int) -> None:
    """The transactions now waiting in this process's sender queues."""
    SENDER_QUEUE_DEPTH.set(depth)


def chain_rewound(detected_by: str) -> None:
    """The node lost transactions this process sent: ``sender`` (a nonce gap at signing)
    or ``journal`` (a journaled transaction's block gone)."""
    CHAIN_REWOUND.labels(detected_by).inc()


def indexer_stepped(head: int, indexed: int, caught_up: bool) -> None:
    """The indexer finished a step: the node's head and the last block it committed."""
    global _caught_up_at
    now = time.time()
    if caught_up:
        _caught_up_at = now
    since = _caught_up_at if _caught_up_at is not None else _started_at
    _indexer("ledger_indexer_head_block").set(head)
    _indexer("ledger_indexer_indexed_block").set(indexed)
    _indexer("ledger_indexer_lag_blocks").set(max(0, head - indexed))
    _indexer("ledger_indexer_lag_seconds").set(0.0 if caught_up else now - since)
    _indexer("ledger_indexer_last_step_timestamp_seconds").set(now)


def indexer_active(active: bool) -> None:
    """This process took (True) or let go of (False) the index writer lock."""
    _indexer("ledger_indexer_active").set(1 if active else 0)


# --- exposing ---------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    """The shared directory of multi-process mode, or None (one registry per process)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def registry(directory: str | None = None) -> CollectorRegistry:
    """What a scrape of this process answers: its own registry, or in multi-process mode
    (``directory``, default PROMETHEUS_MULTIPROC_DIR) every live and past process's
    samples in that directory."""
    directory = directory or multiprocess_dir()
    if directory is None:
        return REGISTRY
    shared = CollectorRegistry()
    multiprocess.MultiProcessCollector(shared, path=directory)
    return shared


def render(extra: Iterable[Any] = (), directory: str | None = None) -> bytes:
    """The exposition text of ``registry(directory)`` followed by ``extra`` collectors'
    (gauges computed at the scrape, such as the API's view of the chain and the index)."""
    text = generate_latest(registry(directory))
    if extra:
        scrape = CollectorRegistry(auto_describe=False)
        for collector in extra:
            scrape.register(collector)
        text += generate_latest(scrape)
    return text


def serve(port: int, host: str = "127.0.0.1") -> int:
    """Serve this process's metrics over HTTP (``/metrics``) on ``port`` (0: a free one), in
    a daemon thread; the port taken. For processes without the API: ``index``, ``keeper``."""
    server, _thread = prometheus_client.start_http_server(port, addr=host, registry=registry())
    return int(server.server_address[1])


CONTENT_TYPE = CONTENT_TYPE_LATEST


def _mark_dead() -> None:
    # Live gauges (queue depth, the indexer's) of an exited process leave the aggregate.
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), directory)


atexit.register(_mark_dead)
