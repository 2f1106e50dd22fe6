"""Participants and keys: onboarding on chain, standing, KYC, rotation, revocation, access log."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from apikit import Service, make_lei, make_tax_id, onboard
from eth_utils import keccak
from sqlalchemy import select

from ledger_app.db.api_tables import access_log
from ledger_app.db.engine import make_engine


def test_onboard_records_participant_on_chain_and_returns_key_once(service: Service) -> None:
    onboard(service, "newcomer", ["SUPPLIER", "FINANCIER"])
    address = service.addresses["newcomer"]

    me = service.call("newcomer", "GET", "/v1/participants/me")
    keys = service.call("newcomer", "GET", f"/v1/participants/{address}/api-keys").json()

    assert me.status_code == 200
    assert me.json()["roles"] == ["FINANCIER", "SUPPLIER"]
    assert me.json()["custodial"] is True
    assert service.view("participants", "participant", address)[3] is True  # onboarded
    assert service.view("participants", "hasRole", keccak(text="SUPPLIER"), address) is True
    assert service.client.web3.eth.get_balance(address) > 0  # funded for gas
    assert [k["id"] for k in keys]
    assert all("key" not in k for k in keys)


def test_suspended_participant_changes_nothing_until_reinstated(service: Service) -> None:
    onboard(service, "suspendee", ["CORE_ENTERPRISE"])
    address = service.addresses["suspendee"]

    suspended = service.call("operator", "POST", f"/v1/participants/{address}/suspend")
    refused = service.call("suspendee", "POST", "/v1/receivables", json=service.registration())
    reinstated = service.call("operator", "POST", f"/v1/participants/{address}/reinstate")
    allowed = service.call("suspendee", "POST", "/v1/receivables", json=service.registration())

    assert suspended.json()["result"]["standing"] == "SUSPENDED"
    assert service.view("participants", "standing", address) in (0, 2)
    assert refused.status_code == 403
    assert refused.json()["error"] == "ParticipantNotActive"
    assert reinstated.json()["result"]["standing"] == "ACTIVE"
    assert allowed.status_code == 201, allowed.text


def test_update_kyc_on_chain(service: Service) -> None:
    address = service.addresses["supplier2"]
    expiry = (datetime.now(UTC) + timedelta(days=700)).replace(microsecond=0)

    response = service.call("operator", "PUT", f"/v1/participants/{address}/kyc",
                            json={"kyc_expiry": expiry.isoformat()})  # fmt: skip

    assert response.status_code == 200, response.text
    assert service.view("participants", "participant", address)[2] == int(expiry.timestamp())


def test_rotate_and_revoke_keys_take_effect_at_once(service: Service) -> None:
    onboard(service, "rotator", ["SUPPLIER"])
    old_key = service.keys["rotator"]
    old_id = old_key.split("_")[1]  # lk_<id>_<secret>

    rotated = service.call("rotator", "POST", f"/v1/api-keys/{old_id}/rotate")
    new_key = rotated.json()["key"]
    with service.http(key=old_key) as http:
        old_answer = http.get("/v1/participants/me")
    with service.http(key=new_key) as http:
        new_answer = http.get("/v1/participants/me")
        revoked = http.delete(f"/v1/api-keys/{rotated.json()['id']}")
        after = http.get("/v1/participants/me")

    assert rotated.status_code == 201
    assert old_answer.status_code == 401
    assert new_answer.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert after.status_code == 401


def test_unknown_participant_is_404_and_duplicate_onboarding_409(service: Service) -> None:
    stranger = "0x" + "12" * 20
    existing = service.addresses["supplier"]
    body = {"lei": make_lei(), "jurisdiction": "CN", "roles": ["SUPPLIER"], "address": existing,
            "kyc_expiry": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            "tax_id": make_tax_id()}  # fmt: skip

    unknown = service.call("operator", "POST", f"/v1/participants/{stranger}/suspend")
    duplicate = service.call("operator", "POST", "/v1/participants", json=body)

    assert unknown.status_code == 404
    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == "RegistryParticipantExists"


def test_every_request_is_in_the_access_log(service: Service) -> None:
    with service.http(key="lk_nothing_here") as http:
        http.get("/v1/receivables")
    service.call("auditor", "GET", "/v1/receivables")

    # Other callers (the cast's set-up, earlier tests' stragglers) write to the log too:
    # look at this path's two newest rows, waiting briefly for the second to land.
    engine = make_engine(service.settings.database_url)
    deadline = time.monotonic() + 5
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(access_log)
                .where(access_log.c.path == "/v1/receivables")
                .order_by(access_log.c.id.desc())
                .limit(2)
            ).all()
        if (len(rows) == 2 and rows[0].participant is not None) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    engine.dispose()

    auditor, anonymous = rows
    assert (anonymous.participant, anonymous.status, anonymous.path) == (
        None,
        401,
        "/v1/receivables",
    )
    assert auditor.participant == service.addresses["auditor"].lower()
    assert (auditor.operation, auditor.status, auditor.method) == ("receivables.list", 200, "GET")


def test_metrics_report_indexer_and_requests(service: Service) -> None:
    service.call("auditor", "GET", "/v1/participants")

    with service.http() as http:
        text = http.get("/metrics").text

    assert "ledger_indexed_block " in text
    assert "ledger_indexer_lag_blocks " in text
    assert 'operation="participants.list",status="200"' in text


def test_list_by_role_pages_through_every_holder_of_the_role(service: Service) -> None:
    holders = {a.lower() for n, a in service.addresses.items() if n.startswith("supplier")}
    seen: list[str] = []
    cursor = None

    for _ in range(50):
        params = {"role": "SUPPLIER", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = service.call("auditor", "GET", "/v1/participants", params=params).json()
        seen += [p["address"].lower() for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert holders <= set(seen)
    assert len(seen) == len(set(seen))
