"""Geo filter speed: the vectorised stage vs a per-row geopy geodesic loop.

Both run in this process on the same synthetic rows (ten cities, 5% mis-geotagged).
The geopy loop is timed on a 10,000-row sample and scaled linearly to the full size.
Run:  .venv/bin/python bench/geo_filter.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the goal is stated for one core


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = np.array([[51.5, -0.13], [-33.9, 151.2], [43.7, -79.4], [34.05, -118.24], [41.85, -87.65],
                        [39.95, -75.16], [35.69, 139.69], [29.76, -95.36], [31.22, 121.46], [40.71, -74.0]])
    city = rng.integers(0, len(centres), rows)
    lat = centres[city, 0] + rng.normal(0, 0.02, rows)
    lon = centres[city, 1] + rng.normal(0, 0.02, rows)
    wrong = rng.random(rows) < 0.05
    lat[wrong] = rng.uniform(-60, 70, wrong.sum())
    lon[wrong] = rng.uniform(-180, 180, wrong.sum())
    return pd.DataFrame({"label": np.array([f"c{i}" for i in range(len(centres))])[city], "lat": lat, "lon": lon})


def vectorised(frame: pd.DataFrame, max_km: float) -> np.ndarray:
    from curate.filters import geo

    centres = geo.median_centres(frame["label"], frame["lat"], frame["lon"])
    return geo.distances_to_centres(frame["label"], frame["lat"], frame["lon"], centres) > max_km


def geopy_loop(frame: pd.DataFrame, centres: dict, max_km: float) -> np.ndarray:
    from geopy.distance import geodesic

    return np.array([geodesic((lat, lon), centres[label]).km > max_km
                     for label, lat, lon in frame.itertuples(index=False)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=10_000)
    args = parser.parse_args()
    frame = synthetic(args.rows)
    vectorised(frame.head(1000), 5.0)  # warm-up (imports, first-call costs)
    start = time.perf_counter()
    outliers = vectorised(frame, 5.0)
    fast_s = time.perf_counter() - start

    from curate.filters import geo

    centres = {k: (c.lat, c.lon) for k, c in geo.median_centres(frame["label"], frame["lat"], frame["lon"]).items()}
    sample = frame.sample(args.sample, random_state=0)
    start = time.perf_counter()
    slow = geopy_loop(sample, centres, 5.0)
    loop_s = (time.perf_counter() - start) * args.rows / args.sample
    agree = float((slow == outliers[sample.index.to_numpy()]).mean())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    print(f"rows: {args.rows:,}; outliers flagged: {int(outliers.sum()):,}")
    print(f"vectorised geo filter (median centres + distances): {fast_s:.3f} s")
    print(f"per-row geopy geodesic loop: {loop_s:.1f} s (timed on {args.sample:,} rows, scaled)")
    print(f"speed-up: {loop_s / fast_s:.0f}x; decisions agree with geopy on {agree:.4%} of the sample")


if __name__ == "__main__":
    main()
