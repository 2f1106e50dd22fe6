"""Failover between two nodes behind LEDGER_RPC_URLS (issue 22).

Two anvil nodes of one chain, each behind a proxy that records the signed transactions
it forwards: the service is given both (``LEDGER_RPC_URLS``). Node 1 serves, saving its
state every half second; node 2 is down. Writers register and mint; node 1 is SIGKILLed
under them, and node 2 starts from a save of node 1 taken before its last two accepted
writes, as a node restarted from its disk would: it lacks the last blocks. The service moves to node 2 by itself (and with
LEDGER_FAILOVER_ROUNDS > 1, `make failover`, back and forth: the node in use killed,
the other started from its last save); then:

- writes resume on node 2 (the failover time, kill to the first write accepted from
  node 2, is printed with ``-s``);
- every transaction node 2 lacked (pending when node 1 died, or mined in the lost
  blocks) reaches node 2 as the bytes first signed, each sent there once: nothing is
  signed again with another nonce;
- every accepted write is on node 2's chain and in the index exactly once, every
  ambiguous one at most once, and reconcile finds nothing (workload.verify_writes).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_utils import keccak
from service_stack import RpcProxy, Stack, running_stack
from workload import Recorder, Writers, report, verify_writes

from ledger_app.chain.client import ChainClient
from ledger_app.chain.node import AnvilNode, find_anvil

pytestmark = pytest.mark.slow

#: Kills, each of the node in use (the two take turns); `make failover` runs more.
ROUNDS = int(os.environ.get("LEDGER_FAILOVER_ROUNDS", "1"))

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
                      log_file=tmp_path / "node2" / "anvil.log", state_interval=0.5)  # fmt: skip
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
    current, standby = (stack.node, proxy1), (node2, proxy2)
    recorder = Recorder()
    failovers: list[float] = []
    resent_per_round: list[dict[str, int]] = []
    with Writers(stack, recorder, run="fo", patience=60) as writers:
        for _ in range(ROUNDS):
            writers.wait_accepted(4)
            # The standby will come up with a save of the node in use from before its
            # last two accepted writes at least, as a node restarted from its disk would
            # be: it lacks blocks the service acknowledged.
            standby[0].state_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(current[0].state_file, standby[0].state_file)
            writers.wait_accepted(2)
            time.sleep(0.3)  # writes in flight at the kill
            before = Counter(standby[1].raw_sent)
            killed_at = time.monotonic()
            stack.node = current[0]
            stack.kill_node()
            standby[0].start()
            started_at = time.monotonic()
            stack.node = standby[0]
            stack.service.client = ChainClient(standby[0].rpc_url, poll_interval=0.01)
            writers.wait_accepted(6, timeout=90)
            after = [a.at for a in recorder.snapshot() if a.accepted and a.at > started_at]
            failovers.append(round(min(after) - killed_at, 2))
            sent_here = Counter(standby[1].raw_sent)
            sent_here.subtract(before)
            resent_per_round.append(
                {h: n for h, n in sent_here.items() if n and h in current[1].raw_sent}
            )
            current, standby = standby, current
    health = httpx.get(f"{stack.base_url}/health", timeout=10).json()
    attempts = recorder.snapshot()
    verdict = verify_writes(stack, attempts)

    report("failover", verdict, attempts, rounds=ROUNDS, failover_seconds=failovers,
           resent=[len(r) for r in resent_per_round], sent_to_node1=len(proxy1.raw_sent),
           sent_to_node2=len(proxy2.raw_sent))  # fmt: skip
    assert writers.errors == []
    assert verdict.problems == []
    assert verdict.accepted >= 12 * ROUNDS
    # Each new node lacked some of the old one's transactions (two accepted writes at
    # least), and got each as the bytes first signed, once; nothing was signed anew for
    # them (that would be a new hash).
    for resent in resent_per_round:
        assert len(resent) >= 2, resent
        assert set(resent.values()) == {1}, resent
    assert max(failovers) < 30
    assert health["chain"]["rpc_url"] == current[1].url
    assert [(n["url"], n["in_use"]) for n in health["chain"]["nodes"]] == [
        (proxy1.url, current[1] is proxy1), (proxy2.url, current[1] is proxy2),
    ]  # fmt: skip
