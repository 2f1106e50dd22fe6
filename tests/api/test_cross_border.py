"""Cross-border settlement through the API: FX quotes (posted or signed), PvP settlements,
corridor and daily-limit rules, HTLC escrows, and ISO 20022 documents of a settlement."""

from __future__ import annotations

import hashlib
import secrets
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from apikit import Service

RATE = 138_000_000_000_000_000  # 0.138 USD per CNY, x 1e18


@pytest.fixture(scope="module", autouse=True)
def usd(service: Service) -> None:
    """USD listed (issued by the same bank), liquidity with the FX provider, CNY with
    the payers."""
    listed = service.call("operator", "POST", "/v1/currencies",
                          json={"currency": "USD", "decimals": 2,
                                "issuer": service.addresses["bank"]})  # fmt: skip
    assert listed.status_code == 201, listed.text
    service.mint("fx", 10**9, currency="USD")
    service.mint("supplier", 10**9)
    service.mint("core", 10**9)


def quote(service: Service, path: str = "/v1/fx/quotes", **overrides: Any) -> dict[str, Any]:
    body = {"sell_currency": "CNY", "buy_currency": "USD", "rate": str(RATE),
            "valid_for_seconds": 600, "liquidity": "100000000", **overrides}  # fmt: skip
    response = service.call("fx", "POST", path, json=body)
    assert response.status_code == 201, response.text
    answer = response.json()
    return answer.get("result", answer)


def settle(service: Service, issued: dict[str, Any], who: str = "supplier",
           payee: str = "core", amount: int = 100_000, **extra: Any) -> httpx.Response:  # fmt: skip
    body = {"quote": issued["quote"], "payee": service.addresses[payee],
            "sell_amount": str(amount), **extra}  # fmt: skip
    if issued.get("signature"):
        body["signature"] = issued["signature"]
    return service.call(who, "POST", "/v1/fx/settlements", json=body)


def test_pvp_at_a_posted_quote_moves_both_legs_and_generates_a_uetr(service: Service) -> None:
    issued = quote(service)
    before = {(w, c): service.balance(w, c) for w in ("supplier", "core", "fx")
              for c in ("CNY", "USD")}  # fmt: skip

    response = settle(service, issued)

    assert response.status_code == 201, response.text
    result = response.json()["result"]
    assert issued["posted"] is True
    assert uuid.UUID(result["uetr"]).version == 4
    buy = 100_000 * RATE // 10**18
    assert (result["sell_amount"], result["buy_amount"]) == ("100000", str(buy))
    assert service.balance("supplier", "CNY") == before[("supplier", "CNY")] - 100_000
    assert service.balance("fx", "CNY") == before[("fx", "CNY")] + 100_000
    assert service.balance("fx", "USD") == before[("fx", "USD")] - buy
    assert service.balance("core", "USD") == before[("core", "USD")] + buy
    uetr_bytes = uuid.UUID(result["uetr"]).bytes
    assert service.view("fx_settlement", "uetrUsed", uetr_bytes) is True
    assert service.view(
        "fx_settlement", "quoteUsed", bytes.fromhex(issued["quote"]["quote_id"][2:])
    )
    again = settle(service, issued)
    assert (again.status_code, again.json()["error"]) == (409, "FxQuoteAlreadyUsed")


def test_pvp_at_a_signed_quote_with_a_given_uetr(service: Service) -> None:
    issued = quote(service, path="/v1/fx/quotes/signed", payer=service.addresses["core"])
    uetr = str(uuid.uuid4())
    core_cny = service.balance("core", "CNY")

    wrong_payer = settle(service, issued, who="supplier")
    response = settle(service, issued, who="core", payee="supplier", uetr=uetr, purpose="TRAD")
    shown = service.call("supplier", "GET", f"/v1/fx/settlements/{uetr}")
    outsider = service.call("supplier2", "GET", f"/v1/fx/settlements/{uetr}")

    assert issued["posted"] is False
    assert issued["signature"].startswith("0x")
    assert (wrong_payer.status_code, wrong_payer.json()["error"]) == (403, "FxQuoteWrongPayer")
    assert response.status_code == 201, response.text
    assert response.json()["result"]["uetr"] == uetr
    assert shown.json()["purpose"] == "TRAD"
    assert outsider.status_code == 404
    assert service.balance("core", "CNY") == core_cny - 100_000


