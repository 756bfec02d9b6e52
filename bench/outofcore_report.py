"""`curate report` out of core (issue Q): the report of a generated metadata-only catalog through
the DuckDB engine in a child process whose peak RSS is measured; and pandas vs DuckDB on a smaller
catalog (same catalog, same run): whether the two reports are equal, both wall times and RSS, and
the ratios.

Run:  .venv/bin/python bench/outofcore_report.py [--rows 10000000] [--sample 1000000]
      [--folder /tmp/ooc-report-bench]  (--skip-big / --skip-sample run one half).
      Results: docs/benchmarks.md.

The catalog is bench/outofcore.py's generator (50 Zipf-sized city labels, ~rows/20 Zipf owners,
10% without coordinates, 3% ambiguous, mixed licences, 2% dropped at ingest) with what a filter
and a split would have written on top, so that every section of the report has work to do:
distances from each label's centre, 4% geo outliers and 1% exact duplicates dropped by the
filter (each with the copy kept: groups of 2), owner names, and a train/val/test split of the
kept photos by owner (no leaks, as `curate split` makes it); a filter report (each label's
centre, max_km 25) and a split report. No stored images: the
galleries' thumbnails are grey boxes (metadata only), so the time is the catalog work's.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from outofcore import LABELS, bench_arguments, chunk  # noqa: E402  (bench/outofcore.py)
from outofcore import run_child as run_outofcore_child  # noqa: E402

from curate import schema  # noqa: E402


def hash_owner(owner: str) -> int:
    """A split bucket (0-4) for an owner, the same in every chunk."""
    return zlib.crc32(owner.encode()) % 5


def report_chunk(start: int, rows: int, total: int, seed: int) -> pa.Table:
    """bench/outofcore.py's chunk with the filter's and the split's columns filled in."""
    table = chunk(start, rows, total, seed)
    rng = np.random.default_rng([seed, start, 1])
    status = table.column("status").to_numpy(zero_copy_only=False).astype(object)
    reason = table.column("drop_reason").to_numpy(zero_copy_only=False).astype(object)
    stage = table.column("drop_stage").to_numpy(zero_copy_only=False).astype(object)
    lat = table.column("lat").to_numpy(zero_copy_only=False)
    located = ~np.isnan(lat)
    distance = np.where(located, rng.lognormal(0.5, 1.5, rows), np.nan)
    kept = status == schema.KEPT
    outlier = kept & located & (rng.random(rows) < 0.04)
    ids = np.arange(start, start + rows)
    duplicate = kept & ~outlier & (rng.random(rows) < 0.01)
    duplicate[0] = False
    for mask, why in ((outlier, "geo_outlier"), (duplicate, "exact_duplicate")):
        status[mask], reason[mask], stage[mask] = schema.DROPPED, why, "filter"
    # each dropped duplicate and the row before it (the copy kept) form a group: one kept member,
    # so the group cannot leak across splits
    group = np.full(rows, None, dtype=object)
    first = np.flatnonzero(duplicate) - 1
    group[first] = np.char.add("flickr:", ids[first].astype(str))
    group[duplicate] = group[first]
    owner = table.column("owner_id").to_numpy(zero_copy_only=False).astype(object)
    # split by owner, as `curate split` does by default (no owner leaks); photos without one at random
    bucket = np.array([hash_owner(o) if o is not None else -1 for o in owner])
    bucket = np.where(bucket < 0, rng.integers(0, 5, rows), bucket)
    split = np.where(status == schema.KEPT, np.array(["train", "train", "train", "val", "test"],
                                                      dtype=object)[bucket], None)
    named = np.array([o is not None for o in owner]) & (rng.random(rows) < 0.7)
    names = np.where(named, np.char.add("Photographer ", np.char.mod("%s", owner.astype(str))), None)
    updates = {"status": status, "drop_reason": reason, "drop_stage": stage, "geo_distance_km": distance,
               "exact_dup_group": group, "split": split, "owner_name": names}
    for name, values in updates.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, table.schema.field(index), pa.array(values, schema.COLUMN_BY_NAME[name].type,
                                                                            from_pandas=True))
    return table


def generate(path: Path, rows: int, seed: int = 0, chunk_rows: int = 250_000) -> None:
    """Write the generated catalog to `path`, `chunk_rows` at a time (never whole in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema.arrow_schema(), compression="zstd") as writer:
        for start in range(0, rows, chunk_rows):
            writer.write_table(report_chunk(start, min(chunk_rows, rows - start), rows, seed), row_group_size=65_536)
    os.replace(tmp, path)


def stage_reports(seed: int = 0) -> dict:
    """A filter report (each label's centre, as the generator placed them) and a split report."""
    centre_rng = np.random.default_rng(seed)
    lat, lon = centre_rng.uniform(-50, 60, LABELS), centre_rng.uniform(-179, 179, LABELS)
    return {"filter": {"config": {"max_km": 25.0, "center": "median"},
                       "geo": [{"label": f"city{i:02d}", "centre_lat": float(lat[i]), "centre_lon": float(lon[i])}
                               for i in range(LABELS)]},
            "split": {"config": {"val": 0.2, "test": 0.2, "by": "owner", "seed": 0}}}


def child(workspace: str, engine: str) -> None:
    """`curate report` of `workspace` with `engine` (its I/O edge, as the CLI calls it); print JSON."""
    from curate.report.run import write_report
    from curate.workspace import Workspace

    ws = Workspace(Path(workspace))
    start = time.perf_counter()
    _, report = write_report(ws, ws.root / "report", engine=engine)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "photos": report["photos"], "warnings": report["warnings"]}))


