"""Copies turned a quarter turn (EXIF orientation lost or applied twice), found by the quarter-turn pHash.

    python bench/neardup_turns.py [--originals 150] [--distractors 1000] [--imagededup]

Real photos from ../shared/realdata (ImageNet sample, Ferraris, 15-Scene train) as originals; each gets three
copies: turned clockwise, turned anticlockwise, and turned clockwise then downscaled to half and re-saved
(JPEG 80). More real photos, not copied, are distractors: any cluster joining two different originals, or an
original and a distractor, is a false link. Everything goes through `curate ingest folder` and the filter's
clustering (`curate.filters.clusters.image_clusters`, default settings, no embeddings), once with the
quarter-turn hash and once without it (the rule before 2026-12-05), in the same run; with `--imagededup`
(installed into a temporary folder for this run only) imagededup's PHash at its default 10 bits on the same
stored images is the peer baseline. The 2026-12-05 audit I measured 0.01 / 0.00 (clockwise / anticlockwise)
for curate and 0.00 / 0.00 for imagededup's PHash.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
KINDS = ("cw", "ccw", "cw_half")


def real_photos(count: int, skip: int, seed: int) -> list[Path]:
    """`count` real photos after the first `skip` of a seeded shuffle of the three folders."""
    paths = sorted([*(REALDATA / "imagenet-sample").glob("*.jpg"), *(REALDATA / "flickr-ferrari").glob("*/*.jpg"),
                    *(REALDATA / "scenes15" / "train").glob("*/*.jpg")])
    order = np.random.default_rng(seed).permutation(len(paths))
    return [paths[i] for i in order[skip:skip + count]]


def copy_of(image: Image.Image, kind: str) -> Image.Image:
    if kind == "cw":
        return image.transpose(Image.Transpose.ROTATE_270)
    if kind == "ccw":
        return image.transpose(Image.Transpose.ROTATE_90)
    turned = image.transpose(Image.Transpose.ROTATE_270)
    return turned.resize((max(1, turned.width // 2), max(1, turned.height // 2)), Image.BILINEAR)


def build(folder: Path, originals: list[Path], distractors: list[Path]) -> None:
    folder.mkdir(parents=True)
    for i, path in enumerate(originals):
        image = Image.open(path).convert("RGB")
        image.save(folder / f"o{i:04d}.jpg", quality=92)
        for kind in KINDS:
            copy_of(image, kind).save(folder / f"o{i:04d}_{kind}.jpg", quality=80 if kind == "cw_half" else 90)
    for i, path in enumerate(distractors):
        Image.open(path).convert("RGB").save(folder / f"d{i:04d}.jpg", quality=92)


def scores(names: pd.Series, labels: np.ndarray) -> dict[str, float]:
    """Recall per kind (the copy in its original's cluster) and false links (clusters joining two different
    originals or a distractor)."""
    frame = pd.DataFrame({"name": names.to_numpy(), "cluster": labels})
    frame["original"] = frame["name"].str.extract(r"^(o\d+|d\d+)")[0]
    frame["kind"] = frame["name"].str.extract(r"_(cw_half|cw|ccw)\.jpg$")[0].fillna("original")
    cluster_of = frame[frame["kind"] == "original"].set_index("original")["cluster"]
    out = {}
    for kind in KINDS:
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--originals", type=int, default=150)
    parser.add_argument("--distractors", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--imagededup", action="store_true", help="pip install imagededup into a temp folder")
    parser.add_argument("--all-real", action="store_true",
                        help="also: quarter-turn candidates among every real photo (no copies made)")
    args = parser.parse_args(argv)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    print(f"command: python bench/neardup_turns.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    if not REALDATA.is_dir():
        print(f"(no real photos at {REALDATA}: skipped)")
        return
    if args.imagededup:
        from scorecard import install_imagededup

        install_imagededup(Path(tempfile.mkdtemp(prefix="imagededup-")))
    from curate.filters.clusters import image_clusters
    from curate.filters.config import FilterConfig
    from curate.filters.run import ensure_thumbnails, grey_reader
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace, read_catalog

    photos = real_photos(args.originals + args.distractors, 0, args.seed)
    root = Path(tempfile.mkdtemp(prefix="neardup-turns-"))
    build(root / "photos", photos[:args.originals], photos[args.originals:])
    ws = Workspace(root / "ws")
    started = time.perf_counter()
    ingest_folder(ws, FolderOptions(folder=root / "photos", workers=2))
    print(f"{args.originals} originals x {len(KINDS)} copies ({', '.join(KINDS)}) + {args.distractors} distractors; "
          f"ingest {time.perf_counter() - started:.1f} s")
    catalog = read_catalog(ws)
    catalog = catalog[catalog["phash"].notna()].reset_index(drop=True)
    names = catalog["source_id"]
    thumbnails = ensure_thumbnails(ws, catalog)
    columns = ["sha256", "phash", "phash_mirror", "phash_trimmed", "phash_rot90"]
    rows, turned_notes = [], []
    for name, dropped in (("curate, with the quarter-turn hash", ()),
                          ("curate, without it (before)", ("phash_rot90",))):
        notes: list[str] = []
        started = time.perf_counter()
        labels = image_clusters(catalog[[c for c in columns if c not in dropped]], FilterConfig(), thumbnails, None,
                                notes, grey_reader(ws, catalog))
        rows.append((name, scores(names, labels), time.perf_counter() - started))
        turn = [note for note in notes if note.startswith("quarter turns")]
        if turn:
            print(f"  {turn[0]}")
            turned_notes = turn
    if args.imagededup:
        started = time.perf_counter()
        rows.append(("imagededup PHash (10 bits)", scores(names, imagededup_labels(ws, catalog, names)),
                     time.perf_counter() - started))
    print(f"{'method':38s} " + " ".join(f"{kind:>8s}" for kind in KINDS) + "  false links  seconds")
    for name, row, seconds in rows:
        print(f"{name:38s} " + " ".join(f"{row[kind]:8.2f}" for kind in KINDS)
              + f"  {row['false_links']:11d}  {seconds:7.1f}")
    pairs = sum(int(note.split(" of ")[1].split()[0].replace(",", "")) for note in turned_notes) or 1
    print(f"the quarter-turn links' pixel match: {(rows[0][2] - rows[1][2]) / pairs * 1000:.0f} ms a candidate pair")
    decode_share(photos[:50])
    if args.all_real:
        all_real_candidates()


def all_real_candidates() -> None:
    """Pairs of different real photos (every photo of ../shared/realdata, none copied on purpose) that the
    quarter-turn view makes candidates: each one costs a pixel match, and a link would be a false one unless the
    pair is one photo stored twice (then it is a candidate by its plain pHash first)."""
    from curate.filters import neardup
    from curate.filters.phash import phash_views
    from curate.filters.quality import shrink_for_statistics

    paths = sorted([*(REALDATA / "imagenet-sample").glob("*.jpg"), *(REALDATA / "flickr-ferrari").glob("*/*.jpg"),
                    *REALDATA.glob("scenes15/*/*/*.jpg"), *REALDATA.glob("opensfm-lund/**/*.jpg")])
    views = [phash_views(shrink_for_statistics(Image.open(path).convert("RGB")).convert("L")) for path in paths]
    hashes = neardup.phash_to_uint64([v[0] for v in views])
    turned = neardup.phash_to_uint64([v[2] for v in views])
    first, second, _, by_turn = neardup.mirror_pairs(hashes, turned, 8)
    plain, _, _, _ = neardup.mirror_pairs(hashes, hashes, 8)
    print(f"all {len(paths):,} real photos: {int(by_turn.sum())} pairs are candidates only through the quarter-turn "
          f"hash ({len(plain)} through the plain one); each is matched on its pixels")


def decode_share(paths: list[Path]) -> None:
    """What the extra hash adds to the single decode pass: `quarter_turn_phash` against `image_features`, on the
    same decoded images (ingest's work size)."""
    from curate.filters.phash import quarter_turn_phash
    from curate.filters.quality import shrink_for_statistics
    from curate.vision.features import image_features

    images = [Image.open(path).convert("RGB") for path in paths]
    started = time.perf_counter()
    for image in images:
        image_features(image)
    whole = time.perf_counter() - started
    greys = [shrink_for_statistics(image).convert("L") for image in images]
    started = time.perf_counter()
    for grey in greys:
        quarter_turn_phash(grey)
    extra = time.perf_counter() - started
    print(f"decode pass features of {len(images)} photos: {whole / len(images) * 1000:.1f} ms each, of which the "
          f"quarter-turn hash {extra / len(images) * 1000:.2f} ms ({extra / whole:.1%}; the decode itself not counted)")


if __name__ == "__main__":
    main()
