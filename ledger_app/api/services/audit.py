"""What auditors ask: receivable traces and their verification against the node, queries
over the index, streamed exports, reconciliation of the index with the contracts, and
the access log.

The work itself is in ledger_app/audit; this service picks the caller's view of it
(traces are scoped to a trader who took part: ledger_app/audit/scope.py; in full for
readers and the debtor) and reads the node through the indexer's own JSON-RPC client,
never through the index it checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ledger_app.api.access import access_log_query
from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.schemas import utc
from ledger_app.api.services.currencies import CurrencyService
from ledger_app.audit import queries
from ledger_app.audit.access_log import read_anchors, verify_access_log
from ledger_app.audit.export import export_events, export_traces
from ledger_app.audit.reconcile import digest, reconcile
from ledger_app.audit.scope import scoped_trace
from ledger_app.audit.trace import ReceivableNotIndexed, build_trace
from ledger_app.audit.verify import verify_trace
from ledger_app.chain.decode import KINDS
from ledger_app.chain.nodes import NodeSet
from ledger_app.chain.rpc import RpcClient
from ledger_app.errors import Conflict, InvalidInput, NotFound


def period(start: datetime | None, end: datetime | None) -> queries.Period:
    """The period [start, end) in unix seconds (open where not given)."""
    return queries.Period(
        start=int(start.timestamp()) if start else None, end=int(end.timestamp()) if end else None
    )


class AuditService:
    """The audit reads of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.chain_id = runtime.chain_id

    # --- traces -----------------------------------------------------------------------

    def trace(self, caller: Caller, receivable_id: int) -> dict[str, Any]:
        """The caller's view of the receivable's trace; 404 when unknown or no party."""
        return self._trace_for(caller, receivable_id)[1]

    def verify(self, caller: Caller, receivable_id: int) -> dict[str, Any]:
        """Every step and receivable of the trace checked against the node, and the trace's
        completeness against the tree rebuilt from the node; a scoped caller gets the
        verdicts of the steps it may see and the completeness verdict with counts only."""
        full, view = self._trace_for(caller, receivable_id)
        result = verify_trace(full, self._rpc(), self._abis())
        if view is not full:
            seqs = {s["seq"] for s in view["steps"]}
            ids = {n["id"] for n in view["receivables"]}
            result["steps"] = [s for s in result["steps"] if s["seq"] in seqs]
            result["receivables"] = [r for r in result["receivables"] if r["id"] in ids]
            result["verified"] = result["completeness"]["complete"] and all(
                r["status"] == "verified" for r in result["steps"] + result["receivables"]
            )
            # The whole tree's verdict, not what the hidden steps are.
            result["completeness"] = {
                k: (len(v) if isinstance(v, list) else v)
                for k, v in result["completeness"].items()
                if k != "contracts"
            }
        return result

    # --- queries ----------------------------------------------------------------------

    def participant_events(
        self, address: str, during: queries.Period, after: str | None, limit: int
    ) -> dict[str, Any]:
        """A page of the events naming ``address`` in the period, oldest first, from the
        cursor ``after`` (BLOCK:LOG_INDEX)."""
        cursor = None
        if after:
            block, _, index = after.partition(":")
            if not (block.isdigit() and index.isdigit()):
                raise InvalidInput("after is BLOCK:LOG_INDEX", error="InvalidCursor", field="after")
            cursor = (int(block), int(index))
        with self.engine.connect() as conn:
            items, following = queries.participant_activity(
                conn, self.chain_id, address, during, after=cursor, limit=limit
            )
        return {
            "items": items,
            "next_cursor": f"{following[0]}:{following[1]}" if following else None,
        }

    def transaction(self, tx_hash: str) -> dict[str, Any]:
        """Every indexed event of one transaction, in log order; 404 if none is."""
        with self.engine.connect() as conn:
            items = queries.transaction_events(conn, self.chain_id, tx_hash)
        if not items:
            raise NotFound(f"no indexed transaction {tx_hash}", error="TransactionNotFound")
        return {"tx_hash": tx_hash.lower(), "events": items}

    def receivables_report(
        self, where: queries.ReceivableFilter, offset: int, limit: int
    ) -> dict[str, Any]:
        """A page of the receivables matching ``where``, with count and totals over all."""
        with self.engine.connect() as conn:
            return queries.receivables_report(conn, where, offset=offset, limit=limit)

    def exposure(self, block: int) -> dict[str, Any]:
        """Overdue and defaulted financings by financier and currency, past due by the
        chain's clock at the indexed ``block``."""
        with self.engine.connect() as conn:
            now = queries.block_time(conn, self.chain_id, block)
            items = queries.exposure_by_financier(conn, 0 if now is None else now)
        as_of = None if now is None else datetime.fromtimestamp(now, UTC)
        return {"items": items, "as_of_block": block, "as_of": as_of}

    # --- exports ----------------------------------------------------------------------

    def export_events(self, during: queries.Period, format: str) -> Iterator[str]:
        """Every event of the period by block time, as CSV or NDJSON chunks."""
        return export_events(self.engine, self.chain_id, during, format)

    def export_traces(self, during: queries.Period, format: str) -> Iterator[str]:
        """The trace of every root registered in the period, as CSV or NDJSON chunks."""
        encoder = self.runtime.event_encoder
        return export_traces(self.engine, self.chain_id, during, format, encoder,
                             self._ledger_contracts(), self._deployment_block())  # fmt: skip

    # --- reconciliation ---------------------------------------------------------------

    def reconcile(self, block: int | None, indexed: int) -> dict[str, Any]:
        """Every difference between the read models and the contracts' views at ``block``
        (default: the ``indexed`` block), and the digest of the index's events up to it;
        409 for a block before the followed contracts existed or not indexed yet."""
        at = indexed if block is None else block
        first = self._first_reconcilable_block()
        if at < first:
            # A contract the index follows had no code there: its views answer nothing.
            raise Conflict(f"block {at} is before every followed contract existed (block {first})",
                           error="BlockBeforeDeployment", field="block", first_block=first)  # fmt: skip
        if at > indexed:
            raise Conflict(f"block {at} is not indexed yet (indexed: {indexed})",
                           error="BlockNotIndexed", field="block", indexed_block=indexed)  # fmt: skip
        contracts = {a: k for a, k in self.runtime.contracts.followed().items() if k in KINDS}
        found = reconcile(self.engine, self._rpc(), self._abis(), contracts, at)
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
            "digest": digest(self.engine, self.chain_id, at),
        }

    # --- access log -------------------------------------------------------------------

    def access_log(self, *, limit: int, **filters: Any) -> dict[str, Any]:
        """Access-log entries matching ``filters`` (api.access.access_log_query's), newest
        first, and the cursor of the next page."""
        query = access_log_query(limit=limit, **filters)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            row["at"] = utc(row["at"]).isoformat()
        return {"items": rows, "next_before": rows[-1]["id"] if len(rows) == limit else None}

    def verify_access_log(self) -> dict[str, Any]:
        """The access log re-derived and checked against the anchors on the ledger
        (ledger_app/audit/access_log.py): read from the node, never from the database."""
        record = self.runtime.contracts.record.contracts.get("access_log_anchor")
        if record is None:
            raise Conflict(
                "the deployment has no AccessLogAnchor contract yet: run `ledger-app deploy`",
                error="AccessLogAnchorNotDeployed",
            )
        anchors = read_anchors(self.runtime.client.transport, record.address, record.block_number)
        with self.engine.connect() as conn:
            report = verify_access_log(conn, anchors).as_dict()
        return report | {"anchor_contract": record.address}

    # --- internals --------------------------------------------------------------------

    def _trace_for(self, caller: Caller, receivable_id: int) -> tuple[dict, dict]:
        # (full trace, the caller's view of it); 404 when unknown or the caller is no party.
        with self.engine.connect() as conn:
            try:
                full = build_trace(conn, self.chain_id, receivable_id, self.runtime.event_encoder,
                                   self._ledger_contracts(), self._deployment_block())  # fmt: skip
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

    def _ledger_contracts(self) -> dict[str, str]:
        # The deployment record's ledger contracts (address -> kind): what a completeness
        # check searches (the listed tokens are added from the index by build_trace).
        return {a: k for a, k in self.runtime.contracts.followed().items() if k in KINDS}

    def _deployment_block(self) -> int:
        return min(c.block_number for c in self.runtime.contracts.record.contracts.values())

    def _abis(self) -> dict[str, Any]:
        return {kind: self.runtime.contracts.abi(kind) for kind in KINDS}

    def _rpc(self) -> RpcClient:
        settings = self.runtime.settings
        return RpcClient(NodeSet.from_settings(settings), timeout=settings.rpc_timeout)

    def _first_reconcilable_block(self) -> int:
        # The ledger's contracts, and the settlement tokens listed since.
        deployed = [c.block_number for c in self.runtime.contracts.record.contracts.values()]
        listed = [c["listed_block"] or 0 for c in CurrencyService(self.runtime).list()]
        return max(deployed + listed)


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | bool | type(None)) else str(value)
