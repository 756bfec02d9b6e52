"""Portrait crops (9:16, 4:5, 2:3) of landscape photos (`curate.filters.portraits`, `curate.filters.pixel_links
._add_portrait_links`) on real photos, against the base code's rules and a plain pHash, in one run.

Audit DF (2026-12-07) found a 9:16 portrait crop of a landscape photo (full height, one third from the left: a
Stories or wallpaper repost) linked to its photo 6 of 30 times. This bench cuts such crops, and 4:5 and 2:3 ones
(Instagram's portrait post, a 35 mm frame's shape: SHAPES), at OFFSETS along the width (0: the left edge, 1: the
right) from real landscape photos that chose no threshold (the Ferrari photos after the first CHOOSING in path order
and 15-Scene's test half after every 60th, which chose `portraits.WINDOW_STEP`, the strip hash's shape and
STRIP_MAX_BITS, and every `--every`th landscape photo of imagenet-sample and 15-Scene's train half), saves each as
JPEG (quality 90) and decodes it, and prints

* recall, for each shape apart (its crops with the photos, no other shape's: a 4:5 crop would otherwise reach its
  photo through the 9:16 crop at its offset, a pHash match): a crop linked to its photo by `verify.link_pairs`
  (pHashes, strip hashes, the grey views; no thumbnails or embeddings, so only the hash and pixel rules run), and
  the same without the strip hashes (the base code's rules; its window and overlap matches need embeddings, which
  the audit's run had: 6 of 30), and a plain pHash within 10 bits (imagededup's PHash default);
* false links: every real photo of ../shared/realdata (15-Scene train and test, imagenet-sample, the 29 Lund frames
  of one cathedral, the Ferrari photos; its portraits under 9:16 look among the windows too, as a 4:5 crop does)
  and the crops together, the portrait rule alone (`_add_portrait_links`): a crop linked to another picture, or two
  real photos linked (a crop linked to the collection's own copy of its photo, one picture by the window or overlap
  match's score, is counted apart: 15-Scene holds such copies).

    .venv/bin/python bench/portrait_crop.py [--every 8]
"""

from __future__ import annotations

import argparse
import io
import platform
import sys
import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REALDATA = ROOT.parent / "shared" / "realdata"
CHOOSING = 60  # the first Ferrari photos in path order (and every 60th of 15-Scene's test half) chose the rule
OFFSETS = (0.0, 0.2, 1 / 3, 0.45, 0.6, 0.8, 1.0)
SHAPES = {"9:16": 9 / 16, "4:5": 4 / 5, "2:3": 2 / 3}  # a crop's width / height


