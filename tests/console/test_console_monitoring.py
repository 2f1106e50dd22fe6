"""Monitoring in the console, in headless Chromium (issue 23): a regulator finds the
related-party alert the rule runner raised, opens a case from it, annotates it and closes
it as reported; the case's history says who did what. And live: with the alerts page open,
an alert raised appears in it without a reload and a case is opened from it. Pages under
test-artifacts/console/."""

from __future__ import annotations

import time

from apikit import Service, make_lei, onboard
from consolekit import Console, plain
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select


def _related_party_alert(service: Service) -> dict:
    """Core and supplier with one registered address; the alert their receivable raises."""
    address = "1 Binhai Road, Tianjin"
    onboard(service, "twin_core", ["CORE_ENTERPRISE"], registered_address=address)
    supplier = onboard(service, "twin_supplier", ["SUPPLIER"], registered_address=address)
    receivable = service.register("twin_core", creditor=supplier["address"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = service.call("regulator", "GET", "/v1/monitoring/alerts",
                             params={"rule": "related_parties"}).json()["alerts"]  # fmt: skip
        for alert in found:
            if alert["details"]["receivable_id"] == receivable["id"]:
                return alert
        time.sleep(0.1)
    raise AssertionError("no related_parties alert")


def test_a_regulator_opens_annotates_and_reports_a_case(
    console: Console, console_service: Service
) -> None:
    service = console_service
    alert = _related_party_alert(service)
    console.sign_in(service.keys["regulator"])
    console.go("/monitoring")
    row = console.find(f"#monitoring-alerts tr[data-alert='{alert['id']}']")
    assert "related_parties" in row.text
    assert "ReceivableRegistered" in row.text
    row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    console.click("Open a case from 1 selected")
    console.wait_text("main h1", "Case ")
    case_id = int(console.text_of("main h1").split()[-1])
    console.fill("#case-note-text", "same registered address; asked the bank for the contracts")
    console.click("Add the note")
    console.find("#case-history li[data-action='NOTE']")
    Select(console.find("#case-outcome")).select_by_value("reported")
    console.fill("#case-reason", "related parties trading with each other")
    console.click("Close the case")
    console.wait_text("[data-case-status]", "REPORTED")
    console.find("#sar-xml")
    console.screenshot("monitoring-01-case-reported")

    case = service.call("auditor", "GET", f"/v1/monitoring/cases/{case_id}").json()
    assert case["alert_ids"] == [alert["id"]]
    assert [(h["action"], h["actor"]) for h in case["history"]] == [
        ("OPENED", service.addresses["regulator"]),
        ("NOTE", service.addresses["regulator"]),
        ("REPORTED", service.addresses["regulator"]),
    ]
    assert case["reason"] == "related parties trading with each other"


def test_a_regulator_sees_an_alert_appear_live_and_opens_a_case(
    console: Console, console_service: Service
) -> None:
    """The alerts page follows the event stream: an alert the sanctions screening raises
    while it is open appears in it (no reload: a marker on window survives; the rule
    filter chosen stays chosen), and the regulator opens a case from it."""
    service = console_service
    listed = make_lei()
    loaded = service.call("operator", "PUT", "/v1/monitoring/sanctions",
                          content=f"id,lei,name,aliases\nL1,{listed},Live Shadow Ltd,\n",
                          headers={"Content-Type": "text/csv"})  # fmt: skip
    assert loaded.status_code == 200, loaded.text
    console.sign_in(service.keys["regulator"])
    console.go("/monitoring")
    console.wait_text("main h1", "Monitoring")
    Select(console.find("#alerts-rule")).select_by_value("sanctions")
    console.idle()
    console.wait(lambda: console.find(".live-status").get_attribute("data-state") == "live",
                 "the live stream connected")  # fmt: skip
    marker = console.driver.execute_script("window.notReloaded = true; return true")
    shadow = onboard(service, "live_shadow", ["SUPPLIER"], lei=listed)  # trips the screening
    [alert] = [a for a in service.call("regulator", "GET", "/v1/monitoring/alerts",
                                       params={"rule": "sanctions"}).json()["alerts"]
               if a["subjects"] == [shadow["address"].lower()]]  # fmt: skip
    row = console.find(f"#monitoring-alerts tr[data-alert='{alert['id']}']")
    assert "sanctions" in row.text
    assert "OPEN" in row.text
    assert "an alert raised (#" in plain(console.text_of(".live-status"))
    assert console.driver.execute_script("return window.notReloaded === true") is marker
    chosen = Select(console.find("#alerts-rule")).first_selected_option
    assert chosen.get_attribute("value") == "sanctions"
    console.screenshot("monitoring-02-alert-live")
    row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    console.click("Open a case from 1 selected")
    console.wait_text("main h1", "Case ")
    case_id = int(console.text_of("main h1").split()[-1])
    case = service.call("regulator", "GET", f"/v1/monitoring/cases/{case_id}").json()
    assert case["alert_ids"] == [alert["id"]]
    assert case["history"][0]["actor"] == service.addresses["regulator"]
