"""Obligor risk: issuance caps, cap managers, the overdue trigger and its flags, scores,
early warnings and exposure.

The writes go to RiskControl through the one send path (services/writes.py), after the
checks of the request the index can answer (the core an onboarded core enterprise, the
currency listed, the manager an active financier, the root a known root), each naming
the field at fault. Who may set a core's caps (the operator or its cap manager) is the
contract's to decide: a financier that is not the manager is refused by the estimate
(``RiskNotCapSetter``, 403) before anything is sent.

The reads come from the index (the read models of ledger_app/db/schema.py, queried in
ledger_app/db/risk_queries.py, and obligor_queries.py for what it lacks); the rules that turn them into
figures (the score, utilisation bands, headroom) are ledger_app/domain's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select

from ledger_app.api.identity import Caller
from ledger_app.api.permissions import Role
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import is_active_with, participant_row, roles_of, token_of
from ledger_app.api.services.receivables import visible_to
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.db import obligor_queries as q
from ledger_app.db import risk_queries as rq
from ledger_app.db.schema import receivables
from ledger_app.domain import risk as figures
from ledger_app.domain import risk_score
from ledger_app.domain.vocabulary import ZERO_ADDRESS
from ledger_app.errors import Conflict, Forbidden, InvalidInput, NotFound

#: Roles that see every obligor's figures (the operator runs the consortium's risk).
OVERSEERS = frozenset({Role.AUDITOR, Role.REGULATOR, Role.OPERATOR})


def _address(value: str | None) -> str | None:
    return None if value is None else to_checksum_address(value)


def _time(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC)


def sees_all(caller: Caller) -> bool:
    """Whether ``caller`` sees every obligor's warnings and exposure."""
    return bool(caller.roles & OVERSEERS)