def portrait_crop(photo: Image.Image, offset: float, shape: float = 9 / 16) -> Image.Image:
    """A full-height crop of `photo` `shape` times as wide as high, `offset` of the way along its width, saved as
    JPEG (q 90) and decoded."""
    width = round(photo.height * shape)
    left = round((photo.width - width) * offset)
    buffer = io.BytesIO()
    photo.crop((left, 0, left + width, photo.height)).save(buffer, "JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def held_out(every: int) -> list[Path]:
    """Landscape (or square) real photos that chose no threshold."""
    ferrari = sorted((REALDATA / "flickr-ferrari").glob("*/*.jpg"))[CHOOSING:]
    scenes_test = [path for k, path in enumerate(sorted((REALDATA / "scenes15" / "test").glob("*/*.jpg")))
                   if k % 60][::every * 4]
    others = sorted((REALDATA / "imagenet-sample").glob("**/*.jpg"))[::every]
    others += sorted((REALDATA / "scenes15" / "train").glob("*/*.jpg"))[::every * 4]
    paths = ferrari + scenes_test + others
    return [path for path in paths if (lambda size: size[0] >= size[1])(Image.open(path).size)]


def recall(paths: list[Path]) -> tuple[np.ndarray, list, list]:
    """Print the recall of the crops with and without the strip hashes; return the crops' features, views, owners."""
    from curate.filters import neardup, verify
    from curate.filters.pixel_scores import grey_view
    from curate.filters.portraits import parse_strip_phashes
    from curate.groups import components_from_pairs
    from curate.store import open_rgb
    from curate.vision import features

    photos = [open_rgb(path) for path in paths]
    shapes = list(SHAPES.values())
    crops = [portrait_crop(photo, offset, shape) for photo in photos for shape in shapes for offset in OFFSETS]
    source = np.repeat(np.arange(len(photos)), len(shapes) * len(OFFSETS))
    shape_of = np.tile(np.repeat(np.arange(len(shapes)), len(OFFSETS)), len(photos))
    offset_of = np.tile(np.arange(len(OFFSETS)), len(photos) * len(shapes))
    images = photos + crops
    made = [features.image_features(image) for image in images]
    hashes = neardup.phash_to_uint64([found["phash"] for found in made])
    views = [grey_view(image) for image in images]
    n = len(photos)
    strips = parse_strip_phashes([found["phash_strips"] for found in made])
    rule = verify.LinkRule(max_bits=neardup.DEFAULT_NEAR_DUP_BITS)
    print(f"{len(crops)} crops ({', '.join(SHAPES)} at {len(OFFSETS)} offsets: "
          f"{', '.join(f'{o:.2f}' for o in OFFSETS)}) of {n} real "
          f"landscape photos: {sum('flickr' in str(p) for p in paths)} Ferrari, "
          f"{sum('scenes15' in str(p) for p in paths)} 15-Scene, {sum('imagenet' in str(p) for p in paths)} "
          "imagenet-sample")
    print(f"crops with a portrait strip hash: {len(np.unique(strips.owners[strips.portrait]))} of {len(crops)}; "
          "photos with windows: "
          f"{len(np.unique(strips.owners[~strips.portrait]))} of {n}, {int((~strips.portrait).sum()) / n:.1f} each")
    found = {name: np.zeros(len(crops), bool) for name in ("with strip hashes", "base rules (no strip hashes)")}
    for s, label in enumerate(SHAPES):  # each shape's crops with the photos alone: no crop links through another's
        mine = np.flatnonzero(shape_of == s)
        pick = np.concatenate([np.arange(n), n + mine])
        picked_strips = parse_strip_phashes([made[k]["phash_strips"] for k in pick.tolist()])
        for name, evidence_strips in (("with strip hashes", picked_strips), ("base rules (no strip hashes)", None)):
            started = time.monotonic()
            evidence = verify.Evidence(hashes[pick], read_grey=lambda k, pick=pick: views[pick[k]],
                                       strips=evidence_strips)
            first, second, counts = verify.link_pairs(evidence, rule)
            labels = components_from_pairs(len(pick), first, second)
            linked = labels[n:] == labels[source[mine]]
            found[name][mine] = linked
            by_offset = ", ".join(f"{o:.2f}: {int(linked[offset_of[mine] == k].sum())}" for k, o in enumerate(OFFSETS))
            print(f"{label} crops linked to their photo, {name}: {int(linked.sum())} of {len(mine)} "
                  f"({linked.mean():.2f}; by offset {by_offset}); portrait candidates "
                  f"{counts.get('portrait_candidates', 0)}, links {counts.get('portrait', 0)}; "
                  f"{time.monotonic() - started:.0f} s")
    plain = [imagehash.phash(image) for image in images]
    near = np.array([plain[n + k] - plain[source[k]] <= 10 for k in range(len(crops))])
    print(f"linked to its photo, plain pHash <= 10 bits: {int(near.sum())} of {len(crops)} ({near.mean():.2f}; "
          + ", ".join(f"{label}: {int(near[shape_of == s].sum())}" for s, label in enumerate(SHAPES)) + ")")
    new, base = int(found["with strip hashes"].sum()), int(found["base rules (no strip hashes)"].sum())
    print(f"ratio to the base rules: {new / base:.1f}x" if base else
          f"ratio to the base rules: {new} links where they make none")
    return made[n:], views[n:], [paths[k] for k in source]


def false_links(crop_features: list, crop_views: list, crop_sources: list[Path]) -> None:
    """Every real photo and the crops, the portrait rule alone: links that are no crop and its photo."""
    from curate.filters import neardup, verify
    from curate.filters.pixel_links import _add_portrait_links
    from curate.filters.pixel_scores import grey_view
    from curate.filters.portraits import parse_strip_phashes, portrait_candidates
    from curate.store import map_images, open_rgb
    from curate.vision import features

    every = sorted(REALDATA.glob("**/*.jpg"))
    measured = map_images(features.features_of_file, every, 2)
    readable = [k for k, found in enumerate(measured) if found is not None]
    real = [every[k] for k in readable]
    rows = [measured[k] for k in readable] + list(crop_features)
    strips = parse_strip_phashes([found["phash_strips"] for found in rows])
    portraits = len(np.unique(strips.owners[strips.portrait & (strips.owners < len(real))]))
    print(f"real photos: {len(real)} of {len(every)} readable; {portraits} are portraits with strip hashes, "
          f"{len(np.unique(strips.owners[~strips.portrait]))} have windows ({int((~strips.portrait).sum()):,} "
          "strip hashes)")
    hashes = neardup.phash_to_uint64([found["phash"] for found in rows])

    def read_grey(position: int) -> np.ndarray:
        return grey_view(open_rgb(real[position])) if position < len(real) else crop_views[position - len(real)]

    evidence = verify.Evidence(hashes, read_grey=read_grey, strips=strips)
    counts: dict[str, int] = {}
    started = time.monotonic()
    candidates = portrait_candidates(strips)
    between_real = int(((candidates[0] < len(real)) & (candidates[1] < len(real))).sum())
    # every candidate matched on pixels, not only the closest near_dup_window_pairs: a false link anywhere counts
    rule = verify.LinkRule(max_bits=neardup.DEFAULT_NEAR_DUP_BITS, window_pairs=len(candidates[0]))
    first, second = _add_portrait_links(evidence, rule, np.zeros(0, np.int64), np.zeros(0, np.int64), counts)
    index = {path: k for k, path in enumerate(real)}
    true = copy = false_crop = false_real = 0
    for a, b in zip(first.tolist(), second.tolist()):
        crop, photo = (a, b) if a >= len(real) else (b, a)
        if crop < len(real):
            false_real += 1
            print(f"  FALSE: {real[a].relative_to(REALDATA)} ~ {real[b].relative_to(REALDATA)}")
        elif index.get(crop_sources[crop - len(real)]) == photo:
            true += 1
        elif same_picture(real[index[crop_sources[crop - len(real)]]], real[photo]):
            copy += 1  # the collection's own copy of the crop's photo (15-Scene holds some across its split)
            print(f"  copy: crop of {crop_sources[crop - len(real)].relative_to(REALDATA)} ~ "
                  f"{photo_name(photo, real)}, the same picture")
        else:
            false_crop += 1
            print(f"  FALSE: crop of {crop_sources[crop - len(real)].relative_to(REALDATA)} ~ "
                  f"{photo_name(photo, real)}")
    print(f"portrait rule over {len(real)} real photos and {len(crop_features)} crops: candidates "
          f"{counts['portrait_candidates']} ({between_real} between two real photos, all matched), links "
          f"{counts['portrait']} ({true} a crop and its photo, {copy} a crop "
          f"and the collection's own copy of its photo); false links: a crop to another picture {false_crop}, two "
          f"real photos {false_real}; "
          f"{time.monotonic() - started:.0f} s")


def same_picture(one: Path, other: Path) -> bool:
    """Whether two real photos are one picture: one a window of the other, or two overlapping crops of it (the
    window and overlap matches' scores at their bars)."""
    from curate.filters import pixel_scores, verify
    from curate.store import open_rgb

    first, second = (pixel_scores.grey_view(open_rgb(path)) for path in (one, other))
    return (pixel_scores.window_score(first, second) >= verify.DEFAULT_WINDOW_SCORE
            or pixel_scores.overlap_score(first, second) >= verify.DEFAULT_OVERLAP_SCORE)


def photo_name(position: int, real: list[Path]) -> str:
    return str(real[position].relative_to(REALDATA)) if position < len(real) else f"crop {position - len(real)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=8, help="every Nth imagenet-sample photo (4N-th of 15-Scene)")
    args = parser.parse_args()
    started = time.monotonic()
    crop_features, crop_views, crop_sources = recall(held_out(args.every))
    false_links(crop_features, crop_views, crop_sources)
    print(f"machine: {platform.machine()}, {platform.python_version()}; {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
