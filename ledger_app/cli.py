"""The ``ledger-app`` command: run, deploy, migrate, keeper.

``ledger-app run`` brings the whole embedded service up in order (node,
contracts, database, HTTP) and down in the reverse order on Ctrl-C or
SIGTERM: the HTTP server drains first, then anvil is stopped and dumps its
state. A second ``run`` on the same database refuses to start while the first
lives (the sending lock); a shutdown ends within ``LEDGER_SHUTDOWN_TIMEOUT``
seconds even with the node gone: writes still waiting give up at once (their
transactions stay journaled), and past the bound the process exits anyway.

``ledger-app api`` is one of several stateless API replicas on one PostgreSQL database
(no embedded indexer, no managed node, no keeper thread): run any number of them beside
one ``ledger-app index`` (a second one waits as standby) and, if wanted, one
``ledger-app keeper``. They send for the same custodial accounts side by side, each
transaction under its account's lock in the database (docs/architecture.md, "Replicas").
On SQLite it refuses to start: one process serves SQLite (``run``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import Engine

from ledger_app import PROJECT_ROOT, __version__, metrics
from ledger_app.audit.cli import add_commands as add_audit_commands
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.deploy import (
    DeploymentOutcome,
    check_evm_version,
    ensure_deployed,
    load_plan,
)
from ledger_app.chain.keys import load_operator
from ledger_app.chain.node import AnvilNode, node_answers
from ledger_app.db import migrate
from ledger_app.db import monitoring as monitoring_store
from ledger_app.db.deployments import save_deployment
from ledger_app.db.engine import make_engine
from ledger_app.db.locks import KeeperLock, SenderLock
from ledger_app.domain import monitoring as monitoring_rules
from ledger_app.errors import LedgerError, NodeError
from ledger_app.indexer.cli import add_commands as add_indexer_commands
from ledger_app.settings import Settings
from ledger_app.signing.cli import add_commands as add_signing_commands

log = logging.getLogger("ledger_app")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ledger-app`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    # Everything the service writes (database, node state, documents, logs, the files of
    # var/) is its owner's alone: files 0600, directories 0700.
    os.umask(0o077)
    try:
        settings = Settings()
    except ValueError as exc:  # pydantic's ValidationError
        print(f"ledger-app: invalid settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    try:
        return args.command(settings, args)
    except LedgerError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: everything was stopped on the way out.
        log.info("stopped")
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger-app",
        description="Supply-chain finance ledger service. Settings come from LEDGER_* "
        "environment variables (see README.md).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="start the node (if managed), deploy if needed, migrate, serve HTTP"
    )
    run.add_argument("--host", help="listen address (default LEDGER_HOST, 127.0.0.1)")
    run.add_argument("--port", type=int, help="listen port (default LEDGER_PORT, 8000)")
    run.set_defaults(command=run_command)

    api = commands.add_parser(
        "api",
        help="serve HTTP as one of several API replicas (PostgreSQL; the indexer runs "
        "apart: `ledger-app index`)",
    )
    api.add_argument("--host", help="listen address (default LEDGER_HOST, 127.0.0.1)")
    api.add_argument("--port", type=int, help="listen port (default LEDGER_PORT, 8000)")
    api.set_defaults(command=api_command)

    deploy = commands.add_parser("deploy", help="deploy the contracts unless already deployed")
    deploy.add_argument("--force", action="store_true", help="deploy anew even if the record fits")
    deploy.set_defaults(command=deploy_command)

    migrate_parser = commands.add_parser("migrate", help="migrate the database (alembic)")
    migrate_parser.add_argument("revision", nargs="?", default="head")
    migrate_parser.set_defaults(command=migrate_command)

    sanctions = commands.add_parser(
        "load-sanctions",
        help="replace the sanctions list with FILE (CSV lei,name[,aliases][,id] or JSON) and "
        "screen every participant against it",
    )
    sanctions.add_argument("file", type=Path, help="the list: .csv or .json")
    sanctions.set_defaults(command=load_sanctions_command)

    key = commands.add_parser(
        "operator-key", help="issue a new API key for the operator (printed once)"
    )
    key.add_argument("--label", default="operator (command line)")
    key.set_defaults(command=operator_key_command)

    keeper = commands.add_parser(
        "keeper",
        help="mark receivables past due and flag roots past the overdue trigger "
        "(a process of its own; `run` does it every LEDGER_KEEPER_INTERVAL s)",
    )
    keeper.add_argument("--once", action="store_true", help="one pass, print what it did, exit")
    keeper.add_argument(
        "--interval",
        type=float,
        help="seconds between passes (default LEDGER_KEEPER_INTERVAL, else 60)",
    )
    keeper.set_defaults(command=keeper_command)

    rotate = commands.add_parser(
        "rotate-document-key",
        help="re-encrypt every stored document under a new document key; re-runnable "
        "after a kill (README: Documents)",
    )
    rotate.add_argument("--new-key-file", type=Path, required=True, help="file holding the new key")
    rotate.add_argument(
        "--generate",
        action="store_true",
        help="first write a new random key into --new-key-file (mode 0600; it must not exist)",
    )
    rotate.set_defaults(command=rotate_document_key_command)

    add_indexer_commands(commands)  # index, backfill
    add_audit_commands(commands)  # trace
    add_signing_commands(commands)  # rekey-custody
    return parser


# --- commands ---------------------------------------------------------------------


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app run``."""
    from ledger_app.api.app import create_app
    from ledger_app.api.server import server_config

    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    _refuse_if_another_sender(settings)
    with _sigterm_as_interrupt(), _node(settings, reuse_running=False, restart=True) as node:
        outcome = _deploy(settings, force=False)
        if node is not None and not outcome.reused:
            node.save_state()  # the deployment is not in the journal: saved at once
        engine = make_engine(settings.database_url)
        try:
            migrate.upgrade(engine)
            save_deployment(engine, outcome.record)
            _announce_first_operator_key(engine, outcome.record.operator, settings.state_dir)
        finally:
            engine.dispose()
        app = create_app(settings)
        config = server_config(app, settings, host, port)
        server = _server(config, app, settings.shutdown_timeout)
        log.info("serving on http://%s:%d (docs at /docs); Ctrl-C stops", host, port)
        server.run()
        if not server.started:
            raise NodeError(f"the HTTP server could not start on {host}:{port}")
    return 0


