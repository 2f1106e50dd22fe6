"""scripts/verify_trace.py's completeness check, run in-process on a trace the API
answered: the standalone copy of the attribution rule held to the service's on the
stories of the API tests (deferrals, recourse and sales, early payments)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from typing import Any

from ledger_app import PROJECT_ROOT

_SCRIPT = PROJECT_ROOT / "scripts" / "verify_trace.py"
_spec = importlib.util.spec_from_file_location("verify_trace_standalone", _SCRIPT)
SCRIPT = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(SCRIPT)


def standalone_completeness(trace: dict[str, Any], rpc_url: str) -> tuple[bool, str]:
    """(complete, what the script printed) for ``trace`` against the node at ``rpc_url``."""
    out = io.StringIO()
    abis = SCRIPT.load_abis(PROJECT_ROOT / ".build" / "__local__.json")
    with contextlib.redirect_stdout(out):
        complete = SCRIPT.verify_completeness(trace, rpc_url, abis)
    return complete, out.getvalue()
