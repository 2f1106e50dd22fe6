"""The benchmark's own anvil, and the generated ledger history the indexer benchmark reads.

anvil runs with a block gas limit of 1e9 (a registerBatch of 150 needs about 26M) and
a first-in-first-out pool. Generation turns automine off: a round's transactions are
signed with explicit nonces, sent in order and mined together by ``evm_mine`` into one
block, whose receipts are then checked. anvil's cost per block grows with the state
(it recomputes the state root), so one block per transaction made a 100k-event history
take most of an hour, and large histories put many cycles in a block. Elsewhere
(automine) each receipt is awaited before the next send: a second pending transaction
of one sender stalls automine (foundry-rs/foundry#10122).

The generated chain is cached under bench/.cache/ (the node's saved state), keyed by
the contracts' events and the event target, so a re-run reuses it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ledger_app import PROJECT_ROOT
from ledger_app.chain.abi import encode_function_call
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.keys import anvil_dev_account
from ledger_app.chain.node import AnvilNode, find_anvil
from ledger_app.chain.rpc import RpcClient

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "indexer"))
from ledger import CAST, DAY, MAX_UINT, Ledger

CACHE = PROJECT_ROOT / "bench" / ".cache"
ARTIFACTS = PROJECT_ROOT / ".build" / "__local__.json"
GAS_LIMIT = 1_000_000_000
GAS_PRICE = 5 * 10**9  # above anvil's base fee, which only falls with these near-empty blocks


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class BenchAnvil(AnvilNode):
    """AnvilNode with a block gas limit large enough for many registerBatch(150), and
    without old blocks' states: kept, they took 5.8 GB of memory at 60k events, and no
    benchmark calls at a past block (the blocks, receipts and logs all stay)."""

    save_on_stop = False  # a benchmark's chain is thrown away, or saved by generate()

    def command(self) -> list[str]:
        """The managed node's command line plus --gas-limit and --prune-history."""
        return [*super().command(), "--gas-limit", str(GAS_LIMIT), "--order", "fifo",
                "--prune-history"]  # fmt: skip


def start_anvil(work: Path, state: Path | None = None) -> BenchAnvil:
    """A fresh anvil (automine) in ``work``, loading ``state`` (a cached dump) if given."""
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "state.json"
    if state is not None:
        shutil.copyfile(state, state_file)
    else:
        state_file.unlink(missing_ok=True)  # anvil would load a dump left there
    node = BenchAnvil(
        binary=find_anvil(),
        port=free_port(),
        chain_id=31337,
        state_file=state_file,
        log_file=work / "anvil.log",
        start_timeout=900,  # loading a million events' dump takes minutes
    )
    return node.start()


def events_hash(artifacts: Artifacts) -> str:
    """Hash of every contract's events: the indexer benchmark reads a history's events,
    so it stays valid while they do, even when other work recompiles the contracts
    (a new custom error, a cheaper check) meanwhile."""
    raw = json.loads(ARTIFACTS.read_text())
    events = {
        name: sorted((e for e in t.get("abi", []) if e.get("type") == "event"), key=json.dumps)
        for name, t in sorted(raw.get("contractTypes", {}).items())
    }
    return hashlib.sha256(json.dumps(events, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RawSender:
    """Signs and sends transactions with explicit nonces into the pool of an anvil whose
    automine is off; ``mine()`` mines what the pool holds into one block (``--order fifo``
    keeps arrival order, so a transaction may depend on any sent before it)."""

    rpc: RpcClient
    ledger: Ledger
    nonces: dict[str, int] = field(default_factory=dict)
    hashes: list[str] = field(default_factory=list)
    sent: int = 0

    def send(self, who: str, name: str, function: str, *args: Any, gas: int = 3_000_000) -> str:
        """``who`` calls ``function(*args)``: signed and put in the pool, mined by ``mine()``."""
        account: LocalAccount = self.ledger.accounts[who]
        if who not in self.nonces:
            self.nonces[who] = int(
                self.rpc.call("eth_getTransactionCount", [account.address, "pending"]), 16
            )
        abi = self.ledger.artifacts[self.ledger.kinds[name]].abi
        tx = {
            "to": self.ledger.addresses[name],
            "data": encode_function_call(abi, function, args),
            "value": 0,
            "gas": gas,
            "gasPrice": GAS_PRICE,
            "nonce": self.nonces[who],
            "chainId": 31337,
        }
        self.nonces[who] += 1
        raw = account.sign_transaction(tx).raw_transaction
        tx_hash = self.rpc.call("eth_sendRawTransaction", ["0x" + bytes(raw).hex()])
        self.hashes.append(tx_hash)
        self.sent += 1
        return tx_hash

    def mine(self) -> None:
        """Mine what the pool holds into one block, then check every receipt."""
        if self.hashes:
            self.rpc.call("evm_mine", [])
        self.check()

    def check(self) -> None:
        """Every transaction sent since the last check succeeded (a revert would skew the mix)."""
        deadline = time.monotonic() + 60
        pending = list(self.hashes)
        while pending:
            receipts = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in pending[:200]])
            for tx_hash, receipt in zip(pending[:200], receipts, strict=True):
                if receipt is not None and receipt["status"] != "0x1":
                    raise RuntimeError(f"generation transaction {tx_hash} reverted: {receipt}")
            # anvil may answer eth_sendRawTransaction just before the block is stored.
            unmined = [h for h, r in zip(pending[:200], receipts, strict=True) if r is None]
            pending = unmined + pending[200:]
            if unmined:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"generation transactions never mined: {unmined[:3]}")
                time.sleep(0.002)
        self.hashes.clear()


