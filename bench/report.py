"""`curate report` at 100,000 photos: build time and page-open time in Chromium.

Workspace: the demo collection with `--no-images` (metadata only: the 100K rows exist, galleries
show grey boxes where no image is stored), then `curate filter` and `curate split`.
Build: `write_report` vs the baseline of only reading the catalog, same run (goal: build <= 30 s).
Open: the report's index.html vs an empty page in the same headless Chromium, load event time
(goal <= 3 s). Run:  .venv/bin/python bench/report.py [--photos 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def load_time(driver, url: str) -> float:
    driver.get(url)
    return driver.execute_script(
        "const t = performance.getEntriesByType('navigation')[0]; return (t.loadEventEnd - t.startTime) / 1000;")


def main() -> None:
    from typer.testing import CliRunner

    from curate.cli.app import app
    from curate.demo.config import DemoConfig
    from curate.ingest.demo import ingest_demo
    from curate.report.run import write_report
    from curate.workspace import Workspace, read_catalog
    from tests.browser import chrome_driver, ensure_chromium

    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp))
        ingest_demo(ws, DemoConfig(photos=args.photos), images=False, workers=2)
        for command in (["filter", "--recipe", "skylines"], ["split"]):
            assert CliRunner().invoke(app, [*command, "--workspace", tmp]).exit_code == 0
        start = time.perf_counter()
        read_catalog(ws)
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        index, _ = write_report(ws)
        build_s = time.perf_counter() - start
        size_mb = sum(f.stat().st_size for f in index.parent.rglob("*") if f.is_file()) / 1e6
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}; {args.photos:,} photos (metadata only)")
        print(f"read catalog: {read_s:.2f} s; build report: {build_s:.2f} s = {build_s / read_s:.1f}x the read "
              f"(goal <= 30 s); report folder {size_mb:.1f} MB, index.html {index.stat().st_size / 1e6:.2f} MB")
        missing = ensure_chromium()
        if missing:
            print(f"page open not measured: {missing}")
            return
        driver = chrome_driver()
        try:
            empty = Path(tmp) / "empty.html"
            empty.write_text("<!doctype html><title>empty</title>")
            load_time(driver, empty.as_uri())
            baseline = min(load_time(driver, empty.as_uri()) for _ in range(3))
            opened = [load_time(driver, index.as_uri()) for _ in range(3)]
        finally:
            driver.quit()
        print(f"open in headless Chromium (load event): report {min(opened):.2f} s (runs "
              f"{', '.join(f'{t:.2f}' for t in opened)}); "
              f"empty page {baseline:.3f} s (goal <= 3 s)")


if __name__ == "__main__":
    main()
