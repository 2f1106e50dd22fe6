"""Credit lines through the API: grant, amend, programme sub-limits, close, freeze, write-off,
who sees which line; bad input refused before sending, naming the field; and an accept the
line does not cover refused by the contract with the figures and the field at fault."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from apikit import Service, onboard

from ledger_app.api.errors import error_body
from ledger_app.domain import risk as risk_figures
from ledger_app.errors import TransactionReverted

FACE = 100_000_000
DAY = 86_400
UNKNOWN_ACCOUNT = "0x" + "0" * 39 + "1"


# --- helpers --------------------------------------------------------------------------


def chain_time(service: Service) -> int:
    return int(service.client.get_block("latest")["timestamp"])


def at(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def lowered(args: dict[str, Any]) -> dict[str, Any]:
    """A refusal's args with addresses compared case-insensitively."""
    return {k: v.lower() if isinstance(v, str) and v.startswith("0x") else v
            for k, v in args.items()}  # fmt: skip


def grant(service: Service, who: str, obligor: str = "core", limit: int = 10 * FACE,
          expiry: int | None = None, currency: str = "CNY") -> httpx.Response:  # fmt: skip
    body = {"obligor": service.addresses.get(obligor, obligor), "currency": currency,
            "limit": str(limit), "expiry": at(expiry or chain_time(service) + 365 * DAY)}  # fmt: skip
    return service.call(who, "POST", "/v1/credit-lines", json=body)


