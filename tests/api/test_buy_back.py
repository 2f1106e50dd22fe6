"""The financing lifecycle after funding through the API (issue 20): a financed
receivable sold to another financier, declared in default by its buyer, partly written
off, bought back by the supplier under recourse in two payments, then paid by the debtor
to the supplier; every refusal on the way a clear 4xx naming its field, and the trace
showing each step with amounts and actors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from apikit import Service
from standalone import standalone_completeness

FACE = 100_000_000
ADVANCE_BPS = 9_000
CLAIM = FACE * ADVANCE_BPS // 10_000
WRITTEN_OFF = 30_000_000
PRICE = 95_000_000
DAY = 86_400


def chain_time(service: Service) -> int:
    return int(service.client.get_block("latest")["timestamp"])


def at(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def rpc(service: Service, method: str, params: list[Any]) -> Any:
    answer = httpx.post(service.settings.rpc_url,
                        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()  # fmt: skip
    assert "error" not in answer, answer
    return answer.get("result")


def warp(service: Service, timestamp: int) -> None:
    """Mine the next block at ``timestamp`` and wait for the index to have it."""
    rpc(service, "evm_setNextBlockTimestamp", [timestamp])
    rpc(service, "evm_mine", [])
    runtime = service.app.state.runtime
    assert runtime.wait_indexed(service.client.block_number(), 60) is not None


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    return body["args"]


@pytest.fixture(scope="module")
def funded(service: Service) -> dict[str, Any]:
    """A receivable of FACE owed by core, financed with recourse by financier (90%
    advanced, one day's grace); lines from both financiers to core; tokens to pay with."""
    service.credit_line("financier", "core")
    service.credit_line("financier2", "core")
    for who in ("financier", "financier2", "supplier"):
        service.mint(who, 10**10)
    service.mint("core", 10**10)
    due = datetime.fromtimestamp(chain_time(service) + 30 * DAY, UTC).date().isoformat()
    receivable = service.active(due_date=due)
    asked = ok(service.call("supplier", "POST", "/v1/financings",
                            json={"receivable_id": receivable["id"],
                                  "financier": service.addresses["financier"]}), 201)  # fmt: skip
    financing = asked["result"]["id"]
    ok(service.call("financier", "POST", f"/v1/financings/{financing}/offers",
                    json={"advance_rate_bps": ADVANCE_BPS, "discount_rate_bps": 500,
                          "recourse": True, "grace_period_days": 1,
                          "expires_at": "2099-01-01T00:00:00Z"}), 201)  # fmt: skip
    ok(service.call("supplier", "POST", f"/v1/financings/{financing}/offers/0/accept"))
    return {"financing": financing, "receivable": receivable["id"],
            "due": int(datetime.fromisoformat(receivable["due_date"]).timestamp())}  # fmt: skip


def test_a_sale_moves_the_financing_and_the_receivable_to_the_buyer(
    service: Service, funded: dict[str, Any]
) -> None:
    fid, rid = funded["financing"], funded["receivable"]
    expiry = at(chain_time(service) + 5 * DAY)
    path = f"/v1/financings/{fid}/sales"
    bad = service.call("financier", "POST", path,
                       json={"buyer": service.addresses["financier2"], "price": "0",
                             "expiry": expiry})  # fmt: skip
    assert bad.status_code == 422, bad.text
    to_self = service.call("financier", "POST", path,
                           json={"buyer": service.addresses["financier"], "price": str(PRICE),
                                 "expiry": expiry})  # fmt: skip
    assert refused(to_self, 422, "FinancingSaleInvalid")["field"] == "buyer"
    not_seller = service.call("supplier", "POST", path,
                              json={"buyer": service.addresses["financier2"],
                                    "price": str(PRICE), "expiry": expiry})  # fmt: skip
    assert not_seller.status_code == 403, not_seller.text

    offered = ok(service.call("financier", "POST", path,
                              json={"buyer": service.addresses["financier2"],
                                    "price": str(PRICE), "expiry": expiry}), 201)  # fmt: skip
    (sale,) = offered["result"]["sales"]
    assert (sale["status"], sale["price"]) == ("OPEN", str(PRICE))
    # The named buyer sees what it is offered.
    seen = ok(service.call("financier2", "GET", f"/v1/financings/{fid}"))
    assert seen["sales"][0]["sale_id"] == sale["sale_id"]
    seller_buys = service.call("financier", "POST", f"/v1/financings/sales/{sale['sale_id']}/buy")
    assert refused(seller_buys, 403, "FinancingNotBuyer")["saleId"] == str(sale["sale_id"])

    before = (service.balance("financier"), service.balance("financier2"))
    bought = ok(service.call("financier2", "POST", f"/v1/financings/sales/{sale['sale_id']}/buy"))

    result = bought["result"]
    assert result["financier"] == service.addresses["financier2"]
    assert result["sales"][0]["status"] == "SOLD"
    assert (
        service.balance("financier") - before[0],
        before[1] - service.balance("financier2"),
    ) == (
        PRICE,
        PRICE,
    )
    receivable = ok(service.call("financier2", "GET", f"/v1/receivables/{rid}"))
    assert receivable["holder"] == service.addresses["financier2"]
    again = service.call("financier2", "POST", f"/v1/financings/sales/{sale['sale_id']}/buy")
    assert refused(again, 409, "FinancingSaleNotOpen")["current"] == "SOLD"


def test_default_write_off_and_buy_back_in_two_payments(
    service: Service, funded: dict[str, Any]
) -> None:
    fid, rid = funded["financing"], funded["receivable"]
    warp(service, funded["due"] + 2 * DAY)
    defaulted = ok(service.call("financier2", "POST", f"/v1/financings/{fid}/default"))
    assert defaulted["result"]["recourse_claim"] == str(CLAIM)
    assert defaulted["result"]["recourse_outstanding"] == str(CLAIM)

    line = service.credit_line("financier2", "core")
    written = ok(service.call("financier2", "POST", "/v1/credit-lines/write-offs",
                              json={"receivable_id": rid, "amount": str(WRITTEN_OFF)}))  # fmt: skip
    drawing = next(d for d in written["result"]["drawings"] if d["receivable_id"] == rid)
    assert (drawing["written_off"], drawing["released_block"]) == (str(WRITTEN_OFF), None)
    assert written["result"]["utilised"] == str(int(line["utilised"]) - WRITTEN_OFF)
    too_much = service.call("financier2", "POST", "/v1/credit-lines/write-offs",
                            json={"receivable_id": rid, "amount": str(FACE)})  # fmt: skip
    args = refused(too_much, 409, "CreditLineWriteOffAmount")
    assert (args["field"], args["drawn"]) == ("amount", str(FACE - WRITTEN_OFF))

    path = f"/v1/financings/{fid}/recourse-payments"
    not_supplier = service.call("financier2", "POST", path, json={"amount": "1"})
    assert not_supplier.status_code == 403, not_supplier.text
    first = ok(service.call("supplier", "POST", path, json={"amount": str(CLAIM // 3)}))
    assert (first["result"]["recourse_paid"], first["result"]["recourse_outstanding"]) == (
        str(CLAIM // 3),
        str(CLAIM - CLAIM // 3),
    )
    over = service.call("supplier", "POST", path, json={"amount": str(CLAIM)})
    args = refused(over, 409, "FinancingRecourseAmount")
    assert (args["field"], args["outstanding"]) == ("amount", str(CLAIM - CLAIM // 3))

    before = service.balance("financier2")
    last = ok(service.call("supplier", "POST", path, json={"amount": str(CLAIM - CLAIM // 3)}))

    result = last["result"]
    assert (result["status"], result["recourse_outstanding"]) == ("BOUGHT_BACK", "0")
    assert result["bought_back_block"] is not None
    assert [p["kind"] for p in result["recourse_payments"]] == ["PAYMENT", "PAYMENT"]
    assert service.balance("financier2") - before == CLAIM
    receivable = ok(service.call("supplier", "GET", f"/v1/receivables/{rid}"))
    assert (receivable["holder"], receivable["status"]) == (
        service.addresses["supplier"],
        "OVERDUE",
    )
    freed = service.credit_line("financier2", "core")
    assert int(freed["utilised"]) == int(line["utilised"]) - FACE
    again = service.call("supplier", "POST", path, json={"amount": "1"})
    assert refused(again, 409, "FinancingInvalidStatus")["current"] == "BOUGHT_BACK"


def test_the_debtor_pays_the_supplier_and_the_trace_shows_every_step(
    service: Service, funded: dict[str, Any]
) -> None:
    rid = funded["receivable"]
    ok(service.call("core", "POST", f"/v1/clearing/{rid}/repay"))
    before = service.balance("supplier")
    ok(service.call("supplier", "POST", f"/v1/clearing/{rid}/redeem"))
    assert service.balance("supplier") - before == FACE

    text = service.call("auditor", "GET", f"/v1/receivables/{rid}/trace", params={"format": "text"})
    assert text.status_code == 200, text.text
    trace = ok(service.call("auditor", "GET", f"/v1/receivables/{rid}/trace"))
    kinds = [s["kind"] for s in trace["steps"]]
    for kind in ("sale_offer", "sale", "write_off", "recourse_payment", "buy_back"):
        assert kind in kinds, (kind, kinds)
    sale = next(s for s in trace["steps"] if s["kind"] == "sale")
    assert sale["actors"] == {"seller": service.addresses["financier"].lower(),
                              "buyer": service.addresses["financier2"].lower()}  # fmt: skip
    assert sale["amounts"] == [{"role": "price", "amount": str(PRICE), "currency": "CNY"}]
    bought = next(s for s in trace["steps"] if s["kind"] == "buy_back")
    assert bought["amounts"][0]["amount"] == str(CLAIM)
    write_off = next(s for s in trace["steps"] if s["kind"] == "write_off")
    assert write_off["amounts"][0] == {"role": "written off", "amount": str(WRITTEN_OFF),
                                       "currency": "CNY"}  # fmt: skip
    assert "buy_back" in text.text
    assert "recourse_payment" in text.text
    verified = ok(service.call("auditor", "POST", f"/v1/receivables/{rid}/trace/verify"))
    assert verified["verified"] is True, verified
    # The standalone verifier's own copy of the rule finds the same tree complete.
    complete, said = standalone_completeness(trace, service.settings.rpc_url)
    assert complete, said