def api_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app api``: one API replica (see the module doc). The contracts are deployed
    and the database migrated beforehand (``deploy``, ``migrate`` or ``index``)."""
    from ledger_app.api.app import create_app
    from ledger_app.api.server import server_config

    settings = settings.model_copy(
        update={
            "replica": True,
            "embedded_indexer": False,
            "managed_node": False,
            "keeper_interval": 0.0,
        }
    )
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    engine = make_engine(settings.database_url)
    try:
        # Refused on SQLite, and beside a `run`, before anything else.
        SenderLock(engine, settings.chain_id).acquire_shared().release()
        current, head = migrate.current_revision(engine), migrate.head_revision()
        if current != head:
            raise NodeError(
                f"the database is at revision {current}, this version needs {head}: run "
                "`ledger-app migrate` first (replicas do not migrate, several at once)"
            )
    finally:
        engine.dispose()
    with _sigterm_as_interrupt():
        app = create_app(settings)
        server = _server(server_config(app, settings, host, port), app, settings.shutdown_timeout)
        log.info("API replica serving on http://%s:%d", host, port)
        server.run()
        if not server.started:
            raise NodeError(f"the HTTP server could not start on {host}:{port}")
    return 0


def _server(config: Any, app: Any, timeout: float) -> Any:
    """uvicorn's server, whose shutdown also stops the writes waiting on the chain and is
    bounded: past ``timeout`` s after the signal, the process exits anyway (anvil, told
    to die with its parent, saves its state on the way)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            runtime = getattr(app.state, "runtime", None)
            if runtime is not None:
                runtime.begin_shutdown()
            if not self.should_exit:
                _exit_after(timeout)
            super().handle_exit(sig, frame)

    return Server(config)


