"""Headless Chromium for browser tests: Debian's `chromium` + `chromedriver`, driven by Selenium.

Nothing downloads a browser at run time. When the binaries are missing and this process may
use apt (root, apt-get present), they are installed from Debian once; otherwise the tests
that need them are skipped with the reason.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_LOCK = "/tmp/curate-tests-chromium-install.lock"


def ensure_chromium() -> str | None:
    """None when Chromium and ChromeDriver are usable, else why not."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "Chromium is not installed and this user cannot apt-get install chromium chromium-driver"
    # Two test modules on two xdist workers may ask at once: one installs while the other waits
    # for it (a file lock), and apt itself waits for a dpkg lock held by anything else.
    with open(INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
            return None
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        wait = ["-o", "DPkg::Lock::Timeout=300"]
        for command in (["apt-get", *wait, "update", "-qq"],
                        ["apt-get", *wait, "install", "-y", "-qq", "chromium", "chromium-driver"]):
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
            if done.returncode != 0:
                return f"could not install Chromium from Debian ({' '.join(command)}): {done.stderr.strip()[-200:]}"
    return None


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
