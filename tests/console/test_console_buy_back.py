"""A buy-back under recourse in headless Chromium (issue 20): a financing funded with
recourse defaults (set up through the API); the supplier sees the claim against it in its
worklist, pays part of it, sees what remains, pays the rest, and holds the receivable
again (OVERDUE, its own to collect). Pages are saved under test-artifacts/console/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from apikit import Service
from consolekit import Console, plain

FACE = 100_000_000  # CNY 1,000,000.00
CLAIM = FACE * 9_000 // 10_000  # 90% advanced: CNY 900,000.00
DAY = 86_400


def _rpc(service: Service, method: str, params: list[Any]) -> Any:
    answer = httpx.post(service.settings.rpc_url,
                        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()  # fmt: skip
    assert "error" not in answer, answer
    return answer.get("result")


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def _defaulted_with_recourse(service: Service) -> dict[str, Any]:
    """A receivable of FACE financed with recourse by financier, declared in default."""
    service.credit_line("financier", "core")
    service.mint("supplier", 10**10)
    now = int(service.client.get_block("latest")["timestamp"])
    due = datetime.fromtimestamp(now + 20 * DAY, UTC).date().isoformat()
    receivable = service.active(due_date=due)
    asked = _ok(service.call("supplier", "POST", "/v1/financings",
                             json={"receivable_id": receivable["id"],
                                   "financier": service.addresses["financier"]}), 201)  # fmt: skip
    fid = asked["result"]["id"]
    _ok(service.call("financier", "POST", f"/v1/financings/{fid}/offers",
                     json={"advance_rate_bps": 9_000, "discount_rate_bps": 500,
                           "recourse": True, "grace_period_days": 1,
                           "expires_at": "2099-01-01T00:00:00Z"}), 201)  # fmt: skip
    _ok(service.call("supplier", "POST", f"/v1/financings/{fid}/offers/0/accept"))
    due_at = int(datetime.fromisoformat(receivable["due_date"]).timestamp())
    _rpc(service, "evm_setNextBlockTimestamp", [due_at + 3 * DAY])
    _rpc(service, "evm_mine", [])
    assert service.app.state.runtime.wait_indexed(service.client.block_number(), 60) is not None
    _ok(service.call("financier", "POST", f"/v1/financings/{fid}/default"))
    return {"financing": fid, "receivable": receivable["id"]}


def test_the_supplier_buys_the_receivable_back_in_two_payments(
    console: Console, console_service: Service
) -> None:
    service = console_service
    ids = _defaulted_with_recourse(service)
    fid, rid = ids["financing"], ids["receivable"]
    before = service.balance("financier")

    console.sign_in(service.keys["supplier"])
    item = console.find(f"#recourse-{fid}")
    assert "outstanding CNY 900,000.00" in plain(item.text), item.text
    console.screenshot("buy-back-01-claim-outstanding")

    # Part of it first: what remains is shown.
    console.fill(f"#recourse-{fid}-amount", "300000.00")
    console.click("Pay recourse", item)
    console.wait_text(f"#recourse-{fid}-outstanding", "CNY 600,000.00")
    console.screenshot("buy-back-02-part-paid")

    # A payment above what remains is refused on the amount field, by the contract.
    console.fill(f"#recourse-{fid}-amount", "700000.00")
    console.click("Pay recourse", console.find(f"#recourse-{fid}"))
    error = console.wait_text(f"#recourse-{fid} .field-error", "remains")
    assert "600,000.00" in plain(error) or "60000000" in plain(error), error

    # The rest: the claim is paid, the receivable is the supplier's again.
    console.fill(f"#recourse-{fid}-amount", "600000.00")
    console.click("Pay recourse", console.find(f"#recourse-{fid}"))
    console.gone(f"#recourse-{fid}")
    console.wait_text("#supplier-held", f"#{rid}")
    held = plain(console.text_of("#supplier-held"))
    assert "OVERDUE" in held, held
    console.screenshot("buy-back-03-bought-back")

    financing = _ok(service.call("supplier", "GET", f"/v1/financings/{fid}"))
    assert (financing["status"], financing["recourse_outstanding"]) == ("BOUGHT_BACK", "0")
    assert service.balance("financier") - before == CLAIM


def test_the_supplier_takes_back_a_part_payment_once_the_debtor_has_paid(
    console: Console, console_service: Service
) -> None:
    service = console_service
    ids = _defaulted_with_recourse(service)
    fid, rid = ids["financing"], ids["receivable"]
    path = f"/v1/financings/{fid}/recourse-payments"
    _ok(service.call("supplier", "POST", path, json={"amount": str(CLAIM // 4)}))
    # The debtor pays the root into clearing: the financier is paid there, not by recourse.
    service.mint("core", 10**10)
    _ok(service.call("core", "POST", f"/v1/clearing/{rid}/repay"))
    _ok(service.call("financier", "POST", f"/v1/clearing/{rid}/redeem"))
    before = service.balance("supplier")

    console.sign_in(service.keys["supplier"])
    item = console.find(f"#recourse-back-{fid}")
    assert "CNY 225,000.00" in plain(item.text), item.text
    console.click("Take back", item)
    console.gone(f"#recourse-back-{fid}")
    console.screenshot("buy-back-04-part-payment-taken-back")

    assert service.balance("supplier") - before == CLAIM // 4
    financing = _ok(service.call("supplier", "GET", f"/v1/financings/{fid}"))
    assert financing["recourse_paid"] == "0"
    assert [p["kind"] for p in financing["recourse_payments"]] == ["PAYMENT", "WITHDRAWAL"]
