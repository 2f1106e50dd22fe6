"""Documents between tenants: a document is its uploader's; others read it through a grant.

The attack of issue 17: a core enterprise registers its own receivable with a victim's
document hash (public on chain) and reads the victim's invoice. Refused at registration,
and a receivable registered straight on chain with the hash gives nobody access. Also:
grants and their revocation, the access log of fetches, attachment headers, the quota.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from apikit import Service, onboard, running_service
from eth_account import Account
from eth_utils import keccak

#: Small enough to cross in a test; documents here are a few bytes.
QUOTA = 64 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The API suite's service, with a per-participant document quota of 64 KiB."""
    with running_service(tmp_path_factory.mktemp("documents"),
                         document_quota_bytes=QUOTA) as svc:  # fmt: skip
        yield svc


def upload(service: Service, who: str, content: bytes) -> dict[str, Any]:
    """``who`` uploads ``content`` as text; the stored document's hashes."""
    response = service.call(who, "POST", "/v1/documents", content=content,
                            headers={"Content-Type": "text/plain"})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def invoice(service: Service, who: str = "supplier") -> dict[str, Any]:
    """A fresh invoice uploaded by ``who``."""
    return upload(service, who, f"invoice {time.time_ns()} of {who}".encode())


def fetch(service: Service, who: str, document_hash: str) -> Any:
    return service.call(who, "GET", f"/v1/documents/{document_hash}")


def grant(service: Service, who: str, document_hash: str, to: str) -> Any:
    return service.call(who, "POST", f"/v1/documents/{document_hash}/grants",
                        json={"participant": service.addresses[to]})  # fmt: skip


# --- the attack ---------------------------------------------------------------------------


def test_register_with_another_tenants_document_is_refused(service: Service) -> None:
    victim = invoice(service, "supplier")
    nonce = service.nonce("core2")

    single = service.call("core2", "POST", "/v1/receivables", json=service.registration(
        creditor=service.addresses["supplier2"], document_hash=victim["document_hash"]))  # fmt: skip
    batch = service.call("core2", "POST", "/v1/receivables/batch", json={"items": [
        service.registration(creditor=service.addresses["supplier2"]),
        service.registration(creditor=service.addresses["supplier2"],
                             document_hash=victim["document_hash"])]})  # fmt: skip
    read = fetch(service, "core2", victim["document_hash"])

    assert single.status_code == 404, single.text
    assert single.json()["error"] == "DocumentUnknown"
    assert single.json()["args"]["field"] == "document_hash"
    assert batch.status_code == 404, batch.text
    assert batch.json()["error"] == "BatchRefused"
    assert [(r["row"], r["field"], r["error"]) for r in batch.json()["args"]["rows"]] == [
        (1, "document_hash", "DocumentUnknown")
    ]
    assert service.nonce("core2") == nonce  # nothing was sent
    assert read.status_code == 404


def test_receivable_registered_on_chain_with_a_victims_hash_gives_no_access(
    service: Service,
) -> None:
    victim = invoice(service, "supplier")
    attacker = Account.create()
    onboard(service, "core_direct", ["CORE_ENTERPRISE"], address=attacker.address)
    call = service.contracts.call("receivables", "register", (
        service.addresses["supplier2"], 100_000_000, b"CNY",
        int(time.time()) + 90 * 86400, keccak(text=f"direct {time.time_ns()}"),
        bytes.fromhex(victim["document_hash"][2:]), 0))  # fmt: skip

    receipt = service.client.send_transaction(attacker, to=call.to, data=call.data,
                                              abis=call.abis)  # fmt: skip
    indexed = _wait_for_receivable(service, "core_direct", victim["document_hash"])
    as_attacker = fetch(service, "core_direct", victim["document_hash"])
    as_creditor = fetch(service, "supplier2", victim["document_hash"])
    as_uploader = fetch(service, "supplier", victim["document_hash"])

    assert receipt.status == 1
    assert indexed["debtor"].lower() == attacker.address.lower()
    assert as_attacker.status_code == 404, as_attacker.text
    assert as_creditor.status_code == 404, as_creditor.text
    assert as_uploader.status_code == 200


