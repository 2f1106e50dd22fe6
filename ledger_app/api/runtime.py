"""Everything a running API holds for its lifetime, built once at start-up.

``Runtime.start`` reads the deployment record, unlocks the signing keys,
starts the per-sender transaction queues and (embedded set-up) the indexer
thread; ``close`` stops them in reverse order. Routes reach it through
ledger_app.api.deps.

Degraded: while the index cannot take a write's block (the embedded indexer
thread stopped, the index ahead of the chain, a recovery of the write journal
running), /health says ``degraded`` and ``refuse_writes_if_degraded`` refuses
writes with 503 ServiceDegraded before anything is sent, rather than answering
``done`` for a write the index will not show.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ledger_app.api.index_state import index_ahead, wait_for_block
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.contracts import LedgerContracts
from ledger_app.chain.deploy import read_record
from ledger_app.chain.keys import load_operator
from ledger_app.chain.sender import TransactionSender
from ledger_app.errors import ChainError, DeploymentError, ServiceDegraded
from ledger_app.indexer.background import BackgroundIndexer
from ledger_app.indexer.decode import EventDecoder
from ledger_app.indexer.lock import WriterLock
from ledger_app.indexer.runner import IndexerConfig
from ledger_app.indexer.service import build_decoder, build_indexer, followed_contracts
from ledger_app.settings import Settings
from ledger_app.signing.custody import Custody
from ledger_app.signing.passphrase import keystore_passphrase

log = logging.getLogger(__name__)

# Seconds a separate indexer's "index ahead of the chain" verdict is re-used by the write
# gate: at most one check (a database read and two RPC calls) a second, not one per write.
AHEAD_CHECK_TTL = 1.0


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
    indexer: BackgroundIndexer | None = None
    # A human reason while the write journal's recovery runs (set by the recovery, read
    # by /health and the write gate); None otherwise.
    recovering: str | None = None
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
        operator = load_operator(settings, client)
        passphrase = keystore_passphrase(settings, dev_chain=client.is_anvil())
        custody = Custody(engine, passphrase, operator, scrypt_n=settings.keystore_scrypt_n)
        decoder = build_decoder(artifacts)
        for address, kind in contracts.followed().items():
            decoder.follow(address, kind)
        runtime = cls(
            settings=settings,
            engine=engine,
            client=client,
            contracts=contracts,
            custody=custody,
            sender=TransactionSender(client),
            decoder=decoder,
            chain_id=client.chain_id(),
        )
        runtime.sender.on_mined = lambda receipt: runtime.nudge_indexer(receipt.block_number)
        if settings.embedded_indexer:
            indexer = build_indexer(
                rpc_url=settings.rpc_url,
                engine=engine,
                artifacts=artifacts,
                contracts=followed_contracts(record),
                start_block=record.deployment_block,
                config=IndexerConfig(poll_interval=settings.indexer_poll_interval),
                rpc_timeout=settings.rpc_timeout,
            )
            runtime.indexer = BackgroundIndexer(
                indexer, WriterLock(engine, runtime.chain_id), settings.indexer_poll_interval
            ).start()
            log.info("indexer running in this process (from block %d)", record.deployment_block)
        return runtime

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
        does not: writes wait for it themselves."""
        reasons = []
        if self.recovering:
            reasons.append(f"a recovery is in progress: {self.recovering}")
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
        return reasons

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

    def close(self) -> None:
        """Stop the sender's workers, then the indexer."""
        self.sender.close()
        if self.indexer is not None:
            self.indexer.stop()


def index_ahead_reason(engine: Engine, chain_id: int, chain: ChainClient) -> str | None:
    """ "the index is ahead of the chain: ..." (see index_state.index_ahead), or None, also
    when the node or the database does not answer: that is /health's ``unavailable``."""
    try:
        ahead = index_ahead(engine, chain_id, chain)
    except (ChainError, SQLAlchemyError):
        return None
    return None if ahead is None else f"the index is ahead of the chain: {ahead}"
