"""The indexer as a thread of the API process (``ledger-app run``'s embedded set-up).

Same steps as ``ledger-app index``, with one addition: ``wake()`` lets a
writer that has just seen its receipt cut the poll interval short, so that a
write's block is indexed within milliseconds and read-your-writes waits are
short. Holds the writer lock: a second indexer on the same database exits.
"""

from __future__ import annotations

import logging
import threading

from ledger_app.errors import ChainUnavailable
from ledger_app.indexer.lock import WriterLock
from ledger_app.indexer.runner import Indexer

log = logging.getLogger(__name__)


class BackgroundIndexer:
    """Runs ``indexer`` in a daemon thread until ``stop()``."""

    def __init__(self, indexer: Indexer, lock: WriterLock, poll_interval: float) -> None:
        self.indexer = indexer
        self.lock = lock
        self.poll_interval = poll_interval
        self.error: BaseException | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)

    def start(self) -> BackgroundIndexer:
        """Take the writer lock and start following the chain."""
        self.lock.acquire()
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look at the chain now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the current step and release the writer lock."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.lock.release()

    @property
    def alive(self) -> bool:
        """Whether the thread is still indexing."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                result = self.indexer.step()
            except ChainUnavailable as exc:
                log.warning("indexer: node unavailable (%s)", exc)
                self._wake.wait(self.poll_interval)
                continue
            except Exception as exc:
                # ReorgTooDeepError and the like: stop loudly; /health reports it.
                log.exception("indexer stopped")
                self.error = exc
                return
            if result.caught_up:
                self._wake.wait(self.poll_interval)
