"""Benchmark: `classify evaluate` of a linear probe from cached features vs decoding every photo, one run.

    .venv/bin/python bench/evaluate_probe.py --workspace WS [--run WS/runs/demo] [--repeats 2]

WS is a workspace where a probe run was trained after `curate embed` at its crop: `make demo`
leaves one (`make demo WORKSPACE=/tmp/demo-ws`, then `--workspace /tmp/demo-ws`). Each repeat scores
the run on the test split with its sandals test (`classify.evaluate_run.evaluate_run`, the
command's own path) twice: the baseline decodes every test and sandals photo and runs the
backbone (what `classify evaluate` did before), the new path scores the photos with a cached
vector by the head alone (`cached_probe_features`). Printed: each path's median seconds, the
ratio baseline / new, how many photos each decoded, and whether the two evaluations agree
(accuracy, macro F1, mean loss within 1e-3, the same unreadable photos, the same sandals share).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--run", type=Path, default=None, help="the probe run (default: WS/runs/demo)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    run = args.run or args.workspace / "runs" / "demo"
    if not (run / "model.json").is_file():
        sys.exit(f"no trained run in {run}: run `make demo WORKSPACE={args.workspace}` first, or pass --run")

    import torch

    import classify.evaluate_run as evaluate_run
    from curate.workspace import Workspace

    ws = Workspace(args.workspace)
    decoded = {"baseline": 0, "cached": 0}
    real_open, real_cached = evaluate_run._open, evaluate_run.cached_probe_features
    path = {"baseline": lambda *a: None, "cached": real_cached}
    times: dict[str, list[float]] = {"baseline": [], "cached": []}
    results = {}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"torch {torch.__version__}; load average {os.getloadavg()[0]:.2f}", flush=True)
    for repeat in range(args.repeats):
        for name in ("baseline", "cached"):
            count = [0]

            def counting_open(ws, image_path, side, count=count):
                count[0] += 1
                return real_open(ws, image_path, side)

            evaluate_run._open, evaluate_run.cached_probe_features = counting_open, path[name]
            try:
                started = time.perf_counter()
                results[name] = evaluate_run.evaluate_run(run, ws)
                times[name].append(time.perf_counter() - started)
            finally:
                evaluate_run._open, evaluate_run.cached_probe_features = real_open, real_cached
            decoded[name] = count[0]
            print(f"repeat {repeat + 1} {name}: {times[name][-1]:.2f} s, {count[0]:,} photos decoded", flush=True)
    base, new = statistics.median(times["baseline"]), statistics.median(times["cached"])
    left, right = results["baseline"], results["cached"]
    same = (abs(left.report.accuracy - right.report.accuracy) <= 1e-3
            and abs(left.report.macro["f1"] - right.report.macro["f1"]) <= 1e-3
            and abs(left.report.mean_loss - right.report.mean_loss) <= 1e-3
            and left.unreadable == right.unreadable
            and (left.sandals_test or {}).get("share") == (right.sandals_test or {}).get("share"))
    print(f"\nevaluate {run} on {left.report.photos:,} test photos (+ the sandals test), median of {args.repeats}")
    print(f"baseline (decode every photo): {base:.2f} s, {decoded['baseline']:,} decoded; "
          f"cached features: {new:.2f} s, {decoded['cached']:,} decoded; ratio baseline / cached {base / new:.1f}x")
    print(f"accuracy {left.report.accuracy:.4f} vs {right.report.accuracy:.4f}, macro F1 "
          f"{left.report.macro['f1']:.4f} vs {right.report.macro['f1']:.4f}, mean loss {left.report.mean_loss:.4f} "
          f"vs {right.report.mean_loss:.4f}; the same evaluation: {'yes' if same else 'NO'}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
