"""/v1/webhooks: a participant's webhook subscriptions; /v1/events/stream: its live stream.

Both carry the notifications the outbox addresses to the caller (or one of its roles),
never another participant's: ledger_app/domain/notifications.py decides who is told, by
the visibility rule. See README "Notifications" for the signature and how to verify it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ledger_app.api.deps import ActorDep, EngineDep, SettingsDep, WebhooksDep
from ledger_app.api.identity import Caller
from ledger_app.api.services.webhooks import newest_id, stream_after
from ledger_app.api.webhook_delivery import notification_body
from ledger_app.domain.notifications import KINDS
from ledger_app.errors import InvalidInput, RateLimited

router = APIRouter(tags=["notifications"])


class SubscriptionIn(BaseModel):
    """An endpoint and the kinds of notification it is sent."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://erp.example.com/ledger-hooks", "kinds": ["receivable.to_confirm"]}
            ]
        },
    )
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    kinds: Annotated[list[str], Field(description=f"any of {', '.join(KINDS)}")]


class SubscriptionOut(BaseModel):
    """A subscription; ``secret`` only in the answer that created or rotated it."""

    id: str
    url: str
    kinds: list[str]
    status: str
    disabled_reason: str | None
    last_event_id: int
    attempts: int
    consecutive_failures: int
    next_attempt_at: Any
    created_at: Any
    secret: str | None = None


class ReplayIn(BaseModel):
    """Where a replay starts: after this notification id (default: the current head)."""

    model_config = ConfigDict(extra="forbid")
    after: int | None = None


class DeliveryOut(BaseModel):
    """One delivery attempt."""

    event_id: int
    attempt: int
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    attempted_at: Any


@router.post("/v1/webhooks", operation_id="webhooks.create", response_model=SubscriptionOut,
             status_code=201)  # fmt: skip
def create(body: SubscriptionIn, caller: ActorDep, service: WebhooksDep) -> Any:
    """Subscribe ``url`` to ``kinds``, from the next notification on. The answer holds the
    signing ``secret``, shown this once. 422 naming ``url`` (not https, unresolvable, a
    private target) or ``kinds`` (unknown)."""
    return service.create(caller, body.url, body.kinds)


@router.get("/v1/webhooks", operation_id="webhooks.list", response_model=list[SubscriptionOut])
def list_subscriptions(caller: ActorDep, service: WebhooksDep) -> Any:
    """The caller's subscriptions (a disabled one says why)."""
    return service.list(caller)


@router.get("/v1/webhooks/{subscription_id}", operation_id="webhooks.show",
            response_model=SubscriptionOut)  # fmt: skip
def show(subscription_id: str, caller: ActorDep, service: WebhooksDep) -> Any:
    """One of the caller's subscriptions."""
    return service.show(caller, subscription_id)


@router.post("/v1/webhooks/{subscription_id}/rotate-secret",
             operation_id="webhooks.rotate_secret", response_model=SubscriptionOut)  # fmt: skip
def rotate_secret(subscription_id: str, caller: ActorDep, service: WebhooksDep) -> Any:
    """A new signing secret, shown this once; the old one signs nothing from now on."""
    return service.rotate(caller, subscription_id)


@router.post("/v1/webhooks/{subscription_id}/replay", operation_id="webhooks.replay",
             response_model=SubscriptionOut)  # fmt: skip
def replay(subscription_id: str, caller: ActorDep, service: WebhooksDep,
           body: ReplayIn | None = None) -> Any:  # fmt: skip
    """Deliver again, in order, every notification after ``after`` (default: retry the
    head now); enables a disabled subscription again."""
    return service.replay(caller, subscription_id, body.after if body else None)


@router.delete("/v1/webhooks/{subscription_id}", operation_id="webhooks.delete",
               status_code=204)  # fmt: skip
def delete(subscription_id: str, caller: ActorDep, service: WebhooksDep) -> Response:
    """Stop delivering to it; its delivery log stays readable to no one but the operator's
    database."""
    service.delete(caller, subscription_id)
    return Response(status_code=204)


@router.get("/v1/webhooks/{subscription_id}/deliveries", operation_id="webhooks.deliveries",
            response_model=list[DeliveryOut])  # fmt: skip
def deliveries(subscription_id: str, caller: ActorDep, service: WebhooksDep,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Any:  # fmt: skip
    """Its delivery log, newest first: each attempt, its answer or error."""
    return service.deliveries(caller, subscription_id, limit)


_streams_lock = threading.Lock()


def _open_streams(request: Request) -> dict[str, int]:
    state = request.app.state
    if not hasattr(state, "event_streams"):
        state.event_streams = {}
    return state.event_streams


@router.get("/v1/events/stream", operation_id="events.stream",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
async def stream(
    request: Request,
    caller: ActorDep,
    engine: EngineDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0, description="as Last-Event-ID")] = None,
    max_seconds: Annotated[
        float | None,
        Query(
            gt=0,
            le=86_400,
            description="close the stream after this long (default "
            "LEDGER_EVENT_STREAM_MAX_SECONDS); a client reconnects with Last-Event-ID",
        ),
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: the caller's notifications as they are committed (``id:`` the
    outbox id, ``event:`` the kind, ``data:`` the webhook body). Resumable: a reconnect
    with ``Last-Event-ID`` (or ``?after=``) gets every one after it, none twice. A comment
    line every LEDGER_EVENT_STREAM_HEARTBEAT seconds keeps idle connections open. 429
    beyond LEDGER_EVENT_STREAMS_PER_KEY open streams per API key. The service ends a stream
    after ``max_seconds`` (what an EventSource or a proxy sees as a drop, and resumes)."""
    start = after
    if last_event_id is not None:
        try:
            start = int(last_event_id)
        except ValueError:
            raise InvalidInput("Last-Event-ID is a notification id", error="InvalidCursor",
                               field="Last-Event-ID") from None  # fmt: skip
    opened = _open_streams(request)
    key = caller.api_key_id
    with _streams_lock:
        if opened.get(key, 0) >= settings.event_streams_per_key:
            raise RateLimited(f"{settings.event_streams_per_key} event streams are open with "
                              "this API key already", retry_after=5,
                              error="TooManyEventStreams")  # fmt: skip
        opened[key] = opened.get(key, 0) + 1
    if start is None:
        start = await anyio.to_thread.run_sync(newest_id, engine)
    return StreamingResponse(
        _events(
            request,
            engine,
            caller,
            start,
            settings.event_stream_heartbeat,
            opened,
            key,
            time.monotonic() + (max_seconds or settings.event_stream_max_seconds),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(request: Request, engine: Any, caller: Caller, after: int, heartbeat: float,
                  opened: dict[str, int], key: str, until: float) -> AsyncIterator[bytes]:  # fmt: skip
    """Polls the outbox (0.25 s) on the event loop, the query in a worker thread for the
    moment it runs: no thread is held while the stream waits."""
    try:
        yield b"retry: 2000\n: connected\n\n"
        idle = 0.0
        while time.monotonic() < until and not await request.is_disconnected():
            rows, scanned = await anyio.to_thread.run_sync(stream_after, engine, caller, after)
            for row in rows:
                data = notification_body(row).decode()
                yield f"id: {row.id}\nevent: {row.kind}\ndata: {data}\n\n".encode()
            moved, after = scanned > after, scanned
            if moved:
                idle = 0.0
                continue
            await asyncio.sleep(0.25)
            idle += 0.25
            if idle >= heartbeat:
                idle = 0.0
                yield b": heartbeat\n\n"
    finally:
        with _streams_lock:
            opened[key] = max(0, opened.get(key, 0) - 1)
