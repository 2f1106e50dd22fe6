"""Anchoring the access log's hash chain on the ledger (contracts/AccessLogAnchor.sol).

Every ``LEDGER_ACCESS_LOG_ANCHOR_INTERVAL`` seconds (300 by default; 0: off) a pass of
``AccessLogAnchorer`` inside ``ledger-app run``:

1. reads the ledger's last anchor (the contract's ``lastAnchor()``) and records in
   ``access_log_anchors`` every anchor event the table lacks (one sent before a crash
   and mined, but not recorded, is found here);
2. takes the chain's head from the database; nothing to do unless it moved past the
   last anchor;
3. refuses to anchor over a chain whose row at the last anchored count no longer has
   the anchored hash (the log was altered: anchoring on top would not hide it, but the
   operator must look; ``ledger-app verify-access-log`` says where);
4. waits while an anchor of an earlier pass is still out (journaled, not resolved);
5. sends ``anchor(count, head)`` as the operator through the API's journaled send path
   (``Writer.write``: journaled before its broadcast, resolved by the journal's recovery
   after a crash) and records it.

The contract takes only a count larger than the last, so a restarted service can never
anchor a shorter or another head for a count already anchored; a pass that lost the
race to its own earlier transaction is refused by the estimate, logged, and harmless.

At a clean shutdown, after the last rows are written, one more pass anchors the head:
the sender's queue has stopped then (``Runtime.begin_shutdown``), so that one is sent
directly with the operator's key while the process still holds the sending lock. Killed
between its broadcast and its record, it is recorded at the next start from the chain.
A replica (``ledger-app api``) holds that lock shared with the others, so it makes no such
direct send at shutdown: the other replicas' passes anchor its last rows.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from ledger_app.api.identity import Caller
from ledger_app.api.services.writes import Writer
from ledger_app.audit.access_log import read_anchors
from ledger_app.db.access_chain import chain_head
from ledger_app.db.api_tables import access_log, access_log_anchors, transactions
from ledger_app.domain.vocabulary import Role
from ledger_app.errors import DeploymentError, RequestError, ServiceDegraded, TransactionReverted

if TYPE_CHECKING:
    from ledger_app.api.runtime import Runtime

log = logging.getLogger(__name__)

CONTRACT = "access_log_anchor"
OPERATION = "access_log.anchor"
#: Journal states of a transaction that may yet be mined.
OUT = ("QUEUED", "SIGNED", "SENT")


@dataclass(frozen=True)
class AnchorResult:
    """What a pass did: ``anchored`` (count, head, transaction), or why not."""

    state: str  # anchored, unchanged, pending, refused, tampered
    count: int
    head: str | None = None
    transaction_hash: str | None = None
    block_number: int | None = None


class AccessLogAnchorer:
    """The operator's anchoring passes (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.address = runtime.contracts.address(CONTRACT)  # DeploymentError if absent
        operator = runtime.custody.operator
        self.operator = operator
        self.caller = Caller(address=operator.address, api_key_id="access-log-anchor",
                             roles=frozenset({Role.OPERATOR}), standing="ACTIVE")  # fmt: skip
        self._lock = threading.Lock()  # one pass at a time (the thread's, the last one)

    @property
    def engine(self) -> Engine:
        """The service's database."""
        return self.runtime.engine

    def anchor_once(self, *, direct: bool = False) -> AnchorResult:
        """One pass; ``direct`` sends with the operator's key, not through the sender's
        queue (the last pass, at shutdown)."""
        with self._lock:
            last_count, last_head = self.record_from_chain()
            with self.engine.connect() as conn:
                count, head = chain_head(conn)
                anchored_row = conn.execute(
                    select(access_log.c.row_hash).where(access_log.c.seq == last_count)
                ).scalar()
                # Directly sent, the anchor takes the operator's next nonce from the node:
                # not while any journaled transaction of the operator may still take it.
                mine = (transactions.c.participant == self.caller.key if direct
                        else transactions.c.operation == OPERATION)  # fmt: skip
                out = conn.execute(
                    select(transactions.c.id).where(mine, transactions.c.status.in_(OUT)).limit(1)
                ).first()
            if count < last_count:
                log.error("access log: %d rows, but the ledger anchors %d: rows were removed "
                          "(or the database restored from before); run "
                          "`ledger-app verify-access-log`", count, last_count)  # fmt: skip
                return AnchorResult("tampered", last_count, last_head)
            if count == last_count:
                return AnchorResult("unchanged", last_count, last_head)
            if last_count and anchored_row != last_head:
                log.error("access log: row %d no longer has the hash anchored on the ledger "
                          "(%s, found %s): not anchoring; run `ledger-app verify-access-log`",
                          last_count, last_head, anchored_row)  # fmt: skip
                return AnchorResult("tampered", last_count, last_head)
            if out is not None:
                return AnchorResult("pending", last_count, last_head)
            return self._send(count, head, direct=direct)

    def record_from_chain(self) -> tuple[int, str]:
        """The ledger's last anchor (count, head hex); every anchor event not yet in
        ``access_log_anchors`` is recorded first."""
        client = self.runtime.client
        raw_count, raw_head = self.runtime.contracts.view(client, CONTRACT, "lastAnchor")
        count, head = int(raw_count), bytes(raw_head).hex()
        with self.engine.connect() as conn:
            recorded = conn.execute(
                select(access_log_anchors.c.count).order_by(access_log_anchors.c.count.desc())
            ).scalar()  # fmt: skip
        if count and (recorded or 0) < count:
            from_block = self.runtime.contracts.record.contracts[CONTRACT].block_number
            for anchor in read_anchors(client.transport, self.address, from_block):
                if anchor.count > (recorded or 0):
                    self._record(anchor.count, anchor.head, anchor.transaction_hash or "",
                                 anchor.block_number or 0)  # fmt: skip
            log.info("access log: anchors up to %d recorded from the ledger", count)
        return count, head

    def _send(self, count: int, head: str, *, direct: bool) -> AnchorResult:
        args = (count, bytes.fromhex(head))
        try:
            if direct:
                contracts = self.runtime.contracts
                receipt = self.runtime.client.transact(
                    self.operator, self.address, contracts.abi(contracts.kind(CONTRACT)),
                    "anchor", args,
                )  # fmt: skip
                tx_hash, block = receipt.transaction_hash, receipt.block_number
            else:
                call = self.runtime.contracts.call(CONTRACT, "anchor", *args)
                outcome = Writer(self.runtime).write(self.caller, OPERATION, call)
                tx_hash, block = outcome.transaction_hash, outcome.block_number
        except (TransactionReverted, RequestError) as exc:
            name = getattr(exc, "error_name", None) or type(exc).__name__
            log.warning("access log: anchor of %d rows refused by the ledger (%s: %s)",
                        count, name, exc)  # fmt: skip
            return AnchorResult("refused", count, head)
        assert tx_hash is not None
        assert block is not None
        self._record(count, head, tx_hash, block)
        log.info("access log anchored: %d rows, head %s (tx %s, block %d)", count, head,
                 tx_hash, block)  # fmt: skip
        return AnchorResult("anchored", count, head, tx_hash, block)

    def _record(self, count: int, head: str, tx_hash: str, block: int) -> None:
        values = {"count": count, "head": head, "tx_hash": tx_hash, "block_number": block,
                  "recorded_at": datetime.now(UTC)}  # fmt: skip
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(access_log_anchors).values(**values)
        with self.engine.begin() as conn:
            conn.execute(statement.on_conflict_do_nothing(index_elements=["count"]))


