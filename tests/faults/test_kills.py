"""SIGKILL: the indexer during a backfill and at the head (while writes arrive).

The service runs as `ledger-app run` next to a separate `ledger-app index` (the
API-replica set-up), so the indexer can be killed while the API keeps taking writes
(the embedded `ledger-app run` killed whole is in test_outages.py). Clients keep
writing through all of it. Afterwards, with no hand restart
beyond starting the killed process again: every accepted write is on chain and in the
index exactly once, and reconcile reports nothing (workload.verify_writes).
(tests/indexer/test_process.py kills a bare `ledger-app backfill` on a ledger built
without the API; this suite kills the service's own processes under HTTP traffic.)
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from service_stack import Stack, running_stack
from workload import Recorder, Writers, report, verify_writes

pytestmark = pytest.mark.slow

CAST = {
    "core": ["CORE_ENTERPRISE"],
    "supplier": ["SUPPLIER"],
    "financier": ["FINANCIER"],
    "bank": ["SETTLEMENT_BANK"],
    "auditor": ["AUDITOR"],
}
BACKFILL_KILLS, HEAD_KILLS = 12, 8


@pytest.fixture
def separate(tmp_path) -> Iterator[Stack]:
    # Writes answer 202 after 1 s without an index; 3 blocks per log query, so that a
    # backfill is many small commits to die between.
    env = {
        "LEDGER_WRITE_INDEX_WAIT": "1",
        "LEDGER_INDEXER_INITIAL_RANGE": "3",
        "LEDGER_INDEXER_MAX_RANGE": "3",
    }
    with running_stack(tmp_path, CAST, separate_indexer=True, env=env) as stack:
        yield stack


def test_indexer_killed_during_backfill_and_at_head_loses_and_duplicates_nothing(
    separate: Stack,
) -> None:
    stack, recorder, rng = separate, Recorder(), random.Random(10)
    indexer = stack.indexer
    assert indexer is not None
    indexer.kill()
    with Writers(stack, recorder, run="backfill") as writers:
        for _ in range(4):  # writes spread over many blocks, most of them empty
            writers.wait_accepted(4)
            stack.service.client.web3.provider.make_request("anvil_mine", [hex(100)])
    partial: list[int] = []
    for _ in range(BACKFILL_KILLS):
        start = stack.indexed_block()
        indexer.start()
        while indexer.alive and stack.indexed_block() == start:
            time.sleep(0.01)  # until this run has committed its first batch
        time.sleep(rng.uniform(0, 0.3))
        indexer.kill()
        reached = stack.indexed_block()
        if reached < stack.service.client.block_number():
            partial.append(reached)
    backfill_kills = indexer.kills - 1
    with Writers(stack, recorder, run="head") as writers:
        for _ in range(HEAD_KILLS):
            indexer.start()
            time.sleep(rng.uniform(0.5, 2.5))  # booting, catching up, or following the head
            indexer.kill()
        indexer.start()
        writers.wait_accepted(4)
    verdict = verify_writes(stack, recorder.snapshot())
    report("indexer-kill", verdict, recorder.snapshot(), backfill_kills=backfill_kills,
           head_kills=HEAD_KILLS, partial_checkpoints=len(set(partial)))  # fmt: skip

    assert writers.errors == []
    assert len(set(partial)) >= BACKFILL_KILLS - 2, f"kills not mid-backfill: {partial}"
    assert indexer.kills >= 1 + BACKFILL_KILLS + HEAD_KILLS
    assert verdict.problems == []
    assert verdict.accepted >= 20
    assert verdict.checked_invoices > 0
    assert verdict.checked_mints > 0
