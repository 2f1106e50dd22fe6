"""/health says ``degraded`` (503, with reasons) and writes are refused with 503
ServiceDegraded while a write could not be indexed: the embedded indexer stopped, the
index ahead of the chain (embedded and separate indexer), a recovery in progress.

One service for the module (conftest's ``service``); each test puts back what it broke.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from apikit import Service, free_tcp_port, serving
from sqlalchemy.exc import OperationalError

from ledger_app.api.index_state import indexed_block
from ledger_app.api.runtime import Runtime
from ledger_app.errors import ChainMismatchError
from ledger_app.indexer.background import BackgroundIndexer


def runtime_of(service: Service) -> Runtime:
    return service.app.state.runtime


def rpc(service: Service, method: str, params: list[Any]) -> Any:
    response = service.client.web3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in response, response
    return response.get("result")


def until(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``condition`` until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"not within {timeout} s: {condition}")


def health(base_url: str) -> httpx.Response:
    return httpx.get(f"{base_url}/health", timeout=30)


def register(service: Service, base_url: str | None = None) -> httpx.Response:
    headers = {"X-API-Key": service.keys["core"]}
    url = f"{base_url or service.base_url}/v1/receivables"
    return httpx.post(url, json=service.registration(), headers=headers, timeout=120)


def assert_refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "ServiceDegraded"
    assert any(reason in r for r in body["args"]["reasons"]), body


def assert_degraded(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert any(reason in r for r in body["reasons"]), body
    # The fields clients already read are all still there.
    assert body["chain"]["ok"] is True
    assert body["database"]["ok"] is True
    assert body["contracts"]
    assert body["deployment_block"] is not None


def restart_indexer(runtime: Runtime) -> None:
    """A new indexer thread in place of a stopped one (a thread starts only once)."""
    old = runtime.indexer
    assert old is not None
    old.stop()  # also after the thread died: releases the writer lock it left held
    runtime.indexer = BackgroundIndexer(old.indexer, old.lock, old.poll_interval).start()


@contextmanager
def stopped_indexer(runtime: Runtime) -> Iterator[BackgroundIndexer]:
    """The embedded indexer thread stopped for the block, a new one running after it."""
    assert runtime.indexer is not None
    runtime.indexer.stop()
    try:
        yield runtime.indexer
    finally:
        restart_indexer(runtime)


@contextmanager
def sending_lock_lent(runtime: Runtime) -> Iterator[None]:
    """The service's sending lock let go for the block, so that a second API (a replica
    beside a separate indexer) may start on its database; taken back after."""
    runtime.sender_lock.release()
    try:
        yield
    finally:
        runtime.sender_lock.acquire()


def test_health_ok_and_write_done_when_nothing_is_wrong(service: Service) -> None:
    answer = health(service.base_url)

    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"
    assert answer.json()["reasons"] == []
    assert register(service).status_code == 201


def test_write_refused_while_recovering(service: Service) -> None:
    runtime = runtime_of(service)
    nonce = service.nonce("core")
    runtime.recovering = "replaying 3 journaled writes"
    try:
        answer = health(service.base_url)
        refused = register(service)
    finally:
        runtime.recovering = None

    assert_degraded(answer, "a recovery is in progress: replaying 3 journaled writes")
    assert_refused(refused, "a recovery is in progress")
    assert service.nonce("core") == nonce  # nothing was sent
    assert health(service.base_url).status_code == 200
    assert register(service).status_code == 201


def test_write_refused_until_the_index_reaches_the_head_the_node_had_at_start(
    service: Service,
) -> None:
    # Right after a start the index may still be replaying the chain: the roles and parties
    # the API checks come from it, so a write checked then would be refused (403, "roles
    # none") for want of a grant the chain already holds. Until the index reaches the head
    # the node had when the process started, the service says it is catching up instead.
    runtime = runtime_of(service)
    nonce = service.nonce("core")
    with stopped_indexer(runtime):
        start_head = indexed_block(runtime.engine, runtime.chain_id) + 1
        rpc(service, "evm_mine", [])
        runtime.catching_up_to = start_head
        answer = health(service.base_url)
        refused = register(service)
    until(lambda: indexed_block(runtime.engine, runtime.chain_id) >= start_head)

    assert_degraded(
        answer,
        f"the index is catching up with the chain after a start: block {start_head - 1} of {start_head}",
    )
    assert_refused(refused, "catching up")
    assert service.nonce("core") == nonce  # nothing was sent
    assert health(service.base_url).status_code == 200
    assert runtime.catching_up_to is None  # reached: never read again
    assert register(service).status_code == 201


def test_write_refused_when_indexer_stopped_with_an_error(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = runtime_of(service)
    background = runtime.indexer
    assert background is not None

    def another_chain(**_: Any) -> None:
        raise ChainMismatchError("this database indexes chain 1, the node is chain 31337")

    monkeypatch.setattr(background.indexer, "step", another_chain)
    background.wake()
    until(lambda: not background.alive)
    try:
        answer = health(service.base_url)
        refused = register(service)
    finally:
        monkeypatch.undo()
        restart_indexer(runtime)

    assert_degraded(answer, "the indexer stopped: ChainMismatchError: this database indexes")
    assert_refused(refused, "the indexer stopped")
    until(lambda: health(service.base_url).status_code == 200)
    assert register(service).status_code == 201


def test_write_refused_when_indexer_not_running(service: Service) -> None:
    runtime = runtime_of(service)
    with stopped_indexer(runtime):
        answer = health(service.base_url)
        refused = register(service)

    assert_degraded(answer, "the indexer is not running")
    assert_refused(refused, "the indexer is not running")
    assert register(service).status_code == 201


def test_index_lagging_a_few_blocks_is_not_degraded(service: Service) -> None:
    runtime = runtime_of(service)
    with stopped_indexer(runtime) as background:
        # Stopped, and so degraded; what matters here is what the node lagging adds.
        rpc(service, "anvil_mine", [hex(2)])
        reasons = runtime.degraded_reasons(fresh=True)
        indexed = background.indexed_to

    assert indexed < service.client.block_number()
    assert reasons == ["the indexer is not running"]


def test_write_refused_while_embedded_index_is_ahead_of_the_chain(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = runtime_of(service)
    background = runtime.indexer
    assert background is not None
    snapshot = rpc(service, "evm_snapshot", [])
    rpc(service, "anvil_mine", [hex(3)])  # empty blocks: no sender's nonce moves
    head = service.client.block_number()
    background.wake(head)
    until(lambda: background.indexed_to >= head)

    def database_locked(*_: Any) -> None:
        raise OperationalError("DELETE FROM events", {}, Exception("database is locked"))

    # The indexer sees the node lower, but cannot roll back yet: the index stays ahead.
    monkeypatch.setattr(background.indexer.store, "rollback", database_locked)
    monkeypatch.setattr(background.indexer.store, "reset", database_locked)
    rpc(service, "evm_revert", [snapshot])
    background.wake()
    until(lambda: background.indexer.diverged)
    try:
        answer = health(service.base_url)
        refused = register(service)
    finally:
        monkeypatch.undo()
    background.wake()
    until(lambda: background.indexer.diverged is None)

    assert_degraded(answer, "the index is ahead of the chain")
    assert_refused(refused, "the index is ahead of the chain")
    assert background.alive
    assert indexed_block(runtime.engine, runtime.chain_id) <= service.client.block_number()
    assert health(service.base_url).status_code == 200
    assert register(service).status_code == 201


def test_separate_indexer_api_refuses_writes_while_index_is_ahead(service: Service) -> None:
    settings = service.settings.model_copy(
        update={"embedded_indexer": False, "port": free_tcp_port()}
    )
    runtime = runtime_of(service)
    with (
        sending_lock_lent(runtime),
        serving(settings) as base_url,
        stopped_indexer(runtime) as background,
    ):
        indexer = background.indexer  # stands in for `ledger-app index`, run by hand
        snapshot = rpc(service, "evm_snapshot", [])
        rpc(service, "anvil_mine", [hex(3)])
        indexer.run(follow=False)
        rpc(service, "evm_revert", [snapshot])
        refused = register(service, base_url)  # the API's first check: nothing cached yet
        answer = health(base_url)
        indexer.run(follow=False)  # the indexer rolls back to the node's head
        allowed = until(lambda: (r := health(base_url)).status_code == 200 and r)

    assert_degraded(answer, "above the node's head")
    assert "indexer is not running" not in str(answer.json()["reasons"])  # no thread to have
    assert_refused(refused, "the index is ahead of the chain")
    assert allowed.json()["status"] == "ok"
