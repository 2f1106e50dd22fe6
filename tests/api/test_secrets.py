"""Secrets never reach a log or an error body.

This module's service logs everything, at DEBUG, from before it starts (uvicorn, the
app, the indexer, the chain client, SQLAlchemy: the root logger). The tests drive
onboarding, key issue, rotation and revocation, bad and revoked keys, refusals of
every kind, custodial writes, a document stored and read, and an operator's key recovery; then every captured log
line and every response body is searched for every secret: each API key issued (the
cast's, the operator's, the ones issued here), the keystore passphrase, the document key, and every
private key the service holds (decrypted from its keystores here) or uses (the
operator's). A key appears in exactly one answer: the one that issued it. The same
secrets are then looked for in every idempotency record and in the database's files.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from apikit import Service, make_lei, running_service
from eth_account import Account
from sqlalchemy import select
from webhookkit import Receiver

from ledger_app.api.webhook_signing import webhook_key
from ledger_app.chain.keys import anvil_dev_account
from ledger_app.db.api_tables import custodial_keys, idempotency_records
from ledger_app.db.engine import make_engine
from ledger_app.signing.document_key import parse_key

PASSPHRASE = "api-test-passphrase"  # apikit.running_service's


@dataclass
class Captured:
    """The service, everything it logged, and every answer the tests received."""

    service: Service
    log: io.StringIO
    bodies: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # keys issued while capturing

    def call(self, key: str | None, method: str, path: str, **kwargs) -> httpx.Response:
        """One request with ``key``; its body is kept for the search."""
        with self.service.http(key=key) as http:
            response = http.request(method, path, **kwargs)
        self.bodies.append(response.text)
        return response


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    """A service whose every log record, at DEBUG, lands in one buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with running_service(tmp_path_factory.mktemp("secrets"), log_level="debug",
                             webhook_allow_http_loopback=True) as svc:  # fmt: skip
            yield Captured(svc, buffer)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def onboarding(roles: list[str]) -> dict:
    return {"lei": make_lei(), "jurisdiction": "CN", "roles": roles, "label": "secret keeper",
            "kyc_expiry": (datetime.now(UTC) + timedelta(days=365)).isoformat()}  # fmt: skip


def exercise(cap: Captured) -> None:
    """Onboarding, keys issued, rotated and revoked, bad keys, refusals, custodial writes."""
    svc, operator = cap.service, cap.service.operator_key
    onboarded = cap.call(operator, "POST", "/v1/participants", json=onboarding(["CORE_ENTERPRISE"]))
    assert onboarded.status_code == 201, onboarded.text
    first = onboarded.json()["result"]["api_key"]
    address = onboarded.json()["result"]["participant"]["address"]
    issued = cap.call(first["key"], "POST", f"/v1/participants/{address}/api-keys",
                      json={"label": "second"}, headers={"Idempotency-Key": "issue-1"}).json()  # fmt: skip
    rotated = cap.call(first["key"], "POST", f"/v1/api-keys/{first['id']}/rotate",
                       headers={"Idempotency-Key": "rotate-1"}).json()  # fmt: skip
    cap.issued += [first["key"], issued["key"], rotated["key"]]
    assert cap.call(issued["key"], "DELETE", f"/v1/api-keys/{issued['id']}").status_code == 200

    # A custodial write signed with the new participant's key, and one refused by the chain.
    body = svc.registration()
    assert cap.call(rotated["key"], "POST", "/v1/receivables", json=body).status_code == 201
    assert cap.call(rotated["key"], "POST", "/v1/receivables", json=body).status_code == 409

    # Keys revoked, rotated away, unknown, malformed, as bearer tokens, in the wrong header.
    for bad in (first["key"], issued["key"], "lk_0123456789abcdef_" + "x" * 43, "nonsense"):
        assert cap.call(bad, "GET", "/v1/participants/me").status_code == 401
        with svc.http() as http:
            answer = http.get("/v1/participants/me", headers={"Authorization": f"Bearer {bad}"})
        cap.bodies.append(answer.text)
        assert answer.status_code == 401
    with svc.http() as http:
        answer = http.get("/v1/participants/me", headers={"X-Api-Token": rotated["key"]})
    cap.bodies.append(answer.text)
    assert answer.status_code == 401

    # Refusals: role, validation, unknown object, conflict, body too large, media type.
    key = rotated["key"]
    assert cap.call(key, "POST", "/v1/currencies", json={}).status_code == 403
    assert cap.call(key, "POST", "/v1/receivables", json={"amount": key}).status_code == 422
    assert cap.call(key, "GET", "/v1/receivables/999999").status_code == 404
    too_big = b"x" * (svc.settings.request_max_bytes + 1)
    assert cap.call(key, "POST", "/v1/receivables", content=too_big).status_code == 413
    assert cap.call(key, "POST", "/v1/documents", content=key.encode(),
                    headers={"Content-Type": "application/x-secret"}).status_code == 415  # fmt: skip
    assert cap.call(operator, "DELETE", f"/v1/api-keys/{operator.split('_')[1]}").status_code == 403
    # A document sealed under the document key, read back, disclosed.
    stored = cap.call(key, "POST", "/v1/documents", content=b"invoice of the secrets test",
                      headers={"Content-Type": "text/plain"})  # fmt: skip
    assert stored.status_code == 201, stored.text
    for tail in ("", "/disclosure"):
        assert cap.call(key, "GET", f"/v1/documents/{stored.json()['document_hash']}{tail}"
                        ).status_code == 200  # fmt: skip
    webhook(cap)
    recover(cap, address)  # last: its key is the last issued