class RiskService:
    """The obligor-risk operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)

    # --- checks of a request --------------------------------------------------------------

    def require_core(self, core: str, field: str = "core") -> str:
        """``core`` (lower case) if the index shows it an onboarded core enterprise; 404
        ``AccountNotParticipant`` or 409 ``NotCoreEnterprise`` naming ``field`` otherwise."""
        row = participant_row(self.engine, core)
        if row is None or not row.onboarded:
            raise NotFound(f"{core} is not a participant", error="AccountNotParticipant",
                           field=field, account=core)  # fmt: skip
        if "CORE_ENTERPRISE" not in roles_of(row):
            raise InvalidInput(f"{core} is not a core enterprise", error="CounterpartyLacksRole",
                           field=field, account=core)  # fmt: skip
        return core.lower()

    def require_listed(self, currency: str, field: str = "currency") -> None:
        """409 ``CurrencyNotListed`` naming ``field`` unless a token is listed for it."""
        if token_of(self.engine, currency) is None:
            raise Conflict(f"no settlement token is listed for {currency}",
                           error="CurrencyNotListed", field=field, currency=currency)  # fmt: skip

    # --- writes ---------------------------------------------------------------------------

    def set_cap(self, caller: Caller, core: str, currency: str, cap: int) -> WriteOutcome:
        """Cap what ``core`` may owe in ``currency`` (the operator or its cap manager)."""
        self.require_core(core)
        self.require_listed(currency)
        call = self.runtime.contracts.call(
            "risk_control", "setIssuanceCap", to_checksum_address(core), currency.encode(), cap
        )
        return self.writer.write(caller, "risk.set_issuance_cap", call)

    def remove_cap(self, caller: Caller, core: str, currency: str) -> WriteOutcome:
        """Lift ``core``'s cap in ``currency``."""
        self.require_core(core)
        self.require_listed(currency)
        call = self.runtime.contracts.call(
            "risk_control", "removeIssuanceCap", to_checksum_address(core), currency.encode()
        )
        return self.writer.write(caller, "risk.remove_issuance_cap", call)

    def set_cap_manager(self, caller: Caller, core: str, manager: str | None) -> WriteOutcome:
        """Name the bank (an active financier) that may set ``core``'s caps; None: none."""
        self.require_core(core)
        if manager is not None and not is_active_with(
            participant_row(self.engine, manager), "FINANCIER"
        ):
            raise Conflict(f"{manager} is not an active financier", error="FinancierNotActive",
                           field="manager", account=manager)  # fmt: skip
        call = self.runtime.contracts.call(
            "risk_control", "setCapManager", to_checksum_address(core), manager or ZERO_ADDRESS
        )
        return self.writer.write(caller, "risk.set_cap_manager", call)

    def set_trigger(self, caller: Caller, days: int) -> WriteOutcome:
        """Days past its due date after which an unpaid root restricts its debtor."""
        call = self.runtime.contracts.call("risk_control", "setOverdueTrigger", days)
        return self.writer.write(caller, "risk.set_overdue_trigger", call)

    def flag(self, caller: Caller, root_id: int) -> WriteOutcome:
        """Flag root ``root_id`` as past the overdue trigger (the contract checks it is)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(receivables.c.id, receivables.c.root_id).where(receivables.c.id == root_id)
            ).first()
        if row is None:
            raise NotFound(f"no receivable {root_id}", error="ReceivableNotFound",
                           field="root_id", id=root_id)  # fmt: skip
        if row.root_id != row.id:
            raise InvalidInput(
                f"receivable {root_id} is a part of root {row.root_id}, not a root",
                error="RiskNotRoot", field="root_id", id=root_id, rootId=row.root_id,
            )  # fmt: skip
        call = self.runtime.contracts.call("risk_control", "flagOverdue", root_id)
        return self.writer.write(caller, "risk.flag_overdue", call)

    # --- reads: caps, the trigger, flags ------------------------------------------------------

    def caps_for(self, caller: Caller, core: str | None = None) -> list[dict[str, Any]]:
        """What each core owes and its caps, as ``caller`` may see them: financiers and
        overseers every core's, a core enterprise only its own (what a core owes is its
        business and its banks', not every participant's)."""
        if not caller.roles & (OVERSEERS | {Role.FINANCIER}):
            if core is not None and not caller.is_(core):
                raise Forbidden(f"a core enterprise sees only its own payables, not {core}'s",
                                error="PayablesNotVisible", core=core)  # fmt: skip
            core = caller.key
        return self.caps(core)

    def caps(self, core: str | None = None) -> list[dict[str, Any]]:
        """What each core owes per currency and its cap (``core``: one core's)."""
        with self.engine.connect() as conn:
            rows = rq.payables(conn, core=core)
        return [
            {
                "core": to_checksum_address(row["core"]),
                "currency": row["currency"],
                "cap": _amount(row["cap"]),
                "outstanding": str(row["outstanding"]),
                "headroom": _amount(row["headroom"]),
                "utilisation_bps": row["utilisation_bps"],
                "manager": _address(row["manager"]),
            }
            for row in rows
        ]

    def cap_manager(self, core: str) -> dict[str, Any]:
        """The bank that may set ``core``'s caps."""
        with self.engine.connect() as conn:
            manager = rq.cap_manager(conn, core)
        return {"core": to_checksum_address(core), "manager": _address(manager)}

    def restricted(self) -> list[dict[str, Any]]:
        """The cores restricted by the overdue trigger now."""
        with self.engine.connect() as conn:
            rows = rq.restricted_cores(conn)
        return [
            {
                "core": to_checksum_address(r["core"]),
                "overdue_roots": r["overdue_roots"],
                "oldest_due_date": _time(r["oldest_due_date"]),
            }
            for r in rows
        ]

    def trigger(self) -> dict[str, Any]:
        """The trigger's days and the cores it restricts."""
        with self.engine.connect() as conn:
            days = rq.trigger_days(conn)
        return {"days": 0 if days is None else days, "restricted_cores": self.restricted()}

    def flags(self, caller: Caller, debtor: str | None, open_: bool | None) -> list[dict[str, Any]]:
        """Overdue flags (``debtor``: one core's; ``open_``: unpaid or cured only):
        financiers and overseers see every one; anyone else the flags of roots it may
        read (domain/visibility.py), since a flag names a root and its due date. Which
        cores are restricted is everyone's to know (``GET /v1/risk/overdue-trigger``)."""
        with self.engine.connect() as conn:
            rows = rq.open_flags(conn, debtor=debtor, open_only=open_ is True)
            if not caller.roles & (OVERSEERS | {Role.FINANCIER}) and rows:
                ids = [r["root_id"] for r in rows]
                seen = set(conn.execute(select(receivables.c.id).where(
                    receivables.c.id.in_(ids), visible_to(caller))).scalars())  # fmt: skip
                rows = [r for r in rows if r["root_id"] in seen]
        return [_flag(r) for r in rows if open_ is not False or not r["open"]]

    def flag_row(self, root_id: int) -> dict[str, Any]:
        """The flag of one root; NotFound before the index holds it."""
        with self.engine.connect() as conn:
            row = q.flag(conn, root_id)
        if row is None:
            raise NotFound(f"root {root_id} is not flagged", error="ReceivableNotFound",
                           id=root_id)  # fmt: skip
        return _flag(row._mapping)

    # --- reads: scores ---------------------------------------------------------------------

    def block_time(self, block: int) -> int | None:
        """The chain's clock at indexed ``block`` (None before the index has a block)."""
        with self.engine.connect() as conn:
            try:
                return rq.block_timestamp(conn, self.runtime.chain_id, block)
            except rq.BlockNotIndexed:
                return None

    def score_of(self, caller: Caller, core: str, block: int) -> dict[str, Any]:
        """``core``'s score at the indexed ``block``'s time (a core: only its own)."""
        if not (caller.is_(core) or caller.roles & (OVERSEERS | {Role.FINANCIER})):
            raise Forbidden(f"a core enterprise sees only its own score, not {core}'s",
                            error="ScoreNotVisible", core=core)  # fmt: skip
        self.require_core(core)
        return self._score(core, block, self.block_time(block))

    def scores(self, caller: Caller, block: int) -> list[dict[str, Any]]:
        """Every core's score, best first (a core that is neither financier nor overseer:
        only its own)."""
        with self.engine.connect() as conn:
            cores = q.core_enterprises(conn)
        if not caller.roles & (OVERSEERS | {Role.FINANCIER}):
            cores = [c for c in cores if caller.is_(c)]
        now = self.block_time(block)
        found = [self._score(core, block, now) for core in cores]
        return sorted(found, key=lambda s: (-s["score"], s["core"].lower()))

    def grade(self, core: str, block: int) -> dict[str, Any]:
        """``{score, grade}`` of ``core`` at ``block``."""
        found = self._score(core, block, self.block_time(block))
        return {"score": found["score"], "grade": found["grade"]}

    def _score(self, core: str, block: int, now: int | None) -> dict[str, Any]:
        at = now or 0
        with self.engine.connect() as conn:
            facts = rq.score_inputs(conn, self.runtime.chain_id, core, at)
        history = [
            risk_score.RootHistory(
                root_id=r["root_id"],
                creditor=r["supplier"],
                amount=r["amount"],
                registered_at=r["issue_date"],
                due_date=r["due_date"],
                repaid_at=r["repaid_at"],
            )
            for r in facts["roots"]
        ]
        result = risk_score.score(risk_score.inputs_at(history, at))
        return {
            "core": to_checksum_address(core),
            "score": result.score,
            "grade": result.grade,
            "rule_version": result.rule_version,
            "as_of_block": block,
            "as_of": _time(now),
            "inputs": result.inputs,
        }

    # --- reads: warnings, exposure, a financing's risk ------------------------------------------

    def warnings(self, caller: Caller, within_days: int, block: int) -> dict[str, Any]:
        """The caller's early warnings at the indexed ``block``'s time."""
        now = self.block_time(block) or 0
        party = None if sees_all(caller) else caller.key
        until = now + within_days * figures.DAY
        with self.engine.connect() as conn:
            due = q.falling_due(conn, until, party)
            lines = q.lines_of(conn, party)
        due_soon = [
            {
                "root_id": row.id if role == "DEBTOR" else None,
                "receivable_id": None if role == "DEBTOR" else row.id,
                "debtor": to_checksum_address(row.debtor),
                "amount": str(row.amount),
                "currency": row.currency,
                "due_date": _time(row.due_date),
                "days_left": figures.days_left(int(row.due_date), now),
                "role": role,
            }
            for role, row in due
        ]
        used, expiring = [], []
        for line in lines:
            limit, utilised = int(line.limit), int(line.utilised)
            bps = figures.utilisation_bps(utilised, limit)
            shown = {"line_id": line.line_id, "financier": to_checksum_address(line.financier),
                     "obligor": to_checksum_address(line.obligor), "currency": line.currency,
                     "limit": str(limit), "utilised": str(utilised)}  # fmt: skip
            reached = figures.band(bps)
            if reached is not None:
                used.append(shown | {"utilisation_bps": bps, "band": reached})
            if now <= int(line.expiry) <= until:
                expiring.append(shown | {"expiry": _time(line.expiry),
                                         "days_left": figures.days_left(int(line.expiry), now)})  # fmt: skip
        return {
            "as_of_block": block,
            "as_of": _time(now),
            "due_soon": due_soon,
            "lines": used,
            "expiring_lines": expiring,
            "restricted_cores": self.restricted(),
        }

    def exposure(self, caller: Caller, by: str, block: int, head: int) -> dict[str, Any]:
        """Lines grouped ``by`` financier, obligor or currency as they stood at ``block``."""
        if block < self.runtime.contracts.record.deployment_block:
            raise Conflict(f"block {block} is before the ledger's deployment",
                           error="BlockBeforeDeployment", field="block", block=block)  # fmt: skip
        viewer = None if sees_all(caller) else caller.key
        if block > head:
            raise Conflict(f"block {block}: the index has not reached it (it holds up to {head})",
                           error="BlockNotIndexed", field="block", block=block,
                           indexed=head)  # fmt: skip
        with self.engine.connect() as conn:
            try:
                found = rq.exposure_at(conn, self.runtime.chain_id, block, by, viewer)  # type: ignore[arg-type]
            except rq.BlockNotIndexed:
                # A quiet block outside the reorg window: its time is the chain's header's.
                stamp = int(self.runtime.client.get_block(block)["timestamp"])
                found = rq.exposure_at(conn, self.runtime.chain_id, block, by, viewer,  # type: ignore[arg-type]
                                       timestamp=stamp)  # fmt: skip
        rows = []
        for row in found["rows"]:
            shown = {k: str(row[k]) for k in ("limit", "utilised", "headroom")}
            if by != "currency":
                shown[by] = to_checksum_address(row[by])
            rows.append(row | shown)
        return {"block": found["block"], "timestamp": _time(found["timestamp"]), "rows": rows}

    def financing_risk(
        self, caller: Caller, debtor: str, currency: str, block: int
    ) -> dict[str, Any]:
        """A financing view's ``risk``: the debtor's score, and the caller's (a financier's)
        open line to the debtor in the currency."""
        line = None
        if Role.FINANCIER in caller.roles:
            with self.engine.connect() as conn:
                row = q.open_line(conn, caller.key, debtor, currency)
            if row is not None:
                limit, utilised = int(row.limit), int(row.utilised)
                bps = figures.utilisation_bps(utilised, limit)
                line = {"line_id": row.line_id, "headroom": str(figures.headroom(limit, utilised)),
                        "utilisation_bps": bps, "band": figures.band(bps)}  # fmt: skip
        return {"debtor": to_checksum_address(debtor), "debtor_score": self.grade(debtor, block),
                "line": line}  # fmt: skip


def _flag(row: Any) -> dict[str, Any]:
    return {
        "root_id": row["root_id"],
        "debtor": to_checksum_address(row["debtor"]),
        "due_date": _time(row["due_date"]),
        "flagged_by": to_checksum_address(row["flagged_by"]),
        "flagged_block": row["flagged_block"],
        "cured_block": row["cured_block"],
        "open": row["cured_block"] is None,
    }


def _amount(value: int | None) -> str | None:
    return None if value is None else str(value)