def _wait_for_receivable(service: Service, who: str, document_hash: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = service.call(who, "GET", "/v1/receivables").json()["items"]
        found = [r for r in items if r["document_hash"] == document_hash]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("the receivable sent on chain was not indexed in 30 s")


# --- grants -------------------------------------------------------------------------------


def test_granted_document_is_registered_and_served_to_the_receivables_parties(
    service: Service,
) -> None:
    document = invoice(service, "supplier")
    document_hash = document["document_hash"]

    granted = grant(service, "supplier", document_hash, "core")
    listed = service.call("supplier", "GET", f"/v1/documents/{document_hash}/grants")
    receivable = service.active(document_hash=document_hash)
    moved = service.call("supplier", "POST", f"/v1/receivables/{receivable['id']}/transfer",
                         json={"to": service.addresses["supplier2"]})  # fmt: skip

    assert granted.status_code == 201, granted.text
    assert granted.json()["participant"] == service.addresses["core"]
    assert [g["participant"] for g in listed.json()["items"]] == [service.addresses["core"]]
    assert moved.status_code == 200, moved.text
    for who in ("supplier", "core", "supplier2", "auditor", "regulator"):
        assert fetch(service, who, document_hash).status_code == 200, who
    assert fetch(service, "core2", document_hash).status_code == 404


def test_revoked_grant_ends_the_grantees_access_and_its_receivables(service: Service) -> None:
    document_hash = invoice(service, "supplier")["document_hash"]
    assert grant(service, "supplier", document_hash, "core").status_code == 201
    receivable = service.active(document_hash=document_hash)
    service.call("supplier", "POST", f"/v1/receivables/{receivable['id']}/transfer",
                 json={"to": service.addresses["supplier2"]})  # fmt: skip

    revoked = service.call(
        "supplier", "DELETE", f"/v1/documents/{document_hash}/grants/{service.addresses['core']}"
    )
    again = service.call(
        "supplier", "DELETE", f"/v1/documents/{document_hash}/grants/{service.addresses['core']}"
    )
    listed = service.call("supplier", "GET", f"/v1/documents/{document_hash}/grants")
    register = service.call("core", "POST", "/v1/receivables",
                            json=service.registration(document_hash=document_hash))  # fmt: skip

    assert revoked.status_code == 200, revoked.text
    assert again.status_code == 404
    assert again.json()["error"] == "DocumentGrantUnknown"
    assert listed.json()["items"] == []
    assert register.status_code == 404
    assert register.json()["error"] == "DocumentUnknown"
    assert fetch(service, "core", document_hash).status_code == 404
    assert fetch(service, "supplier2", document_hash).status_code == 404  # holder via core
    assert fetch(service, "supplier", document_hash).status_code == 200
    assert fetch(service, "auditor", document_hash).status_code == 200


def test_only_an_uploader_grants_lists_or_revokes(service: Service) -> None:
    document_hash = invoice(service, "supplier")["document_hash"]
    assert grant(service, "supplier", document_hash, "core").status_code == 201
    grants = f"/v1/documents/{document_hash}/grants"

    by_grantee = grant(service, "core", document_hash, "core2")
    by_stranger = grant(service, "supplier2", document_hash, "supplier2")
    listed_by_grantee = service.call("core", "GET", grants)
    revoked_by_grantee = service.call("core", "DELETE", f"{grants}/{service.addresses['core']}")
    to_self = grant(service, "supplier", document_hash, "supplier")
    to_nobody = service.call("supplier", "POST", grants, json={"participant": "0x" + "12" * 20})

    assert by_grantee.status_code == 404
    assert by_stranger.status_code == 404
    assert by_stranger.json()["error"] == "DocumentUnknown"
    assert listed_by_grantee.status_code == 404
    assert revoked_by_grantee.status_code == 404
    assert to_self.status_code == 422, to_self.text
    assert to_self.json()["error"] == "DocumentGrantToSelf"
    assert to_nobody.status_code == 404
    assert to_nobody.json()["error"] == "ParticipantUnknown"
    assert fetch(service, "core2", document_hash).status_code == 404
    assert fetch(service, "core", document_hash).status_code == 200


def test_same_bytes_uploaded_by_two_participants_are_each_ones(service: Service) -> None:
    content = f"delivery note {time.time_ns()}".encode()
    first = upload(service, "supplier", content)
    second = upload(service, "core", content)

    as_second = fetch(service, "core", second["document_hash"])
    registered = service.call("core", "POST", "/v1/receivables",
                              json=service.registration(document_hash=first["document_hash"]))  # fmt: skip

    assert first == second
    assert as_second.status_code == 200
    assert registered.status_code == 201, registered.text


def test_rotated_key_keeps_its_participants_documents(service: Service) -> None:
    onboard(service, "supplier_rotating", ["SUPPLIER"])
    document_hash = invoice(service, "supplier_rotating")["document_hash"]
    key_id = service.keys["supplier_rotating"].split("_")[1]

    rotated = service.call("supplier_rotating", "POST", f"/v1/api-keys/{key_id}/rotate")
    service.keys["supplier_rotating"] = rotated.json()["key"]

    assert rotated.status_code == 201, rotated.text
    assert fetch(service, "supplier_rotating", document_hash).status_code == 200


# --- access log and headers ---------------------------------------------------------------


def test_each_document_fetch_is_in_the_access_log(service: Service) -> None:
    document_hash = invoice(service, "supplier")["document_hash"]
    served = fetch(service, "supplier", document_hash)
    refused = fetch(service, "supplier2", document_hash)

    log = service.call("auditor", "GET", "/v1/access-log", params={
        "operation": "documents.show", "path_prefix": f"/v1/documents/{document_hash}"}).json()  # fmt: skip

    assert (served.status_code, refused.status_code) == (200, 404)
    assert [(row["participant"], row["status"], row["path"]) for row in log["items"]] == [
        (service.addresses["supplier2"].lower(), 404, f"/v1/documents/{document_hash}"),
        (service.addresses["supplier"].lower(), 200, f"/v1/documents/{document_hash}"),
    ]


def test_document_is_served_as_an_attachment_never_sniffed(service: Service) -> None:
    content = b"<html><script>alert(1)</script></html> " + str(time.time_ns()).encode()
    document = upload(service, "supplier", content)

    served = fetch(service, "supplier", document["document_hash"])

    assert served.status_code == 200
    assert served.content == content
    assert served.headers["content-type"].startswith("text/plain")
    assert served.headers["content-disposition"] == (
        f'attachment; filename="{hashlib.sha256(content).hexdigest()}"'
    )
    assert served.headers["x-content-type-options"] == "nosniff"


# --- quota --------------------------------------------------------------------------------


def test_upload_over_the_quota_is_refused_and_nothing_is_stored(service: Service) -> None:
    onboard(service, "supplier_quota", ["SUPPLIER"])
    first = b"a" * (40 * 1024)
    second = b"b" * (40 * 1024)

    stored = upload(service, "supplier_quota", first)
    again = upload(service, "supplier_quota", first)  # the same bytes count once
    refused = service.call("supplier_quota", "POST", "/v1/documents", content=second,
                           headers={"Content-Type": "text/plain"})  # fmt: skip
    by_another = upload(service, "supplier2", second)  # a quota is per participant

    assert again == stored
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"] == "DocumentQuotaExceeded"
    assert refused.json()["args"] == {"limit": QUOTA, "used": len(first), "size": len(second)}
    assert by_another["sha256"] == hashlib.sha256(second).hexdigest()
    assert fetch(service, "supplier_quota", by_another["document_hash"]).status_code == 404


def test_refused_upload_leaves_no_file(service: Service) -> None:
    onboard(service, "supplier_full", ["SUPPLIER"])
    upload(service, "supplier_full", b"c" * (60 * 1024))
    content = b"d" * (10 * 1024) + str(time.time_ns()).encode()
    before = sorted(service.settings.documents_dir.iterdir())

    refused = service.call("supplier_full", "POST", "/v1/documents", content=content,
                           headers={"Content-Type": "text/plain"})  # fmt: skip

    assert refused.status_code == 413, refused.text
    assert sorted(service.settings.documents_dir.iterdir()) == before
