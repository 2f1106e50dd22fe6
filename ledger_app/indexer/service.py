"""Assembling an indexer from the service's settings, artifacts and deployment record."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine

from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.decode import build_decoder
from ledger_app.chain.nodes import NodeSet
from ledger_app.chain.rpc import RpcClient
from ledger_app.indexer.monitoring import RuleRunner
from ledger_app.indexer.runner import Indexer, IndexerConfig
from ledger_app.indexer.store import Store
from ledger_app.settings import Settings


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
        block_tag=settings.block_tag,
        read_ahead=settings.indexer_read_ahead,
        read_ahead_min_events=settings.indexer_read_ahead_min_events,
    )


def build_indexer(
    *,
    rpc_url: str | NodeSet,
    engine: Engine,
    artifacts: Artifacts,
    contracts: Mapping[str, str],
    start_block: int,
    config: IndexerConfig | None = None,
    reorg_window: int = 64,
    rpc_timeout: float = 30.0,
    give_up_after: float | None = None,
    monitoring: bool = True,
    monitoring_interval: float = 0.0,
) -> Indexer:
    """An indexer of ``contracts`` (address -> kind) from ``start_block`` into ``engine``,
    running the compliance rules after each step unless ``monitoring`` is False (once
    caught up, at most every ``monitoring_interval`` s: RuleRunner.after_batch)."""
    rpc = RpcClient(rpc_url, timeout=rpc_timeout, give_up_after=give_up_after)
    store = Store(engine, rpc.chain_id(), reorg_window=reorg_window)
    store.check_chain()
    indexer = Indexer(rpc, store, build_decoder(artifacts), contracts, start_block, config)
    if monitoring:
        indexer.monitor = RuleRunner(engine, store.chain_id, min_interval=monitoring_interval)
    return indexer
