"""Copies padded onto a square (Instagram-style white or black borders), linked through the border-trimmed pHash.

    python bench/neardup_padded.py [--originals 150] [--distractors 1000] [--imagededup] [--all-real]

Real photos from ../shared/realdata (ImageNet sample, Ferraris, 15-Scene train; a seeded shuffle) as originals;
each gets two copies: centred at 92 % on a white 1080 px square, and at 100 % on a black one (JPEG 90). More real
photos, not copied, are distractors: any cluster joining two different originals, or an original and a
distractor, is a false link. Everything goes through `curate ingest folder` and the filter's clustering
(`curate.filters.clusters.image_clusters`, default settings, no embeddings), once as it is and once with the
pixel matches off (`near_dup_window_score = "off"`: the rule before 2026-12-05 for these copies), in the same
run; with `--imagededup` (installed into a temporary folder for this run only) imagededup's PHash at its
default 10 bits on the same stored images. Audit L (2026-12-05) measured curate 0.00 (0.47 with embeddings) on
white-bordered squares, imagededup 0.03.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
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

KINDS = ("white", "black")


def padded(image: Image.Image, kind: str) -> Image.Image:
    width, height = image.size
    side, scale = max(width, height), 0.92 if kind == "white" else 1.0
    canvas = Image.new("RGB", (side, side), kind)
    inner = (round(width * scale), round(height * scale))
    canvas.paste(image.resize(inner, Image.LANCZOS), ((side - inner[0]) // 2, (side - inner[1]) // 2))
    return canvas.resize((1080, 1080), Image.LANCZOS)


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__, 2, "also: the framed-copy candidates and links among every real photo (no copies made)"
                  ).parse_args(argv)
    if not started("neardup_padded.py", argv, args.imagededup):
        return
    from curate.filters.clusters import image_clusters
    from curate.filters.config import FilterConfig

    photos = real_photos(args.originals + args.distractors, 0, args.seed)
    print(f"{args.originals} originals x {len(KINDS)} padded copies + {args.distractors} distractors "
          f"(seed {args.seed})")
    ws, catalog, names, thumbnails, read_grey = ingested(
        lambda folder: build(folder, photos[:args.originals], photos[args.originals:], KINDS, padded),
        "neardup-padded-")
    columns = ["sha256", "phash", "phash_mirror", "phash_trimmed", "phash_rot90"]
    rows = []
    for name, config in (("curate, framed copies matched on pixels", FilterConfig()),
                         ("curate, pixel matches off (before)", FilterConfig(near_dup_window_score="off"))):
        notes: list[str] = []
        begun = time.perf_counter()
        labels = image_clusters(catalog[columns], config, thumbnails, None, notes, read_grey).joined
        rows.append((name, scores(names, labels, KINDS), time.perf_counter() - begun))
        for note in notes:
            if note.startswith(("framed copies", "near-duplicate hashes")):
                print(f"  {note}")
    if args.imagededup:
        with_imagededup(rows, ws, catalog, names, KINDS)
    print_table(rows, KINDS, 42)
    if args.all_real:
        all_real()


def all_real() -> None:
    """Every real photo of ../shared/realdata as one collection: pairs that meet only through a border-trimmed
    pHash (candidates of the framed-copy rule) and those it links, each printed (a link is false unless the pair
    is one photo stored twice)."""
    from curate.filters import neardup, verify
    from curate.filters.phash import phash_views, trimmed_phash
    from curate.filters.pixel_scores import grey_view
    from curate.filters.quality import shrink_for_statistics

    paths = sorted([*(REALDATA / "imagenet-sample").glob("*.jpg"), *(REALDATA / "flickr-ferrari").glob("*/*.jpg"),
                    *REALDATA.glob("scenes15/*/*/*.jpg"), *REALDATA.glob("opensfm-lund/**/*.jpg")])
    images = [Image.open(path).convert("RGB") for path in paths]
    greys = [shrink_for_statistics(image).convert("L") for image in images]
    views = [phash_views(grey) for grey in greys]
    hashes = neardup.phash_to_uint64([v[0] for v in views])
    mirrors = neardup.phash_to_uint64([v[1] for v in views])
    trimmed_text = [trimmed_phash(grey) for grey in greys]
    trimmed = np.where([t is not None for t in trimmed_text],
                       neardup.phash_to_uint64([t or v[0] for t, v in zip(trimmed_text, views)]), hashes)
    thumbs = np.frombuffer(b"".join(verify.thumbnail_bytes(path) for path in paths), np.uint8).reshape(len(paths), -1)
    evidence = verify.Evidence(hashes, mirrors, thumbs, trimmed=trimmed,
                               read_grey=lambda position: grey_view(images[position]))
    rule = verify.LinkRule(neardup.DEFAULT_NEAR_DUP_BITS, 8.0, None, None, tone_diff=5.0)
    started = time.perf_counter()
    first, second, counts = verify.link_pairs(evidence, rule)
    print(f"all {len(paths):,} real photos ({int((trimmed != hashes).sum())} with a border), real-photo limits, no "
          f"embeddings: {counts.get('frame_candidates', 0)} pairs meet only through a trimmed view, "
          f"{counts.get('frame', 0)} linked as framed copies ({time.perf_counter() - started:.1f} s for all links)")


if __name__ == "__main__":
    main()
