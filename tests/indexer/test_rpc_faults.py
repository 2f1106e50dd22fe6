"""A flaky node: errors, 429, 5xx, dropped connections, hangs and range limits."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import index_to_head, mismatches

from ledger_app.audit.reconcile import digest
from ledger_app.db import migrate
from ledger_app.db.engine import make_engine

FAULTS = (
    "ok",
    "429",
    "ok",
    "500",
    "ok",
    "503",
    "ok",
    "drop",
    "ok",
    "ok",
    "hang",
    "ok",
    "502",
    "ok",
)
MAX_LOG_SPAN = 2  # blocks per eth_getLogs the "provider" accepts


class FaultProxy(ThreadingHTTPServer):
    """Forwards JSON-RPC to anvil, failing requests in the order of FAULTS."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.schedule = itertools.cycle(FAULTS)
        self.seen: dict[str, int] = {}
        self.refused = 0  # log queries refused as too wide
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_fault(self) -> str:
        with self.lock:
            fault = next(self.schedule)
            self.seen[fault] = self.seen.get(fault, 0) + 1
            return fault


class _Handler(BaseHTTPRequestHandler):
    server: FaultProxy

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fault = self.server.next_fault()
        if fault == "drop":
            self.close_connection = True
            return
        if fault == "hang":
            time.sleep(0.8)  # longer than the indexer's RPC timeout
            self.close_connection = True
            return
        if fault != "ok":
            self.send_response(int(fault))
            self.end_headers()
            return
        too_wide = _too_wide_log_query(json.loads(body))
        if too_wide is not None:
            self.server.refused += 1
            self._reply(json.dumps(too_wide).encode())
            return
        request = urllib.request.Request(
            self.server.upstream, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as upstream:
            self._reply(upstream.read())

    def _reply(self, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _too_wide_log_query(request: object) -> object | None:
    if not isinstance(request, dict) or request.get("method") != "eth_getLogs":
        return None
    query = request["params"][0]
    span = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
    if span <= MAX_LOG_SPAN:
        return None
    message = f"query exceeds max block range {MAX_LOG_SPAN}"
    return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32005, "message": message}}


@pytest.fixture
def fault_proxy(anvil) -> Iterator[FaultProxy]:
    proxy = FaultProxy(anvil.rpc_url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_index_through_faulty_node_ends_consistent(
    ledger, fault_proxy, make_indexer, artifacts, engine, tmp_path
):
    ledger.scenario()
    indexer = make_indexer(rpc_url=fault_proxy.url, rpc_timeout=0.3)
    indexer.rpc.backoff_max = 0.2

    block = index_to_head(indexer)

    assert block == ledger.head()
    assert {"429", "500", "502", "503", "drop", "hang"} <= set(fault_proxy.seen)
    assert indexer.rpc.errors >= 6
    assert fault_proxy.refused >= 1  # a wide range was refused, narrower ones got through
    assert indexer.range <= MAX_LOG_SPAN  # and the range stays under the node's limit
    assert mismatches(indexer, artifacts, block) == []
    fresh = make_engine(f"sqlite:///{tmp_path}/fresh.db")
    migrate.upgrade(fresh)
    index_to_head(make_indexer(engine=fresh))
    assert digest(engine, 31337) == digest(fresh, 31337)


def test_node_going_away_and_back_is_survived(anvil, ledger, make_indexer, artifacts, engine):
    ledger.scenario()
    indexer = make_indexer(rpc_timeout=0.5)
    indexer.rpc.give_up_after = 0.3  # the loop itself must then wait and retry
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            indexer.run(follow=False)
        except BaseException as exc:  # pragma: no cover - reported below
            failure.append(exc)
        finally:
            done.set()

    anvil.stop()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(1.5)
    assert not done.is_set()  # waiting for the node, not crashed
    anvil.start()  # same state file: the same chain comes back
    assert done.wait(60)

    assert failure == []
    block = indexer.store.checkpoint().block_number
    assert block == ledger.head()
    assert mismatches(indexer, artifacts, block) == []
