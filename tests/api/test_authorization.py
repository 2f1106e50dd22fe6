"""The authorization matrix, generated from the OpenAPI spec and held to the permission
table (ledger_app/api/permissions.py, the one source of truth for roles x operations).

Every operation /openapi.json lists with a security requirement must be in the table,
and every table entry in the spec (and the public operations are exactly the public
routes). Then, for every operation of the spec:

- as every role: one the table does not allow -> 403 ``RoleNotAllowed`` and nothing
  sent; one it allows -> past the role gate (neither 401 nor a role refusal), probed
  with unknown objects and an empty body so that nothing changes;
- with no key, an unknown key, a revoked key -> 401;
- by a caller who is no party to the object (every ``party`` operation) -> 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from apikit import OFFER_TERMS, Service, onboard, trade_objects

from ledger_app.api.app import PUBLIC_ROUTES, create_app
from ledger_app.api.permissions import PERMISSIONS, READERS, Role
from ledger_app.db.engine import make_engine
from ledger_app.db.notification_tables import webhook_subscriptions
from ledger_app.settings import Settings

#: The cast member holding each role.
MEMBER = {
    Role.OPERATOR: "operator",
    Role.CORE_ENTERPRISE: "core",
    Role.SUPPLIER: "supplier",
    Role.FINANCIER: "financier",
    Role.SETTLEMENT_BANK: "bank",
    Role.FX_PROVIDER: "fx",
    Role.AUDITOR: "auditor",
    Role.REGULATOR: "regulator",
}

#: The spec the service serves (test_served_spec_is_the_one_generated checks it is).
SPEC = create_app(Settings()).openapi()
#: operationId -> (method, path) of every operation of the spec that needs a key.
ROUTES = {
    operation["operationId"]: (method.upper(), path)
    for path, operations in SPEC["paths"].items()
    for method, operation in operations.items()
    if operation.get("security")
}
#: Every operation the spec or the table names: a name in only one of them fails.
OPERATIONS = sorted(ROUTES.keys() | PERMISSIONS.keys())
MATRIX = [pytest.param(op, role, id=f"{op}-{role.value}") for op in OPERATIONS for role in Role]
ANONYMOUS = [pytest.param(op, kind, id=f"{op}-{kind}") for op in OPERATIONS
             for kind in ("missing", "unknown", "revoked")]  # fmt: skip


@pytest.fixture(scope="module")
def objects(service: Service) -> dict[str, Any]:
    """One object of each kind, owed by core to supplier, a revoked key and a key recovery
    of supplier's keys pending."""
    receivable = service.register()
    document = service.call("supplier", "POST", "/v1/documents", content=b"delivery note 7",
                            headers={"Content-Type": "text/plain"}).json()  # fmt: skip
    issued = service.call("supplier", "POST",
                          f"/v1/participants/{service.addresses['supplier']}/api-keys").json()  # fmt: skip
    service.call("supplier", "DELETE", f"/v1/api-keys/{issued['id']}")
    recovery = service.call("operator", "POST",
                            f"/v1/participants/{service.addresses['supplier']}/recovery",
                            json={"reason": "authorization matrix"})  # fmt: skip
    assert recovery.status_code == 201, recovery.text
    registered = service.call("core", "POST", "/v1/receivables", json=service.registration())
    now = int(service.client.get_block("latest")["timestamp"])
    early = service.call("core", "POST", "/v1/clearing/early-payments", json={
        "leaf_id": service.active()["id"], "annual_rate_bps": 100,
        "expires_at": datetime.fromtimestamp(now + 86_400, UTC).isoformat()})  # fmt: skip
    assert early.status_code == 201, early.text
    return {
        "receivable_id": receivable["id"],
        "address": service.addresses["supplier"],
        "key_id": service.keys["supplier"].split("_")[1],
        "transaction_id": registered.json()["transaction"]["id"],
        "document_hash": document["document_hash"],
        "participant": service.addresses["core"],  # the supplier grants core the document
        "revoked_key": issued["key"],
        "recovery_id": recovery.json()["id"],
        "core": service.addresses["core"],
        **trade_objects(service),
        "line_id": service.credit_line("financier")["line_id"],
        "supplier": service.addresses["supplier"],
        "offer_id": early.json()["result"]["offer_id"],
        "sale_id": sale_on_offer(service),
        "subscription_id": webhook_of(service, "supplier"),
    }


