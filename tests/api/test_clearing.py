"""Maturity clearing through the API: the debtor repays a root, its leaves are redeemed to
their holders (one, or all in batches of MAX_REDEEM_BATCH); refusals send nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
import xmlschema
from apikit import Service

FACE = 100_000_000


@pytest.fixture(scope="module", autouse=True)
def funds(service: Service) -> None:
    """The debtor holds enough CNY to repay every root of the module; the financier holds
    CNY and a line to the debtor to fund within."""
    service.mint("core", 100 * FACE)
    service.mint("financier", 10 * FACE)
    service.credit_line("financier")


def chain_time(service: Service) -> int:
    return int(service.client.get_block("latest")["timestamp"])


def due_soon(service: Service) -> str:
    """A due date two days after the chain's clock (which tests move forward)."""
    return (datetime.fromtimestamp(chain_time(service), UTC) + timedelta(days=2)).date().isoformat()


def warp_past(service: Service, receivable: dict[str, Any]) -> None:
    """Mine a block just after the receivable's due date."""
    due = int(datetime.fromisoformat(receivable["due_date"]).timestamp())
    for method, params in (("evm_setNextBlockTimestamp", [due + 1]), ("evm_mine", [])):
        answer = httpx.post(service.settings.rpc_url,
                            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})  # fmt: skip
        assert "error" not in answer.json(), answer.text


def split(service: Service, who: str, receivable_id: int, amounts: list[int]) -> list[dict]:
    response = service.call(who, "POST", f"/v1/receivables/{receivable_id}/split",
                            json={"amounts": [str(a) for a in amounts]})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["result"][1:]


def test_repay_and_redeem_all_pays_every_holder_and_settles_the_root(service: Service) -> None:
    root = service.active(due_date=due_soon(service))
    parts = split(service, "supplier", root["id"], [60_000_000, 40_000_000])
    moved = service.call("supplier", "POST", f"/v1/receivables/{parts[1]['id']}/transfer",
                         json={"to": service.addresses["supplier2"]})  # fmt: skip
    assert moved.status_code == 200, moved.text
    before = {w: service.balance(w) for w in ("core", "supplier", "supplier2")}
    early = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay")
    not_repaid = service.call("supplier", "POST", f"/v1/clearing/{root['id']}/redeem")
    warp_past(service, root)

    repaid = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay")
    twice = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay")
    redeemed = service.call("supplier", "POST", f"/v1/clearing/{root['id']}/redeem")

    assert (early.status_code, early.json()["error"]) == (409, "ClearingNotDue")
    assert (not_repaid.status_code, not_repaid.json()["error"]) == (409, "ClearingNotRepaid")
    assert repaid.status_code == 200, repaid.text
    assert repaid.json()["result"]["repaid"] == str(FACE)
    assert (twice.status_code, twice.json()["error"]) == (409, "ClearingAlreadyRepaid")
    assert redeemed.status_code == 200, redeemed.text
    result = redeemed.json()["result"]
    assert result["redeemed"] == [p["id"] for p in parts]
    assert result["clearing"]["unredeemed"] == "0"
    assert result["clearing"]["status"] == "SETTLED"
    assert result["clearing"]["unsettled_leaves"] == []
    assert service.balance("core") == before["core"] - FACE
    assert service.balance("supplier") == before["supplier"] + 60_000_000
    assert service.balance("supplier2") == before["supplier2"] + 40_000_000
    assert service.view("maturity_clearing", "unredeemedAmount", root["id"]) == 0
    assert service.view("receivables", "outstanding", root["id"]) == 0


def test_a_financed_leaf_is_redeemed_to_the_financier_and_the_financing_reads_repaid(
    service: Service,
) -> None:
    root = service.active(due_date=due_soon(service))
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": root["id"]}).json()["result"]  # fmt: skip
    offer = service.call("financier", "POST", f"/v1/financings/{asked['id']}/offers", json={
        "advance_rate_bps": 9000, "discount_rate_bps": 500, "grace_period_days": 0,
        "expires_at": datetime.fromtimestamp(chain_time(service) + 86_400, UTC).isoformat()})  # fmt: skip
    assert offer.status_code == 201, offer.text
    accepted = service.call("supplier", "POST", f"/v1/financings/{asked['id']}/offers/0/accept")
    assert accepted.status_code == 200, accepted.text
    financier = service.balance("financier")
    warp_past(service, root)

    service.call("core", "POST", f"/v1/clearing/{root['id']}/repay")
    redeemed = service.call("financier", "POST", f"/v1/clearing/leaves/{root['id']}/redeem")
    financing = service.call("supplier", "GET", f"/v1/financings/{asked['id']}").json()

    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["result"]["status"] == "SETTLED"
    assert redeemed.json()["result"]["holder"] == service.addresses["financier"]
    assert service.balance("financier") == financier + FACE
    assert financing["status"] == "REPAID"
    assert service.view("financing_desk", "financing", asked["id"])[3] == 6  # REPAID


