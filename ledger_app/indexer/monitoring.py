"""The rule runner: the compliance rules (ledger_app/domain/monitoring.py) over what the
index has committed, after each committed batch.

It never blocks nor fails the index: ``Indexer.step`` calls ``after_batch`` once its
batch is committed, and any exception of a run is logged and the run tried again after
the next batch (nothing of a failed run is kept). A run reads the blocks after its own
checkpoint (``monitoring_checkpoint``) up to the index's, stores the hits as alerts and
moves its checkpoint, all in one transaction: a run killed half-way leaves nothing, and
the next run takes the same blocks again; an alert's key (rule + triggering rows) makes a
hit stored once whatever happens (``db/monitoring.raise_alerts`` inserts if absent).

A reorg that takes the index below the rules' checkpoint lowers it too, so the blocks
indexed again are run again (their alerts, keyed by transaction, are not doubled).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select

from ledger_app.db import monitoring as store
from ledger_app.db.schema import (
    checkpoint as index_checkpoint,
)
from ledger_app.db.schema import (
    credit_line_drawings,
    credit_lines,
    events,
    receivables,
)
from ledger_app.domain import monitoring as rules
from ledger_app.domain.monitoring import Exposure, Facts, LedgerEvent, Receivable

log = logging.getLogger(__name__)

#: While backfilling, the rules run once this many events have been indexed since their
#: last run (and whenever the index has caught up).
BACKFILL_EVENTS = 20_000


class RuleRunner:
    """Runs the rules over ``engine``'s index of chain ``chain_id``."""

    def __init__(self, engine: Engine, chain_id: int, *, min_interval: float = 0.0) -> None:
        self.engine = engine
        self.chain_id = chain_id
        # Least seconds between two runs once caught up (see ``after_batch``).
        self.min_interval = min_interval
        self.last_run = float("-inf")  # monotonic time of the last run tried
        self.failures = 0
        self.last_error: str | None = None
        self.seconds = 0.0  # spent in runs, for the bench
        self.events_seen = 0
        self.pending = 0  # events stored since the last successful run
        self.loaded: Loaded | None = None  # what the last run read, for the next

    def after_batch(self, events: int = 0, *, caught_up: bool = True) -> int | None:
        """After a step that stored ``events``: run the rules once the index has caught up
        (or ``BACKFILL_EVENTS`` have piled up during a backfill, so that a long backfill
        is not slowed by a run per step), never raising: the alerts created, None when no
        run was due or the run failed (logged; the next run takes the same blocks).

        Caught up, at most one run every ``min_interval`` s: a run reads every event of
        the rules' look-back before its window (on a young chain, all of them), and the
        indexer's thread runs it, so a run after every written block held the next
        write's indexing behind it (issue 24: single writes fell to a few a second at
        5,000 receivables). The blocks skipped are not lost: the next run's window starts
        at the rules' checkpoint, and an idle step (every poll interval) runs it."""
        self.pending += events
        if not caught_up and self.pending < BACKFILL_EVENTS:
            return None
        now = time.monotonic()
        if self.pending < BACKFILL_EVENTS and now - self.last_run < self.min_interval:
            return None
        self.last_run = now
        try:
            created = self.run()
        except Exception as exc:  # a rule's bug must not stop the index
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("monitoring: rule run failed; it runs again after the next batch")
            return None
        self.last_error = None
        self.pending = 0
        return len(created)

    def run(self) -> list[int]:
        """One run up to the indexed block, in one transaction; the new alerts' ids."""
        started = time.perf_counter()
        with self.engine.begin() as conn:
            indexed = conn.execute(
                select(index_checkpoint.c.block_number).where(
                    index_checkpoint.c.chain_id == self.chain_id
                )
            ).scalar()
            done = store.checkpoint(conn, self.chain_id)
            if indexed is None:
                return []
            if done is not None and indexed < done:  # rolled back below the rules' run
                store.set_checkpoint(conn, self.chain_id, indexed)
                self.loaded = None
                return []
            if done is not None and indexed == done:
                return []
            window_from = (done + 1) if done is not None else 0
            configs = store.rule_configs(conn)
            look_back = rules.look_back(configs)
            read = load_facts(conn, self.chain_id, window_from, indexed, look_back, self.loaded)
            if read is None:  # no event in the window: nothing can trigger
                store.set_checkpoint(conn, self.chain_id, indexed)
                kept = self.loaded
                if kept is not None and kept.to == window_from - 1:
                    self.loaded = Loaded(indexed, kept.look_back, kept.events, kept.receivables)
                return []
            facts, loaded = read
            hits = rules.run_rules(configs, facts)
            created = store.raise_alerts(conn, hits)
            store.set_checkpoint(conn, self.chain_id, indexed)
        self.loaded = loaded  # only once committed: a failed run is read again in full
        self.seconds += time.perf_counter() - started
        self.events_seen += sum(1 for e in facts.events if e.block_number >= window_from)
        if created:
            log.info("monitoring: %d new alerts up to block %d", len(created), indexed)
        return created


