"""The indexer as a thread of the API process (``ledger-app run``'s embedded set-up).

Same steps as ``ledger-app index``, with one addition: ``wake()`` lets a
writer that has just seen its receipt cut the poll interval short, so that a
write's block is indexed within milliseconds and read-your-writes waits are
short. ``wait_for(block)`` lets that writer sleep until the step that commits
its block says so, instead of polling the database. Holds the writer lock: a
second indexer on the same database exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from ledger_app import metrics
from ledger_app.db.locks import WriterLock
from ledger_app.errors import ChainError
from ledger_app.indexer.runner import Indexer, StepResult

log = logging.getLogger(__name__)

MAX_RETRY_WAIT = 5.0  # seconds between steps while the node or the database fails


class BackgroundIndexer:
    """Runs ``indexer`` in a daemon thread until ``stop()``."""

    def __init__(self, indexer: Indexer, lock: WriterLock, poll_interval: float) -> None:
        self.indexer = indexer
        self.lock = lock
        self.poll_interval = poll_interval
        self.error: BaseException | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._indexed = threading.Condition()
        self.indexed_to = -1  # last block committed by a step of this thread
        self._hint = -1  # highest block a writer has seen mined since the last step
        #: Called after each committed step (the API wakes its webhook deliveries).
        self.after_step: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)

    def start(self) -> BackgroundIndexer:
        """Take the writer lock and start following the chain."""
        self.lock.acquire()
        metrics.indexer_active(True)
        self._thread.start()
        return self

    def wake(self, block: int | None = None) -> None:
        """Look at the chain now rather than at the next poll; ``block``, a block a
        receipt has just shown mined, spares the next step asking the node for its head."""
        if block is not None:
            with self._indexed:
                self._hint = max(self._hint, block)
        self._wake.set()

    def wait_for(self, block: int, timeout: float) -> int | None:
        """Wait until a step has committed ``block``; the indexed block, or None after
        ``timeout`` s (or when the thread has stopped)."""
        deadline = time.monotonic() + timeout
        with self._indexed:
            while self.indexed_to < block:
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive:
                    return None
                # The writer woke the thread when its receipt came (the sender's
                # on_mined): waking it again now would only run an idle step. Only a
                # wait that runs long wakes it, with the block, and bounds the wait so
                # a thread that dies without notifying is noticed.
                if not self._indexed.wait(min(left, 0.05)):
                    self.wake(block)
            return self.indexed_to

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current step (waiting up to ``timeout`` s for it) and release the
        writer lock. A step retrying a node that is gone gives up at once: its RPC client
        is halted (nothing is committed by a step that fails)."""
        self._stop.set()
        self._wake.set()
        self.indexer.rpc.halt()
        self._thread.join(timeout=timeout)
        self.lock.release()
        metrics.indexer_active(False)

    def _committed(self, result: StepResult) -> None:
        """Tell the writers waiting for a block that the index now holds ``indexed_to``."""
        with self._indexed:
            # indexed_to comes from the committed checkpoint: a reorg may lower it.
            self.indexed_to = result.indexed_to
            self._indexed.notify_all()

    @property
    def alive(self) -> bool:
        """Whether the thread is still indexing."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._steps()
        finally:
            self.indexer.close()  # the read-ahead helper, if a backfill was going on

    def _steps(self) -> None:
        failures = 0  # steps failed in a row
        while not self._stop.is_set():
            if failures:
                try:
                    self.lock.ensure()  # a database restart ends a PostgreSQL lock's session
                except OperationalError:
                    self._wake.wait(MAX_RETRY_WAIT)
                    continue
                except Exception as exc:  # IndexerLockedError: another writer took over
                    log.exception("indexer stopped")
                    self.error = exc
                    return
            self._wake.clear()
            with self._indexed:
                hint, self._hint = self._hint, -1
            try:
                # The last head seen may be further than the hint (a backfill going on).
                known = max(hint, self.indexer.tip) if hint > self.indexed_to else None
                # Writers waiting for their block are told at the commit (``_committed``),
                # not after the monitoring run that follows it.
                result = self.indexer.step(known_tip=known, committed=self._committed)
            except (ChainError, OperationalError) as exc:
                # The node or the database away or failing (an RPC error, a locked or
                # unreachable database): nothing was committed; try again, more slowly
                # while it lasts. Only IndexerError (another writer, another chain) and bugs
                # stop the thread; a chain that changed below the index is followed by step.
                failures += 1
                log.warning("indexer: %s: %s; retrying", type(exc).__name__, exc)
                self._wake.wait(min(self.poll_interval * 2 ** min(failures, 16), MAX_RETRY_WAIT))
                continue
            except Exception as exc:
                # IndexerLockedError, ChainMismatchError, a bug: stop loudly; /health and
                # the write gate report it.
                log.exception("indexer stopped")
                self.error = exc
                return
            if failures:
                log.warning("indexer: going again after %d failed steps", failures)
                failures = 0
            if self.after_step is not None:
                self.after_step()
            if result.caught_up:
                self._wake.wait(self.poll_interval)
