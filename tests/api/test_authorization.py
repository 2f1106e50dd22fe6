"""The authorization matrix, generated from the permission table and the app's routes.

- every operation x every role the table does not allow -> 403, and nothing sent;
- every operation with no key, an unknown key, a revoked key -> 401;
- every object operation by a caller who is no party to the object -> 404.
"""

from __future__ import annotations

from typing import Any

import pytest
from apikit import Service

from ledger_app.api.app import PUBLIC_ROUTES, api_routes, create_app
from ledger_app.api.permissions import PERMISSIONS, READERS, Role
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

ROUTES = {
    route.operation_id: (method, route.path)
    for route in api_routes(create_app(Settings()).routes)
    if route.path not in PUBLIC_ROUTES
    for method in route.methods
}
REFUSALS = [
    pytest.param(operation, role, id=f"{operation}-{role.value}")
    for operation, rule in sorted(PERMISSIONS.items())
    for role in Role
    if role not in rule.roles
]
ANONYMOUS = [pytest.param(op, kind, id=f"{op}-{kind}") for op in sorted(PERMISSIONS)
             for kind in ("missing", "unknown", "revoked")]  # fmt: skip


@pytest.fixture(scope="module")
def objects(service: Service) -> dict[str, Any]:
    """One object of each kind, owed by core to supplier, and a revoked key."""
    receivable = service.register()
    document = service.call("supplier", "POST", "/v1/documents", content=b"delivery note 7",
                            headers={"Content-Type": "text/plain"}).json()  # fmt: skip
    issued = service.call("operator", "POST",
                          f"/v1/participants/{service.addresses['supplier']}/api-keys").json()  # fmt: skip
    service.call("operator", "DELETE", f"/v1/api-keys/{issued['id']}")
    registered = service.call("core", "POST", "/v1/receivables", json=service.registration())
    return {
        "receivable_id": receivable["id"],
        "address": service.addresses["supplier"],
        "key_id": service.keys["supplier"].split("_")[1],
        "transaction_id": registered.json()["transaction"]["id"],
        "document_hash": document["document_hash"],
        "revoked_key": issued["key"],
        **trade_objects(service),
    }


def trade_objects(service: Service) -> dict[str, Any]:
    """A financing named to ``financier`` with an offer, a receivable free to finance, a
    PvP settlement (supplier pays core at fx's quote) and an escrow (supplier to core)."""
    service.mint("financier", 10**9)
    service.mint("supplier", 10**9)
    listed = service.call("operator", "POST", "/v1/currencies",
                          json={"currency": "USD", "issuer": service.addresses["bank"]})  # fmt: skip
    assert listed.status_code == 201, listed.text
    service.mint("fx", 10**9, currency="USD")
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": service.active()["id"],
                               "financier": service.addresses["financier"]}).json()  # fmt: skip
    financing_id = asked["result"]["id"]
    offered = service.call("financier", "POST", f"/v1/financings/{financing_id}/offers",
                           json=OFFER_TERMS)  # fmt: skip
    assert offered.status_code == 201, offered.text
    quote = service.call("fx", "POST", "/v1/fx/quotes",
                         json={"sell_currency": "CNY", "buy_currency": "USD",
                               "rate": "138000000000000000", "liquidity": "1000000"}).json()  # fmt: skip
    settled = service.call("supplier", "POST", "/v1/fx/settlements",
                           json={"quote": quote["result"]["quote"], "sell_amount": "1000",
                                 "payee": service.addresses["core"]})  # fmt: skip
    assert settled.status_code == 201, settled.text
    locked = service.call("supplier", "POST", "/v1/escrows",
                          json={"currency": "CNY", "recipient": service.addresses["core"],
                                "amount": "100", "hashlock": "0x" + "ab" * 32,
                                "timeout": "2099-01-01T00:00:00Z"})  # fmt: skip
    assert locked.status_code == 201, locked.text
    return {
        "financing_id": financing_id,
        "offer_index": 0,
        "financeable_id": service.active()["id"],
        "currency": "CNY",
        "root_id": asked["result"]["receivable_id"],
        "leaf_id": asked["result"]["receivable_id"],
        "uetr": settled.json()["result"]["uetr"],
        "lock_id": locked.json()["result"]["lock_id"],
    }


OFFER_TERMS = {"advance_rate_bps": 9000, "discount_rate_bps": 500,
               "expires_at": "2099-01-01T00:00:00Z"}  # fmt: skip
#: A well-formed quote (never used: every refusal comes before it would be).
FX_QUOTE = {"quote_id": "0x" + "ab" * 32, "sell_currency": "USD", "buy_currency": "CNY",
            "rate": "7100000000000000000", "issued_at": 1, "valid_until": 2}  # fmt: skip


def request_for(operation: str, objects: dict[str, Any], service: Service) -> tuple[str, str, Any]:
    method, path = ROUTES[operation]
    for name in ("receivable_id", "address", "key_id", "transaction_id", "document_hash",
                 "financing_id", "offer_index", "currency", "root_id", "leaf_id", "uetr",
                 "lock_id"):  # fmt: skip
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
    }
    return method, path, bodies.get(operation)


@pytest.mark.parametrize(("operation", "role"), REFUSALS)
def test_role_not_in_table_is_403_and_sends_nothing(
    service: Service, objects: dict[str, Any], operation: str, role: Role
) -> None:
    who = MEMBER[role]
    method, path, body = request_for(operation, objects, service)
    address = service.operator_address if who == "operator" else service.addresses[who]
    nonce = service.client.get_transaction_count(address)

    response = service.call(who, method, path, json=body)

    assert response.status_code == 403, response.text
    assert response.json()["error"] == "RoleNotAllowed"
    assert service.client.get_transaction_count(address) == nonce


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


NON_PARTY = {
    "receivables.show": "supplier2",
    "receivables.confirm": "supplier2",
    "receivables.reject": "supplier2",
    "receivables.split": "supplier2",
    "receivables.transfer": "supplier2",
    "receivables.cancel": "core2",
    "documents.show": "supplier2",
    "transactions.show": "supplier2",
    "transactions.submit": "supplier2",
    "api_keys.list": "supplier2",
    "api_keys.rotate": "supplier2",
    "api_keys.revoke": "supplier2",
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
    "clearing.show": "supplier2",
    "clearing.repay": "core2",
    "clearing.repay_fx": "core2",
    "clearing.redeem": "supplier2",
    "clearing.redeem_all": "supplier2",
    "fx.show_settlement": "supplier2",
    "fx.iso20022": "supplier2",
    "escrows.show": "supplier2",
    "escrows.claim": "supplier2",
    "escrows.refund": "supplier2",
}


def test_every_party_operation_has_a_non_party_case() -> None:
    party_operations = {op for op, rule in PERMISSIONS.items() if rule.party}
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
