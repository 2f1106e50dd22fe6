"""GET /health: is the service usable, and what is it connected to.

``ok`` (200); ``unavailable`` (503) when the node or the database does not answer;
``degraded`` (503) when both answer but a write could not be indexed now (the
service not started, the embedded indexer not running, the index ahead of the
chain, a recovery running; see Runtime.degraded_reasons). ``reasons`` says why.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ledger_app.api.deps import ChainDep, EngineDep, SettingsDep, ensure_runtime
from ledger_app.api.runtime import index_ahead_reason
from ledger_app.chain.client import ChainClient
from ledger_app.chain.deploy import read_record
from ledger_app.db.migrate import current_revision
from ledger_app.errors import ChainError, LedgerError

router = APIRouter(tags=["health"])


class NodeHealth(BaseModel):
    """One node of LEDGER_RPC_URLS as its last health check found it."""

    url: str
    in_use: bool
    healthy: bool
    head: int | None = None
    error: str | None = None


class ChainHealth(BaseModel):
    """The node's answer, or why there was none."""

    ok: bool
    rpc_url: str = Field(description="the node in use")
    chain_id: int | None = None
    latest_block: int | None = None
    error: str | None = None
    nodes: list[NodeHealth] = Field(
        default_factory=list,
        description="with several nodes (LEDGER_RPC_URLS): each, as last checked; empty with one",
    )


class DatabaseHealth(BaseModel):
    """Whether the database answers, and its migration revision."""

    ok: bool
    revision: str | None = None
    error: str | None = None


class Health(BaseModel):
    """Overall status, the parts, and the contracts in use."""

    status: str = Field(examples=["ok", "degraded", "unavailable"])
    reasons: list[str] = Field(default_factory=list, description="why not ok; empty when ok")
    chain: ChainHealth
    database: DatabaseHealth
    deployment_block: int | None = None
    contracts: dict[str, str]
    recovery: dict[str, Any] | None = Field(
        default=None,
        description=(
            "the transaction journal's last recovery pass: why, when, how long (seconds), "
            "the fork block of a node that had lost blocks, transactions found mined, sent "
            "again, not executed, lost, and keys answered"
        ),
    )


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(
    settings: SettingsDep, chain: ChainDep, engine: EngineDep, request: Request, response: Response
) -> Health:
    """Chain id and latest block of the node, database status, deployed contracts.

    Answers 200 ``ok`` when node and database both answer and the service is not
    degraded; 503 ``unavailable`` or ``degraded`` otherwise, with ``reasons``.
    """
    nodes = [NodeHealth(**n) for n in chain.nodes.describe()] if chain.nodes.several else []  # type: ignore[arg-type]
    try:
        chain_health = ChainHealth(
            ok=True,
            rpc_url=chain.rpc_url,
            chain_id=chain.chain_id(),
            latest_block=chain.block_number(),
            nodes=nodes,
        )
    except ChainError as exc:
        chain_health = ChainHealth(ok=False, rpc_url=chain.rpc_url, error=str(exc), nodes=nodes)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database_health = DatabaseHealth(ok=True, revision=current_revision(engine))
    except SQLAlchemyError as exc:
        database_health = DatabaseHealth(ok=False, error=type(exc).__name__)
    # Read at each request: `ledger-app deploy` may replace it while we serve.
    record = read_record(settings.deployment_file)
    reasons = []
    if not chain_health.ok:
        reasons.append(f"the node does not answer at {chain.rpc_url}")
    if not database_health.ok:
        reasons.append("the database does not answer")
    status = "unavailable" if reasons else "ok"
    if status == "ok":
        chain_id = chain_health.chain_id or 0  # set: the node answered
        reasons = _degraded_reasons(request, chain, engine, chain_id)
        status = "degraded" if reasons else "ok"
    response.status_code = 200 if status == "ok" else 503
    return Health(
        status=status,
        reasons=reasons,
        chain=chain_health,
        database=database_health,
        deployment_block=record.deployment_block if record else None,
        contracts=record.addresses() if record else {},
        recovery=_last_recovery(request),
    )


def _last_recovery(request: Request) -> dict[str, Any] | None:
    runtime = getattr(request.app.state, "runtime", None)
    report = runtime.last_recovery if runtime is not None else None
    return report.as_dict() if report is not None else None


def _degraded_reasons(
    request: Request, chain: ChainClient, engine: Engine, chain_id: int
) -> list[str]:
    try:
        # Started now if the start-up could not (the node was down then), as any other
        # request would: otherwise nothing but a write would ever bring the indexer up.
        runtime = ensure_runtime(request.app)
    except LedgerError as exc:
        reasons = []
        if request.app.state.settings.embedded_indexer:
            reasons.append(
                "the indexer is not running: the service has not started: "
                f"{type(exc).__name__}: {exc}"
            )
        ahead = index_ahead_reason(engine, chain_id, chain)
        return reasons + ([ahead] if ahead else [])
    return runtime.degraded_reasons(fresh=True)
