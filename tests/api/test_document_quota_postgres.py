"""The document quota holds against one participant's simultaneous uploads on PostgreSQL.

SQLite serialises writers, so there two uploads at once cannot both pass the quota. On
PostgreSQL (READ COMMITTED) two transactions each counting the participant's bytes
before the other's row is in would both pass: the service takes a per-participant
advisory lock around the count and the insert. Run here against a real cluster
(tests/indexer/pgcluster.py), through the service class the upload route calls.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from ledger_app.api.identity import Caller
from ledger_app.api.services.documents import DocumentService
from ledger_app.db import migrate
from ledger_app.db.engine import make_engine
from ledger_app.errors import PayloadTooLarge
from ledger_app.signing.document_key import DocumentKey, DocumentKeys
from ledger_app.signing.sealed_documents import SealedDocuments

sys.path.append(str(Path(__file__).parents[1] / "indexer"))
from pgcluster import PostgresCluster, running_cluster

QUOTA = 1000
ROUNDS = 12


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with running_cluster() as started:
        yield started


def test_simultaneous_uploads_cannot_both_pass_the_quota(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    engine = make_engine(cluster.create_database(), pool_size=8)
    migrate.upgrade(engine)
    runtime = SimpleNamespace(
        engine=engine,
        settings=SimpleNamespace(document_quota_bytes=QUOTA),
        documents=SealedDocuments(tmp_path / "documents", DocumentKeys(DocumentKey.generate())),
    )  # fmt: skip
    service = DocumentService(runtime)  # type: ignore[arg-type]
    both_kept = []
    for round_ in range(ROUNDS):
        caller = Caller(address="0x" + f"{round_ + 1:040x}", api_key_id=f"k{round_}",
                        roles=frozenset(), standing="ACTIVE")  # fmt: skip
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def upload(tag: bytes, caller: Caller = caller, start=start, outcomes=outcomes) -> None:
            content = tag + os.urandom(QUOTA * 6 // 10 - 1)  # two do not fit in the quota
            start.wait()
            try:
                service.store(caller, content, "application/pdf")
            except PayloadTooLarge:
                outcomes.append("refused")
            else:
                outcomes.append("kept")

        threads = [threading.Thread(target=upload, args=(t,)) for t in (b"a", b"b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if sorted(outcomes) != ["kept", "refused"]:
            both_kept.append((round_, outcomes))
    engine.dispose()
    assert both_kept == []  # rounds where both uploads were kept, over the quota
