"""The cosine of `curate check-leakage`'s look-alike list (curate.leakage_lookalikes.LOOKALIKE_COSINE), measured
on real photos in one run.

Audit DF (2026-12-07) found reposted copies the near-duplicate filter leaves unlinked (a tiled watermark: 10 of
30 linked; a 9:16 portrait crop of a landscape photo: 6 of 30), so that they cross the split unseen. The look-alike
list pairs each val/test photo with its nearest train photo by the cosine of `curate embed`'s EfficientNet-Lite0
vectors. This bench prints, for a range of cosines:

* recall: the share of real edited copies whose original is at or above the cosine; the copies are the audit's
  edits redrawn here (no file of the audit is read) on every flickr-ferrari photo: a tiled "(c) STOCKPIX"
  watermark (white, alpha 110, rows of text over the whole photo), a 9:16 portrait crop one third from the left,
  and, for reference, the phone screenshot and the side-by-side collage (the filter now links most of these);
* false look-alikes: the share of photos whose nearest photo of ANOTHER collection or owner is at or above the
  cosine, though it is a different photo: 15-Scene test -> nearest of 15-Scene train (same 15 scene kinds,
  different photos, apart from the few crops of one picture 15-Scene holds: docs/cleaning-duplicates.md), each
  ImageNet-sample photo -> nearest other one (1,000 classes), each Ferrari original -> nearest Ferrari of another
  owner (one subject, 20 owners: the hard case of a topical scrape);
* the 29 opensfm-lund frames (one cathedral, one photographer, overlapping views): each frame -> nearest other
  frame.

    .venv/bin/python bench/lookalikes.py [--cache /tmp/lookalikes.npz] [--every 1]

`--cache` keeps the vectors between runs (an .npz keyed by file and edit); `--every N` takes every Nth 15-Scene
and ImageNet photo (a quicker run). The vectors are `curate embed`'s (bench/neardup_real.embed_images).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
REALDATA = ROOT.parent / "shared" / "realdata"
COSINES = (0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.95)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def font(size: int):
    return ImageFont.truetype(FONT, size) if os.path.exists(FONT) else ImageFont.load_default()


def tiled_watermark(image: Image.Image) -> Image.Image:
    """Rows of "(c) STOCKPIX" over the whole photo, white at alpha 110 (audit DF's `wmark`)."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw, face = ImageDraw.Draw(layer), font(max(24, base.width // 14))
    for y in range(0, base.height, max(1, base.height // 4)):
        for x in range(-200, base.width, max(1, base.width // 2)):
            draw.text((x + (y // 3) % 200, y), "© STOCKPIX", fill=(255, 255, 255, 110), font=face)
    return Image.alpha_composite(base, layer).convert("RGB")


def tall_crop(image: Image.Image) -> Image.Image:
    """A 9:16 portrait crop of a landscape photo, one third from the left (audit DF's `tall`)."""
    width = int(image.height * 9 / 16)
    left = max(0, (image.width - width) // 3)
    return image.crop((left, 0, left + width, image.height))


def phone(image: Image.Image) -> Image.Image:
    """A 1080x2340 dark phone screenshot holding the photo full width (audit DF's `phone`, shortened)."""
    canvas = Image.new("RGB", (1080, 2340), (18, 18, 18))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([0, 100, 1080, 260], fill=(250, 250, 250))
    draw.text((40, 150), "@carspotter  • Follow", fill="black", font=font(48))
    shown = image.resize((1080, int(image.height * 1080 / image.width)))
    canvas.paste(shown, (0, 300))
    draw.text((40, 330 + shown.height), "Look at this beauty #ferrari #cars", fill="white", font=font(40))
    return canvas


def collage(first: Image.Image, second: Image.Image) -> Image.Image:
    """Two photos side by side, 600 px high, a 20 px white gutter (audit DF's `collage`)."""
    first = first.resize((int(first.width * 600 / first.height), 600))
    second = second.resize((int(second.width * 600 / second.height), 600))
    canvas = Image.new("RGB", (first.width + second.width + 20, 600), "white")
    canvas.paste(first, (0, 0))
    canvas.paste(second, (first.width + 20, 0))
    return canvas


EDITS = {"wmark": tiled_watermark, "tall": tall_crop, "phone": phone}


def vectors_of(named_images, cache: Path | None) -> dict[str, np.ndarray]:
    """name -> L2-normalised vector, computing only what the cache lacks."""
    from neardup_real import embed_images

    known = {}
    if cache is not None and cache.is_file():
        stored = np.load(cache)
        known = dict(zip(stored["names"].tolist(), stored["vectors"]))
    todo = [(name, make) for name, make in named_images if name not in known]
    for start in range(0, len(todo), 256):
        chunk = todo[start:start + 256]
        known.update(zip([name for name, _ in chunk], embed_images([make() for _, make in chunk])))
    if todo and cache is not None:
        np.savez(cache, names=np.array(list(known)), vectors=np.stack(list(known.values())))
    print(f"embeddings: {len(named_images) - len(todo)} from the cache, {len(todo)} computed", flush=True)
    return known


def rgb(path: Path):
    from curate.store import open_rgb

    return lambda: open_rgb(path)


def nearest(queries: np.ndarray, pool: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Each query's highest cosine to a pool row (`exclude`: a query x pool mask of pairs not to count)."""
    cosines = queries @ pool.T
    if exclude is not None:
        cosines[exclude] = -1.0
    return cosines.max(axis=1)


def ferrari_owners(paths: list[Path]) -> np.ndarray:
    import csv

    with open(REALDATA / "flickr-ferrari" / "metadata.csv", newline="") as handle:
        owner = {row["file"]: row["owner_nsid"] for row in csv.DictReader(handle)}
    return np.array([owner.get(str(path.relative_to(REALDATA / "flickr-ferrari")), path.name) for path in paths])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="an .npz keeping the vectors between runs")
    parser.add_argument("--every", type=int, default=1, help="every Nth 15-Scene and ImageNet photo")
    args = parser.parse_args()
    started = time.monotonic()
    from curate.store import open_rgb

    ferrari = sorted((REALDATA / "flickr-ferrari").glob("*/*.jpg"))
    scene_train = sorted((REALDATA / "scenes15" / "train").glob("*/*.jpg"))[::args.every]
    scene_test = sorted((REALDATA / "scenes15" / "test").glob("*/*.jpg"))[::args.every]
    imagenet = sorted((REALDATA / "imagenet-sample").glob("*.jpg"))[::args.every]
    lund = sorted((REALDATA / "opensfm-lund").glob("*.jpg"))
    named = [(str(path.relative_to(REALDATA)), rgb(path)) for path in ferrari + scene_train + scene_test + imagenet
             + lund]
    for kind, edit in EDITS.items():
        named += [(f"{kind}:{path.relative_to(REALDATA)}", (lambda p=path, e=edit: e(open_rgb(p)))) for path in ferrari]
    pairs = list(zip(ferrari[0::2], ferrari[1::2]))
    named += [(f"collage:{a.relative_to(REALDATA)}", (lambda a=a, b=b: collage(open_rgb(a), open_rgb(b))))
              for a, b in pairs]
    known = vectors_of(named, args.cache)
    stack = lambda paths, prefix="": np.stack([known[prefix + str(p.relative_to(REALDATA))] for p in paths])  # noqa: E731

    originals = stack(ferrari)
    recall = {kind: np.einsum("ij,ij->i", stack(ferrari, f"{kind}:"), originals) for kind in EDITS}
    collages = stack([a for a, _ in pairs], "collage:")
    recall["collage (first)"] = np.einsum("ij,ij->i", collages, stack([a for a, _ in pairs]))
    recall["collage (second)"] = np.einsum("ij,ij->i", collages, stack([b for _, b in pairs]))
    owners = ferrari_owners(ferrari)
    imagenet_vectors = stack(imagenet)
    lund_vectors = stack(lund)
    false = {
        f"15-Scene test -> train ({len(scene_test):,})": nearest(stack(scene_test), stack(scene_train)),
        f"ImageNet -> other ImageNet ({len(imagenet):,})": nearest(imagenet_vectors, imagenet_vectors,
                                                                    np.eye(len(imagenet), dtype=bool)),
        f"Ferrari -> other owner's ({len(ferrari)})": nearest(originals, originals, owners[:, None] == owners[None, :]),
    }
    lund_nearest = nearest(lund_vectors, lund_vectors, np.eye(len(lund), dtype=bool))

    print(f"\nreal edited copies -> their original (cosine; share at or above each cosine), {platform.node()}")
    header = "".join(f"{c:>7.2f}" for c in COSINES)
    print(f"{'edit':<28}{'median':>7}{'min':>7}{header}")
    for kind, values in recall.items():
        shares = "".join(f"{(values >= c).mean():>7.0%}" for c in COSINES)
        print(f"{kind:<28}{np.median(values):>7.2f}{values.min():>7.2f}{shares}")
    print("\ndifferent real photos: nearest photo of another collection or owner (share at or above each cosine)")
    print(f"{'set':<40}{'p99':>7}{'max':>7}{header}")
    for name, values in false.items():
        shares = "".join(f"{(values >= c).mean():>7.1%}" for c in COSINES)
        print(f"{name:<40}{np.quantile(values, 0.99):>7.2f}{values.max():>7.2f}{shares}")
    shares = "".join(f"{(lund_nearest >= c).mean():>7.0%}" for c in COSINES)
    print(f"{'Lund frames -> nearest other frame (29)':<40}{np.quantile(lund_nearest, 0.99):>7.2f}"
          f"{lund_nearest.max():>7.2f}{shares}")
    scene = next(iter(false.values()))
    top = np.argsort(-scene)[:5]
    import hashlib

    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
    train_digests = {digest(path) for path in scene_train}
    same = np.array([digest(path) in train_digests for path in scene_test])
    shares = "".join(f"{((scene >= c) & ~same).mean():>7.1%}" for c in COSINES)
    print(f"{'15-Scene, without byte-identical (' + str(int(same.sum())) + ')':<54}{shares}")
    print("\nhighest 15-Scene test -> train cosines (look at them: crops of one picture or different photos):")
    train_vectors = stack(scene_train)
    for index in top:
        match = int(np.argmax(train_vectors @ stack([scene_test[index]])[0]))
        pair = f"{scene_test[index].relative_to(REALDATA)}  {scene_train[match].relative_to(REALDATA)}"
        print(f"  {scene[index]:.3f}  {pair}")
    print(f"\n{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
