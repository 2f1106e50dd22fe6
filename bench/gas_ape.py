"""Run scripts/gas_table.py's measurements under ape and print their rows as JSON.

    python bench/gas_ape.py OUT.json [--clearing]

The gas rows of the benchmark are scripts/gas_table.py's own measurements (the
same code that writes docs/gas.md), run on ape-foundry's local anvil; only the
output differs: JSON for bench/run.py, and docs/ is left alone. ``--clearing``
adds the 5,000-leaf clearing (a minute or more).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MEASURED = [
    "measure_register",
    "measure_register_batch",
    "measure_confirm",
    "measure_split",
    "measure_transfer",
    "measure_settlement_token",
    "measure_credit_lines",
    "measure_risk_control",
    "measure_access_log_anchor",
]


def main() -> int:
    out = Path(sys.argv[1])
    names = MEASURED + (["measure_clearing_5000_leaves"] if "--clearing" in sys.argv else [])
    from ape import networks

    with networks.ethereum.local.use_provider("foundry"):
        spec = importlib.util.spec_from_file_location(
            "gas_table", ROOT / "scripts" / "gas_table.py"
        )
        gas_table = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gas_table)
        ledger = gas_table.deploy()
        rows = []
        for name in names:
            started = time.perf_counter()
            for row in getattr(gas_table, name)(ledger):
                rows.append({**asdict(row), "function": name,
                             "seconds": time.perf_counter() - started})  # fmt: skip
    out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
