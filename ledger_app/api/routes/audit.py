"""Auditors' routes: receivable traces and their verification against the node, queries,
streamed exports, reconciliation of the index and the access log (read only).

The work is in ledger_app/audit, the caller's view of it in
ledger_app/api/services/audit.py; these handlers only read the request. Traces
are for every trader who took part (scoped: ledger_app/audit/scope.py) and in full for
auditors, regulators and the debtor; everything else here is for auditors and
regulators (the operator also reconciles).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ledger_app.api.deps import ActorDep, AuditDep, BlockDep
from ledger_app.api.routes.receivables import Status
from ledger_app.api.schemas import MAX_SAFE_INTEGER, Address, Bytes32, IsoDateTime, PathId
from ledger_app.api.services.audit import period
from ledger_app.audit import queries
from ledger_app.audit.text import render_tree

router = APIRouter(tags=["audit"])

Format = Literal["csv", "ndjson"]
_MEDIA = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
_EXPORT = {200: {"content": {media: {"schema": {"type": "string"}} for media in _MEDIA.values()}}}
Since = Annotated[IsoDateTime | None, Query(alias="from", description="inclusive")]
Until = Annotated[IsoDateTime | None, Query(alias="to", description="exclusive")]


class _Open(BaseModel):
    # Rows the audit queries build (ledger_app/audit): keys beyond those named pass through.
    model_config = ConfigDict(extra="allow")


class TraceAmount(BaseModel):
    """An amount a step moves or names, in integer minor units of ``currency``."""

    role: str = Field(description="what the amount is: face, advance, child 7, payout, ...")
    amount: str = Field(description="integer minor units, as a decimal string")
    currency: str = Field(description="ISO 4217 code (``?`` when the index cannot tell)")


class TraceRawLog(BaseModel):
    """The step's log as the chain has it, re-encoded from the ABI (full views only)."""

    address: str
    topics: list[str]
    data: str


class TraceStep(BaseModel):
    """One event of the tree: what happened, who did it, what moved, and where it is on
    chain (enough to check it against the node: block, tx hash, log index)."""

    seq: int = Field(description="position in the trace, from 1, in chain order")
    receivable_id: int | None = Field(description="the receivable the step belongs to")
    kind: str = Field(
        description="registration, confirmation, rejection, cancellation, split, transfer, "
        "freeze, unfreeze, overdue, default, settled, status_change, settlement, "
        "financing_request, financing_offer, offer_closed, financing_acceptance, "
        "financing_default, recourse, repayment, redemption, credit_line_drawing, "
        "credit_line_release, overdue_flag, overdue_cure, cross_border_settlement, "
        "htlc_lock, htlc_claim, htlc_refund, token_transfer"
    )
    event: str = Field(description="the contract event's name (ReceivableSplit, ...)")
    contract_kind: str = Field(description="ReceivableRegistry, FinancingDesk, ...")
    contract: str = Field(description="the emitting contract's address")
    actors: dict[str, str] = Field(
        description="role in the step (debtor, holder, from, to, financier, ...) -> address; "
        "``masked`` for a participant a scoped viewer may not see"
    )
    amounts: list[TraceAmount]
    details: dict[str, Any] = Field(
        description="the kind's own facts: due_date and invoice_key of a registration, "
        "children of a split, from/to statuses, offer terms, UETR, purpose, ..."
    )
    block_number: int
    block_hash: str
    block_timestamp: int | None = Field(description="unix seconds of the block")
    tx_hash: str
    log_index: int
    args: dict[str, Any] | None = Field(
        default=None, description="the event's decoded arguments (full views only)"
    )
    raw: TraceRawLog | None = Field(default=None, description="full views only")


class TraceReceivable(BaseModel):
    """A receivable of the tree as indexed now (parties masked in a scoped view)."""

    id: int
    parent_id: int
    root_id: int
    tier: int = Field(description="0 for the root, 1 for its parts, ...")
    children: list[int]
    debtor: str
    creditor: str
    holder: str
    amount: str = Field(description="integer minor units, as a decimal string")
    currency: str
    due_date: int = Field(description="unix seconds")
    status: str
    frozen: bool


class TraceScope(BaseModel):
    """Present in a scoped view: whose view it is; other participants are ``masked``."""

    viewer: str
    masked: bool


