"""Bad input on writes: 422 naming the field, and nothing sent on chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from apikit import Service, make_lei

from ledger_app.settings import Settings


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
    "numeric due date": ({"due_date": 0}, "due_date"),
    "due date with a time": ({"due_date": "2099-01-01T00:00:00Z"}, "due_date"),
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


def test_unlisted_currency_and_non_supplier_creditor_are_409_before_sending(
    service: Service,
) -> None:
    nonce = service.nonce("core")

    currency = service.call("core", "POST", "/v1/receivables",
                            json=_registration(service, currency="USD"))  # fmt: skip
    creditor = service.call("core", "POST", "/v1/receivables",
                            json=_registration(service, creditor=service.addresses["financier"]))  # fmt: skip

    # The request is well formed: the ledger's state (no listing, no such supplier) refuses it.
    assert (currency.status_code, currency.json()["args"]["field"]) == (409, "currency")
    assert currency.json()["error"] == "ReceivableUnknownCurrency"
    assert (creditor.status_code, creditor.json()["args"]["field"]) == (409, "creditor")
    assert creditor.json()["error"] == "CreditorNotActiveSupplier"
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
    "KYC without a time zone": ({"kyc_expiry": "2099-01-01T00:00:00"}, "kyc_expiry"),
    "KYC in unix seconds": ({"kyc_expiry": 4070908800}, "kyc_expiry"),
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


def test_bad_currency_code_is_422_and_a_non_bank_issuer_409(service: Service) -> None:
    nonce = service.client.get_transaction_count(service.operator_address)

    bad_code = service.call("operator", "POST", "/v1/currencies",
                            json={"currency": "usd", "issuer": service.addresses["bank"]})  # fmt: skip
    not_a_bank = service.call("operator", "POST", "/v1/currencies",
                              json={"currency": "USD", "issuer": service.addresses["core"]})  # fmt: skip

    assert bad_code.json()["args"]["fields"][0]["field"] == "currency"
    assert (not_a_bank.status_code, not_a_bank.json()["args"]["field"]) == (409, "issuer")
    assert not_a_bank.json()["error"] == "IssuerNotSettlementBank"
    assert service.client.get_transaction_count(service.operator_address) == nonce


def test_a_boolean_is_a_json_boolean(service: Service) -> None:
    response = service.call("regulator", "PUT", "/v1/fx/corridors",
                            json={"from_jurisdiction": "CN", "to_jurisdiction": "SG", "open": 0})  # fmt: skip

    assert response.status_code == 422, response.text
    assert response.json()["args"]["fields"][0]["field"] == "open"


@pytest.mark.parametrize(
    ("body", "position"),
    [('{"to": "0x', 7), ('{"amounts": [1,, 2]}', 15), ('{"open": tru}', 9)],
)
def test_malformed_json_names_the_position_not_a_field(
    service: Service, body: str, position: int
) -> None:
    response = service.call("supplier", "POST", "/v1/receivables/1/split", content=body,
                            headers={"Content-Type": "application/json"})  # fmt: skip

    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "MalformedJson"
    assert answer["args"]["position"] == position
    assert answer["message"].startswith("the request body is not valid JSON: ")
    assert answer["message"].endswith(f"at character {position}")
    assert "field" not in answer["args"]


# --- bounded bodies (ledger_app/api/limits.py) -----------------------------------------


def _chunks(content: bytes, size: int = 65536) -> Iterator[bytes]:
    # A generator body: httpx sends it chunked, with no Content-Length.
    for start in range(0, len(content), size):
        yield content[start : start + size]


def test_body_over_the_limit_is_413_before_it_is_parsed(service: Service) -> None:
    limit = service.settings.request_max_bytes
    nonce = service.nonce("core")
    not_json = b"{" * (limit + 1)  # parsed, it would be a 422

    declared = service.call("core", "POST", "/v1/receivables", content=not_json,
                            headers={"Content-Type": "application/json"})  # fmt: skip
    chunked = service.call("core", "POST", "/v1/receivables", content=_chunks(not_json),
                           headers={"Content-Type": "application/json"})  # fmt: skip

    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "RequestBodyTooLarge"
        assert response.json()["args"]["limit"] == limit
    assert service.nonce("core") == nonce
    logged = service.call("auditor", "GET", "/v1/access-log",
                          params={"status": 413, "participant": service.addresses["core"]})  # fmt: skip
    assert len(logged.json()["items"]) >= 2


def test_chunked_body_within_the_limit_is_served(service: Service) -> None:
    body = json.dumps(service.registration()).encode()

    response = service.call("core", "POST", "/v1/receivables", content=_chunks(body, 16),
                            headers={"Content-Type": "application/json"})  # fmt: skip

    assert response.status_code == 201, response.text


def test_largest_batch_fits_the_body_limit() -> None:
    row = {"creditor": "0x" + "ab" * 20, "amount": "9" * 39, "currency": "CNY",
           "due_date": "2099-12-31", "document_hash": "0x" + "ab" * 32,
           "invoice": {"seller_tax_id": "T" * 64, "number": "N" * 64, "type": "Y" * 32}}  # fmt: skip
    settings = Settings()

    body = json.dumps({"items": [row] * settings.batch_max_rows}).encode()

    assert len(body) <= settings.request_max_bytes


# --- documents (ledger_app/api/routes/documents.py) ------------------------------------


def test_document_round_trips_with_its_type(service: Service) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40

    stored = service.call("supplier", "POST", "/v1/documents", content=pdf,
                          headers={"Content-Type": "application/pdf"})  # fmt: skip
    fetched = service.call("supplier", "GET", f"/v1/documents/{stored.json()['document_hash']}")

    assert stored.status_code == 201, stored.text
    assert stored.json()["size"] == len(pdf)
    assert fetched.content == pdf
    assert fetched.headers["content-type"] == "application/pdf"


def test_document_over_the_limit_is_413(service: Service) -> None:
    content = b"%" * (service.settings.document_max_bytes + 1)

    declared = service.call("supplier", "POST", "/v1/documents", content=content,
                            headers={"Content-Type": "application/pdf"})  # fmt: skip
    chunked = service.call("supplier", "POST", "/v1/documents", content=_chunks(content),
                           headers={"Content-Type": "application/pdf"})  # fmt: skip

    assert (declared.status_code, chunked.status_code) == (413, 413)
    assert declared.json()["args"]["limit"] == service.settings.document_max_bytes


@pytest.mark.parametrize("content_type", ["application/x-msdownload", "text/html", None])
def test_document_of_another_type_is_415(service: Service, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = service.call("supplier", "POST", "/v1/documents", content=b"MZ\x90\x00",
                            headers=headers)  # fmt: skip

    assert response.status_code == 415, response.text
    assert response.json()["error"] == "UnsupportedDocumentType"
    assert response.json()["args"]["field"] == "Content-Type"


def test_empty_document_is_422(service: Service) -> None:
    response = service.call("supplier", "POST", "/v1/documents", content=b"",
                            headers={"Content-Type": "application/pdf"})  # fmt: skip

    assert (response.status_code, response.json()["error"]) == (422, "EmptyDocument")
