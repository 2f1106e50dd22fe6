"""Quotas (issue 17): 429 with Retry-After per API key and per client address, wrong-key
guessing cut off, an unauthenticated flood bounded in the access log, and one tenant's
burst of writes refused past its share while another tenant's write goes through.

The service here has small limits; each test that counts per address sends from a
loopback address of its own (127.0.0.x), so the tests do not share a counter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from apikit import Service, onboard, running_service
from sqlalchemy import select

from ledger_app.db.api_tables import access_log
from ledger_app.db.engine import make_engine

PER_KEY = 40
PER_ADDRESS = 20
AUTH_FAILURES = 5
WRITES_PER_PARTICIPANT = 2
SUMMARY_INTERVAL = 0.5
WRONG_KEY = "lk_0123456789abcdef_" + "x" * 43


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The API with small limits (the cast's set-up stays under them)."""
    with running_service(
        tmp_path_factory.mktemp("limits"),
        rate_limit_per_key=f"{PER_KEY}/hour",
        rate_limit_per_address=f"{PER_ADDRESS}/hour",
        auth_failure_limit=f"{AUTH_FAILURES}/hour",
        access_log_summary_interval=SUMMARY_INTERVAL,
        writes_in_flight_per_participant=WRITES_PER_PARTICIPANT,
    ) as svc:
        yield svc


def client_from(service: Service, address: str, key: str | None = None) -> httpx.Client:
    """An HTTP client whose connections come from loopback ``address``."""
    headers = {"X-API-Key": key} if key else {}
    return httpx.Client(base_url=service.base_url, headers=headers, timeout=60,
                        transport=httpx.HTTPTransport(local_address=address))  # fmt: skip


def access_rows(service: Service, client: str) -> list:
    """The access log's rows of ``client``, once the summary of its refusals is written."""
    time.sleep(SUMMARY_INTERVAL * 3)
    engine = make_engine(service.settings.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(access_log).where(access_log.c.client == client)).all()
    finally:
        engine.dispose()


def assert_rate_limited(response: httpx.Response, scope: str) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "RateLimited"
    assert body["args"]["scope"] == scope
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert body["args"]["retry_after"] == retry_after


def test_key_over_its_rate_is_429_with_retry_after_and_other_keys_are_not(
    service: Service,
) -> None:
    onboard(service, "chatty", ["SUPPLIER"])

    answers = [service.call("chatty", "GET", "/v1/participants/me") for _ in range(PER_KEY + 3)]

    assert [a.status_code for a in answers[:PER_KEY]] == [200] * PER_KEY
    for answer in answers[PER_KEY:]:
        assert_rate_limited(answer, "key")
    assert service.call("supplier", "GET", "/v1/participants/me").status_code == 200
    # An authenticated caller's refusals keep their own access-log rows.
    refused = service.call("auditor", "GET", "/v1/access-log",
                           params={"participant": service.addresses["chatty"], "status": 429})  # fmt: skip
    assert len(refused.json()["items"]) == 3


def test_wrong_key_guesses_from_one_address_are_cut_off_before_the_key_is_checked(
    service: Service,
) -> None:
    with client_from(service, "127.0.0.2", WRONG_KEY) as guesser:
        guesses = [guesser.get("/v1/receivables") for _ in range(AUTH_FAILURES + 20)]
    with client_from(service, "127.0.0.2", service.keys["auditor"]) as right_key_there:
        right_guess = right_key_there.get("/v1/receivables")
    with client_from(service, "127.0.0.3", service.keys["auditor"]) as elsewhere:
        same_key_elsewhere = elsewhere.get("/v1/receivables")

    assert [g.status_code for g in guesses[:AUTH_FAILURES]] == [401] * AUTH_FAILURES
    for guess in guesses[AUTH_FAILURES:]:
        assert_rate_limited(guess, "auth_failures")
    assert_rate_limited(right_guess, "auth_failures")  # not even a right key is looked at
    assert same_key_elsewhere.status_code == 200
    # The auditor sees the guessing: each early failure, then one count for the rest.
    rows = access_rows(service, "127.0.0.2")
    assert [r.status for r in rows if r.method != "*"] == [401] * AUTH_FAILURES
    summaries = [r for r in rows if r.operation == "rate_limited.auth_failures"]
    assert sum(r.requests for r in summaries) == 21
    assert {(r.status, r.method, r.path) for r in summaries} == {(429, "*", "*")}


def test_unauthenticated_flood_writes_a_bounded_number_of_access_log_rows(
    service: Service,
) -> None:
    flood = 300
    with client_from(service, "127.0.0.4") as anonymous:
        answers = [anonymous.get("/v1/receivables").status_code for _ in range(flood)]

    assert answers[:PER_ADDRESS] == [401] * PER_ADDRESS
    assert set(answers[PER_ADDRESS:]) == {429}
    rows = access_rows(service, "127.0.0.4")
    single = [r for r in rows if r.method != "*"]
    summaries = [r for r in rows if r.operation == "rate_limited.unauthenticated"]
    assert [(r.status, r.requests) for r in single] == [(401, 1)] * PER_ADDRESS
    assert sum(r.requests for r in summaries) == flood - PER_ADDRESS  # every refusal counted
    assert len(rows) < PER_ADDRESS + 30  # not one row per request
    listed = service.call("auditor", "GET", "/v1/access-log",
                          params={"client": "127.0.0.4", "status": 429}).json()["items"]  # fmt: skip
    assert sum(e["requests"] for e in listed) == flood - PER_ADDRESS
    with client_from(service, "127.0.0.5") as neighbour:
        assert neighbour.get("/health").status_code == 200  # another address is not affected


def test_tenant_over_its_writes_in_flight_gets_429_while_another_tenant_writes(
    service: Service,
) -> None:
    burst = 8
    bodies = [service.registration() for _ in range(burst)]

    with ThreadPoolExecutor(burst + 1) as pool:
        mine = [pool.submit(service.call, "core", "POST", "/v1/receivables", json=b)
                for b in bodies]  # fmt: skip
        theirs = pool.submit(service.call, "core2", "POST", "/v1/receivables",
                             json=service.registration())  # fmt: skip
        answers = [f.result() for f in mine]
        other = theirs.result()

    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    assert {a.status_code for a in answers} <= {201, 429}
    assert any(a.status_code == 201 for a in answers)
    for answer in refused:
        body = answer.json()
        assert body["error"] == "TooManyWritesInFlight"
        assert body["args"]["scope"] == "participant"
        assert body["args"]["limit"] == WRITES_PER_PARTICIPANT
        assert answer.headers["Retry-After"] == "1"
    assert other.status_code == 201, other.text
    # Nothing of a refused write was done, and once the burst is answered it goes through.
    again = service.call("core", "POST", "/v1/receivables", json=bodies[answers.index(refused[0])])
    assert again.status_code == 201, again.text
