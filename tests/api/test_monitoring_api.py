"""/v1/monitoring over HTTP (issue 23): screening at onboarding and on list reload, a rule
alert raised by the embedded indexer's rule runner, rule changes and their log, the case
lifecycle with its append-only history, the SAR (JSON, XML parsed back), the summary (JSON,
CSV) and who may do what."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from apikit import Service, make_lei, onboard

LISTED_LEI = make_lei()
SANCTIONS = (
    "id,lei,name,aliases\n"
    f"S1,{LISTED_LEI},Acme Shadow Trading Limited,\n"
    "S2,,Red Lotus Holdings,Lotus Rouge Holding Co\n"
)


def _alerts(service: Service, **params) -> list[dict]:
    response = service.call("regulator", "GET", "/v1/monitoring/alerts", params=params)
    assert response.status_code == 200, response.text
    return response.json()["alerts"]


def _wait_alert(service: Service, rule: str, test, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [a for a in _alerts(service, rule=rule) if test(a)]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {rule} alert in {timeout} s")


def test_screening_at_onboarding_and_on_reload(service: Service) -> None:
    bad = service.call("operator", "PUT", "/v1/monitoring/sanctions", content="name\nX\n",
                       headers={"Content-Type": "text/csv"})  # fmt: skip
    assert bad.status_code == 422
    assert "lei,name" in bad.json()["message"]
    assert service.call("regulator", "PUT", "/v1/monitoring/sanctions", content=SANCTIONS,
                        headers={"Content-Type": "text/csv"}).status_code == 403  # fmt: skip
    loaded = service.call("operator", "PUT", "/v1/monitoring/sanctions", content=SANCTIONS,
                          headers={"Content-Type": "text/csv"})  # fmt: skip
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["entries"] == 2
    shadow = onboard(service, "shadow", ["SUPPLIER"], lei=LISTED_LEI, legal_name="Someone")
    lotus = onboard(service, "lotus", ["SUPPLIER"], legal_name="HOLDINGS, Red Lotus")
    lantern = onboard(service, "lantern", ["SUPPLIER"], legal_name="Red Lantern Logistics")
    hits = {(a["subjects"][0], a["details"]["match"]) for a in _alerts(service, rule="sanctions")}
    assert (shadow["address"].lower(), "lei") in hits
    assert (lotus["address"].lower(), "name") in hits
    assert all(s != lantern["address"].lower() for s, _ in hits)
    assert all(a["severity"] == "high" for a in _alerts(service, rule="sanctions"))
    # A reload screens everyone again: the new entry hits lantern, the old hits stay single.
    again = service.call("operator", "PUT", "/v1/monitoring/sanctions",
                         content=SANCTIONS + "S3,,Red Lantern Logistics Ltd,\n",
                         headers={"Content-Type": "text/csv"})  # fmt: skip
    assert again.status_code == 200
    assert len(again.json()["new_alerts"]) == 1
    subjects = [a["subjects"][0] for a in _alerts(service, rule="sanctions")]
    assert subjects.count(lantern["address"].lower()) == 1
    assert subjects.count(lotus["address"].lower()) == 1


def test_related_parties_alert_from_the_rule_runner(service: Service) -> None:
    address = "88 Century Avenue, Pudong, Shanghai"
    onboard(service, "rp_core", ["CORE_ENTERPRISE"], registered_address=address)
    supplier = onboard(service, "rp_supplier", ["SUPPLIER"],
                       registered_address="88 century avenue pudong shanghai")  # fmt: skip
    receivable = service.register("rp_core", creditor=supplier["address"])
    alert = _wait_alert(service, "related_parties",
                        lambda a: a["details"]["receivable_id"] == receivable["id"])  # fmt: skip
    assert alert["details"]["same"] == ["registered_address"]
    [proof] = alert["proofs"]
    assert proof["event"] == "ReceivableRegistered"
    receipt = service.client.receipt_if_mined(proof["tx_hash"])
    assert (receipt.block_number, receipt.block_hash) == (
        proof["block_number"],
        proof["block_hash"],
    )
    assert proof["log_index"] in {int(entry["logIndex"], 16) for entry in receipt.logs}
    shown = service.call("auditor", "GET", f"/v1/monitoring/alerts/{alert['id']}")
    assert shown.status_code == 200
    assert shown.json()["proofs"] == alert["proofs"]
    assert (
        service.call("supplier", "GET", f"/v1/monitoring/alerts/{alert['id']}").status_code == 403
    )
    assert service.call("auditor", "GET", "/v1/monitoring/alerts/999999").status_code == 404


def test_rule_changes_are_the_regulators_and_logged(service: Service) -> None:
    path = "/v1/monitoring/rules/structuring"
    assert service.call("auditor", "PATCH", path, json={"min_count": 4}).status_code == 403
    bad = service.call("regulator", "PATCH", path, json={"min_count": 1})
    assert bad.status_code == 422
    assert "min_count" in bad.json()["message"]
    assert service.call("regulator", "PATCH", "/v1/monitoring/rules/nope",
                        json={"enabled": False}).status_code == 404  # fmt: skip
    changed = service.call("regulator", "PATCH", path, json={"min_count": 4, "window_days": 3})
    assert changed.status_code == 200, changed.text
    assert service.call("auditor", "GET", "/v1/monitoring/rules").json()["structuring"][
        "min_count"] == 4  # fmt: skip
    log = service.call("auditor", "GET", "/v1/monitoring/rule-changes",
                       params={"rule": "structuring"}).json()  # fmt: skip
    assert log[-1]["old"]["min_count"] == 3
    assert log[-1]["new"]["min_count"] == 4
    assert log[-1]["changed_by"] == service.addresses["regulator"]


def test_case_lifecycle_report_and_summary(service: Service) -> None:
    if not _alerts(service, rule="sanctions", status="OPEN"):
        test_screening_at_onboarding_and_on_reload(service)
    ids = [a["id"] for a in _alerts(service, rule="sanctions", status="OPEN")][:2]
    assert service.call("supplier", "POST", "/v1/monitoring/cases",
                        json={"alert_ids": ids}).status_code == 403  # fmt: skip
    assert service.call("auditor", "POST", "/v1/monitoring/cases",
                        json={"alert_ids": [999999]}).status_code == 422  # fmt: skip
    opened = service.call("auditor", "POST", "/v1/monitoring/cases", json={"alert_ids": ids})
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert service.call("regulator", "POST", "/v1/monitoring/cases",
                        json={"alert_ids": ids[:1]}).status_code == 409  # fmt: skip
    base = f"/v1/monitoring/cases/{case['id']}"
    noted = service.call("regulator", "POST", f"{base}/notes", json={"text": "asked the bank"})
    assert noted.status_code == 201
    assert service.call("regulator", "POST", f"{base}/close",
                        json={"outcome": "escalated", "reason": "x"}).status_code == 422  # fmt: skip
    closed = service.call("regulator", "POST", f"{base}/close",
                          json={"outcome": "reported", "reason": "listed entity"})  # fmt: skip
    assert closed.status_code == 200
    assert closed.json()["status"] == "REPORTED"
    for path, body in ((f"{base}/notes", {"text": "late"}),
                       (f"{base}/close", {"outcome": "dismissed", "reason": "again"})):  # fmt: skip
        refused = service.call("auditor", "POST", path, json=body)
        assert refused.status_code == 409
        assert refused.json()["error"] == "CaseClosed"
    history = service.call("auditor", "GET", base).json()["history"]
    assert all(h["at"].endswith(("Z", "+00:00")) for h in history)  # UTC, said so (SQLite)
    assert [(h["action"], h["actor"]) for h in history] == [
        ("OPENED", service.addresses["auditor"]), ("NOTE", service.addresses["regulator"]),
        ("REPORTED", service.addresses["regulator"])]  # fmt: skip
    assert {a["status"] for a in _alerts(service, rule="sanctions") if a["id"] in ids} == {
        "REPORTED"
    }

    sar = service.call("auditor", "GET", f"{base}/report").json()
    assert sar["report"]["report_code"] == "SAR"
    assert sar["report"]["action"] == "REPORTED"
    assert sar["report"]["entity_reference"] == f"case-{case['id']}"
    assert {s["account"] for s in sar["subjects"]} == {
        s for a in case["alerts"] for s in a["subjects"]}  # fmt: skip
    xml = service.call("auditor", "GET", f"{base}/report", params={"format": "xml"})
    assert xml.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(xml.content)
    assert root.findtext("report_code") == "SAR"
    assert len(root.findall("subjects/subject")) == len(sar["subjects"])
    assert [e.findtext("action") for e in root.findall("history/event")] == [
        "OPENED", "NOTE", "REPORTED"]  # fmt: skip

    period = datetime.now(UTC).strftime("%Y-%m")
    summary = service.call("regulator", "GET", "/v1/monitoring/summary", params={"period": period})
    assert summary.status_code == 200, summary.text
    body = summary.json()
    assert any(v["kind"] == "registered" and v["count"] >= 1 for v in body["volumes"])
    assert any(a["rule"] == "sanctions" for a in body["alerts"])
    as_csv = service.call("regulator", "GET", "/v1/monitoring/summary",
                          params={"period": period, "format": "csv"})  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {r["section"] for r in rows} >= {"volume", "alerts"}
    assert sum(int(r["count"]) for r in rows if r["section"] == "alerts") == sum(
        a["count"] for a in body["alerts"])  # fmt: skip
    assert service.call("regulator", "GET", "/v1/monitoring/summary",
                        params={"period": "2026-13"}).status_code == 422  # fmt: skip
    assert service.call("core", "GET", "/v1/monitoring/summary",
                        params={"period": period}).status_code == 403  # fmt: skip