def run_child(workspace: Path, engine: str) -> dict:
    return run_outofcore_child(workspace, engine, __file__)


def fresh_workspace(folder: Path, name: str, catalog: Path) -> Path:
    """A workspace holding a copy of `catalog` and the stage reports (written once per catalog,
    with their freshness fingerprints computed in batches, as the DuckDB stages write them)."""
    from curate.outofcore.write_back import catalog_sha256, save_stage_report
    from curate.workspace import Workspace

    reports = catalog.with_suffix(".reports")
    if not reports.exists():
        scratch = catalog.with_suffix(".ws")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        os.link(catalog, scratch / "catalog.parquet")
        start = time.perf_counter()
        for stage, report in stage_reports().items():
            save_stage_report(Workspace(scratch), stage, catalog_sha256(catalog), report)
        print(f"stage reports (fingerprints in batches) written in {time.perf_counter() - start:.0f} s", flush=True)
        os.replace(scratch / "reports", reports)
        shutil.rmtree(scratch)
    root = folder / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copyfile(catalog, root / "catalog.parquet")
    shutil.copytree(reports, root / "reports")
    return root


def differences(expected, got, where: str = "") -> list[str]:
    """Where two report.json trees differ (floats to 1e-12 relative)."""
    if isinstance(expected, float) and isinstance(got, float):
        same = math.isclose(expected, got, rel_tol=1e-12) or (math.isnan(expected) and math.isnan(got))
        return [] if same else [where]
    if isinstance(expected, dict) and isinstance(got, dict):
        if list(expected) != list(got):
            return [f"{where} keys"]
        return [d for key in expected for d in differences(expected[key], got[key], f"{where}.{key}")]
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{where} length"]
        return [d for i, (a, b) in enumerate(zip(expected, got)) for d in differences(a, b, f"{where}[{i}]")]
    return [] if expected == got else [where]


def same_files(a: Path, b: Path) -> dict:
    """Whether report.json (numbers), index.html, attribution.csv and the file lists are equal,
    but for the warnings (out of core, the plots of labels above PLOT_POINTS photos are drawn
    from a sample, and the report says so)."""
    left, right = (json.loads((p / "report.json").read_text()) for p in (a, b))
    for report in (left, right):
        report["warnings"] = []
    pages = [re.sub(r'<p class="bad warning">.*?</p>', "", (p / "index.html").read_text()) for p in (a, b)]
    files = [sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()) for d in (a, b)]
    plots = [n for n in files[0] if n.startswith("plots/") and (b / n).is_file()]
    return {"report.json": differences(left, right)[:5] or "same",
            "index.html": "same" if pages[0] == pages[1] else "DIFFER",
            "plots byte-identical": f"{sum((a / n).read_bytes() == (b / n).read_bytes() for n in plots)} "
                                    f"of {len(plots)}",
            "attribution.csv": "same" if (a / "attribution.csv").read_bytes() == (b / "attribution.csv").read_bytes()
            else "DIFFER", "files": "same" if files[0] == files[1] else "DIFFER"}


def show(name: str, result: dict) -> str:
    return f"{name}: {result['seconds']:.1f} s; peak RSS {result['maxrss_kb'] / 1e6:.2f} GB"


def catalog_at(folder: Path, rows: int) -> Path:
    catalog = folder / f"report-catalog-{rows}.parquet"
    start = time.perf_counter()
    if not catalog.exists():
        generate(catalog, rows)
        print(f"{rows:,} rows generated in {time.perf_counter() - start:.0f} s ({catalog.stat().st_size / 1e6:.0f} MB)")
    return catalog


def main() -> None:
    args = bench_arguments("/tmp/ooc-report-bench", child)
    if args is None:
        return
    if not args.skip_sample:
        catalog = catalog_at(args.folder, args.sample)
        pandas = run_child(fresh_workspace(args.folder, "sample-pandas", catalog), "pandas")
        duck = run_child(fresh_workspace(args.folder, "sample-duckdb", catalog), "duckdb")
        compared = same_files(args.folder / "sample-pandas" / "report", args.folder / "sample-duckdb" / "report")
        print(f"{args.sample:,} rows: curate report")
        print("  " + show("pandas", pandas))
        print("  " + show("duckdb", duck))
        print(f"  equal: {compared}; duckdb warnings: {duck['warnings']}")
        print(f"  duckdb / pandas wall time: {duck['seconds'] / pandas['seconds']:.2f}x; peak RSS "
              f"{duck['maxrss_kb'] / pandas['maxrss_kb']:.2f}x", flush=True)
    if not args.skip_big:
        catalog = catalog_at(args.folder, args.rows)
        duck = run_child(fresh_workspace(args.folder, "big-duckdb", catalog), "duckdb")
        print(f"{args.rows:,} rows: curate report")
        print("  " + show("duckdb", duck))
        print(f"  peak RSS target <= 4 GB: {'met' if duck['maxrss_kb'] <= 4e6 else 'NOT met'}", flush=True)


if __name__ == "__main__":
    main()
