"""The managed anvil's state survives a SIGKILL up to its last save, and a node that dies
unasked is started again from it (``restart_on_exit``). Real anvil processes."""

from __future__ import annotations

import json
import os
import signal
import time

from ledger_app.chain.client import ChainClient
from ledger_app.chain.node import AnvilNode
from ledger_app.settings import Settings


def _mine(client: ChainClient, blocks: int) -> None:
    client.web3.provider.make_request("anvil_mine", [hex(blocks)])


def _wait(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def test_sigkill_keeps_the_chain_up_to_the_last_save(ledger_settings: Settings) -> None:
    settings = ledger_settings.model_copy(update={"anvil_state_interval": 0.2})
    node = AnvilNode.from_settings(settings).start()
    try:
        client = ChainClient(node.rpc_url)
        _mine(client, 7)
        saved_hash = client.block_hash(7)
        _wait(lambda: node.saves >= 1 and json.loads(node.state_file.read_text()).get("block"))
        _wait(lambda: int(json.loads(node.state_file.read_text())["block"]["number"], 16) >= 7)
        os.kill(node.pid, signal.SIGKILL)  # no clean exit: anvil itself writes nothing
        _wait(lambda: node.pid is None)
        node.start()
        assert client.block_number() >= 7
        assert client.block_hash(7) == saved_hash
    finally:
        node.stop()


def test_the_state_file_is_always_whole(ledger_settings: Settings) -> None:
    # Saved through a temporary file and a rename: a reader never sees half a file.
    settings = ledger_settings.model_copy(update={"anvil_state_interval": 0.05})
    node = AnvilNode.from_settings(settings).start()
    try:
        client = ChainClient(node.rpc_url)
        reads, deadline = 0, time.monotonic() + 30
        while node.saves < 5:
            assert time.monotonic() < deadline, "fewer than 5 saves in 30 s"
            _mine(client, 3)
            if node.state_file.exists():
                json.loads(node.state_file.read_text())
                reads += 1
            time.sleep(0.01)
        assert reads > 10
    finally:
        node.stop()


def test_node_that_dies_unasked_is_started_again(ledger_settings: Settings) -> None:
    settings = ledger_settings.model_copy(update={"anvil_state_interval": 0.2})
    node = AnvilNode.from_settings(settings, restart_on_exit=True).start()
    try:
        client = ChainClient(node.rpc_url)
        _mine(client, 5)
        _wait(lambda: node.saves >= 1)
        first = node.pid
        os.kill(first, signal.SIGKILL)
        _wait(lambda: node.restarts == 1 and node.pid not in (None, first))
        assert client.block_number() >= 5
    finally:
        node.stop()
    assert node.pid is None
