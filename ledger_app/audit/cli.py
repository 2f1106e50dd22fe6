"""``ledger-app trace ID``: a receivable's trace as a text tree, straight from the index,
optionally verified against the node (``--verify``) or printed as JSON (``--json``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ledger_app.audit.encode import EventEncoder
from ledger_app.audit.text import render_tree
from ledger_app.audit.trace import ReceivableNotIndexed, build_trace
from ledger_app.audit.verify import verify_trace
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.decode import KINDS
from ledger_app.chain.nodes import NodeSet
from ledger_app.chain.rpc import RpcClient
from ledger_app.db.engine import make_engine
from ledger_app.errors import NotFound
from ledger_app.settings import Settings


def add_commands(commands: Any) -> None:
    """Register ``trace`` on the ``ledger-app`` sub-command parser."""
    trace = commands.add_parser("trace", help="print a receivable's trace from the index")
    trace.add_argument("receivable_id", type=int)
    trace.add_argument("--verify", action="store_true", help="check every step against the node")
    trace.add_argument("--json", action="store_true", help="the full trace as JSON (an export)")
    trace.set_defaults(command=trace_command)


def trace_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print the trace; exit 1 when ``--verify`` finds a mismatch."""
    artifacts = Artifacts.load(settings.artifacts_file)
    abis = {kind: artifacts[kind].abi for kind in KINDS}
    rpc = RpcClient(NodeSet.from_settings(settings), timeout=settings.rpc_timeout)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            try:
                trace = build_trace(conn, rpc.chain_id(), args.receivable_id, EventEncoder(abis))
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
