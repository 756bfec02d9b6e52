"""Benchmark: two fixed costs of the test suite, each against its baseline in the same run.

    .venv/bin/python bench/test_suite.py [--repeats 2]

* Collection (`pytest --collect-only`, what every xdist worker does before its first test):
  the baseline runs with PYTHONDONTWRITEBYTECODE=1, no conftest and the __pycache__ folders of
  tests/, curate/ and classify/ removed first (as on a machine where the variable was always
  set: every project module compiled and every test module's asserts rewritten again); the
  new case runs with the suite's conftest, which lets the run cache bytecode, after a warm-up
  run that wrote the caches (as every run after the first on one checkout). A fresh clone's
  first run has no caches yet: there, both workers compile at once and only the Python
  processes started later (subprocess and spawn tests) read what the workers wrote.
* `tests.helpers.demo_workspace`: the same demo collection asked for 5 times, ingested each
  time (the baseline) against ingested once per process and copied; the CPU time of the five
  calls only (imports excluded).

CPU seconds (user + system); the ratio is baseline / new.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DEMO = """
import atexit, shutil, sys, tempfile, time
from pathlib import Path
sys.path[:0] = ["tests", "."]
import helpers
import curate.cli.app  # both paths import it before the clock starts, as a test process has
from curate.demo.config import DemoConfig
from curate.ingest.demo import ingest_demo
from curate.workspace import Workspace
root = Path(tempfile.mkdtemp())
atexit.register(shutil.rmtree, root, ignore_errors=True)
start = time.process_time()
for i in range(5):
    if sys.argv[1] == "baseline":
        ingest_demo(Workspace(root / str(i)), DemoConfig(photos=140, seed=4), images=True, workers=2)
    else:
        helpers.demo_workspace(root / str(i), photos=140, seed=4, commands=())
print(time.process_time() - start)
"""


def remove_bytecode_caches() -> None:
    for package in ("tests", "curate", "classify"):
        for cache in (ROOT / package).rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)


def child_cpu(command: list[str], env: dict[str, str], cold: bool = False) -> float:
    """CPU seconds of the finished child, or the figure it prints when it prints one; `cold`:
    without the project's bytecode caches."""
    if cold:
        remove_bytecode_caches()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    printed = done.stdout.strip().splitlines()[-1:] if command[1] == "-c" else []
    return float(printed[0]) if printed else (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    python = str(ROOT / ".venv" / "bin" / "python")
    collect = [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cases = {"collection": ([*collect, "--noconftest"], [*collect]),
             "demo_workspace x5": ([python, "-c", DEMO, "baseline"], [python, "-c", DEMO, "cached"])}
    for name, (baseline, new) in cases.items():
        old_s = min(child_cpu(baseline, env, cold=name == "collection") for _ in range(args.repeats))
        child_cpu(new, env)  # warm-up: writes the bytecode caches the new case reads
        new_s = min(child_cpu(new, env) for _ in range(args.repeats))
        print(f"{name:18s} baseline {old_s:6.1f} s CPU   new {new_s:6.1f} s CPU   ratio {old_s / new_s:4.2f}x",
              flush=True)
    print(f"(Python {sys.version.split()[0]}, {os.cpu_count()} cores; best of {args.repeats} after a warm-up)")


if __name__ == "__main__":
    main()
