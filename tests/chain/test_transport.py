"""The one JSON-RPC transport (chain/transport.py) under ChainClient and RpcClient:
ids matched in a batch, HTTP failures translated once (retried by a client with a
retry policy, reported at once by one without), and a write's receipt logs decoded
as the node sent them, with the indexer's decoder."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from ledger_app import PROJECT_ROOT
from ledger_app.chain.abi import encode_function_call
from ledger_app.chain.client import ChainClient, Receipt
from ledger_app.chain.decode import UnknownEventError, build_decoder
from ledger_app.chain.rpc import RpcClient
from ledger_app.chain.sender import ContractCall, TransactionSender
from ledger_app.chain.transport import JsonRpcTransport, RetryPolicy
from ledger_app.errors import ChainUnavailable, RangeTooLargeError, RPCError, TransientError

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "indexer"))
from ledger import Ledger

#: One scripted answer: (HTTP status, JSON body) for the request body received.
Script = Callable[[Any], tuple[int, Any]]


class ScriptedNode(ThreadingHTTPServer):
    """An HTTP endpoint answering each POST with the next of ``answers``."""

    def __init__(self, answers: list[Script], forward: Script | None = None) -> None:
        self.answers = answers
        self.forward = forward  # once the answers are used up
        self.received: list[Any] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedNode

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append(body)
        script = self.server.answers.pop(0) if self.server.answers else self.server.forward
        assert script is not None, "no answer scripted"
        status, answer = script(body)
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedNode]]:
    servers: list[ScriptedNode] = []

    def start(answers: list[Script], forward: Script | None = None) -> ScriptedNode:
        server = ScriptedNode(answers, forward)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _result(value: Any) -> Script:
    def answer(body: Any) -> tuple[int, Any]:
        if isinstance(body, list):  # answered in reverse order: matched by id
            return 200, [{"jsonrpc": "2.0", "id": r["id"], "result": value(r)} for r in body[::-1]]
        return 200, {"jsonrpc": "2.0", "id": body["id"], "result": value(body)}

    return answer


def _forward(url: str) -> Script:
    return lambda body: (200, requests.post(url, json=body, timeout=30).json())


def _status(code: int) -> Script:
    return lambda body: (code, {"message": "busy"})


def _error(code: int, message: str) -> Script:
    return lambda body: (200, {"jsonrpc": "2.0", "id": body["id"],
                               "error": {"code": code, "message": message}})  # fmt: skip


def test_batch_answers_out_of_order_are_matched_by_id(scripted) -> None:
    node = scripted([_result(lambda request: request["params"][0])])
    transport = JsonRpcTransport(node.url)

    results = transport.batch([("echo", ["a"]), ("echo", ["b"]), ("echo", ["c"])])

    assert results == ["a", "b", "c"]
    assert len({request["id"] for request in node.received[0]}) == 3


def test_transient_failure_is_retried_with_a_policy_and_reported_without(scripted) -> None:
    node = scripted([_status(503), _status(429), _result(lambda r: "0x7a69")])
    patient = JsonRpcTransport(
        node.url, retry=RetryPolicy(backoff_initial=0.01, sleep=lambda s: None)
    )
    assert patient.call("eth_chainId", []) == "0x7a69"
    assert patient.errors == 2

    node.answers[:] = [_status(503), _result(lambda r: "0x7a69")]
    with pytest.raises(TransientError, match="HTTP 503"):
        JsonRpcTransport(node.url).call("eth_chainId", [])


def test_a_halted_policy_ends_a_retry_loop_at_once(free_port) -> None:
    rpc = RpcClient(f"http://127.0.0.1:{free_port()}", timeout=1.0)  # nothing listens
    failed: list[BaseException] = []

    def index() -> None:
        try:
            rpc.block_number()
        except TransientError as exc:
            failed.append(exc)

    retrying = threading.Thread(target=index, daemon=True)
    retrying.start()
    deadline = time.monotonic() + 30
    while rpc.errors < 5 and time.monotonic() < deadline:  # backing off 0.1 s .. 1.6 s
        retrying.join(0.01)
    assert rpc.errors >= 5, "the call never retried"
    rpc.halt()
    retrying.join(0.5)

    assert not retrying.is_alive(), "still retrying half a second after halt()"
    assert len(failed) == 1, "the call did not raise its TransientError"
    with pytest.raises(TransientError):  # halted for good: no wait any more
        rpc.block_number()


def test_a_node_that_accepts_and_never_answers_is_given_up_after_the_timeout() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # the kernel accepts connections; nothing ever reads or answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(ChainUnavailable, match="ReadTimeout"):
            ChainClient(url, timeout=0.5).receipt_if_mined("0x" + "00" * 32)
        took = time.monotonic() - started
    finally:
        silent.close()

    assert 0.5 <= took < 2.0, f"gave up after {took:.2f} s"


def test_http_and_json_rpc_errors_are_translated_once(scripted) -> None:
    node = scripted([_status(413), _error(-32005, "query exceeds max block range 100"),
                     _error(-32000, "nonce too low"), _status(404)])  # fmt: skip
    rpc = RpcClient(node.url, give_up_after=0)

    with pytest.raises(RangeTooLargeError, match="413"):
        rpc.get_logs(0, 1000, [])
    with pytest.raises(RangeTooLargeError, match="max block range"):
        rpc.get_logs(0, 1000, [])
    with pytest.raises(RPCError, match="nonce too low"):
        rpc.call("eth_sendRawTransaction", ["0x00"])
    with pytest.raises(RPCError, match="HTTP 404"):
        rpc.block_number()


def test_chain_client_reads_and_receipts_go_through_the_transport(scripted) -> None:
    node = scripted([_status(502), _status(503), _result(lambda r: "0x2a")])
    client = ChainClient(node.url)

    with pytest.raises(ChainUnavailable, match="HTTP 502"):
        client.block_number()  # through web3's formatting
    with pytest.raises(ChainUnavailable, match="HTTP 503"):
        client.receipt_if_mined("0x" + "00" * 32)  # the node's JSON as it is
    assert client.block_number() == 42
    assert [request["method"] for request in node.received] == [
        "eth_blockNumber", "eth_getTransactionReceipt", "eth_blockNumber"]  # fmt: skip


def _register(ledger: Ledger, invoice_key: bytes) -> Receipt:
    registration = (ledger.accounts["supplier"].address, 1_000_00, b"CNY",
                    ledger.now() + 86_400, invoice_key, b"\x02" * 32, 0)  # fmt: skip
    return ledger.send("core", "receivables", "register", registration)


def test_receipt_logs_decode_as_the_node_sent_them(ledger: Ledger) -> None:
    decoder = build_decoder(ledger.artifacts)
    for address, kind in ledger.contracts().items():
        decoder.follow(address, kind)
    receipt = _register(ledger, b"\x01" * 32)

    events = decoder.decode_known(receipt.logs)

    rpc = RpcClient(ledger.client.rpc_url)
    logs = rpc.get_logs(receipt.block_number, receipt.block_number, list(ledger.contracts()))
    assert events == decoder.decode_all(logs)
    assert "ReceivableRegistered" in [e.name for e in events]
    assert events[0].tx_hash == receipt.transaction_hash


def test_receipt_logs_of_contracts_not_followed_are_skipped(ledger: Ledger) -> None:
    decoder = build_decoder(ledger.artifacts)  # follows nothing yet
    receipt = _register(ledger, b"\x03" * 32)

    with pytest.raises(UnknownEventError):
        decoder.decode(receipt.logs[0])
    assert decoder.decode_known(receipt.logs) == []


def _steps(received: list[Any]) -> list[Any]:
    """The methods asked, a batch as a tuple, a poll repeated counted once."""
    steps: list[Any] = []
    for body in received:
        step = tuple(r["method"] for r in body) if isinstance(body, list) else body["method"]
        if not steps or steps[-1] != step:
            steps.append(step)
    return steps


def test_send_transaction_and_the_sender_take_the_same_steps(ledger: Ledger, scripted) -> None:
    node = scripted([], forward=_forward(ledger.client.rpc_url))
    client = ChainClient(node.url, poll_interval=0.01)
    client.chain_id()
    abi = ledger.artifacts["ReceivableRegistry"].abi
    core = ledger.accounts["core"]

    def call(invoice_key: bytes) -> ContractCall:
        registration = (ledger.accounts["supplier"].address, 1_000_00, b"CNY",
                        ledger.now() + 86_400, invoice_key, b"\x02" * 32, 0)  # fmt: skip
        data = encode_function_call(abi, "register", (registration,))
        return ContractCall(ledger.addresses["receivables"], data, abis=[abi])

    first = call(b"\x05" * 32)
    node.received.clear()
    client.send_transaction(core, to=first.to, data=first.data, abis=first.abis)
    direct = _steps(node.received)
    sender = TransactionSender(client)
    try:
        node.received.clear()
        sender.send(core, call(b"\x06" * 32)).result(timeout=60)
        queued = _steps(node.received)
    finally:
        sender.close()

    prepare = ("eth_estimateGas", "eth_getTransactionCount", "eth_getBlockByNumber")
    assert direct == queued == [prepare, "eth_sendRawTransaction", "eth_getTransactionReceipt"]
