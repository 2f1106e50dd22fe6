"""/v1/risk over real HTTP, a real anvil and SQLite: issuance caps refusing registrations
(single and batch), their managers, the overdue trigger restricting a core until it
repays, flags, warnings, scores and exposure; bad input named by its field, wrong roles
403 (the authorization matrix covers every role of every operation)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from apikit import OFFER_TERMS, Service, onboard
from riskkit import (
    DAY,
    active,
    chain_time,
    due_at,
    due_in,
    grant_line,
    indexed,
    new_core,
    register,
    rpc,
    warp,
)

FACE = 100_000_000
NOBODY = "0x" + "0" * 39 + "7"


@pytest.fixture(scope="module", autouse=True)
def funds(service: Service) -> None:
    """Financiers can escrow offers."""
    service.mint("financier", 10**12)
    service.mint("financier2", 10**12)


def put_cap(service: Service, who: str, core: str, cap: Any, currency: str = "CNY") -> Any:
    return service.call(who, "PUT", f"/v1/risk/issuance-caps/{core}/{currency}", json={"cap": cap})


def caps_of(service: Service, core: str) -> dict[str, dict[str, Any]]:
    response = service.call("auditor", "GET", "/v1/risk/issuance-caps", params={"core": core})
    assert response.status_code == 200, response.text
    return {row["currency"]: row for row in response.json()}


def error(response: Any) -> tuple[int, str, dict[str, Any]]:
    body = response.json()
    return response.status_code, body.get("error"), body.get("args", {})


# --- issuance caps -------------------------------------------------------------------------


def test_cap_refuses_registration_past_it_single_and_batch(service: Service) -> None:
    core = new_core(service, "capped_core")
    set_cap = put_cap(service, "operator", core, str(int(1.5 * FACE)))
    first = register(service, "capped_core")
    single = register(service, "capped_core")
    batch = service.call("capped_core", "POST", "/v1/receivables/batch",
                         json={"items": [service.registration(amount=str(FACE // 4)),
                                         service.registration(amount=str(FACE // 2))]})  # fmt: skip
    shown = caps_of(service, core)["CNY"]

    assert set_cap.status_code == 200, set_cap.text
    assert first.status_code == 201, first.text
    for refused, requested in ((single, FACE), (batch, FACE // 4 + FACE // 2)):
        status, name, args = error(refused)
        assert (status, name) == (409, "RiskIssuanceCapExceeded"), refused.text
        assert args == {"core": core, "currency": "CNY", "cap": str(int(1.5 * FACE)),
                        "outstanding": str(FACE), "requested": str(requested),
                        "field": "amount"}  # fmt: skip
        assert "exceed" in refused.json()["message"]
    assert shown == {"core": core, "currency": "CNY", "cap": str(int(1.5 * FACE)),
                     "outstanding": str(FACE), "headroom": str(FACE // 2),
                     "utilisation_bps": 6666, "manager": None}  # fmt: skip


def test_removing_a_cap_lets_registration_through_and_a_second_removal_is_409(
    service: Service,
) -> None:
    core = new_core(service, "uncapped_core")
    assert put_cap(service, "operator", core, "0").status_code == 200
    refused = register(service, "uncapped_core")
    removed = service.call("operator", "DELETE", f"/v1/risk/issuance-caps/{core}/CNY")
    again = service.call("operator", "DELETE", f"/v1/risk/issuance-caps/{core}/CNY")
    registered = register(service, "uncapped_core")

    assert error(refused)[:2] == (409, "RiskIssuanceCapExceeded")
    assert removed.status_code == 200, removed.text
    assert removed.json()["result"][0]["cap"] is None
    assert error(again)[:2] == (409, "RiskCapNotSet")
    assert registered.status_code == 201, registered.text


@pytest.mark.parametrize(
    ("cap", "field"),
    [
        ("-1", "cap"),
        (-1, "cap"),
        (1.5, "cap"),
        ("1e9", "cap"),
        (None, "cap"),
        (2**128, "cap"),
    ],
)
def test_cap_bad_input_is_422_naming_the_field(service: Service, cap: Any, field: str) -> None:
    response = put_cap(service, "operator", service.addresses["core2"], cap)

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationFailed"
    assert [f["field"] for f in response.json()["args"]["fields"]] == [field]


def test_cap_on_what_is_no_core_or_an_unlisted_currency_names_the_field(
    service: Service,
) -> None:
    unknown = put_cap(service, "operator", NOBODY, "1")
    supplier = put_cap(service, "operator", service.addresses["supplier"], "1")
    unlisted = put_cap(service, "operator", service.addresses["core2"], "1", currency="EUR")
    malformed = put_cap(service, "operator", service.addresses["core2"], "1", currency="cny")

    assert error(unknown)[:2] == (404, "AccountNotParticipant")
    assert error(unknown)[2]["field"] == "core"
    assert error(supplier)[:2] == (422, "CounterpartyLacksRole")
    assert error(supplier)[2]["field"] == "core"
    assert error(unlisted)[:2] == (409, "CurrencyNotListed")
    assert error(unlisted)[2]["field"] == "currency"
    assert malformed.status_code == 422


def test_cap_manager_sets_its_cores_caps_and_no_other_financier_can(service: Service) -> None:
    core = new_core(service, "managed_core")
    named = service.call("operator", "PUT", f"/v1/risk/cap-managers/{core}",
                         json={"manager": service.addresses["financier"]})  # fmt: skip
    by_manager = put_cap(service, "financier", core, str(5 * FACE))
    by_other = put_cap(service, "financier2", core, str(6 * FACE))
    not_financier = service.call("operator", "PUT", f"/v1/risk/cap-managers/{core}",
                                 json={"manager": service.addresses["supplier"]})  # fmt: skip
    by_core = put_cap(service, "managed_core", core, "1")
    unnamed = service.call("operator", "PUT", f"/v1/risk/cap-managers/{core}",
                           json={"manager": None})  # fmt: skip
    after = put_cap(service, "financier", core, str(7 * FACE))

    assert named.status_code == 200, named.text
    assert named.json()["result"]["manager"] == service.addresses["financier"]
    assert by_manager.status_code == 200, by_manager.text
    assert by_manager.json()["result"][0]["manager"] == service.addresses["financier"]
    status, name, args = error(by_other)
    assert (status, name) == (403, "RiskNotCapSetter")
    assert args["manager"] == service.addresses["financier"]
    assert error(not_financier)[:2] == (409, "FinancierNotActive")
    assert error(not_financier)[2]["field"] == "manager"
    assert error(by_core)[:2] == (403, "RoleNotAllowed")
    assert unnamed.json()["result"]["manager"] is None
    assert error(after)[:2] == (403, "RiskNotCapSetter")
    assert caps_of(service, core)["CNY"]["cap"] == str(5 * FACE)


# --- the trigger ------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [-1, 3651, "30", 1.5, None])
def test_trigger_bad_days_is_422_naming_days(service: Service, days: Any) -> None:
    response = service.call("operator", "PUT", "/v1/risk/overdue-trigger", json={"days": days})

    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["args"]["fields"]] == ["days"]


def test_trigger_is_the_operators_and_shown_to_all(service: Service) -> None:
    by_financier = service.call("financier", "PUT", "/v1/risk/overdue-trigger", json={"days": 5})
    changed = service.call("operator", "PUT", "/v1/risk/overdue-trigger", json={"days": 45})
    shown = service.call("supplier", "GET", "/v1/risk/overdue-trigger")
    back = service.call("operator", "PUT", "/v1/risk/overdue-trigger", json={"days": 30})

    assert error(by_financier)[:2] == (403, "RoleNotAllowed")
    assert changed.status_code == 200, changed.text
    assert changed.json()["result"]["days"] == 45
    assert shown.json()["days"] == 45
    assert back.json()["result"]["days"] == 30


def test_flag_refuses_a_root_not_past_the_trigger_a_part_and_an_unknown_id(
    service: Service,
) -> None:
    root = active(service, "core", due_date=due_in(service, 3))
    parts = service.call("supplier", "POST", f"/v1/receivables/{root['id']}/split",
                         json={"amounts": [str(FACE // 2), str(FACE // 2)]}).json()["result"]  # fmt: skip

    early = service.call("supplier", "POST", "/v1/risk/overdue-flags",
                         json={"root_id": root["id"]})  # fmt: skip
    part = service.call("supplier", "POST", "/v1/risk/overdue-flags",
                        json={"root_id": parts[1]["id"]})  # fmt: skip
    unknown = service.call("supplier", "POST", "/v1/risk/overdue-flags",
                           json={"root_id": 999_999})  # fmt: skip
    bad = service.call("supplier", "POST", "/v1/risk/overdue-flags", json={"root_id": 0})

    status, name, args = error(early)
    assert (status, name) == (409, "RiskRootNotPastTrigger")
    assert args["flaggableFrom"].endswith("Z")
    assert error(part)[:2] == (422, "RiskNotRoot")
    assert error(part)[2]["field"] == "root_id"
    assert error(unknown)[:2] == (404, "ReceivableNotFound")
    assert bad.status_code == 422


def test_core_past_the_trigger_cannot_register_or_be_financed_until_it_repays(
    service: Service,
) -> None:
    core = new_core(service, "late_core")
    grant_line(service, "financier", "late_core")
    late = active(service, "late_core", due_date=due_in(service, 2))
    to_finance = active(service, "late_core", due_date=due_in(service, 80))
    to_request = active(service, "late_core", due_date=due_in(service, 80))
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": to_finance["id"],
                               "financier": service.addresses["financier"]})  # fmt: skip
    financing_id = asked.json()["result"]["id"]
    offered = service.call("financier", "POST", f"/v1/financings/{financing_id}/offers",
                           json=OFFER_TERMS)  # fmt: skip
    assert offered.status_code == 201, offered.text
    warp(service, due_at(late) - chain_time(service) + 31 * DAY)

    flagged = service.call("supplier", "POST", "/v1/risk/overdue-flags",
                           json={"root_id": late["id"]})  # fmt: skip
    twice = service.call("supplier2", "POST", "/v1/risk/overdue-flags",
                         json={"root_id": late["id"]})  # fmt: skip
    trigger = service.call("financier", "GET", "/v1/risk/overdue-trigger").json()
    open_flags = service.call("regulator", "GET", "/v1/risk/overdue-flags",
                              params={"debtor": core, "open": "true"}).json()  # fmt: skip
    registering = register(service, "late_core")
    requesting = service.call("supplier", "POST", "/v1/financings",
                              json={"receivable_id": to_request["id"]})  # fmt: skip
    accepting = service.call("supplier", "POST",
                             f"/v1/financings/{financing_id}/offers/0/accept")  # fmt: skip
    repaid = service.call("late_core", "POST", f"/v1/clearing/{late['id']}/repay")
    cured = service.call("regulator", "GET", "/v1/risk/overdue-flags",
                         params={"debtor": core}).json()  # fmt: skip
    registering_after = register(service, "late_core")
    accepting_after = service.call("supplier", "POST",
                                   f"/v1/financings/{financing_id}/offers/0/accept")  # fmt: skip

    assert flagged.status_code == 201, flagged.text
    assert flagged.json()["result"]["open"] is True
    assert flagged.json()["result"]["flagged_by"] == service.addresses["supplier"]
    assert error(twice)[:2] == (409, "RiskRootAlreadyFlagged")
    assert {"core": core, "overdue_roots": 1,
            "oldest_due_date": late["due_date"].replace("+00:00", "Z")} in [
        {**r, "oldest_due_date": r["oldest_due_date"].replace("+00:00", "Z")}
        for r in trigger["restricted_cores"]]  # fmt: skip
    assert [f["root_id"] for f in open_flags] == [late["id"]]
    for refused in (registering, requesting, accepting):
        status, name, args = error(refused)
        assert (status, name) == (409, "RiskObligorRestricted"), refused.text
        assert args == {"core": core, "overdueRoots": "1", "field": "debtor"}
    assert repaid.status_code == 200, repaid.text
    assert cured[0]["open"] is False
    assert cured[0]["cured_block"] is not None
    assert registering_after.status_code == 201, registering_after.text
    assert accepting_after.status_code == 200, accepting_after.text
    assert core not in [r["core"] for r in service.call(
        "operator", "GET", "/v1/risk/overdue-trigger").json()["restricted_cores"]]  # fmt: skip


# --- scores ---------------------------------------------------------------------------------


def test_a_core_that_repaid_late_scores_below_one_that_repaid_on_time(service: Service) -> None:
    punctual, tardy = new_core(service, "punctual_core"), new_core(service, "tardy_core")
    # One due date for both: the chain's clock may cross midnight between two due_in().
    due = due_in(service, 1)
    late = active(service, "tardy_core", due_date=due)
    on_time = active(service, "punctual_core", due_date=due)
    warp(service, due_at(late) - chain_time(service) + 60)
    paid = service.call("punctual_core", "POST", f"/v1/clearing/{on_time['id']}/repay")
    warp(service, 20 * DAY)
    paid_late = service.call("tardy_core", "POST", f"/v1/clearing/{late['id']}/repay")
    assert (paid.status_code, paid_late.status_code) == (200, 200), (paid.text, paid_late.text)

    good = service.call("financier", "GET", f"/v1/risk/scores/{punctual}").json()
    bad = service.call("financier", "GET", f"/v1/risk/scores/{tardy}").json()
    listed = service.call("regulator", "GET", "/v1/risk/scores").json()
    own = service.call("tardy_core", "GET", f"/v1/risk/scores/{tardy}")
    other = service.call("tardy_core", "GET", f"/v1/risk/scores/{punctual}")
    by_supplier = service.call("supplier", "GET", f"/v1/risk/scores/{tardy}")

    assert bad["score"] < good["score"], (bad, good)
    assert bad["inputs"]["worst_days_past_due"]["value"] == 20
    assert good["inputs"]["worst_days_past_due"]["value"] == 0
    assert bad["inputs"]["on_time_rate_bps"]["value"] < 10_000
    assert good["rule_version"] == bad["rule_version"]
    assert good["as_of_block"] == bad["as_of_block"]
    assert sum(i["points"] or 0 for i in bad["inputs"].values()) == bad["score"]
    scores = {s["core"]: s["score"] for s in listed}
    assert scores[punctual] == good["score"]
    assert scores[tardy] == bad["score"]
    assert own.status_code == 200
    assert error(other)[:2] == (403, "ScoreNotVisible")
    assert error(by_supplier)[:2] == (403, "RoleNotAllowed")
    unknown = service.call("financier", "GET", f"/v1/risk/scores/{NOBODY}")
    assert error(unknown)[:2] == (404, "AccountNotParticipant")


def test_financing_views_carry_the_debtor_score_and_the_callers_line(service: Service) -> None:
    onboard(service, "scored_core", ["CORE_ENTERPRISE"])
    grant_line(service, "financier", "scored_core", limit=10 * FACE)
    receivable = active(service, "scored_core", due_date=due_in(service, 60))
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": receivable["id"]})  # fmt: skip
    financing_id = asked.json()["result"]["id"]

    as_financier = service.call("financier", "GET", f"/v1/financings/{financing_id}").json()
    as_other = service.call("financier2", "GET", f"/v1/financings/{financing_id}").json()
    quote = service.call("financier", "POST", f"/v1/financings/{financing_id}/quote",
                         json=OFFER_TERMS).json()  # fmt: skip
    score = service.call("financier", "GET",
                         f"/v1/risk/scores/{service.addresses['scored_core']}").json()  # fmt: skip

    expected_score = {"score": score["score"], "grade": score["grade"]}
    assert as_financier["risk"]["debtor_score"] == expected_score
    assert as_financier["risk"]["line"]["headroom"] == str(10 * FACE)
    assert as_financier["risk"]["line"]["utilisation_bps"] == 0
    assert as_financier["risk"]["line"]["band"] is None
    assert as_financier["risk"]["debtor"] == service.addresses["scored_core"]
    assert as_other["risk"] == {
        "debtor": service.addresses["scored_core"],
        "debtor_score": expected_score,
        "line": None,
    }
    assert quote["risk"] == as_financier["risk"]


# --- warnings and exposure --------------------------------------------------------------------


def test_warnings_show_the_callers_own_due_soon_lines_and_restricted_cores(
    service: Service,
) -> None:
    onboard(service, "warned_core", ["CORE_ENTERPRISE"])
    grant_line(service, "financier2", "warned_core", limit=FACE)
    soon = active(service, "warned_core", due_date=due_in(service, 5))
    later = active(service, "warned_core", due_date=due_in(service, 70))
    # The line used to the full: the supplier finances `later` with financier2.
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": later["id"],
                               "financier": service.addresses["financier2"]}).json()  # fmt: skip
    fid = asked["result"]["id"]
    assert service.call("financier2", "POST", f"/v1/financings/{fid}/offers",
                        json=OFFER_TERMS).status_code == 201  # fmt: skip
    assert service.call("supplier", "POST",
                        f"/v1/financings/{fid}/offers/0/accept").status_code == 200  # fmt: skip

    as_core = service.call("warned_core", "GET", "/v1/risk/warnings",
                           params={"within_days": 10}).json()  # fmt: skip
    as_financier = service.call("financier2", "GET", "/v1/risk/warnings",
                                params={"within_days": 100}).json()  # fmt: skip
    as_supplier2 = service.call("supplier2", "GET", "/v1/risk/warnings").json()
    bad = service.call("warned_core", "GET", "/v1/risk/warnings", params={"within_days": 0})

    assert [(d["root_id"], d["role"]) for d in as_core["due_soon"]] == [(soon["id"], "DEBTOR")]
    assert as_core["due_soon"][0]["days_left"] in (4, 5)
    assert [(w["obligor"], w["band"], w["utilisation_bps"]) for w in as_core["lines"]] == [
        (service.addresses["warned_core"], 100, 10_000)]  # fmt: skip
    assert (later["id"], "FINANCIER") in [(d["receivable_id"], d["role"])
                                          for d in as_financier["due_soon"]]  # fmt: skip
    assert all(w["financier"] == service.addresses["financier2"] for w in as_financier["lines"])
    assert as_supplier2["lines"] == []
    assert as_supplier2["due_soon"] == []
    assert as_core["as_of_block"] >= 0
    assert as_core["as_of"]
    assert bad.status_code == 422
    assert bad.json()["args"]["fields"][0]["field"] == "query.within_days"


def test_exposure_by_each_key_at_a_block_and_per_viewer(service: Service) -> None:
    onboard(service, "exposed_core", ["CORE_ENTERPRISE"])
    grant_line(service, "financier", "exposed_core", limit=3 * FACE)
    before = service.client.block_number()
    grant_line(service, "financier2", "exposed_core", limit=2 * FACE)
    core = service.addresses["exposed_core"]

    by_obligor = service.call("auditor", "GET", "/v1/risk/exposure", params={"by": "obligor"})
    then = service.call("auditor", "GET", "/v1/risk/exposure",
                        params={"by": "obligor", "block": before})  # fmt: skip
    as_financier = service.call("financier2", "GET", "/v1/risk/exposure",
                                params={"by": "obligor"}).json()  # fmt: skip
    as_core = service.call("exposed_core", "GET", "/v1/risk/exposure",
                           params={"by": "financier"}).json()  # fmt: skip
    by_currency = service.call("operator", "GET", "/v1/risk/exposure", params={"by": "currency"})
    ahead = service.call("auditor", "GET", "/v1/risk/exposure", params={"block": 10**9})
    bad_by = service.call("auditor", "GET", "/v1/risk/exposure", params={"by": "supplier"})
    by_supplier = service.call("supplier", "GET", "/v1/risk/exposure")

    row = next(r for r in by_obligor.json()["rows"] if r["obligor"] == core)
    assert (row["limit"], row["utilised"], row["headroom"], row["lines"]) == (
        str(5 * FACE),
        "0",
        str(5 * FACE),
        2,
    )
    row_then = next(r for r in then.json()["rows"] if r["obligor"] == core)
    assert (row_then["limit"], row_then["lines"]) == (str(3 * FACE), 1)
    assert then.json()["block"] == before
    assert {r["obligor"] for r in as_financier["rows"]} >= {core}
    mine = [r for r in as_financier["rows"] if r["obligor"] == core]
    assert mine[0]["limit"] == str(2 * FACE)
    assert {r["financier"] for r in as_core["rows"]} == {service.addresses["financier"],
                                                         service.addresses["financier2"]}  # fmt: skip
    assert by_currency.status_code == 200
    assert by_currency.json()["rows"][0]["currency"] == "CNY"
    assert error(ahead)[:2] == (409, "BlockNotIndexed")
    assert error(ahead)[2]["field"] == "block"
    assert bad_by.status_code == 422
    assert error(by_supplier)[:2] == (403, "RoleNotAllowed")
    indexed(service)


def test_exposure_at_a_quiet_block_outside_the_reorg_window_is_timed_by_its_header(
    service: Service,
) -> None:
    # The index keeps block timestamps of the reorg window and of blocks with an event;
    # an older block without one is timed by the chain's own header.
    core = new_core(service, "quiet_core")
    grant_line(service, "financier", "quiet_core", limit=4 * FACE)
    quiet = service.client.block_number() + 3
    rpc(service, "anvil_mine", [hex(service.settings.indexer_reorg_window + 20), hex(7)])
    grant_line(service, "financier2", "quiet_core", limit=FACE)
    indexed(service)

    answer = service.call("auditor", "GET", "/v1/risk/exposure",
                          params={"by": "obligor", "block": quiet})  # fmt: skip

    assert answer.status_code == 200, answer.text
    row = next(r for r in answer.json()["rows"] if r["obligor"] == core)
    assert (row["limit"], row["lines"]) == (str(4 * FACE), 1)
    header = int(service.client.get_block(quiet)["timestamp"])
    assert datetime.fromisoformat(answer.json()["timestamp"].replace("Z", "+00:00")) == (
        datetime.fromtimestamp(header, UTC)
    )


def test_payables_and_caps_are_shown_to_banks_and_overseers_and_to_a_core_only_its_own(
    service: Service,
) -> None:
    mine = new_core(service, "private_core")
    other = new_core(service, "other_private_core")
    register(service, "private_core")
    register(service, "other_private_core")

    as_core = service.call("private_core", "GET", "/v1/risk/issuance-caps")
    as_core_of_other = service.call("private_core", "GET", "/v1/risk/issuance-caps",
                                    params={"core": other})  # fmt: skip
    as_financier = service.call("financier", "GET", "/v1/risk/issuance-caps",
                                params={"core": other})  # fmt: skip
    as_supplier = service.call("supplier", "GET", "/v1/risk/issuance-caps")

    assert as_core.status_code == 200, as_core.text
    assert {row["core"] for row in as_core.json()} == {mine}
    assert error(as_core_of_other)[:2] == (403, "PayablesNotVisible")
    assert {row["core"] for row in as_financier.json()} == {other}
    assert error(as_supplier)[:2] == (403, "RoleNotAllowed")


def test_a_flag_is_shown_to_the_roots_parties_banks_and_overseers_not_to_other_suppliers(
    service: Service,
) -> None:
    core = new_core(service, "seen_late_core")
    late = active(service, "seen_late_core", due_date=due_in(service, 2))
    warp(service, due_at(late) - chain_time(service) + 31 * DAY)
    flagged = service.call("supplier", "POST", "/v1/risk/overdue-flags",
                           json={"root_id": late["id"]})  # fmt: skip
    assert flagged.status_code == 201, flagged.text

    def roots_seen_by(who: str) -> set[int]:
        answer = service.call(who, "GET", "/v1/risk/overdue-flags", params={"debtor": core})
        assert answer.status_code == 200, answer.text
        return {f["root_id"] for f in answer.json()}

    restricted = service.call("supplier2", "GET", "/v1/risk/overdue-trigger").json()

    assert roots_seen_by("supplier") == {late["id"]}  # its creditor
    assert roots_seen_by("seen_late_core") == {late["id"]}  # its debtor
    assert roots_seen_by("financier") == {late["id"]}
    assert roots_seen_by("auditor") == {late["id"]}
    assert roots_seen_by("supplier2") == set()
    # That the core is restricted is everyone's to know: it refuses their financings.
    assert core in {r["core"] for r in restricted["restricted_cores"]}
