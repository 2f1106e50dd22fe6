"""Idempotency-Key: the same request twice (or at once) is one transaction."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from apikit import Service


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
