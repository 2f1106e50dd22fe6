"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ledger_app import __version__
from ledger_app.api.errors import install_error_handlers
from ledger_app.api.routes import health
from ledger_app.chain.client import ChainClient
from ledger_app.db.engine import make_engine
from ledger_app.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new application for ``settings`` (default: read from the environment).

    The chain client and the database engine live on ``app.state`` for the
    application's lifetime; routes reach them through ledger_app.api.deps.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.chain = ChainClient.from_settings(settings)
        app.state.engine = make_engine(settings.database_url)
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(
        title="Supply-chain finance ledger",
        version=__version__,
        description=(
            "Receivables registered by core enterprises, split, transferred and financed by "
            "suppliers, funded by financiers and traced by auditors, on a permissioned EVM "
            "ledger."
        ),
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    return app
