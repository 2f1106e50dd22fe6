#!/usr/bin/env python3
"""The supply-chain finance story against the RUNNING service, only through its HTTP API.

    make run            # in one terminal (prints the operator's API key once)
    make demo           # in another; LEDGER_OPERATOR_KEY=... or it asks ledger-app for a key

1. the operator onboards a core enterprise, two suppliers (tier 1 and tier 2), a bank
   (settlement bank) and an auditor, and lists CNY;
2. the core enterprise registers a batch of receivables owed to the tier-1 supplier;
3. the supplier confirms them;
4. tier 1 splits the first and passes part to tier 2;
5. NOT YET DRIVEN: tier 2 financing at a bank, and the core enterprise paying at maturity
   across a currency corridor (financing / clearing / FX routes); the demo prints each as
   NOT RUN, saying whether the service has the routes, and never pretends;
6. the auditor fetches the root's trace, has the service verify it against the node,
   and prints the verified tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from typing import Any

BASE = os.environ.get("LEDGER_API", "http://127.0.0.1:8000")
#: Routes later steps need; a missing one is reported, never faked.
LATER_STEPS = {
    "tier 2 finances at a bank": "/v1/financings",
    "the core enterprise pays at maturity": "/v1/clearing",
    "across a currency corridor (PvP)": "/v1/fx",
}


class Api:
    """A tiny JSON-over-HTTP client."""

    def __init__(self, base: str, key: str | None = None) -> None:
        self.base, self.key = base.rstrip("/"), key

    def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        """One request; the decoded JSON (or text) answer. Raises on an unexpected status."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["X-API-Key"] = self.key
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        if expect is not None and status != expect:
            raise SystemExit(f"{method} {path}: HTTP {status}: {text}")
        try:
            return json.loads(text)
        except ValueError:
            return text


def operator_key() -> str:
    """LEDGER_OPERATOR_KEY, or a fresh one from ``ledger-app operator-key`` (set-up, not a step)."""
    if os.environ.get("LEDGER_OPERATOR_KEY"):
        return os.environ["LEDGER_OPERATOR_KEY"]
    out = subprocess.run(["ledger-app", "operator-key", "--label", "demo"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return out.strip().rsplit(" ", 1)[-1]


def onboard(operator: Api, name: str, roles: list[str], lei: str) -> tuple[str, Api]:
    """Onboard one participant; its address and a client with its key."""
    body = {"lei": lei, "jurisdiction": "CN", "roles": roles, "label": f"demo {name}",
            "kyc_expiry": (datetime.now(UTC) + timedelta(days=365)).isoformat()}  # fmt: skip
    result = operator.call("POST", "/v1/participants", body, expect=201)["result"]
    print(f"  onboarded {name:10} {result['participant']['address']} {roles}")
    return result["participant"]["address"], Api(BASE, result["api_key"]["key"])


def lei(n: int) -> str:
    """A valid-looking LEI (ISO 17442 check digits) unique to this run."""
    base = f"DEMO{int(time.time()) % 10**9:09d}{n:05d}"
    digits = int("".join(str(int(c, 36)) for c in base + "00"))
    return base + f"{98 - digits % 97:02d}"


def main() -> int:
    """Run the story; 0 when the trace verifies."""
    if Api(BASE).call("GET", "/health") is None:
        raise SystemExit(f"no service at {BASE}: start it with `make run`")
    operator = Api(BASE, operator_key())
    print("1. onboarding")
    _, core_api = onboard(operator, "core", ["CORE_ENTERPRISE"], lei(1))
    tier1, tier1_api = onboard(operator, "tier1", ["SUPPLIER"], lei(2))
    tier2, _ = onboard(operator, "tier2", ["SUPPLIER"], lei(3))
    bank, _ = onboard(operator, "bank", ["SETTLEMENT_BANK", "FINANCIER"], lei(4))
    _, auditor = onboard(operator, "auditor", ["AUDITOR"], lei(5))
    listed = operator.call("POST", "/v1/currencies", {"currency": "CNY", "decimals": 2, "issuer": bank})
    print(f"  CNY: {listed.get('status', listed.get('error'))}")

    print("2. the core enterprise registers a batch")
    due = (date.today() + timedelta(days=90)).isoformat()
    run = int(time.time())
    items = [{"creditor": tier1, "amount": str(amount), "currency": "CNY", "due_date": due,
              "invoice": {"seller_tax_id": "91310000MA1FL0001X", "number": f"DEMO-{run}-{i}"}}
             for i, amount in enumerate((100_000_000, 50_000_000, 25_000_000))]  # fmt: skip
    batch = core_api.call("POST", "/v1/receivables/batch", {"items": items}, expect=201)["result"]
    ids = [r["id"] for r in batch["receivables"]]
    print(f"  receivables {ids}")

    print("3. the supplier confirms them")
    for rid in ids:
        tier1_api.call("POST", f"/v1/receivables/{rid}/confirm", expect=200)
    root = ids[0]

    print("4. tier 1 splits the first and passes 40% to tier 2")
    parts = tier1_api.call("POST", f"/v1/receivables/{root}/split",
                           {"amounts": ["60000000", "40000000"]}, expect=200)["result"]  # fmt: skip
    passed = parts[2]["id"]
    tier1_api.call("POST", f"/v1/receivables/{passed}/transfer", {"to": tier2}, expect=200)
    print(f"  #{root} -> #{parts[1]['id']} (kept) + #{passed} (to tier 2 {tier2})")

    print("5. financing, maturity payment, currency corridor")
    paths = set(Api(BASE).call("GET", "/openapi.json").get("paths", {}))
    missing = [step for step, prefix in LATER_STEPS.items() if not any(p.startswith(prefix) for p in paths)]
    for step, prefix in LATER_STEPS.items():
        if step in missing:
            print(f"  NOT RUN: {step}: the service has no {prefix} routes yet")
        else:  # said plainly rather than skipped silently
            print(f"  NOT RUN: {step}: {prefix} routes exist, the demo does not drive them yet")

    print(f"6. the auditor's verified trace of root #{root}")
    verdict = auditor.call("POST", f"/v1/receivables/{root}/trace/verify", expect=200)
    print(auditor.call("GET", f"/v1/receivables/{root}/trace?format=text", expect=200))
    bad = [s for s in verdict["steps"] + verdict["receivables"] if s["status"] != "verified"]
    print(f"verification against the node: {'VERIFIED' if verdict['verified'] else 'MISMATCH'} "
          f"({len(verdict['steps'])} steps, {len(verdict['receivables'])} receivables)")  # fmt: skip
    for entry in bad:
        print("  mismatch:", entry)
    return 0 if verdict["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
