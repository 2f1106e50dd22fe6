"""An early payment in the console, in headless Chromium (issue 20): the core offers to pay
a receivable early at 12% a year, the supplier sees what it will receive and accepts; the
receivable settles and the supplier is paid exactly that. Pages are saved under
test-artifacts/console/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apikit import Service
from consolekit import Console, plain

from ledger_app.domain.clearing_amounts import early_payment


def _chain_now(service: Service) -> int:
    return int(service.client.get_block("latest")["timestamp"])


def test_core_offers_early_payment_and_supplier_accepts_in_the_console(
    console: Console, console_service: Service
) -> None:
    service = console_service
    service.mint("core", 10**12)
    due = (datetime.fromtimestamp(_chain_now(service), UTC) + timedelta(days=45)).date()
    root = service.active(due_date=due.isoformat(), amount="50000000")  # CNY 500,000.00

    # The core, debtor of the receivable, offers to pay it early.
    console.sign_in(service.keys["core"])
    console.go(f"/receivables/{root['id']}")
    console.wait_text("main h1", f"Receivable #{root['id']}")
    console.fill("#early-rate", "12")
    console.click("Offer early payment")
    offer = console.find("#early-payments li[data-status='OPEN']")
    offer_id = int(offer.get_attribute("id").rsplit("-", 1)[1])
    console.screenshot("20-core-early-payment-offered")
    console.sign_out()

    # The supplier, its holder, sees what accepting pays, and accepts.
    console.sign_in(service.keys["supplier"])
    console.go(f"/receivables/{root['id']}")
    shown = plain(console.wait_text(f"#early-offer-{offer_id} .early-paid", "CNY"))
    due_ts = int(datetime.fromisoformat(root["due_date"]).timestamp())
    quote = early_payment(50_000_000, 1_200, due_ts, _chain_now(service), 365)
    assert quote.discount > 0
    expected = f"CNY {quote.paid // 100:,}.{quote.paid % 100:02d}"
    assert shown == expected, (shown, expected)
    console.screenshot("21-supplier-early-payment-to-accept")
    before = service.balance("supplier")
    console.click("Accept early payment", console.find(f"#early-offer-{offer_id}"))
    console.find(f"#early-offer-{offer_id}[data-status='ACCEPTED']")
    console.wait_text("#receivable-summary .summary .status", "SETTLED")
    console.screenshot("22-supplier-early-payment-accepted")

    accepted = service.call("supplier", "GET", f"/v1/clearing/early-payments/{offer_id}").json()
    assert accepted["status"] == "ACCEPTED"
    assert service.balance("supplier") == before + int(accepted["paid"])
    # Accepted within the day it was shown: the amount paid is the amount the page showed.
    assert int(accepted["paid"]) == quote.paid