def webhook_of(service: Service, who: str) -> str:
    """A webhook subscription of ``who``, written straight into the database: this module's
    service refuses http URLs, and no delivery must leave loopback (its port 9 discards)."""
    sub_id = "wh_authz" + "0" * 16
    engine = make_engine(service.settings.database_url)
    with engine.begin() as conn:
        conn.execute(webhook_subscriptions.insert().values(
            id=sub_id, participant=service.addresses[who].lower(), url="http://127.0.0.1:9/hook",
            kinds="receivable.to_confirm", secret_nonce="0" * 32, status="ACTIVE", cursor=0,
            attempts=0, consecutive_failures=0, created_at=datetime.now(UTC)))  # fmt: skip
    engine.dispose()
    return sub_id


def sale_on_offer(service: Service) -> int:
    """A financing funded by financier, offered for sale to financier2; and financier3,
    party to neither."""
    onboard(service, "financier3", ["FINANCIER"])
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": service.active()["id"],
                               "financier": service.addresses["financier"]}).json()  # fmt: skip
    financing_id = asked["result"]["id"]
    offered = service.call("financier", "POST", f"/v1/financings/{financing_id}/offers",
                           json=OFFER_TERMS)  # fmt: skip
    assert offered.status_code == 201, offered.text
    accepted = service.call("supplier", "POST", f"/v1/financings/{financing_id}/offers/0/accept")
    assert accepted.status_code == 200, accepted.text
    sale = service.call("financier", "POST", f"/v1/financings/{financing_id}/sales",
                        json={"buyer": service.addresses["financier2"], "price": "1",
                              "expiry": "2099-01-01T00:00:00Z"})  # fmt: skip
    assert sale.status_code == 201, sale.text
    return int(sale.json()["result"]["sales"][0]["sale_id"])


#: A well-formed quote (never used: every refusal comes before it would be).
FX_QUOTE = {"quote_id": "0x" + "ab" * 32, "sell_currency": "USD", "buy_currency": "CNY",
            "rate": "7100000000000000000", "issued_at": 1, "valid_until": 2}  # fmt: skip


def request_for(operation: str, objects: dict[str, Any], service: Service) -> tuple[str, str, Any]:
    """A well-formed request of ``operation`` on the module's real objects."""
    assert operation in ROUTES, f"{operation} is in the permission table, not in the spec"
    method, path = ROUTES[operation]
    for name in ("receivable_id", "address", "key_id", "transaction_id", "document_hash",
                 "financing_id", "offer_index", "currency", "root_id", "leaf_id", "uetr",
                 "lock_id", "participant", "recovery_id", "core", "line_id", "supplier",
                 "offer_id", "sale_id", "subscription_id"):  # fmt: skip
        path = path.replace("{" + name + "}", str(objects[name]))
    bodies = {
        "receivables.split": {"amounts": ["60000000", "40000000"]},
        "receivables.transfer": {"to": service.addresses["supplier2"]},
        "receivables.register": service.registration(),
        "receivables.register_batch": {"items": [service.registration()]},
        "tokens.mint": {"to": service.addresses["supplier2"], "amount": "1"},
        "tokens.burn": {"amount": "1"},
        "tokens.transfer": {"to": service.addresses["supplier2"], "amount": "1"},
        "financing.request": {"receivable_id": objects["financeable_id"]},
        "financing.quote": OFFER_TERMS,
        "financing.offer": OFFER_TERMS,
        "escrows.claim": {"preimage": "0x" + "01" * 32},
        "clearing.repay_fx": {"quote": {**FX_QUOTE, "provider": service.addresses["fx"]}},
        "documents.grant": {"participant": service.addresses["core"]},
        "key_recoveries.request": {"reason": "authorization matrix"},
        "risk.set_issuance_cap": {"cap": "1"},
        "risk.set_cap_manager": {"manager": None},
        "risk.set_overdue_trigger": {"days": 30},
        "risk.flag_overdue": {"root_id": objects["root_id"]},
        "credit_lines.grant": {
            "obligor": service.addresses["core2"],
            "currency": "CNY",
            "limit": "1",
            "expiry": "2099-01-01T00:00:00Z",
        },
        "credit_lines.amend": {"limit": "1"},
        "credit_lines.set_supplier_limit": {"limit": "1"},
        "credit_lines.write_off": {"receivable_id": objects["receivable_id"]},
        "clearing.offer_early_payment": {
            "leaf_id": objects["receivable_id"],
            "annual_rate_bps": 100,
            "expires_at": "2099-01-01T00:00:00Z",
        },
        "clearing.repay_leaves": {"leaf_ids": [objects["leaf_id"]]},
        "financing.pay_recourse": {"amount": "1"},
        "financing.offer_sale": {
            "buyer": service.addresses["financier2"],
            "price": "1",
            "expiry": "2099-01-01T00:00:00Z",
        },
    }
    return method, path, bodies.get(operation)


