"""`curate report` in a real browser: headless Debian Chromium over file:// and over HTTP.

No console errors, every <img> loaded (naturalWidth > 0), a section for every stage that ran,
and a screenshot kept as a test artefact (tests/artifacts/report.png, git-ignored).
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from tests.browser import chromium_driver  # noqa: F401  (provides the `driver` fixture)
from tests.helpers import demo_workspace

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    ws = demo_workspace(tmp_path_factory.mktemp("report"), photos=200, seed=6, size=(96, 72),
                        commands=(("filter", "--recipe", "skylines"), ("split",), ("report",)))
    return ws.root / "report"


def check_page(driver, url: str) -> None:
    driver.get(url)
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    widths = driver.execute_script("return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth])")
    assert widths, "the report shows images"
    assert [src for src, width in widths if not width] == []
    ids = set(driver.execute_script("return Array.from(document.querySelectorAll('section[id]')).map(s => s.id)"))
    assert {"overview", "geography", "photographers", "duplicates", "splits", "attribution"} <= ids


def test_report_over_file_url(driver, report_dir):
    check_page(driver, (report_dir / "index.html").resolve().as_uri())
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "report.png"))
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_report_over_http(driver, report_dir):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(report_dir))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        check_page(driver, f"http://127.0.0.1:{server.server_address[1]}/index.html")
    finally:
        server.shutdown()
