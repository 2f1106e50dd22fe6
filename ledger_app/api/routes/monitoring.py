"""/v1/monitoring: the compliance rules' configuration, alerts, cases, the SAR of a case,
the periodic summary and the sanctions list (README "Monitoring").

Regulators and auditors read everything and work cases; only a regulator changes a rule;
the operator loads the sanctions list. The work is ledger_app/api/services/monitoring.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_app.api.deps import ActorDep, MonitoringDep
from ledger_app.api.schemas import MAX_SAFE_INTEGER, IsoDateTime
from ledger_app.audit.monitoring_reports import sar_xml, summary_csv
from ledger_app.domain.monitoring import DEFAULTS, SEVERITIES
from ledger_app.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])

RuleName = Literal[tuple(DEFAULTS)]  # type: ignore[valid-type]
Severity = Literal[tuple(SEVERITIES)]  # type: ignore[valid-type]
ObjectId = Annotated[int, Path(ge=1, le=MAX_SAFE_INTEGER)]
MAX_SANCTIONS_BYTES = 5 * 1024 * 1024


class CaseIn(BaseModel):
    """Alerts to open a case from (each must be OPEN)."""

    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"alert_ids": [3, 4]}]})  # fmt: skip
    alert_ids: list[Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]] = Field(
        min_length=1, max_length=500
    )
    title: str | None = Field(default=None, min_length=1, max_length=200)


class NoteIn(BaseModel):
    """A note on an open case."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=10_000)


class CloseIn(BaseModel):
    """How the case ends: dismissed, or reported to the FIU."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["dismissed", "reported"]
    reason: str = Field(min_length=1, max_length=10_000)


@router.get("/rules", operation_id="monitoring.rules")
def list_rules(caller: ActorDep, service: MonitoringDep) -> dict[str, Any]:
    """Every rule's configuration in force (switch, severity, thresholds, windows)."""
    return service.rules()


@router.patch("/rules/{rule}", operation_id="monitoring.change_rule")
def change_rule(
    rule: Annotated[str, Path(max_length=64)], body: dict[str, Any], caller: ActorDep,
    service: MonitoringDep,
) -> dict[str, Any]:  # fmt: skip
    """Change a rule's parameters (regulator only); logged with who, when, old and new."""
    return service.change_rule(caller, rule, body)


@router.get("/rule-changes", operation_id="monitoring.rule_changes")
def rule_changes(
    caller: ActorDep, service: MonitoringDep, rule: RuleName | None = None
) -> list[dict[str, Any]]:
    """The append-only log of rule changes, oldest first."""
    return service.rule_changes(rule)


@router.get("/alerts", operation_id="monitoring.alerts")
def list_alerts(
    caller: ActorDep,
    service: MonitoringDep,
    rule: RuleName | None = None,
    severity: Severity | None = None,
    status: Literal["OPEN", "IN_CASE", "DISMISSED", "REPORTED"] | None = None,
    since: Annotated[IsoDateTime | None, Query(alias="from", description="inclusive")] = None,
    until: Annotated[IsoDateTime | None, Query(alias="to", description="exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_SAFE_INTEGER)] = 0,
) -> dict[str, Any]:
    """Alerts, newest first, filtered by rule, severity, status and chain time."""
    return service.alerts(rule=rule, severity=severity, status=status, since=_ts(since),
                          until=_ts(until), limit=limit, offset=offset)  # fmt: skip


def _ts(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


@router.get("/alerts/{alert_id}", operation_id="monitoring.alert")
def show_alert(alert_id: ObjectId, caller: ActorDep, service: MonitoringDep) -> dict[str, Any]:
    """One alert: its rule, severity, subjects and the on-chain proofs of its rows."""
    return service.alert(alert_id)


@router.post("/cases", operation_id="monitoring.open_case", status_code=201)
def open_case(body: CaseIn, caller: ActorDep, service: MonitoringDep) -> dict[str, Any]:
    """Open a case from open alerts."""
    return service.open_case(caller, body.alert_ids, body.title)


@router.get("/cases", operation_id="monitoring.cases")
def list_cases(
    caller: ActorDep, service: MonitoringDep,
    status: Literal["OPEN", "DISMISSED", "REPORTED"] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Cases, newest first."""
    return service.cases(status)


@router.get("/cases/{case_id}", operation_id="monitoring.case")
def show_case(case_id: ObjectId, caller: ActorDep, service: MonitoringDep) -> dict[str, Any]:
    """A case with its alerts and its history (who did what, when)."""
    return service.case(case_id)


@router.post("/cases/{case_id}/notes", operation_id="monitoring.annotate_case", status_code=201)
def annotate_case(
    case_id: ObjectId, body: NoteIn, caller: ActorDep, service: MonitoringDep
) -> dict[str, Any]:
    """Add a note to an open case (a closed one: 409 CaseClosed)."""
    return service.note(caller, case_id, body.text)


@router.post("/cases/{case_id}/close", operation_id="monitoring.close_case")
def close_case(
    case_id: ObjectId, body: CloseIn, caller: ActorDep, service: MonitoringDep
) -> dict[str, Any]:
    """Close an open case as dismissed or reported."""
    return service.close(caller, case_id, body.outcome, body.reason)


@router.get(
    "/cases/{case_id}/report",
    operation_id="monitoring.report",
    responses={200: {"content": {"application/json": {}, "application/xml": {}}}},
)
def case_report(
    case_id: ObjectId, caller: ActorDep, service: MonitoringDep,
    format: Literal["json", "xml"] = "json",
) -> Any:  # fmt: skip
    """The case's suspicious-activity report, goAML-like (README "Monitoring")."""
    report = service.report(caller, case_id)
    if format == "xml":
        return Response(sar_xml(report), media_type="application/xml")
    return report


@router.get(
    "/summary",
    operation_id="monitoring.summary",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def summary(
    caller: ActorDep, service: MonitoringDep,
    period: Annotated[str, Query(max_length=7, examples=["2026-11"])],
    format: Literal["json", "csv"] = "json",
) -> Any:  # fmt: skip
    """Volumes, exposures, overdue and alerts by rule for a month (``period=YYYY-MM``)."""
    report = service.summary(period)
    if format == "csv":
        return PlainTextResponse(summary_csv(report), media_type="text/csv")
    return report


@router.put(
    "/sanctions",
    operation_id="monitoring.load_sanctions",
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}},
                                               "application/json": {"schema": {}}}}},
)  # fmt: skip
async def load_sanctions(
    request: Request, caller: ActorDep, service: MonitoringDep
) -> dict[str, Any]:
    """Replace the sanctions list (operator): a CSV (``text/csv``) or JSON body; every
    participant is screened again."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind not in ("text/csv", "application/json"):
        raise UnsupportedMediaType("the sanctions list is text/csv or application/json",
                                   content_type=kind)  # fmt: skip
    body = await request.body()
    if len(body) > MAX_SANCTIONS_BYTES:
        raise PayloadTooLarge("the sanctions list is at most 5 MiB", limit=MAX_SANCTIONS_BYTES)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the sanctions list is UTF-8 text") from exc
    return await anyio.to_thread.run_sync(
        service.load_sanctions, text, "csv" if kind == "text/csv" else "json", "api"
    )


@router.get("/sanctions", operation_id="monitoring.sanctions")
def list_sanctions(caller: ActorDep, service: MonitoringDep) -> list[dict[str, Any]]:
    """The sanctions list as last loaded."""
    return service.sanctions()