def _exit_after(timeout: float) -> None:
    def exit_now() -> None:
        log.error("not stopped %g s after the signal; exiting now", timeout)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(timeout, exit_now)
    timer.daemon = True
    timer.start()


def _refuse_if_another_sender(settings: Settings) -> None:
    """Fail before touching the node when another process sends for this database."""
    engine = make_engine(settings.database_url)
    try:
        SenderLock(engine, settings.chain_id).acquire().release()
    finally:
        engine.dispose()


def keeper_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app keeper``: the overdue keeper's passes (ledger_app/api/keeper.py), sent
    through the service's own journaled send path. On SQLite it holds the sending lock like
    ``run`` (next to a running service, use that service's LEDGER_KEEPER_INTERVAL instead);
    on PostgreSQL it sends beside the API replicas as one of them, and holds the keeper
    lock: a second keeper waits as standby, so one pass runs at a time."""
    import json
    import time

    from ledger_app.api.keeper import OverdueKeeper
    from ledger_app.api.runtime import Runtime

    interval = args.interval or settings.keeper_interval or 60.0
    engine = make_engine(settings.database_url)
    client = ChainClient.from_settings(settings)
    if settings.metrics_port is not None and not args.once:
        metrics.serve(settings.metrics_port, settings.host)
    if engine.dialect.name == "postgresql":
        # Beside API replicas: sends as one of them; one keeper at a time (a second one
        # waits as standby).
        settings = settings.model_copy(
            update={"replica": True, "embedded_indexer": False, "keeper_interval": 0.0}
        )
    with _sigterm_as_interrupt():
        keeper_lock = KeeperLock(engine, settings.chain_id)
        if engine.dialect.name == "postgresql":
            keeper_lock.wait(1.0)
        runtime = Runtime.start(settings, engine, client)
        try:
            deadline = time.monotonic() + settings.receipt_timeout
            while runtime.recovering and time.monotonic() < deadline:
                time.sleep(0.1)  # the journal's first recovery pass, before any write
            keeper = OverdueKeeper(runtime)
            while True:
                report = keeper.run_once()
                if args.once:
                    print(json.dumps(report.as_dict()), flush=True)
                    return 0
                time.sleep(interval)
        finally:
            runtime.close()
            keeper_lock.release()
            engine.dispose()


def operator_key_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app operator-key``: a new operator key, for one who lost (or must replace) it."""
    from ledger_app.api.auth import issue_key
    from ledger_app.chain.deploy import read_record

    record = read_record(settings.deployment_file)
    if record is None:
        raise NodeError(f"no deployment record at {settings.deployment_file}: run first")
    engine = make_engine(settings.database_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            issued = issue_key(conn, record.operator, args.label)
    finally:
        engine.dispose()
    print(f"operator API key {issued.id} (shown once, store it now): {issued.key}", flush=True)
    return 0


def deploy_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app deploy``: uses the running node, or starts the managed one briefly."""
    with _sigterm_as_interrupt(), _node(settings, reuse_running=True):
        outcome = _deploy(settings, force=args.force)
    for name, address in outcome.record.addresses().items():
        print(f"{name:24} {address}")
    return 0


def rotate_document_key_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app rotate-document-key --new-key-file F``: every stored document sealed
    anew under the key in F, read under LEDGER_DOCUMENT_KEY(_FILE) (or the generated dev
    key), LEDGER_DOCUMENT_PREVIOUS_KEY(_FILE) or F's key itself, whichever it is under.
    Each file is written new then renamed: killed half-way, run it again. Prints what it
    did as JSON; the operator then makes F the service's LEDGER_DOCUMENT_KEY_FILE."""
    import json

    from ledger_app.signing.document_key import (
        DocumentKey,
        document_keys,
        read_key_file,
        write_key_file,
    )
    from ledger_app.signing.sealed_documents import SealedDocuments

    if args.generate:
        try:
            write_key_file(args.new_key_file, DocumentKey.generate())
        except FileExistsError:
            print(f"ledger-app: {args.new_key_file} exists; without --generate it is "
                  "used as the new key", file=sys.stderr)  # fmt: skip
            return 2
    new_key = read_key_file(args.new_key_file, "the new key file")
    documents = SealedDocuments(settings.documents_dir, document_keys(settings, dev_chain=False))
    report = documents.rotate(new_key)
    left = [p.name for p in documents.sealed_files() if documents.key_id_of(p) != new_key.key_id]
    print(json.dumps({"resealed": report.resealed, "already_under_new_key": report.already,
                      "new_key_id": new_key.key_id.hex(), "not_under_new_key": len(left)}),
          flush=True)  # fmt: skip
    log.info(
        "documents under the new key (id %s): now set LEDGER_DOCUMENT_KEY_FILE=%s and restart",
        new_key.key_id.hex(),
        args.new_key_file,
    )
    return 0 if not left else 1


def migrate_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app migrate [REVISION]``."""
    engine = make_engine(settings.database_url)
    try:
        migrate.upgrade(engine, args.revision)
        log.info("database at revision %s", migrate.current_revision(engine))
    finally:
        engine.dispose()
    return 0


def load_sanctions_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app load-sanctions FILE``: the list replaced, every participant screened
    (an alert per new match, README "Monitoring"); exit 2 on a bad file, naming the entry."""
    kind = args.file.suffix.lower().lstrip(".")
    if kind not in ("csv", "json"):
        print("ledger-app: the sanctions list is a .csv or a .json file", file=sys.stderr)
        return 2
    try:
        entries = monitoring_rules.parse_sanctions(args.file.read_text(encoding="utf-8"), kind)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"ledger-app: {args.file}: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            loaded = monitoring_store.replace_sanctions(conn, entries, str(args.file))
            alerts = monitoring_store.screen_participants(conn)
    finally:
        engine.dispose()
    print(f"{loaded} entries loaded from {args.file}; {len(alerts)} new screening alerts")
    return 0


# --- steps ------------------------------------------------------------------------


def _deploy(settings: Settings, *, force: bool) -> DeploymentOutcome:
    client = ChainClient.from_settings(settings)
    chain_id = client.chain_id()
    if chain_id != settings.chain_id:
        raise NodeError(
            f"the node at {settings.rpc_url} is chain id {chain_id}, "
            f"LEDGER_CHAIN_ID says {settings.chain_id}"
        )
    artifacts = Artifacts.load(settings.artifacts_file)
    check_evm_version(settings.evm_version, artifacts, PROJECT_ROOT / "ape-config.yaml")
    outcome = ensure_deployed(
        client,
        load_operator(settings, client),
        artifacts,
        load_plan(settings.deploy_plan),
        settings.deployment_file,
        force=force,
        evm_version=settings.evm_version,
    )
    for name, address in outcome.record.addresses().items():
        log.info("contract %-20s %s", name, address)
    return outcome


def _announce_first_operator_key(engine: Engine, operator: str, state_dir: Path) -> None:
    """On the first start, issue the operator's API key, print it once to stdout and keep
    it in ``state_dir``/operator-api-key (mode 0600), never in a log."""
    from ledger_app.api.auth import first_operator_key

    issued = first_operator_key(engine, operator)
    if issued is None:
        return
    kept = state_dir / "operator-api-key"
    kept.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(issued.key + "\n")
    # stdout, not the log: the key must not end up in log files or collectors.
    print(
        f"\n  Operator API key (shown this once; store it now): {issued.key}\n"
        f"  Also kept in {kept} (mode 0600): move it somewhere safe.\n"
        f"  Use it as:  curl -H 'X-API-Key: {issued.key}' http://.../v1/participants\n"
        "  Lost it? `ledger-app operator-key` issues another.\n",
        flush=True,
    )


@contextmanager
def _node(
    settings: Settings, *, reuse_running: bool, restart: bool = False
) -> Iterator[AnvilNode | None]:
    """The managed anvil for the duration of the block (nothing if not managed);
    ``restart``: started again if it dies meanwhile."""
    if not settings.managed_node or (reuse_running and node_answers(settings.rpc_url)):
        yield None
        return
    node = AnvilNode.from_settings(settings, restart_on_exit=restart)
    node.start()
    try:
        yield node
    finally:
        node.stop()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so that `finally` blocks stop the node cleanly."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
