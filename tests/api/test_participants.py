"""Participants and keys: onboarding on chain, standing, KYC, rotation, revocation, access log."""

from __future__ import annotations

import json
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
    # look at this path's two newest rows once the auditor's has landed (rows are written
    # in batches, off the request path: until then the newest is an earlier test's).
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
        landed = len(rows) == 2 and rows[0].participant == service.addresses["auditor"].lower()
        if landed or time.monotonic() > deadline:
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


# --- separation of duties: keys are their owner's (issue 17) -----------------------------


def key_ids(service: Service, who: str) -> dict[str, str | None]:
    """Key id -> revoked_at of cast member ``who``'s keys, as the owner reads them."""
    address = service.addresses[who]
    listed = service.call(who, "GET", f"/v1/participants/{address}/api-keys")
    assert listed.status_code == 200, listed.text
    return {k["id"]: k["revoked_at"] for k in listed.json()}


def test_operator_cannot_issue_rotate_or_revoke_a_participants_keys(service: Service) -> None:
    onboard(service, "guarded", ["SETTLEMENT_BANK"])
    address = service.addresses["guarded"]
    key_id = service.keys["guarded"].split("_")[1]
    before = key_ids(service, "guarded")

    issued = service.call("operator", "POST", f"/v1/participants/{address}/api-keys",
                          json={"label": "the operator's way in"})  # fmt: skip
    rotated = service.call("operator", "POST", f"/v1/api-keys/{key_id}/rotate")
    revoked = service.call("operator", "DELETE", f"/v1/api-keys/{key_id}")

    for refused in (issued, rotated, revoked):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "ApiKeyOwnerOnly"
        assert "recovery" in refused.json()["message"]
        assert "lk_" not in refused.text
    assert key_ids(service, "guarded") == before  # nothing issued, nothing revoked


def test_participant_issues_its_own_keys_and_no_one_elses(service: Service) -> None:
    onboard(service, "self-keyed", ["SUPPLIER"])
    address = service.addresses["self-keyed"]

    issued = service.call("self-keyed", "POST", f"/v1/participants/{address}/api-keys",
                          json={"label": "back office"})  # fmt: skip
    for_another = service.call("self-keyed", "POST",
                               f"/v1/participants/{service.addresses['supplier2']}/api-keys")  # fmt: skip

    assert issued.status_code == 201, issued.text
    assert issued.json()["participant"].lower() == address.lower()
    with service.http(key=issued.json()["key"]) as http:
        assert http.get("/v1/participants/me").json()["address"] == address
    assert for_another.status_code == 403, for_another.text
    assert for_another.json()["error"] == "ApiKeyOwnerOnly"
    assert issued.headers["Cache-Control"] == "no-store"


def test_suspended_participant_can_neither_issue_nor_rotate_its_keys(service: Service) -> None:
    onboard(service, "suspended-keys", ["SUPPLIER"])
    address = service.addresses["suspended-keys"]
    key_id = service.keys["suspended-keys"].split("_")[1]
    suspended = service.call("operator", "POST", f"/v1/participants/{address}/suspend")
    assert suspended.json()["result"]["standing"] == "SUSPENDED", suspended.text
    before = key_ids(service, "suspended-keys")

    issued = service.call("suspended-keys", "POST", f"/v1/participants/{address}/api-keys")
    rotated = service.call("suspended-keys", "POST", f"/v1/api-keys/{key_id}/rotate")

    for refused in (issued, rotated):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "ParticipantNotActive"
        assert refused.json()["args"]["standing"] == "SUSPENDED"
    assert key_ids(service, "suspended-keys") == before
    service.call("operator", "POST", f"/v1/participants/{address}/reinstate")


