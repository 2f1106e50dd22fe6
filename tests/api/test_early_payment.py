"""Early payment, partial repayment and late interest through the API (issue 20, part B):
real anvil, real contracts, SQLite, the API over HTTP with its indexer running. The
amounts are checked against ledger_app/domain/clearing_amounts.py and the chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from apikit import Service
from standalone import standalone_completeness

from ledger_app.domain.clearing_amounts import early_payment, interest_shares, late_interest

FACE = 100_000_000
DAY = 86_400


@pytest.fixture(scope="module", autouse=True)
def funds(service: Service) -> None:
    service.mint("core", 100 * FACE)


def chain_time(service: Service) -> int:
    return int(service.client.get_block("latest")["timestamp"])


def due_in(service: Service, days: int) -> str:
    return (
        (datetime.fromtimestamp(chain_time(service), UTC) + timedelta(days=days)).date().isoformat()
    )


def due_ts(receivable: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(receivable["due_date"]).timestamp())


def warp_to(service: Service, timestamp: int) -> None:
    for method, params in (("evm_setNextBlockTimestamp", [timestamp]), ("evm_mine", [])):
        answer = httpx.post(service.settings.rpc_url,
                            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})  # fmt: skip
        assert "error" not in answer.json(), answer.text


def split(service: Service, receivable_id: int, amounts: list[int]) -> list[int]:
    response = service.call("supplier", "POST", f"/v1/receivables/{receivable_id}/split",
                            json={"amounts": [str(a) for a in amounts]})  # fmt: skip
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["result"][1:]]


def expires(service: Service, days: int = 7) -> str:
    return datetime.fromtimestamp(chain_time(service) + days * DAY, UTC).isoformat()


def test_early_payment_offered_by_the_core_and_accepted_by_the_supplier(service: Service) -> None:
    root = service.active(due_date=due_in(service, 60))
    leaf, rest = split(service, root["id"], [70_000_000, 30_000_000])
    offered = service.call("core", "POST", "/v1/clearing/early-payments", json={
        "leaf_id": leaf, "annual_rate_bps": 1_200, "day_count_basis": 360,
        "expires_at": expires(service)})  # fmt: skip
    assert offered.status_code == 201, offered.text
    offer = offered.json()["result"]
    assert (offer["status"], offer["leaf_id"], offer["root_id"]) == ("OPEN", leaf, root["id"])

    listed = service.call("supplier", "GET", "/v1/clearing/early-payments",
                          params={"leaf_id": leaf, "status": "OPEN"})  # fmt: skip
    assert listed.status_code == 200, listed.text
    (shown,) = listed.json()
    quote = early_payment(70_000_000, 1_200, due_ts(root), chain_time(service), 360)
    assert (shown["days_early"], shown["discount"], shown["paid"]) == (
        quote.days_early, str(quote.discount), str(quote.paid),
    )  # fmt: skip
    assert shown["discount"] != "0"
    outsider = service.call("supplier2", "GET", f"/v1/clearing/early-payments/{offer['offer_id']}")
    assert outsider.status_code == 404

    before = {w: service.balance(w) for w in ("core", "supplier")}
    not_holder = service.call("supplier2", "POST",
                              f"/v1/clearing/early-payments/{offer['offer_id']}/accept")  # fmt: skip
    accepted = service.call("supplier", "POST",
                            f"/v1/clearing/early-payments/{offer['offer_id']}/accept")  # fmt: skip
    assert not_holder.status_code in (403, 404), not_holder.text
    assert accepted.status_code == 200, accepted.text
    done = accepted.json()["result"]
    assert done["status"] == "ACCEPTED"
    paid = int(done["paid"])
    assert paid == 70_000_000 - int(done["discount"])
    assert done["discount"] == str(
        early_payment(70_000_000, 1_200, due_ts(root), due_ts(root) - done["days_early"] * DAY - 1, 360).discount
    )  # fmt: skip
    assert service.balance("supplier") == before["supplier"] + paid
    assert service.balance("core") == before["core"] - paid
    assert service.view("receivables", "outstanding", root["id"]) == 30_000_000

    clearing = service.call("supplier", "GET", f"/v1/clearing/{root['id']}").json()
    assert clearing["unsettled_leaves"] == [rest]
    assert clearing["amount_due"] == "30000000"
    again = service.call(
        "supplier", "POST", f"/v1/clearing/early-payments/{offer['offer_id']}/accept"
    )
    assert (again.status_code, again.json()["error"]) == (409, "ClearingEarlyPaymentNotOpen")

    trace = service.call("auditor", "GET", f"/v1/receivables/{root['id']}/trace").json()
    (step,) = [s for s in trace["steps"] if s["kind"] == "early_payment"]
    assert step["details"]["days_early"] == done["days_early"]
    assert {m["role"]: m["amount"] for m in step["amounts"]} == {
        "face": "70000000", "discount": done["discount"], "paid": done["paid"],
    }  # fmt: skip
    text = service.call(
        "auditor", "GET", f"/v1/receivables/{root['id']}/trace", params={"format": "text"}
    ).text
    oid = offer["offer_id"]
    assert (
        f"early_payment_offer | offer_id {oid}, annual_rate_bps 1200, day_count_basis 360" in text
    )
    assert f"early_payment | offer_id {oid}, days_early {done['days_early']} |" in text
    verdict = service.call("auditor", "POST", f"/v1/receivables/{root['id']}/trace/verify").json()
    assert verdict["verified"] is True, verdict
    # The standalone verifier's own copy of the rule finds the same tree complete.
    complete, said = standalone_completeness(trace, service.settings.rpc_url)
    assert complete, said
    assert {s["status"] for s in verdict["steps"]} == {"verified"}
    reconciled = service.call("auditor", "GET", "/v1/reconcile").json()
    assert reconciled["mismatches"] == [], reconciled


def test_early_payment_refusals_name_the_error_and_field(service: Service) -> None:
    root = service.active(due_date=due_in(service, 30))
    body = {"leaf_id": root["id"], "annual_rate_bps": 600, "expires_at": expires(service)}
    by_supplier = service.call("supplier", "POST", "/v1/clearing/early-payments", json=body)
    too_high = service.call("core", "POST", "/v1/clearing/early-payments",
                            json={**body, "annual_rate_bps": 10_001})  # fmt: skip
    bad_basis = service.call("core", "POST", "/v1/clearing/early-payments",
                             json={**body, "day_count_basis": 366})  # fmt: skip
    too_late = service.call("core", "POST", "/v1/clearing/early-payments",
                            json={**body, "expires_at": expires(service, 40)})  # fmt: skip
    assert by_supplier.status_code == 403, by_supplier.text
    assert too_high.status_code == 422, too_high.text
    assert bad_basis.status_code == 422, bad_basis.text
    assert too_late.status_code == 422, too_late.text
    assert too_late.json()["error"] == "ClearingInvalidEarlyPaymentTerms"
    assert too_late.json()["args"]["field"] == "expiry"
    unknown = service.call("core", "POST", "/v1/clearing/early-payments/999999/withdraw")
    assert unknown.status_code == 404, unknown.text


def test_a_leaf_listed_twice_in_repay_leaves_is_422_naming_the_field(service: Service) -> None:
    root = service.active(due_date=due_in(service, 30))
    twice = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay-leaves",
                         json={"leaf_ids": [root["id"], root["id"]]})  # fmt: skip
    assert twice.status_code == 422, twice.text
    assert twice.json()["args"]["fields"][0]["field"] == "leaf_ids"
    assert "more than once" in twice.json()["message"]


def test_register_late_interest_above_the_maximum_is_422_naming_the_field(service: Service) -> None:
    response = service.call("core", "POST", "/v1/receivables",
                            json=service.registration(late_interest_bps=10_001))  # fmt: skip
    assert response.status_code == 422, response.text
    assert "late_interest_bps" in response.text


def test_partial_repayment_then_late_repayment_with_interest_pro_rata(service: Service) -> None:
    root = service.active(due_date=due_in(service, 3), late_interest_bps=3_650, amount="1000003")
    assert root["late_interest_bps"] == 3_650
    a, b, c = split(service, root["id"], [333_337, 600_001, 66_665])
    before = service.balance("supplier")
    repaid = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay-leaves",
                          json={"leaf_ids": [a]})  # fmt: skip
    assert repaid.status_code == 200, repaid.text
    assert repaid.json()["result"]["unsettled_leaves"] == [b, c]
    assert service.balance("supplier") == before + 333_337
    stranger = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay-leaves",
                            json={"leaf_ids": [root["id"] + 1_000]})  # fmt: skip
    assert stranger.status_code == 422, stranger.text

    warp_to(service, due_ts(root) + 10 * DAY + 5)
    outstanding = 600_001 + 66_665
    interest = late_interest(outstanding, 3_650, 10)
    shown = service.call("core", "GET", f"/v1/clearing/{root['id']}").json()
    assert (shown["interest_due"], shown["amount_due"]) == (
        str(interest),
        str(outstanding + interest),
    )
    core = service.balance("core")
    paid = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay")
    assert paid.status_code == 200, paid.text
    assert paid.json()["result"]["late_interest"] == str(interest)
    assert service.balance("core") == core - outstanding - interest

    supplier = service.balance("supplier")
    redeemed = service.call("supplier", "POST", f"/v1/clearing/{root['id']}/redeem")
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["result"]["clearing"]["interest_unredeemed"] == "0"
    assert service.balance("supplier") == supplier + outstanding + interest
    trace = service.call("auditor", "GET", f"/v1/receivables/{root['id']}/trace").json()
    kinds = [s["kind"] for s in trace["steps"]]
    assert {"partial_repayment", "late_interest", "redemption"} <= set(kinds)
    shares = [
        int(next(m["amount"] for m in s["amounts"] if m["role"] == "late interest share"))
        for s in trace["steps"]
        if s["kind"] == "redemption"
    ]
    assert shares == interest_shares(interest, [600_001, 66_665])
    reconciled = service.call("auditor", "GET", "/v1/reconcile").json()
    assert reconciled["mismatches"] == [], reconciled
