"""Failover between two nodes behind LEDGER_RPC_URLS (issue 22).

Two anvil nodes of one chain, each behind a proxy that records the signed transactions
it forwards: the service is given both (``LEDGER_RPC_URLS``). Node 1 serves, saving its
state every half second; node 2 is down. Writers register and mint; node 1 is SIGKILLed
under them, and node 2 starts from node 1's last saved state, as a restarted node
would: it lacks the last blocks. The service moves to node 2 by itself; then:

- writes resume on node 2 (the failover time, kill to the first write accepted from
  node 2, is printed with ``-s``);
- every transaction node 2 lacked (pending when node 1 died, or mined in the lost
  blocks) reaches node 2 as the bytes first signed, each sent there once: nothing is
  signed again with another nonce;
- every accepted write is on node 2's chain and in the index exactly once, every
  ambiguous one at most once, and reconcile finds nothing (workload.verify_writes).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils import keccak
from service_stack import RpcProxy, Stack, running_stack
from workload import Recorder, Writers, report, verify_writes

from ledger_app.chain.client import ChainClient
from ledger_app.chain.node import AnvilNode, find_anvil

pytestmark = pytest.mark.slow

CAST = {
    "core": ["CORE_ENTERPRISE"],
    "supplier": ["SUPPLIER"],
    "financier": ["FINANCIER"],
    "bank": ["SETTLEMENT_BANK"],
    "auditor": ["AUDITOR"],
}


class RecordingProxy(RpcProxy):
    """An RpcProxy that counts, per transaction hash, the signed transactions forwarded."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.raw_sent: Counter[str] = Counter()

    def spring(self, body: bytes) -> None:
        """Count each eth_sendRawTransaction the node received (then the armed action)."""
        if b'"eth_sendRawTransaction"' in body:
            import json

            request = json.loads(body)
            for call in request if isinstance(request, list) else [request]:
                if call.get("method") == "eth_sendRawTransaction":
                    raw = bytes.fromhex(call["params"][0][2:])
                    with self._lock:
                        self.raw_sent["0x" + keccak(raw).hex()] += 1
        super().spring(body)


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[Stack, RecordingProxy, AnvilNode]]:
    from apikit import free_tcp_port

    node2 = AnvilNode(binary=find_anvil(), port=free_tcp_port(), chain_id=31337,
                      state_file=tmp_path / "node2" / "state.json",
                      log_file=tmp_path / "node2" / "anvil.log")  # fmt: skip
    proxy2 = RecordingProxy(node2.rpc_url).start()
    proxy1 = RecordingProxy("")  # running_stack points it at node 1
    env = {
        "LEDGER_WRITE_INDEX_WAIT": "2",
        "LEDGER_RPC_MAX_LAG": "2",
        "LEDGER_RPC_CHECK_INTERVAL": "0.5",
        "LEDGER_RPC_TIMEOUT": "2",
        "LEDGER_JOURNAL_CHECK_INTERVAL": "0.5",
    }
    try:
        with running_stack(tmp_path, CAST, env=env, state_interval=0.5,
                           proxy=proxy1, also_urls=[proxy2.url]) as stack:  # fmt: skip
            yield stack, proxy2, node2
    finally:
        proxy2.close()
        node2.stop()


def test_node_killed_under_writes_fails_over_and_resends_the_same_bytes_once(
    two_nodes: tuple[Stack, RecordingProxy, AnvilNode],
) -> None:
    stack, proxy2, node2 = two_nodes
    proxy1 = stack.proxy
    recorder = Recorder()
    with Writers(stack, recorder, run="fo", patience=60) as writers:
        writers.wait_accepted(6)
        time.sleep(0.3)  # writes in flight at the kill
        killed_at = time.monotonic()
        stack.kill_node()
        # Node 2 comes up with node 1's last save: up to half a second of blocks short.
        node2.state_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(stack.node.state_file, node2.state_file)
        node2.start()
        started_at = time.monotonic()
        stack.node = node2
        stack.service.client = ChainClient(node2.rpc_url, poll_interval=0.01)
        writers.wait_accepted(6, timeout=90)
    attempts = recorder.snapshot()
    verdict = verify_writes(stack, attempts)

    after = [a for a in attempts if a.accepted and a.at > started_at]
    failover = min(a.at for a in after) - killed_at
    resent = {h: n for h, n in proxy2.raw_sent.items() if h in proxy1.raw_sent}
    report("failover", verdict, attempts, failover_seconds=round(failover, 2),
           node2_start_seconds=round(started_at - killed_at, 2), resent=len(resent),
           sent_to_node1=len(proxy1.raw_sent), sent_to_node2=len(proxy2.raw_sent))  # fmt: skip
    assert writers.errors == []
    assert verdict.problems == []
    assert verdict.accepted >= 12
    # Node 2 lacked some of node 1's transactions, and got each as the bytes first signed,
    # once; nothing was signed anew for them (a new signature would be a new hash).
    assert resent, "node 2 lacked nothing: the kill came between saves and writes"
    assert set(resent.values()) == {1}, resent
    assert failover < 30
