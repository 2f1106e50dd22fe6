"""Typed dependencies of the route handlers.

FastAPI runs a plain ``def`` dependency in a worker thread: a hop to AnyIO's pool and
back to the event loop, each waiting for the interpreter, which under another tenant's
burst (a hundred threads authenticating and writing) cost a read more than its query
(issue 17, fairness). So the dependencies that only look at the request or the app's
state are ``async def`` and run on the loop; only those that touch the database or the
node (``read_block``, ``get_session``) take a thread.

Handlers never build a service: they name it by its alias (``ReceivablesDep``, ...),
and ``service_of`` builds it for the request from the runtime. A service's constructor
only wires (no query, no call to the node), so it is built on the loop too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request, Response
from sqlalchemy import Engine
from sqlmodel import Session

from ledger_app.api.identity import ACTIVE, Caller
from ledger_app.api.index_state import BLOCK_HEADER, indexed_block
from ledger_app.api.permissions import permission
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.audit import AuditService
from ledger_app.api.services.claims import ClaimService
from ledger_app.api.services.clearing import ClearingService
from ledger_app.api.services.credit_lines import CreditLineService
from ledger_app.api.services.currencies import CurrencyService
from ledger_app.api.services.documents import DocumentService
from ledger_app.api.services.early_payments import EarlyPaymentService
from ledger_app.api.services.escrows import EscrowService
from ledger_app.api.services.financing import FinancingService
from ledger_app.api.services.fx import FxService
from ledger_app.api.services.monitoring import MonitoringService
from ledger_app.api.services.participants import ParticipantService
from ledger_app.api.services.receivables import ReceivableService
from ledger_app.api.services.risk import RiskService
from ledger_app.api.services.tokens import TokenService
from ledger_app.api.services.webhooks import WebhookService
from ledger_app.api.services.writes import Writer
from ledger_app.chain.client import ChainClient
from ledger_app.errors import Forbidden, Unauthenticated
from ledger_app.settings import Settings

S = TypeVar("S")


async def get_settings(request: Request) -> Settings:
    """The application's settings."""
    return request.app.state.settings


async def get_chain(request: Request) -> ChainClient:
    """The application's chain client."""
    return request.app.state.chain


async def get_engine(request: Request) -> Engine:
    """The application's database engine."""
    return request.app.state.engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """A database session for one request."""
    with Session(engine) as session:
        yield session


async def get_runtime(request: Request) -> Runtime:
    """Chain, keys, sender and indexer of this process (started now, in a worker thread,
    if it could not be at start-up, e.g. while the node was down; its error answers
    otherwise)."""
    runtime = request.app.state.runtime
    if runtime is not None:
        return runtime
    return await anyio.to_thread.run_sync(ensure_runtime, request.app)


def ensure_runtime(app: Any) -> Runtime:
    """The app's runtime, started on first need if the start-up could not start it."""
    state = app.state
    if state.runtime is None:
        with state.runtime_lock:
            if state.runtime is None:
                state.runtime = Runtime.start(state.settings, state.engine, state.chain)
    return state.runtime


async def get_actor(request: Request) -> Caller:
    """The caller, allowed by the permission table to call this route's operation.

    401 without a live key; 403 when none of the caller's on-chain roles is
    allowed, or when a write (or a key issued) is asked by a participant that is not active.
    """
    operation = request.scope["route"].operation_id
    rule = permission(operation)
    request.state.operation = operation
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:
        presented = getattr(request.state, "key_presented", False)
        raise Unauthenticated(
            "the API key is unknown or revoked"
            if presented
            else "an API key is required (header X-API-Key or Authorization: Bearer)",
            error="InvalidApiKey" if presented else "MissingApiKey",
        )
    if not caller.roles & rule.roles:
        raise Forbidden(
            f"{operation} is not allowed to a caller with roles "
            f"{', '.join(sorted(caller.roles)) or 'none'}",
            error="RoleNotAllowed",
            operation=operation,
            allowed=sorted(rule.roles),
        )
    if rule.needs_standing and caller.standing != ACTIVE:
        raise Forbidden(
            f"{caller.address} is {caller.standing} and may change nothing",
            error="ParticipantNotActive",
            account=caller.address,
            standing=caller.standing,
        )
    return caller


def read_block(runtime: Annotated[Runtime, Depends(get_runtime)], response: Response) -> int:
    """The indexed block this read reflects; also sent as the X-Ledger-Block header."""
    block = indexed_block(runtime.engine, runtime.chain_id)
    response.headers[BLOCK_HEADER] = str(block)
    return block


SettingsDep = Annotated[Settings, Depends(get_settings)]
ChainDep = Annotated[ChainClient, Depends(get_chain)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ActorDep = Annotated[Caller, Depends(get_actor)]
BlockDep = Annotated[int, Depends(read_block)]


def service_of(cls: Callable[[Runtime], S]) -> Callable[[Runtime], Awaitable[S]]:
    """The dependency that builds a ``cls`` service for one request from the runtime.

    Made once per service, at import (below): FastAPI caches a dependency's value per
    request by its callable, so a handler and a dependency asking for the same service
    share one instance.
    """

    async def provide(runtime: RuntimeDep) -> S:
        return cls(runtime)

    provide.__name__ = provide.__qualname__ = f"provide_{getattr(cls, '__name__', 'service')}"
    provide.__doc__ = f"A {getattr(cls, '__name__', 'service')} for this request."
    return provide


AuditDep = Annotated[AuditService, Depends(service_of(AuditService))]
ClaimsDep = Annotated[ClaimService, Depends(service_of(ClaimService))]
ClearingDep = Annotated[ClearingService, Depends(service_of(ClearingService))]
CreditLinesDep = Annotated[CreditLineService, Depends(service_of(CreditLineService))]
CurrenciesDep = Annotated[CurrencyService, Depends(service_of(CurrencyService))]
DocumentsDep = Annotated[DocumentService, Depends(service_of(DocumentService))]
EarlyPaymentsDep = Annotated[EarlyPaymentService, Depends(service_of(EarlyPaymentService))]
EscrowsDep = Annotated[EscrowService, Depends(service_of(EscrowService))]
FinancingDep = Annotated[FinancingService, Depends(service_of(FinancingService))]
FxDep = Annotated[FxService, Depends(service_of(FxService))]
MonitoringDep = Annotated[MonitoringService, Depends(service_of(MonitoringService))]
ParticipantsDep = Annotated[ParticipantService, Depends(service_of(ParticipantService))]
RiskDep = Annotated[RiskService, Depends(service_of(RiskService))]
ReceivablesDep = Annotated[ReceivableService, Depends(service_of(ReceivableService))]
TokensDep = Annotated[TokenService, Depends(service_of(TokenService))]
WriterDep = Annotated[Writer, Depends(service_of(Writer))]
WebhooksDep = Annotated[WebhookService, Depends(service_of(WebhookService))]
