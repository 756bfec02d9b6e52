"""Benchmark: the Ray engine's overhead on ingest's pixel pass against the local engine, same run.

    .venv/bin/python bench/engine_overhead.py [--photos 2000] [--repeats 2] [--shard-size 250]
                                              [--source demo|folder]

The pixel pass is ingest's per-image work: fetch the bytes (demo: render the photo; folder:
read the file), sha256, validation decode with pHash, thumbnail and quality statistics, and
the content-addressed store. `--source demo` renders `--photos` demo photos (160x120);
`--source folder` reads the same number of real photos from ../shared/realdata, taken in turn
from scenes15 (greyscale, ~250 px), imagenet-sample (~400 px), flickr-ferrari (~1024 px) and
opensfm-lund (fewer if fewer exist), one label folder per collection.

Each repeat ingests the collection into two fresh workspaces, local engine (a thread pool of
`--workers`) then Ray engine (a local Ray with this machine's CPUs, shards of
`--shard-size`), and the report takes each engine's median. Ray's startup (`ray.init`) is
measured once and reported apart; the first Ray repeat also pays for starting the worker
processes, which the median of several repeats absorbs and the "first run" line shows.

Target (issue Q): Ray wall time <= 1.3 x the local engine's on 2,000 images, results
identical (same catalog frame, same stored files, same thumbnail cache).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from curate import engines
from curate.demo.config import DemoConfig
from curate.ingest.demo import ingest_demo
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.vision import features
from curate.workspace import Workspace, read_catalog

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
REAL_COLLECTIONS = {"scenes15": "scenes15/*/*/*.jpg", "imagenet": "imagenet-sample/*.jpg",
                    "ferrari": "flickr-ferrari/*/*.jpg", "lund": "opensfm-lund/*.jpg"}


def real_folder(root: Path, photos: int) -> Path:
    """Up to `photos` real photos copied into root/photos/<collection>/, taken from each collection in turn."""
    pools = [sorted(REALDATA.glob(pattern)) for pattern in REAL_COLLECTIONS.values()]
    if not any(pools):
        raise SystemExit(f"no photos under {REALDATA} (../shared/realdata is needed for --source folder)")
    chosen: list[tuple[str, Path]] = []
    for index in range(max(map(len, pools))):
        for name, pool in zip(REAL_COLLECTIONS, pools):
            if index < len(pool) and len(chosen) < photos:
                chosen.append((name, pool[index]))
    for number, (name, path) in enumerate(chosen):
        out = root / "photos" / name
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out / f"{number:05d}.jpg")
    return root / "photos"


def ingest(source: str, ws: Workspace, args, folder: Path | None):
    if source == "demo":
        return ingest_demo(ws, DemoConfig(photos=args.photos), workers=args.workers)
    return ingest_folder(ws, FolderOptions(folder=folder, workers=args.workers))


def same_results(left: Workspace, right: Workspace) -> bool:
    try:
        pd.testing.assert_frame_equal(read_catalog(left), read_catalog(right))
    except AssertionError as difference:
        print(f"catalogs differ: {str(difference)[:300]}")
        return False
    files = [{p.relative_to(ws.root) for p in ws.images_dir.rglob("*") if p.is_file()} for ws in (left, right)]
    thumbs = [features.read_thumbnail_cache(ws.root) for ws in (left, right)]
    return files[0] == files[1] and thumbs[0] == thumbs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="threads: the local pool, and per Ray task")
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--source", choices=("demo", "folder"), default="demo")
    args = parser.parse_args()
    import ray

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"ray {ray.__version__}; load average before: {os.getloadavg()[0]:.2f}")
    root = Path(tempfile.mkdtemp(prefix="engine-overhead-"))
    folder = real_folder(root, args.photos) if args.source == "folder" else None
    started = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - started
    engine = engines.EngineConfig(engine="ray", shard_size=args.shard_size)
    times: dict[str, list[float]] = {"local": [], "ray": []}
    identical = True
    images = 0
    try:
        for repeat in range(args.repeats):
            workspaces = {}
            for name in ("local", "ray"):
                ws = Workspace(root / f"{name}-{repeat}")
                with engines.use(engine if name == "ray" else None):
                    started = time.perf_counter()
                    report = ingest(args.source, ws, args, folder)
                    times[name].append(time.perf_counter() - started)
                workspaces[name] = ws
                images = report.records
            identical = same_results(workspaces["local"], workspaces["ray"]) and identical
            print(f"repeat {repeat + 1}: local {times['local'][-1]:.2f} s, ray {times['ray'][-1]:.2f} s "
                  f"({report.summary()})")
            for ws in workspaces.values():
                shutil.rmtree(ws.root)
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    local, distributed = statistics.median(times["local"]), statistics.median(times["ray"])
    ratio = distributed / local
    print(f"{args.source}: {images:,} images, pixel pass, shards of {args.shard_size}, {args.workers} threads")
    print(f"ray startup (ray.init, once): {startup:.2f} s")
    print(f"local engine: {local:.2f} s ({images / local:.0f} images/s), median of {args.repeats}")
    print(f"ray engine:   {distributed:.2f} s ({images / distributed:.0f} images/s), median of {args.repeats}; "
          f"first run {times['ray'][0]:.2f} s")
    print(f"ratio ray / local: {ratio:.2f}x (target <= 1.3x); with startup: {(distributed + startup) / local:.2f}x")
    print(f"results identical: {'yes' if identical else 'NO'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    sys.exit(0 if identical else 1)


if __name__ == "__main__":
    main()