class Trace(_Open):
    """A receivable's tree from its root: its receivables and every step (see the route)."""

    chain_id: int
    receivable_id: int
    root_id: int
    as_of_block: int | None
    registry: str | None = Field(default=None, description="the ReceivableRegistry")
    contracts: dict[str, str] | None = Field(
        default=None,
        description="every ledger contract (address -> kind, from the deployment record) "
        "and listed settlement token: what the completeness check searches",
    )
    from_block: int | None = Field(
        default=None, description="the ledger's deployment block: where that search starts"
    )
    scope: TraceScope | None = None
    receivables: list[TraceReceivable]
    steps: list[TraceStep]


class Verification(_Open):
    """Per step and per receivable: verified, or mismatch with the reasons."""

    receivable_id: int
    root_id: int
    verified: bool
    checked_at_block: int | None
    steps: list[dict[str, Any]]
    receivables: list[dict[str, Any]]
    completeness: dict[str, Any] = Field(
        description="The trace against the tree rebuilt from the node's logs alone: "
        "complete, and each missing, extra, misattributed, altered or reordered step and "
        "missing subtree named; the contract list's confirmation; the RPC cost (requests, "
        "calls, logs fetched, ms). A scoped caller gets the verdict and the counts only."
    )


class Activity(BaseModel):
    """A participant's events, oldest first; ``next_cursor``: ``after`` of the next page."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class TransactionEvents(BaseModel):
    """Every indexed event of a transaction, in log order."""

    tx_hash: str
    events: list[dict[str, Any]]


class Total(BaseModel):
    """Count and face total of one currency."""

    count: int
    amount: str


class ReceivablesReport(BaseModel):
    """A page of matching receivables, and count and totals over all that match."""

    items: list[dict[str, Any]]
    totals: dict[str, Total]
    count: int


class ExposureEntry(BaseModel):
    """One financier's overdue and defaulted financings in one currency."""

    financier: str
    currency: str
    overdue_count: int
    overdue_amount: str
    defaulted_count: int
    defaulted_amount: str = Field(description="face of defaulted financings less write-offs")
    recourse_claims: str = Field(description="recourse claims less what the suppliers paid")
    written_off_amount: str
    receivables: list[int]


class Exposure(BaseModel):
    """Exposure by financier and currency, as of an indexed block and the chain's clock
    there (what "past due" is measured against)."""

    items: list[ExposureEntry]
    as_of_block: int = Field(description="the indexed block the answer reflects")
    as_of: datetime | None = Field(
        description="that block's timestamp: the chain's time, not the server's "
        "(null before the first block is indexed)"
    )


class Mismatch(BaseModel):
    """One value where the index and the contracts differ."""

    table: str
    key: Any
    column: str
    index: Any
    chain: Any


class Reconciliation(BaseModel):
    """Index against chain at ``block``, and the digest of the index's events up to it."""

    block: int
    indexed_block: int
    mismatches: list[Mismatch]
    digest: str


class AccessEntry(BaseModel):
    """One request: who, from where, what, the answer's status, when, how long. A summary
    row (operation ``rate_limited.unauthenticated`` or ``rate_limited.auth_failures``,
    method and path ``*``) stands for ``requests`` refusals of one client address."""

    id: int
    at: str
    participant: str | None
    api_key_id: str | None
    method: str
    path: str
    operation: str | None
    status: int
    duration_ms: int
    client: str | None = Field(description="the client address (NULL before it was kept)")
    requests: int = Field(description="1, or the refused requests a summary row counts")
    seq: int = Field(description="the row's position in the hash chain (1, 2, ... no gap)")
    prev_hash: str = Field(description="row_hash of the row before (64 zeros for the first)")
    row_hash: str = Field(description="sha256 of the row's canonical encoding (README)")


class AccessLog(BaseModel):
    """Access-log entries, newest first; ``next_before``: ``before`` of the next page."""

    items: list[AccessEntry]
    next_before: int | None


