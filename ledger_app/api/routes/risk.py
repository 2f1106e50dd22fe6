"""/v1/risk: issuance caps, cap managers, the overdue trigger and its flags, early warnings,
risk scores and exposure (docs/risk.md).

The writes are RiskControl's (the contract decides who may set a cap, whether a root is
past the trigger); the reads are the index's, figures computed by ledger_app/domain's
rules at a block's timestamp (the chain's clock, never the server's).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from ledger_app.api.deps import ActorDep, BlockDep, RiskDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import (
    MAX_SAFE_INTEGER,
    MAX_UINT128,
    Address,
    WriteResponse,
    money_schema,
)
from ledger_app.api.services.writes import WriteOutcome

router = APIRouter(prefix="/v1/risk", tags=["risk"])

CurrencyPath = Annotated[str, Path(pattern=r"^[A-Z]{3}$", examples=["CNY"])]
MAX_TRIGGER_DAYS = 3650


def _cap(value: Any) -> int:
    # Like Amount, but a cap of 0 is a cap (it stops every registration).
    if isinstance(value, bool | float):
        raise ValueError("a cap is an integer of minor units (no floats)")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 40:
            raise ValueError("a cap is a string of decimal digits")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_UINT128:
        raise ValueError("a cap is an integer of minor units in 0..2**128-1")
    return value


Cap = Annotated[
    int,
    BeforeValidator(_cap),
    PlainSerializer(str, return_type=str),
    money_schema(r"^[0-9]{1,40}$", minimum=0, example="500000000"),
]


class CapIn(BaseModel):
    """A cap on what the core may owe in the currency (integer minor units; 0 stops all)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"cap": "500000000"}]}
    )
    cap: Cap


class ManagerIn(BaseModel):
    """The bank (an active financier) that may set the core's caps; null: none."""

    model_config = ConfigDict(extra="forbid")
    manager: Address | None


class TriggerIn(BaseModel):
    """Days past its due date after which an unpaid root may be flagged."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"days": 30}]})
    days: int = Field(ge=0, le=MAX_TRIGGER_DAYS, strict=True)


class FlagIn(BaseModel):
    """A root to flag as overdue past the trigger."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"root_id": 1}]})
    root_id: int = Field(ge=1, le=MAX_SAFE_INTEGER, strict=True)


class IssuanceCap(BaseModel):
    """What a core owes in one currency and its cap (null: uncapped)."""

    core: str
    currency: str
    cap: str | None
    outstanding: str
    headroom: str | None
    utilisation_bps: int | None
    manager: str | None


class CapManager(BaseModel):
    """The bank that may set a core's caps besides the operator (null: none)."""

    core: str
    manager: str | None


class RestrictedCore(BaseModel):
    """A core with roots flagged past the trigger and unpaid: it can register nothing and
    have nothing of its newly financed."""

    core: str
    overdue_roots: int
    oldest_due_date: datetime


class Trigger(BaseModel):
    """The overdue trigger and the cores it restricts now."""

    days: int
    restricted_cores: list[RestrictedCore]


class OverdueFlag(BaseModel):
    """A root flagged past the trigger; open while ``cured_block`` is null."""

    root_id: int
    debtor: str
    due_date: datetime
    flagged_by: str
    flagged_block: int
    cured_block: int | None
    open: bool


class DueSoon(BaseModel):
    """A root (owed by the caller) or a receivable (held by the caller) falling due."""

    root_id: int | None = None
    receivable_id: int | None = None
    debtor: str
    amount: str
    currency: str
    due_date: datetime
    days_left: int
    role: str


class LineWarning(BaseModel):
    """A line used past a band (80, 90 or 100 % of its limit)."""

    line_id: int
    financier: str
    obligor: str
    currency: str
    limit: str
    utilised: str
    utilisation_bps: int
    band: int


class ExpiringLine(BaseModel):
    """An open line expiring within the window."""

    line_id: int
    financier: str
    obligor: str
    currency: str
    limit: str
    utilised: str
    expiry: datetime
    days_left: int


