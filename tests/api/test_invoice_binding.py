"""Issue 17: invoices bound to their seller, no existence oracle, one LEI per participant.

A core enterprise could register (and cancel, burning it for ever) another seller's next
invoice number by naming its own shell supplier as the creditor with the victim's tax id;
a duplicate's 409 told any caller which receivable held the invoice; the same LEI could be
onboarded twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apikit import Service, make_lei, make_tax_id, onboard
from eth_account import Account
from sqlalchemy import delete

from ledger_app.db.api_tables import participant_tax_ids
from ledger_app.db.engine import make_engine


def _sign(account: Any, unsigned: dict[str, Any]) -> str:
    tx = {k: (int(v, 16) if k not in ("to", "data") else v) for k, v in unsigned.items()}
    return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()


def _onboarding(**fields: Any) -> dict[str, Any]:
    body = {"lei": make_lei(), "jurisdiction": "CN", "roles": ["SUPPLIER"],
            "kyc_expiry": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            "tax_id": make_tax_id()}  # fmt: skip
    body.update(fields)
    return body


# --- invoice squatting ---------------------------------------------------------------------


def test_register_with_another_sellers_tax_id_is_refused(service: Service) -> None:
    onboard(service, "shell", ["SUPPLIER"])  # the core's own supplier
    victim_tax_id = service.tax_ids[service.addresses["supplier"].lower()]
    squat = service.registration(creditor=service.addresses["shell"])
    squat["invoice"]["seller_tax_id"] = victim_tax_id.lower()  # normalised before comparing
    nonce = service.nonce("core")

    refused = service.call("core", "POST", "/v1/receivables", json=squat)

    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["error"] == "SellerNotCreditor"
    assert body["args"]["seller_tax_id"] == victim_tax_id
    assert body["args"]["creditor"].lower() == service.addresses["shell"].lower()
    assert service.nonce("core") == nonce  # nothing sent


def test_same_invoice_number_of_two_sellers_gets_two_keys(service: Service) -> None:
    # The shell registers (and the core cancels) an invoice number under its own tax id:
    # on chain the key is bound to the shell's LEI, so the victim's invoice stays free.
    onboard(service, "shell2", ["SUPPLIER"])
    squat = service.registration(creditor=service.addresses["shell2"])
    burnt = service.register(**squat)
    cancelled = service.call("core", "POST", f"/v1/receivables/{burnt['id']}/cancel")
    victims = service.registration(invoice={**squat["invoice"], "seller_tax_id": service.tax_ids[service.addresses["supplier"].lower()]})  # fmt: skip

    registered = service.call("core2", "POST", "/v1/receivables", json=victims)

    assert cancelled.status_code == 200, cancelled.text
    assert registered.status_code == 201, registered.text
    assert registered.json()["result"]["invoice_key"] != burnt["invoice_key"]


# --- no existence oracle ---------------------------------------------------------------------


def test_duplicate_invoice_names_existing_id_only_to_parties(service: Service) -> None:
    body = service.registration()
    first = service.register(**body)

    party = service.call("core", "POST", "/v1/receivables", json=body)
    stranger = service.call("core2", "POST", "/v1/receivables", json=body)

    assert party.status_code == stranger.status_code == 409
    assert party.json()["error"] == stranger.json()["error"] == "ReceivableDuplicateInvoice"
    assert party.json()["args"]["id"] == first["id"]
    assert "id" not in stranger.json()["args"]
    assert str(first["id"]) not in stranger.json()["message"]


def test_batch_duplicate_names_existing_id_only_to_parties(service: Service) -> None:
    body = service.registration()
    first = service.register(**body)
    items = [service.registration(), body]

    party = service.call("core", "POST", "/v1/receivables/batch", json={"items": items})
    stranger = service.call("core2", "POST", "/v1/receivables/batch", json={"items": items})

    assert party.status_code == stranger.status_code == 409
    [party_row] = party.json()["args"]["rows"]
    [stranger_row] = stranger.json()["args"]["rows"]
    assert party_row["error"] == stranger_row["error"] == "ReceivableDuplicateInvoice"
    assert party_row["id"] == first["id"]
    assert "id" not in stranger_row
    assert str(first["id"]) not in stranger_row["message"]


def test_duplicate_revert_hides_existing_id_from_non_party(service: Service) -> None:
    # A self-signing core prepares a registration; before it submits, the same invoice is
    # registered by another core. Its signed transaction then reverts on chain (no pre-check
    # stands between a submitted signature and the chain): the revert's existingId must go.
    account = Account.create()
    onboard(service, "signing_core", ["CORE_ENTERPRISE"], address=account.address)
    service.external["signing_core"] = account
    body = service.registration()
    prepared = service.call("signing_core", "POST", "/v1/receivables", json=body)
    assert prepared.status_code == 202, prepared.text
    taken = service.register(**body)

    submitted = service.call(
        "signing_core", "POST", f"/v1/transactions/{prepared.json()['transaction']['id']}/submit",
        json={"raw_transaction": _sign(account, prepared.json()["unsigned_transaction"])},
    )  # fmt: skip

    assert submitted.status_code == 409, submitted.text
    assert submitted.json()["error"] == "ReceivableDuplicateInvoice"
    assert "existingId" not in submitted.json()["args"]
    assert "invoiceKey" in submitted.json()["args"]
    assert str(taken["id"]) not in submitted.json()["message"]


# --- seller tax ids ---------------------------------------------------------------------


def test_supplier_onboarded_without_tax_id_is_422(service: Service) -> None:
    body = _onboarding()
    del body["tax_id"]

    refused = service.call("operator", "POST", "/v1/participants", json=body)

    assert refused.status_code == 422, refused.text
    assert "tax_id" in refused.json()["message"]


def test_creditor_without_recorded_tax_id_is_409_until_the_operator_records_it(
    service: Service,
) -> None:
    shown = onboard(service, "old_supplier", ["SUPPLIER"])
    address = service.addresses["old_supplier"]
    # As a supplier onboarded before tax ids were recorded.
    engine = make_engine(service.settings.database_url)
    with engine.begin() as conn:
        conn.execute(
            delete(participant_tax_ids).where(participant_tax_ids.c.account == address.lower())
        )
    engine.dispose()
    body = service.registration(creditor=address)
    body["invoice"]["seller_tax_id"] = shown["tax_id"]

    unknown = service.call("core", "POST", "/v1/receivables", json=body)
    recorded = service.call("operator", "PUT", f"/v1/participants/{address}/tax-id",
                            json={"tax_id": shown["tax_id"]})  # fmt: skip
    again = service.call("operator", "PUT", f"/v1/participants/{address}/tax-id",
                         json={"tax_id": make_tax_id()})  # fmt: skip
    registered = service.call("core", "POST", "/v1/receivables", json=body)

    assert unknown.status_code == 409, unknown.text
    assert unknown.json()["error"] == "CreditorTaxIdUnknown"
    assert f"/v1/participants/{address}/tax-id" in unknown.json()["message"]
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["tax_id"] == shown["tax_id"]
    assert again.status_code == 409
    assert again.json()["error"] == "TaxIdAlreadyRecorded"
    assert registered.status_code == 201, registered.text


def test_participant_directory_shows_tax_id(service: Service) -> None:
    supplier = service.addresses["supplier"]

    shown = service.call("core", "GET", f"/v1/participants/{supplier}")

    assert shown.json()["tax_id"] == service.tax_ids[supplier.lower()]


# --- one LEI, one participant ---------------------------------------------------------------


def test_onboarding_an_lei_held_by_another_participant_is_409_naming_it(
    service: Service,
) -> None:
    held = service.call("operator", "GET", f"/v1/participants/{service.addresses['supplier']}")
    lei = held.json()["lei"]
    nonce = service.client.get_transaction_count(service.operator_address)

    refused = service.call("operator", "POST", "/v1/participants", json=_onboarding(lei=lei))

    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "RegistryDuplicateLei"
    assert refused.json()["args"]["lei"] == lei
    assert lei in refused.json()["message"]
    assert service.client.get_transaction_count(service.operator_address) == nonce


def test_onboarding_a_tax_id_held_by_another_participant_is_409(service: Service) -> None:
    tax_id = service.tax_ids[service.addresses["supplier"].lower()]

    refused = service.call("operator", "POST", "/v1/participants", json=_onboarding(tax_id=tax_id))

    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "TaxIdAlreadyRecorded"
