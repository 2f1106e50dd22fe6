"""`ledger-app run` serves /health over real uvicorn, and stops everything on a signal.

Each test runs the real console script in a subprocess (own anvil port, own
var/ under tmp_path, the stub deployment plan) and talks to it with httpx. The
stub plan deploys no ledger, so the API's runtime (and its indexer) cannot start:
/health answers ``degraded``, with node and database up.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from ledger_app.api.app import create_app
from ledger_app.db import migrate
from ledger_app.db.engine import make_engine
from ledger_app.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STARTUP_TIMEOUT = 60.0


@dataclass
class LedgerApp:
    """A running `ledger-app run` process."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_file: Path

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


def ledger_app_command() -> list[str]:
    script = Path(sys.executable).with_name("ledger-app")
    if script.is_file():
        return [str(script), "run"]
    return [shutil.which("ledger-app") or "ledger-app", "run"]


@contextmanager
def running_ledger_app(env: dict[str, str], workdir: Path) -> Iterator[LedgerApp]:
    """Start `ledger-app run` and wait until /health finds node and database up; kill it if
    left running."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(FIXTURES), full_env.get("PYTHONPATH")])
    )
    log_file = workdir / f"ledger-app-{time.monotonic_ns()}.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            ledger_app_command(),
            cwd=workdir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    app = LedgerApp(process, f"http://127.0.0.1:{env['LEDGER_PORT']}", log_file)
    try:
        wait_until_healthy(app)
        yield app
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_until_healthy(app: LedgerApp) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            pytest.fail(f"ledger-app exited with {app.process.returncode}:\n{app.log()}")
        try:
            body = httpx.get(f"{app.base_url}/health", timeout=2).json()
            if body["chain"]["ok"] and body["database"]["ok"]:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"ledger-app not healthy after {STARTUP_TIMEOUT:g} s:\n{app.log()}")


def stop(app: LedgerApp, sig: signal.Signals) -> int:
    """Send ``sig`` and return the exit code."""
    app.process.send_signal(sig)
    return app.process.wait(timeout=30)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_health_reports_chain_database_and_contracts(
    ledger_env: dict[str, str], tmp_path: Path
) -> None:
    with running_ledger_app(ledger_env, tmp_path) as app:
        health = httpx.get(f"{app.base_url}/health").json()
        docs = httpx.get(f"{app.base_url}/docs")
        openapi = httpx.get(f"{app.base_url}/openapi.json").json()

    assert health["status"] == "degraded"  # the stub plan's "ledger" runs no indexer
    (reason,) = health["reasons"]
    assert reason.startswith(
        "the indexer is not running: the service has not started: ArtifactError: contract "
        "ParticipantRegistry is not in"
    )
    assert health["chain"]["ok"] is True
    assert health["chain"]["chain_id"] == 31337
    assert health["chain"]["latest_block"] >= health["deployment_block"] >= 1
    assert health["database"] == {"ok": True, "revision": migrate.head_revision(), "error": None}
    assert set(health["contracts"]) == {
        "participants",
        "receivables",
        "financing_desk",
        "maturity_clearing",
    }
    assert all(
        address.startswith("0x") and len(address) == 42 for address in health["contracts"].values()
    )
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert "/health" in openapi["paths"]


def test_signal_stops_server_and_anvil_and_restart_keeps_addresses(
    ledger_env: dict[str, str], tmp_path: Path
) -> None:
    pid_file = Path(ledger_env["LEDGER_STATE_DIR"]) / "anvil.pid"
    anvil_port = int(ledger_env["LEDGER_RPC_URL"].rsplit(":", 1)[1])

    kept_key = Path(ledger_env["LEDGER_STATE_DIR"]) / "operator-api-key"
    with running_ledger_app(ledger_env, tmp_path) as app:
        first = httpx.get(f"{app.base_url}/health").json()
        first_anvil = int(pid_file.read_text())
        operator_key = kept_key.read_text().strip()
        listed = httpx.get(f"{app.base_url}/v1/participants", headers={"X-API-Key": operator_key})
        first_exit = stop(app, signal.SIGINT)
    with running_ledger_app(ledger_env, tmp_path) as app:
        second = httpx.get(f"{app.base_url}/health").json()
        second_anvil = int(pid_file.read_text())
        second_exit = stop(app, signal.SIGTERM)
        log = app.log()

    assert (first_exit, second_exit) == (0, 0)
    assert stat.S_IMODE(kept_key.stat().st_mode) == 0o600  # the first start's key, kept
    state_dir = Path(ledger_env["LEDGER_STATE_DIR"])
    opened = {
        str(p.relative_to(state_dir)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in state_dir.rglob("*")
        if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077
    }
    assert opened == {}  # every file and directory under var/ is the owner's alone
    assert listed.status_code != 401  # a live key (its role may not be indexed yet: 403)
    assert operator_key not in log
    assert not process_alive(first_anvil)
    assert not process_alive(second_anvil)
    assert not pid_file.exists()
    assert second["contracts"] == first["contracts"]
    assert second["deployment_block"] == first["deployment_block"]
    assert "re-using deployment" in log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{anvil_port}", timeout=1)


def test_health_unavailable_when_node_does_not_answer(ledger_settings: Settings, free_port) -> None:
    settings = ledger_settings.model_copy(
        update={"rpc_url": f"http://127.0.0.1:{free_port()}", "port": free_port()}
    )
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    engine.dispose()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        response = httpx.get(f"http://127.0.0.1:{settings.port}/health")
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["chain"]["ok"] is False
    assert "no answer" in body["chain"]["error"]
    assert body["database"]["ok"] is True
    assert body["contracts"] == {}
