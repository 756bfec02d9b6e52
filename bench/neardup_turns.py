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

import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from copies_bench import (  # noqa: E402
    REALDATA,
    build,
    ingested,
    parser,
    print_table,
    real_photos,
    scores,
    started,
    with_imagededup,
)

KINDS = ("cw", "ccw", "cw_half")


def copy_of(image: Image.Image, kind: str) -> Image.Image:
    if kind == "cw":
        return image.transpose(Image.Transpose.ROTATE_270)
    if kind == "ccw":
        return image.transpose(Image.Transpose.ROTATE_90)
    turned = image.transpose(Image.Transpose.ROTATE_270)
    return turned.resize((max(1, turned.width // 2), max(1, turned.height // 2)), Image.BILINEAR)


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__, 0, "also: quarter-turn candidates among every real photo (no copies made)").parse_args(argv)
    if not started("neardup_turns.py", argv, args.imagededup):
        return
    from curate.filters.clusters import image_clusters
    from curate.filters.config import FilterConfig

    photos = real_photos(args.originals + args.distractors, 0, args.seed)
    print(f"{args.originals} originals x {len(KINDS)} copies ({', '.join(KINDS)}) + {args.distractors} distractors")
    ws, catalog, names, thumbnails, read_grey = ingested(
        lambda folder: build(folder, photos[:args.originals], photos[args.originals:], KINDS, copy_of,
                             lambda kind: 80 if kind == "cw_half" else 90), "neardup-turns-")
    columns = ["sha256", "phash", "phash_mirror", "phash_trimmed", "phash_rot90"]
    rows, turned_notes = [], []
    for name, dropped in (("curate, with the quarter-turn hash", ()),
                          ("curate, without it (before)", ("phash_rot90",))):
        notes: list[str] = []
        begun = time.perf_counter()
        labels = image_clusters(catalog[[c for c in columns if c not in dropped]], FilterConfig(), thumbnails, None,
                                notes, read_grey)
        rows.append((name, scores(names, labels, KINDS), time.perf_counter() - begun))
        turn = [note for note in notes if note.startswith("quarter turns")]
        if turn:
            print(f"  {turn[0]}")
            turned_notes = turn
    if args.imagededup:
        with_imagededup(rows, ws, catalog, names, KINDS)
    print_table(rows, KINDS)
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