class Warnings(BaseModel):
    """Early warnings for the caller, as of an indexed block's time."""

    as_of_block: int
    as_of: datetime | None
    due_soon: list[DueSoon]
    lines: list[LineWarning]
    expiring_lines: list[ExpiringLine]
    restricted_cores: list[RestrictedCore]


class ScoreInput(BaseModel):
    """One input of the score: its value and the points it gave (null: shown only)."""

    value: int | None
    points: int | None


class RiskScore(BaseModel):
    """A core's score by the documented rule (docs/risk.md), with its inputs."""

    core: str
    score: int
    grade: str
    rule_version: str
    as_of_block: int
    as_of: datetime | None
    inputs: dict[str, ScoreInput]


class ExposureRow(BaseModel):
    """Lines grouped by the key asked for, in one currency, as they stood at the block."""

    financier: str | None = None
    obligor: str | None = None
    currency: str
    limit: str
    utilised: str
    headroom: str
    utilisation_bps: int
    lines: int


class Exposure(BaseModel):
    """Exposure at a block: limits as they stood, expiry judged at the block's timestamp."""

    block: int
    timestamp: datetime
    rows: list[ExposureRow]


# --- issuance caps --------------------------------------------------------------------


@router.get("/issuance-caps", operation_id="risk.issuance_caps", response_model=list[IssuanceCap])
def issuance_caps(
    caller: ActorDep, service: RiskDep, block: BlockDep, core: Address | None = None
) -> Any:
    """What each core owes per currency, its cap, headroom and utilisation (null while
    uncapped), and its cap manager; ``core`` for one. Financiers and overseers see every
    core's; a core enterprise only its own (403 ``PayablesNotVisible`` for another's)."""
    return service.caps_for(caller, core)


@router.put(
    "/issuance-caps/{core}/{currency}",
    operation_id="risk.set_issuance_cap",
    response_model=WriteResponse[list[IssuanceCap]],
)
def set_issuance_cap(
    core: Address,
    currency: CurrencyPath,
    body: CapIn,
    caller: ActorDep,
    service: RiskDep,
    response: Response,
) -> Any:
    """Cap what ``core`` may owe in ``currency``: registrations past it are refused by the
    registry (``RiskIssuanceCapExceeded``, 409). The operator, or the bank the operator
    named the core's cap manager."""
    outcome = service.set_cap(caller, core, currency, body.cap)
    return write_response(outcome, response, lambda _o: service.caps(core))


@router.delete(
    "/issuance-caps/{core}/{currency}",
    operation_id="risk.remove_issuance_cap",
    response_model=WriteResponse[list[IssuanceCap]],
)
def remove_issuance_cap(
    core: Address, currency: CurrencyPath, caller: ActorDep, service: RiskDep, response: Response
) -> Any:
    """Lift ``core``'s cap in ``currency`` (``RiskCapNotSet``, 409, when there is none)."""
    outcome = service.remove_cap(caller, core, currency)
    return write_response(outcome, response, lambda _o: service.caps(core))


@router.put(
    "/cap-managers/{core}",
    operation_id="risk.set_cap_manager",
    response_model=WriteResponse[CapManager],
)
def set_cap_manager(
    core: Address, body: ManagerIn, caller: ActorDep, service: RiskDep, response: Response
) -> Any:
    """Name the bank (an active financier) that may set ``core``'s caps besides the
    operator; ``null`` names none. Operator only."""
    outcome = service.set_cap_manager(caller, core, body.manager)
    return write_response(outcome, response, lambda _o: service.cap_manager(core))


# --- the overdue trigger ---------------------------------------------------------------


@router.get("/overdue-trigger", operation_id="risk.overdue_trigger", response_model=Trigger)
def overdue_trigger(caller: ActorDep, service: RiskDep, block: BlockDep) -> Any:
    """Days past due after which an unpaid root may be flagged, and the cores restricted now."""
    return service.trigger()


