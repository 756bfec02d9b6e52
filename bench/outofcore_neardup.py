"""`curate filter --dedupe-near` out of core (issue Q): near duplicates on the DuckDB engine
(curate.outofcore.neardup) against the pandas engine on the same catalog in the same run —
whether the catalogs and reports are equal, both wall times and peak RSS (each engine in a child
process), and the ratios; then the DuckDB engine alone on a bigger catalog.

Run:  .venv/bin/python bench/outofcore_neardup.py [--sample 1000000] [--rows 3000000]
      [--folder /tmp/ooc-neardup-bench]  (--skip-big / --skip-sample run one half).
      Results: docs/benchmarks.md and docs/scale-catalog.md.

The catalog is bench/outofcore_quality.py's (bench/outofcore.py's metadata, a sha256 per photo
with 1% exact copies, size and quality statistics) with what the decode pass writes for near
duplicates: a pHash and a mirror pHash per image, and its 16x12 thumbnail in
`cache/thumbnails.parquet`. 5% of the images are edits of an earlier image of their chunk (0-8
pHash bits flipped, the thumbnail with +-3 of noise); the rest are random (random 64-bit pHashes,
random thumbnails: the worst case for the pair search is clustered real hashes, which this is
not). The filter: bench/outofcore_quality.py's settings plus `--dedupe-near`.
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

from outofcore import bench_arguments, fresh_workspace  # noqa: E402  (bench/outofcore.py)
from outofcore import run_child as run_outofcore_child  # noqa: E402
from outofcore_quality import DROP_QUALITY, quality_chunk  # noqa: E402

from curate import schema  # noqa: E402
from curate.filters import neardup, verify  # noqa: E402

EDITED_SHARE = 0.05


def neardup_chunk(start: int, rows: int, total: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """(the catalog chunk with pHashes, the thumbnails of its distinct images)."""
    table = quality_chunk(start, rows, total, seed)
    rng = np.random.default_rng([seed, start, 3])
    shas = np.asarray(table.column("sha256").to_pylist(), dtype=object)
    images, first = np.unique(shas, return_index=True)
    images = images[np.argsort(first)]
    n = len(images)
    hashes = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, dtype=np.uint64)
    mirrors = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2)
    thumbs = rng.integers(0, 256, (n, verify.THUMB_BYTES), dtype=np.uint8)
    edited = np.flatnonzero(rng.random(n) < EDITED_SHARE)
    edited = edited[edited > 0]
    origin = (rng.random(len(edited)) * edited).astype(np.int64)  # an earlier image
    flips = np.zeros(len(edited), np.uint64)
    for _ in range(8):  # each of up to 8 random bits flipped with probability 1/2
        flips |= np.where(rng.random(len(edited)) < 0.5, np.uint64(1) << rng.integers(0, 64, len(edited)).astype(
            np.uint64), np.uint64(0))
    hashes[edited] = hashes[origin] ^ flips
    noise = rng.integers(-3, 4, (len(edited), verify.THUMB_BYTES))
    thumbs[edited] = np.clip(thumbs[origin].astype(np.int16) + noise, 0, 255).astype(np.uint8)
    index = {sha: i for i, sha in enumerate(images)}
    position = np.fromiter((index[sha] for sha in shas), np.int64, len(shas))
    phash = np.asarray(neardup.uint64_to_phash(hashes), dtype=object)[position]
    mirror = np.asarray(neardup.uint64_to_phash(mirrors), dtype=object)[position]
    table = table.set_column(table.schema.get_field_index("phash"), "phash", pa.array(phash, pa.string()))
    table = table.set_column(table.schema.get_field_index("phash_mirror"), "phash_mirror",
                             pa.array(mirror, pa.string()))
    thumbnails = pa.table({"sha256": pa.array(images, pa.string()),
                           "thumbnail": pa.array([row.tobytes() for row in thumbs], pa.binary())})
    return table, thumbnails


def generate(path: Path, rows: int, seed: int = 0, chunk_rows: int = 250_000) -> None:
    """Write the catalog to `path` and its thumbnails beside it (`<path>.thumbnails.parquet`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, thumbs_tmp = path.with_suffix(".tmp"), path.with_suffix(".thumbs.tmp")
    thumbs_schema = pa.schema([("sha256", pa.string()), ("thumbnail", pa.binary())])
    with pq.ParquetWriter(tmp, schema.arrow_schema(), compression="zstd") as writer, \
            pq.ParquetWriter(thumbs_tmp, thumbs_schema) as thumbs_writer:
        for start in range(0, rows, chunk_rows):
            table, thumbnails = neardup_chunk(start, min(chunk_rows, rows - start), rows, seed)
            writer.write_table(table, row_group_size=65_536)
            thumbs_writer.write_table(thumbnails, row_group_size=65_536)
    os.replace(thumbs_tmp, thumbnails_of(path))
    os.replace(tmp, path)


def thumbnails_of(catalog: Path) -> Path:
    return catalog.with_name(catalog.stem + ".thumbnails.parquet")


class AnonymousPeak:
    """The largest RssAnon (/proc/self/status) seen, sampled every 0.1 s: the process's own memory,
    without the file pages (a memory map's) that ru_maxrss also counts and the kernel can drop."""

    def __init__(self):
        import threading

        self.peak_kb, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def child(workspace: str, engine: str) -> None:
    """Run the filter on `workspace` with `engine`; print JSON (time, peak RSS, the report's figures)."""
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.workspace import Workspace

    ws = Workspace(Path(workspace))
    start = time.perf_counter()
    with AnonymousPeak() as anonymous:
        report = run_filter(ws, FilterConfig(licences=("cc-by", "cc-by-sa", "cc0"), max_per_owner=200,
                                             drop_quality=DROP_QUALITY, dedupe_near=True), engine=engine)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "anon_kb": anonymous.peak_kb,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "dropped": report.dropped_by_reason, "clusters": report.near_duplicate_clusters,
                      "notes": report.notes, "warnings": report.warnings}))


