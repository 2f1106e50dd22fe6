"""The multi-tier story the audit tests trace, driven straight at the contracts.

core owes supplier (tier 1) 1,000,000.00 CNY; supplier confirms and splits it
600,000.00 / 400,000.00, and passes the 400,000.00 part to supplier2 (tier 2);
supplier2 splits that 250,000.00 / 150,000.00 and finances the 250,000.00 part:
two financiers offer, the first is accepted (disbursement, drawing on the credit line
the first financier granted core), the second's escrow is refunded. At maturity core repays the root, and the leaves are redeemed. A CNY->USD
PvP to supplier2 names the root as its reference (the cross-border leg).
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from ledger import DAY, MAX_UINT, Ledger


def multi_tier(ledger: Ledger) -> dict[str, Any]:
    """Run the story; returns the ids it made."""
    ledger.list_token(b"CNY")
    ledger.list_token(b"USD")
    for who in ("core", "financier", "financier2"):
        ledger.send("bank", "cny", "mint", ledger.accounts[who].address, 10_000_000_00)
    ledger.send("bank", "usd", "mint", ledger.accounts["fxdesk"].address, 1_000_000_00)
    line = ledger.grant_line("financier")  # the accepted offer draws on it
    root = ledger.register(1_000_000_00)
    ledger.send("supplier", "receivables", "confirm", root)
    ledger.send("supplier", "receivables", "split", root, [600_000_00, 400_000_00])
    kept, passed = root + 1, root + 2
    ledger.send("supplier", "receivables", "transfer", passed, ledger.accounts["supplier2"].address)
    ledger.send("supplier2", "receivables", "split", passed, [250_000_00, 150_000_00])
    financed, tier2_kept = root + 3, root + 4
    ledger.send("supplier2", "desk", "request", financed, "0x" + "00" * 20)
    financing = int(ledger.view("desk", "lastFinancingId"))
    terms = (9_000, 800, 365, False, 7 * DAY, ledger.now() + 30 * DAY, 1_000)
    for financier in ("financier", "financier2"):
        ledger.send(financier, "cny", "approve", ledger.addresses["desk"], MAX_UINT)
        ledger.send(financier, "desk", "offer", financing, terms)
    ledger.send("supplier2", "desk", "accept", financing, 0)
    # The cross-border leg: core pays supplier2 (VN) in USD, referencing the root.
    ledger.send("regulator", "fx", "setCorridor", b"CN", b"VN", True)
    quote = ledger._post_quote(14 * 10**16)
    ledger.send("core", "cny", "approve", ledger.addresses["fx"], MAX_UINT)
    ledger.send("fxdesk", "usd", "approve", ledger.addresses["fx"], MAX_UINT)
    uetr = keccak(text=f"audit-uetr-{root}")[:16]
    ledger.send("core", "fx", "settle",
                (uetr, ledger.accounts["supplier2"].address, 1_000_00, b"SUPP".ljust(32, b"\0"), root),
                quote, b"")  # fmt: skip
    ledger.warp(91 * DAY)
    ledger.send("core", "cny", "approve", ledger.addresses["clearing"], MAX_UINT)
    ledger.send("core", "clearing", "repay", root)
    ledger.send("supplier", "clearing", "redeem", kept)
    ledger.send("financier", "clearing", "redeem", financed)
    return {"root": root, "kept": kept, "passed": passed, "financed": financed,
            "tier2_kept": tier2_kept, "financing": financing, "uetr": "0x" + uetr.hex(), "line": line}  # fmt: skip
