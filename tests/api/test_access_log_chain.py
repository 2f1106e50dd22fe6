"""The access log's hash chain through the service (issue 21): rows written by the API are
chained, the operator's anchor covers them, and an edited, deleted, inserted or reordered
row is found at its position by ``GET /v1/audit/access-log/verify`` and by
``ledger-app verify-access-log`` (exit 1); rows after the last anchor are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from apikit import Service, running_service
from sqlalchemy import Connection, delete, insert, select, text, update

from ledger_app.api.access_anchor import AccessLogAnchorer
from ledger_app.db.api_tables import access_log, access_log_anchors
from ledger_app.db.engine import make_engine
from ledger_app.domain.access_chain import row_hash


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service whose anchoring is driven by the tests (no thread: interval 0)."""
    with running_service(tmp_path_factory.mktemp("access-chain"),
                         access_log_anchor_interval=0.0) as svc:  # fmt: skip
        yield svc


@pytest.fixture(scope="module")
def anchored(service: Service) -> int:
    """The rows so far anchored on the ledger; the count anchored."""
    service.app.state.access_log.flush()
    result = AccessLogAnchorer(service.app.state.runtime).anchor_once()
    assert result.state == "anchored", result
    return result.count


def verify_api(service: Service) -> dict[str, Any]:
    answer = service.call("auditor", "GET", "/v1/audit/access-log/verify")
    assert answer.status_code == 200, answer.text
    return answer.json()


def verify_cli(service: Service) -> tuple[int, dict[str, Any]]:
    settings = service.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")} | {
        "LEDGER_RPC_URL": settings.rpc_url,
        "LEDGER_DATABASE_URL": settings.database_url,
        "LEDGER_DEPLOYMENT_FILE": str(settings.deployment_file),
        "LEDGER_ARTIFACTS_FILE": str(settings.artifacts_file),
        "LEDGER_STATE_DIR": str(settings.state_dir),
        "LEDGER_LOG_LEVEL": "warning",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from ledger_app.cli import main; sys.exit(main())",
         "verify-access-log", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


@contextmanager
def tampered(service: Service, tamper: Callable[[Connection], None],
             restore: Callable[[Connection], None]) -> Iterator[None]:  # fmt: skip
    """The database altered by ``tamper`` inside the block, put back by ``restore``."""
    engine = make_engine(service.settings.database_url)
    service.app.state.access_log.flush()
    try:
        with engine.begin() as conn:
            tamper(conn)
        yield
    finally:
        with engine.begin() as conn:
            restore(conn)
        engine.dispose()


def row_at(service: Service, seq: int) -> dict[str, Any]:
    engine = make_engine(service.settings.database_url)
    with engine.connect() as conn:
        row = dict(conn.execute(select(access_log).where(access_log.c.seq == seq)).one()._mapping)
    engine.dispose()
    return row


def renumber(conn: Connection, from_seq: int, by: int) -> None:
    """seq += ``by`` for every row from ``from_seq`` (in two steps: seq is unique)."""
    conn.execute(update(access_log).where(access_log.c.seq >= from_seq)
                 .values(seq=-access_log.c.seq))  # fmt: skip
    conn.execute(update(access_log).where(access_log.c.seq < 0)
                 .values(seq=-access_log.c.seq + by))  # fmt: skip


def both(service: Service) -> tuple[dict[str, Any], dict[str, Any]]:
    """The route's report and the command's (which must exit 1)."""
    code, cli = verify_cli(service)
    api = verify_api(service)
    assert code == 1
    assert not api["ok"]
    assert not cli["ok"]
    return api, cli


def test_untampered_log_verifies_and_reports_rows_after_the_last_anchor(
    service: Service, anchored: int
) -> None:
    service.call("auditor", "GET", "/v1/currencies")  # a row after the anchor
    api = verify_api(service)  # writes the pending rows first
    code, cli = verify_cli(service)

    assert code == 0, cli
    assert cli["not_yet_anchored"]["first_seq"] == api["not_yet_anchored"]["first_seq"]
    assert api["ok"], api
    assert api["anchors_checked"] >= 1
    assert api["last_anchored"] >= anchored
    assert api["not_yet_anchored"]["first_seq"] == api["last_anchored"] + 1
    assert api["not_yet_anchored"]["count"] == api["rows"] - api["last_anchored"] >= 1
    with make_engine(service.settings.database_url).connect() as conn:
        recorded = conn.execute(select(access_log_anchors.c.count)).scalars().all()
    assert anchored in recorded
    listed = service.call("auditor", "GET", "/v1/access-log", params={"limit": 2}).json()
    newer, older = listed["items"]
    assert newer["seq"] == older["seq"] + 1
    assert newer["prev_hash"] == older["row_hash"]


