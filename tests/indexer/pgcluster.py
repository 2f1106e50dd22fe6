"""A throw-away PostgreSQL cluster for the tests: initdb + pg_ctl in a temporary directory.

The binaries come from Debian's ``postgresql`` package
(``/usr/lib/postgresql/<version>/bin``; ``.ci/run`` installs it). PostgreSQL
refuses to run as root, so as root the cluster is created and started as the
``postgres`` OS user (which the package creates) through ``runuser``. The
server listens on 127.0.0.1 on a free port with ``trust`` authentication, its
socket in the cluster's own directory, and ``fsync=off``: a test cluster needs
no durability across power cuts. Nothing outlives the test session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

INSTALL_HINT = (
    "the PostgreSQL variants of the indexer tests need PostgreSQL's server binaries "
    "(initdb, pg_ctl) under /usr/lib/postgresql/<version>/bin, and none are there. "
    "Install them with `sudo apt-get install -y postgresql` (Debian/Ubuntu; `.ci/run` does "
    "this in CI), or point LEDGER_TEST_PG_BINDIR at a directory holding initdb and pg_ctl."
)


class PostgresUnavailable(RuntimeError):
    """The binaries are missing or the cluster would not start."""


def find_bindir() -> Path:
    """The newest PostgreSQL server bin directory, or PostgresUnavailable with the fix."""
    override = os.environ.get("LEDGER_TEST_PG_BINDIR")
    if override:
        candidates = [Path(override)]
    else:
        candidates = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    if override:
        raise PostgresUnavailable(f"LEDGER_TEST_PG_BINDIR={override} holds no initdb and pg_ctl")
    raise PostgresUnavailable(INSTALL_HINT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresCluster:
    """One running cluster; ``create_database`` hands each test an empty database."""

    bindir: Path
    directory: Path
    port: int
    _databases: int = 0

    @classmethod
    def start(cls) -> PostgresCluster:
        """initdb and start a cluster in a fresh temporary directory."""
        bindir = find_bindir()
        # Not under pytest's tmp_path: its parents are mode 0700 and owned by the
        # test user, so the postgres user could not reach the cluster there.
        directory = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        cluster = cls(bindir, directory, _free_port())
        try:
            if os.geteuid() == 0:
                if shutil.which("runuser") is None:
                    raise PostgresUnavailable("running as root, but `runuser` is missing")
                try:
                    shutil.chown(directory, user="postgres", group="postgres")
                except LookupError as exc:
                    raise PostgresUnavailable(
                        "running as root, and there is no `postgres` OS user to run the "
                        "server as (Debian's postgresql package creates it)"
                    ) from exc
            cluster._run(
                "initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
                "--encoding=UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
            cluster.start_server()
        except BaseException:
            cluster._remove()
            raise
        return cluster

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        self._databases += 1
        name = f"test_{self._databases}"
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start_server(self) -> None:
        """Start the server of the initialised cluster (again)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.directory} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop_server(self) -> None:
        """Stop the server (fast: every session is ended), keeping the cluster."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        """Stop the server (immediate: it is deleted next, so no checkpoint) and delete it."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            self._remove()

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, cwd=self.directory
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}{log}"
            )

    def _remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """A started cluster for a fixture, stopped and deleted on exit. Missing binaries fail
    the test, never skip it: a green run means both databases passed."""
    try:
        cluster = PostgresCluster.start()
    except PostgresUnavailable as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()
