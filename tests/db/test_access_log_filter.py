"""The access log's filters read ``%`` and ``_`` in a path prefix as themselves, not as LIKE
wildcards, on SQLite and on PostgreSQL (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from ledger_app.api.access import access_log_query
from ledger_app.db import migrate
from ledger_app.db.access_chain import append_access_rows
from ledger_app.db.engine import make_engine

PATHS = (
    "/v1/receivables/12/trace",
    "/v1/receivables/1_/trace",
    "/v1/receivables/100%/trace",
    "/v1/receivables/1000/trace",
    "/v1/documents/0xab",
    "/v1/documents/0x\\b",
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database holding one access-log row per path of PATHS."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    rows = [{"at": datetime.now(UTC), "method": "GET", "path": path, "status": 200,
             "duration_ms": 1} for path in PATHS]  # fmt: skip
    with engine.begin() as conn:
        append_access_rows(conn, rows)
    try:
        yield engine
    finally:
        engine.dispose()


def paths_with_prefix(engine: Engine, prefix: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(access_log_query(path_prefix=prefix, limit=1000)).all()
    return {row.path for row in rows}


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("/v1/receivables/1_", {"/v1/receivables/1_/trace"}),
        ("/v1/receivables/100%", {"/v1/receivables/100%/trace"}),
        ("/v1/receivables/%", set()),
        ("%", set()),
        ("/v1/documents/0x\\", {"/v1/documents/0x\\b"}),
        ("/v1/receivables/1", {p for p in PATHS if p.startswith("/v1/receivables/1")}),
    ],
)
def test_path_prefix_matches_percent_and_underscore_literally(
    engine: Engine, prefix: str, expected: set[str]
) -> None:
    assert paths_with_prefix(engine, prefix) == expected
