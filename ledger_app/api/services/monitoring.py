"""Monitoring for regulators and auditors (issue 23): the rules' configuration and its
log, alerts, cases opened from alerts (notes, closing as dismissed or reported: an
append-only history), the SAR of a case and the periodic summary, and the sanctions list.

Alerts are raised by the rule runner of the indexer (ledger_app/indexer/monitoring.py)
and by screening (at onboarding, ``screen_onboarded``, and on every list load); both go
through ``db/monitoring.raise_alerts``. Every refusal names what is wrong: an unknown rule
or object 404, a bad value 422, a closed case or an alert already in an open case 409.
"""

from __future__ import annotations

import json
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import Connection, func, insert, select, update

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.audit import monitoring_reports as reports
from ledger_app.db import monitoring as store
from ledger_app.domain import monitoring as rules
from ledger_app.domain.monitoring import Profile
from ledger_app.errors import Conflict, InvalidInput, NotFound

ALERT_STATUSES = ("OPEN", "IN_CASE", "DISMISSED", "REPORTED")
CASE_STATUSES = ("OPEN", "DISMISSED", "REPORTED")
MAX_PAGE = 500


def _who(address: str) -> str:
    return address.lower()


class MonitoringService:
    """The monitoring reads and writes of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine

    # --- rules ------------------------------------------------------------------------

    def rules(self) -> dict[str, dict[str, Any]]:
        """Every rule's configuration in force."""
        with self.engine.connect() as conn:
            return store.rule_configs(conn)

    def change_rule(self, caller: Caller, rule: str, change: dict[str, Any]) -> dict[str, Any]:
        """Apply ``change`` to ``rule``; logged with who, when, old and new."""
        with self.engine.begin() as conn:
            configs = store.rule_configs(conn)
            if rule not in configs:
                raise NotFound(f"no rule {rule!r}", error="RuleNotFound", rule=rule,
                               rules=sorted(configs))  # fmt: skip
            try:
                new = rules.apply_change(rule, configs[rule], change)
            except ValueError as exc:
                raise InvalidInput(str(exc), error="InvalidRuleConfig", rule=rule) from exc
            store.change_rule(conn, rule, configs[rule], new, _who(caller.address))
        return new

    def rule_changes(self, rule: str | None) -> list[dict[str, Any]]:
        """The log of configuration changes (of one rule), oldest first."""
        if rule is not None and rule not in rules.DEFAULTS:
            raise NotFound(f"no rule {rule!r}", error="RuleNotFound", rule=rule)
        t = store.monitoring_rule_changes
        query = select(t).order_by(t.c.id)
        if rule is not None:
            query = query.where(t.c.rule == rule)
        with self.engine.connect() as conn:
            return [
                {"id": r.id, "rule": r.rule, "old": json.loads(r.old), "new": json.loads(r.new),
                 "changed_by": to_checksum_address(r.changed_by), "changed_at": store.utc(r.changed_at)}
                for r in conn.execute(query)
            ]  # fmt: skip

    # --- alerts -----------------------------------------------------------------------

    def alerts(
        self, *, rule: str | None, severity: str | None, status: str | None,
        since: int | None, until: int | None, limit: int, offset: int,
    ) -> dict[str, Any]:  # fmt: skip
        """A page of alerts, newest first, and how many match."""
        if rule is not None and rule not in rules.DEFAULTS:
            raise InvalidInput(f"no rule {rule!r}", error="UnknownRule", field="rule",
                               rules=sorted(rules.DEFAULTS))  # fmt: skip
        t = store.monitoring_alerts
        where = []
        if rule is not None:
            where.append(t.c.rule == rule)
        if severity is not None:
            where.append(t.c.severity == severity)
        if status is not None:
            where.append(t.c.status == status)
        if since is not None:
            where.append(t.c.chain_time >= since)
        if until is not None:
            where.append(t.c.chain_time < until)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar()
            rows = conn.execute(
                select(t).where(*where).order_by(t.c.id.desc()).limit(limit).offset(offset)
            )
            return {"total": total, "limit": limit, "offset": offset,
                    "alerts": [store.alert_dict(r) for r in rows]}  # fmt: skip

    def alert(self, alert_id: int) -> dict[str, Any]:
        """One alert with its on-chain proofs and the cases it is in."""
        with self.engine.connect() as conn:
            return self._alert(conn, alert_id)

    def _alert(self, conn: Connection, alert_id: int) -> dict[str, Any]:
        row = conn.execute(
            select(store.monitoring_alerts).where(store.monitoring_alerts.c.id == alert_id)
        ).first()
        if row is None:
            raise NotFound(f"no alert {alert_id}", error="AlertNotFound", alert_id=alert_id)
        alert = store.alert_dict(row)
        alert["cases"] = list(conn.execute(select(store.monitoring_case_alerts.c.case_id).where(
            store.monitoring_case_alerts.c.alert_id == alert_id)).scalars())  # fmt: skip
        return alert

    # --- cases ------------------------------------------------------------------------

    def open_case(self, caller: Caller, alert_ids: list[int], title: str | None) -> dict[str, Any]:
        """A case of ``alert_ids`` (each OPEN: an alert in an open case is in that case)."""
        who = _who(caller.address)
        with self.engine.begin() as conn:
            t = store.monitoring_alerts
            found = {r.id: r for r in conn.execute(select(t).where(t.c.id.in_(alert_ids)))}
            missing = sorted(set(alert_ids) - found.keys())
            if missing:
                raise InvalidInput(f"no alert {', '.join(map(str, missing))}",
                                   error="UnknownAlerts", field="alert_ids", missing=missing)  # fmt: skip
            taken = sorted(i for i, r in found.items() if r.status != "OPEN")
            if taken:
                raise Conflict(
                    f"alert {', '.join(map(str, taken))} is no longer open (in a case or closed)",
                    error="AlertNotOpen", alert_ids=taken,
                )  # fmt: skip
            rules_of = sorted({r.rule for r in found.values()})
            at = store.now()
            case_id = conn.execute(insert(store.monitoring_cases).values(
                status="OPEN", title=(title or f"alerts of {', '.join(rules_of)}")[:200],
                opened_by=who, opened_at=at)).inserted_primary_key[0]  # fmt: skip
            for alert_id in sorted(found):
                conn.execute(insert(store.monitoring_case_alerts).values(case_id=case_id,
                                                                         alert_id=alert_id))  # fmt: skip
            conn.execute(update(t).where(t.c.id.in_(list(found))).values(status="IN_CASE"))
            self._log(conn, case_id, "OPENED", who, f"alerts {', '.join(map(str, sorted(found)))}")
            return self._case(conn, case_id)

    def note(self, caller: Caller, case_id: int, text: str) -> dict[str, Any]:
        """Append a note to an open case."""
        with self.engine.begin() as conn:
            self._open_case(conn, case_id, "annotated")
            self._log(conn, case_id, "NOTE", _who(caller.address), text)
            return self._case(conn, case_id)

    def close(self, caller: Caller, case_id: int, outcome: str, reason: str) -> dict[str, Any]:
        """Close an open case as DISMISSED or REPORTED; its alerts take the outcome."""
        status = outcome.upper()
        who = _who(caller.address)
        with self.engine.begin() as conn:
            self._open_case(conn, case_id, "closed")
            conn.execute(update(store.monitoring_cases).where(store.monitoring_cases.c.id == case_id)
                         .values(status=status, closed_by=who, closed_at=store.now(), reason=reason))  # fmt: skip
            ids = select(store.monitoring_case_alerts.c.alert_id).where(
                store.monitoring_case_alerts.c.case_id == case_id)  # fmt: skip
            conn.execute(update(store.monitoring_alerts)
                         .where(store.monitoring_alerts.c.id.in_(ids)).values(status=status))  # fmt: skip
            self._log(conn, case_id, status, who, reason)
            return self._case(conn, case_id)

    def cases(self, status: str | None) -> list[dict[str, Any]]:
        """Every case (of ``status``), newest first, without history."""
        t = store.monitoring_cases
        query = select(t).order_by(t.c.id.desc())
        if status is not None:
            query = query.where(t.c.status == status)
        with self.engine.connect() as conn:
            return [self._case_row(conn, r, full=False) for r in conn.execute(query)]

    def case(self, case_id: int) -> dict[str, Any]:
        """One case with its alerts and its history."""
        with self.engine.connect() as conn:
            return self._case(conn, case_id)

    def report(self, caller: Caller, case_id: int) -> dict[str, Any]:
        """The case's suspicious-activity report (JSON form; ``reports.sar_xml`` renders it)."""
        settings = self.runtime.settings
        with self.engine.connect() as conn:
            case = self._case(conn, case_id)
            return reports.sar(conn, case, entity=settings.reporting_entity,
                               entity_id=settings.reporting_entity_id,
                               chain_id=self.runtime.chain_id, reporter=caller.address)  # fmt: skip

    def summary(self, period: str) -> dict[str, Any]:
        """The regulatory summary of a month."""
        try:
            reports.parse_period(period)
        except ValueError as exc:
            raise InvalidInput(str(exc), error="InvalidPeriod", field="period") from exc
        with self.engine.connect() as conn:
            return reports.summary(conn, period, self.runtime.chain_id)

    def _open_case(self, conn: Connection, case_id: int, verb: str) -> None:
        t = store.monitoring_cases
        row = conn.execute(select(t.c.status).where(t.c.id == case_id)).first()
        if row is None:
            raise NotFound(f"no case {case_id}", error="CaseNotFound", case_id=case_id)
        if row.status != "OPEN":
            raise Conflict(f"case {case_id} is {row.status} and can no longer be {verb}",
                           error="CaseClosed", case_id=case_id, status=row.status)  # fmt: skip

    def _log(self, conn: Connection, case_id: int, action: str, who: str, text: str | None) -> None:
        conn.execute(insert(store.monitoring_case_events).values(
            case_id=case_id, action=action, actor=who, text=text, at=store.now()))  # fmt: skip

    def _case(self, conn: Connection, case_id: int) -> dict[str, Any]:
        t = store.monitoring_cases
        row = conn.execute(select(t).where(t.c.id == case_id)).first()
        if row is None:
            raise NotFound(f"no case {case_id}", error="CaseNotFound", case_id=case_id)
        return self._case_row(conn, row, full=True)

    def _case_row(self, conn: Connection, row: Any, *, full: bool) -> dict[str, Any]:
        ids = list(conn.execute(select(store.monitoring_case_alerts.c.alert_id).where(
            store.monitoring_case_alerts.c.case_id == row.id)
            .order_by(store.monitoring_case_alerts.c.alert_id)).scalars())  # fmt: skip
        case = {
            "id": row.id, "status": row.status, "title": row.title,
            "opened_by": to_checksum_address(row.opened_by), "opened_at": store.utc(row.opened_at),
            "closed_by": to_checksum_address(row.closed_by) if row.closed_by else None,
            "closed_at": store.utc(row.closed_at), "reason": row.reason, "alert_ids": ids,
        }  # fmt: skip
        if full:
            case["alerts"] = [self._alert(conn, i) for i in ids]
            e = store.monitoring_case_events
            case["history"] = [
                {"id": h.id, "action": h.action, "actor": to_checksum_address(h.actor),
                 "text": h.text, "at": store.utc(h.at)}
                for h in conn.execute(select(e).where(e.c.case_id == row.id).order_by(e.c.id))
            ]  # fmt: skip
        return case

    # --- sanctions --------------------------------------------------------------------

    def load_sanctions(self, text: str, kind: str, source: str) -> dict[str, Any]:
        """Replace the list with the file's entries and screen every participant again."""
        try:
            entries = rules.parse_sanctions(text, kind)
        except ValueError as exc:
            raise InvalidInput(str(exc), error="InvalidSanctionsList") from exc
        with self.engine.begin() as conn:
            loaded = store.replace_sanctions(conn, entries, source)
            alerts = store.screen_participants(conn)
        return {"entries": loaded, "new_alerts": alerts}

    def sanctions(self) -> list[dict[str, Any]]:
        """The list as loaded."""
        with self.engine.connect() as conn:
            return [{"id": e.entry_id, "name": e.name, "lei": e.lei, "aliases": list(e.aliases)}
                    for e in store.sanctions(conn)]  # fmt: skip


def record_and_screen(
    engine: Any, account: str, lei: str, legal_name: str | None, address: str | None, by: str
) -> list[int]:
    """At onboarding: keep the participant's legal name and registered address, and screen
    it against the sanctions list (an alert per match)."""
    with engine.begin() as conn:
        if legal_name is not None or address is not None:
            store.record_profile(conn, account, legal_name, address, by)
        profile = Profile(account.lower(), lei, legal_name, address)
        return store.screen_profile(conn, profile)