@router.put(
    "/overdue-trigger",
    operation_id="risk.set_overdue_trigger",
    response_model=WriteResponse[Trigger],
)
def set_overdue_trigger(
    body: TriggerIn, caller: ActorDep, service: RiskDep, response: Response
) -> Any:
    """Set the trigger (0..3650 days). Roots flagged before stay flagged until paid.
    Operator only."""
    outcome = service.set_trigger(caller, body.days)
    return write_response(outcome, response, lambda _o: service.trigger())


@router.post(
    "/overdue-flags",
    operation_id="risk.flag_overdue",
    response_model=WriteResponse[OverdueFlag],
    status_code=201,
)
def flag_overdue(body: FlagIn, caller: ActorDep, service: RiskDep, response: Response) -> Any:
    """Flag a root unpaid more than the trigger's days past its due date: its debtor is
    restricted until the root is paid into clearing. Any active participant; the contract
    accepts it only when it is true (``RiskRootNotPastTrigger``, ``RiskRootNotOpen``,
    ``RiskRootAlreadyFlagged``: 409). The keeper does this by itself."""
    outcome = service.flag(caller, body.root_id)

    def render(_o: WriteOutcome) -> Any:
        return service.flag_row(body.root_id)

    return write_response(outcome, response, render, created=True)


@router.get("/overdue-flags", operation_id="risk.overdue_flags", response_model=list[OverdueFlag])
def overdue_flags(
    caller: ActorDep,
    service: RiskDep,
    block: BlockDep,
    debtor: Address | None = None,
    open: bool | None = Query(default=None, description="true: unpaid only; false: cured only"),
) -> Any:
    """Roots flagged past the trigger, oldest first; ``debtor`` for one core's. Financiers
    and overseers see every flag; anyone else the flags of roots it is a party to."""
    return service.flags(caller, debtor, open)


# --- warnings, scores, exposure -----------------------------------------------------------


@router.get("/warnings", operation_id="risk.warnings", response_model=Warnings)
def warnings(
    caller: ActorDep,
    service: RiskDep,
    block: BlockDep,
    within_days: Annotated[int, Query(ge=1, le=3650)] = 30,
) -> Any:
    """The caller's worklist at the indexed block's time: roots it owes and receivables it
    holds falling due within ``within_days`` (past due: negative days), its lines (as
    financier or obligor) used past 80/90/100 %, lines expiring within the window, and
    the cores past the overdue trigger. Auditors, regulators and the operator see all."""
    return service.warnings(caller, within_days, block)


@router.get("/scores", operation_id="risk.scores", response_model=list[RiskScore])
def scores(caller: ActorDep, service: RiskDep, block: BlockDep) -> Any:
    """Every core enterprise's score (a core: its own), best first."""
    return service.scores(caller, block)


@router.get("/scores/{core}", operation_id="risk.score", response_model=RiskScore)
def score(core: Address, caller: ActorDep, service: RiskDep, block: BlockDep) -> Any:
    """A core's score by the documented rule (docs/risk.md), its inputs and the points
    each gave, at the indexed block's time. A core sees only its own."""
    return service.score_of(caller, core, block)


@router.get("/exposure", operation_id="risk.exposure", response_model=Exposure)
def exposure(
    caller: ActorDep,
    service: RiskDep,
    head: BlockDep,
    by: Literal["financier", "obligor", "currency"] = "financier",
    block: Annotated[int | None, Query(ge=0, le=MAX_SAFE_INTEGER)] = None,
) -> Any:
    """Limits, utilisation and headroom of the credit lines grouped ``by`` financier,
    obligor or currency, as they stood at ``block`` (default: the indexed head), expiry
    judged at that block's timestamp. A financier sees its own lines, an obligor the
    lines to it; auditors, regulators and the operator all."""
    return service.exposure(caller, by, head if block is None else block, head)
