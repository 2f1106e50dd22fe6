"""Slow clients (issue 17): `ledger-app run`, started as a process of its own the way an
operator starts it, closes a connection that does not finish its request head within
``LEDGER_HTTP_HEADER_TIMEOUT``: one opened and left silent, one that sent part of a
request line and headers and then nothing, and a keep-alive one that began its next
request and stopped. A client that finishes its head in time is answered."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from apikit import free_tcp_port

from ledger_app.chain.node import AnvilNode, find_anvil

pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 1.0
#: Long enough for a loaded machine, far shorter than "never".
CLOSED_WITHIN = HEADER_TIMEOUT + 4.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """`ledger-app run` against an anvil of the test's own, deploying on its first start."""
    tmp = tmp_path_factory.mktemp("slow-clients")
    node = AnvilNode(binary=find_anvil(), port=free_tcp_port(), chain_id=31337,
                     state_file=tmp / "anvil" / "state.json",
                     log_file=tmp / "anvil" / "anvil.log")  # fmt: skip
    node.start()
    port = free_tcp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        LEDGER_RPC_URL=node.rpc_url,
        LEDGER_MANAGED_NODE="false",
        LEDGER_PORT=str(port),
        LEDGER_STATE_DIR=str(tmp / "var"),
        LEDGER_DATABASE_URL=f"sqlite:///{tmp}/var/ledger.db",
        LEDGER_DEPLOYMENT_FILE=str(tmp / "var" / "deployment.json"),
        LEDGER_KEYSTORE_PASSPHRASE="slow-clients-passphrase",
        LEDGER_KEYSTORE_SCRYPT_N=str(2**10),
        LEDGER_LOG_LEVEL="warning",
        LEDGER_HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
    )
    log = (tmp / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from ledger_app.cli import main; sys.exit(main())",
         "run"],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_answering(port, process, tmp / "api.log")
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        node.stop()


def _wait_answering(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"ledger-app run exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"ledger-app run did not answer:\n{log.read_text(errors='replace')[-3000:]}")


def seconds_until_closed(connection: socket.socket, patience: float = 15.0) -> float | None:
    """Seconds until the server closes ``connection`` (None if still open after
    ``patience``); what it sent meanwhile is discarded."""
    started = time.monotonic()
    connection.settimeout(0.2)
    while time.monotonic() - started < patience:
        try:
            if connection.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def test_silent_connection_is_closed_within_the_header_timeout(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as silent:
        closed = seconds_until_closed(silent)

    assert closed is not None, "a connection that sent nothing is still open after 15 s"
    assert closed < CLOSED_WITHIN


def test_half_sent_request_head_is_closed_within_the_header_timeout(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: ledger\r\nX-Slow: ")
        closed = seconds_until_closed(slow)

    assert closed is not None, "a half-sent request head is still open after 15 s"
    assert closed < CLOSED_WITHIN


def test_keep_alive_connection_stalling_in_its_next_head_is_closed(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server) as client:
        client.sendall(b"GET /health HTTP/1.1\r\nHost: ledger\r\n\r\n")
        client.settimeout(10)
        answer = client.recv(65536)
        client.sendall(b"GET /health HTTP/1.1\r\nHo")  # the next request, begun and stalled
        closed = seconds_until_closed(client)

    assert answer.startswith(b"HTTP/1.1 ")
    assert closed is not None, "a stalled second request head is still open after 15 s"
    assert closed < CLOSED_WITHIN


def test_request_whose_head_comes_in_time_is_answered(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as client:
        client.sendall(b"GET /health HTTP/1.1\r\n")
        time.sleep(HEADER_TIMEOUT / 3)
        client.sendall(b"Host: ledger\r\n\r\n")
        client.settimeout(10)
        answer = client.recv(65536)

    assert answer.startswith(b"HTTP/1.1 200") or answer.startswith(b"HTTP/1.1 503"), answer[:80]
