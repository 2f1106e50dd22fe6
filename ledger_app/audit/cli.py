"""``ledger-app trace ID``: a receivable's trace as a text tree, straight from the index,
optionally verified against the node (``--verify``) or printed as JSON (``--json``).
``ledger-app verify-access-log``: the access log's hash chain against its anchors on the
ledger (ledger_app/audit/access_log.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledger_app.audit.access_log import read_anchors, verify_access_log
from ledger_app.audit.encode import EventEncoder
from ledger_app.audit.text import render_tree
from ledger_app.audit.trace import ReceivableNotIndexed, build_trace
from ledger_app.audit.verify import verify_trace
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.decode import KINDS
from ledger_app.chain.deploy import read_record
from ledger_app.chain.nodes import NodeSet
from ledger_app.chain.rpc import RpcClient
from ledger_app.db.engine import make_engine
from ledger_app.errors import DeploymentError, NotFound
from ledger_app.settings import Settings


def add_commands(commands: Any) -> None:
    """Register ``trace`` on the ``ledger-app`` sub-command parser."""
    trace = commands.add_parser("trace", help="print a receivable's trace from the index")
    trace.add_argument("receivable_id", type=int)
    trace.add_argument("--verify", action="store_true", help="check every step against the node")
    trace.add_argument("--json", action="store_true", help="the full trace as JSON (an export)")
    trace.set_defaults(command=trace_command)
    access = commands.add_parser(
        "verify-access-log",
        help="check the access log's hash chain against its anchors on the ledger "
        "(exit 1 if a row was edited, deleted, inserted or moved)",
    )
    access.add_argument("--json", action="store_true", help="the whole report as JSON")
    access.set_defaults(command=verify_access_log_command)


def trace_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print the trace; exit 1 when ``--verify`` finds a mismatch."""
    artifacts = Artifacts.load(settings.artifacts_file)
    abis = {kind: artifacts[kind].abi for kind in KINDS}
    rpc = RpcClient(NodeSet.from_settings(settings), timeout=settings.rpc_timeout)
    engine = make_engine(settings.database_url)
    # The deployment record's ledger contracts: what the completeness check searches.
    record = read_record(settings.deployment_file)
    contracts = from_block = None
    if record is not None:
        deployed = [c for c in record.contracts.values() if c.contract in KINDS]
        contracts = {c.address.lower(): c.contract for c in deployed}
        from_block = min((c.block_number for c in deployed), default=0)
    try:
        with engine.connect() as conn:
            try:
                trace = build_trace(conn, rpc.chain_id(), args.receivable_id, EventEncoder(abis),
                                    contracts, from_block)  # fmt: skip
            except ReceivableNotIndexed as exc:
                raise NotFound(f"the index holds no receivable {args.receivable_id}") from exc
    finally:
        engine.dispose()
    verification = verify_trace(trace, rpc, abis) if args.verify else None
    if args.json:
        print(json.dumps({"trace": trace, "verification": verification} if verification else trace,
                         indent=2, sort_keys=True))  # fmt: skip
    else:
        print(render_tree(trace, verification))
    return 1 if verification is not None and not verification["verified"] else 0


def verify_access_log_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print what the access log's verification found; exit 1 on any tampering (rows not
    yet anchored are reported, and are no failure)."""
    record = read_record(settings.deployment_file)
    anchor = record.contracts.get("access_log_anchor") if record else None
    if anchor is None:
        raise DeploymentError(
            f"no AccessLogAnchor in the deployment record {settings.deployment_file}: "
            "run `ledger-app deploy`"
        )
    rpc = RpcClient(NodeSet.from_settings(settings), timeout=settings.rpc_timeout)
    anchors = read_anchors(rpc, anchor.address, anchor.block_number)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            report = verify_access_log(conn, anchors)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        print("\n".join(describe(report.as_dict())))
    return 0 if report.ok else 1


def describe(report: dict[str, Any]) -> list[str]:
    """The report as lines of text, one per finding."""
    lines = [f"access log: {report['rows']} rows, {report['anchors_checked']} anchors on the "
             f"ledger (the last covers {report['last_anchored']} rows)"]  # fmt: skip
    lines += [f"EDITED    row {seq}: its content no longer hashes to its row_hash"
              for seq in report["edited"]]  # fmt: skip
    lines += [f"DELETED   {d['missing']} row(s) missing after row {d['after']}"
              for d in report["deleted"]]  # fmt: skip
    lines += [f"INSERTED  row {seq}: not written in this chain" for seq in report["inserted"]]
    lines += [f"REORDERED row {r['position']}: written at position {r['written_at']}"
              for r in report["reordered"]]  # fmt: skip
    lines += [f"LINK      row {seq}: prev_hash is not the row_hash of the row before"
              for seq in report["broken_links"]]  # fmt: skip
    lines += [f"ANCHOR    after {m['count']} rows (block {m['block_number']}): {m['reason']}"
              for m in report["anchor_mismatches"]]  # fmt: skip
    lines += [f"TRUNCATED {n} more {kind}" for kind, n in report["truncated"].items()]
    pending = report["not_yet_anchored"]
    if pending:
        lines.append(f"NOT YET ANCHORED: {pending['count']} row(s) from row {pending['first_seq']}")
    lines.append("OK: the log fits its chain and every anchor" if report["ok"]
                 else "TAMPERED: see above")  # fmt: skip
    return lines