def test_kyc_expired_participant_can_neither_issue_nor_rotate_its_keys(service: Service) -> None:
    expiry = datetime.now(UTC) + timedelta(seconds=4)
    body = {"lei": make_lei(), "jurisdiction": "CN", "roles": ["SUPPLIER"],
            "kyc_expiry": expiry.isoformat(), "tax_id": make_tax_id()}  # fmt: skip
    onboarded = service.call("operator", "POST", "/v1/participants", json=body)
    assert onboarded.status_code == 201, onboarded.text
    key = onboarded.json()["result"]["api_key"]
    address = onboarded.json()["result"]["participant"]["address"]
    time.sleep(max(0.0, expiry.timestamp() - time.time()) + 0.5)

    with service.http(key=key["key"]) as http:
        issued = http.post(f"/v1/participants/{address}/api-keys")
        rotated = http.post(f"/v1/api-keys/{key['id']}/rotate")
        keys = http.get(f"/v1/participants/{address}/api-keys").json()

    for refused in (issued, rotated):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "ParticipantNotActive"
        assert refused.json()["args"]["standing"] == "KYC_EXPIRED"
    assert [(k["id"], k["revoked_at"]) for k in keys] == [(key["id"], None)]


def test_rotating_a_revoked_key_is_refused_and_issues_nothing(service: Service) -> None:
    onboard(service, "revoker", ["SUPPLIER"])
    first_id = service.keys["revoker"].split("_")[1]
    replaced = service.call("revoker", "POST", f"/v1/api-keys/{first_id}/rotate")
    assert replaced.status_code == 201, replaced.text
    service.keys["revoker"] = replaced.json()["key"]  # the first key is revoked now
    before = key_ids(service, "revoker")

    rotated = service.call("revoker", "POST", f"/v1/api-keys/{first_id}/rotate")

    assert rotated.status_code == 409, rotated.text
    assert rotated.json()["error"] == "ApiKeyRevoked"
    assert rotated.json()["args"]["id"] == first_id
    assert "lk_" not in rotated.text
    assert key_ids(service, "revoker") == before


def test_operator_me_answers_its_own_identity(service: Service) -> None:
    me = service.call("operator", "GET", "/v1/participants/me")

    assert me.status_code == 200, me.text
    body = me.json()
    assert body["address"].lower() == service.operator_address.lower()
    assert "OPERATOR" in body["roles"]  # with DEFAULT_ADMIN, as the chain has it
    assert body["standing"] == "ACTIVE"
    assert "participants.onboard" in body["operations"]
    assert "key_recoveries.request" in body["operations"]
    assert "api_keys.rotate" in body["operations"]
    assert "tokens.mint" not in body["operations"]


# --- key recovery by the operator: delayed, noticed, cancellable, audited ----------------


def recoveries(service: Service, who: str, address: str) -> list[dict]:
    listed = service.call(who, "GET", f"/v1/participants/{address}/recoveries")
    assert listed.status_code == 200, listed.text
    return listed.json()


def test_key_recovery_completes_only_after_the_delay_with_notice_and_audit(
    service: Service,
) -> None:
    onboard(service, "lost-keys", ["SETTLEMENT_BANK"])
    address = service.addresses["lost-keys"]
    old_key = service.keys["lost-keys"]

    requested = service.call("operator", "POST", f"/v1/participants/{address}/recovery",
                             json={"reason": "ticket 4711: every key lost with a laptop"})  # fmt: skip
    assert requested.status_code == 201, requested.text
    recovery = requested.json()
    early = service.call("operator", "POST", f"/v1/key-recoveries/{recovery['id']}/complete")
    second = service.call("operator", "POST", f"/v1/participants/{address}/recovery",
                          json={"reason": "again"})  # fmt: skip
    me = service.call("lost-keys", "GET", "/v1/participants/me")
    time.sleep(max(0.0, _seconds_until(recovery["completable_at"])) + 0.2)
    completed = service.call("operator", "POST", f"/v1/key-recoveries/{recovery['id']}/complete")

    assert recovery["status"] == "PENDING"
    assert recovery["participant"].lower() == address.lower()
    assert recovery["requested_by"].lower() == service.operator_address.lower()
    assert _seconds_between(recovery["requested_at"], recovery["completable_at"]) >= 2.0
    assert early.status_code == 409, early.text
    assert early.json()["error"] == "KeyRecoveryNotDue"
    assert second.status_code == 409, second.text
    assert second.json()["error"] == "KeyRecoveryPending"
    # Notice: the participant's own calls carry it, and its record lists the request.
    assert me.headers["X-Ledger-Key-Recovery"].startswith(recovery["id"])
    assert [r["id"] for r in me.json()["key_recoveries"]] == [recovery["id"]]
    # Completion: a new key for the participant, shown once, not cached; the old one revoked.
    assert completed.status_code == 201, completed.text
    assert completed.headers["Cache-Control"] == "no-store"
    new_key = completed.json()["api_key"]["key"]
    assert completed.json()["recovery"]["status"] == "COMPLETED"
    assert completed.json()["recovery"]["api_key_id"] == completed.json()["api_key"]["id"]
    with service.http(key=old_key) as http:
        assert http.get("/v1/participants/me").status_code == 401
    with service.http(key=new_key) as http:
        mine = http.get("/v1/participants/me")
    assert mine.json()["address"] == address
    assert mine.json()["key_recoveries"] == []
    assert "X-Ledger-Key-Recovery" not in mine.headers
    # Audit: every step, with who and when, for the auditor and for the participant.
    for reader in ("auditor", "regulator", "operator"):
        [seen] = [r for r in recoveries(service, reader, address) if r["id"] == recovery["id"]]
        assert [e["action"] for e in seen["events"]] == ["REQUESTED", "COMPLETED"]
        assert {e["actor"].lower() for e in seen["events"]} == {service.operator_address.lower()}
        assert seen["reason"] == "ticket 4711: every key lost with a laptop"
    with service.http(key=new_key) as http:
        own = http.get(f"/v1/participants/{address}/recoveries").json()
    assert [r["status"] for r in own] == ["COMPLETED"]
    assert "lk_" not in json.dumps(own)