@dataclass
class GeneratedChain:
    """A ledger history on a running anvil: where it is and how big."""

    node: BenchAnvil
    ledger: Ledger
    head: int
    mid_block: int  # the head when half the events were sent (the RSS run's small size)
    transactions: int
    seconds: float
    cached: bool


def _cycle_open(sender: RawSender, ledger: Ledger, ids: list[int], serial: int, now: int) -> int:
    """The first part of one round of the mix: a registerBatch of 150, confirmations,
    splits, transfers, one financing, and a short-dated root (due tomorrow) confirmed and
    split into 4. Returns the short root's id; its first leaf follows it.

    ``ids`` holds the next receivable id (the registry numbers ids consecutively)."""
    supplier = ledger.accounts["supplier"].address
    rows = [
        (supplier, 100_00, b"CNY", now + 90 * DAY,
         keccak(text=f"bench-{serial}-{i}"), keccak(text="documents"), 0)
        for i in range(150)
    ]  # fmt: skip
    sender.send("core", "receivables", "registerBatch", rows, gas=40_000_000)
    first = ids[0]
    ids[0] += 150
    for rid in range(first, first + 20):
        sender.send("supplier", "receivables", "confirm", rid)
    for k in range(5):  # five roots split into 10 children
        sender.send("supplier", "receivables", "split", first + k, [10_00] * 10, gas=6_000_000)
    children = ids[0]
    ids[0] += 50
    for child in range(children, children + 10):
        sender.send("supplier", "receivables", "transfer", child,
                    ledger.accounts["supplier2"].address)  # fmt: skip
    # One financing: request, two offers, accept.
    financed = first + 10
    sender.send("supplier", "desk", "request", financed, "0x" + "00" * 20)
    financing = serial + 1  # one request per cycle, ids from 1
    terms = (9_000, 800, 365, False, 7 * DAY, now + 30 * DAY, 1_000)
    for financier in ("financier", "financier2"):
        sender.send(financier, "desk", "offer", financing, terms)
    sender.send("supplier", "desk", "accept", financing, 0)
    # A settlement: a root due tomorrow, confirmed, split into 4 (repaid and redeemed
    # by _cycle_close once the clock has passed its due date).
    short = ids[0]
    ids[0] += 5
    sender.send("core", "receivables", "register",
                (supplier, 40_00, b"CNY", now + DAY, keccak(text=f"bench-short-{serial}"),
                 keccak(text="documents"), 0))  # fmt: skip
    sender.send("supplier", "receivables", "confirm", short)
    sender.send("supplier", "receivables", "split", short, [10_00] * 4)
    return short


def _cycle_close(sender: RawSender, short: int) -> None:
    """The settlement of a cycle's short root: the debtor repays it, the leaves are redeemed."""
    sender.send("core", "clearing", "repay", short)
    for leaf in range(short + 1, short + 5):
        sender.send("supplier", "clearing", "redeem", leaf)


EVENTS_PER_CYCLE = 380  # about
MAX_CYCLES_PER_BLOCK = 30  # about 31M gas a cycle, inside the 1e9 block gas limit


