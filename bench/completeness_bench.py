"""The verifier's completeness check alone, at `make bench-quick`'s size: a history of
12,000 events, the benchmark's root with 10 groups x 100 leaves (1,010 descendants) on
top, backfilled into SQLite, then the tree rebuilt from the node and compared (the
``trace_completeness`` row of bench/run.py, without the rest of the benchmark); then the
same by the standalone scripts/verify_trace.py (its completeness part, its own RPC).

    python -m bench.completeness_bench [EVENTS] [GROUPS] [FANOUT]
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench import indexer_bench
from bench.chain import ARTIFACTS, add_tree, generate
from ledger_app import PROJECT_ROOT
from ledger_app.chain.artifacts import Artifacts


def _standalone(chain, trace: dict) -> str:
    """scripts/verify_trace.py's completeness check of ``trace``: its verdict line."""
    spec = importlib.util.spec_from_file_location(
        "verify_trace", PROJECT_ROOT / "scripts" / "verify_trace.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        script.verify_completeness(json.loads(json.dumps(trace)), chain.node.rpc_url,
                                   script.load_abis(ARTIFACTS))  # fmt: skip
    return out.getvalue().strip()


def main(argv: list[str]) -> int:
    """Entry point: prints the result as JSON (its ``rpc``: requests, calls, logs, ms)."""
    events, groups, fanout = (int(a) for a in (argv + ["12000", "10", "100"][len(argv) :])[:3])
    work = Path(tempfile.mkdtemp(prefix="completeness-bench-"))
    chain = generate(work / "chain", events, Artifacts.load(ARTIFACTS), log=print)
    try:
        root = add_tree(chain, groups, fanout)
        indexed = indexer_bench.backfill(chain, f"sqlite:///{work}/full.db", chain.head)
        result = indexer_bench.trace_completeness(f"sqlite:///{work}/full.db", chain, root)
        summary = {k: result[k] for k in ("complete", "descendants", "chain_steps", "trace_steps",
                                          "blocks_searched", "rpc", "ms_total")}  # fmt: skip
        summary["indexed_events"] = indexed["events"]
        print(json.dumps(summary, indent=2))
        print("standalone:", _standalone(chain, result["trace"]))
        return 0 if result["complete"] else 1
    finally:
        chain.node.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
