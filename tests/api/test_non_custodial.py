"""A participant that keeps its own key: prepare, sign locally, submit; wrong signatures refused."""

from __future__ import annotations

from typing import Any

from apikit import Service
from eth_account import Account

ACTIVE = 2


def _sign(account: Any, unsigned: dict[str, Any], **changes: Any) -> str:
    tx = {k: (int(v, 16) if k not in ("to", "data") else v) for k, v in unsigned.items()}
    tx.update(changes)
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def _prepare_confirm(service: Service) -> tuple[dict[str, Any], dict[str, Any]]:
    receivable = service.register(creditor=service.addresses["bank2"])
    prepared = service.call("bank2", "POST", f"/v1/receivables/{receivable['id']}/confirm")
    assert prepared.status_code == 202, prepared.text
    return receivable, prepared.json()


def test_prepared_call_signed_by_owner_is_broadcast(service: Service) -> None:
    receivable, prepared = _prepare_confirm(service)
    unsigned = prepared["unsigned_transaction"]

    submitted = service.call("bank2", "POST", f"/v1/transactions/{prepared['transaction']['id']}/submit",
                             json={"raw_transaction": _sign(service.external["bank2"], unsigned)})  # fmt: skip
    shown = service.call("bank2", "GET", f"/v1/receivables/{receivable['id']}")

    assert prepared["status"] == "awaiting_signature"
    assert unsigned["to"].lower() == service.contracts.address("receivables").lower()
    assert int(unsigned["chainId"], 16) == 31337
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "done"
    assert shown.json()["status"] == "ACTIVE"
    assert service.view("receivables", "receivable", receivable["id"])[12] == ACTIVE


def test_signature_by_another_address_is_refused(service: Service) -> None:
    _, prepared = _prepare_confirm(service)
    nonce = service.client.get_transaction_count(service.addresses["bank2"])

    refused = service.call("bank2", "POST", f"/v1/transactions/{prepared['transaction']['id']}/submit",
                           json={"raw_transaction": _sign(Account.create(), prepared["unsigned_transaction"])})  # fmt: skip

    assert refused.status_code == 403
    assert refused.json()["error"] == "SignerMismatch"
    assert service.client.get_transaction_count(service.addresses["bank2"]) == nonce


def test_signed_different_call_is_refused(service: Service) -> None:
    receivable, prepared = _prepare_confirm(service)
    other = service.contracts.call("receivables", "reject", receivable["id"])
    raw = _sign(
        service.external["bank2"], prepared["unsigned_transaction"], data="0x" + other.data.hex()
    )

    refused = service.call("bank2", "POST", f"/v1/transactions/{prepared['transaction']['id']}/submit",
                           json={"raw_transaction": raw})  # fmt: skip

    assert refused.status_code == 422
    assert refused.json()["error"] == "TransactionMismatch"
    assert refused.json()["args"]["differing"] == ["data"]
    assert service.view("receivables", "receivable", receivable["id"])[12] == 1  # still PENDING


def test_prepared_transaction_cannot_be_submitted_twice(service: Service) -> None:
    _, prepared = _prepare_confirm(service)
    raw = _sign(service.external["bank2"], prepared["unsigned_transaction"])
    path = f"/v1/transactions/{prepared['transaction']['id']}/submit"

    first = service.call("bank2", "POST", path, json={"raw_transaction": raw})
    second = service.call("bank2", "POST", path, json={"raw_transaction": raw})

    assert first.status_code == 200
    assert second.status_code == 409
