"""Financing through the API: request, quote, offer (escrowed), accept, reject, withdraw,
cancel, declare default; who sees which financing; bad terms refused before sending."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from apikit import Service

from ledger_app.domain import financing as arithmetic

FACE = 100_000_000


def terms(**overrides: Any) -> dict[str, Any]:
    body = {
        "advance_rate_bps": 9000,
        "discount_rate_bps": 600,
        "day_count_basis": 365,
        "recourse": True,
        "grace_period_days": 0,
        "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "fee": "50000",
    }
    body.update(overrides)
    return body


def request(service: Service, financier: str | None = "financier", **receivable: Any) -> dict:
    active = service.active(**receivable)
    body: dict[str, Any] = {"receivable_id": active["id"]}
    if financier:
        body["financier"] = service.addresses[financier]
    response = service.call("supplier", "POST", "/v1/financings", json=body)
    assert response.status_code == 201, response.text
    return response.json()["result"]


def offer(service: Service, financing_id: int, who: str = "financier", **overrides: Any) -> dict:
    response = service.call(who, "POST", f"/v1/financings/{financing_id}/offers",
                            json=terms(**overrides))  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["result"]


@pytest.fixture(scope="module", autouse=True)
def funded(service: Service) -> None:
    """Both financiers hold CNY to escrow offers with, and a line to core to fund within."""
    service.mint("financier", 10 * FACE)
    service.mint("financier2", 10 * FACE)
    service.credit_line("financier")
    service.credit_line("financier2")


def test_request_quote_offer_accept_pays_the_supplier_and_hands_over_the_receivable(
    service: Service,
) -> None:
    financing = request(service)
    quote = service.call("financier", "POST", f"/v1/financings/{financing['id']}/quote",
                         json=terms())  # fmt: skip
    supplier, financier = service.balance("supplier"), service.balance("financier")

    offered = offer(service, financing["id"])
    escrowed = service.balance("financier")
    accepted = service.call("supplier", "POST",
                            f"/v1/financings/{financing['id']}/offers/0/accept")  # fmt: skip

    assert financing["status"] == "REQUESTED"
    assert quote.status_code == 200, quote.text
    q = quote.json()
    days = q["days_to_maturity"]
    expected = arithmetic.offer_amounts(FACE, 9000, 600, days, 50000, 365)
    assert (int(q["advance"]), int(q["discount"]), int(q["proceeds"])) == tuple(expected)
    made = offered["offers"][0]
    assert (made["advance"], made["discount"], made["fee"], made["proceeds"]) == (
        q["advance"], q["discount"], "50000", q["proceeds"])  # fmt: skip
    assert escrowed == financier - expected.proceeds
    assert accepted.status_code == 200, accepted.text
    result = accepted.json()["result"]
    assert (result["status"], result["accepted_offer"]) == ("FUNDED", 0)
    assert result["financier"] == service.addresses["financier"]
    assert service.balance("supplier") == supplier + expected.proceeds
    assert service.balance("financier") == escrowed
    on_chain = service.view("financing_desk", "financing", financing["id"])
    assert on_chain[3] == 3  # FUNDED
    receivable = service.call("financier", "GET", f"/v1/receivables/{financing['receivable_id']}")
    assert receivable.json()["holder"] == service.addresses["financier"]
    assert receivable.json()["status"] == "FINANCED"


def test_open_request_takes_offers_from_any_financier_and_refunds_the_ones_not_taken(
    service: Service,
) -> None:
    financing = request(service, financier=None)
    balances = {who: service.balance(who) for who in ("financier", "financier2")}
    first = offer(service, financing["id"])
    second = offer(service, financing["id"], who="financier2", advance_rate_bps=8000)
    offer(service, financing["id"], advance_rate_bps=8500)
    path = f"/v1/financings/{financing['id']}"

    rejected = service.call("supplier", "POST", f"{path}/offers/0/reject")
    withdrawn = service.call("financier2", "POST", f"{path}/offers/1/withdraw")
    cancelled = service.call("supplier", "POST", f"{path}/cancel")

    assert len(first["offers"]) == 1
    # A financier sees its own offers only; the supplier sees them all.
    assert [o["financier"] for o in second["offers"]] == [service.addresses["financier2"]]
    assert rejected.json()["result"]["status"] == "OFFERED"
    assert withdrawn.json()["result"]["offers"][0]["status"] == "WITHDRAWN"
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["result"]["status"] == "CLOSED"
    assert [o["status"] for o in cancelled.json()["result"]["offers"]] == [
        "REJECTED", "WITHDRAWN", "SUPERSEDED"]  # fmt: skip
    assert {who: service.balance(who) for who in balances} == balances
    receivable = service.call("supplier", "GET", f"/v1/receivables/{financing['receivable_id']}")
    assert receivable.json()["status"] == "ACTIVE"


def test_a_financier_sees_requests_named_to_it_open_ones_and_its_own_but_not_anothers(
    service: Service,
) -> None:
    named = request(service, financier="financier")
    open_one = request(service, financier=None)

    other = service.call("financier2", "GET", f"/v1/financings/{named['id']}")
    offer_other = service.call("financier2", "POST", f"/v1/financings/{named['id']}/offers",
                               json=terms())  # fmt: skip
    listed2 = service.call("financier2", "GET", "/v1/financings", params={"limit": 500}).json()
    listed1 = service.call("financier", "GET", "/v1/financings", params={"limit": 500}).json()
    listed_by_supplier2 = service.call("supplier2", "GET", "/v1/financings").json()

    assert other.status_code == 404
    assert offer_other.status_code == 404
    ids2 = {f["id"] for f in listed2["items"]}
    assert open_one["id"] in ids2
    assert named["id"] not in ids2
    assert {named["id"], open_one["id"]} <= {f["id"] for f in listed1["items"]}
    assert listed_by_supplier2["items"] == []


def test_declare_default_after_the_grace_period_records_the_recourse_claim(
    service: Service,
) -> None:
    due = date.today() + timedelta(days=2)
    financing = request(service, due_date=due.isoformat())
    offered = offer(service, financing["id"], grace_period_days=0)
    service.call("supplier", "POST", f"/v1/financings/{financing['id']}/offers/0/accept")
    early = service.call("financier", "POST", f"/v1/financings/{financing['id']}/default")
    due_at = int(datetime.fromisoformat(financing["due_date"]).timestamp())
    warp(service, due_at + 2)

    declared = service.call("financier", "POST", f"/v1/financings/{financing['id']}/default")

    assert early.status_code == 409, early.text
    assert early.json()["error"] == "FinancingDefaultTooEarly"
    assert declared.status_code == 200, declared.text
    result = declared.json()["result"]
    assert result["status"] == "DEFAULTED"
    assert result["recourse_claim"] == offered["offers"][0]["advance"]
    receivable = service.call("financier", "GET", f"/v1/receivables/{financing['receivable_id']}")
    assert receivable.json()["status"] == "DEFAULTED"


def warp(service: Service, timestamp: int) -> None:
    """Mine the next block at ``timestamp`` (the chain's clock only moves forward)."""
    for method, params in (("evm_setNextBlockTimestamp", [timestamp]), ("evm_mine", [])):
        answer = httpx.post(service.settings.rpc_url,
                            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})  # fmt: skip
        assert "error" not in answer.json(), answer.text


