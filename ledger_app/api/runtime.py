"""Everything a running API holds for its lifetime, built once at start-up.

``Runtime.start`` reads the deployment record, unlocks the signing keys,
starts the per-sender transaction queues and (embedded set-up) the indexer
thread; ``close`` stops them in reverse order. Routes reach it through
ledger_app.api.deps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from ledger_app.api.index_state import wait_for_block
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.contracts import LedgerContracts
from ledger_app.chain.deploy import read_record
from ledger_app.chain.keys import load_operator
from ledger_app.chain.sender import TransactionSender
from ledger_app.errors import DeploymentError
from ledger_app.indexer.background import BackgroundIndexer
from ledger_app.indexer.decode import EventDecoder
from ledger_app.indexer.lock import WriterLock
from ledger_app.indexer.runner import IndexerConfig
from ledger_app.indexer.service import build_decoder, build_indexer, followed_contracts
from ledger_app.settings import Settings
from ledger_app.signing.custody import Custody
from ledger_app.signing.passphrase import keystore_passphrase

log = logging.getLogger(__name__)


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

    def close(self) -> None:
        """Stop the sender's workers, then the indexer."""
        self.sender.close()
        if self.indexer is not None:
            self.indexer.stop()
