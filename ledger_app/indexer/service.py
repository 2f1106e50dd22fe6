"""Assembling an indexer from the service's settings, artifacts and deployment record."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine

from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.deploy import DeploymentRecord
from ledger_app.indexer.decode import EventDecoder
from ledger_app.indexer.rpc import RpcClient
from ledger_app.indexer.runner import Indexer, IndexerConfig
from ledger_app.indexer.store import Store
from ledger_app.settings import Settings

#: The contract types whose events the indexer understands.
KINDS = (
    "ParticipantRegistry",
    "SettlementToken",
    "ReceivableRegistry",
    "FinancingDesk",
    "MaturityClearing",
    "FxSettlement",
    "HashTimeLock",
)


def build_decoder(artifacts: Artifacts) -> EventDecoder:
    """A decoder for every kind in KINDS present in the build manifest."""
    return EventDecoder({k: artifacts[k].abi for k in KINDS if k in artifacts})


def followed_contracts(record: DeploymentRecord) -> dict[str, str]:
    """Address -> contract type of every deployed contract the indexer understands."""
    return {c.address.lower(): c.contract for c in record.contracts.values() if c.contract in KINDS}


def config_from_settings(settings: Settings, **overrides: float | None) -> IndexerConfig:
    """The follow loop's knobs from ``LEDGER_INDEXER_*``; ``overrides`` win (CLI options)."""
    values: dict[str, float | int] = {
        "confirmations": settings.indexer_confirmations,
        "poll_interval": settings.indexer_poll_interval,
        "initial_range": settings.indexer_initial_range,
        "max_range": settings.indexer_max_range,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    # `--max-range 2` alone narrows the start too, rather than starting above the cap.
    values["initial_range"] = min(values["initial_range"], values["max_range"])
    return IndexerConfig(
        confirmations=int(values["confirmations"]),
        poll_interval=float(values["poll_interval"]),
        initial_range=int(values["initial_range"]),
        max_range=int(values["max_range"]),
    )


def build_indexer(
    *,
    rpc_url: str,
    engine: Engine,
    artifacts: Artifacts,
    contracts: Mapping[str, str],
    start_block: int,
    config: IndexerConfig | None = None,
    reorg_window: int = 64,
    rpc_timeout: float = 30.0,
    give_up_after: float | None = None,
) -> Indexer:
    """An indexer of ``contracts`` (address -> kind) from ``start_block`` into ``engine``."""
    rpc = RpcClient(rpc_url, timeout=rpc_timeout, give_up_after=give_up_after)
    store = Store(engine, rpc.chain_id(), reorg_window=reorg_window)
    store.check_chain()
    return Indexer(rpc, store, build_decoder(artifacts), contracts, start_block, config)
