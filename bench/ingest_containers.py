"""`curate ingest folder` on the same real photos as plain files, as WebDataset tar shards and as Parquet.

The photos (real, seeded): PHOTOS photos from 15-Scene's train half. Written three ways in the same run, each
photo with an img2dataset-style JSON (`url`, `caption`, `tags`, `owner`): (1) files, a `<key>.json` beside each
`<key>.jpg` in shard folders (img2dataset's `files` output), (2) uncompressed tar shards of SHARD photos
(its `webdataset` output), (3) Parquet files of SHARD rows with a `jpg` column (its `parquet` output, row
groups of 100). Each layout is ingested into a fresh workspace by the local engine (WORKERS threads); the
wall time of the ingest (scan, sidecars, EXIF, the pixel pass, the catalog write) is the median of REPEATS,
and the ratio is against the files. The three catalogs must hold the same images (sha256 sets) and the same
metadata per image.

    .venv/bin/python bench/ingest_containers.py [--photos 2000] [--shard 500] [--repeats 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def write_layouts(root: Path, photos: int, shard: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    (root / "tars").mkdir(parents=True)
    (root / "parquet").mkdir()
    files = sorted((REALDATA / "scenes15" / "train").glob("*/*.jpg"))
    chosen = [files[i] for i in sorted(rng.permutation(len(files))[:photos])]
    for start in range(0, len(chosen), shard):
        number = start // shard
        rows = []
        folder = root / "files" / f"{number:05d}"
        folder.mkdir(parents=True)
        with tarfile.open(root / "tars" / f"{number:05d}.tar", "w") as archive:
            for offset, path in enumerate(chosen[start:start + shard]):
                key = f"{number:05d}{offset:04d}"
                data = path.read_bytes()
                meta = {"url": f"https://img.example.com/{path.parent.name}/{path.name}", "key": key,
                        "caption": f"a {path.parent.name.lower()} scene", "tags": path.parent.name.lower(),
                        "owner": f"user{int(rng.integers(40))}"}
                (folder / f"{key}.jpg").write_bytes(data)
                (folder / f"{key}.json").write_text(json.dumps(meta))
                for name, payload in ((f"{key}.jpg", data), (f"{key}.json", json.dumps(meta).encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    archive.addfile(info, io.BytesIO(payload))
                rows.append({**meta, "jpg": data})
        pq.write_table(pa.Table.from_pylist(rows), root / "parquet" / f"{number:05d}.parquet", row_group_size=100)


def ingest_seconds(folder: Path, target: Path, workers: int) -> float:
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace

    shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    ingest_folder(Workspace(target), FolderOptions(folder=folder, workers=workers))
    return time.perf_counter() - start


def catalog_facts(target: Path) -> dict:
    from curate.workspace import Workspace, read_catalog

    catalog = read_catalog(Workspace(target))
    kept = catalog[catalog["status"] == "kept"]
    return {sha: (url, title, tuple(tags), owner) for sha, url, title, tags, owner in
            zip(kept["sha256"], kept["url"], kept["title"], kept["tags"], kept["owner_id"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--shard", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (REALDATA / "scenes15").is_dir():
        sys.exit("needs ../shared/realdata/scenes15")
    root = Path(tempfile.mkdtemp(prefix="ingest-containers-"))
    try:
        write_layouts(root, args.photos, args.shard, args.seed)
        print(f"machine: {platform.machine()}, Python {platform.python_version()}, {args.photos} real photos, "
              f"shards of {args.shard}, {args.workers} worker threads, median of {args.repeats}")
        results, facts = {}, {}
        for _ in range(args.repeats):  # interleaved, so that a busy minute hits every layout
            for layout in ("files", "tars", "parquet"):
                seconds = ingest_seconds(root / layout, root / f"ws-{layout}", args.workers)
                results.setdefault(layout, []).append(seconds)
                facts[layout] = catalog_facts(root / f"ws-{layout}")
        base = statistics.median(results["files"])
        print("| layout | wall s (median) | photos/s | ratio to files | same images and metadata |")
        print("|---|---|---|---|---|")
        for layout, runs in results.items():
            wall = statistics.median(runs)
            same = "yes" if facts[layout] == facts["files"] else "NO"
            print(f"| {layout} | {wall:.2f} ({', '.join(f'{r:.2f}' for r in runs)}) | {args.photos / wall:.0f} | "
                  f"{wall / base:.2f}× | {same} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
