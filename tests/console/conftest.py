"""Fixtures of the console suite: one running service (anvil, contracts, SQLite, the API
with the console, the cast onboarded: tests/api/apikit.py) for the whole suite, and a
fresh headless Chromium per test.

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


@pytest.fixture(scope="session")
def console_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service every console test talks to; the financier holds CNY to lend."""
    with running_service(tmp_path_factory.mktemp("console")) as service:
        service.mint("financier", 10**13)
        yield service


@pytest.fixture
def console(console_service: Service, request: pytest.FixtureRequest) -> Iterator[Console]:
    """A fresh browser (empty session storage) on the service's console; a failed test
    leaves its last page and the browser's log under test-artifacts/console/."""
    driver = start_browser()
    page = Console(driver, console_service.base_url)
    try:
        yield page
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = f"FAILED-{request.node.name}"
            page.screenshot(name)
            log = "\n".join(str(entry) for entry in driver.get_log("browser"))
            (ARTIFACTS / f"{name}.log").write_text(log + "\n")
    finally:
        driver.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Keep each phase's report on the test, for the failure screenshot below."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