#: Path values that name nothing: an allowed caller gets past the role gate, changes nothing.
UNKNOWN = {
    "receivable_id": "999999",
    "financing_id": "999999",
    "offer_index": "0",
    "root_id": "999999",
    "leaf_id": "999999",
    "lock_id": "999999",
    "transaction_id": "no-such-transaction",
    "key_id": "0" * 16,
    "recovery_id": "0" * 16,
    "address": "0x" + "0" * 39 + "1",
    "document_hash": "0x" + "00" * 32,
    "uetr": "00000000-0000-4000-8000-000000000000",
    "currency": "XXX",  # ISO 4217 "no currency": well-formed and never listed
    "tx_hash": "0x" + "00" * 32,
    "participant": "0x" + "0" * 39 + "1",
    "core": "0x" + "0" * 39 + "1",
    "line_id": "999999",
    "supplier": "0x" + "0" * 39 + "1",
    "offer_id": "999999",
    "sale_id": "999999",
    "alert_id": "999999",
    "case_id": "999999",
    "rule": "no_such_rule",
    "subscription_id": "wh_" + "0" * 24,
}


def probe_for(operation: str) -> tuple[str, str, dict[str, Any]]:
    """``operation`` on objects that do not exist, with an empty body: a request the role
    gate judges like any other, and that can change nothing once past it."""
    method, path = ROUTES[operation]
    for name, value in UNKNOWN.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no unknown value for a parameter of {path}"
    body = SPEC["paths"][ROUTES[operation][1]][method.lower()].get("requestBody")
    if operation == "events.stream":  # a stream: ended by the service after a second
        return method, path, {"params": {"max_seconds": 1}}
    if body is None:
        return method, path, {}
    if "application/json" in body["content"]:
        return method, path, {"json": {}}
    return method, path, {"content": b"", "headers": {"Content-Type": "text/plain"}}


def test_spec_and_permission_table_list_the_same_operations() -> None:
    public = {path for path, ops in SPEC["paths"].items() for op in ops.values()
              if not op.get("security")}  # fmt: skip

    assert set(ROUTES) == set(PERMISSIONS)
    assert public == PUBLIC_ROUTES


def test_served_spec_is_the_one_generated(service: Service) -> None:
    with service.http() as http:
        assert http.get("/openapi.json").json() == SPEC


@pytest.mark.parametrize(("operation", "role"), MATRIX)
def test_every_operation_as_every_role_is_what_the_table_says(
    service: Service, objects: dict[str, Any], operation: str, role: Role
) -> None:
    assert operation in ROUTES, f"{operation} is in the permission table, not in the spec"
    assert operation in PERMISSIONS, f"{operation} is in the spec, not in the permission table"
    who = MEMBER[role]

    if role not in PERMISSIONS[operation].roles:
        address = service.operator_address if who == "operator" else service.addresses[who]
        nonce = service.client.get_transaction_count(address)
        method, path, body = request_for(operation, objects, service)
        response = service.call(who, method, path, json=body)

        assert response.status_code == 403, response.text
        assert response.json()["error"] == "RoleNotAllowed"
        # The caller's roles in the API's words (SUPPLIER), never a Python repr (<Role...>).
        assert "<" not in response.json()["message"], response.text
        assert service.client.get_transaction_count(address) == nonce
    else:
        method, path, request = probe_for(operation)
        response = service.call(who, method, path, **request)

        assert response.status_code != 401, response.text
        assert response.status_code < 500, response.text
        if response.status_code == 403:
            assert response.json()["error"] != "RoleNotAllowed", response.text


@pytest.mark.parametrize(("operation", "kind"), ANONYMOUS)
def test_missing_unknown_or_revoked_key_is_401(
    service: Service, objects: dict[str, Any], operation: str, kind: str
) -> None:
    method, path, body = request_for(operation, objects, service)
    key = {"missing": None, "unknown": "lk_0123456789abcdef_" + "x" * 43,
           "revoked": objects["revoked_key"]}[kind]  # fmt: skip

    with service.http(key=key) as http:
        response = http.request(method, path, json=body)

    assert response.status_code == 401, response.text