@dataclass
class Loaded:
    """The rows a run read, kept for the next run: the events up to block ``to`` from
    ``look_back`` seconds before the window on, and the receivables they name. Blocks at
    or below the rules' checkpoint do not change (a rollback drops this), so the next run
    reads only its own window from the database."""

    to: int
    look_back: int
    events: list[LedgerEvent]
    receivables: dict[int, Receivable]


def load_facts(
    conn: Connection, chain_id: int, window_from: int, window_to: int, look_back: int,
    loaded: Loaded | None = None,
) -> tuple[Facts, Loaded] | None:  # fmt: skip
    """The rows a run over blocks ``window_from..window_to`` reads: the window's events
    and those of the ``look_back`` seconds before its first (from ``loaded`` when it ends
    just before the window), the receivables they name, the participants' profiles and
    the financiers' open drawings; None when the window has no event a rule reads."""
    chain = events.c.chain_id == chain_id
    in_window = and_(events.c.block_number >= window_from, events.c.block_number <= window_to)
    named = events.c.event_name.in_(rules.EVENT_NAMES)
    first = conn.execute(
        select(func.min(events.c.block_timestamp)).where(chain, in_window, named)
    ).scalar()
    if first is None:
        return None
    since = first - look_back
    ordered = (events.c.block_number, events.c.log_index)
    if loaded is not None and loaded.to == window_from - 1 and loaded.look_back == look_back:
        # Block timestamps never decrease: what the last run kept covers this look-back.
        query = select(events).where(chain, named, in_window).order_by(*ordered)
        rows = [e for e in loaded.events if e.timestamp >= since]
        rows += [_event(r) for r in conn.execute(query)]
        known = loaded.receivables
    else:
        query = (
            select(events)
            .where(chain, named, events.c.block_number <= window_to,
                   or_(in_window, events.c.block_timestamp >= since))
            .order_by(*ordered)
        )  # fmt: skip
        rows = [_event(r) for r in conn.execute(query)]
        known = {}
    ids = {r.receivable_id for r in rows if r.receivable_id is not None}
    ids |= {r.root_id for r in rows if r.root_id is not None}
    found = {i: known[i] for i in ids if i in known}
    id_list = sorted(ids - found.keys())
    for at in range(0, len(id_list), 500):
        for r in conn.execute(
            select(receivables).where(receivables.c.id.in_(id_list[at : at + 500]))
        ):
            # A receivable's parties, amount, currency and due date never change.
            found[r.id] = Receivable(id=r.id, root_id=r.root_id, debtor=r.debtor.lower(),
                                     creditor=r.creditor.lower(), amount=int(r.amount),
                                     currency=r.currency, due_date=r.due_date)  # fmt: skip
    facts = Facts(
        events=rows, window_from=window_from, receivables=found,
        profiles=store.profiles(conn), exposures=exposures(conn),
    )  # fmt: skip
    return facts, Loaded(window_to, look_back, rows, found)


def _event(row: Any) -> LedgerEvent:
    return LedgerEvent(
        name=row.event_name, args=json.loads(row.args), block_number=row.block_number,
        block_hash=row.block_hash, timestamp=row.block_timestamp or 0, tx_hash=row.tx_hash,
        log_index=row.log_index, receivable_id=row.receivable_id, root_id=row.root_id,
    )  # fmt: skip


def exposures(conn: Connection) -> list[Exposure]:
    """Every open drawing: financier, obligor, currency, face amount not written off."""
    query = select(
        credit_lines.c.financier, credit_lines.c.obligor, credit_lines.c.currency,
        credit_line_drawings.c.amount, credit_line_drawings.c.written_off,
    ).join(credit_lines, credit_lines.c.line_id == credit_line_drawings.c.line_id).where(
        credit_line_drawings.c.released_block.is_(None)
    )  # fmt: skip
    return [
        Exposure(
            r.financier.lower(), r.obligor.lower(), r.currency, int(r.amount) - int(r.written_off)
        )
        for r in conn.execute(query)
    ]
