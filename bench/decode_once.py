"""Benchmark: CPU cost of ingest + filter (every pixel feature from one decode) against
imagededup's PHash on the same real-photo folder, in the same run.

    .venv/bin/python bench/decode_once.py [--photos 100] [--workers 2]

The folder: `--photos` Flickr photos of ../shared/realdata/flickr-ferrari (about
1024 px) plus three edited copies of each (brightness +25%, 8% crop, horizontal flip),
written as JPEG quality 90, so about 4 x photos images. Measured as CPU seconds (user +
system, this process and its finished children) per image:

* curate: `ingest_folder` (read, sha256, validation decode that also yields pHash +
  mirror, thumbnail and quality statistics, store) + `run_filter` with default settings;
* curate, old images: the filter alone on the same catalog with its features erased (the
  one-pass fallback for images ingested before features existed);
* imagededup PHash `find_duplicates` (encode + search), installed into a temporary folder
  with pip --no-deps (never a dependency of this package).

Target (issue J): curate's ingest + filter per image <= imagededup's per image.

Then `curate embed`'s decode on the same stored JPEGs, CPU ms per image, in the same run:

* reduced scale (what embed does): `curate.vision.images.load_uint8`, a JPEG decoded with
  libjpeg DCT scaling to at least the resize side, then resized and centre-cropped;
* full decode: every pixel decoded, then the same resize and crop (the baseline);
* a resized cache, the alternative: ingest's 256 px work image stored as JPEG (quality 95,
  4:4:4) and read back (its encode cost is what ingest would add).

With --cosine, also each path's EfficientNet-Lite0 embedding against the full decode's
(equivalence bar: cosine >= 0.99 on every photo).
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
from PIL import Image, ImageEnhance, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scorecard import cpu_seconds, install_imagededup  # noqa: E402  (bench/ is not a package)

from curate.filters.quality import STATISTICS  # noqa: E402

REAL_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "flickr-ferrari"


def make_folder(folder: Path, photos: int) -> int:
    """Originals and three edits of each into `folder`/ferrari/; returns the image count."""
    out = folder / "ferrari"
    out.mkdir(parents=True)
    paths = sorted(REAL_PHOTOS.glob("*/*.jpg"))[:photos]
    if not paths:
        raise SystemExit(f"no photos at {REAL_PHOTOS} (../shared/realdata is needed)")
    for index, path in enumerate(paths):
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        width, height = image.size
        copies = {"orig": image, "bright": ImageEnhance.Brightness(image).enhance(1.25),
                  "crop": image.crop((int(width * .04), int(height * .04), int(width * .96), int(height * .96))),
                  "flip": image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)}
        for kind, copy in copies.items():
            copy.save(out / f"{index:04d}_{kind}.jpg", quality=90)
    return 4 * len(paths)


def curate_cpu(folder: Path, root: Path, workers: int) -> tuple[float, float, float]:
    """CPU seconds of ingest, of the filter after it, and of the filter computing features itself."""
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.vision import features
    from curate.workspace import Workspace, read_catalog, write_catalog

    ws = Workspace(root)
    start = cpu_seconds()
    ingest_folder(ws, FolderOptions(folder=folder, workers=workers))
    ingested = cpu_seconds()
    run_filter(ws, FilterConfig(), workers=workers)
    filtered = cpu_seconds()
    catalog = read_catalog(ws)
    for name in features.feature_columns():
        catalog[name] = None
    write_catalog(ws, catalog)
    (ws.root / features.THUMBNAIL_CACHE).unlink()
    again = cpu_seconds()
    run_filter(ws, FilterConfig(), workers=workers)
    return ingested - start, filtered - ingested, cpu_seconds() - again


def imagededup_cpu(folder: Path, site: Path) -> float:
    install_imagededup(site)
    from imagededup.methods import PHash

    start = cpu_seconds()
    PHash(verbose=False).find_duplicates(image_dir=str(folder), max_distance_threshold=10)
    return cpu_seconds() - start


def _cpu_ms(function, items) -> tuple[float, list]:
    start = cpu_seconds()
    out = [function(item) for item in items]
    return 1000 * (cpu_seconds() - start) / max(1, len(items)), out


def _jpeg_cache(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, subsampling=0)
    return buffer.getvalue()


def embed_decode(paths: list[Path], cosine: bool) -> None:
    """Print embed's decode cost per image: reduced scale vs full decode vs a resized JPEG cache."""
    import io

    from curate.filters.quality import shrink_for_statistics
    from curate.store import open_rgb
    from curate.vision.backbones import load_backbone
    from curate.vision.images import load_uint8, prepare

    backbone = load_backbone(pretrained=cosine)
    preprocess = backbone.preprocess
    runs = {"reduced": [], "full": [], "cache read": []}
    works = [shrink_for_statistics(open_rgb(path, min_side=256)) for path in paths]
    encode_ms, blobs = _cpu_ms(_jpeg_cache, works)
    for _ in range(2):  # alternate, so that drift in the machine's load hits every path
        runs["reduced"].append(_cpu_ms(lambda path: load_uint8(path, preprocess), paths))
        runs["full"].append(_cpu_ms(lambda path: prepare(open_rgb(path), preprocess), paths))
        runs["cache read"].append(_cpu_ms(lambda blob: prepare(Image.open(io.BytesIO(blob)), preprocess), blobs))
    best = {name: min(ms for ms, _ in measured) for name, measured in runs.items()}
    print(f"embed decode of {len(paths)} stored JPEGs, CPU ms/image (best of 2): reduced scale {best['reduced']:.2f}, "
          f"full decode {best['full']:.2f} (ratio reduced / full {best['reduced'] / best['full']:.2f}); "
          f"resized JPEG cache: read {best['cache read']:.2f} + ingest encode {encode_ms:.2f}, "
          f"{sum(map(len, blobs)) / len(blobs) / 1024:.0f} KiB/image")
    if cosine:
        reference = _embeddings(backbone, runs["full"][0][1])
        for name in ("reduced", "cache read"):
            vectors = _embeddings(backbone, runs[name][0][1])
            cos = (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference, axis=1)
            print(f"cosine to the full decode's embedding, {name}: min {cos.min():.4f}, 1st percentile "
                  f"{np.quantile(cos, 0.01):.4f}, mean {cos.mean():.4f}, below 0.99: {(cos < 0.99).sum()} of "
                  f"{len(cos)}")