def test_participant_sees_and_cancels_a_pending_key_recovery(service: Service) -> None:
    onboard(service, "watchful", ["FINANCIER"])
    address = service.addresses["watchful"]
    recovery = service.call("operator", "POST", f"/v1/participants/{address}/recovery",
                            json={"reason": "a caller claiming to be the bank"}).json()  # fmt: skip

    outsider = service.call("supplier2", "POST", f"/v1/key-recoveries/{recovery['id']}/cancel")
    outsider_list = service.call("supplier2", "GET", f"/v1/participants/{address}/recoveries")
    cancelled = service.call("watchful", "POST", f"/v1/key-recoveries/{recovery['id']}/cancel")
    time.sleep(max(0.0, _seconds_until(recovery["completable_at"])) + 0.2)
    completed = service.call("operator", "POST", f"/v1/key-recoveries/{recovery['id']}/complete")
    me = service.call("watchful", "GET", "/v1/participants/me")

    assert outsider.status_code == 404, outsider.text
    assert outsider_list.status_code == 404, outsider_list.text
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["closed_by"].lower() == address.lower()
    assert completed.status_code == 409, completed.text
    assert completed.json()["error"] == "KeyRecoveryNotPending"
    assert "lk_" not in completed.text
    assert me.status_code == 200  # the participant's key still works
    assert "X-Ledger-Key-Recovery" not in me.headers
    [seen] = recoveries(service, "auditor", address)
    assert [(e["action"], e["actor"].lower()) for e in seen["events"]] == [
        ("REQUESTED", service.operator_address.lower()),
        ("CANCELLED", address.lower()),
    ]
    assert seen["events"][1]["api_key_id"] == service.keys["watchful"].split("_")[1]


def test_key_recovery_of_an_unknown_participant_or_the_operator_is_refused(
    service: Service,
) -> None:
    unknown = service.call("operator", "POST", f"/v1/participants/0x{'12' * 20}/recovery",
                           json={"reason": "no one"})  # fmt: skip
    itself = service.call("operator", "POST",
                          f"/v1/participants/{service.operator_address}/recovery",
                          json={"reason": "myself"})  # fmt: skip
    by_supplier = service.call("supplier", "POST",
                               f"/v1/participants/{service.addresses['supplier2']}/recovery",
                               json={"reason": "take over"})  # fmt: skip

    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"] == "ParticipantUnknown"
    assert itself.status_code == 409, itself.text
    assert itself.json()["error"] == "KeyRecoveryOfOperator"
    assert by_supplier.status_code == 403
    assert by_supplier.json()["error"] == "RoleNotAllowed"


def _seconds_until(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp() - time.time()


def _seconds_between(start: str, end: str) -> float:
    return datetime.fromisoformat(end).timestamp() - datetime.fromisoformat(start).timestamp()
