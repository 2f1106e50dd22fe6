"""Auditors' routes: receivable traces and their verification against the node, queries,
streamed exports, reconciliation of the index and the access log (read only).

The work is in ledger_app/audit; these handlers only pick the caller's view. Traces
are for every trader who took part (scoped: ledger_app/audit/scope.py) and in full for
auditors, regulators and the debtor; everything else here is for auditors and
regulators (the operator also reconciles).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ledger_app.api.access import access_log_query
from ledger_app.api.deps import ActorDep, BlockDep, RuntimeDep
from ledger_app.api.identity import Caller
from ledger_app.api.routes.receivables import Status
from ledger_app.api.runtime import Runtime
from ledger_app.api.schemas import MAX_SAFE_INTEGER, Address, Bytes32, IsoDateTime, PathId, utc
from ledger_app.api.services.currencies import CurrencyService
from ledger_app.audit import queries
from ledger_app.audit.encode import EventEncoder
from ledger_app.audit.export import export_events, export_traces
from ledger_app.audit.reconcile import digest, reconcile
from ledger_app.audit.scope import scoped_trace
from ledger_app.audit.text import render_tree
from ledger_app.audit.trace import ReceivableNotIndexed, build_trace
from ledger_app.audit.verify import verify_trace
from ledger_app.chain.decode import KINDS
from ledger_app.chain.rpc import RpcClient
from ledger_app.errors import Conflict, InvalidInput, NotFound

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
        "financing_default, recourse, repayment, redemption, cross_border_settlement, "
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
    defaulted_amount: str
    recourse_claims: str
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


class AccessLog(BaseModel):
    """Access-log entries, newest first; ``next_before``: ``before`` of the next page."""

    items: list[AccessEntry]
    next_before: int | None


def _abis(runtime: Runtime) -> dict[str, Any]:
    return {kind: runtime.contracts.abi(kind) for kind in KINDS}


def _rpc(runtime: Runtime) -> RpcClient:
    return RpcClient(runtime.settings.rpc_url, timeout=runtime.settings.rpc_timeout)


def _trace_for(runtime: Runtime, caller: Caller, receivable_id: int) -> tuple[dict, dict]:
    """(full trace, the caller's view of it); 404 when unknown or the caller is no party."""
    with runtime.engine.connect() as conn:
        try:
            full = build_trace(conn, runtime.chain_id, receivable_id, EventEncoder(_abis(runtime)))
        except ReceivableNotIndexed:
            full = None
    view = None
    if full is not None:
        view = full if caller.reads_all else scoped_trace(full, caller.key)
    if full is None or view is None:
        raise NotFound(
            f"no receivable {receivable_id}", error="ReceivableNotFound", id=receivable_id
        )
    return full, view


def _period(start: datetime | None, end: datetime | None) -> queries.Period:
    return queries.Period(
        start=int(start.timestamp()) if start else None, end=int(end.timestamp()) if end else None
    )


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
    runtime: RuntimeDep,
    _block: BlockDep,
    format: Literal["json", "text"] = "json",
) -> Any:
    """The tree from the receivable's root with every step (actors, amounts with currency,
    block number, timestamp and hash, tx hash, log index; raw log for full views).
    Auditors, regulators and the debtor see it all; another party sees its path from the
    root, other participants masked. ``format=text``: the readable tree."""
    _, view = _trace_for(runtime, caller, receivable_id)
    if format == "text":
        return PlainTextResponse(render_tree(view) + "\n")
    return view


@router.post(
    "/v1/receivables/{receivable_id}/trace/verify",
    operation_id="audit.verify",
    response_model=Verification,
)
def verify(receivable_id: PathId, caller: ActorDep, runtime: RuntimeDep, _block: BlockDep) -> Any:
    """Re-fetch every step's receipt and block from the node and each receivable's state
    (``receivable(id)`` at the indexed block); per step and receivable verified/mismatch
    with the reason. A scoped caller gets the verdicts of the steps it may see."""
    full, view = _trace_for(runtime, caller, receivable_id)
    result = verify_trace(full, _rpc(runtime), _abis(runtime))
    if view is not full:
        seqs = {s["seq"] for s in view["steps"]}
        ids = {n["id"] for n in view["receivables"]}
        result["steps"] = [s for s in result["steps"] if s["seq"] in seqs]
        result["receivables"] = [r for r in result["receivables"] if r["id"] in ids]
        result["verified"] = all(
            r["status"] == "verified" for r in result["steps"] + result["receivables"]
        )
    return result


