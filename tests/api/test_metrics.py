"""/metrics with prometheus_client: the request and write histograms of a running API
counted right, a separate `ledger-app index` serving its own lag on LEDGER_METRICS_PORT,
and PROMETHEUS_MULTIPROC_DIR mode summing two real processes' samples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from apikit import Service, free_tcp_port
from prometheus_client.parser import text_string_to_metric_families

from ledger_app import PROJECT_ROOT
from ledger_app.metrics import HTTP_BUCKETS, WRITE_BUCKETS

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition text, keyed by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent: a series not yet seen counts nothing)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def buckets(samples: Samples, name: str, **labels: str) -> dict[str, float]:
    """``le`` -> cumulative count of a histogram's series."""
    return {
        dict(key)["le"]: value
        for (metric, key), value in samples.items()
        if metric == f"{name}_bucket" and {k: v for k, v in key if k != "le"} == labels
    }


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def test_metrics_count_requests_and_a_write_in_histograms(service: Service) -> None:
    url = f"{service.base_url}/metrics"
    before = scrape(url)

    for _ in range(3):
        assert service.call("auditor", "GET", "/v1/participants").status_code == 200
    assert service.call("auditor", "GET", "/v1/receivables/999999999").status_code == 404
    service.register()
    after = scrape(url)

    read = {"method": "GET", "operation": "participants.list", "status_class": "2xx"}
    name = "ledger_http_request_duration_seconds"
    assert sample(after, f"{name}_count", **read) - sample(before, f"{name}_count", **read) == 3
    grown = buckets(after, name, **read)
    assert sorted(float(le) for le in grown) == [*HTTP_BUCKETS, float("inf")]
    counts = list(grown.values())
    assert counts == sorted(counts), "cumulative buckets never decrease"
    assert grown["+Inf"] == sample(after, f"{name}_count", **read)
    assert sample(after, f"{name}_sum", **read) > sample(before, f"{name}_sum", **read)
    missing = {"method": "GET", "operation": "receivables.show", "status_class": "4xx"}
    assert (
        sample(after, f"{name}_count", **missing) - sample(before, f"{name}_count", **missing) == 1
    )
    total = {"method": "GET", "operation": "participants.list", "status": "200"}
    assert (
        sample(after, "ledger_http_requests_total", **total)
        - sample(before, "ledger_http_requests_total", **total)
        == 3
    )

    write = {"operation": "receivables.register", "outcome": "done"}
    name = "ledger_write_duration_seconds"
    assert sample(after, f"{name}_count", **write) - sample(before, f"{name}_count", **write) == 1
    assert sorted(float(le) for le in buckets(after, name, **write)) == [
        *WRITE_BUCKETS,
        float("inf"),
    ]
    assert sample(after, f"{name}_sum", **write) > 0
    posted = {"method": "POST", "operation": "receivables.register", "status_class": "2xx"}
    http = "ledger_http_request_duration_seconds_count"
    assert sample(after, http, **posted) - sample(before, http, **posted) == 1

    # Nothing waits in the sender once the write is answered; the chain view is read.
    assert ("ledger_sender_queue_depth", frozenset()) in after
    assert sample(after, "ledger_sender_queue_depth") == 0
    head = sample(after, "ledger_chain_head_block")
    assert head >= sample(after, "ledger_indexed_block") > 0
    assert sample(after, "ledger_indexer_running") == 1
    assert sample(after, "ledger_indexer_active") == 1
    assert ("ledger_indexer_lag_blocks", frozenset()) in after


def test_index_process_serves_its_lag_on_the_metrics_port(service: Service, tmp_path: Path) -> None:
    port = free_tcp_port()
    settings = service.settings
    env = {
        **os.environ,
        "LEDGER_RPC_URL": settings.rpc_url,
        "LEDGER_MANAGED_NODE": "false",
        "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/index.db",
        "LEDGER_DEPLOYMENT_FILE": str(settings.deployment_file),
        "LEDGER_ARTIFACTS_FILE": str(settings.artifacts_file),
        "LEDGER_METRICS_PORT": str(port),
        "LEDGER_INDEXER_POLL_INTERVAL": "0.1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger_app.cli", "index", "--quiet"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        head = service.client.block_number()
        deadline = time.monotonic() + 60
        samples: Samples = {}
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            try:
                samples = scrape(f"http://127.0.0.1:{port}/metrics")
            except httpx.TransportError:
                samples = {}
            if sample(samples, "ledger_indexer_indexed_block") >= head:
                break
            time.sleep(0.2)
        assert sample(samples, "ledger_indexer_indexed_block") >= head, samples
        assert sample(samples, "ledger_indexer_head_block") >= head
        assert sample(samples, "ledger_indexer_active") == 1
        assert sample(samples, "ledger_indexer_last_step_timestamp_seconds") > time.time() - 60
        lag = sample(samples, "ledger_indexer_head_block") - sample(
            samples, "ledger_indexer_indexed_block"
        )
        assert sample(samples, "ledger_indexer_lag_blocks") == lag
        # No API in that process: none of its series.
        assert not any(name.startswith("ledger_http_") for name, _ in samples)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


RECORDER = textwrap.dedent(
    """
    import sys
    from ledger_app import metrics

    requests, queued, lag = (int(a) for a in sys.argv[1:4])
    for _ in range(requests):
        metrics.observe_request("GET", "participants.list", 200, 0.02)
    metrics.observe_write("receivables.register", "done", 1.5)
    metrics.sender_queue_depth(queued)
    metrics.indexer_stepped(100, 100 - lag, caught_up=lag == 0)
    if sys.argv[4] == "serve":
        print(metrics.serve(0), flush=True)
        sys.stdin.read()  # until the test closes it
    """
)


def test_multiprocess_mode_aggregates_two_processes(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    cwd = PROJECT_ROOT

    # The first process records and exits; the second records, then serves everything.
    subprocess.run([sys.executable, "-c", RECORDER, "2", "3", "7", "exit"],
                   env=env, cwd=cwd, check=True, timeout=60)  # fmt: skip
    serving = subprocess.Popen([sys.executable, "-c", RECORDER, "5", "4", "2", "serve"],
                               env=env, cwd=cwd, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        port = int(serving.stdout.readline())  # type: ignore[union-attr]
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        serving.stdin.close()  # type: ignore[union-attr]
        serving.wait(timeout=30)

    read = {"method": "GET", "operation": "participants.list", "status_class": "2xx"}
    assert sample(samples, "ledger_http_request_duration_seconds_count", **read) == 7
    assert sample(samples, "ledger_http_request_duration_seconds_sum", **read) == pytest.approx(
        0.14
    )
    assert sample(samples, "ledger_http_request_duration_seconds_bucket", le="0.025", **read) == 7
    assert sample(samples, "ledger_http_request_duration_seconds_bucket", le="0.01", **read) == 0
    total = {"method": "GET", "operation": "participants.list", "status": "200"}
    assert sample(samples, "ledger_http_requests_total", **total) == 7
    write = {"operation": "receivables.register", "outcome": "done"}
    assert sample(samples, "ledger_write_duration_seconds_count", **write) == 2
    # Queue depth per live process: the exited one's left with it.
    depths = {dict(k).get("pid"): v for (n, k), v in samples.items()
              if n == "ledger_sender_queue_depth"}  # fmt: skip
    assert depths == {str(serving.pid): 4}
    # The indexer's gauges: the highest of the live processes.
    assert sample(samples, "ledger_indexer_lag_blocks") == 2
