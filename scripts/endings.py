#!/usr/bin/env python3
"""The endings of a receivable other than payment at maturity, on ONE root, against the
RUNNING service, only through its HTTP API (issue 20).

    make run            # in one terminal
    make endings        # in another (LEDGER_OPERATOR_KEY=... or it asks ledger-app for a key)

The core enterprise registers one CNY receivable of 1,000,000.00 with late interest at
12 % a year, due in 60 days; the supplier confirms it and splits it into four leaves of
250,000.00 each. Then:

1. early payment: the core offers to pay leaf A now at 6 % a year; the supplier accepts
   and receives face - discount at once;
2. partial repayment: the core repays leaf B at face, ahead of the root;
3. the supplier finances leaf D at the bank, with recourse and no grace period;
4. the chain's clock moves past the due date (local dev anvil only, evm_increaseTime);
   the bank declares default; the supplier buys leaf D back in two recourse payments,
   and holds it again;
5. 10 days late, the core repays what is still outstanding (leaves C and D) with late
   interest; both leaves are redeemed to the supplier, each with its interest share;
6. the auditor's trace of the root, verified against the node.

Nothing is faked: on a chain whose clock the script must not move it stops before step 4.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo import (  # the demo's client and helpers, one copy
    ANVIL_CHAIN_ID,
    BASE,
    Api,
    balance,
    chain_time,
    lei,
    list_currencies,
    mint,
    money,
    onboard,
    operator_key,
    remember_issuer_key,
    rpc,
    tax_id,
)

DAY = 86_400


def move_clock(rpc_url: str, to: int, why: str) -> None:
    """The local dev anvil's clock to ``to`` (unix seconds), said plainly."""
    skip = max(to - chain_time(rpc_url), 0)
    rpc(rpc_url, "evm_increaseTime", [skip])
    rpc(rpc_url, "evm_mine")
    at = datetime.fromtimestamp(chain_time(rpc_url), UTC)
    print(
        f"  (local dev anvil: the chain's clock moved {skip / DAY:.1f} days to {at:%F %T} UTC, {why})"
    )


