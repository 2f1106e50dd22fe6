"""GET /health: is the service usable, and what is it connected to."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ledger_app.api.deps import ChainDep, EngineDep, SettingsDep
from ledger_app.chain.deploy import read_record
from ledger_app.db.migrate import current_revision
from ledger_app.errors import ChainError

router = APIRouter(tags=["health"])


class ChainHealth(BaseModel):
    """The node's answer, or why there was none."""

    ok: bool
    rpc_url: str
    chain_id: int | None = None
    latest_block: int | None = None
    error: str | None = None


class DatabaseHealth(BaseModel):
    """Whether the database answers, and its migration revision."""

    ok: bool
    revision: str | None = None
    error: str | None = None


class Health(BaseModel):
    """Overall status, the parts, and the contracts in use."""

    status: str
    chain: ChainHealth
    database: DatabaseHealth
    deployment_block: int | None = None
    contracts: dict[str, str]


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(settings: SettingsDep, chain: ChainDep, engine: EngineDep, response: Response) -> Health:
    """Chain id and latest block of the node, database status, deployed contracts.

    Answers 200 when node and database both answer, 503 otherwise.
    """
    try:
        chain_health = ChainHealth(
            ok=True,
            rpc_url=settings.rpc_url,
            chain_id=chain.chain_id(),
            latest_block=chain.block_number(),
        )
    except ChainError as exc:
        chain_health = ChainHealth(ok=False, rpc_url=settings.rpc_url, error=str(exc))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database_health = DatabaseHealth(ok=True, revision=current_revision(engine))
    except SQLAlchemyError as exc:
        database_health = DatabaseHealth(ok=False, error=type(exc).__name__)
    # Read at each request: `ledger-app deploy` may replace it while we serve.
    record = read_record(settings.deployment_file)
    ok = chain_health.ok and database_health.ok
    response.status_code = 200 if ok else 503
    return Health(
        status="ok" if ok else "unavailable",
        chain=chain_health,
        database=database_health,
        deployment_block=record.deployment_block if record else None,
        contracts=record.addresses() if record else {},
    )
