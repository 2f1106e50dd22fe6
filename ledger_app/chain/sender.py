"""Sending transactions: one queue and one worker thread per sender address.

Each sender's transactions go out strictly one after the other: the next is
built (gas, nonce, fees) only once the previous one is mined. That keeps
nonces gap-free without a local nonce counter (the node's pending count is
exact when nothing of ours is pending) and never leaves several transactions
of one sender in anvil's pool, which is what stalls its automine
(foundry-rs/foundry#10122).

A transaction not mined after ``stuck_after`` seconds is looked up: if the
node has forgotten it (dropped from the pool), the same signed bytes, same
nonce, are sent again; if it is still pending, the worker keeps waiting up to
``receipt_timeout`` and then reports ChainTimeout. A transaction left pending
that way is not forgotten: the sender's next job first waits for it again
(re-sending it if dropped) and fails with ChainTimeout while it is unresolved,
so nothing is sent on top of an unmined nonce and nothing is lost silently.
A node that does not answer while a transaction is out (a failed broadcast, a
receipt poll) does not fail the write: the transaction may be mined, so it is
waited for the same way, and a client retrying the write cannot send it twice.

Reverts found by gas estimation raise TransactionReverted before anything is
sent; a mined transaction that reverted is replayed to decode its error.

Write-ahead: a custodial transaction is signed, then handed to ``journal`` (the
service stores its bytes, hash and nonce), and only then broadcast; if the journal
cannot take it, nothing is sent. So every transaction that may be out is on record,
and a process that dies at any point leaves a row recovery can resolve against the
chain (ledger_app/api/services/journal.py).

Each worker remembers the next nonce it expects its account to have: a node whose
count is lower has forgotten transactions this process sent (a node restarted from
an older state). Nothing is signed on top of that; ChainRewound is raised and
``on_rewound`` called, so the journal can send the forgotten ones again first.

``stop()`` (the service shutting down) makes every wait give up at once: a job already
signed fails with ChainTimeout (it stays journaled as pending), one not yet signed
with TransactionNotSent; so a shutdown is bounded even while the node is away.

A job may be queued ``after`` an earlier one of the same sender (the chunks of one
batch): the worker takes it only if that one succeeded, and fails it with
TransactionNotSent otherwise, so a request's later transactions wait in the queue
while it follows its earlier ones, and none goes out behind a failure.

Several processes sending for one account (API replicas on PostgreSQL): each job runs
under ``account_lock`` (a lock per account shared by every process, db/locks.py
NamedLocks), from before its nonce is read until it is mined or given up. Inside it,
``settle_account`` first settles what another process left of this account on record (a
transaction it journaled and died before seeing mined: the same bytes waited for or sent
again, never signed anew) and gives the next nonce the journal expects; a node whose count
is lower lost transactions (ChainRewound, as above, but across processes). So only the
holder ever has a transaction of the account pending, and the node's pending count is
exact for it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from ledger_app.chain.abi import ABI
from ledger_app.chain.client import ChainClient
from ledger_app.chain.rawtx import decode_raw_transaction
from ledger_app.chain.reads import Receipt
from ledger_app.chain.sending import signed_bytes, transaction_request
from ledger_app.errors import (
    ChainRewound,
    ChainTimeout,
    ChainUnavailable,
    RPCError,
    TransactionLost,
    TransactionNotSent,
    TransactionReverted,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContractCall:
    """What a write does on chain: ``to`` (None: create a contract), calldata and value."""

    to: str | None
    data: bytes
    value: int = 0
    abis: Sequence[ABI] = field(default=(), repr=False, compare=False)
    # Gas already estimated (with the client's margin) by a caller that simulated the
    # call just before, e.g. every chunk of a batch before sending any: not asked again.
    gas: int | None = None


@dataclass
class _Job:
    sender: str
    call: ContractCall
    account: LocalAccount | None = None  # custodial: the worker signs
    raw: bytes | None = None  # external: already signed
    after: Future[Receipt] | None = None  # sent only if this earlier job succeeded
    transaction_id: str | None = None  # its row in the journal
    future: Future[Receipt] = field(default_factory=Future)


@dataclass
class InFlight:
    """A signed transaction on its way: what the journal stores before the broadcast."""

    transaction_hash: str
    raw: bytes
    nonce: int
    tx: dict[str, Any]
    transaction_id: str | None = None


#: Called with (transaction id, the signed transaction) before it is broadcast.
Journal = Callable[[str, InFlight], None]
#: Called with (account, the process's stopping event): holds the account's lock.
AccountLock = Callable[[str, threading.Event], contextlib.AbstractContextManager[Any]]
#: Called with (account, journal rows this worker follows) under the account's lock:
#: settles other processes' pending rows of it; the next nonce on record, or None.
SettleAccount = Callable[[str, set[str]], int | None]


class TransactionSender:
    """Per-address queues of transactions, each drained by a single worker thread."""

    def __init__(
        self,
        client: ChainClient,
        *,
        stuck_after: float = 15.0,
        receipt_timeout: float | None = None,
        poll_interval: float = 0.02,
        on_mined: Callable[[Receipt], None] | None = None,
        journal: Journal | None = None,
        on_rewound: Callable[[str], None] | None = None,
        account_lock: AccountLock | None = None,
        settle_account: SettleAccount | None = None,
    ) -> None:
        self.client = client
        self.account_lock = account_lock
        self.settle_account = settle_account
        self.stuck_after = stuck_after
        self.receipt_timeout = receipt_timeout or client.receipt_timeout
        self.poll_interval = poll_interval
        self.on_mined = on_mined
        self.journal = journal
        self.on_rewound = on_rewound
        self.stopping = threading.Event()
        self._recheck = 0  # raised by recheck(): every wait asks the node again at once
        self._workers: dict[str, _Worker] = {}
        self._guard = threading.Lock()
        self._closed = False

    def send(
        self,
        account: LocalAccount,
        call: ContractCall,
        *,
        after: Future[Receipt] | None = None,
        transaction_id: str | None = None,
    ) -> Future[Receipt]:
        """Queue ``call`` signed by ``account``; the future gives its receipt or the error.
        ``after``: an earlier job of the same account; if it fails, this one is not sent.
        ``transaction_id``: its journal row, handed to ``journal`` before the broadcast."""
        job = _Job(
            sender=account.address,
            call=call,
            account=account,
            after=after,
            transaction_id=transaction_id,
        )
        return self._enqueue(job)

    def send_signed(
        self, sender: str, raw: bytes, call: ContractCall, *, transaction_id: str | None = None
    ) -> Future[Receipt]:
        """Queue a transaction ``sender`` signed itself (``call`` is what it was checked to do;
        the caller journaled it already)."""
        job = _Job(
            sender=to_checksum_address(sender), call=call, raw=raw, transaction_id=transaction_id
        )
        return self._enqueue(job)

    def active_transactions(self) -> set[str]:
        """Journal rows of the jobs this process has queued or is following."""
        with self._guard:
            workers = list(self._workers.values())
        return {i for worker in workers for i in worker.active_ids()}

    def queue_depths(self) -> dict[str, int]:
        """Jobs waiting per sender address (for /metrics)."""
        with self._guard:
            return {address: w.jobs.qsize() for address, w in self._workers.items()}

    def recheck(self) -> None:
        """Have every transaction being waited for looked up now, and sent again if the node
        forgot it (after a node restarted from an older state), not at its stuck timer."""
        self._recheck += 1

    def expect_nonces(self, expected: Mapping[str, int]) -> None:
        """Take each account's nonce from the journal's record from now on (``expected``: by
        lowercase address; an account not in it: the node's nonce), after the journal has
        sent again what a restarted node lacked, or given up on what it could not. Should
        the node still lack one the journal holds, a send is refused (ChainRewound), and
        the journal looks again, rather than take the nonce of a write acknowledged once."""
        with self._guard:
            workers = dict(self._workers)
        for address, worker in workers.items():
            worker.next_nonce = expected.get(address.lower())

    def stop(self) -> None:
        """Have every wait give up now (the service is stopping): see the module doc."""
        self.stopping.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers within ``timeout`` s in all: queued jobs fail, a job out on the
        network stays journaled as pending."""
        self.stop()
        with self._guard:
            self._closed = True
            workers = list(self._workers.values())
        for worker in workers:
            worker.jobs.put(None)
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))

    def _enqueue(self, job: _Job) -> Future[Receipt]:
        with self._guard:
            if self._closed:
                raise RuntimeError("the transaction sender is closed")
            key = job.sender.lower()
            worker = self._workers.get(key)
            if worker is None:
                worker = self._workers[key] = _Worker(self, key)
                worker.start()
            worker.put(job)
        return job.future


