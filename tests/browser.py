"""Headless Chromium for browser tests: Debian's `chromium` + `chromedriver`, driven by Selenium.

Nothing downloads a browser at run time. When the binaries are missing and this process may
use apt (root, apt-get present), they are installed from Debian once; otherwise the tests
that need them are skipped with the reason.
"""

from __future__ import annotations

import pytest

from tests.debian import apt_install

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_LOCK = "/tmp/curate-tests-chromium-install.lock"


def ensure_chromium() -> str | None:
    """None when Chromium and ChromeDriver are usable, else why not."""
    return apt_install(["chromium", "chromium-driver"], [CHROMIUM, CHROMEDRIVER], INSTALL_LOCK)


def chrome_driver():
    """A headless Chromium WebDriver that records the browser console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,2000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module", name="driver")
def chromium_driver():
    """The `driver` fixture: one headless Chromium per test module (import this function); skips
    with the reason when Chromium cannot be had. Named apart from `driver` so that the tests'
    `driver` parameters do not shadow an import."""
    missing = ensure_chromium()
    if missing:
        pytest.skip(missing)
    browser = chrome_driver()
    yield browser
    browser.quit()
