"""`curate report`'s per-label geography plots: time per plot against the previous way, same run.

Workspace: the demo collection (300 photos with images, ten cities), `curate filter --recipe
skylines` and `curate split`. The plots' inputs are taken from a real `write_report` on it, then
each label's scatter and distance histogram are drawn by `curate.report.plots` (one figure of each
kind reused from label to label, fixed margins with the y axis measured, the histogram counted with
np.histogram and drawn as one outline) and by the baseline below: the previous code, a new pyplot
figure per plot, `ax.hist` and `tight_layout`. Each round draws every label once per way, the two
ways alternating; the reused figures are made again at the start of each round, so their making is
counted, as in a fresh process. Also the whole `write_report`, with either way's plots.
Run:  .venv/bin/python bench/report_plots.py [--photos 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.report import plots  # noqa: E402


def baseline_scatter_png(label, kept_lat, kept_lon, dropped_lat, dropped_lon, centre_lat, centre_lon, max_km,
                         outlier_lat=(), outlier_lon=()) -> bytes:
    """The scatter as drawn before: a new pyplot figure per label and tight_layout."""
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.scatter(dropped_lon, dropped_lat, s=5, c="0.7", label=f"dropped, other reason ({len(dropped_lat)})")
    ax.scatter(kept_lon, kept_lat, s=6, c="tab:blue", label=f"kept ({len(kept_lat)})")
    ax.scatter(outlier_lon, outlier_lat, s=14, c="tab:red", marker="x", label=f"geo outliers ({len(outlier_lat)})")
    if centre_lat is not None and centre_lon is not None:
        ax.plot([centre_lon], [centre_lat], marker="+", ms=14, c="black", label="centre")
        if max_km:
            theta = np.linspace(0, 2 * np.pi, 120)
            dlat = max_km / plots.KM_PER_DEGREE
            dlon = dlat / max(np.cos(np.radians(centre_lat)), 1e-6)
            ax.plot(centre_lon + dlon * np.cos(theta), centre_lat + dlat * np.sin(theta), c="black",
                    lw=1, ls="--", label=f"{max_km:g} km (approx.)")
            ax.set_xlim(*plots.clamped(centre_lon - 3 * dlon, centre_lon + 3 * dlon, 180.0))
            ax.set_ylim(*plots.clamped(centre_lat - 3 * dlat, centre_lat + 3 * dlat, 90.0))
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.set_title(plots.plain(label))
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return plots.figure_png(fig, dpi=plots.REPORT_DPI)


def baseline_histogram_png(label, distance_km, max_km) -> bytes:
    """The distance histogram as drawn before: a new pyplot figure, ax.hist and tight_layout."""
    distance = np.asarray(distance_km, dtype=float)
    distance = distance[np.isfinite(distance)]
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    if len(distance):
        low = max(min(distance.min(), (max_km or 1) / 10), 1e-3)
        high = max(distance.max(), (max_km or 1) * 2, low * 10)
        ax.hist(np.clip(distance, low, None), bins=np.geomspace(low, high, 40), color="tab:blue")
        ax.set_xscale("log")
    if max_km:
        ax.axvline(max_km, c="tab:red", ls="--", label=f"max {max_km:g} km")
        ax.legend(fontsize=7)
    ax.set_title(f"{plots.plain(label)}: distance from centre")
    ax.set_xlabel("km (log scale)")
    ax.set_ylabel("photos")
    fig.tight_layout()
    return plots.figure_png(fig, dpi=plots.REPORT_DPI)


WAYS = {"baseline": (baseline_scatter_png, baseline_histogram_png),
        "reused figures": (plots.geo_scatter_png, plots.distance_histogram_png)}


def plot_inputs(ws) -> dict[str, list[tuple]]:
    """The arguments `write_report` passes to each plot function, label by label."""
    from curate.report.run import write_report

    inputs: dict[str, list[tuple]] = {"scatter": [], "histogram": []}
    real = plots.geo_scatter_png, plots.distance_histogram_png
    plots.geo_scatter_png = lambda *args: inputs["scatter"].append(args) or b""
    plots.distance_histogram_png = lambda *args: inputs["histogram"].append(args) or b""
    try:
        write_report(ws)
    finally:
        plots.geo_scatter_png, plots.distance_histogram_png = real
    return inputs


def draw_all(way: str, inputs) -> tuple[float, float]:
    """Seconds per scatter and per histogram, every label drawn once, made figures forgotten first."""
    vars(plots._figures).clear()
    scatter, histogram = WAYS[way]
    seconds = []
    for draw, calls in ((scatter, inputs["scatter"]), (histogram, inputs["histogram"])):
        start = time.perf_counter()
        for args in calls:
            draw(*args)
        seconds.append((time.perf_counter() - start) / len(calls))
    return seconds[0], seconds[1]


def report_seconds(ws, way: str) -> float:
    from curate.report.run import write_report

    vars(plots._figures).clear()
    real = plots.geo_scatter_png, plots.distance_histogram_png
    plots.geo_scatter_png, plots.distance_histogram_png = WAYS[way]
    try:
        start = time.perf_counter()
        write_report(ws)
        return time.perf_counter() - start
    finally:
        plots.geo_scatter_png, plots.distance_histogram_png = real


def main() -> None:
    from tests.helpers import demo_workspace

    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = demo_workspace(Path(tmp) / "ws", photos=args.photos)
        inputs = plot_inputs(ws)
        for way in WAYS:  # warm-up: imports, font cache, mathtext
            draw_all(way, inputs)
        times: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
        for _ in range(args.rounds):
            for way in WAYS:
                times[way].append(draw_all(way, inputs))
        reports = {way: [] for way in WAYS}
        for _ in range(2):
            for way in WAYS:
                reports[way].append(report_seconds(ws, way))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, matplotlib {matplotlib.__version__}; {args.photos} demo photos, "
          f"{len(inputs['scatter'])} labels, {args.rounds} rounds (median)")
    median = {way: [statistics.median(t[kind] for t in times[way]) for kind in (0, 1)] for way in WAYS}
    for kind, name in enumerate(("scatter", "distance histogram")):
        old, new = median["baseline"][kind], median["reused figures"][kind]
        print(f"{name}: {new * 1000:.0f} ms per plot, baseline {old * 1000:.0f} ms = {old / new:.1f}x faster")
    old, new = sum(median["baseline"]), sum(median["reused figures"])
    print(f"both plots of a label: {new * 1000:.0f} ms, baseline {old * 1000:.0f} ms = {old / new:.1f}x faster")
    old, new = min(reports["baseline"]), min(reports["reused figures"])
    print(f"write_report (best of 2): {new:.2f} s, with the baseline's plots {old:.2f} s")


if __name__ == "__main__":
    main()
