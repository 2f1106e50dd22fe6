"""Bad input on writes: 422 naming the field, and nothing sent on chain."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from apikit import Service, make_lei


def _registration(service: Service, **changes: Any) -> dict[str, Any]:
    body = service.registration()
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return body


REGISTRATION_CASES = {
    "missing creditor": ({"creditor": None}, "creditor"),
    "missing amount": ({"amount": None}, "amount"),
    "negative amount": ({"amount": "-5"}, "amount"),
    "zero amount": ({"amount": 0}, "amount"),
    "huge amount": ({"amount": str(2**128)}, "amount"),
    "float amount": ({"amount": 100.5}, "amount"),
    "lower-case currency": ({"currency": "cny"}, "currency"),
    "four-letter currency": ({"currency": "CNYY"}, "currency"),
    "past due date": ({"due_date": (date.today() - timedelta(days=1)).isoformat()}, "due_date"),
    "malformed creditor": ({"creditor": "0x1234"}, "creditor"),
    "bad checksum": ({"creditor": "0x70997970C51812DC3A010C7D01B50E0D17DC79C8"}, "creditor"),
    "malformed document hash": ({"document_hash": "0xabc"}, "document_hash"),
    "unknown field": ({"debtor": "0x" + "11" * 20}, "debtor"),
}


@pytest.mark.parametrize(("changes", "field"), REGISTRATION_CASES.values(), ids=REGISTRATION_CASES)
def test_bad_registration_is_422_naming_field_and_sends_nothing(
    service: Service, changes: dict[str, Any], field: str
) -> None:
    last_id, nonce = service.view("receivables", "lastId"), service.nonce("core")

    response = service.call(
        "core", "POST", "/v1/receivables", json=_registration(service, **changes)
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert field in [f["field"] for f in body["args"]["fields"]]
    assert field in body["message"]
    assert (service.view("receivables", "lastId"), service.nonce("core")) == (last_id, nonce)


def test_unlisted_currency_and_non_supplier_creditor_are_422_before_sending(
    service: Service,
) -> None:
    nonce = service.nonce("core")

    currency = service.call("core", "POST", "/v1/receivables",
                            json=_registration(service, currency="USD"))  # fmt: skip
    creditor = service.call("core", "POST", "/v1/receivables",
                            json=_registration(service, creditor=service.addresses["financier"]))  # fmt: skip

    assert (currency.status_code, currency.json()["args"]["field"]) == (422, "currency")
    assert (creditor.status_code, creditor.json()["args"]["field"]) == (422, "creditor")
    assert service.nonce("core") == nonce


def test_oversize_batch_is_422_and_sends_nothing(service: Service) -> None:
    last_id = service.view("receivables", "lastId")
    items = [service.registration() for _ in range(1001)]

    response = service.call("core", "POST", "/v1/receivables/batch", json={"items": items})

    assert response.status_code == 422
    assert response.json()["args"]["fields"][0]["field"] == "items"
    assert service.view("receivables", "lastId") == last_id


def test_bad_row_in_batch_names_row_and_field(service: Service) -> None:
    items = [service.registration() for _ in range(3)]
    items[1]["amount"] = "-1"

    response = service.call("core", "POST", "/v1/receivables/batch", json={"items": items})

    assert response.status_code == 422
    assert [f["field"] for f in response.json()["args"]["fields"]] == ["items.1.amount"]


def test_split_not_summing_is_422_and_sends_nothing(service: Service) -> None:
    receivable = service.active()
    nonce = service.nonce("supplier")

    response = service.call("supplier", "POST", f"/v1/receivables/{receivable['id']}/split",
                            json={"amounts": ["1", "2"]})  # fmt: skip
    negative = service.call("supplier", "POST", f"/v1/receivables/{receivable['id']}/split",
                            json={"amounts": ["-1", "2"]})  # fmt: skip
    malformed = service.call("supplier", "POST", f"/v1/receivables/{receivable['id']}/transfer",
                             json={"to": "not-an-address"})  # fmt: skip

    assert (response.status_code, response.json()["args"]["field"]) == (422, "amounts")
    assert negative.status_code == 422
    assert negative.json()["args"]["fields"][0]["field"] == "amounts.0"
    assert malformed.json()["args"]["fields"][0]["field"] == "to"
    assert service.nonce("supplier") == nonce


ONBOARDING_CASES = {
    "bad LEI check digits": ({"lei": "5493001KJTIIGC8Y1R13"}, "lei"),
    "short LEI": ({"lei": "ABC"}, "lei"),
    "bad jurisdiction": ({"jurisdiction": "China"}, "jurisdiction"),
    "past KYC": ({"kyc_expiry": "2020-01-01T00:00:00Z"}, "kyc_expiry"),
    "no roles": ({"roles": []}, "roles"),
    "unknown role": ({"roles": ["KING"]}, "roles.0"),
    "operator role": ({"roles": ["OPERATOR"]}, "roles"),
    "malformed address": ({"address": "0xzz"}, "address"),
}


@pytest.mark.parametrize(("changes", "field"), ONBOARDING_CASES.values(), ids=ONBOARDING_CASES)
def test_bad_onboarding_is_422_naming_field_and_sends_nothing(
    service: Service, changes: dict[str, Any], field: str
) -> None:
    body = {"lei": make_lei(), "jurisdiction": "CN", "roles": ["SUPPLIER"],
            "kyc_expiry": (datetime.now(UTC) + timedelta(days=30)).isoformat(), **changes}  # fmt: skip
    nonce = service.client.get_transaction_count(service.operator_address)

    response = service.call("operator", "POST", "/v1/participants", json=body)

    assert response.status_code == 422, response.text
    assert field in [f["field"] for f in response.json()["args"]["fields"]]
    assert service.client.get_transaction_count(service.operator_address) == nonce


def test_bad_currency_listing_is_422(service: Service) -> None:
    nonce = service.client.get_transaction_count(service.operator_address)

    bad_code = service.call("operator", "POST", "/v1/currencies",
                            json={"currency": "usd", "issuer": service.addresses["bank"]})  # fmt: skip
    not_a_bank = service.call("operator", "POST", "/v1/currencies",
                              json={"currency": "USD", "issuer": service.addresses["core"]})  # fmt: skip

    assert bad_code.json()["args"]["fields"][0]["field"] == "currency"
    assert (not_a_bank.status_code, not_a_bank.json()["args"]["field"]) == (422, "issuer")
    assert service.client.get_transaction_count(service.operator_address) == nonce