def run_child(workspace: Path, engine: str) -> dict:
    return run_outofcore_child(workspace, engine, __file__)


def workspace_for(folder: Path, name: str, catalog: Path) -> Path:
    ws = fresh_workspace(folder, name, catalog)
    (ws / "cache").mkdir()
    os.link(thumbnails_of(catalog), ws / "cache" / "thumbnails.parquet")  # read only: one copy on disk
    return ws


COMPARED = ["photo_id", "status", "drop_reason", "drop_stage", "exact_dup_group", "near_dup_cluster"]


def compare(a: Path, b: Path) -> dict:
    """Rows whose flags differ between two catalogs (same row order), a row group at a time."""
    differ = dict.fromkeys(COMPARED, 0)
    for x, y in zip(pq.ParquetFile(a).iter_batches(65_536, columns=COMPARED),
                    pq.ParquetFile(b).iter_batches(65_536, columns=COMPARED), strict=True):
        for name in COMPARED:
            differ[name] += sum(p != q for p, q in zip(x.column(name).to_pylist(), y.column(name).to_pylist()))
    return differ


def catalog_for(folder: Path, rows: int) -> Path:
    catalog = folder / f"catalog-{rows}.parquet"
    if not catalog.exists() or not thumbnails_of(catalog).exists():
        start = time.perf_counter()
        generate(catalog, rows)
        print(f"{rows:,} rows generated in {time.perf_counter() - start:.0f} s "
              f"(catalog {catalog.stat().st_size / 1e6:.0f} MB, thumbnails "
              f"{thumbnails_of(catalog).stat().st_size / 1e6:.0f} MB)", flush=True)
    return catalog


def main() -> None:
    args = bench_arguments("/tmp/ooc-neardup-bench", child)
    if args is None:
        return
    if not args.skip_sample:
        catalog = catalog_for(args.folder, args.sample)
        pandas = run_child(workspace_for(args.folder, "sample-pandas", catalog), "pandas")
        duck = run_child(workspace_for(args.folder, "sample-duckdb", catalog), "duckdb")
        differ = compare(args.folder / "sample-pandas" / "catalog.parquet",
                         args.folder / "sample-duckdb" / "catalog.parquet")
        same_report = all(pandas[key] == duck[key] for key in ("dropped", "clusters", "notes", "warnings"))
        print(f"{args.sample:,} rows, filter --dedupe-near (load {os.getloadavg()[0]:.1f} at the end)")
        for name, result in (("pandas", pandas), ("duckdb", duck)):
            print(f"  {name}: {result['seconds']:.1f} s; peak RSS {result['maxrss_kb'] / 1e6:.2f} GB "
                  f"(anonymous {result['anon_kb'] / 1e6:.2f} GB); "
                  f"{result['clusters']:,} near-duplicate clusters; "
                  f"{result['dropped'].get('near_duplicate', 0):,} dropped as near_duplicate")
        print(f"  match: {'yes' if not any(differ.values()) and same_report else 'NO'} "
              f"(rows differing per column: {differ}; report figures equal: {same_report})")
        print(f"  duckdb / pandas wall time: {duck['seconds'] / pandas['seconds']:.2f}x; peak RSS "
              f"{duck['maxrss_kb'] / pandas['maxrss_kb']:.2f}x (anonymous {duck['anon_kb'] / pandas['anon_kb']:.2f}x)")
        print("  notes: " + " | ".join(duck["notes"]))
    if not args.skip_big:
        catalog = catalog_for(args.folder, args.rows)
        duck = run_child(workspace_for(args.folder, "big-duckdb", catalog), "duckdb")
        print(f"{args.rows:,} rows, duckdb filter --dedupe-near: {duck['seconds']:.1f} s; peak RSS "
              f"{duck['maxrss_kb'] / 1e6:.2f} GB (anonymous {duck['anon_kb'] / 1e6:.2f} GB); "
              f"{duck['clusters']:,} clusters; drops {duck['dropped']} "
              f"(load {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
