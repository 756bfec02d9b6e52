"""Benchmark: a workspace whose images are on S3 against one that keeps them locally, same run.

    .venv/bin/python bench/object_store.py [--photos 400] [--repeats 2] [--workers 4]

The S3 is moto's server on 127.0.0.1, in its own process (s3fs as the client, as in the tests):
what is measured is the client side of an object store (botocore signing, one HTTP request per
HEAD, LIST, GET and PUT, s3fs's event loop) plus moto's own CPU time on the same cores, not a cloud
bucket's network latency, which adds its round trips on top.
The photos are real ones from ../shared/realdata (ImageNet sample, Flickr Ferrari, 15-Scene), one
label folder per collection.

Each repeat, for the local store then the S3 store, in fresh workspaces:
  ingest    `curate ingest folder` (read, sha256, the single decode pass, store the image);
  re-read   the filter's image reads again: the decode-pass features, pHashes and thumbnail
            cache are emptied, then `curate filter` reads every stored image back;
  resize    classify's training-data read: every image decoded once into cache/resized-256;
  export    `curate split`, then `curate export` as an ImageFolder tree (copies: from S3 a link
            cannot be made, so the local store copies too) and as WebDataset shards, each timed
            apart (export-folder, export-shards) into a fresh folder;
  re-export the WebDataset export again into its folder: nothing changed, so nothing is written
            (the image sizes come from the workspace's size cache: no request to the store);
  to-bucket the WebDataset export with `--out s3://bench/...`: staged in the workspace, then
            uploaded (one PUT a file); compared byte for byte with the folder export.
The report gives each step's median and the ratio S3 / local, and checks the catalogs and the
exported files are equal.
Needs the dev extra (s3fs, moto[server]).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from curate import objectstore
from curate.export import ExportConfig, export_workspace
from curate.filters.run import run_filter
from curate.filters.stage import FilterConfig
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.split import SplitConfig, run_split
from curate.vision import features
from curate.workspace import Workspace, read_catalog, write_catalog

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
COLLECTIONS = {"imagenet": "imagenet-sample/*.jpg", "ferrari": "flickr-ferrari/*/*.jpg", "scenes": "scenes15/*/*/*.jpg"}
STEPS = ("ingest", "re-read", "resize", "export-folder", "export-shards", "re-export", "to-bucket")
EXPORTS = {"export-folder": "imagefolder", "export-shards": "webdataset"}


def photo_folder(root: Path, photos: int) -> Path:
    """Up to `photos` real photos copied into root/<collection>/, taken from each collection in turn."""
    pools = [sorted(REALDATA.glob(pattern)) for pattern in COLLECTIONS.values()]
    if not any(pools):
        raise SystemExit(f"no photos under {REALDATA}")
    count = 0
    for index in range(max(map(len, pools))):
        for name, pool in zip(COLLECTIONS, pools):
            if index < len(pool) and count < photos:
                (root / name).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(pool[index], root / name / f"{count:05d}.jpg")
                count += 1
    return root


def run_steps(ws: Workspace, folder: Path, store: str | None, workers: int, bucket: str) -> dict[str, float]:
    from classify.data import ensure_resized

    times = {}
    objectstore.record_store(ws, store)
    started = time.perf_counter()
    ingest_folder(ws, FolderOptions(folder=folder, workers=workers))
    times["ingest"] = time.perf_counter() - started
    catalog = read_catalog(ws)
    for name in (*features.feature_columns(), "phash", "phash_mirror"):
        catalog[name] = None
    write_catalog(ws, catalog)
    (ws.root / "cache" / "thumbnails.parquet").unlink(missing_ok=True)
    started = time.perf_counter()
    run_filter(ws, FilterConfig(), workers=workers, engine="pandas")
    times["re-read"] = time.perf_counter() - started
    rows = read_catalog(ws)
    rows = rows[rows["image_path"].notna()]
    started = time.perf_counter()
    resized = ensure_resized(ws, rows, side=256, workers=workers)
    times["resize"] = time.perf_counter() - started
    assert resized.notna().all(), "an image could not be read back"
    run_split(ws, SplitConfig())
    for step, fmt in EXPORTS.items():
        started = time.perf_counter()
        result = export_workspace(ws, ws.root / "exports" / fmt, ExportConfig(fmt))
        times[step] = time.perf_counter() - started
        assert result.plan.photos and not len(result.plan.missing), "an export left photos out"
    started = time.perf_counter()
    export_workspace(ws, ws.root / "exports" / "webdataset", ExportConfig("webdataset"))
    times["re-export"] = time.perf_counter() - started
    started = time.perf_counter()
    export_workspace(ws, bucket, ExportConfig("webdataset"))
    times["to-bucket"] = time.perf_counter() - started
    return times


def uploaded_like_folder(ws: Workspace, bucket: str) -> bool:
    """Whether every file of the WebDataset folder export (but its local state file, which the
    upload keeps in the staging folder) is in the bucket with the same bytes."""
    import fsspec

    from curate.export.state import STATE_FILE

    fs, root = fsspec.core.url_to_fs(bucket)
    folder = ws.root / "exports" / "webdataset"
    return all(fs.cat_file(f"{root}/{path.relative_to(folder).as_posix()}") == path.read_bytes()
               for path in sorted(folder.rglob("*")) if path.is_file() and path.name != STATE_FILE)


def exported(ws: Workspace) -> dict[str, str]:
    """sha256 of every exported file (path under the exports folder -> digest)."""
    root = ws.root / "exports"
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto's S3 server in a child process on a free loopback port: (the process, its endpoint URL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto's server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    try:
        import moto.server  # noqa: F401 - the server runs in a child process
        import s3fs
    except ImportError:
        raise SystemExit("needs s3fs and moto[server]: pip install -e '.[dev]'") from None

    server, endpoint = start_moto()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=endpoint, NO_PROXY="127.0.0.1,localhost")
    s3fs.S3FileSystem().mkdir("bench")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    scratch = Path(tempfile.mkdtemp(prefix="bench-object-store-"))
    try:
        folder = photo_folder(scratch / "photos", args.photos)
        photos = sum(1 for _ in folder.rglob("*.jpg"))
        megabytes = sum(path.stat().st_size for path in folder.rglob("*.jpg")) / 1e6
        times: dict[str, dict[str, list[float]]] = {kind: {step: [] for step in STEPS} for kind in ("local", "s3")}
        identical = same_exports = True
        for repeat in range(args.repeats):
            local, remote = Workspace(scratch / f"local-{repeat}"), Workspace(scratch / f"s3-{repeat}")
            for kind, ws, store in (("local", local, None), ("s3", remote, f"s3://bench/run-{repeat}")):
                bucket = f"s3://bench/out-{kind}-{repeat}"
                for step, seconds in run_steps(ws, folder, store, args.workers, bucket).items():
                    times[kind][step].append(seconds)
                if not uploaded_like_folder(ws, bucket):
                    same_exports = False
                    print(f"the {kind} store's export to the bucket differs from its folder export")
            try:
                pd.testing.assert_frame_equal(read_catalog(local), read_catalog(remote))
            except AssertionError as difference:
                identical = False
                print(f"catalogs differ: {str(difference)[:300]}")
            local_files, remote_files = exported(local), exported(remote)
            if local_files != remote_files:
                same_exports = False
                print(f"exports differ: {sorted(set(local_files.items()) ^ set(remote_files.items()))[:3]}")
            print(f"repeat {repeat + 1}: " + ", ".join(
                f"{step} local {times['local'][step][-1]:.2f} s / s3 {times['s3'][step][-1]:.2f} s" for step in STEPS))
        print(f"{photos:,} photos ({megabytes:.1f} MB), {args.workers} threads, median of {args.repeats}")
        for step in STEPS:
            local_s, s3_s = (statistics.median(times[kind][step]) for kind in ("local", "s3"))
            print(f"{step:13s} local {local_s:6.2f} s ({photos / local_s:5.0f} images/s)   "
                  f"s3 {s3_s:6.2f} s ({photos / s3_s:5.0f} images/s)   ratio s3 / local {s3_s / local_s:.2f}x")
        print(f"catalogs identical: {'yes' if identical else 'NO'}")
        print(f"exported files identical (imagefolder and webdataset, export.json included; the bucket export "
              f"equal to the folder one): "
              f"{'yes' if same_exports else 'NO'}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        server.terminate()
        server.wait(10)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
