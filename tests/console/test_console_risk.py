"""Risk control in the console, in headless Chromium: a financier grants a credit line
and names the supplier's sub-limit (a sub-limit above the line refused at its field),
the supplier's offers show the core's score and the line's headroom, an accept over the
line shows the contract's refusal (CreditLineExceeded with limit, utilised and requested)
at the line, an accept within it draws the line into the 90 % band of the financier's
bars and early warning; and what a financier sees of a core that repaid late (the last
test's page, test-artifacts/console/risk-05-financier-late-payer.png, is the one kept as
docs/screenshots/risk-financier.png). Pages under test-artifacts/console/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from apikit import Service
from consolekit import Console, plain
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


def _terms() -> dict[str, Any]:
    return {
        "advance_rate_bps": 9000,
        "discount_rate_bps": 600,
        "day_count_basis": 365,
        "recourse": True,
        "grace_period_days": 0,
        "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "fee": "0",
    }


def _offered(service: Service, amount: int, core: str = "core") -> dict[str, Any]:
    """A receivable of ``amount`` (minor units) owed by ``core``, the financier asked to
    finance it and offering; the financing as the API answers it."""
    response = service.call(core, "POST", "/v1/receivables",
                            json=service.registration(amount=str(amount)))  # fmt: skip
    assert response.status_code == 201, response.text
    receivable = response.json()["result"]
    confirmed = service.call("supplier", "POST", f"/v1/receivables/{receivable['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": receivable["id"],
                               "financier": service.addresses["financier"]})  # fmt: skip
    assert asked.status_code == 201, asked.text
    financing = asked.json()["result"]
    offer = service.call("financier", "POST", f"/v1/financings/{financing['id']}/offers",
                         json=_terms())  # fmt: skip
    assert offer.status_code == 201, offer.text
    return financing


def _line_row(console: Console, obligor: str) -> Any:
    """The open-lines row of the financier's line to ``obligor`` once it shows."""

    def found() -> Any:
        for row in console.driver.find_elements(By.CSS_SELECTOR, "#lines-open tr[data-line]"):
            title = row.find_element(By.CSS_SELECTOR, "td:nth-child(2) [title]")
            if title.get_attribute("title").lower() == obligor.lower():
                return row
        return None

    return console.wait(found, f"the line to {obligor}")


def test_line_headroom_shown_to_supplier_and_accept_over_it_refused_at_the_line(
    console: Console, console_service: Service
) -> None:
    service = console_service
    core, supplier = service.addresses["core"], service.addresses["supplier"]

    # The financier grants a line of 500,000.00 to the core.
    console.sign_in(service.keys["financier"])
    console.go("/credit-lines")
    console.wait_text("main h1", "Credit lines")
    Select(console.find("#grant-obligor")).select_by_value(core.lower())
    console.fill("#grant-limit", "500000.00")
    console.click("Grant line")
    row = _line_row(console, core)
    line_id = int(row.get_attribute("data-line"))
    figures = plain(row.text)
    assert "CNY 500,000.00" in figures, figures
    assert "0.00%" in figures, figures
    assert row.find_element(By.CSS_SELECTOR, ".headroom").text.replace("\u00a0", " ") == (
        "CNY 500,000.00"
    )
    listed = service.call("financier", "GET", f"/v1/credit-lines/{line_id}").json()
    assert (listed["limit"], listed["utilised"], listed["status"]) == ("50000000", "0", "OPEN")

    # A sub-limit above the line is refused, at the sub-limit's field; one within it is set.
    console.find(f"#manage-line-{line_id} summary").click()
    Select(console.find(f"#line-{line_id}-sub-supplier")).select_by_value(supplier.lower())
    console.fill(f"#line-{line_id}-sub-limit", "600000.00")
    console.click("Set sub-limit")
    refusal = console.wait_text(
        f'[data-field-error="line-{line_id}-sub-limit"]', "above the line's limit"
    )
    assert "CNY 600,000.00" in refusal, refusal
    assert "CNY 500,000.00" in refusal, refusal
    console.fill(f"#line-{line_id}-sub-limit", "500000.00")
    console.click("Set sub-limit")
    sub = console.wait_text(f"#manage-line-{line_id} table.sub-limits", "CNY 500,000.00")
    assert "supplier" in sub, sub
    console.screenshot("risk-01-financier-line-granted")
    console.sign_out()

    # Two offers from the financier: 600,000.00 (over the line) and 450,000.00 (within).
    over = _offered(service, 60_000_000)
    within = _offered(service, 45_000_000)

    # The supplier sees the core's score and the line's headroom beside each offer.
    console.sign_in(service.keys["supplier"])
    offer = console.find(f"#offer-{over['id']}-0")
    shown = plain(offer.text)
    assert "/ 100 · grade" in shown, shown
    assert f"headroom CNY 500,000.00 on line {line_id}" in shown, shown
    assert "your sub-limit's headroom CNY 500,000.00" in shown, shown
    console.screenshot("risk-02-supplier-offers-with-headroom")

    # Accepting the offer over the line: the contract's refusal, with its figures, at the line.
    console.click("Accept", offer)
    error = console.wait_text(
        f'[data-field-error="offer-{over["id"]}-0-line"]', "CreditLineExceeded"
    )
    assert "limit CNY 500,000.00" in error, error
    assert "utilised CNY 0.00" in error, error
    assert "requested CNY 600,000.00" in error, error
    assert not offer.find_elements(By.CSS_SELECTOR, ".form-error")
    assert "invalid" in console.find(f"#offer-{over['id']}-0 .line-field").get_attribute("class")
    console.screenshot("risk-03-supplier-accept-over-the-line")
    status = service.call("supplier", "GET", f"/v1/financings/{over['id']}").json()["status"]
    assert status == "OFFERED"

    # Accepting the one within the line draws it to 90 %.
    console.click("Accept", console.find(f"#offer-{within['id']}-0"))
    console.gone(f"#offer-{within['id']}-0")
    remaining = plain(console.find(f"#offer-{over['id']}-0").text)
    assert f"headroom CNY 50,000.00 on line {line_id}" in remaining, remaining
    console.sign_out()

    # The financier's line: utilised 450,000.00, the bar in the 90 % band; and early warning.
    console.sign_in(service.keys["financier"])
    console.go("/credit-lines")
    row = _line_row(console, core)
    console.wait(lambda: "90.00%" in plain(_line_row(console, core).text), "the line at 90 %")
    row = _line_row(console, core)
    assert "CNY 450,000.00" in plain(row.text)
    assert "band-90" in row.find_element(By.CSS_SELECTOR, ".utilisation").get_attribute("class")
    console.go("/warnings")
    warned = console.find(f'#warn-lines tr[data-line="{line_id}"]')
    assert "90.00%" in plain(warned.text), warned.text
    assert "≥ 90 %" in plain(warned.text), warned.text
    console.screenshot("risk-04-financier-early-warning")