def cycles_per_block(cycles: int) -> int:
    """How many cycles share a block: one up to 100 cycles (quick mode's history keeps one
    a block), then enough to keep a history near 200 blocks. Each block costs anvil time
    in proportion to the whole state (an empty block took 0.05 s at 12k events and 0.5 s
    at 100k: it recomputes the state root), so a million events one cycle a block would
    take hours; blocks of many cycles keep generation near linear."""
    return min(MAX_CYCLES_PER_BLOCK, max(1, cycles // 100))


def generate(work: Path, events: int, artifacts: Artifacts, log: Any = print) -> GeneratedChain:
    """A chain of about ``events`` events, from bench/.cache/ if a dump for it exists."""
    per_block = cycles_per_block(max(1, -(-events // EVENTS_PER_CYCLE)))
    key = f"chain-{events_hash(artifacts)}-{events}-{per_block}perblock"
    dump, meta_file = CACHE / f"{key}.state.json", CACHE / f"{key}.meta.json"
    if dump.is_file() and meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        node = start_anvil(work / "anvil", dump)
        ledger = Ledger(ChainClient(node.rpc_url, poll_interval=0.01), artifacts)
        ledger.addresses, ledger.kinds = meta["addresses"], meta["kinds"]
        # The cast's keys are anvil's dev accounts, as deploy() chose them.
        ledger.accounts = {name: anvil_dev_account(i) for name, (i, _, _) in CAST.items()}
        ledger.accounts["operator"] = ledger.operator
        ledger.deployment_block = meta["deployment_block"]
        if ledger.head() != meta["head"]:
            raise RuntimeError(
                f"cached chain {dump} restarted at {ledger.head()}, not {meta['head']}"
            )
        log(f"chain: reused {dump.name} ({meta['head']:,} blocks)")
        return GeneratedChain(node, ledger, meta["head"], meta["mid_block"],
                              meta["transactions"], meta["seconds"], cached=True)  # fmt: skip
    node = start_anvil(work / "anvil")
    started = time.perf_counter()
    ledger = Ledger(ChainClient(node.rpc_url, poll_interval=0.01), artifacts).deploy()
    ledger.list_token(b"CNY")
    ledger.send("bank", "cny", "mint", ledger.accounts["core"].address, 10**15)
    for financier in ("financier", "financier2"):
        ledger.send("bank", "cny", "mint", ledger.accounts[financier].address, 10**15)
        ledger.send(financier, "cny", "approve", ledger.addresses["desk"], MAX_UINT)
        # A financier funds only within a line it granted (tests/indexer/ledger.py).
        ledger.grant_line(financier, limit=2**120, expires_in=10 * 365 * DAY)
    ledger.send("core", "cny", "approve", ledger.addresses["clearing"], MAX_UINT)
    rpc = RpcClient(node.rpc_url, timeout=120)
    # One block per cycle, not per transaction: anvil's cost per block grows with the
    # state (the 100k-event history took most of an hour one transaction a block).
    rpc.call("evm_setAutomine", [False])
    sender = RawSender(rpc, ledger)
    ids = [int(ledger.view("receivables", "lastId")) + 1]
    cycles = max(1, -(-events // EVENTS_PER_CYCLE))
    per_block = cycles_per_block(cycles)
    transactions, mid_block = 0, 0
    for first in range(0, cycles, per_block):
        serials = range(first, min(cycles, first + per_block))
        now = ledger.now()
        shorts = [_cycle_open(sender, ledger, ids, serial, now) for serial in serials]
        sender.mine()  # the clock moves after the short roots are registered
        rpc.call("evm_increaseTime", [DAY + 1])
        for short in shorts:
            _cycle_close(sender, short)
        sender.mine()
        transactions = sender.sent
        if first <= cycles // 2 < first + per_block:
            mid_block = ledger.head()
        if first % (20 * per_block) == 0:
            log(f"chain: cycle {first + 1}/{cycles}, {transactions:,} transactions, "
                f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    seconds = time.perf_counter() - started
    head = ledger.head()
    node.save_state()  # about 3 kB an event
    node.stop(timeout=900)
    CACHE.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(node.state_file, dump)
    meta = {"addresses": ledger.addresses, "kinds": ledger.kinds, "head": head,
            "deployment_block": ledger.deployment_block, "mid_block": mid_block,
            "transactions": transactions, "seconds": seconds}  # fmt: skip
    meta_file.write_text(json.dumps(meta, indent=2))
    node.start()
    if ledger.head() != head:
        raise RuntimeError(f"anvil restarted at block {ledger.head()}, not {head}")
    log(f"chain: {transactions:,} transactions, {head:,} blocks in {seconds:.0f} s; cached")
    return GeneratedChain(node, ledger, head, mid_block, transactions, seconds, cached=False)


def add_tree(chain: GeneratedChain, groups: int, fanout: int) -> int:
    """A root split into ``groups`` children, each split into ``fanout`` leaves, sent on
    top of the (cached) history: the tree the trace benchmark reads among every event.
    Returns the root's id; the chain's head moves past it."""
    ledger = chain.ledger
    root = ledger.register(groups * fanout * 100)
    ledger.send("supplier", "receivables", "confirm", root)
    ledger.send("supplier", "receivables", "split", root, [fanout * 100] * groups)
    first_child = int(ledger.view("receivables", "lastId")) - groups + 1
    for child in range(first_child, first_child + groups):
        ledger.send("supplier", "receivables", "split", child, [100] * fanout)
    chain.head = ledger.head()
    return root
