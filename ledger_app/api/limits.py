"""Request bodies are bounded: one over its limit is 413 before anything parses it.

A document upload (``POST /v1/documents``) may be up to ``document_max_bytes``; every
other body up to ``request_max_bytes``. A declared ``Content-Length`` over the limit
is refused without reading a byte. A body without one (chunked) is read up to the
limit and refused at the first byte past it; one within the limit is handed on as
it was received. The middleware sits outside the idempotency middleware, which
reads whole bodies, and inside the access middleware, so a refusal is logged.

FastAPI's own ``max_body_size`` does the same per app or per route, but fixes a
route's limit at import time (ours are settings) and answers in text, outside the
access log; this one answers the API's error body (ledger_app/api/errors.py).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger_app.api.errors import error_body, status_for
from ledger_app.errors import PayloadTooLarge
from ledger_app.settings import Settings

DOCUMENT_UPLOAD = ("POST", "/v1/documents")


def body_limit(settings: Settings, method: str, path: str) -> int:
    """The most bytes a request body of ``method path`` may have."""
    if (method, path.rstrip("/")) == DOCUMENT_UPLOAD:
        return settings.document_max_bytes
    return settings.request_max_bytes


def too_large(limit: int) -> PayloadTooLarge:
    """The refusal of a body over ``limit`` bytes."""
    return PayloadTooLarge(
        f"the request body is larger than {limit} bytes",
        error="RequestBodyTooLarge",
        limit=limit,
    )


class BodyLimitMiddleware:
    """Refuses request bodies over their limit with 413 (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings, scope["method"], scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared.isdigit():
            if int(declared) > limit:
                await _refuse(scope, receive, send, limit)
                return
            await self.app(scope, receive, send)  # the server holds the body to its length
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await _refuse(scope, receive, send, limit)
                return
            if not message.get("more_body"):
                break
        await self.app(scope, _replay(messages, receive), send)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    error = too_large(limit)
    response = JSONResponse(status_code=status_for(error), content=error_body(error))
    # The client may still be sending; the server discards what it has not read.
    response.headers["Connection"] = "close"
    await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
