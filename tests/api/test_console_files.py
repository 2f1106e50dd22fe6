"""The web console's static files: served without a key beside the API, which still wants
one; a clear answer when the console was not built (ledger_app/api/console.py)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from apikit import Service, free_tcp_port
from fastapi import FastAPI

from ledger_app.api.app import api_routes
from ledger_app.api.console import CONSOLE_DIR, mount_console
from ledger_app.api.permissions import PERMISSIONS


def _built() -> None:
    if not (CONSOLE_DIR / "index.html").is_file():
        pytest.fail(f"{CONSOLE_DIR} is not built: run `make setup`")


def test_console_page_served_without_key(service: Service) -> None:
    _built()
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        page = http.get("/console/")
        script = http.get("/console/app.js")
        root = http.get("/", follow_redirects=False)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<div id="app">' in page.text
    assert "/console/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert root.status_code == 307
    assert root.headers["location"] == "/console/"


def test_api_without_key_still_refused_beside_console(service: Service) -> None:
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        answer = http.get("/v1/receivables")
    assert answer.status_code == 401
    assert answer.json()["error"] == "MissingApiKey" or "key" in answer.json()["message"]


def test_permission_table_names_no_console_route(service: Service) -> None:
    from ledger_app.api.app import create_app

    app = create_app(service.settings)
    paths = [route.path for route in api_routes(app.routes)]
    assert not any(path.startswith("/console") for path in paths)
    assert not any(operation.startswith("console") for operation in PERMISSIONS)
    assert any(getattr(route, "path", None) == "/console" for route in app.routes)


def test_console_not_built_answers_503_naming_fix(tmp_path: Path) -> None:
    app = FastAPI()
    mount_console(app, tmp_path / "missing")
    port = free_tcp_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/console/", timeout=30)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert answer.status_code == 503
    assert "make setup" in answer.text


def test_docs_load_swagger_ui_from_this_service_not_a_cdn(service: Service) -> None:
    _built()
    with httpx.Client(base_url=service.base_url, timeout=30) as http:
        page = http.get("/docs")
        assets = {
            path: http.get(path)
            for path in re.findall(r'(?:src|href)="(/[^"]+)"', page.text)
            if not path.startswith("/openapi.json")
        }
        redoc = http.get("/redoc")

    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text
    hosts = re.findall(r"https?://[^\s\"'<>]+", page.text)
    assert hosts == [], hosts
    assert {p.rsplit("/", 1)[-1] for p in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for path, answer in assets.items():
        assert answer.status_code == 200, path
        assert answer.content, path
    bundle = next(a for p, a in assets.items() if p.endswith("swagger-ui-bundle.js"))
    assert "javascript" in bundle.headers["content-type"]
    assert len(bundle.content) > 100_000  # the whole of Swagger UI, from this service
    assert "/openapi.json" in page.text
    assert redoc.status_code == 404  # its page would load ReDoc from a CDN: not offered
