"""API replicas on PostgreSQL (issue 22): three ``ledger-app api`` processes and one
``ledger-app index`` with a standby, one anvil, WRITERS clients writing for the same
custodial participants through every replica, each request to the next replica (a write
retried with its Idempotency-Key reaches another one than its first try). Meanwhile one
replica is SIGKILLed (the load balancer then leaves it out), and later the active indexer.

The promises, checked with the crash-safety suite's checks (tests/fixtures/workload.py):

- zero nonce collisions: no two journaled transactions of one account with one nonce, and
  no transaction given up because another took its nonce;
- every write answered 2xx on chain exactly once and in the index, nothing on chain twice,
  every custodial transaction on chain accounted for, no row QUEUED/SENT and no key
  RUNNING left (the killed replica's are settled by the others);
- every Idempotency-Key answered once: each key its writer did not give up on ends with a
  final answer, and all its final answers name the same transaction;
- the standby indexer takes over (the time from the SIGKILL to the writer lock held by it,
  and to the index past the head at the kill, are printed) and the index is complete.

``make replicas`` runs it at the issue's size (50 clients, 120 s:
LEDGER_REPLICAS_WRITERS, LEDGER_REPLICAS_SECONDS).
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from replica_stack import ReplicaStack, running_replicas
from sqlalchemy import func, select
from workload import KeyedWriters, Recorder, audit_senders, print_table, verify_writes

from ledger_app.db.api_tables import transactions
from ledger_app.db.engine import make_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "indexer"))
from pgcluster import PostgresCluster

pytestmark = pytest.mark.slow

WRITERS = int(os.environ.get("LEDGER_REPLICAS_WRITERS", "12"))
SECONDS = float(os.environ.get("LEDGER_REPLICAS_SECONDS", "20"))
PATIENCE = 60.0
TAKEOVER_BOUND = 10.0  # seconds from the writer's SIGKILL to the standby writing
SETTLE_BOUND = 30.0  # seconds after the load for the killed replica's leftovers to settle
CAST = {
    **{f"core{i}": ["CORE_ENTERPRISE"] for i in range(4)},
    "supplier": ["SUPPLIER"],
    "financier": ["FINANCIER"],
    "bank": ["SETTLEMENT_BANK"],
    "auditor": ["AUDITOR"],
}
ENV = {"LEDGER_WRITE_INDEX_WAIT": "5", "LEDGER_LOG_LEVEL": "info"}


def _collisions(stack: ReplicaStack) -> list[str]:
    """Two journaled transactions of one account with one nonce, or one given up because
    another took its nonce."""
    engine = make_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            doubled = conn.execute(
                select(transactions.c.participant, transactions.c.nonce, func.count())
                .where(transactions.c.nonce.is_not(None),
                       transactions.c.status.in_(("SIGNED", "SENT", "MINED", "REVERTED")))
                .group_by(transactions.c.participant, transactions.c.nonce)
                .having(func.count() > 1)
            ).all()  # fmt: skip
            taken = conn.execute(
                select(transactions.c.id, transactions.c.error).where(
                    transactions.c.error.like("%taken by another transaction%")
                )
            ).all()
    finally:
        engine.dispose()
    return [f"{n} transactions of {who} with nonce {nonce}" for who, nonce, n in doubled] + [
        f"transaction {i}: {error}" for i, error in taken
    ]


def _takeover(stack: ReplicaStack) -> tuple[float, float]:
    """SIGKILL the writing indexer: seconds until the standby holds the writer lock, and
    until the index passes the head at the kill."""
    active = stack.active_indexer()
    assert active is not None, "no index process holds the writer lock"
    head = stack.service.client.block_number()
    killed = time.monotonic()
    active.kill()
    lock_seconds = None
    while time.monotonic() - killed < 60:
        writer = stack.active_indexer()
        if lock_seconds is None and writer is not None and writer is not active:
            lock_seconds = time.monotonic() - killed
        if lock_seconds is not None and stack.indexed_block() >= head:
            break
        time.sleep(0.05)
    assert lock_seconds is not None, "the standby never took the writer lock"
    stack.indexer = stack.active_indexer()
    return lock_seconds, time.monotonic() - killed


def test_replicas_writing_for_the_same_accounts_lose_nothing_and_collide_never(
    tmp_path: Path, cluster: PostgresCluster
) -> None:
    with running_replicas(tmp_path, cluster.create_database(), CAST, env=ENV) as stack:
        recorder = Recorder()
        writers = KeyedWriters(stack, recorder, debtors=[f"core{i}" for i in range(4)],
                               creditor="supplier", bank="bank", holder="financier",
                               threads=WRITERS, patience=PATIENCE, run="replicas")  # fmt: skip
        started = time.monotonic()
        with writers:
            time.sleep(SECONDS * 0.3)
            killed_replica = stack.replicas[2]
            stack.base_urls.remove(stack.base_urls[2])  # the load balancer drops it
            killed_replica.kill()
            time.sleep(SECONDS * 0.2)
            lock_seconds, index_seconds = _takeover(stack)
            time.sleep(max(0.0, started + SECONDS - time.monotonic()))
        elapsed = time.monotonic() - started
        assert not writers.errors, writers.errors
        attempts = recorder.snapshot()
        verdict = verify_writes(stack, attempts, index_timeout=60, refusals_off_chain=True)
        deadline = time.monotonic() + SETTLE_BOUND
        while (audit := audit_senders(stack, attempts)).problems and time.monotonic() < deadline:
            time.sleep(1.0)  # the killed replica's rows and keys, settled by the others
        collisions = _collisions(stack)
        finals: dict[str, set[tuple[int | None, str | None]]] = defaultdict(set)
        for attempt in attempts:
            if attempt.idempotency_key and attempt.final:
                finals[attempt.idempotency_key].add((attempt.status, attempt.tx_hash))
        unanswered = sorted(set(writers.writes) - writers.abandoned - set(finals))
        differing = {k: v for k, v in finals.items() if len(v) > 1}
        accepted = sum(a.accepted and not a.replayed for a in attempts)
        print_table(
            "replicas",
            {"writers": WRITERS, "seconds": round(elapsed, 1), "writes accepted": accepted,
             "accepted/s": round(accepted / elapsed, 1), "keys": len(writers.writes),
             "keys abandoned": len(writers.abandoned),
             "tries unanswered (the killed replica)": sum(a.status is None for a in attempts),
             "answers replayed (retried on another replica)": sum(a.replayed for a in attempts),
             "standby holds the writer lock after (s)": round(lock_seconds, 2),
             "index past the head at the kill after (s)": round(index_seconds, 2),
             "on chain once": verdict.once, "lost": verdict.lost,
             "duplicated": verdict.duplicated, "nonce collisions": len(collisions)},
        )  # fmt: skip
        assert not collisions, collisions
        assert not verdict.problems, verdict.problems[:20]
        assert not audit.problems, audit.problems[:20]
        assert not unanswered, f"{len(unanswered)} keys never answered: {unanswered[:10]}"
        assert not differing, f"keys answered differently: {list(differing.items())[:5]}"
        assert not writers.abandoned, f"{len(writers.abandoned)} keys abandoned"
        assert lock_seconds < TAKEOVER_BOUND, lock_seconds
        assert verdict.once > 0
        assert all(p.alive for p in stack.replicas[:2]), "a replica not killed has exited"
