"""The console's pages one behaviour at a time, in headless Chromium: signing in and out,
errors next to their fields, money and dates, the keyboard, batch refusals, the bank."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from apikit import Service
from consolekit import TIME_ZONE, Console, plain
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys


def test_sign_out_forgets_the_key(console: Console, console_service: Service) -> None:
    key = console_service.keys["supplier"]
    console.sign_in(key)
    assert console.session_key() == key
    console.sign_out()
    assert console.session_key() is None
    # Nothing else kept it either, and a reload asks again.
    assert console.driver.execute_script("return localStorage.length") == 0
    assert console.driver.execute_script("return document.cookie") == ""
    console.driver.refresh()
    console.find("#api-key")
    assert not console.driver.find_elements(By.CSS_SELECTOR, "header .who")


def test_sign_in_with_bad_key_shows_error_at_key_field(console: Console) -> None:
    console.open("/")
    console.fill("#api-key", "lk_0123456789abcdef_not-a-key")
    console.click("Sign in")
    message = console.text_of("#api-key-error")
    assert "unknown or revoked" in message
    field = console.find("#api-key")
    assert field.get_attribute("aria-invalid") == "true"
    assert "api-key-error" in field.get_attribute("aria-describedby")
    assert console.session_key() is None
    console.screenshot("10-sign-in-bad-key")


def test_split_with_wrong_sum_shows_api_error_at_amounts(
    console: Console, console_service: Service
) -> None:
    receivable = console_service.active()
    console.sign_in(console_service.keys["supplier"])
    console.go(f"/receivables/{receivable['id']}")
    console.fill("#split-amounts", "1.00\n2.00")
    console.click("Split")
    # The API's ReceivableInvalidSplit names the field "amounts": the message sits under it.
    message = console.text_of("#split-amounts-error")
    # Its arguments (minor units) shown as money.
    assert message == "the parts add up to CNY 3.00; the receivable is CNY 1,000,000.00"
    field = console.find("#split-amounts")
    assert field.get_attribute("aria-invalid") == "true"
    assert "split-amounts-error" in field.get_attribute("aria-describedby")
    assert not console.driver.find_elements(By.CSS_SELECTOR, "#receivable-summary .form-error")
    assert (
        console_service.call("supplier", "GET", f"/v1/receivables/{receivable['id']}").json()[
            "status"
        ]
        == "ACTIVE"
    )
    console.screenshot("11-split-error-at-field")


def test_money_and_dates_show_currency_format_and_user_zone(
    console: Console, console_service: Service
) -> None:
    due = date.today() + timedelta(days=100)
    # More than 2**53 minor units: a float would lose the last digits.
    receivable = console_service.register(amount="123456789012345678901", due_date=due.isoformat())
    console.sign_in(console_service.keys["supplier"])
    task = console.find(f"#confirm-{receivable['id']}")
    text = plain(task.text)
    assert "CNY 1,234,567,890,123,456,789.01" in text, text
    # Due at the end of its day in UTC: the next morning in Shanghai.
    local = datetime.combine(due, clock_time(23, 59, 59), UTC).astimezone(ZoneInfo(TIME_ZONE))
    hour = local.hour % 12 or 12
    expected = f"{local:%b} {local.day}, {local.year}, {hour}:{local:%M} {local:%p} GMT+8"
    assert expected in text, text
    shown = task.find_element(By.TAG_NAME, "time")
    assert shown.get_attribute("datetime") == f"{due.isoformat()}T23:59:59.000Z"


def _tab_to(console: Console, matches, what: str, limit: int = 80) -> None:
    """Press Tab until the focused element ``matches``; every stop shows its focus (the
    body is where Tab wraps around from the page's last control to its first)."""
    for _ in range(limit):
        console.driver.switch_to.active_element.send_keys(Keys.TAB)
        focused = console.driver.switch_to.active_element
        if focused.tag_name == "body":
            continue
        outline = console.driver.execute_script(
            "return getComputedStyle(document.activeElement).outlineStyle"
        )
        assert outline != "none", f"no visible focus on {focused.get_attribute('outerHTML')[:120]}"
        if matches(focused):
            return
    raise AssertionError(f"Tab never reached {what}")


def test_keyboard_reaches_the_main_actions(console: Console, console_service: Service) -> None:
    receivable = console_service.register()
    rid = receivable["id"]
    console.open("/")
    # The key field has the focus on arrival: type the key, Enter signs in.
    key_field = console.find("#api-key")
    console.wait(
        lambda: console.driver.execute_script("return document.activeElement.id") == "api-key",
        "the key field to have the focus",
    )
    key_field.send_keys(console_service.keys["supplier"], Keys.ENTER)
    console.find(f"#confirm-{rid}")

    _tab_to(console, lambda e: e.text == "Sign out", "Sign out")
    _tab_to(
        console,
        lambda e: e.text == "Confirm" and e.get_attribute("aria-describedby") == f"confirm-{rid}",
        "Confirm",
    )
    console.driver.switch_to.active_element.send_keys(Keys.ENTER)
    console.gone(f"#confirm-{rid}")
    _tab_to(
        console,
        lambda e: e.get_attribute("aria-label") == f"Split, transfer or finance receivable {rid}",
        "the held receivable's link",
    )
    console.driver.switch_to.active_element.send_keys(Keys.ENTER)
    console.wait_text("main h1", f"Receivable #{rid}")
    _tab_to(console, lambda e: e.get_attribute("id") == "split-amounts", "the split amounts")
    console.driver.switch_to.active_element.send_keys("999000.00", Keys.ENTER, "1000.00")
    _tab_to(console, lambda e: e.text == "Split", "the Split button")
    console.driver.switch_to.active_element.send_keys(Keys.ENTER)
    console.wait(
        lambda: console.text_of("#receivable-summary .summary .status") == "SPLIT", "SPLIT"
    )


def _write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(
        "creditor,amount,currency,due_date,seller_tax_id,invoice_number\n" + "\n".join(rows) + "\n"
    )
    return path


def test_batch_upload_reports_each_refused_row(
    console: Console, console_service: Service, tmp_path: Path
) -> None:
    supplier = console_service.addresses["supplier"]
    seller = console_service.tax_ids[supplier.lower()]  # the supplier's own tax id
    due = (date.today() + timedelta(days=60)).isoformat()
    stamp = time.time_ns()
    console.sign_in(console_service.keys["core"])

    # Problems the console finds itself: nothing is sent.
    checked = _write_csv(tmp_path / "checked.csv", [
        f"{supplier},100.00,CNY,{due},{seller},A-{stamp}",
        f"{supplier},12.345,CNY,{due},{seller},B-{stamp}",
        f"{supplier},5.00,XYZ,{due},{seller},C-{stamp}",
    ])  # fmt: skip
    console.find("#batch-file").send_keys(str(checked))
    console.click("Check and register")
    console.wait_text(".batch-summary", "2 of 3 rows have problems; nothing was sent")
    rows = {r.get_attribute("data-line"): plain(r.text)
            for r in console.driver.find_elements(By.CSS_SELECTOR, ".batch-results tbody tr")}  # fmt: skip
    assert "at most 2 decimals" in rows["3"], rows
    assert "XYZ is not listed" in rows["4"], rows
    assert "not sent" in rows["2"]

    # A refusal of the service (an invoice registered before): the row it names, nothing sent.
    registered_invoice = f"DUP-{stamp}"
    registered = console_service.register(
        invoice={"seller_tax_id": seller, "number": registered_invoice}
    )
    refused = _write_csv(tmp_path / "refused.csv", [
        f"{supplier},100.00,CNY,{due},{seller},D-{stamp}",
        f"{supplier},200.00,CNY,{due},{seller},{registered_invoice}",
    ])  # fmt: skip
    console.find("#batch-file").send_keys(str(refused))
    console.click("Check and register")
    console.wait_text(".batch-summary", "1 of 2 rows refused; nothing was sent")
    rows = {r.get_attribute("data-line"): plain(r.text)
            for r in console.driver.find_elements(By.CSS_SELECTOR, ".batch-results tbody tr")}  # fmt: skip
    assert "invoice" in rows["3"], rows
    assert "not sent" in rows["2"], rows
    console.screenshot("12-core-batch-refused-row")
    # Nothing was registered after the one the API registered above.
    listed = console_service.call("core", "GET", "/v1/receivables?limit=500").json()["items"]
    assert max(r["id"] for r in listed) == registered["id"]


def test_bank_mints_and_a_burn_beyond_balance_shows_at_amount(
    console: Console, console_service: Service
) -> None:
    before = console_service.balance("core2")
    console.sign_in(console_service.keys["bank"])
    console.fill("#mint-to", console_service.addresses["core2"])
    console.fill("#mint-amount", "1,000.50")
    console.click("Mint")
    notice = console.wait_text("#bank-tokens .notice", "Minted CNY 1,000.50 to")
    assert console_service.balance("core2") == before + 100050, notice
    console.fill("#burn-amount", "999999999999.00")
    console.click("Burn")
    message = console.text_of("#burn-amount-error")
    assert message == "not enough CNY: the balance is CNY 0.00, this needs CNY 999,999,999,999.00"
    console.screenshot("13-bank-burn-refused")


def test_confirm_by_self_signing_participant_says_it_must_sign(
    console: Console, console_service: Service
) -> None:
    # bank2 keeps its own key: the service prepares the transaction, the console cannot sign.
    receivable = console_service.register(creditor=console_service.addresses["bank2"])
    console.sign_in(console_service.keys["bank2"])
    task = console.find(f"#confirm-{receivable['id']}")
    console.click("Confirm", task)
    message = console.wait_text(f"#confirm-{receivable['id']} .form-error", "AwaitingSignature")
    assert "signs its own transactions" in message
    status = console_service.call("bank2", "GET", f"/v1/receivables/{receivable['id']}").json()
    assert status["status"] == "PENDING"


def test_console_loads_only_from_service_origin(console: Console, console_service: Service) -> None:
    # No CDN, fonts or anything else from another origin: the console works offline.
    console.sign_in(console_service.keys["auditor"])
    console.find("#reader-receivables")
    console.idle()
    loaded = console.driver.execute_script(
        "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]"
    )
    assert len(loaded) > 3
    assert all(url.startswith(f"{console_service.base_url}/") for url in loaded), loaded


def test_worklist_shows_a_new_receivable_to_confirm_without_a_reload(
    console: Console, console_service: Service
) -> None:
    """The worklist follows the event stream: a receivable the core registers appears
    under the supplier's "to confirm" while the page stays as it is (no reload, no click)."""
    service = console_service
    console.sign_in(service.keys["supplier"])
    console.wait(lambda: console.find(".live-status").get_attribute("data-state") == "live",
                 "the live stream connected")  # fmt: skip
    marker = console.driver.execute_script("window.notReloaded = true; return true")
    registered = service.register()
    task = console.find(f"#confirm-{registered['id']}")
    assert "to confirm" in plain(console.text_of(".live-status"))
    assert console.driver.execute_script("return window.notReloaded === true") is marker
    assert task is not None
