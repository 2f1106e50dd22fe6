"""``ledger-app index`` (backfill, then follow the head) and ``ledger-app backfill``.

Both read the deployment record (``LEDGER_DEPLOYMENT_FILE``) to know which
contracts to follow and from which block, migrate the database, take the
writer lock and index. ``backfill`` stops once caught up, printing a progress
line (blocks, events/s, lag) to stderr.

``index`` runs unattended, so it outlives the node and the database as the
embedded indexer thread does (background.py): a step failing with an RPC or
database error is retried after a capped exponential backoff, and the writer
lock is made sure of again first (a PostgreSQL restart ends the session that
held it). ``backfill`` is a one-off: there such an error ends it with exit code 1.

A second ``index`` on the same database is a standby: it logs that it waits, polls the
writer lock every ``--standby-poll`` s (default 1), and takes over as the writer when the
first one dies (the lock ends with its connection, or its process), from the checkpoint
the first one committed last. ``backfill`` beside a running writer exits at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError

from ledger_app import metrics
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.decode import followed_contracts
from ledger_app.chain.deploy import read_record
from ledger_app.chain.nodes import NodeSet
from ledger_app.db import migrate
from ledger_app.db.engine import make_engine
from ledger_app.db.locks import WriterLock
from ledger_app.errors import ChainError, DeploymentError, RangeTooLargeError
from ledger_app.indexer.background import MAX_RETRY_WAIT
from ledger_app.indexer.runner import Indexer, ProgressCallback, StepResult
from ledger_app.indexer.service import build_indexer, config_from_settings
from ledger_app.settings import Settings

log = logging.getLogger(__name__)


def add_commands(commands: Any) -> None:
    """Add ``index`` and ``backfill`` to the ``ledger-app`` sub-command parser."""
    index = commands.add_parser(
        "index",
        help="index the contracts' events, then follow the head (a second one waits as "
        "standby and takes over when the first dies)",
    )
    _options(index)
    index.add_argument(
        "--standby-poll",
        type=float,
        default=1.0,
        help="seconds between looks at the writer lock while standby (default 1)",
    )
    index.set_defaults(command=index_command)
    backfill = commands.add_parser("backfill", help="index up to the head (or --to) and stop")
    _options(backfill)
    backfill.add_argument("--to", type=int, help="last block to index (default: the head)")
    backfill.set_defaults(command=backfill_command)


def _options(parser: argparse.ArgumentParser) -> None:
    # No defaults here: an option left out takes its LEDGER_INDEXER_* setting.
    parser.add_argument(
        "--confirmations",
        type=int,
        help="index only up to head - N (default LEDGER_INDEXER_CONFIRMATIONS, 0)",
    )
    parser.add_argument(
        "--poll", type=float, help="seconds between polls (default LEDGER_INDEXER_POLL_INTERVAL)"
    )
    parser.add_argument(
        "--reorg-window",
        type=int,
        help="blocks whose changes can be undone after a reorg (default LEDGER_INDEXER_REORG_WINDOW)",
    )
    parser.add_argument(
        "--range",
        type=int,
        help="initial blocks per getLogs (default LEDGER_INDEXER_INITIAL_RANGE)",
    )
    parser.add_argument(
        "--max-range",
        type=int,
        help="largest blocks per getLogs (default LEDGER_INDEXER_MAX_RANGE)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def index_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app index``: runs until Ctrl-C or SIGTERM."""
    return _run(settings, args, follow=True, until=None)


def backfill_command(settings: Settings, args: argparse.Namespace) -> int:
    """``ledger-app backfill [--to BLOCK]``."""
    return _run(settings, args, follow=False, until=args.to)


