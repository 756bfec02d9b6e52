"""`curate filter` out of core on a catalog with image statistics (issue Q): the quality checks
scored by the DuckDB engine in Arrow batches, in a child process whose peak RSS is measured; and
pandas vs DuckDB on a smaller catalog (same catalog, same run): whether the two catalogs and
reports are equal, both wall times and RSS, and the ratios.

Run:  .venv/bin/python bench/outofcore_quality.py [--rows 10000000] [--sample 1000000]
      [--folder /tmp/ooc-quality-bench]  (--skip-big / --skip-sample run one half).
      Results: docs/benchmarks.md.

The catalog is bench/outofcore.py's generator (50 Zipf-sized city labels, ~rows/20 Zipf owners,
10% without coordinates, 3% ambiguous, mixed licences, 2% dropped at ingest) with what the
decode pass of an ingest would have written on top: a sha256 per photo (1% exact copies of
another photo of the chunk), width and height, and the eight quality statistics spread around
each check's threshold, so every check flags a few percent; 2% of the photos are unmeasured. No
pHashes: the near-duplicate step is skipped on both engines (see docs/scale-catalog.md). The
filter: `--drop-quality blurry,dark,tiny`, licence filter `cc-by, cc-by-sa, cc0`,
`--max-per-owner 200`.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from outofcore import bench_arguments, big_duckdb, both_engines, chunk  # noqa: E402  (bench/outofcore.py)
from outofcore import run_child as run_outofcore_child  # noqa: E402

from curate import schema  # noqa: E402

DROP_QUALITY = ("blurry", "dark", "tiny")


def quality_chunk(start: int, rows: int, total: int, seed: int) -> pa.Table:
    """bench/outofcore.py's chunk with sha256, size and the quality statistics filled in."""
    table = chunk(start, rows, total, seed)
    rng = np.random.default_rng([seed, start, 2])
    ids = np.arange(start, start + rows)
    copy_of = np.where(rng.random(rows) < 0.01, rng.integers(start, start + rows, rows), ids)
    measured = rng.random(rows) >= 0.02
    width = rng.choice([64, 320, 640, 800, 1024, 2048], rows, p=[0.02, 0.1, 0.3, 0.2, 0.3, 0.08])
    aspect = rng.choice([0.75, 1.333, 0.667, 1.0, 0.5625, 0.3], rows, p=[0.4, 0.25, 0.15, 0.1, 0.08, 0.02])
    p50 = rng.normal(120, 35, rows).clip(0, 255)
    values = {
        "sha256": np.char.add("h", copy_of.astype(str)).astype(object),
        "width": width, "height": np.maximum(np.round(width * aspect), 1).astype(np.int64),
        "laplacian_var": rng.lognormal(np.log(300), 1.2, rows),
        "brightness_p05": rng.uniform(0, 60, rows),
        "brightness_p50": p50, "brightness_p95": (p50 + rng.uniform(20, 120, rows)).clip(0, 255),
        "white_clipped_share": rng.beta(1, 30, rows),
        "centre_clipped_share": rng.beta(1, 20, rows),
        "entropy_bits": rng.normal(7, 1.2, rows).clip(0, 8),
        "chroma_mean": np.where(rng.random(rows) < 0.03, rng.uniform(0, 1.5, rows), rng.uniform(5, 60, rows)),
    }
    arrays = {}
    for column in schema.COLUMNS:
        if column.name not in values:
            arrays[column.name] = table.column(column.name)
        elif column.name in ("sha256", "width", "height"):
            arrays[column.name] = pa.array(values[column.name], column.type)
        else:
            arrays[column.name] = pa.array(values[column.name], column.type, mask=~measured)
    return pa.table(arrays, schema=schema.arrow_schema())


