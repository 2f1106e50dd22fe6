"""The FastAPI application factory."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from fastapi.routing import APIRoute

from ledger_app import __version__
from ledger_app.api.access import AccessLogWriter, AccessMiddleware
from ledger_app.api.console import mount_console, mount_docs
from ledger_app.api.errors import install_error_handlers
from ledger_app.api.idempotency import IdempotencyMiddleware
from ledger_app.api.limits import BodyLimitMiddleware
from ledger_app.api.openapi import document_api
from ledger_app.api.permissions import PERMISSIONS
from ledger_app.api.routes import (
    audit,
    claims,
    clearing,
    credit_lines,
    currencies,
    documents,
    early_payments,
    escrows,
    financing,
    fx,
    health,
    metrics,
    monitoring,
    participants,
    receivables,
    risk,
    tokens,
    transactions,
    webhooks,
)
from ledger_app.api.runtime import Runtime
from ledger_app.api.throttle import RefusedRequests, WriteGateMiddleware
from ledger_app.chain.client import ChainClient
from ledger_app.db.engine import make_engine
from ledger_app.errors import IndexerLockedError, LedgerError, SenderLockedError
from ledger_app.settings import Settings

log = logging.getLogger(__name__)

#: Routes anyone may call without a key.
PUBLIC_ROUTES = frozenset({"/health", "/metrics"})

DESCRIPTION = """
Receivables registered by core enterprises, split, transferred and financed by
suppliers, funded by financiers and traced by auditors, on a permissioned EVM ledger.

**Authentication**: every call but `/health` and `/metrics` needs the caller's API key in
`X-API-Key` (or `Authorization: Bearer`). Keys are issued at onboarding and shown once.

**Writes** answer `{status, transaction, result, unsigned_transaction, message}`:
`done` once mined *and* indexed (a read now shows the change), `indexing` (202) when the
index is slower, `awaiting_signature` (202) for a participant that keeps its own key.
Send `Idempotency-Key` to make a retry safe: the same key and body replay the first answer.

**Reads** carry `X-Ledger-Block`: the indexed block the answer reflects.

**Errors** are `{error, args, message}`; a contract revert names its custom error
(`ReceivableDuplicateInvoice`, ...) with its values.

**Money** is integer minor units, as a string (or a JSON integer in requests); never floats.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new application for ``settings`` (default: read from the environment).

    Chain client, engine and runtime (keys, sender queues, embedded indexer)
    live on ``app.state`` for the application's lifetime.
    """
    settings = settings or Settings()
    refused = RefusedRequests(interval=settings.access_log_summary_interval)
    access_log = AccessLogWriter(interval=settings.access_log_flush_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes and dependencies run in AnyIO's thread pool; writes may hold at most
        # writes_in_flight of its threads (throttle.WriteGate), reads get the rest.
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        app.state.settings = settings
        app.state.chain = ChainClient.from_settings(settings)
        app.state.engine = make_engine(settings.database_url)
        refused.start(app.state.engine)
        access_log.start(app.state.engine, settings.state_dir / "access-log")
        app.state.access_log = access_log
        app.state.runtime = None
        app.state.runtime_lock = threading.Lock()
        try:
            app.state.runtime = Runtime.start(settings, app.state.engine, app.state.chain)
        except (SenderLockedError, IndexerLockedError):
            # Another process sends for these accounts: serving beside it is what let a
            # stale process's transactions be mined twice. Refuse to start, loudly.
            refused.close()
            access_log.close()
            app.state.engine.dispose()
            raise
        except LedgerError as exc:
            # /health still answers (and says why); the rest retries at its next request.
            log.error("API not ready: %s: %s", type(exc).__name__, exc)
        # What the process has built by now (modules, app, runtime) lives as long as it
        # does: frozen out of the cyclic collector's full passes, which otherwise walked
        # it all again every dozen large responses (a trace of a 1,000-node tree: 0.25M
        # objects, 40-65 ms of CPU per request on average, hundreds of ms at the request
        # that drew the pass). Unfrozen at shutdown, for a process that starts another app.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            # The log's last rows first: the runtime's close anchors the chain's head.
            refused.close()
            access_log.close()
            if app.state.runtime is not None:
                app.state.runtime.close()
            app.state.engine.dispose()

    app = FastAPI(
        title="Supply-chain finance ledger",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs is served from the package's own files (mount_docs), never from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    for module in (health, metrics, participants, currencies, documents, receivables, transactions):
        app.include_router(module.router)
    app.include_router(audit.router)
    # early_payments before clearing: its /v1/clearing/early-payments paths must not be
    # taken for clearing's /v1/clearing/{root_id}.
    for module in (
        tokens,
        financing,
        early_payments,
        clearing,
        credit_lines,
        fx,
        escrows,
        risk,
        claims,
        monitoring,
        webhooks,
    ):
        app.include_router(module.router)
    check_permissions(app)
    # Static files beside the API routes (no key, no permission entry): ledger_app/api/console.py.
    mount_console(app)
    mount_docs(app)
    # Outermost last: AccessMiddleware authenticates before idempotency needs the caller.
    app.add_middleware(IdempotencyMiddleware)
    # Bodies are bounded before idempotency reads them, and the refusal is still logged.
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    # Inside the access middleware (which knows the caller, and logs the refusal).
    app.add_middleware(WriteGateMiddleware, settings=settings)
    app.add_middleware(AccessMiddleware, settings=settings, refused=refused, access_log=access_log)
    document_api(app)
    return app


def check_permissions(app: FastAPI) -> None:
    """Every non-public route is in the permission table, and every entry has a route."""
    operations = set()
    for route in api_routes(app.routes):
        if route.path in PUBLIC_ROUTES:
            continue
        if route.operation_id not in PERMISSIONS:
            raise RuntimeError(f"route {route.path} has no entry in the permission table")
        operations.add(route.operation_id)
    missing = set(PERMISSIONS) - operations
    if missing:
        raise RuntimeError(f"permission table entries without a route: {sorted(missing)}")


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as sub-routers)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += api_routes(route.original_router.routes)
    return found