def _run(settings: Settings, args: argparse.Namespace, *, follow: bool, until: int | None) -> int:
    record = read_record(settings.deployment_file)
    if record is None:
        raise DeploymentError(
            f"no deployment record at {settings.deployment_file}: deploy first (`ledger-app deploy`)"
        )
    engine = make_engine(settings.database_url)
    try:
        migrate.upgrade(engine)

        def build() -> Indexer:
            return build_indexer(
                rpc_url=NodeSet.from_settings(settings),
                engine=engine,
                artifacts=Artifacts.load(settings.artifacts_file),
                contracts=followed_contracts(record),
                start_block=record.deployment_block,
                config=config_from_settings(
                    settings,
                    confirmations=args.confirmations,
                    poll_interval=args.poll,
                    initial_range=args.range,
                    max_range=args.max_range,
                ),
                reorg_window=(
                    args.reorg_window
                    if args.reorg_window is not None
                    else settings.indexer_reorg_window
                ),
                rpc_timeout=settings.rpc_timeout,
            )

        indexer = build()
        if follow and settings.metrics_port is not None:
            metrics.serve(settings.metrics_port, settings.host)
        lock = WriterLock(engine, indexer.store.chain_id)
        if follow:
            lock.wait(args.standby_poll)
            # Built again: a standby's indexer knows the settlement tokens listed before
            # it started waiting, not those listed since (found by tests/replicas).
            indexer = build()
            log.info("indexer: writing to the index (holding the writer lock)")
        else:
            lock.acquire()
        with lock:
            metrics.indexer_active(True)
            progress = None if args.quiet else Progress()
            try:
                if follow:
                    follow_with_retries(indexer, lock, on_progress=progress)
                else:
                    indexer.run(follow=False, until=until, on_progress=progress)
            finally:
                indexer.close()  # the read-ahead helper, if it was stopped mid-backfill
            if progress is not None:
                progress.done()
    finally:
        engine.dispose()
    return 0


def follow_with_retries(
    indexer: Indexer,
    lock: WriterLock,
    *,
    on_progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Index and follow the head for ever, retrying failed steps (see the module doc).

    Only errors that retrying cannot cure end it: IndexerError (another writer took the
    lock, another chain), a node refusing even a one-block log query, and bugs."""
    poll = indexer.config.poll_interval
    started = time.monotonic()
    failures = 0  # steps failed in a row
    while True:
        if failures:
            try:
                lock.ensure()
            except OperationalError as exc:
                log.warning("indexer: database still away (%s); retrying", type(exc).__name__)
                sleep(MAX_RETRY_WAIT)
                continue
        try:
            result = indexer.step()
        except RangeTooLargeError:
            raise  # one block is already too much for the node: waiting will not help
        except (ChainError, OperationalError) as exc:
            # Nothing was committed: the step is done again once the part is back, more
            # slowly while it stays away.
            failures += 1
            wait = min(poll * 2 ** min(failures, 16), MAX_RETRY_WAIT)
            log.warning("indexer: %s: %s; retrying in %.1f s", type(exc).__name__, exc, wait)
            sleep(wait)
            continue
        if failures:
            log.warning("indexer: going again after %d failed steps", failures)
            failures = 0
        if on_progress is not None:
            on_progress(result, time.monotonic() - started)
        if result.caught_up:
            sleep(poll)


class Progress:
    """A one-line progress report on stderr: block, lag, events, events/s."""

    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self.events = 0
        self._last = 0.0
        self._line = ""

    def __call__(self, result: StepResult, elapsed: float) -> None:
        """Count the step's events; redraw at most every ``every`` seconds."""
        self.events += result.events
        now = time.monotonic()
        if now - self._last < self.every and not result.caught_up:
            return
        self._last = now
        rate = self.events / elapsed if elapsed > 0 else 0.0
        lag = max(0, result.tip - result.indexed_to)
        self._line = (
            f"block {result.indexed_to:,}/{result.tip:,}  lag {lag:,}  "
            f"events {self.events:,}  {rate:,.0f} events/s  {elapsed:,.1f} s"
        )
        sys.stderr.write("\r" + self._line + "\033[K")
        sys.stderr.flush()

    def done(self) -> None:
        """End the progress line."""
        if self._line:
            sys.stderr.write("\n")
            sys.stderr.flush()
