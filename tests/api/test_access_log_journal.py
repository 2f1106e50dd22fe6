"""The access log's local journal (issue 24): every row is appended to a local file
before its request is answered, so a process killed before its rows reached the database
loses none: the next start takes its files over and writes their rows into the chain,
once each, also when it had died between the commit and deleting its file."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine

from ledger_app.api.access import AccessLogWriter, AccessMiddleware
from ledger_app.api.throttle import RefusedRequests
from ledger_app.db import migrate
from ledger_app.db.access_chain import chained_rows
from ledger_app.db.engine import make_engine
from ledger_app.domain.access_chain import verify
from ledger_app.settings import Settings

KILLED = """
import os, signal, sys
from pathlib import Path
from ledger_app.api.access import AccessLogWriter
from ledger_app.db.engine import make_engine
writer = AccessLogWriter(interval=3600)  # never flushes by itself
writer.start(make_engine(sys.argv[1]), Path(sys.argv[2]))
for i in range(int(sys.argv[3])):
    writer.add(method="GET", path=f"/v1/killed/{i}", status=200, duration_ms=i,
               participant=None, api_key_id=None, operation=None, client="127.0.0.1")
print("answered", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database."""
    engine = make_engine(f"sqlite:///{tmp_path}/ledger.db")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _paths(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = chained_rows(conn)
    assert verify(rows, []).ok
    return [row["path"] for row in rows]


def _add(writer: AccessLogWriter, path: str) -> None:
    writer.add(method="GET", path=path, status=200, duration_ms=1, participant=None,
               api_key_id=None, operation=None, client="127.0.0.1")  # fmt: skip


def test_rows_of_a_killed_process_are_written_by_the_next_start(
    engine: Engine, tmp_path: Path
) -> None:
    journal = tmp_path / "access-log"
    url = str(engine.url)
    killed = subprocess.run([sys.executable, "-c", KILLED, url, str(journal), "5"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "answered" in killed.stdout
    assert _paths(engine) == []  # nothing reached the database

    writer = AccessLogWriter(interval=3600)
    writer.start(engine, journal)
    _add(writer, "/v1/after")
    assert writer.flush() == 6
    writer.close()
    assert _paths(engine) == [f"/v1/killed/{i}" for i in range(5)] + ["/v1/after"]
    assert list(journal.iterdir()) == []  # every file deleted once its rows were written


def test_rows_committed_before_the_crash_are_not_written_twice(
    engine: Engine, tmp_path: Path
) -> None:
    journal = tmp_path / "access-log"
    first = AccessLogWriter(interval=3600)
    first.start(engine, journal)
    for i in range(3):
        _add(first, f"/v1/first/{i}")
    kept = tmp_path / "kept"
    shutil.copytree(journal, kept)  # the files as they were before the flush deleted them
    assert first.flush() == 3
    _add(first, "/v1/first/unwritten")
    # The process dies after the commit, before deleting its file: its lock is released
    # (as the kernel does) and the file is back.
    for path in kept.iterdir():
        if path.suffix == ".rows":
            shutil.copy(path, journal / path.name)
    assert first.journal is not None
    os.close(first.journal._lock_fd)

    second = AccessLogWriter(interval=3600)
    second.start(engine, journal)
    assert second.flush() == 1  # the unwritten row; the three committed ones skipped
    second.close()
    assert _paths(engine) == [f"/v1/first/{i}" for i in range(3)] + ["/v1/first/unwritten"]


def test_a_live_process_files_are_not_taken_over(engine: Engine, tmp_path: Path) -> None:
    journal = tmp_path / "access-log"
    live = AccessLogWriter(interval=3600)
    live.start(engine, journal)
    _add(live, "/v1/live")
    other = AccessLogWriter(interval=3600)
    other.start(engine, journal)
    assert other.flush() == 0  # the live process's row is its own to write
    assert live.flush() == 1
    other.close()
    live.close()
    assert _paths(engine) == ["/v1/live"]


def test_a_row_added_after_the_close_is_written_by_the_next_start(
    engine: Engine, tmp_path: Path
) -> None:
    # A request uvicorn cut short at a shutdown logs its row after the writer closed: it
    # wrote into a closed descriptor (EBADF, answered 500; or into whatever file had the
    # number since). Its row now goes to a file of its own, which the next start takes.
    journal = tmp_path / "access-log"
    first = AccessLogWriter(interval=3600)
    first.start(engine, journal)
    _add(first, "/v1/answered")
    first.close()
    _add(first, "/v1/cut-short")

    second = AccessLogWriter(interval=3600)
    second.start(engine, journal)
    assert second.flush() == 1
    second.close()
    assert _paths(engine) == ["/v1/answered", "/v1/cut-short"]
    assert list(journal.iterdir()) == []


def test_a_request_cut_short_by_a_shutdown_is_answered_503_service_stopping(
    engine: Engine, tmp_path: Path
) -> None:
    writer = AccessLogWriter(interval=3600)
    writer.start(engine, tmp_path / "access-log")
    started = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await asyncio.sleep(3600)  # a write waiting on the chain

    middleware = AccessMiddleware(slow, Settings(), RefusedRequests(), writer)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/v1/receivables", "headers": [],
             "query_string": b"", "client": ("127.0.0.1", 5000), "state": {},
             "app": SimpleNamespace(state=SimpleNamespace(engine=engine))}  # fmt: skip

    async def shutdown() -> None:
        request = asyncio.create_task(middleware(scope, receive, send))
        await asyncio.wait_for(started.wait(), 10)
        request.cancel()  # what uvicorn does past its graceful timeout
        await request

    asyncio.run(shutdown())
    writer.close()
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 503
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["error"] == "ServiceStopping"
    assert "same Idempotency-Key" in body["message"]
    with engine.connect() as conn:
        rows = chained_rows(conn)
    assert [(r["path"], r["status"]) for r in rows] == [("/v1/receivables", 503)]