@router.get(
    "/v1/receivables/{receivable_id}/trace",
    operation_id="audit.trace",
    response_model=Trace,
    response_model_exclude_unset=True,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def trace(
    receivable_id: PathId,
    caller: ActorDep,
    audit: AuditDep,
    _block: BlockDep,
    format: Literal["json", "text"] = "json",
) -> Any:
    """The tree from the receivable's root with every step (actors, amounts with currency,
    block number, timestamp and hash, tx hash, log index; raw log for full views).
    Auditors, regulators and the debtor see it all; another party sees its path from the
    root, other participants masked. ``format=text``: the readable tree."""
    view = audit.trace(caller, receivable_id)
    if format == "text":
        return PlainTextResponse(render_tree(view) + "\n")
    return view


@router.post(
    "/v1/receivables/{receivable_id}/trace/verify",
    operation_id="audit.verify",
    response_model=Verification,
)
def verify(receivable_id: PathId, caller: ActorDep, audit: AuditDep, _block: BlockDep) -> Any:
    """Re-fetch every step's receipt and block from the node and each receivable's state
    (``receivable(id)`` at the indexed block); per step and receivable verified/mismatch
    with the reason. A scoped caller gets the verdicts of the steps it may see."""
    return audit.verify(caller, receivable_id)


@router.get(
    "/v1/audit/participants/{address}/events",
    operation_id="audit.participant_events",
    response_model=Activity,
)
def participant_events(
    address: Address,
    _caller: ActorDep,
    audit: AuditDep,
    _block: BlockDep,
    start: Since = None,
    end: Until = None,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,18}:[0-9]{1,9}$",
            description="cursor: next_cursor of the previous page (BLOCK:LOG_INDEX)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Every event naming the participant in the period [from, to), oldest first, paginated."""
    return audit.participant_events(address, period(start, end), after, limit)


@router.get(
    "/v1/audit/transactions/{tx_hash}",
    operation_id="audit.transaction",
    response_model=TransactionEvents,
)
def transaction(tx_hash: Bytes32, _caller: ActorDep, audit: AuditDep, _block: BlockDep) -> Any:
    """Every indexed event of one transaction, in log order."""
    return audit.transaction(tx_hash)


@router.get(
    "/v1/audit/receivables", operation_id="audit.receivables", response_model=ReceivablesReport
)
def receivables_report(
    _caller: ActorDep,
    audit: AuditDep,
    _block: BlockDep,
    status: Status | None = None,
    debtor: Address | None = None,
    due_from: IsoDateTime | None = None,
    due_to: IsoDateTime | None = None,
    leaves_only: bool = False,
    offset: Annotated[int, Query(ge=0, le=MAX_SAFE_INTEGER)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Receivables by status / debtor / due date [due_from, due_to), with count and face
    totals by currency over all that match (``leaves_only``: no split parents twice)."""
    where = queries.ReceivableFilter(
        status=status,
        debtor=debtor,
        due_from=int(due_from.timestamp()) if due_from else None,
        due_to=int(due_to.timestamp()) if due_to else None,
        leaves_only=leaves_only,
    )
    return audit.receivables_report(where, offset, limit)


@router.get("/v1/audit/exposure", operation_id="audit.exposure", response_model=Exposure)
def exposure(_caller: ActorDep, audit: AuditDep, block: BlockDep) -> Any:
    """Overdue (funded, past due, unpaid) and defaulted financings by financier and currency.
    "Past due" is by the chain's clock at the indexed block the answer reflects (its
    timestamp, ``as_of``), not the server's: a chain whose time runs ahead or behind the
    wall clock is judged by its own."""
    return audit.exposure(block)


@router.get(
    "/v1/audit/exports/events",
    operation_id="audit.export_events",
    response_class=StreamingResponse,
    responses=_EXPORT,
)
def events_export(
    _caller: ActorDep,
    audit: AuditDep,
    start: Since = None,
    end: Until = None,
    format: Format = "ndjson",
) -> StreamingResponse:
    """Every event of [from, to) by block time, streamed as CSV or NDJSON."""
    chunks = audit.export_events(period(start, end), format)
    return StreamingResponse(chunks, media_type=_MEDIA[format])


@router.get(
    "/v1/audit/exports/traces",
    operation_id="audit.export_traces",
    response_class=StreamingResponse,
    responses=_EXPORT,
)
def traces_export(
    _caller: ActorDep,
    audit: AuditDep,
    start: Since = None,
    end: Until = None,
    format: Format = "ndjson",
) -> StreamingResponse:
    """The trace of every root registered in [from, to), streamed: NDJSON one full trace
    (with raw logs, for scripts/verify_trace.py) per line, or CSV one step per row."""
    chunks = audit.export_traces(period(start, end), format)
    return StreamingResponse(chunks, media_type=_MEDIA[format])


@router.get("/v1/reconcile", operation_id="audit.reconcile", response_model=Reconciliation)
def reconcile_index(
    _caller: ActorDep,
    audit: AuditDep,
    indexed: BlockDep,
    block: Annotated[int | None, Query(ge=0, le=MAX_SAFE_INTEGER)] = None,
) -> Any:
    """Every difference between the read models and the contracts' views at ``block``
    (default: the indexed block, the only one where the answer is exact), and the
    digest of the index's events up to it. 409 for a block before every followed contract
    (the ledger's, the listed tokens) existed or one the index has not reached."""
    return audit.reconcile(block, indexed)


@router.get("/v1/access-log", operation_id="audit.access_log", response_model=AccessLog)
def access_log_entries(
    _caller: ActorDep,
    audit: AuditDep,
    request: Request,
    response: Response,
    participant: Address | None = None,
    operation: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    path_prefix: Annotated[
        str | None,
        Query(max_length=512, description="paths beginning with this text, % and _ included"),
    ] = None,
    client: Annotated[str | None, Query(max_length=64, description="client address")] = None,
    start: Since = None,
    end: Until = None,
    before: Annotated[
        int | None,
        Query(ge=0, le=MAX_SAFE_INTEGER, description="cursor: entries with a smaller id"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """The append-only access log, newest first, filtered. No route writes or deletes it.

    Rows are written every ``LEDGER_ACCESS_LOG_FLUSH_INTERVAL`` seconds; this process's
    pending ones are written first, so the answer includes every request it has answered
    (another replica's may lag by that interval)."""
    request.app.state.access_log.flush()
    return audit.access_log(
        participant=participant,
        operation=operation,
        status=status,
        path_prefix=path_prefix,
        client=client,
        start=start,
        end=end,
        before=before,
        limit=limit,
    )


class DeletedRows(BaseModel):
    """Positions missing from the chain: ``missing`` rows after position ``after``."""

    after: int
    missing: int


class ReorderedRow(BaseModel):
    """A row at ``position`` that was written at ``written_at``."""

    position: int
    written_at: int


class AnchorMismatch(BaseModel):
    """An anchor on the ledger the log no longer fits: the head anchored after ``count``
    rows, the hash the rows give there now (``found``; null: no row there), and why."""

    count: int
    head: str
    found: str | None
    block_number: int | None
    transaction_hash: str | None
    reason: str


class NotYetAnchored(BaseModel):
    """Rows after the last anchor: ``count`` of them from position ``first_seq``. Until an
    anchor covers them they could be altered, chain and all, without a trace."""

    count: int
    first_seq: int


class AccessLogVerification(BaseModel):
    """The access log's hash chain re-derived from its rows and checked against the
    anchors read from the ledger. ``ok``: nothing was edited, deleted, inserted or moved
    before the last anchor, and the chain fits every anchor. Each finding gives the
    row's position (``seq``)."""

    ok: bool
    encoding: str = Field(description="the canonical encoding's version")
    rows: int
    edited: list[int]
    deleted: list[DeletedRows]
    inserted: list[int]
    reordered: list[ReorderedRow]
    broken_links: list[int]
    anchors_checked: int
    anchor_mismatches: list[AnchorMismatch]
    last_anchored: int = Field(description="rows covered by the last anchor (0: none)")
    not_yet_anchored: NotYetAnchored | None
    truncated: dict[str, int] = Field(description="findings of a kind past the first 100")
    anchor_contract: str


@router.get(
    "/v1/audit/access-log/verify",
    operation_id="audit.access_log_verify",
    response_model=AccessLogVerification,
)
def verify_access_log(_caller: ActorDep, audit: AuditDep, request: Request) -> Any:
    """Re-derive the access log's hash chain and check it against its anchors on the
    ledger (as ``ledger-app verify-access-log`` does). This process's pending rows are
    written first. 200 whatever is found: ``ok`` says whether the log is intact."""
    request.app.state.access_log.flush()
    return audit.verify_access_log()