def _is_worst_days_past_due(name: str) -> bool:
    return "days_past_due" in name and ("worst" in name or "max" in name)


def _warp_to(service: Service, timestamp: int) -> None:
    """Mine a block at ``timestamp`` on the module's own anvil."""
    for method, params in (("evm_setNextBlockTimestamp", [timestamp]), ("evm_mine", [])):
        answer = httpx.post(service.settings.rpc_url,
                            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})  # fmt: skip
        assert "error" not in answer.json(), answer.text


def test_financier_sees_the_score_of_a_core_that_repaid_late(
    console: Console, console_service: Service
) -> None:
    # Last in this module: it moves the module's chain 14 days on.
    service = console_service
    core2 = service.addresses["core2"]
    expiry = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    granted = service.call("financier", "POST", "/v1/credit-lines",
                           json={"obligor": core2, "currency": "CNY", "limit": "100000000",
                                 "expiry": expiry})  # fmt: skip
    assert granted.status_code in (200, 201), granted.text

    # A root of core2's due in 2 days, repaid 12 days late.
    chain_now = int(service.client.get_block("latest")["timestamp"])
    due = (datetime.fromtimestamp(chain_now, UTC) + timedelta(days=2)).date().isoformat()
    late = service.call("core2", "POST", "/v1/receivables",
                        json=service.registration(amount="20000000", due_date=due))  # fmt: skip
    assert late.status_code == 201, late.text
    root = late.json()["result"]
    confirmed = service.call("supplier", "POST", f"/v1/receivables/{root['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    service.mint("core2", 20_000_000)
    _warp_to(service, int(datetime.fromisoformat(root["due_date"]).timestamp()) + 12 * 86_400)
    repaid = service.call("core2", "POST", f"/v1/clearing/{root['id']}/repay")
    assert repaid.status_code == 200, repaid.text

    # core2 owes the supplier again, who asks any financier.
    fresh = service.call("core2", "POST", "/v1/receivables",
                         json=service.registration(amount="30000000"))  # fmt: skip
    assert fresh.status_code == 201, fresh.text
    receivable = fresh.json()["result"]
    confirmed = service.call("supplier", "POST", f"/v1/receivables/{receivable['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": receivable["id"]})  # fmt: skip
    assert asked.status_code == 201, asked.text
    financing = asked.json()["result"]
    score = service.call("financier", "GET", f"/v1/risk/scores/{core2}").json()

    # The financier sees core2's score, its inputs, and its own line's headroom.
    console.sign_in(service.keys["financier"])
    note = console.find(f"#risk-{financing['id']}")
    shown = console.wait_text(f"#risk-{financing['id']}", "headroom CNY 1,000,000.00")
    assert f"{score['score']} / 100 · grade {score['grade']}" in shown, shown
    console.click("Show the score's inputs", note)
    inputs = console.find(f'#risk-{financing["id"]} .risk-score[data-core="{core2}"] table')
    rows = inputs.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert {r.get_attribute("data-input") for r in rows} == set(score["inputs"]), inputs.text
    # The worst days past due: the late root's 12 days.
    worst = next(r for r in rows if _is_worst_days_past_due(r.get_attribute("data-input")))
    assert plain(worst.find_element(By.CSS_SELECTOR, "td").text) == "12", inputs.text
    request = console.driver.find_element(By.CSS_SELECTOR, f"#risk-{financing['id']}")
    console.driver.execute_script("arguments[0].scrollIntoView()", request)
    console.screenshot("risk-05-financier-late-payer")
