"""The node set of LEDGER_RPC_URLS (chain/nodes.py) and the transport over it: health
(answers, chain id, lag behind the best head), the node in use kept while healthy, a
request without an answer sent again to the next node, and the move announced."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ledger_app.chain.nodes import NodeSet
from ledger_app.chain.transport import JsonRpcTransport
from ledger_app.errors import TransientError
from ledger_app.settings import Settings


class FakeNode(ThreadingHTTPServer):
    """Answers eth_chainId and eth_blockNumber with what it is set to; ``down``: HTTP 503."""

    def __init__(self, chain_id: int, head: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.chain_id, self.head, self.down = chain_id, head, False
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        value = {"eth_chainId": self.chain_id, "eth_blockNumber": self.head}[request["method"]]
        return {"jsonrpc": "2.0", "id": request["id"], "result": hex(value)}


class _Handler(BaseHTTPRequestHandler):
    server: FakeNode

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests += 1
        if self.server.down:
            status, payload = 503, b"{}"
        else:
            answer = [self.server.answer(r) for r in body] if isinstance(body, list) else \
                self.server.answer(body)  # fmt: skip
            status, payload = 200, json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_nodes() -> Iterator[Callable[..., FakeNode]]:
    started: list[FakeNode] = []

    def start(chain_id: int = 1337, head: int = 100) -> FakeNode:
        node = FakeNode(chain_id, head)
        threading.Thread(target=node.serve_forever, daemon=True).start()
        started.append(node)
        return node

    yield start
    for node in started:
        node.shutdown()
        node.server_close()


def test_a_node_on_another_chain_or_lagging_is_left_for_the_first_healthy_one(fake_nodes):
    wrong_chain, lagging, good, also_good = (
        fake_nodes(chain_id=31337), fake_nodes(head=90), fake_nodes(head=101), fake_nodes(),
    )  # fmt: skip
    nodes = NodeSet([n.url for n in (wrong_chain, lagging, good, also_good)], chain_id=1337,
                    max_lag=8)  # fmt: skip
    moves: list[tuple[str, str, str]] = []
    nodes.on_switch(lambda left, to, why: moves.append((left, to, why)))

    nodes.check()

    assert nodes.current == good.url
    assert moves[0][:2] == (wrong_chain.url, good.url)
    assert "chain id 31337, not the configured 1337" in moves[0][2]
    health = {h["url"]: h for h in nodes.describe()}
    assert [health[n.url]["healthy"] for n in (wrong_chain, lagging, good, also_good)] == [
        False, False, True, True,
    ]  # fmt: skip


def test_the_node_in_use_is_kept_while_healthy_and_left_when_it_falls_behind(fake_nodes):
    first, second = fake_nodes(head=100), fake_nodes(head=100)
    nodes = NodeSet([first.url, second.url], chain_id=1337, max_lag=2)
    nodes.check()
    first.down = True
    nodes.check()
    assert nodes.current == second.url
    first.down = False
    nodes.check()
    assert nodes.current == second.url  # no flapping back to the first URL

    second.head, first.head = 100, 105  # the node in use three blocks behind the best
    nodes.check()

    assert nodes.current == first.url
    assert "more than 2 behind" in nodes.switches[-1].why


def test_a_request_without_an_answer_is_sent_again_to_the_next_node_once(fake_nodes):
    first, second = fake_nodes(head=7), fake_nodes(head=8)
    nodes = NodeSet([first.url, second.url], chain_id=1337)
    nodes.stop()  # no health checks: only the requests move it here
    transport = JsonRpcTransport(nodes)
    first.down = True

    assert transport.call("eth_blockNumber", []) == hex(8)
    assert transport.url == second.url
    assert transport.nodes.switches[-1].left == first.url

    second.down = True
    asked = first.requests + second.requests
    with pytest.raises(TransientError):
        transport.call("eth_blockNumber", [])
    # Each node once, then the failure is the caller's; no bouncing between dead nodes.
    assert first.requests + second.requests - asked <= 2


def test_settings_take_several_urls_with_the_first_as_rpc_url() -> None:
    settings = Settings(rpc_urls=" http://a:8545, http://b:8545 ,", managed_node=False)

    assert settings.rpc_endpoints == ["http://a:8545", "http://b:8545"]
    assert settings.rpc_url == "http://a:8545"
    assert Settings(rpc_url="http://c:8545", managed_node=False).rpc_endpoints == ["http://c:8545"]
    with pytest.raises(ValueError, match="LEDGER_MANAGED_NODE=false"):
        Settings(rpc_urls="http://127.0.0.1:1,http://127.0.0.1:2", managed_node=True)
