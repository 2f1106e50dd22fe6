"""The console suite's helpers: headless Chromium driven by Selenium, and page actions.

Debian's chromium and chromium-driver, named by path, so Selenium Manager never looks for
(or downloads) a browser or a driver. A module of its own, not conftest, for the same
reason as tests/api/apikit.py.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from ledger_app import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "console"
CONSOLE_INDEX = PROJECT_ROOT / "console" / "dist" / "index.html"
#: Generous: a write is mined and indexed on a loaded 2-core machine before the page moves.
WAIT_SECONDS = float(os.environ.get("CONSOLE_TEST_WAIT", "90"))
#: The browser's time zone in every test: east of UTC, so a due date's day shifts.
TIME_ZONE = "Asia/Shanghai"


def start_browser() -> WebDriver:
    """Headless Chromium (en-US, 1280 wide) through Debian's chromedriver."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists():
            pytest.fail(f"{binary} is missing: install Debian's chromium and chromium-driver")
    if not CONSOLE_INDEX.is_file():
        pytest.fail(f"{CONSOLE_INDEX} is missing: run `make setup` (it builds the console)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--lang=en-US",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=ChromeService(str(CHROMEDRIVER)), options=options)
    # Before any page: every page of this browser formats for this locale and zone.
    driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": TIME_ZONE})
    driver.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": "en-US"})
    return driver


def plain(text: str) -> str:
    """Text with every kind of space (no-break, narrow no-break) as a plain one."""
    return re.sub(r"[\s\u00a0\u202f]+", " ", text).strip()


class Console:
    """One browser tab on the console of a running service."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    # --- waiting -------------------------------------------------------------------------

    def wait(self, condition: Callable[[], Any], what: str) -> Any:
        """The first truthy value of ``condition()`` (stale elements retried), or fail naming ``what``."""

        def attempt(_driver: WebDriver) -> Any:
            try:
                return condition()
            except StaleElementReferenceException:
                return None

        return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.1).until(
            attempt, message=f"waiting for {what}"
        )

    def find(self, css: str, within: WebElement | None = None) -> WebElement:
        """The element at ``css`` once it is displayed."""
        root = within or self.driver

        def shown() -> WebElement | None:
            found = root.find_elements(By.CSS_SELECTOR, css)
            return found[0] if found and found[0].is_displayed() else None

        return self.wait(shown, css)

    def gone(self, css: str) -> None:
        """Wait until nothing matches ``css``."""
        self.wait(lambda: not self.driver.find_elements(By.CSS_SELECTOR, css), f"{css} to go")

    def text_of(self, css: str) -> str:
        """The visible text at ``css``, spaces made plain."""
        return plain(self.find(css).text)

    def wait_text(self, css: str, expected: str) -> str:
        """Wait until the element at ``css`` shows ``expected``; its text."""
        self.wait(lambda: expected in self.text_of(css), f"{expected!r} in {css}")
        return self.text_of(css)

    def idle(self) -> None:
        """Wait until no operation shows progress."""
        self.gone(".progress")

    # --- acting ----------------------------------------------------------------------------

    def open(self, route: str = "/") -> None:
        """Load the console afresh at ``#route`` (through a blank page: going to the URL
        already shown, or to another #route of it, would not load the page again)."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.base_url}/console/#{route}")

    def go(self, route: str) -> None:
        """Move to ``#route`` inside the loaded console (as a link would)."""
        self.driver.execute_script("location.hash = arguments[0]", route)

    def button(self, label: str, within: WebElement | None = None) -> WebElement:
        """The displayed, enabled button labelled ``label``."""
        root = within or self.driver

        def ready() -> WebElement | None:
            for candidate in root.find_elements(By.TAG_NAME, "button"):
                if (
                    plain(candidate.text) == label
                    and candidate.is_displayed()
                    and candidate.is_enabled()
                ):
                    return candidate
            return None

        return self.wait(ready, f"button {label!r}")

    def click(self, label: str, within: WebElement | None = None) -> None:
        """Click the button labelled ``label``."""
        self.button(label, within).click()

    def fill(self, css: str, text: str) -> None:
        """Replace the value of the field at ``css``."""
        field = self.find(css)
        field.clear()
        field.send_keys(text)

    def sign_in(self, key: str) -> None:
        """Sign in with ``key`` and wait for the worklist."""
        self.open("/")
        self.fill("#api-key", key)
        self.click("Sign in")
        self.find("header .who")
        self.find("main h1")

    def sign_out(self) -> None:
        """Sign out and wait for the sign-in form."""
        self.click("Sign out")
        self.find("#api-key")

    def session_key(self) -> str | None:
        """The key this tab's session storage holds."""
        return self.driver.execute_script("return sessionStorage.getItem('ledger-console.api-key')")

    def screenshot(self, name: str) -> Path:
        """The whole page (beyond the window) as test-artifacts/console/NAME.png."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics["cssContentSize"]
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                         "scale": 1},
            },
        )  # fmt: skip
        path = ARTIFACTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