def granted(service: Service, who: str, **kwargs: Any) -> dict[str, Any]:
    response = grant(service, who, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()["result"]


def offered(service: Service, financier: str, debtor: str = "core", supplier: str = "supplier",
            **receivable: Any) -> int:  # fmt: skip
    """A receivable owed by ``debtor`` to ``supplier``, its financing asked of ``financier``
    and offered by it (escrowed); the financing's id."""
    # Due well after the chain's clock, which the tests at the end of the module move.
    receivable.setdefault("due_date", day(chain_time(service) + 120 * DAY))
    active = service.active(who=debtor, creditor=service.addresses[supplier], **receivable)
    asked = service.call(supplier, "POST", "/v1/financings",
                         json={"receivable_id": active["id"],
                               "financier": service.addresses[financier]})  # fmt: skip
    assert asked.status_code == 201, asked.text
    financing = asked.json()["result"]["id"]
    made = service.call(financier, "POST", f"/v1/financings/{financing}/offers",
                        json={"advance_rate_bps": 9000, "discount_rate_bps": 500,
                              "expires_at": "2099-01-01T00:00:00Z"})  # fmt: skip
    assert made.status_code == 201, made.text
    return financing


def accept(service: Service, financing: int, supplier: str = "supplier") -> httpx.Response:
    return service.call(supplier, "POST", f"/v1/financings/{financing}/offers/0/accept")


def line_of(service: Service, who: str, line_id: int) -> dict[str, Any]:
    response = service.call(who, "GET", f"/v1/credit-lines/{line_id}")
    assert response.status_code == 200, response.text
    return response.json()


def rpc(service: Service, method: str, params: list[Any]) -> Any:
    answer = httpx.post(service.settings.rpc_url,
                        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()  # fmt: skip
    assert "error" not in answer, answer
    return answer.get("result")


def warp(service: Service, timestamp: int) -> None:
    """Mine the next block at ``timestamp`` and wait for the index to have it."""
    rpc(service, "evm_setNextBlockTimestamp", [timestamp])
    rpc(service, "evm_mine", [])
    mined = service.client.block_number()
    with service.http("auditor") as http:
        for _ in range(300):
            if int(http.get("/v1/participants/me").headers.get("X-Ledger-Block", 0)) >= mined:
                break
            time.sleep(0.1)


@pytest.fixture(scope="module", autouse=True)
def cast(service: Service) -> None:
    """More financiers (each scenario its own lines), all holding CNY to escrow offers."""
    for name in ("financier3", "financier4", "financier5"):
        onboard(service, name, ["FINANCIER"])
    for name in ("financier", "financier2", "financier3", "financier4", "financier5"):
        service.mint(name, 20 * FACE)


# --- the revert's answer: the error's values and the field it is about ------------------


def test_a_line_exceeded_revert_names_the_line_and_the_figures() -> None:
    error = TransactionReverted(
        "eth_estimateGas reverted: CreditLineExceeded(...)",
        error_name="CreditLineExceeded",
        error_args={"lineId": 3, "limit": 500, "utilised": 400, "requested": 200},
    )

    body = error_body(error)

    assert body["args"] == {"field": "line_id", "lineId": "3", "limit": "500",
                            "utilised": "400", "requested": "200"}  # fmt: skip
    assert body["message"] == (
        "credit line 3 has 400 of its limit 500 used; 200 more would exceed it"
    )


def test_invalid_terms_keep_the_field_the_contract_names() -> None:
    error = TransactionReverted("refused", error_name="CreditLineInvalidTerms",
                                error_args={"field": "expiry", "value": 7})  # fmt: skip

    assert error_body(error)["args"] == {"field": "expiry", "value": "7"}


# --- grant and read ---------------------------------------------------------------------


def test_grant_answers_the_line_as_the_chain_holds_it(service: Service) -> None:
    expiry = chain_time(service) + 200 * DAY

    line = granted(service, "financier", limit=10 * FACE, expiry=expiry)

    assert line["financier"] == service.addresses["financier"]
    assert line["obligor"] == service.addresses["core"]
    assert (line["currency"], line["limit"], line["utilised"]) == ("CNY", str(10 * FACE), "0")
    assert (line["headroom"], line["utilisation_bps"]) == (str(10 * FACE), 0)
    assert (line["status"], line["frozen"], line["expired"], line["programme"]) == (
        "OPEN", False, False, False)  # fmt: skip
    assert datetime.fromisoformat(line["expiry"]).timestamp() == expiry
    assert (line["suppliers"], line["drawings"]) == ([], [])
    assert line["granted_block"] == line["updated_block"] > 0
    on_chain = service.view("credit_lines", "creditLine", line["line_id"])
    assert on_chain[0].lower() == service.addresses["financier"].lower()
    assert (on_chain[3], on_chain[6], on_chain[7], on_chain[8]) == (1, expiry, 10 * FACE, 0)
    assert line_of(service, "financier", line["line_id"]) == line


def test_a_second_open_line_to_the_same_obligor_is_refused(service: Service) -> None:
    first = service.credit_line("financier")

    again = grant(service, "financier")

    assert again.status_code == 409, again.text
    body = again.json()
    assert body["error"] == "CreditLineExists"
    assert body["args"]["field"] == "obligor"
    assert body["args"]["lineId"] == str(first["line_id"])


BAD_GRANTS = {
    "zero limit": ({"limit": "0"}, 422, "ValidationFailed", "limit"),
    "negative limit": ({"limit": -5}, 422, "ValidationFailed", "limit"),
    "past expiry": ({"expiry": "past"}, 422, "CreditLineInvalidTerms", "expiry"),
    "unknown obligor": ({"obligor": UNKNOWN_ACCOUNT}, 404, "AccountNotParticipant", "obligor"),
    "a supplier as obligor": ({"obligor": "supplier"}, 422, "CounterpartyLacksRole", "obligor"),
    "currency not listed": ({"currency": "USD"}, 409, "CreditLineCurrencyNotListed", "currency"),
    "currency not a code": ({"currency": "yuan"}, 422, "ValidationFailed", "currency"),
    "expiry without a zone": ({"expiry": "2099-01-01T00:00:00"}, 422, "ValidationFailed",
                              "expiry"),
}  # fmt: skip


@pytest.mark.parametrize(("change", "status", "error", "field"), BAD_GRANTS.values(),
                         ids=BAD_GRANTS.keys())  # fmt: skip
def test_a_bad_grant_is_refused_naming_the_field_and_sends_nothing(
    service: Service, change: dict[str, Any], status: int, error: str, field: str
) -> None:
    body = {"obligor": service.addresses["core2"], "currency": "CNY", "limit": str(FACE),
            "expiry": at(chain_time(service) + 30 * DAY)}  # fmt: skip
    body.update(change)
    if body["obligor"] in service.addresses:
        body["obligor"] = service.addresses[body["obligor"]]
    if body["expiry"] == "past":
        body["expiry"] = at(chain_time(service) - DAY)
    nonce = service.nonce("financier3")

    response = service.call("financier3", "POST", "/v1/credit-lines", json=body)

    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["error"] == error
    if error == "ValidationFailed":
        assert [f["field"] for f in answer["args"]["fields"]] == [field]
    else:
        assert answer["args"]["field"] == field
    assert "eth_" not in answer["message"]
    assert "revert" not in answer["message"]
    assert service.nonce("financier3") == nonce


def test_an_unknown_line_is_404_naming_the_line(service: Service) -> None:
    for method, path, body in (
        ("GET", "/v1/credit-lines/999999", None),
        ("PATCH", "/v1/credit-lines/999999", {"limit": "5"}),
        ("PUT", f"/v1/credit-lines/999999/suppliers/{service.addresses['supplier']}",
         {"limit": "5"}),
        ("POST", "/v1/credit-lines/999999/close", None),
    ):  # fmt: skip
        response = service.call("financier", method, path, json=body)

        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"] == "CreditLineUnknown"
        assert response.json()["args"]["field"] == "line_id"


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_another_method_on_write_offs_is_405_not_a_malformed_line_id(
    service: Service, method: str
) -> None:
    # /write-offs is no line id: the write-off route's 405, with what it allows.
    response = service.call("financier", method, "/v1/credit-lines/write-offs",
                            json={"receivable_id": 7})  # fmt: skip

    assert response.status_code == 405, response.text
    assert response.headers["Allow"] == "POST"


# --- roles and visibility ---------------------------------------------------------------


WRONG_ROLES = [
    ("supplier", "POST", "/v1/credit-lines", "grant"),
    ("core", "POST", "/v1/credit-lines", "grant"),
    ("auditor", "POST", "/v1/credit-lines", "grant"),
    ("operator", "POST", "/v1/credit-lines", "grant"),
    ("core", "PATCH", "/v1/credit-lines/{line}", {"limit": "1"}),
    ("regulator", "PATCH", "/v1/credit-lines/{line}", {"limit": "1"}),
    ("supplier", "PUT", "/v1/credit-lines/{line}/suppliers/{supplier}", {"limit": "1"}),
    ("core", "DELETE", "/v1/credit-lines/{line}/suppliers/{supplier}", None),
    ("regulator", "POST", "/v1/credit-lines/{line}/close", None),
    ("financier", "POST", "/v1/credit-lines/{line}/freeze", None),
    ("operator", "POST", "/v1/credit-lines/{line}/unfreeze", None),
    ("supplier", "POST", "/v1/credit-lines/write-offs", {"receivable_id": 1}),
    ("bank", "GET", "/v1/credit-lines", None),
    ("fx", "GET", "/v1/credit-lines/{line}", None),
]


@pytest.mark.parametrize(("who", "method", "path", "body"), WRONG_ROLES,
                         ids=[f"{w[0]}-{w[1]}-{w[2]}" for w in WRONG_ROLES])  # fmt: skip
def test_a_wrong_role_is_403_and_nothing_is_sent(
    service: Service, who: str, method: str, path: str, body: Any
) -> None:
    line = service.credit_line("financier")
    path = path.format(line=line["line_id"], supplier=service.addresses["supplier"])
    if body == "grant":
        body = {"obligor": service.addresses["core"], "currency": "CNY", "limit": "1",
                "expiry": "2099-01-01T00:00:00Z"}  # fmt: skip
    address = service.operator_address if who == "operator" else service.addresses[who]
    nonce = service.client.get_transaction_count(address)

    response = service.call(who, method, path, json=body)

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "RoleNotAllowed"
    assert service.client.get_transaction_count(address) == nonce


def test_another_financier_can_neither_see_nor_change_a_line(service: Service) -> None:
    line = service.credit_line("financier")
    path = f"/v1/credit-lines/{line['line_id']}"
    nonce = service.nonce("financier2")

    answers = [
        service.call("financier2", "GET", path),
        service.call("financier2", "PATCH", path, json={"limit": "1"}),
        service.call("financier2", "PUT", f"{path}/suppliers/{service.addresses['supplier']}",
                     json={"limit": "1"}),
        service.call("financier2", "DELETE", f"{path}/suppliers/{service.addresses['supplier']}"),
        service.call("financier2", "POST", f"{path}/close"),
    ]  # fmt: skip
    listed = service.call("financier2", "GET", "/v1/credit-lines", params={"limit": 500})

    assert [a.status_code for a in answers] == [404] * 5, [a.text for a in answers]
    assert {a.json()["error"] for a in answers} == {"CreditLineUnknown"}
    assert line["line_id"] not in {item["line_id"] for item in listed.json()["items"]}
    assert service.nonce("financier2") == nonce
    assert line_of(service, "financier", line["line_id"])["limit"] == line["limit"]


def test_the_obligor_and_the_readers_see_the_line_another_core_does_not(
    service: Service,
) -> None:
    line = service.credit_line("financier")

    seen = {who: service.call(who, "GET", f"/v1/credit-lines/{line['line_id']}")
            for who in ("core", "auditor", "regulator", "operator", "core2", "supplier2")}  # fmt: skip
    by_core = service.call("core", "GET", "/v1/credit-lines",
                           params={"obligor": service.addresses["core"]}).json()["items"]  # fmt: skip
    by_core2 = service.call("core2", "GET", "/v1/credit-lines").json()["items"]

    assert {w: r.status_code for w, r in seen.items()} == {
        "core": 200, "auditor": 200, "regulator": 200, "operator": 200, "core2": 404,
        "supplier2": 404}  # fmt: skip
    assert seen["core"].json()["line_id"] == line["line_id"]
    assert line["line_id"] in {item["line_id"] for item in by_core}
    assert all(item["obligor"] == service.addresses["core"] for item in by_core)
    assert all(item["obligor"] == service.addresses["core2"] for item in by_core2)


def test_the_list_filters_by_financier_obligor_currency_and_status(service: Service) -> None:
    line = service.credit_line("financier")

    def ids(who: str, **params: Any) -> set[int]:
        response = service.call(who, "GET", "/v1/credit-lines", params=params)
        assert response.status_code == 200, response.text
        return {item["line_id"] for item in response.json()["items"]}

    mine = {"financier": service.addresses["financier"], "obligor": service.addresses["core"]}
    assert line["line_id"] in ids("auditor", **mine, currency="CNY", status="OPEN")
    assert line["line_id"] not in ids("auditor", **mine, status="CLOSED")
    assert line["line_id"] not in ids("auditor", financier=service.addresses["financier2"])
    bad = service.call("auditor", "GET", "/v1/credit-lines", params={"status": "SHUT"})
    assert bad.status_code == 422, bad.text
    # Paged by id: one at a time, each page's cursor to the next, every line once.
    every = ids("auditor", limit=500)
    paged, cursor = [], None
    while True:
        params = {"limit": 1} | ({} if cursor is None else {"cursor": cursor})
        page = service.call("auditor", "GET", "/v1/credit-lines", params=params).json()
        paged += [item["line_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == sorted(every)


# --- amend, programme, close ------------------------------------------------------------


def test_amend_changes_the_term_given_and_keeps_the_other(service: Service) -> None:
    line = granted(service, "financier3", obligor="core", limit=FACE)
    path = f"/v1/credit-lines/{line['line_id']}"
    later = chain_time(service) + 400 * DAY

    raised = service.call("financier3", "PATCH", path, json={"limit": str(3 * FACE)})
    moved = service.call("financier3", "PATCH", path, json={"expiry": at(later)})
    nothing = service.call("financier3", "PATCH", path, json={})
    zero = service.call("financier3", "PATCH", path, json={"limit": "0"})
    past = service.call("financier3", "PATCH", path,
                        json={"expiry": at(chain_time(service) - 10)})  # fmt: skip

    assert raised.status_code == 200, raised.text
    assert raised.json()["result"]["limit"] == str(3 * FACE)
    assert raised.json()["result"]["expiry"] == line["expiry"]
    assert moved.status_code == 200, moved.text
    assert moved.json()["result"]["limit"] == str(3 * FACE)
    assert datetime.fromisoformat(moved.json()["result"]["expiry"]).timestamp() == later
    assert (nothing.status_code, nothing.json()["error"]) == (422, "ValidationFailed")
    assert (zero.status_code, zero.json()["error"]) == (422, "ValidationFailed")
    assert (past.status_code, past.json()["error"]) == (422, "CreditLineInvalidTerms")
    assert past.json()["args"]["field"] == "expiry"
    assert service.view("credit_lines", "creditLine", line["line_id"])[7] == 3 * FACE


def test_a_programme_names_suppliers_each_within_the_line(service: Service) -> None:
    line = granted(service, "financier3", obligor="core2", limit=2 * FACE)
    path = f"/v1/credit-lines/{line['line_id']}/suppliers"
    supplier, supplier2 = service.addresses["supplier"], service.addresses["supplier2"]

    above = service.call("financier3", "PUT", f"{path}/{supplier}", json={"limit": str(3 * FACE)})
    not_supplier = service.call("financier3", "PUT", f"{path}/{service.addresses['core']}",
                                json={"limit": "5"})  # fmt: skip
    unknown = service.call("financier3", "PUT", f"{path}/{UNKNOWN_ACCOUNT}", json={"limit": "5"})
    named = service.call("financier3", "PUT", f"{path}/{supplier}", json={"limit": str(FACE)})
    named2 = service.call("financier3", "PUT", f"{path}/{supplier2}", json={"limit": "7"})
    removed = service.call("financier3", "DELETE", f"{path}/{supplier2}")

    assert (above.status_code, above.json()["error"]) == (422, "CreditLineSubLimitAboveLimit")
    assert above.json()["args"]["field"] == "limit"
    assert (not_supplier.status_code, not_supplier.json()["error"]) == (
        422, "CounterpartyLacksRole")  # fmt: skip
    assert not_supplier.json()["args"]["field"] == "supplier"
    assert (unknown.status_code, unknown.json()["args"]["field"]) == (404, "supplier")
    assert named.status_code == 200, named.text
    assert named2.status_code == 200, named2.text
    result = removed.json()["result"]
    assert result["programme"] is True
    assert {s["supplier"]: s["limit"] for s in result["suppliers"]} == {
        supplier: str(FACE), supplier2: "0"}  # fmt: skip
    # A supplier named on the programme sees the line with its own sub-limit only.
    seen = line_of(service, "supplier", line["line_id"])
    assert [s["supplier"] for s in seen["suppliers"]] == [supplier]
    assert seen["suppliers"][0]["headroom"] == str(FACE)


def test_a_supplier_off_the_programme_cannot_draw_on_it(service: Service) -> None:
    line = service.credit_line("financier3", "core2")  # the programme above: supplier only
    financing = offered(service, "financier3", debtor="core2", supplier="supplier2")
    nonce = service.nonce("supplier2")

    refused = accept(service, financing, "supplier2")

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "CreditLineSupplierNotEligible"
    assert body["args"]["field"] == "supplier"
    assert body["args"]["lineId"] == str(line["line_id"])
    assert service.nonce("supplier2") == nonce


def test_a_supplier_over_its_sub_limit_is_refused_with_the_figures(service: Service) -> None:
    line = service.credit_line("financier3", "core2")
    sub = f"/v1/credit-lines/{line['line_id']}/suppliers/{service.addresses['supplier']}"
    halved = service.call("financier3", "PUT", sub, json={"limit": str(FACE // 2)})
    assert halved.status_code == 200, halved.text
    financing = offered(service, "financier3", debtor="core2")

    refused = accept(service, financing)

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "CreditLineSubLimitExceeded"
    assert lowered(body["args"]) == lowered({
        "field": "supplier", "lineId": str(line["line_id"]),
        "supplier": service.addresses["supplier"], "limit": str(FACE // 2), "utilised": "0",
        "requested": str(FACE)})  # fmt: skip


def test_taking_off_a_supplier_never_named_is_refused_and_the_line_stays_open_to_all(
    service: Service,
) -> None:
    # CreditLines.setSupplierLimit(line, supplier, 0) for a supplier never named would make
    # the line a programme with nobody on it: every accept on it refused from then on.
    line = granted(service, "financier5", obligor="core")
    path = f"/v1/credit-lines/{line['line_id']}/suppliers/{service.addresses['supplier2']}"
    nonce = service.nonce("financier5")

    removed = service.call("financier5", "DELETE", path)

    assert (removed.status_code, removed.json()["error"]) == (404, "CreditLineSupplierNotNamed")
    assert removed.json()["args"]["field"] == "supplier"
    assert service.nonce("financier5") == nonce
    assert service.view("credit_lines", "creditLine", line["line_id"])[5] is False


# --- accept draws on the line -------------------------------------------------------------


def test_accept_draws_the_face_amount_and_clearing_frees_it(service: Service) -> None:
    line = service.credit_line("financier")
    used = int(line["utilised"])
    financing = offered(service, "financier", due_date=day(chain_time(service) + 3 * DAY))

    accepted = accept(service, financing)

    assert accepted.status_code == 200, accepted.text
    receivable = accepted.json()["result"]["receivable_id"]
    drawn = line_of(service, "financier", line["line_id"])
    assert drawn["utilised"] == str(used + FACE)
    assert drawn["headroom"] == str(int(drawn["limit"]) - used - FACE)
    assert drawn["utilisation_bps"] == (used + FACE) * 10_000 // int(drawn["limit"])
    assert drawn["band"] == risk_figures.band(drawn["utilisation_bps"])
    drawing = next(d for d in drawn["drawings"] if d["receivable_id"] == receivable)
    assert (drawing["financing_id"], drawing["amount"], drawing["supplier"]) == (
        financing, str(FACE), service.addresses["supplier"])  # fmt: skip
    assert (drawing["released_block"], drawing["release_cause"]) == (None, None)
    assert service.view("credit_lines", "creditLine", line["line_id"])[8] == used + FACE

    service.mint("core", FACE)
    due_at = int(datetime.fromisoformat(accepted.json()["result"]["due_date"]).timestamp())
    warp(service, max(due_at + 1, chain_time(service) + 1))
    repaid = service.call("core", "POST", f"/v1/clearing/{receivable}/repay")
    assert repaid.status_code == 200, repaid.text
    redeemed = service.call("financier", "POST", f"/v1/clearing/leaves/{receivable}/redeem")
    assert redeemed.status_code == 200, redeemed.text

    freed = line_of(service, "financier", line["line_id"])
    assert freed["utilised"] == str(used)
    released = next(d for d in freed["drawings"] if d["receivable_id"] == receivable)
    assert released["release_cause"] == "REPAID"
    assert released["released_block"] >= drawing["drawn_block"]


def test_accept_over_the_line_is_409_with_limit_utilised_and_requested(
    service: Service,
) -> None:
    line = granted(service, "financier2", obligor="core", limit=FACE + FACE // 2)
    first = offered(service, "financier2")
    assert accept(service, first).status_code == 200
    financing = offered(service, "financier2")
    nonce = service.nonce("supplier")

    refused = accept(service, financing)

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "CreditLineExceeded"
    assert body["args"] == {"field": "line_id", "lineId": str(line["line_id"]),
                            "limit": str(FACE + FACE // 2), "utilised": str(FACE),
                            "requested": str(FACE)}  # fmt: skip
    assert "eth_" not in body["message"]
    assert "0x" not in body["message"]
    assert service.nonce("supplier") == nonce
    shown = service.call("supplier", "GET", f"/v1/financings/{financing}").json()
    assert shown["status"] == "OFFERED"
    # Amending the limit below what is used is refused, naming the limit.
    below = service.call("financier2", "PATCH", f"/v1/credit-lines/{line['line_id']}",
                         json={"limit": str(FACE - 1)})  # fmt: skip
    assert (below.status_code, below.json()["error"]) == (409, "CreditLineBelowUtilisation")
    assert below.json()["args"]["field"] == "limit"
    # Raised, the line takes it.
    raised = service.call("financier2", "PATCH", f"/v1/credit-lines/{line['line_id']}",
                          json={"limit": str(3 * FACE)})  # fmt: skip
    assert raised.status_code == 200, raised.text
    assert accept(service, financing).status_code == 200


def test_accept_without_a_line_is_refused_naming_the_missing_line(service: Service) -> None:
    financing = offered(service, "financier4", debtor="core2")
    nonce = service.nonce("supplier")

    refused = accept(service, financing)

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "CreditLineMissing"
    assert body["args"]["field"] == "line_id"
    args = lowered(body["args"])
    assert (args["financier"], args["obligor"], args["currency"]) == (
        service.addresses["financier4"].lower(), service.addresses["core2"].lower(), "CNY")  # fmt: skip
    assert service.nonce("supplier") == nonce


def test_a_frozen_line_refuses_accept_until_the_regulator_unfreezes_it(
    service: Service,
) -> None:
    line = granted(service, "financier4", obligor="core")
    path = f"/v1/credit-lines/{line['line_id']}"
    financing = offered(service, "financier4")

    frozen = service.call("regulator", "POST", f"{path}/freeze")
    twice = service.call("regulator", "POST", f"{path}/freeze")
    refused = accept(service, financing)
    unfrozen = service.call("regulator", "POST", f"{path}/unfreeze")
    again = service.call("regulator", "POST", f"{path}/unfreeze")

    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["result"]["frozen"] is True
    assert (twice.status_code, twice.json()["error"]) == (409, "CreditLineFrozenError")
    assert (refused.status_code, refused.json()["error"]) == (409, "CreditLineFrozenError")
    assert refused.json()["args"] == {"field": "line_id", "lineId": str(line["line_id"])}
    assert unfrozen.json()["result"]["frozen"] is False
    assert (again.status_code, again.json()["error"]) == (409, "CreditLineNotFrozen")
    assert accept(service, financing).status_code == 200


def test_a_closed_line_takes_nothing_more_and_a_new_one_may_be_granted(
    service: Service,
) -> None:
    line = granted(service, "financier5", obligor="core2")
    path = f"/v1/credit-lines/{line['line_id']}"
    financing = offered(service, "financier5", debtor="core2")

    closed = service.call("financier5", "POST", f"{path}/close")
    twice = service.call("financier5", "POST", f"{path}/close")
    amended = service.call("financier5", "PATCH", path, json={"limit": "5"})
    refused = accept(service, financing)
    renewed = grant(service, "financier5", obligor="core2")

    assert closed.status_code == 200, closed.text
    assert closed.json()["result"]["status"] == "CLOSED"
    assert (twice.status_code, twice.json()["error"]) == (409, "CreditLineClosedError")
    assert (amended.status_code, amended.json()["error"]) == (409, "CreditLineClosedError")
    assert (refused.status_code, refused.json()["error"]) == (409, "CreditLineMissing")
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["result"]["line_id"] != line["line_id"]


# --- write-off --------------------------------------------------------------------------


def test_write_off_needs_a_drawing_of_the_callers(service: Service) -> None:
    # A receivable the financier holds (passed to it) but never financed: nothing drawn.
    never_financed = service.active()["id"]
    passed = service.call("supplier", "POST", f"/v1/receivables/{never_financed}/transfer",
                          json={"to": service.addresses["financier"]})  # fmt: skip
    assert passed.status_code == 200, passed.text
    not_a_party = service.active()["id"]
    financing = offered(service, "financier")
    accepted = accept(service, financing)
    assert accepted.status_code == 200, accepted.text
    financed = accepted.json()["result"]["receivable_id"]

    undrawn = service.call("financier", "POST", "/v1/credit-lines/write-offs",
                           json={"receivable_id": never_financed})  # fmt: skip
    not_defaulted = service.call("financier", "POST", "/v1/credit-lines/write-offs",
                                 json={"receivable_id": financed})  # fmt: skip
    stranger = service.call("financier5", "POST", "/v1/credit-lines/write-offs",
                            json={"receivable_id": financed})  # fmt: skip
    unseen = service.call("financier", "POST", "/v1/credit-lines/write-offs",
                          json={"receivable_id": not_a_party})  # fmt: skip

    assert (undrawn.status_code, undrawn.json()["error"]) == (409, "CreditLineNotDrawn")
    assert undrawn.json()["args"]["field"] == "receivable_id"
    assert (not_defaulted.status_code, not_defaulted.json()["error"]) == (
        409, "CreditLineNotDefaulted")  # fmt: skip
    assert not_defaulted.json()["args"]["field"] == "receivable_id"
    assert stranger.status_code == 404, stranger.text
    assert (unseen.status_code, unseen.json()["error"]) == (404, "ReceivableUnknown")


# --- the chain's clock: these move it forward, so they come last -------------------------


def test_write_off_of_a_defaulted_receivable_frees_the_line(service: Service) -> None:
    line = service.credit_line("financier5", "core")
    financing = offered(service, "financier5", due_date=day(chain_time(service) + 2 * DAY))
    accepted = accept(service, financing)
    assert accepted.status_code == 200, accepted.text
    receivable = accepted.json()["result"]["receivable_id"]
    due_at = int(datetime.fromisoformat(accepted.json()["result"]["due_date"]).timestamp())
    warp(service, due_at + 31 * DAY)  # the offer's grace period is 30 days
    defaulted = service.call("financier5", "POST", f"/v1/financings/{financing}/default")
    assert defaulted.status_code == 200, defaulted.text

    part = service.call("financier5", "POST", "/v1/credit-lines/write-offs",
                        json={"receivable_id": receivable, "amount": str(FACE // 4)})  # fmt: skip
    assert part.status_code == 200, part.text
    assert part.json()["result"]["utilised"] == str(FACE - FACE // 4)
    # Left out, the amount is all that is still drawn.
    written = service.call("financier5", "POST", "/v1/credit-lines/write-offs",
                           json={"receivable_id": receivable})  # fmt: skip

    assert written.status_code == 200, written.text
    result = written.json()["result"]
    assert (result["line_id"], result["utilised"]) == (line["line_id"], "0")
    drawing = next(d for d in result["drawings"] if d["receivable_id"] == receivable)
    # Kept open at nothing drawn, so that a later recovery is recorded on it.
    assert (drawing["written_off"], drawing["release_cause"]) == (str(FACE), None)
    nothing_left = service.call("financier5", "POST", "/v1/credit-lines/write-offs",
                                json={"receivable_id": receivable, "amount": "1"})  # fmt: skip
    assert nothing_left.status_code == 409, nothing_left.text
    assert nothing_left.json()["error"] == "CreditLineWriteOffAmount"
    assert nothing_left.json()["args"]["field"] == "amount"


def test_an_expired_line_refuses_accept(service: Service) -> None:
    expiry = chain_time(service) + DAY
    line = granted(service, "financier4", obligor="core2", expiry=expiry)
    financing = offered(service, "financier4", debtor="core2")
    warp(service, expiry + 1)

    refused = accept(service, financing)
    shown = line_of(service, "financier4", line["line_id"])

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "CreditLineExpired"
    assert body["args"]["field"] == "line_id"
    assert body["args"]["expiry"] == at(expiry).replace("+00:00", "Z")
    assert shown["expired"] is True
    assert shown["status"] == "OPEN"


def test_a_debtor_restricted_by_the_overdue_trigger_cannot_have_an_offer_accepted(
    service: Service,
) -> None:
    # core2 owes a root that falls overdue, and another whose financing is on offer.
    service.credit_line("financier5", "core2")
    overdue = service.active(who="core2", due_date=day(chain_time(service) + 2 * DAY))
    financing = offered(service, "financier5", debtor="core2")
    trigger = int(service.view("risk_control", "overdueTriggerDays"))
    due_at = int(datetime.fromisoformat(overdue["due_date"]).timestamp())
    warp(service, due_at + (trigger + 1) * DAY)
    flagger = service.external["bank2"]  # any active participant may flag
    rpc(service, "anvil_setBalance", [flagger.address, hex(10**18)])
    service.client.transact(flagger, service.contracts.address("risk_control"),
                            service.contracts.abi("RiskControl"), "flagOverdue",
                            (overdue["id"],))  # fmt: skip

    refused = accept(service, financing)

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "RiskObligorRestricted"
    assert lowered(body["args"]) == {"field": "debtor", "core": service.addresses["core2"].lower(),
                                     "overdueRoots": "1"}  # fmt: skip
