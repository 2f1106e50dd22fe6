"""The overdue keeper: marks what time has made true, so that no one has to remember.

A pass reads the index at its head block's timestamp (the chain's clock) and sends

- the registry's ``markOverdue(id)`` for every leaf past its due date still ACTIVE or
  FINANCED;
- RiskControl's ``flagOverdue(rootId)`` for every root unpaid more than the trigger's days
  past its due date, not flagged and not paid into clearing,

as one account (``LEDGER_KEEPER_ACCOUNT``, a participant whose key the service holds;
the contracts take these marks from any active participant only when they are true).
Each goes through the API's own send path (``Writer.write``): journaled before its
broadcast, resolved by the journal's recovery after a crash, and followed until the
index holds it, so the next pass does not see it again. What the chain refuses (another
keeper or a participant got there first, the index a block behind) is refused by the
estimate before anything is sent: logged and skipped, never retried blindly.

``ledger-app keeper`` runs passes in a process of its own; ``ledger-app run`` runs them
every ``LEDGER_KEEPER_INTERVAL`` seconds (0: off) in a thread (``KeeperThread``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from ledger_app.api.identity import Caller
from ledger_app.api.index_state import indexed_block
from ledger_app.api.services.lookups import participant_row, standing
from ledger_app.api.services.writes import Writer
from ledger_app.db import obligor_queries, risk_queries
from ledger_app.db.schema import blocks
from ledger_app.domain.risk_score import DAY
from ledger_app.domain.standing import ACTIVE
from ledger_app.domain.vocabulary import Role
from ledger_app.errors import ConfigurationError, RequestError, ServiceDegraded, TransactionReverted

if TYPE_CHECKING:
    from ledger_app.api.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class KeeperReport:
    """What one pass sent and skipped."""

    as_of_block: int
    as_of: int | None
    marked: list[int] = field(default_factory=list)
    flagged: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as logged and printed."""
        return {"as_of_block": self.as_of_block, "as_of": self.as_of, "marked": self.marked,
                "flagged": self.flagged, "skipped": self.skipped}  # fmt: skip


def _head_time(engine: Engine, chain_id: int) -> tuple[int, int | None]:
    head = indexed_block(engine, chain_id)
    with engine.connect() as conn:
        stamp = conn.execute(
            select(blocks.c.timestamp).where(blocks.c.chain_id == chain_id, blocks.c.number == head)
        ).scalar()
    return head, None if stamp is None else int(stamp)


class OverdueKeeper:
    """One keeper account's passes over the index."""

    def __init__(self, runtime: Runtime, account: str | None = None) -> None:
        self.runtime = runtime
        account = account or runtime.settings.keeper_account or runtime.custody.operator.address
        if not runtime.custody.holds(account):
            raise ConfigurationError(
                f"LEDGER_KEEPER_ACCOUNT {account}: the service holds no key for it"
            )
        if standing(participant_row(runtime.engine, account)) != ACTIVE:
            # The operator's own account is no onboarded participant: name one that is.
            raise ConfigurationError(
                f"the keeper's account {account} is not an active participant, and the "
                "contracts take marks only from one: set LEDGER_KEEPER_ACCOUNT"
            )
        # Roles matter to the API's permission table, not here: the contracts take the
        # marks from any active participant.
        self.caller = Caller(address=account, api_key_id="keeper", roles=frozenset({Role.OPERATOR}),
                             standing="ACTIVE")  # fmt: skip
        self.writer = Writer(runtime)

    def run_once(self) -> KeeperReport:
        """One pass: mark, then flag, what the index shows due at its head's time."""
        runtime = self.runtime
        head, now = _head_time(runtime.engine, runtime.chain_id)
        report = KeeperReport(as_of_block=head, as_of=now)
        if now is None:
            return report
        with runtime.engine.connect() as conn:
            leaves = obligor_queries.leaves_to_mark(conn, now)
            days = risk_queries.trigger_days(conn)
            roots = [] if days is None else obligor_queries.roots_to_flag(conn, now - days * DAY)
        for leaf in leaves:
            call = runtime.contracts.call("receivables", "markOverdue", leaf)
            if self._send("keeper.mark_overdue", call, "leaf", leaf, report):
                report.marked.append(leaf)
        for root in roots:
            call = runtime.contracts.call("risk_control", "flagOverdue", root)
            if self._send("keeper.flag_overdue", call, "root", root, report):
                report.flagged.append(root)
        if report.marked or report.flagged or report.skipped:
            log.info("keeper pass: %s", report.as_dict())
        return report

    def _send(self, operation: str, call: Any, kind: str, id_: int, report: KeeperReport) -> bool:
        try:
            self.writer.write(self.caller, operation, call)
        except ServiceDegraded:
            raise  # nothing sent; the whole pass waits for the next
        except (TransactionReverted, RequestError) as exc:
            name = getattr(exc, "error_name", None) or getattr(exc, "error", type(exc).__name__)
            log.warning("keeper: %s %d skipped: the ledger refused it (%s: %s)",
                        kind, id_, name, exc)  # fmt: skip
            report.skipped.append({"kind": kind, "id": id_, "error": name})
            return False
        return True


class KeeperThread(threading.Thread):
    """``OverdueKeeper`` passes every ``interval`` seconds inside ``ledger-app run``."""

    def __init__(self, runtime: Runtime, interval: float) -> None:
        super().__init__(name="overdue-keeper", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self._halt = threading.Event()
        self.last: KeeperReport | None = None

    def stop(self) -> None:
        """End after the current pass."""
        self._halt.set()

    def run(self) -> None:
        keeper: OverdueKeeper | None = None
        while not self._halt.wait(self.interval):
            try:
                keeper = keeper or OverdueKeeper(self.runtime)
                self.last = keeper.run_once()
            except ServiceDegraded as exc:  # writes refused for now: the next pass
                log.info("keeper pass deferred: %s", exc)
            except Exception as exc:  # the node or the database away: the next pass
                log.warning("keeper pass failed: %s: %s", type(exc).__name__, exc)
