"""Settlement tokens through the API: mint and burn by the issuing bank, transfers, balances."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apikit import Service, make_lei, make_tax_id


def balances(service: Service, who: str, of: str | None = None) -> dict[str, int]:
    address = service.addresses[of or who]
    response = service.call(who, "GET", f"/v1/balances/{address}")
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Ledger-Block"]) >= 0
    return {b["currency"]: int(b["balance"]) for b in response.json()["balances"]}


def test_mint_transfer_and_burn_move_balances_on_chain_and_in_reads(service: Service) -> None:
    supply = int(service.token_view("CNY", "totalSupply"))
    before = {who: service.balance(who) for who in ("supplier", "supplier2", "bank")}

    minted = service.call("bank", "POST", "/v1/tokens/CNY/mint",
                          json={"to": service.addresses["supplier"], "amount": "100000"})  # fmt: skip
    paid = service.call("supplier", "POST", "/v1/tokens/CNY/transfers",
                        json={"to": service.addresses["supplier2"], "amount": 30000})  # fmt: skip
    returned = service.call("supplier2", "POST", "/v1/tokens/CNY/transfers",
                            json={"to": service.addresses["bank"], "amount": "30000"})  # fmt: skip
    burned = service.call("bank", "POST", "/v1/tokens/CNY/burn", json={"amount": "30000"})

    for response in (minted, paid, returned, burned):
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "done"
    assert paid.json()["result"]["balances"][0]["balance"] == str(before["supplier"] + 70000)
    assert service.balance("supplier") == before["supplier"] + 70000
    assert service.balance("supplier2") == before["supplier2"]
    assert service.balance("bank") == before["bank"]
    assert int(service.token_view("CNY", "totalSupply")) == supply + 70000
    # Read your writes: the index already shows what the chain shows.
    assert balances(service, "supplier")["CNY"] == service.balance("supplier")


def test_balances_are_their_owners_and_readers_only(service: Service) -> None:
    service.mint("supplier2", 500)
    supplier = service.addresses["supplier2"]

    own = balances(service, "supplier2")
    auditor = balances(service, "auditor", of="supplier2")
    other = service.call("supplier", "GET", f"/v1/balances/{supplier}")

    assert own == auditor
    assert own["CNY"] == service.balance("supplier2")
    assert other.status_code == 404


def test_mint_by_a_bank_that_does_not_issue_the_currency_is_403_and_sends_nothing(
    service: Service,
) -> None:
    nonce = service.client.get_transaction_count(service.addresses["bank2"])

    response = service.call("bank2", "POST", "/v1/tokens/CNY/mint",
                            json={"to": service.addresses["supplier"], "amount": "1"})  # fmt: skip

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "SettlementTokenNotIssuer"
    assert service.client.get_transaction_count(service.addresses["bank2"]) == nonce


def test_transfer_beyond_balance_is_409_with_the_contract_error_and_sends_nothing(
    service: Service,
) -> None:
    nonce = service.nonce("core")

    response = service.call("core", "POST", "/v1/tokens/CNY/transfers",
                            json={"to": service.addresses["supplier"],
                                  "amount": str(service.balance("core") + 1)})  # fmt: skip

    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error"] == "ERC20InsufficientBalance"
    balance = service.balance("core")
    assert body["args"] == {"sender": service.addresses["core"], "balance": str(balance),
                            "needed": str(balance + 1)}  # fmt: skip
    assert (
        body["message"] == f"{service.addresses['core']} holds {balance}; this needs {balance + 1}"
    )
    assert service.nonce("core") == nonce


CASES: dict[str, tuple[str, str, dict[str, Any] | None, str]] = {
    "negative mint": ("mint", "CNY", {"amount": "-1"}, "amount"),
    "float mint": ("mint", "CNY", {"amount": 1.5}, "amount"),
    "huge mint": ("mint", "CNY", {"amount": str(2**128)}, "amount"),
    "missing recipient": ("mint", "CNY", {"to": None}, "to"),
    "malformed recipient": ("mint", "CNY", {"to": "0x12"}, "to"),
    "lower-case currency": ("mint", "cny", {}, "currency"),
    "zero transfer": ("transfers", "CNY", {"amount": 0}, "amount"),
    "zero burn": ("burn", "CNY", {"amount": "0"}, "amount"),
}


@pytest.mark.parametrize(("action", "currency", "changes", "field"), CASES.values(), ids=CASES)
def test_bad_token_input_is_422_naming_the_field_and_sends_nothing(
    service: Service, action: str, currency: str, changes: dict[str, Any], field: str
) -> None:
    who = "supplier" if action == "transfers" else "bank"
    body: dict[str, Any] = {"amount": "100"}
    if action != "burn":
        body["to"] = service.addresses["supplier2"]
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    nonce = service.nonce(who)

    response = service.call(who, "POST", f"/v1/tokens/{currency}/{action}", json=body)

    assert response.status_code == 422, response.text
    problem = response.json()
    fields = [f["field"] for f in problem["args"].get("fields", [])] or [problem["args"]["field"]]
    assert any(f == field or f.endswith("." + field) for f in fields), fields  # path.currency
    assert service.nonce(who) == nonce


def test_a_transfer_in_an_unlisted_currency_is_409_and_sends_nothing(service: Service) -> None:
    nonce = service.nonce("supplier")

    response = service.call("supplier", "POST", "/v1/tokens/XYZ/transfers",
                            json={"to": service.addresses["supplier2"], "amount": "100"})  # fmt: skip

    assert response.status_code == 409, response.text
    assert (response.json()["error"], response.json()["args"]["field"]) == (
        "CurrencyNotListed", "currency")  # fmt: skip
    assert service.nonce("supplier") == nonce


def test_a_transfer_to_a_kyc_expired_participant_is_409_naming_its_standing(
    service: Service,
) -> None:
    """The pre-check is the one standing rule (ledger_app/domain/standing.py): a KYC
    expiry refuses a recipient as a suspension does, before anything is sent (the token
    contract would refuse it too)."""
    expiry = datetime.now(UTC) + timedelta(seconds=4)
    body = {"lei": make_lei(), "jurisdiction": "CN", "roles": ["SUPPLIER"],
            "kyc_expiry": expiry.isoformat(), "tax_id": make_tax_id()}  # fmt: skip
    onboarded = service.call("operator", "POST", "/v1/participants", json=body)
    assert onboarded.status_code == 201, onboarded.text
    recipient = onboarded.json()["result"]["participant"]["address"]
    time.sleep(max(0.0, expiry.timestamp() - time.time()) + 0.5)
    nonce = service.nonce("supplier")

    response = service.call("supplier", "POST", "/v1/tokens/CNY/transfers",
                            json={"to": recipient, "amount": "100"})  # fmt: skip

    assert response.status_code == 409, response.text
    assert response.json()["error"] == "AccountRefused"
    assert response.json()["args"]["standing"] == "KYC_EXPIRED"
    assert response.json()["args"]["field"] == "to"
    assert service.nonce("supplier") == nonce