def webhook(cap: Captured) -> None:
    """The supplier subscribes a webhook, rotates its secret; a receivable the core
    registers is announced to it, signed and delivered."""
    receiver, supplier = Receiver(), cap.service.keys["supplier"]
    try:
        made = cap.call(supplier, "POST", "/v1/webhooks",
                        json={"url": receiver.url, "kinds": ["receivable.to_confirm"]})  # fmt: skip
        assert made.status_code == 201, made.text
        rotated = cap.call(supplier, "POST", f"/v1/webhooks/{made.json()['id']}/rotate-secret")
        cap.issued += [made.json()["secret"], rotated.json()["secret"]]
        registered = cap.call(cap.service.keys["core"], "POST", "/v1/receivables",
                              json=cap.service.registration())  # fmt: skip
        assert registered.status_code == 201, registered.text
        receiver.wait(lambda: receiver.answered(200), "the signed delivery")
        cap.call(supplier, "GET", f"/v1/webhooks/{made.json()['id']}/deliveries")
    finally:
        receiver.close()


def recover(cap: Captured, address: str) -> None:
    """The operator recovers the participant's key under an Idempotency-Key, and replays it."""
    operator, once = cap.service.operator_key, {"Idempotency-Key": "complete-1"}
    requested = cap.call(operator, "POST", f"/v1/participants/{address}/recovery",
                         json={"reason": "secrets test"},
                         headers={"Idempotency-Key": "recover-1"})  # fmt: skip
    assert requested.status_code == 201, requested.text
    due = datetime.fromisoformat(requested.json()["completable_at"]).timestamp()
    time.sleep(max(0.0, due - time.time()) + 0.2)
    path = f"/v1/key-recoveries/{requested.json()['id']}/complete"
    completed = cap.call(operator, "POST", path, headers=once)
    assert completed.status_code == 201, completed.text
    cap.issued.append(completed.json()["api_key"]["key"])
    replayed = cap.call(operator, "POST", path, headers=once)
    assert replayed.headers["Idempotent-Secret-Withheld"] == "true"
    assert replayed.json()["api_key"]["key"] is None
    assert completed.headers["Cache-Control"] == replayed.headers["Cache-Control"] == "no-store"


def secrets_of(cap: Captured) -> dict[str, str]:
    """Name -> secret: API keys, the passphrase, private keys (hex, with and without 0x)."""
    svc = cap.service
    found = {f"api key of {name}": key for name, key in svc.keys.items()}
    found["operator's api key"] = svc.operator_key
    found |= {f"api key issued here #{n}": key for n, key in enumerate(cap.issued)}
    found["keystore passphrase"] = PASSPHRASE
    found["webhook key"] = webhook_key(svc.settings, PASSPHRASE).hex()
    # The document key the service generated on first start (no LEDGER_DOCUMENT_KEY set).
    document_key = parse_key(svc.settings.generated_document_key_file.read_text(), "key")
    found["document key (as its file holds it)"] = document_key.encoded()
    found["document key (hex)"] = document_key.secret.hex()
    engine = make_engine(svc.settings.database_url)
    try:
        with engine.connect() as conn:
            stores = conn.execute(select(custodial_keys.c.account, custodial_keys.c.keystore)).all()
    finally:
        engine.dispose()
    assert len(stores) >= len(svc.keys)
    keys = {account: Account.decrypt(json.loads(store), PASSPHRASE) for account, store in stores}
    keys["operator"] = anvil_dev_account(0).key
    for owner, private in keys.items():
        found[f"private key of {owner}"] = private.hex().removeprefix("0x")
    return found


@pytest.fixture(scope="module")
def exercised(captured: Captured) -> Captured:
    """The service after ``exercise``."""
    exercise(captured)
    return captured


def test_secrets_appear_in_no_log_line_and_no_error_body(exercised: Captured) -> None:
    captured = exercised
    log = captured.log.getvalue()
    secrets = secrets_of(captured)

    assert "ledger_app" in log  # the capture saw the service talk, at DEBUG too
    assert "uvicorn" in log
    assert " DEBUG " in log
    assert [name for name, secret in secrets.items() if secret in log] == []
    in_bodies = {name: sum(secret in body for body in captured.bodies)
                 for name, secret in secrets.items()}  # fmt: skip
    issued_here = {f"api key issued here #{n}" for n in range(len(captured.issued))}
    assert {name for name, n in in_bodies.items() if n} == issued_here
    assert all(in_bodies[name] == 1 for name in issued_here), in_bodies


def test_secrets_are_in_no_idempotency_record_nor_the_database_files(exercised: Captured) -> None:
    secrets = secrets_of(exercised)
    database = Path(exercised.service.settings.database_url.removeprefix("sqlite:///"))
    engine = make_engine(exercised.service.settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(idempotency_records)).all()
    finally:
        engine.dispose()
    files = {path.name: path.read_bytes() for path in database.parent.glob(database.name + "*")}

    # Every secret-bearing answer above was given under an Idempotency-Key.
    assert {"issue-1", "rotate-1", "recover-1", "complete-1"} <= {row.key for row in rows}
    records = [" ".join(str(value) for value in row) for row in rows]
    assert [n for n, secret in secrets.items() if any(secret in r for r in records)] == []
    in_files = {n for n, secret in secrets.items()
                for data in files.values() if secret.encode() in data}  # fmt: skip
    assert in_files == set()
    # The scan reads what the service wrote: the public id of the key recovered is there.
    recovered_id = exercised.issued[-1].split("_")[1].encode()
    assert any(recovered_id in data for data in files.values()), sorted(files)
