"""scripts/demo.py runs against a running service through HTTP alone and ends verified."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ledger_app import PROJECT_ROOT

if TYPE_CHECKING:
    from conftest import Service


def test_demo_runs_over_http_and_prints_verified_trace(service: Service, tmp_path: Path) -> None:
    # CNY is listed already, issued by the cast's bank: the demo mints with that bank's key,
    # kept for it as an earlier run keeps the keys of the banks it onboarded (the operator
    # cannot issue the demo one).
    kept = tmp_path / "demo-issuer-keys.json"
    kept.write_text(json.dumps({service.addresses["bank"]: service.keys["bank"]}))
    env = {
        **os.environ,
        "LEDGER_API": service.base_url,
        "LEDGER_OPERATOR_KEY": service.operator_key,
        "LEDGER_DEMO_KEYS": str(kept),
    }

    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "demo.py")],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert "verification against the node: VERIFIED" in done.stdout
    assert "tier 1:" in done.stdout  # the split's parts in the tree
    assert "the demo mints with the key it kept of that bank" in done.stdout
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # keys kept for the bank's eyes only
