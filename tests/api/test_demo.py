"""scripts/demo.py runs against a running service through HTTP alone and ends verified."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from ledger_app import PROJECT_ROOT

if TYPE_CHECKING:
    from conftest import Service


def test_demo_runs_over_http_and_prints_verified_trace(service: Service) -> None:
    env = {
        **os.environ,
        "LEDGER_API": service.base_url,
        "LEDGER_OPERATOR_KEY": service.operator_key,
    }

    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "demo.py")],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert "verification against the node: VERIFIED" in done.stdout
    assert "tier 1:" in done.stdout  # the split's parts in the tree
