"""Fixtures of the console suite: a running service per module (anvil, contracts, SQLite,
the API with the console, the cast onboarded: tests/api/apikit.py), and a headless
Chromium per module whose storage is emptied before each test.

Each test creates its own receivables, so the tests do not depend on one another.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# apikit lives with the API suite; its directory is put on the path only when that suite
# is collected first, so name it here for a run of this directory alone.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))

from apikit import Service, running_service
from consolekit import ARTIFACTS, Console, start_browser
from selenium.webdriver.remote.webdriver import WebDriver


@pytest.fixture(scope="module")
def console_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service of a module's console tests (stopped after it, so its node and indexer
    do not run on through the rest of the suite); the financier holds CNY to lend."""
    with running_service(tmp_path_factory.mktemp("console")) as service:
        service.mint("financier", 10**13)
        yield service


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium per module (starting one per test costs seconds each)."""
    driver = start_browser()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def console(
    console_service: Service, browser: WebDriver, request: pytest.FixtureRequest
) -> Iterator[Console]:
    """The browser on the service's console with nothing kept from an earlier test (no key
    in session storage, nothing in local storage); a failed test leaves its last page and
    the browser's log under test-artifacts/console/."""
    page = Console(browser, console_service.base_url)
    page.open("/")
    browser.execute_script("sessionStorage.clear(); localStorage.clear()")
    browser.get("about:blank")
    browser.get_log("browser")  # drop the earlier tests' entries
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = f"FAILED-{request.node.name}"
        page.screenshot(name)
        log = "\n".join(str(entry) for entry in browser.get_log("browser"))
        (ARTIFACTS / f"{name}.log").write_text(log + "\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Keep each phase's report on the test, for the failure screenshot below."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
