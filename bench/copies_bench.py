"""What the near-duplicate copy benches share (bench/neardup_turns.py, neardup_patches.py, neardup_padded.py):
real originals with edited copies among real distractors, ingested once, clustered by the filter's rule under
several settings, scored per kind of copy, with imagededup's PHash in the same run."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def real_photos(count: int, skip: int, seed: int) -> list[Path]:
    """`count` real photos after the first `skip` of a seeded shuffle of the three folders."""
    paths = sorted([*(REALDATA / "imagenet-sample").glob("*.jpg"), *(REALDATA / "flickr-ferrari").glob("*/*.jpg"),
                    *(REALDATA / "scenes15" / "train").glob("*/*.jpg")])
    order = np.random.default_rng(seed).permutation(len(paths))
    return [paths[i] for i in order[skip:skip + count]]


def parser(doc: str, seed: int, all_real: str) -> argparse.ArgumentParser:
    """The benches' common flags: --originals, --distractors, --seed, --imagededup, --all-real."""
    made = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    made.add_argument("--originals", type=int, default=150)
    made.add_argument("--distractors", type=int, default=1000)
    made.add_argument("--seed", type=int, default=seed)
    made.add_argument("--imagededup", action="store_true", help="pip install imagededup into a temp folder")
    made.add_argument("--all-real", action="store_true", help=all_real)
    return made


def build(folder: Path, originals: list[Path], distractors: list[Path], kinds: tuple[str, ...],
          copy: Callable[[Image.Image, str], Image.Image], quality: Callable[[str], int] = lambda kind: 90) -> None:
    """The bench's folder: each original as `o<i>.jpg` (JPEG 92) with `copy(image, kind)` of it as
    `o<i>_<kind>.jpg` (JPEG `quality(kind)`), each distractor as `d<i>.jpg`."""
    folder.mkdir(parents=True)
    for i, path in enumerate(originals):
        image = Image.open(path).convert("RGB")
        image.save(folder / f"o{i:04d}.jpg", quality=92)
        for kind in kinds:
            copy(image, kind).save(folder / f"o{i:04d}_{kind}.jpg", quality=quality(kind))
    for i, path in enumerate(distractors):
        Image.open(path).convert("RGB").save(folder / f"d{i:04d}.jpg", quality=92)


def started(script: str, argv: list[str] | None, imagededup: bool) -> bool:
    """Print the machine and the command; install imagededup when asked; False when there are no real photos."""
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    print(f"command: python bench/{script} {' '.join(sys.argv[1:] if argv is None else argv)}")
    if not REALDATA.is_dir():
        print(f"(no real photos at {REALDATA}: skipped)")
        return False
    if imagededup:
        from scorecard import install_imagededup

        install_imagededup(Path(tempfile.mkdtemp(prefix="imagededup-")))
    return True


def ingested(build: Callable[[Path], None], prefix: str):
    """(workspace, catalog of the hashed rows, their source ids, thumbnails, grey reader) of the folder `build`
    writes, ingested by `curate ingest folder`."""
    from curate.filters.run import ensure_thumbnails, grey_reader
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace, read_catalog

    root = Path(tempfile.mkdtemp(prefix=prefix))
    build(root / "photos")
    ws = Workspace(root / "ws")
    begun = time.perf_counter()
    ingest_folder(ws, FolderOptions(folder=root / "photos", workers=2))
    print(f"ingest {time.perf_counter() - begun:.1f} s")
    catalog = read_catalog(ws)
    catalog = catalog[catalog["phash"].notna()].reset_index(drop=True)
    return ws, catalog, catalog["source_id"], ensure_thumbnails(ws, catalog), grey_reader(ws, catalog)


def scores(names: pd.Series, labels: np.ndarray, kinds: tuple[str, ...]) -> dict[str, float]:
    """Recall per kind (the copy `<original>_<kind>.jpg` in its original's cluster) and false links (clusters
    joining two different originals or a distractor)."""
    frame = pd.DataFrame({"name": names.to_numpy(), "cluster": labels})
    frame["original"] = frame["name"].str.extract(r"^(o\d+|d\d+)")[0]
    pattern = "|".join(sorted(kinds, key=len, reverse=True))
    frame["kind"] = frame["name"].str.extract(fr"_({pattern})\.jpg$")[0].fillna("original")
    cluster_of = frame[frame["kind"] == "original"].set_index("original")["cluster"]
    out = {}
    for kind in kinds:
        rows = frame[frame["kind"] == kind]
        out[kind] = float((rows["cluster"].to_numpy() == cluster_of[rows["original"]].to_numpy()).mean())
    out["false_links"] = int((frame.groupby("cluster")["original"].nunique() > 1).sum())
    return out


def imagededup_labels(ws, catalog: pd.DataFrame, names: pd.Series) -> np.ndarray:
    """Components of imagededup PHash pairs (10 bits) over the stored images, one per catalog row."""
    from imagededup.methods import PHash

    from curate.groups import components_from_pairs
    from curate.objectstore import locator

    hasher = PHash(verbose=False)
    where = locator(ws)
    encodings = {str(k): hasher.encode_image(image_file=str(where(path)))
                 for k, path in enumerate(catalog["image_path"])}
    found = hasher.find_duplicates(encoding_map=encodings, max_distance_threshold=10)
    pairs = np.array(sorted({(int(a), int(b)) for a, dups in found.items() for b in dups}), np.int64).reshape(-1, 2)
    return components_from_pairs(len(names), pairs[:, 0], pairs[:, 1])


def with_imagededup(rows: list, ws, catalog: pd.DataFrame, names: pd.Series, kinds: tuple[str, ...]) -> None:
    """Append imagededup's row (name, scores, seconds) to `rows`."""
    begun = time.perf_counter()
    rows.append(("imagededup PHash (10 bits)", scores(names, imagededup_labels(ws, catalog, names), kinds),
                 time.perf_counter() - begun))


def print_table(rows: list, kinds: tuple[str, ...], width: int = 38) -> None:
    """Rows of (method, scores, seconds) as a table: recall per kind, false links, seconds."""
    cell = max(8, *(len(kind) + 1 for kind in kinds))
    print(f"{'method':{width}s} " + " ".join(f"{kind:>{cell}s}" for kind in kinds) + "  false links  seconds")
    for name, row, seconds in rows:
        print(f"{name:{width}s} " + " ".join(f"{row[kind]:{cell}.2f}" for kind in kinds)
              + f"  {row['false_links']:11d}  {seconds:7.1f}")
