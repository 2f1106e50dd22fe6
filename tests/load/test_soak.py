"""Soak: 50 concurrent clients across roles against `ledger-app run`, over loopback HTTP.

``LEDGER_SOAK_SECONDS`` long (60 in ``make test``, 600 in ``make soak``). The clients:

- 26 supply chains, each a core enterprise, a supplier, a second-tier supplier and a
  financier: register, confirm, split, transfer the smaller part upstream, request
  financing of the larger, offer, accept, and read the result back;
- 4 settlement-bank desks minting CNY to the financiers;
- 10 auditors: traces, the receivables report, a transaction's events, a participant's
  activity;
- 10 participants reading their own receivables, financings and balances.

Then: no 5xx and no request without an answer; every accepted write on chain and in the
index exactly once (workload.verify_writes); reconcile clean; and the resident memory
of the API process and of anvil flat once warm (see ``_flat``).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from service_stack import Stack, running_stack
from workload import Client, Recorder, mint_amount, offer_terms, registration, verify_writes

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("LEDGER_SOAK_SECONDS", "60"))
CHAINS, MINTERS, AUDITORS, READERS = 26, 4, 10, 10
CORES, SUPPLIERS, FINANCIERS = 6, 12, 4
CAST = {
    **{f"core{i}": ["CORE_ENTERPRISE"] for i in range(CORES)},
    **{f"supplier{i}": ["SUPPLIER"] for i in range(SUPPLIERS)},
    **{f"financier{i}": ["FINANCIER"] for i in range(FINANCIERS)},
    "bank": ["SETTLEMENT_BANK"],
    "auditor": ["AUDITOR"],
}
#: Memory: the share of the run treated as warm-up, and the windows compared after it.
WARM_UP, WINDOW = 0.3, 0.2
ANVIL_PER_BLOCK = 32 * 2**10  # bytes of anvil's RSS allowed per block mined (see _flat)
LONG_RUN = 300  # seconds: a soak at least this long holds anvil to the per-block allowance


class Known:
    """Receivables, financings and transactions the clients made, for the readers."""

    def __init__(self) -> None:
        self.receivables: list[tuple[str, int]] = []  # (a party, id)
        self.financings: list[tuple[str, int]] = []
        self.transactions: list[str] = []
        self._lock = threading.Lock()

    def add(self, kind: str, item: Any) -> None:
        with self._lock:
            getattr(self, kind).append(item)

    def any(self, kind: str, rng: random.Random) -> Any:
        with self._lock:
            items = getattr(self, kind)
            return rng.choice(items[-200:]) if items else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A write waits for the index up to 30 s before answering 202: a loaded machine should
    # not turn a slow index into 202s that a chain of writes cannot continue from.
    with running_stack(tmp_path_factory.mktemp("soak"), CAST,
                       env={"LEDGER_WRITE_INDEX_WAIT": "30"}) as stack:  # fmt: skip
        yield stack


def test_soak_fifty_clients_lose_nothing_and_memory_stays_flat(stack: Stack) -> None:
    recorder, known = Recorder(), Known()
    setup = Client(stack, recorder)
    for i in range(FINANCIERS):
        response = setup.write("mint", "bank", "/v1/tokens/CNY/mint",
                               {"to": stack.service.addresses[f"financier{i}"],
                                "amount": str(mint_amount() * 10**3)})  # fmt: skip
        assert response is not None
        assert response.status_code == 200, response.text
        for c in range(CORES):  # each financier funds every core's receivables, within a line
            stack.service.credit_line(f"financier{i}", f"core{c}")
    setup.close()
    stop = threading.Event()
    workers = [
        *(_Worker(stack, recorder, known, stop, i, _chain) for i in range(CHAINS)),
        *(_Worker(stack, recorder, known, stop, i, _minter) for i in range(MINTERS)),
        *(_Worker(stack, recorder, known, stop, i, _auditor) for i in range(AUDITORS)),
        *(_Worker(stack, recorder, known, stop, i, _reader) for i in range(READERS)),
    ]
    processes = {"api": psutil.Process(stack.api.pid), "anvil": psutil.Process(stack.node.pid)}
    samples: list[tuple[float, dict[str, int]]] = []
    started = time.monotonic()
    for worker in workers:
        worker.start()
    while time.monotonic() - started < SECONDS:
        sample = {n: p.memory_info().rss for n, p in processes.items()}
        sample["block"] = stack.service.client.block_number()
        samples.append((time.monotonic() - started, sample))
        time.sleep(min(2.0, SECONDS / 60))
    stop.set()
    for worker in workers:
        worker.join(timeout=300)
    elapsed = time.monotonic() - started
    attempts = recorder.snapshot()
    verdict = verify_writes(stack, attempts)
    summary = recorder.summary()
    memory = {name: _flat(samples, name) for name in processes}
    report = {"seconds": round(elapsed, 1), "clients": len(workers), **summary,
              "memory_mb": memory, "chain_logs": verdict.chain_logs,
              "checked": {"invoices": verdict.checked_invoices, "mints": verdict.checked_mints,
                          "offers": verdict.checked_offers}}  # fmt: skip
    _publish(report, stack.tmp)

    assert not any(w.is_alive() for w in workers), "a client is still running"
    assert [w.error for w in workers if w.error] == []
    failed = [(a.kind, a.status, a.detail) for a in attempts if a.status is None or a.status >= 500]
    assert failed == [], f"{len(failed)} requests failed: {failed[:10]}"
    refused = [
        (a.kind, a.status, a.detail) for a in attempts if a.status is not None and a.status >= 400
    ]
    assert refused == [], f"{len(refused)} requests refused: {refused[:10]}"
    assert verdict.problems == []
    assert summary["writes_accepted"] >= CHAINS  # every chain got at least its registration in
    assert verdict.checked_invoices > 0
    assert verdict.checked_mints > 0
    assert [m for m in memory.values() if not m["flat"]] == [], memory


def _flat(samples: list[tuple[float, dict[str, int]]], name: str) -> dict[str, Any]:
    """Median RSS of the first window after warm-up against the last window.

    Tolerance: 20% + 25 MB. A steady Python service's RSS still steps up now and then as
    the allocator takes a new arena or a cache (SQLAlchemy's compiled statements, pydantic
    validators) fills on a path first used late; a leak grows in proportion to the work
    and over a soak of minutes exceeds any constant margin (the 10-minute soak measured
    the API at 176.5 -> 179.7 MB). anvil keeps every block, with its transactions and
    receipts, in memory by design (its state file is a dump of it), so its RSS grows with
    the chain: it gets ANVIL_PER_BLOCK more per block mined between the windows, about
    twice the ~14 KiB a block the 10-minute soak measured, which a leak in the service's
    use of it (filters never uninstalled, subscriptions) would still exceed.
    """
    total = samples[-1][0] if samples else 0.0
    first = [s for t, s in samples if total * WARM_UP <= t < total * (WARM_UP + WINDOW)]
    last = [s for t, s in samples if t >= total * (1 - WINDOW)]

    def median(window: list[dict[str, int]], key: str) -> int:
        return sorted(s[key] for s in window)[len(window) // 2] if window else 0

    start, end = median(first, name), median(last, name)
    blocks = median(last, "block") - median(first, "block")
    mb = 2**20
    limit = start * 1.2 + 25 * mb
    if name == "anvil":
        limit += ANVIL_PER_BLOCK * max(0, blocks)
        if total < LONG_RUN:
            # Its first few hundred blocks cost anvil ~128 KiB each (measured: 56.9 ->
            # 115.9 MB over 471 blocks in a 1-minute run), not yet the ~14 KiB of a
            # long run: a short soak checks only that it does not run away.
            limit = start * 2.5 + 25 * mb
    return {
        "start": round(start / mb, 1),
        "end": round(end / mb, 1),
        "peak": round(max((s[name] for _, s in samples), default=0) / mb, 1),
        "blocks_between": blocks,
        "flat": bool(first and last) and end <= limit,
    }


def _publish(report: dict[str, Any], tmp: Path) -> None:
    text = json.dumps(report, indent=2)
    print("\nsoak report:\n" + text)
    (tmp / "soak-report.json").write_text(text)
    target = os.environ.get("LEDGER_SOAK_REPORT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(text + "\n")


class _Worker(threading.Thread):
    def __init__(self, stack: Stack, recorder: Recorder, known: Known, stop: threading.Event,
                 index: int, role: Any) -> None:  # fmt: skip
        super().__init__(name=f"{role.__name__[1:]}-{index}", daemon=True)
        self.client = Client(stack, recorder)
        self.stack, self.known, self.stop, self.index, self.role = stack, known, stop, index, role
        self.rng = random.Random(index * 7919 + hash(role.__name__) % 1000)
        self.error: str | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.role(self)
        except Exception as exc:  # reported by the test
            self.error = f"{self.name}: {type(exc).__name__}: {exc}"
        finally:
            self.client.close()


def _ok(response: Any, what: str) -> dict[str, Any]:
    if response is None or response.status_code >= 300:
        raise _Broken(f"{what}: {None if response is None else response.status_code}")
    return response.json()


class _Broken(Exception):
    """A step did not succeed; the chain of writes stops here (the request is recorded)."""


def _chain(w: _Worker) -> None:
    """One receivable through its life: register .. accept, reads along the way."""
    i, c, s = w.index, w.client, w.stack.service
    core, supplier = f"core{i % CORES}", f"supplier{i % SUPPLIERS}"
    upstream, financier = f"supplier{(i + 1) % SUPPLIERS}", f"financier{i % FINANCIERS}"
    body, number = registration(w.stack, supplier, f"soak-{i}")
    try:
        registered = _ok(c.write("register", core, "/v1/receivables", body, key=number,
                                 idempotency_key=f"reg-{number}"), "register")  # fmt: skip
        rid = registered["result"]["id"]
        w.known.add("receivables", (core, rid))
        w.known.add("transactions", registered["transaction"]["hash"])
        _ok(c.write("confirm", supplier, f"/v1/receivables/{rid}/confirm"), "confirm")
        split = _ok(c.write("split", supplier, f"/v1/receivables/{rid}/split",
                            {"amounts": ["60000000", "40000000"]}), "split")  # fmt: skip
        larger, smaller = [r["id"] for r in split["result"] if r["id"] != rid]
        w.known.add("receivables", (supplier, larger))
        _ok(c.read("show", supplier, f"/v1/receivables/{larger}"), "show")
        _ok(c.write("transfer", supplier, f"/v1/receivables/{smaller}/transfer",
                    {"to": s.addresses[upstream]}), "transfer")  # fmt: skip
        requested = _ok(c.write("request", supplier, "/v1/financings",
                                {"receivable_id": larger, "financier": s.addresses[financier]}),
                        "request")  # fmt: skip
        fid = requested["result"]["id"]
        w.known.add("financings", (supplier, fid))
        _ok(c.write("offer", financier, f"/v1/financings/{fid}/offers", offer_terms(),
                    key=str(fid), idempotency_key=f"offer-{fid}"), "offer")  # fmt: skip
        accepted = _ok(c.write("accept", supplier, f"/v1/financings/{fid}/offers/0/accept"),
                       "accept")  # fmt: skip
        w.known.add("transactions", accepted["transaction"]["hash"])
        _ok(c.read("financing", supplier, f"/v1/financings/{fid}"), "financing")
    except _Broken:
        time.sleep(1)  # recorded; the test fails on it. Do not hammer a broken service.


def _minter(w: _Worker) -> None:
    amount = mint_amount()
    to = w.stack.service.addresses[f"financier{w.rng.randrange(FINANCIERS)}"]
    w.client.write("mint", "bank", "/v1/tokens/CNY/mint", {"to": to, "amount": str(amount)},
                   key=str(amount))  # fmt: skip
    w.stop.wait(w.rng.uniform(0.5, 1.5))


def _auditor(w: _Worker) -> None:
    c, rng = w.client, w.rng
    choice = rng.randrange(4)
    known = w.known.any("receivables", rng)
    tx = w.known.any("transactions", rng)
    if choice == 0 and known:
        c.read("trace", "auditor", f"/v1/receivables/{known[1]}/trace")
    elif choice == 1:
        c.read("audit-report", "auditor", "/v1/audit/receivables", status="ACTIVE", limit=50)
    elif choice == 2 and tx:
        c.read("audit-tx", "auditor", f"/v1/audit/transactions/{tx}")
    else:
        address = w.stack.service.addresses[f"supplier{rng.randrange(SUPPLIERS)}"]
        c.read("audit-events", "auditor", f"/v1/audit/participants/{address}/events", limit=50)
    w.stop.wait(rng.uniform(0.1, 0.5))


def _reader(w: _Worker) -> None:
    c, rng, s = w.client, w.rng, w.stack.service
    choice = rng.randrange(4)
    who = f"supplier{rng.randrange(SUPPLIERS)}" if choice < 2 else f"core{rng.randrange(CORES)}"
    if choice == 0:
        c.read("list", who, "/v1/receivables", status="ACTIVE", limit=50)
    elif choice == 1:
        c.read("financings", who, "/v1/financings", limit=50)
    elif choice == 2 and (known := w.known.any("receivables", rng)):
        c.read("show", known[0], f"/v1/receivables/{known[1]}")
    else:
        c.read("balances", who, f"/v1/balances/{s.addresses[who]}")
    w.stop.wait(rng.uniform(0.1, 0.5))