def test_edited_row_is_found_at_its_position(service: Service, anchored: int) -> None:
    seq = anchored // 2
    original = row_at(service, seq)
    edit = update(access_log).where(access_log.c.seq == seq)
    with tampered(service, lambda c: c.execute(edit.values(status=200, path="/v1/nothing")),
                  lambda c: c.execute(edit.values(status=original["status"],
                                                  path=original["path"]))):  # fmt: skip
        api, cli = both(service)
    for report in (api, cli):
        assert report["edited"] == [seq]
        assert [m["count"] for m in report["anchor_mismatches"]] == [anchored]
    assert verify_api(service)["ok"]


def test_deleted_row_is_found_as_a_gap(service: Service, anchored: int) -> None:
    seq = anchored // 2
    original = row_at(service, seq)
    with tampered(service, lambda c: c.execute(delete(access_log).where(access_log.c.seq == seq)),
                  lambda c: c.execute(insert(access_log).values(**original))):  # fmt: skip
        api, cli = both(service)
    for report in (api, cli):
        assert report["deleted"] == [{"after": seq - 1, "missing": 1}]
        assert report["edited"] == []
        assert [m["count"] for m in report["anchor_mismatches"]] == [anchored]
    assert verify_api(service)["ok"]


def test_inserted_row_is_found_at_its_position(service: Service, anchored: int) -> None:
    seq = anchored // 2
    before = row_at(service, seq - 1)
    forged = {**before, "path": "/v1/forged", "seq": seq, "prev_hash": before["row_hash"]}
    del forged["id"]
    forged["row_hash"] = row_hash(forged, seq, before["row_hash"])  # hashed as the chain would

    def insert_forged(conn: Connection) -> None:
        renumber(conn, seq, 1)
        conn.execute(insert(access_log).values(**forged))

    def remove_forged(conn: Connection) -> None:
        conn.execute(delete(access_log).where(access_log.c.path == "/v1/forged"))
        renumber(conn, seq + 1, -1)

    with tampered(service, insert_forged, remove_forged):
        api, cli = both(service)
    for report in (api, cli):
        assert report["inserted"] == [seq]
        assert report["edited"] == report["reordered"] == []
        assert [m["count"] for m in report["anchor_mismatches"]] == [anchored]
    assert verify_api(service)["ok"]


def test_reordered_rows_are_found_with_their_positions(service: Service, anchored: int) -> None:
    first, second = anchored // 3, anchored // 3 + 2

    def swap(conn: Connection) -> None:
        conn.execute(text("UPDATE access_log SET seq = -1 WHERE seq = :s"), {"s": first})
        conn.execute(text("UPDATE access_log SET seq = :f WHERE seq = :s"),
                     {"f": first, "s": second})  # fmt: skip
        conn.execute(text("UPDATE access_log SET seq = :s WHERE seq = -1"), {"s": second})

    with tampered(service, swap, swap):
        api, cli = both(service)
    for report in (api, cli):
        assert sorted(report["reordered"], key=lambda r: r["position"]) == [
            {"position": first, "written_at": second},
            {"position": second, "written_at": first},
        ]
        assert report["edited"] == report["inserted"] == report["deleted"] == []
        assert [m["count"] for m in report["anchor_mismatches"]] == [anchored]
    assert verify_api(service)["ok"]


def test_verify_refused_to_a_trader(service: Service) -> None:
    answer = service.call("supplier", "GET", "/v1/audit/access-log/verify")
    assert answer.status_code == 403, answer.text


def test_anchoring_stops_while_the_anchored_row_is_gone(service: Service, anchored: int) -> None:
    original = row_at(service, anchored)
    anchorer = AccessLogAnchorer(service.app.state.runtime)
    gone = delete(access_log).where(access_log.c.seq == anchored)
    with tampered(service, lambda c: c.execute(gone),
                  lambda c: c.execute(insert(access_log).values(**original))):  # fmt: skip
        service.call("auditor", "GET", "/v1/currencies")  # the head moves on
        service.app.state.access_log.flush()
        refused = anchorer.anchor_once()
    again = anchorer.anchor_once()

    assert refused.state == "tampered"
    assert refused.count == anchored
    assert again.state == "anchored"
    assert again.count > anchored
