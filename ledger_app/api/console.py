"""The web console: a static single-page app over the same API and the same keys.

The console is bundled from console/ into console/dist/ by `make setup` (esbuild; see
the Makefile) and served here as static files under ``/console``. Its files carry no
data and need no key: the page asks for a participant's API key and sends it with
every API call, like any other client. They are mounted beside the API routes, not
as API routes, so the permission table (ledger_app/api/permissions.py) keeps listing
exactly the operations that need a key.

``/docs`` (Swagger UI over /openapi.json) is served the same way: its script and style
come from the swagger-ui-dist npm package, copied into console/dist/swagger-ui/ by the
same build and served under ``/docs/assets``, never from a CDN, so the docs work
offline like the console. ReDoc (``/redoc``), which only a CDN would serve, is not
offered.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from ledger_app import PROJECT_ROOT

#: Where `make setup` puts the built console.
CONSOLE_DIR = PROJECT_ROOT / "console" / "dist"
#: The console's path prefix.
PREFIX = "/console"
#: Swagger UI's files (from node_modules/swagger-ui-dist, copied by the console's build).
SWAGGER_UI_DIR = CONSOLE_DIR / "swagger-ui"
#: Where /docs loads them from.
DOCS_ASSETS = "/docs/assets"

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

    def __init__(self, directory: Path, marker: str = "index.html") -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.index = Path(directory) / marker

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


def mount_docs(app: FastAPI, directory: Path = SWAGGER_UI_DIR) -> None:
    """Serve Swagger UI at ``/docs`` with its files from ``directory`` (no CDN)."""

    async def docs(_request: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    app.router.add_route("/docs", docs, include_in_schema=False)
    app.mount(DOCS_ASSETS, ConsoleFiles(directory, marker="swagger-ui-bundle.js"), name="docs")
