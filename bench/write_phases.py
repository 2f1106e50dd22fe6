"""Where one API write's time goes (issue 24): a per-phase breakdown of single
registrations and of a 1,000-row batch, measured by timing wrappers put around the
service's own functions in this process (the service runs in a thread here, as in
bench/api_bench.py). Not part of `make bench`: a tool for reading, never a limit.

    .venv/bin/python -m bench.write_phases [singles]

Phases nest: ``writer._follow`` holds ``runtime.wait_indexed``; ``sender.process`` (the
sender's thread) holds prepare, sign, journal, send and wait_mined; ``indexer.step``
(the indexer's thread) overlaps the writer's wait. Per request: calls and total ms.
"""

from __future__ import annotations

import collections
import functools
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import api_bench
from ledger_app.api import access, runtime
from ledger_app.api.services import journal, writes
from ledger_app.api.services import receivables as receivable_service
from ledger_app.chain import sender, sending
from ledger_app.indexer import monitoring, runner

TIMES: dict[str, list[float]] = collections.defaultdict(list)
_GUARD = threading.Lock()


def _timed(owner: Any, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with _GUARD:
                TIMES[label].append(time.perf_counter() - started)

    setattr(owner, name, timed)


def _instrument() -> None:
    service = receivable_service.ReceivableService
    for owner, name, label in (
        (access, "authenticate", "auth: key, participant, recovery"),
        (service, "check_all", "precheck (index reads)"),
        (service, "register", "ReceivableService.register"),
        (service, "register_batch", "ReceivableService.register_batch"),
        (writes.Writer, "_record", "journal: INSERT QUEUED"),
        (writes.Writer, "_update", "journal: UPDATE MINED"),
        (writes.Writer, "_follow", "writer._follow (receipt + index wait)"),
        (runtime.Runtime, "wait_indexed", "runtime.wait_indexed"),
        (sending.ChainSending, "prepare", "chain: prepare (estimate, nonce, block)"),
        (sending.ChainSending, "execution_gases", "chain: simulate the chunks"),
        (sending.ChainSending, "send_raw_transaction", "chain: eth_sendRawTransaction"),
        (sender, "signed_bytes", "sign"),
        (sender._Worker, "_wait_mined", "chain: receipt polls"),
        (sender._Worker, "_process", "sender.process (its thread)"),
        (runner.Indexer, "step", "indexer.step (its thread)"),
        (monitoring.RuleRunner, "run", "indexer: monitoring rule run"),
    ):
        _timed(owner, name, label)
    original = journal.journal_signed

    def journal_signed(engine: Any) -> Any:
        record = original(engine)

        def timed(*args: Any) -> None:
            started = time.perf_counter()
            try:
                record(*args)
            finally:
                with _GUARD:
                    TIMES["journal: UPDATE SIGNED (before the send)"].append(
                        time.perf_counter() - started
                    )

        return timed

    runtime.journal_signed = journal_signed


def _report(title: str, requests: int) -> None:
    print(f"== {title} (per request, {requests} requests)")
    for label, values in sorted(TIMES.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {label:44s} calls {len(values) / requests:7.2f}   "
              f"ms {1000 * sum(values) / requests:8.2f}")  # fmt: skip
    TIMES.clear()


def main() -> None:
    """Single registrations, then one 1,000-row batch, each with its breakdown."""
    singles = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    _instrument()
    with tempfile.TemporaryDirectory() as work, api_bench.Api(Path(work)).serving() as api:
        api_bench.write_single(api, 10)
        TIMES.clear()
        with api.http("core") as http:
            for _ in range(singles):
                body = api.registration()
                started = time.perf_counter()
                http.post("/v1/receivables", json=body).raise_for_status()
                TIMES["client: POST /v1/receivables"].append(time.perf_counter() - started)
        _report("single registration", singles)
        raw = api_bench.raw_single(api, singles)
        print(f"raw pre-signed register: {1000 / raw:.2f} ms each ({raw:.1f}/s)")
        TIMES.clear()
        rate = api_bench.write_batch(api, 1000, 1)
        print(f"batch of 1,000: {rate:.1f} receivables/s")
        _report("batch of 1,000 rows", 1)
        ceiling = api_bench.raw_batch(api, 150, 7)
        print(f"raw registerBatch(150): {ceiling:.1f} receivables/s")


if __name__ == "__main__":
    main()
