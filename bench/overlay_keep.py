"""Which copy `--dedupe-near` keeps when one is its photo under an overlay (review DP F1): the keep rule with the
overlay check's mark (`Clusters.overlaid`, `overlay.overlay_copy`) against the rule without it, on real photos.

For real photos (every other Ferrari and every Lund shot, shrunk to 480 px wide, every `--every`th 15-Scene photo
and every (`--every` / 4)th ImageNet-sample photo) this makes same-size copies: under tiled watermarks (the audit's
white one; white at opacity 60, turned; light grey; dark, turned; black at 60; the tiled-watermark bench's varied
ones, half of them shrunk to 0.8; mid-grey text at 90, review DX F2), under a corner logo plate and a solid sticker
(white and black), and ordinary copies (re-encoded at JPEG q60, brightened by 12 grey levels, contrast x1.2,
sharpened lightly, and strongly: an unsharp mask of 2 px at 80 % and 150 %, review DX F1; a 2 % crop-and-resize) and
a frame of the scene with a lamp switched on (review DP F3). Bright photos (audit DY F1: white text moves light
pixels less) are a second set: the other real photos (every 5th 15-Scene, every other ImageNet-sample photo, the
other Ferraris) whose grey view's mean is at least 150, each under audit DY's small white "© stockpix" (PIL's own
font, opacity 110, tiled every 40 x 110 px) and under the audit's watermark. Per copy kind, the photos and that
kind's copies are linked by `verify.link_pairs` as the pandas engine sees them (pHashes, 16x12 thumbnails, grey
views; no embeddings) under the real-photo limits (colour 8, tone 5), the images it marks as overlaid collected;
then each photo with its copy is a group of one size and date, and the keep rule picks one, the copy's id sorting
first and then last (before the mark, the id decided). It prints, per copy kind, how many copies were linked to
their photo, the right side marked (the copy), the wrong side (the photo, and what it was linked to), undecided, and
the photo kept without and with the mark.

    .venv/bin/python bench/overlay_keep.py [--every 40]
"""

from __future__ import annotations

import argparse
import io
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
REALDATA = ROOT.parent / "shared" / "realdata"


