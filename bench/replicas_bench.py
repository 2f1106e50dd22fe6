"""Registrations/s through three API replicas against one, in the same run (issue 22).

Three ``ledger-app api`` processes, one ``ledger-app index`` and a standby on a throw-away
PostgreSQL cluster and one anvil (tests/fixtures/replica_stack.py). ``clients`` threads
register receivables for the same four custodial debtors, each with an Idempotency-Key,
for ``seconds`` s a round; rounds alternate between every request to the first replica
only and requests spread over the three (each to the next), so a burst of other work on
the machine falls on both sides. The figure is the median of the rounds through three,
the limit the median through one. Then the writing indexer is SIGKILLed and the seconds
until the standby holds the writer lock, and until the index passes the head at the kill,
are measured (report only).

    python -m bench.replicas_bench [--clients 20] [--seconds 15] [--rounds 2]

Nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import noise
from ledger_app import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "fixtures"))
sys.path.insert(0, str(PROJECT_ROOT / "tests" / "indexer"))
from pgcluster import PostgresCluster
from replica_stack import ReplicaStack, running_replicas
from workload import Client, Recorder, registration

CAST = {**{f"core{i}": ["CORE_ENTERPRISE"] for i in range(4)}, "supplier": ["SUPPLIER"],
        "bank": ["SETTLEMENT_BANK"]}  # fmt: skip


def registrations_per_second(stack: ReplicaStack, urls: list[str], clients: int,
                             seconds: float, run: str) -> float:  # fmt: skip
    """Registrations answered 2xx per second, ``clients`` threads sending through ``urls``."""
    stack.base_urls[:] = urls
    recorder = Recorder()
    stop = threading.Event()
    serial = iter(range(10**9))

    def client_loop(index: int) -> None:
        client = Client(stack, recorder, timeout=60)
        try:
            while not stop.is_set():
                body, number = registration(stack, "supplier", f"{run}-{index}")
                client.write("register", f"core{index % 4}", "/v1/receivables", body,
                             key=number, idempotency_key=f"{run}-{next(serial)}")  # fmt: skip
        finally:
            client.close()

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True)
               for i in range(clients)]  # fmt: skip
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    return sum(a.accepted for a in recorder.snapshot()) / elapsed


def takeover(stack: ReplicaStack) -> tuple[float, float]:
    """SIGKILL the writing indexer: seconds until the standby holds the writer lock, and
    until the index passes the node's head at the kill."""
    active = stack.active_indexer()
    assert active is not None, "no index process holds the writer lock"
    head = stack.service.client.block_number()
    killed = time.monotonic()
    active.kill()
    lock = None
    while time.monotonic() - killed < 60:
        writer = stack.active_indexer()
        if lock is None and writer is not None and writer is not active:
            lock = time.monotonic() - killed
        if lock is not None and stack.indexed_block() >= head:
            return lock, time.monotonic() - killed
        time.sleep(0.05)
    raise AssertionError("the standby did not take over within 60 s")


def measure(work: Path, clients: int, seconds: float, rounds: int) -> dict[str, Any]:
    """The figures of the module doc."""
    cluster = PostgresCluster.start()
    try:
        with running_replicas(work, cluster.create_database(), CAST) as stack:
            urls = list(stack.base_urls)
            one, three = [], []
            for r in range(rounds):
                one.append(registrations_per_second(stack, urls[:1], clients, seconds, f"o{r}"))
                three.append(registrations_per_second(stack, urls, clients, seconds, f"t{r}"))
            lock, index = takeover(stack)
    finally:
        noise.count_cluster(cluster)
        cluster.stop()
    return {"one": statistics.median(one), "three": statistics.median(three),
            "rounds_one": [round(x, 1) for x in one], "rounds_three": [round(x, 1) for x in three],
            "takeover_lock_s": lock, "takeover_index_s": index}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    try:
        print(measure(work, args.clients, args.seconds, args.rounds))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