def _embeddings(backbone, arrays: list) -> np.ndarray:
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(arrays), 32):
            batch = torch.from_numpy(np.stack(arrays[start:start + 32]))
            out.append(backbone.features.eval()(backbone.normalise(batch)).float().numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cosine", action="store_true", help="also compare embeddings (loads EfficientNet-Lite0)")
    parser.add_argument("--embed-only", action="store_true", help="only the embed decode comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = make_folder(tmp / "photos", args.photos)
        if args.embed_only:
            embed_decode(sorted((tmp / "photos" / "ferrari").glob("*.jpg")), args.cosine)
            return
        started = time.perf_counter()
        ingest_s, filter_s, fallback_s = curate_cpu(tmp / "photos", tmp / "ws", args.workers)
        baseline_s = imagededup_cpu(tmp / "photos" / "ferrari", tmp / "site")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}; {images} images (~1024 px JPEG), "
              f"{time.perf_counter() - started:.0f} s wall")
        per = lambda seconds: 1000 * seconds / images  # noqa: E731
        ours = ingest_s + filter_s
        print(f"curate ingest {per(ingest_s):.1f} + filter {per(filter_s):.1f} = {per(ours):.1f} CPU ms/image "
              f"(all features: sha256, size, pHash + mirror, thumbnail, {len(STATISTICS)} quality statistics)")
        print(f"curate filter on old images (one pass computing every feature): {per(fallback_s):.1f} CPU ms/image")
        print(f"imagededup PHash find_duplicates: {per(baseline_s):.1f} CPU ms/image")
        verdict = "met" if ours <= baseline_s else "MISSED"
        print(f"ratio curate / imagededup: {ours / baseline_s:.2f} (target <= 1: {verdict})")
        embed_decode(sorted((tmp / "photos" / "ferrari").glob("*.jpg")), args.cosine)


if __name__ == "__main__":
    main()
