"""Catalog work out of core (issue Q): filter + split + check-leakage + status through the DuckDB
engine on a generated metadata-only catalog, in a child process whose peak RSS is measured; and
pandas vs DuckDB on a smaller catalog (same rows, same run): whether they match, both wall times
and the ratio.

Run:  .venv/bin/python bench/outofcore.py [--rows 10000000] [--sample 1000000] [--folder /tmp/ooc-bench]
      (--skip-big / --skip-sample run one half). Results: docs/benchmarks.md.

The catalog is generated in chunks with a pyarrow ParquetWriter (never whole in memory): 50 city
labels (Zipf-sized), ~rows/20 owners (Zipf), 10% without coordinates, 5% mis-geotagged, 3%
ambiguous (two labels named by the tags, no label), licences mixed, 2% dropped at ingest, no
stored images (sha256 null: metadata only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate import schema  # noqa: E402

LABELS = 50
LICENCES = np.array(["cc-by-2.0", "cc-by-sa-2.0", "cc0-1.0", "all-rights-reserved", "cc-by-nc-2.0", None,
                     "some licence"], dtype=object)
LICENCE_P = np.array([0.35, 0.2, 0.1, 0.2, 0.1, 0.04, 0.01])
TAGS = np.array([f"tag{i}" for i in range(200)], dtype=object)


def chunk(start: int, rows: int, total: int, seed: int) -> pa.Table:
    """Rows start..start+rows of the generated catalog (deterministic per chunk)."""
    rng = np.random.default_rng([seed, start])
    ids = np.arange(start, start + rows)
    label_names = np.array([f"city{i:02d}" for i in range(LABELS)], dtype=object)
    sizes = 1.0 / np.arange(1, LABELS + 1)
    label = rng.choice(LABELS, rows, p=sizes / sizes.sum())
    centre_rng = np.random.default_rng(seed)
    centre_lat, centre_lon = centre_rng.uniform(-50, 60, LABELS), centre_rng.uniform(-179, 179, LABELS)
    lat = centre_lat[label] + rng.normal(0, 0.02, rows)
    lon = centre_lon[label] + rng.normal(0, 0.02, rows)
    wrong = rng.random(rows) < 0.05
    lat[wrong], lon[wrong] = rng.uniform(-60, 70, wrong.sum()), rng.uniform(-180, 180, wrong.sum())
    lon = np.clip(lon, -180, 180)
    missing = rng.random(rows) < 0.10
    ambiguous = rng.random(rows) < 0.03
    owners = max(total // 20, 2)
    owner = np.minimum(rng.zipf(1.6, rows), owners) - 1
    no_owner = rng.random(rows) < 0.02
    dropped = rng.random(rows) < 0.02
    taken = (np.datetime64("2015-01-01T00:00:00", "us")
             + rng.integers(0, 3 * 365 * 86400, rows).astype("timedelta64[s]")).astype("datetime64[us]")
    no_date = rng.random(rows) < 0.1
    tag_picks = rng.integers(0, len(TAGS), (rows, 3))
    names = label_names[label]
    other = label_names[(label + 1) % LABELS]
    id_text = np.char.add("flickr:", ids.astype(str)).astype(object)
    columns = {
        "photo_id": id_text, "source": np.full(rows, "flickr", dtype=object),
        "source_id": ids.astype(str).astype(object),
        "owner_id": np.where(no_owner, None, np.char.add("o", owner.astype(str)).astype(object)),
        "tags": [[TAGS[a], TAGS[b], TAGS[c], n] for (a, b, c), n in zip(tag_picks, names)],
        "label": np.where(ambiguous, None, names),
        "tag_labels": [[n, o] if amb else [n] for n, o, amb in zip(names, other, ambiguous)],
        "lat": np.where(missing, np.nan, lat), "lon": np.where(missing, np.nan, lon),
        "coord_issue": np.where(missing, "missing", None).astype(object),
        "geo_accuracy": np.where(missing, 0, rng.integers(6, 17, rows)),
        "taken_at": taken, "license": LICENCES[rng.choice(len(LICENCES), rows, p=LICENCE_P)],
        "status": np.where(dropped, schema.DROPPED, schema.KEPT).astype(object),
        "drop_reason": np.where(dropped, "download_failed", None).astype(object),
        "drop_stage": np.where(dropped, "ingest", None).astype(object),
    }
    arrays = {}
    for column in schema.COLUMNS:
        if column.name in columns:
            values = columns[column.name]
            if column.name in ("lat", "lon"):
                arrays[column.name] = pa.array(values, pa.float64(), from_pandas=True)
            elif column.name == "geo_accuracy":
                arrays[column.name] = pa.array(values, pa.int8(), mask=values == 0)
            elif column.name == "taken_at":
                arrays[column.name] = pa.array(values, pa.timestamp("us"), mask=no_date)
            else:
                arrays[column.name] = pa.array(values, column.type)
        elif pa.types.is_list(column.type) and not column.nullable:
            arrays[column.name] = pa.array([[]] * rows, column.type)
        else:
            arrays[column.name] = pa.nulls(rows, column.type)
    return pa.table(arrays, schema=schema.arrow_schema())


def generate(path: Path, rows: int, seed: int = 0, chunk_rows: int = 250_000) -> None:
    """Write the generated catalog to `path`, `chunk_rows` at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema.arrow_schema(), compression="zstd") as writer:
        for start in range(0, rows, chunk_rows):
            writer.write_table(chunk(start, min(chunk_rows, rows - start), rows, seed), row_group_size=65_536)
    os.replace(tmp, path)


