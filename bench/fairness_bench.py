"""One tenant's burst of writes against another tenant's reads (issue 17, fairness).

Tenant A (``core``) sends ``writes`` registrations at once while tenant B (``auditor``)
reads ``GET /v1/receivables`` one after the other; B's read latencies (ms) are the
figure. A's answers are counted by status: with the per-participant cap on writes in
flight, the excess is answered 429 at once instead of holding a worker thread.

    python -m bench.fairness_bench [--writes 100]

prints B's read p50/p95 at rest and under A's burst (``make bench`` and ``bench-quick``
report it as ``fairness_read_p95``, against the p95 at rest). The service runs in a process of
its own (as ``ledger-app run`` does, with its server configuration), so the clients'
threads do not compete with it for one interpreter. Nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.api_bench import Api, percentile
from ledger_app.settings import Settings

PACE = 0.05  # seconds between B's reads
READERS = 50


def reads_at_rest(api: Api, samples: int) -> list[float]:
    """ms of B's reads with nothing else going on."""
    with api.http("auditor") as reader:
        return [_timed_read(reader) for _ in range(samples)]


def reads_under_burst(api: Api, writes: int) -> tuple[list[float], Counter[int]]:
    """ms of B's reads while A's ``writes`` registrations are in flight, and A's answers
    by status."""
    bodies = [api.registration() for _ in range(writes)]
    statuses: Counter[int] = Counter()
    done = threading.Event()
    counting = threading.Lock()

    def write(body: dict[str, Any]) -> None:
        with api.http("core") as writer:
            status = writer.post("/v1/receivables", json=body).status_code
        with counting:
            statuses[status] += 1

    def burst() -> None:
        with ThreadPoolExecutor(writes) as pool:
            list(pool.map(write, bodies))
        done.set()

    burster = threading.Thread(target=burst, daemon=True)
    burster.start()
    # B reads at a steady pace (one every PACE s, each on its own connection) for as long
    # as the burst lasts: how many reads fall in the burst does not depend on how slow
    # each one is.
    with ThreadPoolExecutor(READERS) as readers:
        pending = []
        while not done.is_set() or len(pending) < 20:
            pending.append(readers.submit(_read_once, api))
            time.sleep(PACE)
        latencies = [f.result() for f in pending]
    burster.join()
    return latencies, statuses


def _read_once(api: Api) -> float:
    with api.http("auditor") as reader:
        return _timed_read(reader)


def _timed_read(reader: Any) -> float:
    started = time.perf_counter()
    reader.get("/v1/receivables", params={"limit": 10}).raise_for_status()
    return (time.perf_counter() - started) * 1000


class SeparateApi(Api):
    """``Api`` with the service in a child process."""

    @contextmanager
    def serving(self) -> Iterator[SeparateApi]:
        process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(self.settings,), daemon=True
        )
        process.start()
        self.base_url = f"http://127.0.0.1:{self.settings.port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    httpx.get(f"{self.base_url}/health", timeout=5)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or not process.is_alive():
                        raise RuntimeError("the API did not start") from None
                    time.sleep(0.1)
            for name, roles in (("core", ["CORE_ENTERPRISE"]), ("supplier", ["SUPPLIER"]),
                                ("bank", ["SETTLEMENT_BANK"]), ("auditor", ["AUDITOR"])):  # fmt: skip
                self.onboard(name, roles)
            with self.http("operator") as http:
                http.post("/v1/currencies", json={"currency": "CNY", "decimals": 2,
                                                  "issuer": self.addresses["bank"]}).raise_for_status()  # fmt: skip
            yield self
        finally:
            process.terminate()
            process.join(timeout=30)
            self.node.stop()


def _serve(settings: Settings) -> None:
    import uvicorn

    from ledger_app.api.app import create_app
    from ledger_app.api.server import server_config

    config = server_config(create_app(settings), settings, "127.0.0.1", settings.port)
    config.log_level = "warning"
    uvicorn.Server(config).run()


def measure(work: Path, writes: int) -> tuple[list[float], list[float], Counter[int]]:
    """B's read latencies (ms) at rest and under A's burst of ``writes``, and A's answers
    by status, against a service of its own under ``work``."""
    with SeparateApi(work).serving() as api:
        rest = reads_at_rest(api, 50)
        under, statuses = reads_under_burst(api, writes)
    return rest, under, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fairness-"))
    try:
        rest, under, statuses = measure(work, args.writes)
        print(f"B's reads at rest: p50 {percentile(rest, 50):.1f} ms, "
              f"p95 {percentile(rest, 95):.1f} ms ({len(rest)} reads)")  # fmt: skip
        print(f"B's reads under A's {args.writes} concurrent writes: "
              f"p50 {percentile(under, 50):.1f} ms, p95 {percentile(under, 95):.1f} ms, "
              f"max {max(under):.1f} ms ({len(under)} reads)")  # fmt: skip
        print(f"A's answers by status: {dict(sorted(statuses.items()))}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