def main() -> int:
    health = Api(BASE).call("GET", "/health")
    if not isinstance(health, dict) or "chain" not in health:
        raise SystemExit(f"no service at {BASE}: start it with `make run`")
    rpc_url = os.environ.get("LEDGER_RPC_URL", health["chain"]["rpc_url"])
    chain_id = int(rpc(rpc_url, "eth_chainId"), 16)
    now = datetime.fromtimestamp(max(chain_time(rpc_url), int(time.time())), UTC)
    operator = Api(BASE, operator_key())

    print("0. onboarding, a receivable of 1,000,000.00 CNY split into four leaves")
    kyc = now + timedelta(days=365)
    core, core_api = onboard(operator, "core", ["CORE_ENTERPRISE"], lei(11), "CN", kyc)
    supplier_lei = lei(12)
    supplier, supplier_api = onboard(operator, "supplier", ["SUPPLIER"], supplier_lei, "CN", kyc)
    bank, bank_api = onboard(operator, "bank", ["SETTLEMENT_BANK", "FINANCIER"], lei(13), "CN", kyc)
    remember_issuer_key(bank, bank_api.key or "")
    _, auditor = onboard(operator, "auditor", ["AUDITOR"], lei(14), "CN", kyc)
    cny = list_currencies(operator, bank, bank_api)["CNY"]
    due = (now + timedelta(days=60)).date().isoformat()
    body = {"creditor": supplier, "amount": "100000000", "currency": "CNY", "due_date": due,
            "late_interest_bps": 1200,
            "invoice": {"seller_tax_id": tax_id(supplier_lei), "number": f"END-{int(time.time())}"}}  # fmt: skip
    root = core_api.call("POST", "/v1/receivables", body, expect=201)["result"]["id"]
    supplier_api.call("POST", f"/v1/receivables/{root}/confirm", expect=200)
    parts = supplier_api.call("POST", f"/v1/receivables/{root}/split",
                              {"amounts": ["25000000"] * 4}, expect=200)["result"]  # fmt: skip
    a, b, c, d = (p["id"] for p in parts[1:])
    print(
        f"  root #{root} due {due}, late interest 12 %/year; leaves A #{a}, B #{b}, C #{c}, D #{d}"
    )
    mint(cny, "CNY", core, 200_000_000, "the core (to pay)")

    print(f"1. early payment of A #{a} at 6 %/year")
    offer = core_api.call("POST", "/v1/clearing/early-payments",
                          {"leaf_id": a, "annual_rate_bps": 600, "day_count_basis": 365,
                           "expires_at": (now + timedelta(days=7)).isoformat()},
                          expect=201)["result"]  # fmt: skip
    shown = supplier_api.call("GET", f"/v1/clearing/early-payments/{offer['offer_id']}", expect=200)
    before = balance(supplier_api, supplier, "CNY")
    supplier_api.call("POST", f"/v1/clearing/early-payments/{offer['offer_id']}/accept", expect=200)
    got = balance(supplier_api, supplier, "CNY") - before
    print(f"  offer #{offer['offer_id']}: {shown['days_early']} days early, discount "
          f"{money(shown['discount'], 'CNY')}; the supplier accepts and receives {money(got, 'CNY')}")  # fmt: skip

    print(f"2. partial repayment of B #{b} at face, ahead of the root")
    clearing = core_api.call("POST", f"/v1/clearing/{root}/repay-leaves", {"leaf_ids": [b]},
                             expect=200)["result"]  # fmt: skip
    print(
        f"  the root now owes {money(clearing['amount_due'], 'CNY')} of {money(clearing['amount'], 'CNY')}"
    )

    print(f"3. the supplier finances D #{d} at the bank, with recourse, no grace period")
    mint(cny, "CNY", bank, 25_000_000, "the bank (to lend)")
    bank_api.call("POST", "/v1/credit-lines", {"obligor": core, "currency": "CNY", "limit": "50000000",
                  "expiry": (now + timedelta(days=365)).isoformat()}, expect=201)  # fmt: skip
    financing = supplier_api.call("POST", "/v1/financings", {"receivable_id": d, "financier": bank},
                                  expect=201)["result"]["id"]  # fmt: skip
    terms = {"advance_rate_bps": 9000, "discount_rate_bps": 600, "day_count_basis": 365,
             "recourse": True, "grace_period_days": 0, "fee": "0",
             "expires_at": (now + timedelta(days=7)).isoformat()}  # fmt: skip
    bank_api.call("POST", f"/v1/financings/{financing}/offers", terms, expect=201)
    supplier_api.call("POST", f"/v1/financings/{financing}/offers/0/accept", expect=200)
    print(f"  financing #{financing} funded; the bank holds D")

    if chain_id != ANVIL_CHAIN_ID or health["chain"].get("chain_id") != ANVIL_CHAIN_ID:
        print(f"STOPPED: chain id {chain_id} is not the local dev anvil: its clock is not moved")
        return 3
    print("4. default and buy-back")
    due_at = int(datetime.fromisoformat(parts[4]["due_date"]).timestamp())
    move_clock(rpc_url, due_at + DAY + 60, "past the due date")
    bank_api.call("POST", f"/v1/financings/{financing}/default", expect=200)
    claim = int(bank_api.call("GET", f"/v1/financings/{financing}", expect=200)["recourse_claim"])
    mint(cny, "CNY", supplier, claim, "the supplier (to buy back)")
    first = claim // 3
    supplier_api.call("POST", f"/v1/financings/{financing}/recourse-payments",
                      {"amount": str(first)}, expect=200)  # fmt: skip
    supplier_api.call("POST", f"/v1/financings/{financing}/recourse-payments",
                      {"amount": str(claim - first)}, expect=200)  # fmt: skip
    after = supplier_api.call("GET", f"/v1/financings/{financing}", expect=200)
    holder = supplier_api.call("GET", f"/v1/receivables/{d}", expect=200)["holder"]
    print(f"  the bank declares default; recourse claim {money(claim, 'CNY')} paid in two parts; "
          f"financing {after['status']}; D held by the supplier again: {holder == supplier}")  # fmt: skip

    print("5. the core pays the rest late, with interest")
    move_clock(rpc_url, due_at + 10 * DAY + 60, "10 days late")
    owed = core_api.call("GET", f"/v1/clearing/{root}", expect=200)
    print(
        f"  due now: {money(owed['amount_due'], 'CNY')} (interest {money(owed['interest_due'], 'CNY')})"
    )
    core_api.call("POST", f"/v1/clearing/{root}/repay", expect=200)
    before = balance(supplier_api, supplier, "CNY")
    redeemed = supplier_api.call("POST", f"/v1/clearing/{root}/redeem", expect=200)["result"]
    got = balance(supplier_api, supplier, "CNY") - before
    print(f"  leaves {redeemed['redeemed']} redeemed: the supplier received {money(got, 'CNY')}; "
          f"root {redeemed['clearing']['status']}")  # fmt: skip

    print(f"6. the auditor's verified trace of root #{root} (also: `ledger-app trace {root}`)")
    verdict = auditor.call("POST", f"/v1/receivables/{root}/trace/verify", expect=200)
    print(auditor.call("GET", f"/v1/receivables/{root}/trace?format=text", expect=200))
    print(f"verification against the node: {'VERIFIED' if verdict['verified'] else 'MISMATCH'} "
          f"({len(verdict['steps'])} steps, {len(verdict['receivables'])} receivables)")  # fmt: skip
    return 0 if verdict["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