def child(workspace: str, engine: str) -> None:
    """Run filter, split, check-leakage and status on `workspace` with `engine`; print JSON."""
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.leakage import workspace_leakage
    from curate.split import SplitConfig, run_split
    from curate.status import workspace_summary
    from curate.workspace import Workspace

    ws = Workspace(Path(workspace))
    times = {}
    start = time.perf_counter()
    report = run_filter(ws, FilterConfig(licences=("cc-by", "cc-by-sa", "cc0"), max_per_owner=200), engine=engine)
    times["filter"] = time.perf_counter() - start
    start = time.perf_counter()
    run_split(ws, SplitConfig(), engine=engine)
    times["split"] = time.perf_counter() - start
    start = time.perf_counter()
    leaks = workspace_leakage(ws, engine=engine)
    times["check-leakage"] = time.perf_counter() - start
    start = time.perf_counter()
    facts = workspace_summary(ws, engine=engine)
    times["status"] = time.perf_counter() - start
    print(json.dumps({"times": times, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "dropped": report.dropped_by_reason, "leaks": len(leaks), "kept": facts["kept"],
                      "photos": facts["photos"]}))


def run_child(workspace: Path, engine: str, script: str = __file__) -> dict:
    """Run `script --child WORKSPACE ENGINE` in a fresh process (its own peak RSS); its last JSON line."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, script, "--child", str(workspace), engine], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode:
        raise SystemExit(f"{engine} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh_workspace(folder: Path, name: str, catalog: Path) -> Path:
    ws = folder / name
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir(parents=True)
    shutil.copyfile(catalog, ws / "catalog.parquet")
    return ws


def compare(a: Path, b: Path) -> dict:
    """Rows whose filter flags, distance or split differ between two catalogs (same row order)."""
    columns = ["photo_id", "status", "drop_reason", "drop_stage", "exact_dup_group", "split", "geo_distance_km"]
    left, right = pq.read_table(a, columns=columns), pq.read_table(b, columns=columns)
    differ = {}
    for name in columns:
        x, y = left.column(name).to_numpy(zero_copy_only=False), right.column(name).to_numpy(zero_copy_only=False)
        if name == "geo_distance_km":
            x, y = np.asarray(x, float), np.asarray(y, float)
            same = (np.isnan(x) & np.isnan(y)) | (x == y)
        else:
            same = np.array([p == q for p, q in zip(x, y)])
        differ[name] = int((~same).sum())
    return differ


def show(name: str, result: dict) -> str:
    stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in result["times"].items())
    return f"{name}: {stages}; total {sum(result['times'].values()):.1f} s; peak RSS {result['maxrss_kb'] / 1e6:.2f} GB"


def bench_arguments(folder: str, child_main) -> argparse.Namespace | None:
    """The out-of-core benches' shared flags; runs `child_main(workspace, engine)` and returns None
    when this process is a measured child (`--child`), else prints the machine line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--sample", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path(folder))
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-sample", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("WORKSPACE", "ENGINE"))
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return None
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; duckdb memory_limit {os.environ.get('CURATE_DUCKDB_MEMORY', '2GB')}",
          flush=True)
    return args


def both_engines(folder: Path, rows: int, generate_catalog, run, compare_catalogs) -> tuple[dict, dict, dict]:
    """(pandas child's result, DuckDB child's result, rows differing per column) on one generated
    catalog of `rows` rows in `folder` (generated once, kept for the next run)."""
    catalog = folder / f"catalog-{rows}.parquet"
    if not catalog.exists():
        generate_catalog(catalog, rows)
    pandas = run(fresh_workspace(folder, "sample-pandas", catalog), "pandas")
    duck = run(fresh_workspace(folder, "sample-duckdb", catalog), "duckdb")
    return pandas, duck, compare_catalogs(folder / "sample-pandas" / "catalog.parquet",
                                          folder / "sample-duckdb" / "catalog.parquet")


def big_duckdb(folder: Path, rows: int, generate_catalog, run) -> dict:
    """The DuckDB child's result on a generated catalog of `rows` rows (generated once, kept)."""
    catalog = folder / f"catalog-{rows}.parquet"
    start = time.perf_counter()
    if not catalog.exists():
        generate_catalog(catalog, rows)
    print(f"{rows:,} rows generated in {time.perf_counter() - start:.0f} s ({catalog.stat().st_size / 1e6:.0f} MB)")
    return run(fresh_workspace(folder, "big-duckdb", catalog), "duckdb")


def main() -> None:
    args = bench_arguments("/tmp/ooc-bench", child)
    if args is None:
        return
    if not args.skip_sample:
        pandas, duck, differ = both_engines(args.folder, args.sample, generate, run_child, compare)
        total_p, total_d = sum(pandas["times"].values()), sum(duck["times"].values())
        print(f"{args.sample:,} rows")
        print("  " + show("pandas", pandas))
        print("  " + show("duckdb", duck))
        print(f"  match: {'yes' if not any(differ.values()) and pandas['dropped'] == duck['dropped'] else 'NO'} "
              f"(rows differing per column: {differ}; drops {duck['dropped']})")
        print(f"  duckdb / pandas wall time: {total_d / total_p:.2f}x; peak RSS "
              f"{duck['maxrss_kb'] / pandas['maxrss_kb']:.2f}x")
    if not args.skip_big:
        duck = big_duckdb(args.folder, args.rows, generate, run_child)
        print("  " + show("duckdb", duck) + f"; kept {duck['kept']:,} of {duck['photos']:,}; drops {duck['dropped']}")
        print(f"  peak RSS target <= 4 GB: {'met' if duck['maxrss_kb'] <= 4e6 else 'NOT met'}")


if __name__ == "__main__":
    main()