def test_redeem_all_of_298_leaves_goes_in_batches_of_max_redeem_batch(service: Service) -> None:
    root = service.active(due_date=due_soon(service), amount=str(FACE))
    first = split(service, "supplier", root["id"], [FACE // 100] * 100)
    for part in first[:2]:
        split(service, "supplier", part["id"], [FACE // 10_000] * 100)
    warp_past(service, root)
    service.call("core", "POST", f"/v1/clearing/{root['id']}/repay")
    one = service.call("supplier", "POST", f"/v1/clearing/leaves/{first[5]['id']}/redeem")

    redeemed = service.call("supplier", "POST", f"/v1/clearing/{root['id']}/redeem")

    assert one.status_code == 200, one.text
    assert redeemed.status_code == 200, redeemed.text
    result = redeemed.json()["result"]
    size = service.view("maturity_clearing", "MAX_REDEEM_BATCH")
    assert len(result["redeemed"]) == 297
    assert len(result["transactions"]) == -(-297 // size) == 2
    assert result["clearing"]["settled_leaves"] == 298
    assert result["clearing"]["status"] == "SETTLED"
    assert service.view("maturity_clearing", "unredeemedAmount", root["id"]) == 0


def test_non_debtor_and_bad_ids_are_refused_before_sending(service: Service) -> None:
    root = service.active(due_date=due_soon(service))
    nonces = {w: service.nonce(w) for w in ("core", "core2", "supplier")}

    by_other_core = service.call("core2", "POST", f"/v1/clearing/{root['id']}/repay")
    by_supplier = service.call("supplier", "POST", f"/v1/clearing/{root['id']}/repay")
    bad_id = service.call("core", "POST", "/v1/clearing/abc/repay")
    bad_leaf = service.call("supplier", "POST", "/v1/clearing/leaves/1.5/redeem")
    shown = service.call("supplier", "GET", f"/v1/clearing/{root['id']}")

    assert by_other_core.status_code == 404
    assert (by_supplier.status_code, by_supplier.json()["error"]) == (403, "RoleNotAllowed")
    assert bad_id.status_code == 422
    assert bad_id.json()["args"]["fields"][0]["field"] == "path.root_id"
    assert bad_leaf.json()["args"]["fields"][0]["field"] == "path.leaf_id"
    assert shown.json()["repaid"] == "0"
    assert shown.json()["unsettled_leaves"] == [root["id"]]
    assert {w: service.nonce(w) for w in nonces} == nonces


USD_CNY = 7_100_000_000_000_000_000  # CNY fen per US cent, x 1e18


def signed_quote(service: Service, sell: str, buy: str, rate: int) -> dict[str, Any]:
    body = {"sell_currency": sell, "buy_currency": buy, "rate": str(rate),
            "payer": service.addresses["core"], "liquidity": str(2 * FACE)}  # fmt: skip
    response = service.call("fx", "POST", "/v1/fx/quotes/signed", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_repay_fx_the_debtor_pays_usd_and_clearing_receives_cny(service: Service) -> None:
    listed = service.call("operator", "POST", "/v1/currencies",
                          json={"currency": "USD", "decimals": 2,
                                "issuer": service.addresses["bank"]})  # fmt: skip
    assert listed.status_code == 201, listed.text
    service.mint("core", FACE, currency="USD")
    service.mint("fx", 2 * FACE)
    root = service.active(due_date=due_soon(service))
    usd_cny = signed_quote(service, "USD", "CNY", USD_CNY)
    path = f"/v1/clearing/{root['id']}/repay-fx"
    body = {"quote": usd_cny["quote"], "signature": usd_cny["signature"]}
    early = service.call("core", "POST", path, json=body)
    warp_past(service, root)
    usd_cny = signed_quote(service, "USD", "CNY", USD_CNY)  # the chain's clock moved on
    body = {"quote": usd_cny["quote"], "signature": usd_cny["signature"]}
    wrong = signed_quote(service, "CNY", "USD", 138_000_000_000_000_000)
    nonce = service.nonce("core")
    mismatch = service.call("core", "POST", path,
                            json={"quote": wrong["quote"], "signature": wrong["signature"]})  # fmt: skip
    sent_for_mismatch = service.nonce("core") - nonce
    by_supplier = service.call("supplier", "POST", path, json=body)
    before = {(w, c): service.balance(w, c) for w in ("core", "fx") for c in ("CNY", "USD")}

    repaid = service.call("core", "POST", path, json=body)
    twice = service.call("core", "POST", path, json=body)
    redeemed = service.call("supplier", "POST", f"/v1/clearing/{root['id']}/redeem")

    assert (early.status_code, early.json()["error"]) == (409, "ClearingNotDue")
    assert (mismatch.status_code, mismatch.json()["error"]) == (422, "ClearingFxCurrencyMismatch")
    assert sent_for_mismatch == 0
    assert by_supplier.status_code == 403, by_supplier.text
    assert repaid.status_code == 200, repaid.text
    result = repaid.json()["result"]
    sell = -(-FACE * 10**18 // USD_CNY)  # rounded up
    buy = sell * USD_CNY // 10**18
    assert result["clearing"]["repaid"] == str(FACE)
    assert result["clearing"]["unredeemed"] == str(FACE)
    settlement = result["settlement"]
    assert (settlement["sell_currency"], settlement["sell_amount"]) == ("USD", str(sell))
    assert (settlement["buy_currency"], settlement["buy_amount"]) == ("CNY", str(buy))
    assert settlement["payer"] == service.addresses["core"]
    assert settlement["payee"] == service.contracts.address("maturity_clearing")
    assert settlement["reference_id"] == str(root["id"])
    assert buy >= FACE
    assert service.balance("core", "USD") == before[("core", "USD")] - sell
    assert service.balance("core", "CNY") == before[("core", "CNY")] + buy - FACE  # rounding back
    assert service.balance("fx", "USD") == before[("fx", "USD")] + sell
    assert service.balance("fx", "CNY") == before[("fx", "CNY")] - buy
    assert service.view("maturity_clearing", "repaidAmount", root["id"]) == FACE
    assert (twice.status_code, twice.json()["error"]) == (409, "ClearingAlreadyRepaid")
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["result"]["clearing"]["status"] == "SETTLED"


def test_a_tier2_holder_of_a_leaf_sees_the_roots_clearing_and_pushes_redemption(
    service: Service,
) -> None:
    root = service.active(due_date=due_soon(service))
    parts = split(service, "supplier", root["id"], [70_000_000, 30_000_000])
    moved = service.call("supplier", "POST", f"/v1/receivables/{parts[1]['id']}/transfer",
                         json={"to": service.addresses["supplier2"]})  # fmt: skip
    assert moved.status_code == 200, moved.text
    before = service.call("supplier2", "GET", f"/v1/clearing/{root['id']}")
    trace = service.call("supplier2", "GET", f"/v1/receivables/{root['id']}/trace")
    stranger = service.call("financier2", "GET", f"/v1/clearing/{root['id']}")
    warp_past(service, root)
    assert service.call("core", "POST", f"/v1/clearing/{root['id']}/repay").status_code == 200
    supplier2 = service.balance("supplier2")

    redeemed = service.call("supplier2", "POST", f"/v1/clearing/{root['id']}/redeem")

    assert trace.status_code == 200, trace.text
    assert before.status_code == 200, before.text
    assert before.json()["unsettled_leaves"] == [p["id"] for p in parts]
    assert stranger.status_code == 404
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["result"]["clearing"]["status"] == "SETTLED"
    assert service.balance("supplier2") == supplier2 + 30_000_000


ISO_SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "iso20022"


def test_iso20022_of_a_maturity_payment_names_the_debtor_and_the_holders_paid(
    service: Service,
) -> None:
    listed = service.call("operator", "POST", "/v1/currencies",
                          json={"currency": "USD", "decimals": 2,
                                "issuer": service.addresses["bank"]})  # fmt: skip
    assert listed.status_code in (201, 409), listed.text
    service.mint("core", FACE, currency="USD")
    service.mint("fx", 2 * FACE)
    root = service.active(due_date=due_soon(service))
    parts = split(service, "supplier", root["id"], [60_000_000, 40_000_000])
    moved = service.call("supplier", "POST", f"/v1/receivables/{parts[1]['id']}/transfer",
                         json={"to": service.addresses["supplier2"]})  # fmt: skip
    assert moved.status_code == 200, moved.text
    warp_past(service, root)
    usd_cny = signed_quote(service, "USD", "CNY", USD_CNY)
    repaid = service.call("core", "POST", f"/v1/clearing/{root['id']}/repay-fx",
                          json={"quote": usd_cny["quote"], "signature": usd_cny["signature"]})  # fmt: skip
    assert repaid.status_code == 200, repaid.text
    uetr = repaid.json()["result"]["settlement"]["uetr"]
    leis = {
        who: service.call("auditor", "GET", f"/v1/participants/{service.addresses[who]}").json()[
            "lei"
        ]
        for who in ("core", "supplier", "supplier2")
    }

    documents = {
        name: service.call(
            "core", "GET", f"/v1/fx/settlements/{uetr}/iso20022", params={"message": name}
        )
        for name in ("pacs.008", "pacs.009", "pacs.002")
    }

    for name, response in documents.items():
        assert response.status_code == 200, (name, response.text)
        version = {"pacs.008": "pacs.008.001.13", "pacs.009": "pacs.009.001.12",
                   "pacs.002": "pacs.002.001.15"}[name]  # fmt: skip
        xmlschema.XMLSchema(ISO_SCHEMAS / f"{version}.xsd").validate(response.content)
        assert service.contracts.address("maturity_clearing")[2:].lower() not in (
            response.text.lower()
        )
    ns = {"d": "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.13"}
    pacs008 = ET.fromstring(documents["pacs.008"].content)
    transactions = pacs008.findall("d:FIToFICstmrCdtTrf/d:CdtTrfTxInf", ns)
    paid = [
        (tx.findtext("d:Cdtr/d:Id/d:OrgId/d:LEI", namespaces=ns),
         tx.findtext("d:IntrBkSttlmAmt", namespaces=ns))
        for tx in transactions
    ]  # fmt: skip
    debtors = {tx.findtext("d:Dbtr/d:Id/d:OrgId/d:LEI", namespaces=ns) for tx in transactions}
    assert paid == [(leis["supplier"], "600000.00"), (leis["supplier2"], "400000.00")]
    assert debtors == {leis["core"]}
    assert pacs008.findtext("d:FIToFICstmrCdtTrf/d:GrpHdr/d:NbOfTxs", namespaces=ns) == "2"


def test_openapi_says_the_fx_provider_funds_the_surplus_and_corridors_open_first(
    service: Service,
) -> None:
    paths = service.call("auditor", "GET", "/openapi.json").json()["paths"]

    repay_fx = paths["/v1/clearing/{root_id}/repay-fx"]["post"]["description"]
    corridor = paths["/v1/fx/corridors"]["put"]["description"]
    settle = paths["/v1/fx/settlements"]["post"]["description"]

    assert "funds the rounding" in repay_fx
    assert "surplus" in repay_fx
    assert "liquidity" in repay_fx
    assert "PUT /v1/fx/corridors" in repay_fx
    assert "starts closed" in corridor
    assert "FxComplianceCorridorClosed" in settle


def test_exposure_counts_overdue_by_the_chains_clock_not_the_servers(service: Service) -> None:
    root = service.active(due_date=due_soon(service))
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": root["id"]}).json()["result"]  # fmt: skip
    offer = service.call("financier", "POST", f"/v1/financings/{asked['id']}/offers", json={
        "advance_rate_bps": 9000, "discount_rate_bps": 500, "grace_period_days": 0,
        "expires_at": datetime.fromtimestamp(chain_time(service) + 86_400, UTC).isoformat()})  # fmt: skip
    assert offer.status_code == 201, offer.text
    accepted = service.call("supplier", "POST", f"/v1/financings/{asked['id']}/offers/0/accept")
    assert accepted.status_code == 200, accepted.text
    due = int(datetime.fromisoformat(root["due_date"]).timestamp())
    before = service.call("auditor", "GET", "/v1/audit/exposure").json()
    warp_past(service, root)  # the chain's clock passes the due date; the wall clock does not
    mined = service.client.block_number()
    deadline = time.monotonic() + 30
    while True:
        report = service.call("auditor", "GET", "/v1/audit/exposure")
        if int(report.headers["X-Ledger-Block"]) >= mined or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    assert time.time() < due
    overdue = [e["receivables"] for e in report.json()["items"]]
    assert not any(root["id"] in ids for ids in (e["receivables"] for e in before["items"]))
    assert any(root["id"] in ids for ids in overdue), report.json()
    assert report.json()["as_of_block"] == int(report.headers["X-Ledger-Block"])
    as_of = datetime.fromisoformat(report.json()["as_of"]).timestamp()
    assert as_of == service.client.get_block(report.json()["as_of_block"])["timestamp"] > due