def test_iso20022_documents_of_a_settlement(service: Service) -> None:
    issued = quote(service)
    uetr = settle(service, issued).json()["result"]["uetr"]

    documents = {
        message: service.call(
            "auditor", "GET", f"/v1/fx/settlements/{uetr}/iso20022", params={"message": message}
        )
        for message in ("pacs.008", "pacs.009", "pacs.002")
    }
    outsider = service.call("supplier2", "GET", f"/v1/fx/settlements/{uetr}/iso20022")

    for message, response in documents.items():
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(response.content)
        assert message in root.tag
        assert uetr in response.text
    assert "<TxSts>ACSC</TxSts>" in documents["pacs.002"].text
    assert "IntrBkSttlmAmt" in documents["pacs.008"].text
    assert outsider.status_code == 404


def test_corridor_and_daily_limit_rules_are_checked_before_value_moves(service: Service) -> None:
    limit = service.call("regulator", "PUT", "/v1/fx/daily-limits",
                         json={"account": service.addresses["supplier"], "currency": "CNY",
                               "limit": "50000"})  # fmt: skip
    nonce = service.nonce("supplier")
    over = settle(service, quote(service), amount=60_000)
    lifted = service.call("operator", "PUT", "/v1/fx/daily-limits",
                          json={"account": service.addresses["supplier"], "currency": "CNY",
                                "limit": 0})  # fmt: skip
    corridor = service.call("regulator", "PUT", "/v1/fx/corridors",
                            json={"from_jurisdiction": "CN", "to_jurisdiction": "SG",
                                  "open": True})  # fmt: skip
    refused = service.call("supplier", "PUT", "/v1/fx/corridors",
                           json={"from_jurisdiction": "CN", "to_jurisdiction": "SG",
                                 "open": False})  # fmt: skip

    assert limit.status_code == 200, limit.text
    assert limit.json()["result"]["limit"] == "50000"
    assert (over.status_code, over.json()["error"]) == (409, "FxComplianceDailyLimit")
    assert service.nonce("supplier") == nonce
    assert lifted.json()["result"]["limit"] == "0"
    assert corridor.json()["result"] == {"from_jurisdiction": "CN", "to_jurisdiction": "SG",
                                         "open": True}  # fmt: skip
    assert service.view("fx_settlement", "corridorOpen", b"CN", b"SG") is True
    assert refused.status_code == 403
    assert service.nonce("supplier") == nonce


def test_escrow_lock_claim_and_refund(service: Service) -> None:
    secret = secrets.token_bytes(32)
    hashlock = "0x" + hashlib.sha256(secret).hexdigest()
    timeout = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    supplier, core = service.balance("supplier"), service.balance("core")

    locked = service.call("supplier", "POST", "/v1/escrows",
                          json={"currency": "CNY", "recipient": service.addresses["core"],
                                "amount": "7000", "hashlock": hashlock, "timeout": timeout})  # fmt: skip
    lock_id = locked.json()["result"]["lock_id"]
    wrong = service.call("core", "POST", f"/v1/escrows/{lock_id}/claim",
                         json={"preimage": "0x" + "00" * 32})  # fmt: skip
    early_refund = service.call("supplier", "POST", f"/v1/escrows/{lock_id}/refund")
    claimed = service.call("core", "POST", f"/v1/escrows/{lock_id}/claim",
                           json={"preimage": "0x" + secret.hex()})  # fmt: skip

    assert locked.status_code == 201, locked.text
    assert locked.json()["result"]["state"] == "LOCKED"
    assert (wrong.status_code, wrong.json()["args"]["field"]) == (422, "preimage")
    assert (early_refund.status_code, early_refund.json()["error"]) == (409, "HtlcNotExpired")
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["result"]["state"] == "CLAIMED"
    assert claimed.json()["result"]["preimage"] == "0x" + secret.hex()
    assert service.balance("supplier") == supplier - 7000
    assert service.balance("core") == core + 7000

    second = service.call("supplier", "POST", "/v1/escrows",
                          json={"currency": "CNY", "recipient": service.addresses["core"],
                                "amount": "3000", "hashlock": hashlock,
                                "timeout": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()})  # fmt: skip
    second_id = second.json()["result"]["lock_id"]
    warp(service, int(datetime.now(UTC).timestamp()) + 3600)
    refunded = service.call("supplier", "POST", f"/v1/escrows/{second_id}/refund")
    outsider = service.call("supplier2", "GET", f"/v1/escrows/{second_id}")

    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["result"]["state"] == "REFUNDED"
    assert service.balance("supplier") == supplier - 7000
    assert outsider.status_code == 404


