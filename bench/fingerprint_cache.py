"""Freshness fingerprints kept between commands (curate.fingerprint_cache), with and without, in one run.

bench/outofcore.py's generated metadata-only catalog; in a child process per variant, on a fresh workspace each:
`curate filter`, `curate split`, `check-leakage`, `status`, `status` again (their library edges, DuckDB engine),
each stage timed. The baseline is the same sequence with the cache off (its MIN_ROWS set above the catalog's
size). The stage states the two children judge must be the same.

Run:  .venv/bin/python bench/fingerprint_cache.py [--rows 1000000] [--folder /tmp/fpcache-bench]
Results: docs/benchmarks.md (catalog work out of core).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from outofcore import fresh_workspace, generate  # noqa: E402

STEPS = ("filter", "split", "check-leakage", "status", "status again")


def child(workspace: str, cache: str) -> None:
    """Run the steps on `workspace` with the cache on ("on") or off; print JSON: times and the states."""
    from curate import fingerprint_cache
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.leakage import workspace_leakage
    from curate.split import SplitConfig, run_split
    from curate.status import workspace_summary
    from curate.workspace import Workspace

    if cache != "on":
        fingerprint_cache.MIN_ROWS = 1 << 62
    ws = Workspace(Path(workspace))
    actions = {"filter": lambda: run_filter(ws, FilterConfig(licences=("cc-by", "cc-by-sa", "cc0"),
                                                             max_per_owner=200), engine="duckdb"),
               "split": lambda: run_split(ws, SplitConfig(), engine="duckdb"),
               "check-leakage": lambda: workspace_leakage(ws, engine="duckdb"),
               "status": lambda: workspace_summary(ws, engine="duckdb"),
               "status again": lambda: workspace_summary(ws, engine="duckdb")}
    times, facts = {}, {}
    for step in STEPS:
        start = time.perf_counter()
        answer = actions[step]()
        times[step] = time.perf_counter() - start
        if step.startswith("status"):
            facts = answer
    states = {name: state.get("line") for name, state in facts["stages"].items()}
    print(json.dumps({"times": times, "states": states}))


def run(workspace: Path, cache: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(workspace), cache], capture_output=True,
                         text=True, env={**os.environ, "OMP_NUM_THREADS": "2"}, check=False)
    if out.returncode:
        raise SystemExit(f"child ({cache}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/fpcache-bench"))
    parser.add_argument("--child", nargs=2, metavar=("WORKSPACE", "CACHE"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    catalog = args.folder / f"catalog-{args.rows}.parquet"
    if not catalog.exists():
        generate(catalog, args.rows)
    without = run(fresh_workspace(args.folder, "without", catalog), "off")
    with_cache = run(fresh_workspace(args.folder, "with", catalog), "on")
    print(f"{args.rows:,} rows, DuckDB engine, seconds per step")
    print(f"{'step':<14}{'no cache':>10}{'cache':>10}{'cache / none':>14}")
    for step in STEPS:
        a, b = without["times"][step], with_cache["times"][step]
        print(f"{step:<14}{a:>10.1f}{b:>10.1f}{b / a:>13.2f}x")
    total_a, total_b = sum(without["times"].values()), sum(with_cache["times"].values())
    print(f"{'total':<14}{total_a:>10.1f}{total_b:>10.1f}{total_b / total_a:>13.2f}x")
    same = without["states"] == with_cache["states"]
    print(f"stage states the same: {'yes' if same else 'NO'} ({without['states']})")
    if not same:
        print(f"with the cache: {with_cache['states']}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
