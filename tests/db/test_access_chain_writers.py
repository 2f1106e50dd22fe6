"""The access log's chain in the database: migration 0016 chains the rows already there,
and writers appending at once, in threads or in processes, make one unbroken chain, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

from pgcluster import PostgresCluster  # on the path: tests/db/conftest.py
from sqlalchemy import Engine, text

from ledger_app.db import migrate
from ledger_app.db.access_chain import append_access_rows, chain_head, chained_rows
from ledger_app.db.engine import make_engine
from ledger_app.domain.access_chain import verify

WRITER = """
import sys, time
from datetime import UTC, datetime
from ledger_app.db.access_chain import append_access_rows
from ledger_app.db.engine import make_engine
engine = make_engine(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[4]) - time.time()))  # both start at once
for batch in range(int(sys.argv[3])):
    rows = [{"at": datetime.now(UTC), "method": "GET", "path": f"/{sys.argv[2]}/{batch}/{i}",
             "status": 200, "duration_ms": i} for i in range(4)]
    with engine.begin() as conn:
        append_access_rows(conn, rows)
"""


def request_rows(name: str, n: int) -> list[dict]:
    return [{"at": datetime.now(UTC), "method": "GET", "path": f"/{name}/{i}", "status": 200,
             "duration_ms": i} for i in range(n)]  # fmt: skip


def test_migration_chains_the_rows_already_there(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0015")
    with engine.begin() as conn:
        for i, (participant, path) in enumerate(
            [("0xab", "/v1/receivables/1"), (None, "/v1/документы"), ("0xcd", "/v1/x?y=%")]
        ):
            conn.execute(text(
                "INSERT INTO access_log (at, participant, api_key_id, method, path, operation, "
                "status, duration_ms, client, requests) VALUES (:at, :p, NULL, 'GET', :path, "
                "NULL, 200, :i, '127.0.0.1', 1)"),
                {"at": datetime(2026, 12, 1, 8, i, 7, 123456 * (i + 1) % 10**6, tzinfo=UTC),
                 "p": participant, "path": path, "i": i})  # fmt: skip

    migrate.upgrade(engine)
    with engine.begin() as conn:
        migrated = chained_rows(conn)
        head = chain_head(conn)
        append_access_rows(conn, request_rows("after", 2))
    with engine.connect() as conn:
        report = verify(chained_rows(conn), [])
    engine.dispose()

    assert [r["seq"] for r in migrated] == [1, 2, 3]
    assert verify(migrated, []).ok
    assert head == (3, migrated[-1]["row_hash"])
    assert report.ok
    assert report.rows == 5


def test_writer_threads_make_one_chain(engine: Engine) -> None:
    def write(name: str) -> None:
        for batch in range(25):
            with engine.begin() as conn:
                append_access_rows(conn, request_rows(f"{name}-{batch}", 4))

    threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        rows = chained_rows(conn)
    report = verify(rows, [])

    assert report.ok, report.as_dict()
    assert [r["seq"] for r in rows] == list(range(1, 401))


def test_writer_processes_on_postgresql_make_one_chain(postgres: PostgresCluster) -> None:
    url = postgres.create_database()
    engine = make_engine(url)
    migrate.upgrade(engine)
    start_at = str(time.time() + 3)  # after both have imported
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, f"p{i}", "50", start_at])
               for i in range(2)]  # fmt: skip
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    with engine.connect() as conn:
        rows = chained_rows(conn)
    engine.dispose()
    report = verify(rows, [])

    assert report.ok, report.as_dict()
    assert [r["seq"] for r in rows] == list(range(1, 401))
    # Interleaved: the two processes did write at once.
    firsts = [r["path"].split("/")[1] for r in rows]
    assert sum(a != b for a, b in itertools.pairwise(firsts)) > 1
