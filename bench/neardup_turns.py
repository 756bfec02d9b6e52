"""Copies turned a quarter turn (EXIF orientation lost or applied twice) or a half turn (a photo taken upside
down, its EXIF orientation 3 lost), found by the quarter-turn and half-turn pHashes.

    python bench/neardup_turns.py [--originals 150] [--distractors 1000] [--imagededup]

Real photos from ../shared/realdata (ImageNet sample, Ferraris, 15-Scene train) as originals; each gets five
copies: turned clockwise, turned anticlockwise, turned clockwise then downscaled to half and re-saved
(JPEG 80), turned a half turn, and turned a half turn then halved (JPEG 80). More real photos, not
copied, are distractors: any cluster joining two different originals, or an original and a distractor, is a
false link. Everything goes through `curate ingest folder` and the filter's
clustering (`curate.filters.clusters.image_clusters`, default settings, no embeddings), with both turn
hashes, without the half-turn one (the rule before 2026-12-06) and without either (before 2026-12-05), in the
same run; with `--imagededup`
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

KINDS = ("cw", "ccw", "cw_half", "half", "half_small")


def copy_of(image: Image.Image, kind: str) -> Image.Image:
    if kind == "cw":
        return image.transpose(Image.Transpose.ROTATE_270)
    if kind == "ccw":
        return image.transpose(Image.Transpose.ROTATE_90)
    if kind == "half":
        return image.transpose(Image.Transpose.ROTATE_180)
    turned = image.transpose(Image.Transpose.ROTATE_180 if kind == "half_small" else Image.Transpose.ROTATE_270)
    return turned.resize((max(1, turned.width // 2), max(1, turned.height // 2)), Image.BILINEAR)


def main(argv: list[str] | None = None) -> None:
    options = parser(__doc__, 0, "also: quarter-turn candidates among every real photo (no copies made)")
    options.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                         help="the copies made (default all; `--kinds half half_small`: the half turns alone, which "
                              "the quarter-turn copies would otherwise join to their photo through each other)")
    args = options.parse_args(argv)
    kinds = tuple(args.kinds)
    if not started("neardup_turns.py", argv, args.imagededup):
        return
    from curate.filters.clusters import image_clusters
    from curate.filters.config import FilterConfig

    photos = real_photos(args.originals + args.distractors, 0, args.seed)
    print(f"{args.originals} originals x {len(kinds)} copies ({', '.join(kinds)}) + {args.distractors} distractors")
    ws, catalog, names, thumbnails, read_grey = ingested(
        lambda folder: build(folder, photos[:args.originals], photos[args.originals:], kinds, copy_of,
                             lambda kind: 80 if kind in ("cw_half", "half_small") else 90), "neardup-turns-")
    columns = ["sha256", "phash", "phash_mirror", "phash_trimmed", "phash_rot90", "phash_rot180"]
    rows, turned_notes = [], []
    for name, dropped in (("curate, with both turn hashes", ()),
                          ("curate, without the half-turn hash (before 2026-12-06)", ("phash_rot180",)),
                          ("curate, without either (before 2026-12-05)", ("phash_rot90", "phash_rot180"))):
        notes: list[str] = []
        begun = time.perf_counter()
        labels = image_clusters(catalog[[c for c in columns if c not in dropped]], FilterConfig(), thumbnails, None,
                                notes, read_grey).joined
        rows.append((name, scores(names, labels, kinds), time.perf_counter() - begun))
        turn = [note for note in notes if note.startswith(("quarter turns", "half turns"))]
        for note in turn:
            print(f"  {name}: {note}")
        if turn and not turned_notes:
            turned_notes = turn
    if args.imagededup:
        with_imagededup(rows, ws, catalog, names, kinds)
    print_table(rows, kinds)
    pairs = sum(int(note.split(" of ")[1].split()[0].replace(",", "")) for note in turned_notes) or 1
    print(f"the turn links' pixel match: {(rows[0][2] - rows[2][2]) / pairs * 1000:.0f} ms a candidate pair")
    decode_share(photos[:50])
    if args.all_real:
        all_real_candidates()


def all_real_candidates() -> None:
    """Pairs of different real photos (every photo of ../shared/realdata, none copied on purpose) that the
    quarter-turn view makes candidates: each one costs a pixel match, and a link would be a false one unless the
    pair is one photo stored twice (then it is a candidate by its plain pHash first)."""
    from curate.filters import neardup
    from curate.filters.phash import half_turn_phash, phash_views
    from curate.filters.quality import shrink_for_statistics

    paths = sorted([*(REALDATA / "imagenet-sample").glob("*.jpg"), *(REALDATA / "flickr-ferrari").glob("*/*.jpg"),
                    *REALDATA.glob("scenes15/*/*/*.jpg"), *REALDATA.glob("opensfm-lund/**/*.jpg")])
    greys = [shrink_for_statistics(Image.open(path).convert("RGB")).convert("L") for path in paths]
    views = [phash_views(grey) for grey in greys]
    hashes = neardup.phash_to_uint64([v[0] for v in views])
    turned = neardup.phash_to_uint64([v[2] for v in views])
    halfturned = neardup.phash_to_uint64([half_turn_phash(grey) for grey in greys])
    first, second, _, by_turn = neardup.mirror_pairs(hashes, turned, 8)
    _, _, _, by_half = neardup.mirror_pairs(hashes, halfturned, 8)
    plain, _, _, _ = neardup.mirror_pairs(hashes, hashes, 8)
    print(f"all {len(paths):,} real photos: {int(by_turn.sum())} pairs are candidates only through the quarter-turn "
          f"hash, {int(by_half.sum())} only through the half-turn hash ({len(plain)} through the plain one); each is "
          "matched on its pixels")


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
