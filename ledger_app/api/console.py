"""The web console: a static single-page app over the same API and the same keys.

The console is bundled from console/ into console/dist/ by `make setup` (esbuild; see
the Makefile) and served here as static files under ``/console``. Its files carry no
data and need no key: the page asks for a participant's API key and sends it with
every API call, like any other client. They are mounted beside the API routes, not
as API routes, so the permission table (ledger_app/api/permissions.py) keeps listing
exactly the operations that need a key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from ledger_app import PROJECT_ROOT

#: Where `make setup` puts the built console.
CONSOLE_DIR = PROJECT_ROOT / "console" / "dist"
#: The console's path prefix.
PREFIX = "/console"

# Everything the page loads comes from this origin (no CDN: the console works offline).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ConsoleFiles(StaticFiles):
    """StaticFiles with the console's security headers, and a clear 503 when not built."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.index = Path(directory) / "index.html"

    async def check_config(self) -> None:
        """StaticFiles' check that the directory exists, once it is built (until then
        get_response answers 503 instead of the check raising)."""
        if self.index.is_file():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file at ``path``; a 503 naming the fix when the console was never built."""
        if not self.index.is_file():
            return PlainTextResponse(
                "The web console is not built: run `make setup` (it bundles console/ into "
                "console/dist/ with esbuild).",
                status_code=503,
            )
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_console(app: FastAPI, directory: Path = CONSOLE_DIR) -> None:
    """Serve the console at ``/console/`` and send ``/`` there."""

    async def to_console(_request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.router.add_route("/", to_console, include_in_schema=False)
    app.mount(PREFIX, ConsoleFiles(directory), name="console")