#: The cast member who is no party to the module's objects, for every ``party`` operation.
NON_PARTY = {
    "receivables.show": "supplier2",
    "receivables.confirm": "supplier2",
    "receivables.reject": "supplier2",
    "receivables.split": "supplier2",
    "receivables.transfer": "supplier2",
    "receivables.cancel": "core2",
    "documents.show": "supplier2",
    "documents.disclosure": "supplier2",
    "documents.grant": "supplier2",
    "documents.grants": "supplier2",
    "documents.revoke": "supplier2",
    "transactions.show": "supplier2",
    "transactions.submit": "supplier2",
    "api_keys.list": "supplier2",
    "api_keys.rotate": "supplier2",
    "api_keys.revoke": "supplier2",
    "key_recoveries.list": "supplier2",
    "key_recoveries.cancel": "supplier2",
    "audit.trace": "supplier2",
    "audit.verify": "supplier2",
    "tokens.balances": "supplier2",
    "financing.request": "supplier2",
    "financing.show": "financier2",
    "financing.quote": "financier2",
    "financing.offer": "financier2",
    "financing.accept": "supplier2",
    "financing.reject_offer": "supplier2",
    "financing.withdraw_offer": "financier2",
    "financing.expire_offer": "supplier2",
    "financing.cancel": "supplier2",
    "financing.declare_default": "financier2",
    "financing.pay_recourse": "supplier2",
    "financing.withdraw_recourse": "supplier2",
    "financing.offer_sale": "financier2",
    "financing.buy_sale": "financier3",
    "financing.cancel_sale": "financier3",
    "clearing.show": "supplier2",
    "clearing.repay": "core2",
    "clearing.repay_fx": "core2",
    "clearing.redeem": "supplier2",
    "clearing.redeem_all": "supplier2",
    "clearing.early_payment": "supplier2",
    "clearing.offer_early_payment": "core2",
    "clearing.withdraw_early_payment": "core2",
    "clearing.accept_early_payment": "supplier2",
    "clearing.repay_leaves": "core2",
    "fx.show_settlement": "supplier2",
    "fx.iso20022": "supplier2",
    "escrows.show": "supplier2",
    "escrows.claim": "supplier2",
    "escrows.refund": "supplier2",
    # Another financier cannot tell the line (or the financed receivable) exists.
    "credit_lines.show": "financier2",
    "credit_lines.amend": "financier2",
    "credit_lines.set_supplier_limit": "financier2",
    "credit_lines.remove_supplier": "financier2",
    "credit_lines.close": "financier2",
    "credit_lines.write_off": "financier2",
    # A webhook subscription is its owner's alone.
    "webhooks.show": "supplier2",
    "webhooks.rotate_secret": "supplier2",
    "webhooks.replay": "supplier2",
    "webhooks.delete": "supplier2",
    "webhooks.deliveries": "supplier2",
}


def test_every_party_operation_has_a_non_party_case() -> None:
    party_operations = {op for op in ROUTES if PERMISSIONS[op].party}
    uncovered = party_operations - set(NON_PARTY)
    # Only operations reserved to readers (a party to everything) need no case.
    assert all(PERMISSIONS[op].roles <= READERS for op in uncovered), uncovered


@pytest.mark.parametrize("operation", sorted(NON_PARTY))
def test_non_party_gets_404_as_if_nothing_existed(
    service: Service, objects: dict[str, Any], operation: str
) -> None:
    method, path, body = request_for(operation, objects, service)
    if operation == "transactions.submit":
        body = {"raw_transaction": "0x00"}

    response = service.call(NON_PARTY[operation], method, path, json=body)

    assert response.status_code == 404, response.text


def test_operator_cannot_become_a_participant_by_issuing_itself_its_key(
    service: Service,
) -> None:
    # Issue 17: the operator issued itself a key of the settlement bank and minted as it.
    bank = service.addresses["bank"]
    supply = service.token_view("CNY", "totalSupply")
    bank_key_id = service.keys["bank"].split("_")[1]

    issued = service.call("operator", "POST", f"/v1/participants/{bank}/api-keys",
                          json={"label": "operator as the bank"})  # fmt: skip
    rotated = service.call("operator", "POST", f"/v1/api-keys/{bank_key_id}/rotate")

    assert (issued.status_code, issued.json().get("error")) == (403, "ApiKeyOwnerOnly")
    assert (rotated.status_code, rotated.json().get("error")) == (403, "ApiKeyOwnerOnly")

    recovery = service.call("operator", "POST", f"/v1/participants/{bank}/recovery",
                            json={"reason": "operator as the bank"})  # fmt: skip
    at_once = service.call("operator", "POST",
                           f"/v1/key-recoveries/{recovery.json()['id']}/complete")  # fmt: skip
    cancelled = service.call("bank", "POST", f"/v1/key-recoveries/{recovery.json()['id']}/cancel")

    assert recovery.status_code == 201, recovery.text
    assert (at_once.status_code, at_once.json()["error"]) == (409, "KeyRecoveryNotDue")
    assert cancelled.json()["status"] == "CANCELLED", cancelled.text
    assert all("lk_" not in r.text for r in (issued, rotated, recovery, at_once, cancelled))
    assert service.token_view("CNY", "totalSupply") == supply
    assert service.call("bank", "GET", "/v1/participants/me").status_code == 200
