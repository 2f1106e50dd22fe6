"""Idempotency-Key: the same request twice (or at once) is one transaction."""

from __future__ import annotations

import re
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apikit import Service, make_lei, make_tax_id
from sqlalchemy import select

from ledger_app.db.api_tables import idempotency_records
from ledger_app.db.engine import make_engine


def test_same_key_same_body_replays_first_answer_and_sends_once(
    service: Service, unique: Callable[[], str]
) -> None:
    body, headers = service.registration(), {"Idempotency-Key": unique()}
    last_id, nonce = service.view("receivables", "lastId"), service.nonce("core")

    first = service.call("core", "POST", "/v1/receivables", json=body, headers=headers)
    second = service.call("core", "POST", "/v1/receivables", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert service.view("receivables", "lastId") == last_id + 1
    assert service.nonce("core") == nonce + 1


def test_same_key_other_body_is_409(service: Service, unique: Callable[[], str]) -> None:
    headers = {"Idempotency-Key": unique()}
    service.call("core", "POST", "/v1/receivables", json=service.registration(), headers=headers)
    nonce = service.nonce("core")

    other = service.call(
        "core", "POST", "/v1/receivables", json=service.registration(), headers=headers
    )

    assert other.status_code == 409
    assert other.json()["error"] == "IdempotencyKeyReused"
    assert service.nonce("core") == nonce


def test_concurrent_duplicates_make_one_transaction(
    service: Service, unique: Callable[[], str]
) -> None:
    body, headers = service.registration(), {"Idempotency-Key": unique()}
    last_id = service.view("receivables", "lastId")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda _: service.call("core", "POST", "/v1/receivables", json=body, headers=headers),
            range(8),
        ))  # fmt: skip

    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["result"]["id"] for a in answers}) == 1
    assert service.view("receivables", "lastId") == last_id + 1


def test_keys_are_per_participant(service: Service, unique: Callable[[], str]) -> None:
    key = unique()
    mine = service.call("core", "POST", "/v1/receivables", json=service.registration(),
                        headers={"Idempotency-Key": key})  # fmt: skip
    theirs = service.call("core2", "POST", "/v1/receivables", json=service.registration(),
                          headers={"Idempotency-Key": key})  # fmt: skip

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["result"]["id"] != theirs.json()["result"]["id"]


def test_replay_of_an_issued_key_withholds_it_and_the_database_never_holds_it(
    service: Service, unique: Callable[[], str]
) -> None:
    body = {
        "lei": make_lei(),
        "jurisdiction": "CN",
        "kyc_expiry": (datetime.now(UTC) + timedelta(days=365)).isoformat(),
        "roles": ["SUPPLIER"],
        "label": "replayed onboarding",
        "tax_id": make_tax_id(),
    }
    headers = {"Idempotency-Key": unique()}

    first = service.call("operator", "POST", "/v1/participants", json=body, headers=headers)
    again = service.call("operator", "POST", "/v1/participants", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    issued = first.json()["result"]["api_key"]["key"]
    assert issued.startswith("lk_")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Idempotent-Secret-Withheld"] == "true"
    assert again.json()["result"]["api_key"]["key"] is None
    assert again.json()["result"]["api_key"]["id"] == first.json()["result"]["api_key"]["id"]
    assert "cannot be shown again" in again.json()["secrets_withheld"]
    assert issued not in again.text
    with service.http(key=issued) as http:  # the key itself still works
        assert http.get("/v1/participants/me").status_code == 200
    engine = make_engine(service.settings.database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(idempotency_records.c.response_body)).scalars().all()
    finally:
        engine.dispose()
    assert stored
    assert [b for b in stored if b and re.search(r"lk_[0-9a-f]{16}_", b)] == []


def test_files_the_service_creates_are_its_owners_alone(service: Service) -> None:
    # apikit serves the app in this process; `ledger-app` sets the umask for its own:
    # the command is what an operator runs, so it is checked through it.
    import subprocess
    import sys

    probe = (
        "import os, sys; from ledger_app import cli; "
        "cli.Settings = lambda: (_ for _ in ()).throw(ValueError('stop here')); "
        "cli.main(['migrate']); "
        "open(sys.argv[1], 'w').close(); os.mkdir(sys.argv[2])"
    )
    target = Path(service.settings.state_dir) / f"umask-probe-{time.time_ns()}"
    subprocess.run([sys.executable, "-c", probe, str(target), str(target) + ".d"], check=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(str(target) + ".d").stat().st_mode) == 0o700


def test_api_answers_are_not_sniffed_nor_stored(service: Service) -> None:
    mine = service.call("supplier", "GET", "/v1/participants/me")
    address = service.addresses["supplier"]
    issued = service.call("supplier", "POST", f"/v1/participants/{address}/api-keys",
                          json={"label": "spare"})  # fmt: skip
    assert issued.status_code == 201, issued.text

    for answer in (mine, issued):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"
