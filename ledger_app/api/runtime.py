"""Everything a running API holds for its lifetime, built once at start-up.

``Runtime.start`` reads the deployment record, takes the sending lock (a second
process refuses to start), unlocks the signing keys, starts the per-sender
transaction queues (journaling each signed transaction before its broadcast),
the journal's keeper (recovery at start, then a watch for a node that lost blocks),
(embedded set-up) the indexer thread and (``LEDGER_KEEPER_INTERVAL`` > 0) the overdue
keeper's thread (ledger_app/api/keeper.py); ``close`` stops them in reverse order,
within a bound. Routes reach it through ledger_app.api.deps.

Degraded: while the index cannot take a write's block (the embedded indexer
thread stopped, the index ahead of the chain, a recovery of the write journal
running), /health says ``degraded`` and ``refuse_writes_if_degraded`` refuses
writes with 503 ServiceDegraded before anything is sent, rather than answering
``done`` for a write the index will not show.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ledger_app import metrics
from ledger_app.api.index_state import index_ahead, indexed_block, wait_for_block
from ledger_app.api.services.journal import Recovery, RecoveryReport, journal_signed
from ledger_app.api.webhook_signing import webhook_key
from ledger_app.audit.encode import EventEncoder
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.contracts import LedgerContracts
from ledger_app.chain.decode import KINDS, EventDecoder, build_decoder, followed_contracts
from ledger_app.chain.deploy import read_record
from ledger_app.chain.keys import load_operator
from ledger_app.chain.sender import TransactionSender
from ledger_app.db.locks import (
    ACCOUNT_SCOPE,
    NamedLocks,
    ProcessIdentity,
    SenderLock,
    WriterLock,
)
from ledger_app.errors import ChainError, DeploymentError, ServiceDegraded
from ledger_app.indexer.background import BackgroundIndexer
from ledger_app.indexer.service import build_indexer, config_from_settings
from ledger_app.settings import Settings
from ledger_app.signing.custody import Custody
from ledger_app.signing.passphrase import keystore_passphrase
from ledger_app.signing.sealed_documents import SealedDocuments, open_documents

log = logging.getLogger(__name__)

# Seconds a separate indexer's "index ahead of the chain" verdict is re-used by the write
# gate: at most one check (a database read and two RPC calls) a second, not one per write.
AHEAD_CHECK_TTL = 1.0


def _rewound(runtime: Runtime) -> None:
    # A sender found a nonce gap: counted, and the journal's keeper resends at once.
    metrics.chain_rewound("sender")
    runtime.keeper.wake()  # type: ignore[union-attr]


@dataclass
class Runtime:
    """The chain, the database, the keys, the sender and the indexer of one API process."""

    settings: Settings
    engine: Engine
    client: ChainClient
    contracts: LedgerContracts
    custody: Custody
    sender: TransactionSender
    decoder: EventDecoder
    chain_id: int
    sender_lock: SenderLock
    recovery: Recovery
    #: The uploaded documents, sealed under the document key (ledger_app/signing/).
    documents: SealedDocuments
    #: Locks shared with the other replicas (db/locks.py NamedLocks) and this process's id.
    locks: NamedLocks = field(repr=False)
    identity: ProcessIdentity = field(repr=False)
    indexer: BackgroundIndexer | None = None
    #: Why writes are refused just now (the journal being recovered), or None.
    recovering: str | None = None
    #: The node's head when this process started, until the index has reached it: the
    #: roles, participants and balances the API checks come from the index, so a write
    #: checked before then could be refused for want of a role the chain already grants.
    catching_up_to: int | None = None
    last_recovery: RecoveryReport | None = None
    keeper: JournalKeeper | None = field(default=None, repr=False)
    #: The overdue keeper's thread (LEDGER_KEEPER_INTERVAL > 0; ledger_app/api/keeper.py).
    overdue_keeper: Any = field(default=None, repr=False)
    #: The access log's anchoring thread (LEDGER_ACCESS_LOG_ANCHOR_INTERVAL > 0;
    #: ledger_app/api/access_anchor.py).
    access_anchor: Any = field(default=None, repr=False)
    #: The key webhook secrets are derived from (ledger_app/api/services/webhooks.py).
    webhook_key: bytes = field(default=b"", repr=False)
    #: The webhook delivery thread (LEDGER_WEBHOOK_DELIVERY_INTERVAL > 0;
    #: ledger_app/api/webhook_delivery.py).
    deliveries: Any = field(default=None, repr=False)
    _ahead_checked: tuple[float, str | None] = field(
        default=(float("-inf"), None), init=False, repr=False
    )
    _ahead_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def start(cls, settings: Settings, engine: Engine, client: ChainClient) -> Runtime:
        """Assemble the runtime for the deployment ``settings.deployment_file`` records."""
        record = read_record(settings.deployment_file)
        if record is None:
            raise DeploymentError(
                f"no deployment record at {settings.deployment_file}: run `ledger-app deploy`"
            )
        artifacts = Artifacts.load(settings.artifacts_file)
        contracts = LedgerContracts(artifacts, record)
        chain_id = client.chain_id()
        # Before anything is sent: a second process sending for the same accounts would
        # take the same nonces. SenderLockedError ends the start (ledger_app.api.app).
        # Replicas share it, and coordinate per account (NamedLocks) instead.
        sender_lock = SenderLock(engine, chain_id)
        if settings.replica:
            sender_lock.acquire_shared()
        else:
            sender_lock.acquire()
        try:
            return cls._assemble(settings, engine, client, record, artifacts, contracts,
                                 chain_id, sender_lock)  # fmt: skip
        except BaseException:
            sender_lock.release()
            raise

    @classmethod
    def _assemble(
        cls,
        settings: Settings,
        engine: Engine,
        client: ChainClient,
        record: Any,
        artifacts: Artifacts,
        contracts: LedgerContracts,
        chain_id: int,
        sender_lock: SenderLock,
    ) -> Runtime:
        operator = load_operator(settings, client)
        passphrase = keystore_passphrase(settings, dev_chain=client.is_anvil())
        custody = Custody(engine, passphrase, operator, scrypt_n=settings.keystore_scrypt_n)
        documents = open_documents(settings, dev_chain=client.is_anvil())
        decoder = build_decoder(artifacts)
        for address, kind in contracts.followed().items():
            decoder.follow(address, kind)
        locks = NamedLocks(engine)
        identity = ProcessIdentity(engine)
        sender = TransactionSender(client, journal=journal_signed(engine))

        def account_lock(account: str, stopping: threading.Event = sender.stopping) -> Any:
            return locks.hold(ACCOUNT_SCOPE, account, stopping)

        # One process alone (`run`, `keeper` on SQLite) sends as it always has: one worker
        # per account is all the serialising it needs, and its recovery runs beside the
        # workers (a pass waiting for a worker that waits for the pass's re-send of a lost
        # transaction stalled writes for receipt_timeout: the crash-safety suite found it).
        replica = settings.replica
        sender.account_lock = account_lock if replica else None
        runtime = cls(
            settings=settings,
            engine=engine,
            client=client,
            contracts=contracts,
            custody=custody,
            sender=sender,
            decoder=decoder,
            chain_id=chain_id,
            sender_lock=sender_lock,
            documents=documents,
            recovery=Recovery(
                engine,
                client,
                indexed_to=lambda: indexed_block(engine, chain_id),
                deployment_block=record.deployment_block,
                deployment_hash=record.deployment_block_hash,
                # Writes wait on a pass: one transaction not mined in this long is left
                # pending (with its sender's later ones) for the next pass.
                receipt_timeout=min(settings.receipt_timeout, 30.0),
                account_lock=account_lock if replica else None,
                alive=lambda owner: identity.alive(owner, cache=1.0),
            ),
            locks=locks,
            identity=identity,
        )
        sender.settle_account = runtime.recovery.settle_account if replica else None
        runtime.webhook_key = webhook_key(settings, passphrase)
        runtime.sender.on_mined = lambda receipt: runtime.nudge_indexer(receipt.block_number)
        runtime.catching_up_to = client.block_number()
        # Writes wait until the journal is settled against the chain (the keeper's first
        # pass): a write signed before then could take a nonce a journaled one holds.
        runtime.recovering = "recovering the transaction journal after a start"
        runtime.keeper = JournalKeeper(runtime, settings.journal_check_interval)
        runtime.sender.on_rewound = lambda _account: _rewound(runtime)
        # Failover (LEDGER_RPC_URLS): what this process waits for is looked up on the new
        # node at once, and sent again there, the same bytes, if that node lacks it
        # (TransactionSender.recheck); the journal keeper settles what it lacks besides.
        client.nodes.on_switch(runtime.failed_over)
        if settings.embedded_indexer:
            indexer = build_indexer(
                rpc_url=client.nodes,  # the same node as the writes
                engine=engine,
                artifacts=artifacts,
                contracts=followed_contracts(record),
                start_block=record.deployment_block,
                config=config_from_settings(settings),
                reorg_window=settings.indexer_reorg_window,
                rpc_timeout=settings.rpc_timeout,
                monitoring_interval=settings.monitoring_run_interval,
            )
            runtime.indexer = BackgroundIndexer(
                indexer, WriterLock(engine, runtime.chain_id), settings.indexer_poll_interval
            ).start()
            log.info("indexer running in this process (from block %d)", record.deployment_block)
        runtime.keeper.start()
        if settings.keeper_interval > 0:
            # Imported here: the keeper sends through the services, which import this module.
            from ledger_app.api.keeper import KeeperThread

            runtime.overdue_keeper = KeeperThread(runtime, settings.keeper_interval)
            runtime.overdue_keeper.start()
            log.info("overdue keeper every %g s", settings.keeper_interval)
        if settings.access_log_anchor_interval > 0:
            from ledger_app.api.access_anchor import AnchorThread

            runtime.access_anchor = AnchorThread(runtime, settings.access_log_anchor_interval)
            runtime.access_anchor.start()
            log.info("access log anchored every %g s", settings.access_log_anchor_interval)
        if settings.webhook_delivery_interval > 0:
            from ledger_app.api.webhook_delivery import DeliveryThread

            runtime.deliveries = DeliveryThread(runtime, settings.webhook_delivery_interval)
            runtime.deliveries.start()
            if runtime.indexer is not None:
                runtime.indexer.after_step = runtime.wake_deliveries
        return runtime

    def wake_deliveries(self) -> None:
        """Have the webhook delivery thread look at the outbox now (no-op without one)."""
        if self.deliveries is not None:
            self.deliveries.wake()

    def failed_over(self, _left: str = "", _to: str = "", _why: str = "") -> None:
        """The JSON-RPC node in use changed (chain/nodes.py): follow what was sent."""
        self.sender.recheck()
        if self.keeper is not None:
            self.keeper.wake()
        self.nudge_indexer()

    @functools.cached_property
    def event_encoder(self) -> EventEncoder:
        """The ledger's events back to their raw logs (ledger_app/audit/encode.py), built
        once: it hashes every event's signature, 2 ms a trace when built per request."""
        return EventEncoder({kind: self.contracts.abi(kind) for kind in KINDS})

    def nudge_indexer(self, block: int | None = None) -> None:
        """Have the embedded indexer look at the chain now, up to at least ``block`` if
        given (no-op without one)."""
        if self.indexer is not None:
            self.indexer.wake(block)

    def wait_indexed(self, block: int, timeout: float) -> int | None:
        """Wait until the index holds ``block``; the indexed block, or None after ``timeout``.

        With the embedded indexer the wait ends when its step commits the block (no
        polling); with a separate indexer process, the checkpoint row is polled."""
        if self.indexer is not None and self.indexer.alive:
            return self.indexer.wait_for(block, timeout)
        return wait_for_block(self.engine, self.chain_id, block, timeout)

    def degraded_reasons(self, *, fresh: bool = False) -> list[str]:
        """Why the service is degraded, in the API's words; empty when it is not.

        Embedded set-up: the indexer thread not running, or its last step having found the
        index ahead of the chain (no RPC: the thread checks at every poll). Separate
        indexer: the checkpoint row checked against the node, re-used for AHEAD_CHECK_TTL
        seconds. ``fresh`` (for /health) checks the index against the node now, in both
        set-ups. A recovery in progress counts in both. An index merely behind the head
        does not (writes wait for it themselves), except after a start until it has
        reached the head the node had then: the API's checks read roles and parties from
        the index, and an index still replaying the chain would refuse what it allows."""
        reasons = []
        if self.recovering:
            reasons.append(f"a recovery is in progress: {self.recovering}")
        catching_up = self._catching_up()
        if catching_up:
            reasons.append(catching_up)
        if self.settings.embedded_indexer:
            stopped = self._indexer_stopped()
            if stopped:
                reasons.append(stopped)
        if fresh:
            ahead = index_ahead_reason(self.engine, self.chain_id, self.client)
        elif self.indexer is not None:
            diverged = self.indexer.indexer.diverged if self.indexer.alive else None
            ahead = diverged and f"the index is ahead of the chain: {diverged}"
        else:
            ahead = self._index_ahead_cached()
        if ahead:
            reasons.append(ahead)
        lagging = self.indexer.indexer.lagging if self.indexer is not None else None
        if lagging:
            reasons.append(f"the node in use is behind the index: {lagging}")
        return reasons

    def _catching_up(self) -> str | None:
        """Why the index is not yet usable after a start, or None once it has reached the
        node's head at the start (checked against the database until then, never after)."""
        target = self.catching_up_to
        if target is None:
            return None
        done = indexed_block(self.engine, self.chain_id)
        if done >= target:
            self.catching_up_to = None
            return None
        return f"the index is catching up with the chain after a start: block {done} of {target}"

    def refuse_writes_if_degraded(self) -> None:
        """Raise ServiceDegraded (503) if a write now could not be indexed; see
        ``degraded_reasons``. Called before a write sends or prepares anything."""
        reasons = self.degraded_reasons()
        if reasons:
            raise ServiceDegraded(
                "writes are refused while the service is degraded: " + "; ".join(reasons),
                reasons=reasons,
            )

    def _indexer_stopped(self) -> str | None:
        if self.indexer is None:
            return "the indexer is not running: it was never started"
        if self.indexer.alive:
            return None
        error = self.indexer.error
        if error is None:
            return "the indexer is not running"
        return f"the indexer stopped: {type(error).__name__}: {error}"

    def _index_ahead_cached(self) -> str | None:
        with self._ahead_lock:
            checked_at, verdict = self._ahead_checked
            if time.monotonic() - checked_at >= AHEAD_CHECK_TTL:
                verdict = index_ahead_reason(self.engine, self.chain_id, self.client)
                self._ahead_checked = (time.monotonic(), verdict)
            return verdict

    def begin_shutdown(self) -> None:
        """The service is stopping: every write still waiting gives up now (its transaction
        stays journaled), so that requests in flight end within the shutdown bound."""
        if self.overdue_keeper is not None:
            self.overdue_keeper.stop()
        if self.access_anchor is not None:
            self.access_anchor.stop()
        if self.deliveries is not None:
            self.deliveries.stop()
        self.sender.stop()
        if self.keeper is not None:
            self.keeper.stop()

    def close(self, budget: float = 7.0) -> None:
        """Stop the keeper and the sender's workers, then the indexer, then let go of the
        sending lock, all within ``budget`` seconds: the node may be gone, and a thread
        still retrying it then is left to die with the process (each is a daemon; what
        it was doing is journaled or committed step by step)."""
        deadline = time.monotonic() + budget
        self.client.nodes.off_switch(self.failed_over)
        self.begin_shutdown()
        if self.keeper is not None:
            self.keeper.join(timeout=max(0.0, deadline - time.monotonic()) / 3)
        self.sender.close(timeout=max(0.0, deadline - time.monotonic()) / 2)
        if self.access_anchor is not None and not self.settings.replica:
            # The log's last rows are written by now (ledger_app.api.app): anchor them,
            # while this process still holds the sending lock, within the budget (the
            # node may be gone: the next start anchors them then). Not in a replica: its
            # sending lock is shared, and a send outside the account lock could take a
            # nonce another replica's operator transaction holds; the other replicas'
            # passes anchor these rows.
            last = threading.Thread(target=self.access_anchor.final, daemon=True,
                                    name="access-log-last-anchor")  # fmt: skip
            last.start()
            last.join(timeout=max(0.5, deadline - time.monotonic() - 1.0))
        if self.indexer is not None:
            self.indexer.stop(timeout=max(0.1, deadline - time.monotonic()))
        self.locks.dispose()
        self.identity.release()
        self.sender_lock.release()