TERMS_CASES = {
    "advance rate 0": ({"advance_rate_bps": 0}, "advance_rate_bps"),
    "advance rate over 100%": ({"advance_rate_bps": 10001}, "advance_rate_bps"),
    "negative discount": ({"discount_rate_bps": -1}, "discount_rate_bps"),
    "day count 366": ({"day_count_basis": 366}, "day_count_basis"),
    "float fee": ({"fee": 1.5}, "fee"),
    "negative fee": ({"fee": "-1"}, "fee"),
    "expired offer": ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    "missing expiry": ({"expires_at": None}, "expires_at"),
    "fee eats the advance": ({"fee": str(FACE)}, "fee"),
}


@pytest.mark.parametrize(("changes", "field"), TERMS_CASES.values(), ids=TERMS_CASES)
def test_bad_terms_are_422_naming_the_field_and_send_nothing(
    service: Service, changes: dict[str, Any], field: str
) -> None:
    financing = request(service)
    body = terms(**changes)
    body = {k: v for k, v in body.items() if v is not None}
    nonce = service.nonce("financier")

    response = service.call("financier", "POST", f"/v1/financings/{financing['id']}/offers",
                            json=body)  # fmt: skip

    assert response.status_code == 422, response.text
    problem = response.json()
    fields = [f["field"] for f in problem["args"].get("fields", [])] or [problem["args"]["field"]]
    assert field in fields
    assert service.nonce("financier") == nonce


def test_bad_request_is_422_and_sends_nothing(service: Service) -> None:
    active = service.active()
    nonce = service.nonce("supplier")

    zero = service.call("supplier", "POST", "/v1/financings", json={"receivable_id": 0})
    malformed = service.call("supplier", "POST", "/v1/financings",
                             json={"receivable_id": active["id"], "financier": "0x12"})  # fmt: skip
    not_financier = service.call("supplier", "POST", "/v1/financings",
                                 json={"receivable_id": active["id"],
                                       "financier": service.addresses["core"]})  # fmt: skip

    assert zero.json()["args"]["fields"][0]["field"] == "receivable_id"
    assert malformed.json()["args"]["fields"][0]["field"] == "financier"
    assert (not_financier.status_code, not_financier.json()["args"]["field"]) == (409, "financier")
    assert not_financier.json()["error"] == "FinancierNotActive"
    assert service.nonce("supplier") == nonce