def generate(path: Path, rows: int, seed: int = 0, chunk_rows: int = 250_000) -> None:
    """Write the generated catalog to `path`, `chunk_rows` at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema.arrow_schema(), compression="zstd") as writer:
        for start in range(0, rows, chunk_rows):
            writer.write_table(quality_chunk(start, min(chunk_rows, rows - start), rows, seed),
                               row_group_size=65_536)
    os.replace(tmp, path)


def child(workspace: str, engine: str) -> None:
    """Run the filter on `workspace` with `engine`; print JSON (time, peak RSS, the report's figures)."""
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.workspace import Workspace

    ws = Workspace(Path(workspace))
    start = time.perf_counter()
    report = run_filter(ws, FilterConfig(licences=("cc-by", "cc-by-sa", "cc0"), max_per_owner=200,
                                         drop_quality=DROP_QUALITY), engine=engine)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "dropped": report.dropped_by_reason, "quality": report.quality,
                      "notes": report.notes, "warnings": report.warnings}))


def run_child(workspace: Path, engine: str) -> dict:
    return run_outofcore_child(workspace, engine, __file__)


COMPARED = ["photo_id", "status", "drop_reason", "drop_stage", "exact_dup_group", "quality_issues",
            *[f"{check}_score" for check in ("blurry", "dark", "bright", "low_information", "odd_aspect",
                                             "greyscale", "tiny")]]


def compare(a: Path, b: Path) -> dict:
    """Rows whose flags, quality issues or scores differ between two catalogs (same row order),
    read a row group at a time."""
    left, right = pq.ParquetFile(a), pq.ParquetFile(b)
    differ = dict.fromkeys(COMPARED, 0)
    for x_batch, y_batch in zip(left.iter_batches(65_536, columns=COMPARED),
                                right.iter_batches(65_536, columns=COMPARED), strict=True):
        for name in COMPARED:
            x, y = x_batch.column(name).to_pylist(), y_batch.column(name).to_pylist()
            if name.endswith("_score"):  # NaN is not written (null), but compare as equal if it were
                differ[name] += sum(not (p == q or (p != p and q != q)) for p, q in zip(x, y))
            else:
                differ[name] += sum(p != q for p, q in zip(x, y))
    return differ


def main() -> None:
    args = bench_arguments("/tmp/ooc-quality-bench", child)
    if args is None:
        return
    if not args.skip_sample:
        pandas, duck, differ = both_engines(args.folder, args.sample, generate, run_child, compare)
        same_report = all(pandas[key] == duck[key] for key in ("dropped", "quality", "notes", "warnings"))
        print(f"{args.sample:,} rows, filter (load {os.getloadavg()[0]:.1f} at the end)")
        for name, result in (("pandas", pandas), ("duckdb", duck)):
            print(f"  {name}: {result['seconds']:.1f} s; peak RSS {result['maxrss_kb'] / 1e6:.2f} GB")
        print(f"  match: {'yes' if not any(differ.values()) and same_report else 'NO'} "
              f"(rows differing per column: {differ}; report figures equal: {same_report})")
        print(f"  drops {duck['dropped']}")
        print("  quality: " + ", ".join(f"{row['check']} {row['flagged']:,} flagged / {row['dropped']:,} dropped"
                                        for row in duck["quality"]))
        print(f"  duckdb / pandas wall time: {duck['seconds'] / pandas['seconds']:.2f}x; peak RSS "
              f"{duck['maxrss_kb'] / pandas['maxrss_kb']:.2f}x")
    if not args.skip_big:
        duck = big_duckdb(args.folder, args.rows, generate, run_child)
        print(f"  duckdb filter: {duck['seconds']:.1f} s; peak RSS {duck['maxrss_kb'] / 1e6:.2f} GB; "
              f"drops {duck['dropped']} (load {os.getloadavg()[0]:.1f} at the end)")
        print(f"  peak RSS target <= 4 GB: {'met' if duck['maxrss_kb'] <= 4e6 else 'NOT met'}")


if __name__ == "__main__":
    main()