class JournalKeeper(threading.Thread):
    """Recovery at start, then a watch: a node that lost journaled blocks (restarted from
    an older state) or a transaction left pending gets a recovery pass; writes are
    refused (``Runtime.recovering``) while the node lacks what the service acknowledged."""

    def __init__(self, runtime: Runtime, interval: float) -> None:
        super().__init__(name="journal-keeper", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self.started_at = datetime.now(UTC)
        self._wake = threading.Event()
        self._halt = threading.Event()

    def wake(self) -> None:
        """Look at the journal now (the sender saw the node's nonce go back)."""
        self._wake.set()

    def stop(self) -> None:
        """End the watch after the current pass."""
        self._halt.set()
        self._wake.set()

    def run(self) -> None:
        runtime, pause = self.runtime, self.interval
        # First pass: until it succeeds (the node or the database may still be away).
        while not self._halt.is_set():
            if self._pass("start", keys_before=self.started_at):
                break
            self._wake.wait(pause)
            pause = min(pause * 2, 10.0)
        while not self._halt.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._halt.is_set():
                return
            if runtime.settings.replica:
                try:
                    # A replica killed mid-request: its keys answered from the journal.
                    runtime.identity.ensure()
                    runtime.recovery.resolve_dead_keys()
                except Exception as exc:  # the database away: look again later
                    log.debug("journal keeper: %s", exc)
            try:
                rewound = bool(runtime.recovery.lost_rows())
                stale = not rewound and runtime.recovery.has_stale_rows(
                    runtime.sender.active_transactions()
                )
            except Exception as exc:  # the node or the database away: look again later
                log.debug("journal keeper: %s", exc)
                continue
            if rewound:
                metrics.chain_rewound("journal")
                runtime.recovering = (
                    "the node lost blocks holding acknowledged transactions (restarted from "
                    "an older state); the service is sending them again"
                )
                while not self._halt.is_set() and not self._pass("node rewound", keys_before=None):
                    self._wake.wait(self.interval)
            elif stale:
                # A transaction no request follows any more (its wait timed out): settled
                # against the chain without holding writes back.
                self._pass("pending transactions", keys_before=None)

    def _pass(self, reason: str, *, keys_before: datetime | None) -> bool:
        runtime = self.runtime
        try:
            report = runtime.recovery.run(
                reason, active=runtime.sender.active_transactions, keys_before=keys_before
            )
            runtime.sender.expect_nonces(runtime.recovery.expected_nonces())
        except Exception as exc:
            log.warning("journal recovery (%s) not finished: %s: %s", reason,
                        type(exc).__name__, exc)  # fmt: skip
            return False
        if report.fork_block is not None:
            runtime.sender.recheck()  # writes waiting on the lost blocks: sent again now
        runtime.last_recovery = report
        runtime.recovering = None
        runtime.nudge_indexer()
        level = (
            logging.WARNING if report.resent or report.lost or report.fork_block else logging.INFO
        )
        log.log(level, "journal recovery (%s) done in %.3f s: %s", reason, report.seconds,
                _summary(report))  # fmt: skip
        return True


def _summary(report: RecoveryReport) -> dict[str, Any]:
    return {k: v for k, v in report.as_dict().items() if k not in ("reason", "started_at")}


def index_ahead_reason(engine: Engine, chain_id: int, chain: ChainClient) -> str | None:
    """ "the index is ahead of the chain: ..." (see index_state.index_ahead), or None, also
    when the node or the database does not answer: that is /health's ``unavailable``."""
    try:
        ahead = index_ahead(engine, chain_id, chain)
    except (ChainError, SQLAlchemyError):
        return None
    return None if ahead is None else f"the index is ahead of the chain: {ahead}"
