"""/v1/claims end to end (issue 20): a financier frozen while its offer is open no longer
blocks the supplier; its refund waits in the desk, shown to it (and to overseers), and it
claims it once unfrozen. Real anvil, contracts, SQLite and HTTP; the index is checked
against the chain (the desk's claimable view, and reconcile)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apikit import Service
from standalone import standalone_completeness

FACE = 100_000_000


def _terms(**overrides: Any) -> dict[str, Any]:
    body = {
        "advance_rate_bps": 9000,
        "discount_rate_bps": 600,
        "day_count_basis": 365,
        "recourse": True,
        "grace_period_days": 0,
        "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
        "fee": "50000",
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module", autouse=True)
def funded(service: Service) -> None:
    """Both financiers hold CNY to escrow offers with, and a line to core to fund within."""
    service.mint("financier", 10 * FACE)
    service.mint("financier2", 10 * FACE)
    service.credit_line("financier")
    service.credit_line("financier2")


def _open_request_with_two_offers(service: Service) -> tuple[int, list[dict]]:
    active = service.active()
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": active["id"]})  # fmt: skip
    assert asked.status_code == 201, asked.text
    fid = asked.json()["result"]["id"]
    offers = []
    for who in ("financier", "financier2"):
        made = service.call(who, "POST", f"/v1/financings/{fid}/offers", json=_terms())
        assert made.status_code == 201, made.text
        offers.append(made.json()["result"]["offers"][0])
    return fid, offers


def _claimable_on_chain(service: Service, who: str) -> int:
    token = service.call("operator", "GET", "/v1/currencies").json()[0]["token"]
    return int(service.view("financing_desk", "claimable", service.addresses[who], token))


def test_a_frozen_financier_does_not_block_the_accept_and_claims_its_refund_once_unfrozen(
    service: Service, unique: Any
) -> None:
    fid, offers = _open_request_with_two_offers(service)
    refund = int(offers[0]["proceeds"])
    financier = service.addresses["financier"]
    frozen = service.call("regulator", "POST", f"/v1/participants/{financier}/freeze")
    assert frozen.status_code == 200, frozen.text
    before = service.balance("financier")

    accepted = service.call("supplier", "POST", f"/v1/financings/{fid}/offers/1/accept")

    assert accepted.status_code == 200, accepted.text
    shown = accepted.json()["result"]
    assert shown["status"] == "FUNDED"
    assert [(o["status"], o["refund_deferred"]) for o in shown["offers"]] == [
        ("SUPERSEDED", str(refund)),
        ("ACCEPTED", None),
    ]
    assert service.balance("financier") == before  # nothing pushed to a frozen account
    assert _claimable_on_chain(service, "financier") == refund

    # The frozen financier sees what waits for it, and what made it up.
    waiting = service.call("financier", "GET", "/v1/claims")
    assert waiting.status_code == 200, waiting.text
    [entry] = waiting.json()
    assert (entry["contract"], entry["currency"], entry["amount"]) == (
        "financing",
        "CNY",
        str(refund),
    )
    [deferral] = entry["deferrals"]
    assert (deferral["financing_id"], deferral["offer_index"], deferral["amount"]) == (
        fid,
        0,
        str(refund),
    )
    assert deferral["event"] == "FinancingOfferClosed"
    # An overseer sees anyone's; another participant may not look.
    overseen = service.call("auditor", "GET", "/v1/claims", params={"payee": financier})
    assert overseen.json() == waiting.json()
    nosy = service.call("financier2", "GET", "/v1/claims", params={"payee": financier})
    assert (nosy.status_code, nosy.json()["error"]) == (403, "ClaimsNotVisible")

    # Still frozen: its claim is refused, nothing sent.
    body = {"contract": "financing", "currency": "CNY"}
    refused = service.call("financier", "POST", "/v1/claims", json=body,
                           headers={"Idempotency-Key": unique()})  # fmt: skip
    assert (refused.status_code, refused.json()["error"]) == (403, "ParticipantNotActive")
    assert _claimable_on_chain(service, "financier") == refund

    unfrozen = service.call("regulator", "POST", f"/v1/participants/{financier}/unfreeze")
    assert unfrozen.status_code == 200, unfrozen.text
    key = unique()
    claimed = service.call("financier", "POST", "/v1/claims", json=body,
                           headers={"Idempotency-Key": key})  # fmt: skip
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["result"] == {
        "contract": "financing",
        "currency": "CNY",
        "payee": financier,
        "amount": str(refund),
    }
    assert service.balance("financier") == before + refund
    assert _claimable_on_chain(service, "financier") == 0
    # The same key answers the same execution: no second claim is sent.
    replayed = service.call("financier", "POST", "/v1/claims", json=body,
                            headers={"Idempotency-Key": key})  # fmt: skip
    assert replayed.json()["transaction"] == claimed.json()["transaction"]
    assert service.balance("financier") == before + refund

    # Nothing waits any more: listed as nothing, and a new claim is refused naming currency.
    assert service.call("financier", "GET", "/v1/claims").json() == []
    again = service.call("financier", "POST", "/v1/claims", json=body,
                         headers={"Idempotency-Key": unique()})  # fmt: skip
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "DeferredNothingToClaim"
    assert again.json()["args"]["field"] == "currency"

    with service.http("auditor") as http:
        reconciled = http.get("/v1/reconcile").json()
        trace = http.get(f"/v1/receivables/{shown['receivable_id']}/trace").json()
        verified = http.post(f"/v1/receivables/{shown['receivable_id']}/trace/verify").json()
    assert reconciled["mismatches"] == []
    [step] = [s for s in trace["steps"] if s["event"] == "PaymentDeferred"]
    assert step["actors"]["payee"].lower() == financier.lower()
    assert step["details"]["purpose"] == f"refund of offer 0 of financing {fid} deferred"
    assert [a["amount"] for a in step["amounts"]] == [str(refund), str(refund)]
    # Each step, the deferral included, checked against the node's own receipts.
    assert verified["verified"] is True, verified
    # The standalone verifier's own copy of the rule finds the same tree complete.
    complete, said = standalone_completeness(trace, service.settings.rpc_url)
    assert complete, said


def test_a_suspended_financiers_offer_rejected_waits_for_it(service: Service) -> None:
    fid, offers = _open_request_with_two_offers(service)
    financier2 = service.addresses["financier2"]
    suspended = service.call("operator", "POST", f"/v1/participants/{financier2}/suspend")
    assert suspended.status_code == 200, suspended.text
    try:
        rejected = service.call("supplier", "POST", f"/v1/financings/{fid}/offers/1/reject")
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["result"]["offers"][1]["refund_deferred"] == offers[1]["proceeds"]
        assert _claimable_on_chain(service, "financier2") == int(offers[1]["proceeds"])
        with service.http("regulator") as http:
            listed = http.get("/v1/claims", params={"payee": financier2}).json()
        assert [e["amount"] for e in listed] == [offers[1]["proceeds"]]
    finally:
        service.call("operator", "POST", f"/v1/participants/{financier2}/reinstate")
