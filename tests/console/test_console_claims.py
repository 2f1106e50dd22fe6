"""Deferred payments in the console, in headless Chromium (issue 20): a financier frozen
while its offer was open did not block the supplier's accept of another offer; once
unfrozen it finds the refund under "Waiting for you" on its page and claims it there.
Pages under test-artifacts/console/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apikit import Service
from consolekit import Console

TERMS = {
    "advance_rate_bps": 9000,
    "discount_rate_bps": 600,
    "day_count_basis": 365,
    "recourse": True,
    "grace_period_days": 0,
    "fee": "0",
}


def test_a_refund_kept_while_frozen_is_claimed_from_waiting_for_you(
    console: Console, console_service: Service
) -> None:
    service = console_service
    service.mint("financier2", 10**13)
    for financier in ("financier", "financier2"):
        service.credit_line(financier)
    receivable = service.active()
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": receivable["id"]})  # fmt: skip
    assert asked.status_code == 201, asked.text
    fid = asked.json()["result"]["id"]
    expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    offers = []
    for who in ("financier", "financier2"):
        made = service.call(who, "POST", f"/v1/financings/{fid}/offers",
                            json={**TERMS, "expires_at": expires})  # fmt: skip
        assert made.status_code == 201, made.text
        offers.append(made.json()["result"]["offers"][0])
    address = service.addresses["financier"]
    assert (
        service.call("regulator", "POST", f"/v1/participants/{address}/freeze").status_code == 200
    )
    accepted = service.call("supplier", "POST", f"/v1/financings/{fid}/offers/1/accept")
    assert accepted.status_code == 200, accepted.text
    assert (
        service.call("regulator", "POST", f"/v1/participants/{address}/unfreeze").status_code == 200
    )
    before = service.balance("financier")

    console.sign_in(service.keys["financier"])
    panel = console.wait_text("#waiting-for-you", f"refund of offer 0 of financing {fid}")
    assert "Waiting for you" in panel
    console.click("Claim", console.find("#claim-financing-CNY"))
    console.gone("#waiting-for-you")

    assert service.balance("financier") == before + int(offers[0]["proceeds"])
    assert service.call("financier", "GET", "/v1/claims").json() == []
    console.screenshot("claims-01-financier-claimed")