class AnchorThread(threading.Thread):
    """``AccessLogAnchorer`` passes every ``interval`` seconds inside ``ledger-app run``."""

    def __init__(self, runtime: Runtime, interval: float) -> None:
        super().__init__(name="access-log-anchor", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self._halt = threading.Event()
        self.anchorer: AccessLogAnchorer | None = None
        self.last: AnchorResult | None = None

    def stop(self) -> None:
        """End after the current pass."""
        self._halt.set()

    def final(self) -> AnchorResult | None:
        """The last pass, at a clean shutdown (after the last rows are written)."""
        self.stop()
        self.join(timeout=2.0)
        try:
            anchorer = self.anchorer or AccessLogAnchorer(self.runtime)
            self.last = anchorer.anchor_once(direct=True)
        except Exception as exc:  # the node away: the next start anchors these rows
            log.warning("access log: no anchor at shutdown: %s: %s", type(exc).__name__, exc)
            return None
        return self.last

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                self.anchorer = self.anchorer or AccessLogAnchorer(self.runtime)
                self.last = self.anchorer.anchor_once()
            except (ServiceDegraded, DeploymentError) as exc:
                log.info("access log anchor deferred: %s", exc)
            except Exception as exc:  # the node or the database away: the next pass
                log.warning("access log anchor failed: %s: %s", type(exc).__name__, exc)
