"""uvicorn as ``ledger-app run`` serves the API, with bounds against slow clients.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but it has
no timer while a request's head is being received: a connection opened and left
silent, or sent half a request line and headers and then nothing, stays open for
ever (1,000 such connections were still open after 40 s: issue 17). So:

- ``HeaderTimeoutProtocol``: uvicorn's h11 protocol with one more timer, armed when a
  connection opens and when bytes of a new request head arrive after an answer, and
  disarmed once the head is complete; when it fires, the connection is closed.
  ``http_header_timeout`` seconds (an answer's keep-alive wait stays uvicorn's).
- ``limit_concurrency``: at most ``http_max_connections`` connections (and requests)
  at once; past it uvicorn answers 503.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ledger_app.settings import Settings


class HeaderTimeoutProtocol(H11Protocol):
    """h11 with a deadline for each request head (see the module docstring)."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Open: the first request's head is due within the timeout."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Bytes in: a head completed stops the timer; bytes of a head still incomplete
        start it if nothing runs (after an answer, uvicorn's keep-alive timer stopped)."""
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # a request is being served: its head is in
        elif self._head_deadline is None:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed: no timer left behind."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self) -> None:
        self._head_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # the head came in the meantime and is being answered
        if not self.transport.is_closing():
            self.logger.debug("request head not received in %g s: closing", self.header_timeout)
            self.transport.close()


def protocol_for(settings: Settings) -> type[HeaderTimeoutProtocol]:
    """``HeaderTimeoutProtocol`` with ``settings.http_header_timeout``."""
    return type(
        "HeaderTimeoutProtocol",
        (HeaderTimeoutProtocol,),
        {"header_timeout": settings.http_header_timeout},
    )


def server_config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration of ``app`` on ``host``:``port`` with the bounds above."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_for(settings),
        timeout_keep_alive=settings.http_keep_alive_timeout,  # type: ignore[arg-type]
        limit_concurrency=settings.http_max_connections,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the logging configured by ledger-app's main()
        # Requests still running when a shutdown begins get this long: writes
        # waiting for the chain give up at once (Runtime.begin_shutdown).
        timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout / 3)),
    )