def jpeg(image: Image.Image, quality: int = 92) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def logo(image: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """A corner logo plate at opacity 120 with opaque text."""
    from tests.test_neardup_watermark import FONT

    base = image.convert("RGBA")
    width, height = base.size
    layer = Image.new("RGBA", base.size, colour + (0,))
    draw = ImageDraw.Draw(layer)
    box_w, box_h = width * 3 // 10, height // 7
    draw.rounded_rectangle((width - box_w - width // 30, height - box_h - height // 30, width - width // 30,
                            height - height // 30), radius=box_h // 4, fill=colour + (120,))
    face = ImageFont.truetype(FONT, max(10, box_h // 2))
    draw.text((width - box_w, height - box_h - height // 40), "LOGO", font=face, fill=colour + (255,))
    return jpeg(Image.alpha_composite(base, layer).convert("RGB"))


def sticker(image: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    copy = image.copy()
    radius = copy.width // 9
    x, y = copy.width // 5, copy.height // 3
    ImageDraw.Draw(copy).ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return jpeg(copy)


def lamp(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image, np.float32)
    height, width = pixels.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    blob = 90 * np.exp(-(((xx / width - 0.3) ** 2 + (yy / height - 0.4) ** 2) / (2 * 0.25 ** 2)))
    return jpeg(Image.fromarray(np.clip(pixels + blob[..., None], 0, 255).astype(np.uint8)))


def copies(image: Image.Image, seed: int):
    from tiled_watermark import varied

    from tests.test_neardup_watermark import tiled_watermark

    width, height = image.size
    yield "watermark: the audit's (white 110)", tiled_watermark(image)
    yield "watermark: white 60, turned", tiled_watermark(image, "PREVIEW", alpha=60, angle=30, size_div=10)
    yield "watermark: light grey 120", tiled_watermark(image, "© photobank", alpha=120, colour=(200, 200, 200), rows=5)
    yield "watermark: dark 90, turned", tiled_watermark(image, "PREVIEW", alpha=90, colour=(20, 20, 20), angle=30,
                                                        rows=5)
    yield "watermark: black 60", tiled_watermark(image, "DO NOT COPY", alpha=60, colour=(0, 0, 0), size_div=12)
    yield "watermark: varied (bench)", varied(image, seed)
    yield "watermark: mid-grey 90 (DX F2)", tiled_watermark(image, alpha=90, colour=(128, 128, 128))
    yield "logo plate, white", logo(image, (255, 255, 255))
    yield "logo plate, dark", logo(image, (15, 15, 15))
    yield "sticker, white", sticker(image, (255, 255, 255))
    yield "sticker, black", sticker(image, (10, 10, 10))
    yield "ordinary: JPEG q60", jpeg(image, 60)
    yield "ordinary: +12 brighter", jpeg(Image.fromarray(np.clip(np.asarray(image, np.int16) + 12, 0, 255)
                                                      .astype(np.uint8)))
    yield "ordinary: contrast x1.2", jpeg(ImageEnhance.Contrast(image).enhance(1.2))
    yield "ordinary: sharpened", jpeg(image.filter(ImageFilter.UnsharpMask(1, 80, 2)))
    yield "sharpened: 2 px 80 % (DX F1)", jpeg(image.filter(ImageFilter.UnsharpMask(2, 80, 0)))
    yield "sharpened: 2 px 150 % (DX F1)", jpeg(image.filter(ImageFilter.UnsharpMask(2, 150, 0)))
    yield "ordinary: 2 % crop, resized", jpeg(image.crop((width // 50, height // 50, width - width // 50,
                                                          height - height // 50)).resize((width, height)))
    yield "lamp switched on (DP F3)", lamp(image)


def bright_copies(image: Image.Image):
    from tests.test_neardup_watermark import stockpix, tiled_watermark

    yield "bright photos: DY's small white 110", stockpix(image)
    yield "bright photos: the audit's (white 110)", tiled_watermark(image)


BRIGHT = 150  # the grey view's mean from which a photo of the second set counts as bright (audit DY: 162 and 191)


def shrunk(photo: Image.Image, path: Path) -> Image.Image:
    if "flickr" in str(path) or "lund" in str(path):
        return photo.resize((480, round(480 * photo.height / photo.width)), Image.LANCZOS)
    return photo


def main() -> None:
    from curate.filters import duplicates, neardup, verify
    from curate.filters.pixel_scores import grey_view
    from curate.filters.windows import stored_grey_view
    from curate.groups import components_from_pairs
    from curate.store import open_rgb
    from curate.vision import features

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=40, help="every Nth photo of 15-Scene and the ImageNet sample")
    args = parser.parse_args()
    started = time.monotonic()
    ferrari = sorted((REALDATA / "flickr-ferrari").glob("*/*.jpg"))
    scenes = sorted((REALDATA / "scenes15").glob("*/*/*.jpg"))
    imagenet = sorted((REALDATA / "imagenet-sample").glob("*.jpg"))
    paths = ferrari[::2] + sorted((REALDATA / "opensfm-lund").glob("**/*.jpg"))
    paths += scenes[::args.every] + imagenet[::args.every // 4 or 1]
    others = [path for path in ferrari[1::2] + scenes[::5] + imagenet[::2] if path not in set(paths)]
    bright = [path for path in others if grey_view(shrunk(open_rgb(path), path)).mean() >= BRIGHT]
    kinds = []
    with tempfile.TemporaryDirectory() as scratch:
        stored, photo_of, kind_of = [], [], []
        for k, path in enumerate(paths + bright):
            photo = shrunk(open_rgb(path), path)
            made = [("photo", jpeg(photo, 95))]
            made += list(copies(photo, k) if k < len(paths) else bright_copies(photo))
            for kind, image in made:
                if kind not in kinds:
                    kinds.append(kind)
                stored.append(Path(scratch) / f"{k:05d}_{len(stored)}.png")
                image.save(stored[-1])
                photo_of.append(k)
                kind_of.append(kind)
        found = features.compute_features(stored, 2)
        hashes = neardup.phash_to_uint64([item["phash"] for item in found])
        mirrors = neardup.phash_to_uint64([item["phash_mirror"] for item in found])
        trimmed = neardup.phash_to_uint64([item["phash_trimmed"] or item["phash"] for item in found])
        thumbs = np.stack([np.frombuffer(features.thumbnail_bytes(item), np.uint8) for item in found])
        views: dict[int, np.ndarray | None] = {}

        def read_grey(position: int) -> np.ndarray | None:
            if position not in views:
                views[position] = stored_grey_view(stored[position])
            return views[position]

        photo_of, kind_of = np.array(photo_of), np.array(kind_of)
        photo_row = np.flatnonzero(kind_of == "photo")  # photo k's row
        every = paths + bright
        rule = verify.LinkRule(max_bits=neardup.DEFAULT_NEAR_DUP_BITS, colour_diff=8.0, tone_diff=5.0)

        def sources(chosen: list[Path]) -> str:
            return (f"{sum('flickr' in str(p) for p in chosen)} Ferrari and {sum('lund' in str(p) for p in chosen)} "
                    f"Lund at 480 px, {sum('scenes15' in str(p) for p in chosen)} 15-Scene, "
                    f"{sum('imagenet' in str(p) for p in chosen)} ImageNet sample")

        print(f"{len(paths)} real photos ({sources(paths)}) and {len(bright)} bright ones (grey mean >= {BRIGHT}: "
              f"{sources(bright)}), {len(kinds) - 1} copy kinds; each kind linked with its photos alone (no "
              "embeddings, real-photo limits)")
        print(f"{'copy kind':40s} linked  right  wrong  undecided  photo kept: before (copy id first / last)  after")
        for kind in kinds[1:]:
            rows = np.flatnonzero(kind_of == kind)
            chosen = np.concatenate([rows, photo_row[photo_of[rows]]])  # copies 0..n-1, then their photos
            evidence = verify.Evidence(hashes[chosen], mirrors[chosen], thumbs[chosen], trimmed=trimmed[chosen],
                                       read_grey=lambda position, chosen=chosen: read_grey(int(chosen[position])))
            marked = np.zeros(len(chosen), bool)
            first, second, counts = verify.link_pairs(evidence, rule, overlaid=marked)
            labels = components_from_pairs(len(chosen), first, second)
            n = len(rows)
            linked = labels[:n] == labels[n:]
            kept = {}
            for rule_name in ("before", "after"):
                for order in ("copy first", "copy last"):
                    copy_ids = [f"{'a' if order == 'copy first' else 'c'}{k:05d}" for k in range(n)]
                    frame = pd.DataFrame({"photo_id": copy_ids + [f"b{k:05d}" for k in range(n)],
                                          "width": 100, "height": 100, "status": "kept", "label": "x",
                                          "taken_at": pd.Timestamp("2021-06-01")})
                    frame["taken_at"] = frame["taken_at"].astype("datetime64[us]")
                    keys = pd.Series(np.tile(np.where(linked, np.arange(n), -1), 2)).where(lambda key: key >= 0)
                    rep = duplicates.group_representatives(frame, keys, overlaid=marked if rule_name == "after"
                                                           else None)
                    kept[rule_name, order] = int(rep[n:][linked].str.startswith("b").sum())
            copy_marked, photo_marked = int((marked[:n] & linked).sum()), int((marked[n:] & linked).sum())
            undecided = int((linked & ~marked[:n] & ~marked[n:]).sum())
            print(f"{kind:40s} {int(linked.sum()):3d}/{n:3d}  {copy_marked:4d}  {photo_marked:4d}  {undecided:6d}     "
                  f"{kept['before', 'copy first']:4d} / {kept['before', 'copy last']:4d}                  "
                  f"{kept['after', 'copy first']:4d} / {kept['after', 'copy last']:4d}", flush=True)
            name = [every[k].relative_to(REALDATA) for k in photo_of[rows]]  # the photo of copy position i
            for position in np.flatnonzero(marked[n:] & linked)[:5]:  # the photos marked: what they were linked to
                others = [int(b if a == n + position else a) for a, b in zip(first, second) if n + position in (a, b)]
                print(f"      photo marked: {name[position]}, linked to " + ", ".join(
                    ("its copy" if other == position else f"the copy of {name[other]}")
                    if other < n else f"photo {name[other - n]}" for other in others), flush=True)
    print(f"machine: {platform.machine()}, {platform.python_version()}; {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