class _Worker(threading.Thread):
    """Sends one address's transactions, one at a time."""

    def __init__(self, sender: TransactionSender, address: str) -> None:
        super().__init__(name=f"sender-{address[:10]}", daemon=True)
        self.owner = sender
        self.client = sender.client
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.unresolved: InFlight | None = None
        self.next_nonce: int | None = None  # the account's nonce after our last send
        self.current: str | None = None  # the journal row of the job being processed
        # The last jobs' rows: done here (their outcome known), though their requests may
        # not have marked them yet; not another process's to settle.
        self.recent: collections.deque[str] = collections.deque(maxlen=16)
        self._queued_ids: list[str] = []
        self._ids_guard = threading.Lock()

    def active_ids(self) -> set[str]:
        """Journal rows queued here or being followed."""
        with self._ids_guard:
            ids = set(self._queued_ids)
        if self.current is not None:
            ids.add(self.current)
        if self.unresolved is not None and self.unresolved.transaction_id is not None:
            ids.add(self.unresolved.transaction_id)
        return ids

    def put(self, job: _Job) -> None:
        """Queue ``job``."""
        if job.transaction_id is not None:
            with self._ids_guard:
                self._queued_ids.append(job.transaction_id)
        self.jobs.put(job)

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            self.current = job.transaction_id
            if job.transaction_id is not None:
                with self._ids_guard:
                    self._queued_ids.remove(job.transaction_id)
            try:
                self._run_one(job)
            finally:
                self.current = None
                if job.transaction_id is not None:
                    self.recent.append(job.transaction_id)

    def _run_one(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        if self.owner.stopping.is_set():
            job.future.set_exception(TransactionNotSent("not sent: the service is stopping"))
            return
        earlier = job.after
        if earlier is not None and (
            not earlier.done() or earlier.cancelled() or earlier.exception() is not None
        ):
            # This worker ran the earlier job (same sender, queued before), so it is
            # done: not done means it was never this sender's, and is refused too.
            job.future.set_exception(
                TransactionNotSent("not sent: an earlier transaction of its request failed")
            )
            return
        try:
            receipt = self._process(job)
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(receipt)

    # --- one job --------------------------------------------------------------------

    def _process(self, job: _Job) -> Receipt:
        if self.owner.account_lock is None:
            return self._process_held(job)
        try:
            held = self.owner.account_lock(job.sender, self.owner.stopping)
            held.__enter__()
        except InterruptedError as exc:
            raise TransactionNotSent("not sent: the service is stopping") from exc
        except Exception as exc:  # the database away: nothing was built or sent
            raise TransactionNotSent(
                f"not sent: the account's sending lock could not be taken ({type(exc).__name__})"
            ) from exc
        try:
            return self._process_held(job)
        finally:
            held.__exit__(None, None, None)

    def _process_held(self, job: _Job) -> Receipt:
        if self.unresolved is not None:
            previous = self.unresolved
            self._wait_mined(previous)  # raises ChainTimeout while still unresolved
            self.unresolved = None
        if self.owner.settle_account is not None:
            try:
                expected = self.owner.settle_account(
                    job.sender, self.active_ids() | set(self.recent)
                )
            except (ChainTimeout, ChainRewound, TransactionNotSent):
                raise
            except Exception as exc:
                raise TransactionNotSent(
                    f"not sent: the account's journal could not be settled first "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            if expected is not None:
                self.next_nonce = max(self.next_nonce or 0, expected)
        in_flight = self._signed(job) if job.account is not None else self._external(job)
        in_flight.transaction_id = job.transaction_id
        receipt = self._wait_mined(in_flight)
        if self.owner.on_mined is not None:
            self.owner.on_mined(receipt)
        if receipt.status != 1:
            try:
                self.client.raise_revert(in_flight.tx, job.sender, receipt, job.call.abis)
            except TransactionReverted as exc:
                exc.receipt = receipt  # the journal keeps where it was mined (it took a nonce)
                raise
        return receipt

    def _signed(self, job: _Job) -> InFlight:
        assert job.account is not None
        call = job.call
        tx = transaction_request(
            job.account.address, call.to, call.data, call.value, self.client.chain_id()
        )
        # Gas, nonce and fees in one round trip; a revert stops here: nothing sent.
        tx.update(self.client.prepare(tx, call.abis, gas=call.gas))
        if self.next_nonce is not None and tx["nonce"] < self.next_nonce:
            # The node has forgotten transactions this process sent: signing now would
            # take a nonce one of them holds. The journal sends them again first.
            if self.owner.on_rewound is not None:
                self.owner.on_rewound(job.sender)
            raise ChainRewound(
                f"the node's nonce for {job.sender} is {tx['nonce']}, but this service has "
                f"sent up to {self.next_nonce - 1}: the node lost blocks (restarted from an "
                "older state); the service is sending its journal again. Nothing was sent: "
                "try again shortly"
            )
        raw = signed_bytes(job.account, tx)
        in_flight = InFlight(_hash_of(raw), raw, tx["nonce"], tx)
        if self.owner.journal is not None and job.transaction_id is not None:
            try:
                self.owner.journal(job.transaction_id, in_flight)
            except Exception as exc:
                # Not on record, so not sent: a transaction out that no row accounts for
                # is what a crash must never leave behind.
                raise TransactionNotSent(
                    f"not sent: the transaction could not be journaled ({type(exc).__name__})"
                ) from exc
        return self._broadcast(raw, tx["nonce"], tx, call)

    def _external(self, job: _Job) -> InFlight:
        assert job.raw is not None
        call = job.call
        tx = transaction_request(job.sender, call.to, call.data, call.value)
        return self._broadcast(job.raw, decode_raw_transaction(job.raw).nonce, tx, call)

    def _broadcast(
        self, raw: bytes, nonce: int, tx: dict[str, Any], call: ContractCall
    ) -> InFlight:
        transaction_hash = _hash_of(raw)
        self.next_nonce = max(self.next_nonce or 0, nonce + 1)
        try:
            self.client.send_raw_transaction(raw, call.abis)
        except ChainUnavailable as exc:
            # No answer (refused, reset, timed out, 429/5xx) says nothing of whether the
            # node took it: wait for it as sent. Re-sent if the node does not know it
            # (_resend_if_dropped), never built again, so it is mined at most once.
            log.warning("transaction %s: %s; waiting for it as sent", transaction_hash, exc)
        except RPCError as exc:
            # Sent before (a re-send after a lost answer): wait for it like any other.
            if "already known" not in str(exc).lower():
                raise
        return InFlight(transaction_hash, raw, nonce, tx)

    def _wait_mined(self, in_flight: InFlight) -> Receipt:
        started = time.monotonic()
        checked_at = started
        recheck = self.owner._recheck
        # An automining node has the receipt within a few ms of the send: poll soon,
        # then back off to poll_interval so a slow chain is not hammered.
        pause = min(0.001, self.owner.poll_interval)
        while True:
            try:
                receipt = self.client.receipt_if_mined(in_flight.transaction_hash)
            except (ChainUnavailable, RPCError) as exc:
                # The node is away or failing: the transaction may still be mined. Keep
                # asking until receipt_timeout rather than fail a write that may succeed
                # (a client retrying it would then send it twice).
                log.warning("transaction %s: no receipt yet (%s)", in_flight.transaction_hash, exc)
                receipt = None
            if receipt is not None:
                return receipt
            if self.owner.stopping.is_set():
                self.unresolved = in_flight
                raise ChainTimeout(
                    f"transaction {in_flight.transaction_hash} (nonce {in_flight.nonce}) not "
                    "mined yet and the service is stopping; it stays journaled as pending and "
                    "is resolved against the chain at the next start",
                    transaction_hash=in_flight.transaction_hash,
                )
            now = time.monotonic()
            if now - started >= self.owner.receipt_timeout:
                self.unresolved = in_flight
                raise ChainTimeout(
                    f"transaction {in_flight.transaction_hash} (nonce {in_flight.nonce}) not "
                    f"mined after {self.owner.receipt_timeout:g} s; it stays pending and this "
                    "sender's next transaction waits for it",
                    transaction_hash=in_flight.transaction_hash,
                )
            if now - checked_at >= self.owner.stuck_after or recheck != self.owner._recheck:
                checked_at, recheck = now, self.owner._recheck
                with contextlib.suppress(ChainUnavailable):  # asked again at the next check
                    self._resend_if_dropped(in_flight)
            self.owner.stopping.wait(pause)
            pause = min(pause * 2, self.owner.poll_interval)

    def _resend_if_dropped(self, in_flight: InFlight) -> None:
        if self.client.transaction_known(in_flight.transaction_hash):
            log.warning("transaction %s still pending", in_flight.transaction_hash)
            return
        log.warning(
            "transaction %s (nonce %d) dropped by the node; sending it again",
            in_flight.transaction_hash,
            in_flight.nonce,
        )
        try:
            self.client.send_raw_transaction(in_flight.raw)
        except RPCError as exc:
            if "nonce too low" in str(exc).lower():
                # Another transaction took the nonce: ours can never be mined now.
                raise TransactionLost(
                    f"transaction {in_flight.transaction_hash} was dropped and its nonce "
                    f"{in_flight.nonce} used by another transaction",
                    transaction_hash=in_flight.transaction_hash,
                    nonce=in_flight.nonce,
                ) from exc
            if "already known" not in str(exc).lower():
                raise


def _hash_of(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()