@router.get(
    "/v1/audit/participants/{address}/events",
    operation_id="audit.participant_events",
    response_model=Activity,
)
def participant_events(
    address: Address,
    _caller: ActorDep,
    runtime: RuntimeDep,
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
    cursor = None
    if after:
        block, _, index = after.partition(":")
        if not (block.isdigit() and index.isdigit()):
            raise InvalidInput("after is BLOCK:LOG_INDEX", error="InvalidCursor", field="after")
        cursor = (int(block), int(index))
    with runtime.engine.connect() as conn:
        items, following = queries.participant_activity(
            conn, runtime.chain_id, address, _period(start, end), after=cursor, limit=limit
        )
    return {"items": items, "next_cursor": f"{following[0]}:{following[1]}" if following else None}


@router.get(
    "/v1/audit/transactions/{tx_hash}",
    operation_id="audit.transaction",
    response_model=TransactionEvents,
)
def transaction(tx_hash: Bytes32, _caller: ActorDep, runtime: RuntimeDep, _block: BlockDep) -> Any:
    """Every indexed event of one transaction, in log order."""
    with runtime.engine.connect() as conn:
        items = queries.transaction_events(conn, runtime.chain_id, tx_hash)
    if not items:
        raise NotFound(f"no indexed transaction {tx_hash}", error="TransactionNotFound")
    return {"tx_hash": tx_hash.lower(), "events": items}


@router.get(
    "/v1/audit/receivables", operation_id="audit.receivables", response_model=ReceivablesReport
)
def receivables_report(
    _caller: ActorDep,
    runtime: RuntimeDep,
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
    with runtime.engine.connect() as conn:
        return queries.receivables_report(conn, where, offset=offset, limit=limit)


@router.get("/v1/audit/exposure", operation_id="audit.exposure", response_model=Exposure)
def exposure(_caller: ActorDep, runtime: RuntimeDep, block: BlockDep) -> Any:
    """Overdue (funded, past due, unpaid) and defaulted financings by financier and currency.
    "Past due" is by the chain's clock at the indexed block the answer reflects (its
    timestamp, ``as_of``), not the server's: a chain whose time runs ahead or behind the
    wall clock is judged by its own."""
    with runtime.engine.connect() as conn:
        now = queries.block_time(conn, runtime.chain_id, block)
        items = queries.exposure_by_financier(conn, 0 if now is None else now)
    as_of = None if now is None else datetime.fromtimestamp(now, UTC)
    return {"items": items, "as_of_block": block, "as_of": as_of}


@router.get(
    "/v1/audit/exports/events",
    operation_id="audit.export_events",
    response_class=StreamingResponse,
    responses=_EXPORT,
)
def events_export(
    _caller: ActorDep,
    runtime: RuntimeDep,
    start: Since = None,
    end: Until = None,
    format: Format = "ndjson",
) -> StreamingResponse:
    """Every event of [from, to) by block time, streamed as CSV or NDJSON."""
    chunks = export_events(runtime.engine, runtime.chain_id, _period(start, end), format)
    return StreamingResponse(chunks, media_type=_MEDIA[format])


@router.get(
    "/v1/audit/exports/traces",
    operation_id="audit.export_traces",
    response_class=StreamingResponse,
    responses=_EXPORT,
)
def traces_export(
    _caller: ActorDep,
    runtime: RuntimeDep,
    start: Since = None,
    end: Until = None,
    format: Format = "ndjson",
) -> StreamingResponse:
    """The trace of every root registered in [from, to), streamed: NDJSON one full trace
    (with raw logs, for scripts/verify_trace.py) per line, or CSV one step per row."""
    encoder = EventEncoder(_abis(runtime))
    chunks = export_traces(runtime.engine, runtime.chain_id, _period(start, end), format, encoder)
    return StreamingResponse(chunks, media_type=_MEDIA[format])


@router.get("/v1/reconcile", operation_id="audit.reconcile", response_model=Reconciliation)
def reconcile_index(
    _caller: ActorDep,
    runtime: RuntimeDep,
    indexed: BlockDep,
    block: Annotated[int | None, Query(ge=0, le=MAX_SAFE_INTEGER)] = None,
) -> Any:
    """Every difference between the read models and the contracts' views at ``block``
    (default: the indexed block, the only one where the answer is exact), and the
    digest of the index's events up to it. 409 for a block before every followed contract
    (the ledger's, the listed tokens) existed or one the index has not reached."""
    at = indexed if block is None else block
    first = _first_reconcilable_block(runtime)
    if at < first:
        # A contract the index follows had no code there: its views answer nothing.
        raise Conflict(f"block {at} is before every followed contract existed (block {first})",
                           error="BlockBeforeDeployment", field="block", first_block=first)  # fmt: skip
    if at > indexed:
        raise Conflict(f"block {at} is not indexed yet (indexed: {indexed})",
                       error="BlockNotIndexed", field="block", indexed_block=indexed)  # fmt: skip
    contracts = {a: k for a, k in runtime.contracts.followed().items() if k in KINDS}
    found = reconcile(runtime.engine, _rpc(runtime), _abis(runtime), contracts, at)
    return {
        "block": at,
        "indexed_block": indexed,
        "mismatches": [
            {
                "table": m.table,
                "key": m.key,
                "column": m.column,
                "index": _plain(m.indexed),
                "chain": _plain(m.on_chain),
            }
            for m in found
        ],
        "digest": digest(runtime.engine, runtime.chain_id, at),
    }


@router.get("/v1/access-log", operation_id="audit.access_log", response_model=AccessLog)
def access_log_entries(
    _caller: ActorDep,
    runtime: RuntimeDep,
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
    query = access_log_query(
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
    with runtime.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    for row in rows:
        row["at"] = utc(row["at"]).isoformat()
    return {"items": rows, "next_before": rows[-1]["id"] if len(rows) == limit else None}


def _first_reconcilable_block(runtime: Runtime) -> int:
    # The ledger's contracts, and the settlement tokens listed since.
    deployed = [c.block_number for c in runtime.contracts.record.contracts.values()]
    listed = [c["listed_block"] or 0 for c in CurrencyService(runtime).list()]
    return max(deployed + listed)


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | bool | type(None)) else str(value)