def warp(service: Service, timestamp: int) -> None:
    """Mine the next block at ``timestamp`` (the chain's clock only moves forward)."""
    for method, params in (("evm_setNextBlockTimestamp", [timestamp]), ("evm_mine", [])):
        answer = httpx.post(service.settings.rpc_url,
                            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})  # fmt: skip
        assert "error" not in answer.json(), answer.text


BAD = {
    "quote: same currencies": ("fx", "/v1/fx/quotes",
                               {"sell_currency": "CNY", "buy_currency": "CNY", "rate": "1"},
                               "buy_currency"),
    "quote: zero rate": ("fx", "/v1/fx/quotes",
                         {"sell_currency": "CNY", "buy_currency": "USD", "rate": "0"}, "rate"),
    "quote: float rate": ("fx", "/v1/fx/quotes",
                          {"sell_currency": "CNY", "buy_currency": "USD", "rate": 0.5}, "rate"),
    "quote: bad currency": ("fx", "/v1/fx/quotes/signed",
                            {"sell_currency": "cny", "buy_currency": "USD", "rate": "1"},
                            "sell_currency"),
    "settle: no quote": ("supplier", "/v1/fx/settlements",
                         {"payee": "0x" + "11" * 20, "sell_amount": "1"}, "quote"),
    "settle: bad uetr": ("supplier", "/v1/fx/settlements",
                         {"uetr": "not-a-uuid", "payee": "0x" + "11" * 20, "sell_amount": "1"},
                         "uetr"),
    "limit: negative": ("regulator", "/v1/fx/daily-limits",
                        {"account": "0x" + "11" * 20, "currency": "CNY", "limit": "-1"}, "limit"),
    "corridor: bad code": ("regulator", "/v1/fx/corridors",
                           {"from_jurisdiction": "CHN", "to_jurisdiction": "SG", "open": True},
                           "from_jurisdiction"),
    "escrow: zero hashlock": ("supplier", "/v1/escrows",
                              {"currency": "CNY", "recipient": "0x" + "11" * 20, "amount": "1",
                               "hashlock": "0x" + "00" * 32,
                               "timeout": "2099-01-01T00:00:00Z"}, "hashlock"),
    "escrow: past timeout": ("supplier", "/v1/escrows",
                             {"currency": "CNY", "recipient": "0x" + "11" * 20, "amount": "1",
                              "hashlock": "0x" + "ab" * 32,
                              "timeout": "2020-01-01T00:00:00Z"}, "timeout"),
}  # fmt: skip


@pytest.mark.parametrize(("who", "path", "body", "field"), BAD.values(), ids=BAD)
def test_bad_cross_border_input_is_422_naming_the_field_and_sends_nothing(
    service: Service, who: str, path: str, body: dict[str, Any], field: str
) -> None:
    nonce = service.nonce(who)
    method = "PUT" if path in ("/v1/fx/daily-limits", "/v1/fx/corridors") else "POST"

    response = service.call(who, method, path, json=body)

    assert response.status_code == 422, response.text
    problem = response.json()
    fields = [f["field"] for f in problem["args"].get("fields", [])] or [problem["args"]["field"]]
    assert field in fields
    assert service.nonce(who) == nonce
