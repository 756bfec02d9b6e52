"""Copies with part of them covered (a sticker, a corner logo, a watermark, meme caption bands) or recoloured
(sepia), found by the patch match (`curate.filters.patches`).

    python bench/neardup_patches.py [--originals 150] [--distractors 1000] [--imagededup] [--all-real]

Real photos from ../shared/realdata (ImageNet sample, Ferraris, 15-Scene train; a seeded shuffle) as originals;
each gets one copy of each kind below (JPEG 90). More real photos, not copied, are distractors: any cluster
joining two different originals, or an original and a distractor, is a false link. Everything goes through
`curate ingest folder` and the filter's clustering (`curate.filters.clusters.image_clusters`, default settings,
no embeddings), once as it is and once with `near_dup_patch_share = "off"` (the rule before 2026-12-05), in the
same run; with `--imagededup` (installed into a temporary folder for this run only) imagededup's PHash at its
default 10 bits on the same stored images is the peer baseline. Audit I (2026-12-05, other originals, with
embeddings) measured curate 0.26 / 0.42 / 0.90 on stickers / meme bands / sepia, imagededup 0.57 / 0.53 / 1.00.
`--all-real`: the patch match's candidates among every real photo of ../shared/realdata (no copies made): how
many there are, and how many it would link (false links, unless the pair is one photo stored twice).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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

KINDS = ("sticker", "logo", "watermark", "meme", "sepia")


def copy_of(image: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """One edited copy of `image` (RGB)."""
    image = image.copy()
    width, height = image.size
    draw = ImageDraw.Draw(image, "RGBA")
    if kind == "sticker":  # a yellow disc in a box of 10 % of the area, somewhere
        side = round(np.sqrt(0.10 * width * height))
        x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        draw.ellipse((x, y, x + side, y + side), fill=(255, 204, 0), outline=(120, 80, 0), width=max(2, side // 30))
        draw.arc((x + side * 0.22, y + side * 0.35, x + side * 0.78, y + side * 0.8), 20, 160, fill="black",
                 width=max(2, side // 20))
    elif kind == "logo":  # an opaque badge with a name, 6 % of the area, in a corner
        w, h = round(np.sqrt(0.06 * width * height) * 1.6), round(np.sqrt(0.06 * width * height) / 1.6)
        x = [4, width - w - 4][int(rng.integers(0, 2))]
        y = [4, height - h - 4][int(rng.integers(0, 2))]
        draw.rounded_rectangle((x, y, x + w, y + h), radius=h // 4, fill=(200, 20, 40))
        draw.text((x + h // 4, y + h // 4), "PHOTOS.EXAMPLE", fill="white",
                  font=ImageFont.load_default(size=max(8, h // 2)))
    elif kind == "watermark":  # half-transparent text across the middle
        font = ImageFont.load_default(size=max(10, height // 8))
        text = "(c) some photographer"
        x = max(0, (width - draw.textlength(text, font=font)) / 2)
        draw.text((x, height * 0.45), text, fill=(255, 255, 255, 110), font=font)
    elif kind == "meme":  # white bands over the top and bottom 15 %, with captions
        band = round(0.15 * height)
        font = ImageFont.load_default(size=max(10, int(band * 0.6)))
        for top, text in ((0, "WHEN YOU SEE IT"), (height - band, "SUCH WOW")):
            draw.rectangle((0, top, width, top + band), fill="white")
            draw.text(((width - draw.textlength(text, font=font)) / 2, top + band * 0.15), text, fill="black",
                      font=font)
    elif kind == "sepia":
        grid = np.asarray(image, np.float32) @ np.array([[0.393, 0.349, 0.272], [0.769, 0.686, 0.534],
                                                          [0.189, 0.168, 0.131]], np.float32)
        image = Image.fromarray(np.clip(grid, 0, 255).astype(np.uint8))
    return image


def main(argv: list[str] | None = None) -> None:
    made = parser(__doc__, 1, "also: the patch match's candidates and links among every real photo (no copies made)")
    made.add_argument("--screens", action="store_true",
                      help="also: different real photos in one app's interface, frame, card or mockup (look-alikes)")
    made.add_argument("--search-cost", type=int, default=0, metavar="N",
                      help="also: the candidate search's seconds on N uniformly random hashes, exact to 12 bits "
                           "against the filter's 8-bit search reused up to 12 bits")
    args = made.parse_args(argv)
    if not started("neardup_patches.py", argv, args.imagededup):
        return
    from curate.filters.clusters import image_clusters
    from curate.filters.config import FilterConfig

    photos = real_photos(args.originals + args.distractors, 0, args.seed)
    print(f"{args.originals} originals x {len(KINDS)} copies ({', '.join(KINDS)}) + {args.distractors} distractors "
          f"(seed {args.seed})")
    ws, catalog, names, thumbnails, read_grey = ingested(
        lambda folder: build(folder, photos[:args.originals], photos[args.originals:], KINDS,
                             lambda image, kind, rng=np.random.default_rng(args.seed): copy_of(image, kind, rng)),
        "neardup-patches-")
    columns = ["sha256", "phash", "phash_mirror", "phash_trimmed", "phash_rot90"]
    rows = []
    for name, setting in (("curate, default (patch match off)", "off"), ("curate, --near-dup-patch-share 0.8", 0.8),
                          ("curate, --near-dup-patch-share auto", "auto")):
        notes: list[str] = []
        begun = time.perf_counter()
        labels = image_clusters(catalog[columns], FilterConfig(near_dup_patch_share=setting), thumbnails, None,
                                notes, read_grey).joined
        rows.append((name, scores(names, labels, KINDS), time.perf_counter() - begun))
        for note in notes:
            if note.startswith(("patch match", "near-duplicate hashes")):
                print(f"  {note}")
    if args.imagededup:
        with_imagededup(rows, ws, catalog, names, KINDS)
    print_table(rows, KINDS)
    if args.all_real:
        all_real()
    if args.screens:
        screens()
        templates()
    if args.search_cost:
        search_cost(args.search_cost)


def app_screen(photo: Image.Image, top: float, bottom: float, width: int = 540, height: int = 1170) -> Image.Image:
    """`photo` shown in a phone app's interface: a status bar and posts above (`top` of the height), comments
    and buttons below (`bottom`); the same interface for every photo."""
    screen = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(screen)
    font = ImageFont.load_default(size=22)
    upper, lower = int(height * top), int(height * (1 - bottom))
    draw.rectangle((0, 0, width, 40), fill=(30, 30, 30))
    draw.text((10, 8), "9:41   LTE  87%", fill="white", font=font)
    for k, y in enumerate(range(50, upper - 30, 34)):
        draw.text((14, y), f"user_{k} posted in #travel - {k + 2}h ago", fill="black", font=font)
    screen.paste(photo.resize((width, lower - upper)), (0, upper))
    for k, y in enumerate(range(lower + 10, height - 70, 34)):
        draw.text((14, y), f"comment {k}: what a view!! where is this? #{k}", fill="black", font=font)
    for x in range(30, width, 108):
        draw.rectangle((x, height - 50, x + 40, height - 12), outline="black", width=3)
    return screen


def screens(count: int = 40) -> None:
    """Look-alikes the patch match can be fooled by: screenshots of `count` different real photos in one app,
    the interface over a growing share of the screen. Printed: pairs whose pHashes are within 12 bits, those whose
    patches agree, and what `verify.link_pairs` (real-photo limits, no embeddings) links by patches."""
    from curate.filters import neardup, patches, verify
    from curate.filters.phash import phash_pair
    from curate.filters.pixel_scores import grey_view

    photos = sorted((REALDATA / "imagenet-sample").glob("*.jpg"))[:count]
    print(f"screenshots of {count} different real photos in one app's interface (top / bottom share of the screen):")
    for top, bottom in ((0.3, 0.3), (0.35, 0.35), (0.4, 0.4), (0.2, 0.45), (0.1, 0.6)):
        shots = [app_screen(Image.open(path).convert("RGB"), top, bottom) for path in photos]
        greys = [grey_view(shot) for shot in shots]
        views = [patches.patch_view(grey) for grey in greys]
        pairs = [phash_pair(shot) for shot in shots]
        hashes = neardup.phash_to_uint64([p for p, _ in pairs])
        mirrors = neardup.phash_to_uint64([m for _, m in pairs])
        a, b, _, _ = neardup.mirror_pairs(hashes, mirrors, 12)
        agree = sum(patches.patch_share(views[i], views[j]) >= 0.8 for i, j in zip(a.tolist(), b.tolist()))
        thumbs = np.frombuffer(b"".join(verify.thumbnail_bytes(_saved(shot)) for shot in shots), np.uint8)
        evidence = verify.Evidence(hashes, mirrors, thumbs.reshape(len(shots), -1),
                                   read_grey=lambda position, greys=greys: greys[position])
        rule = verify.LinkRule(8, 8.0, None, None, tone_diff=5.0, window_score=None, patch_share=0.8)
        _, _, counts = verify.link_pairs(evidence, rule)
        print(f"  {top:.0%} / {bottom:.0%}: {len(a)} pairs within 12 bits, {agree} agree patch for patch; linked by "
              f"patches {counts['patch']}, not linked as groups too large {counts['patch_crowded']}; by pHash and "
              f"colour or tone {counts['hash_colour'] + counts['hash_tone']}")


def templates(count: int = 8) -> None:
    """Different real photos laid into one template (audit L's attacks): a frame cut from another real photo
    over 25 % and 30 % of each side, a card with a window of 30 % of its area in the middle, and a print over 27 %
    of a real table photo, off the middle (a mockup). Printed per template: pairs of different photos within 12
    pHash bits, and those whose patches agree at the limit (each a false link once the match is asked for)."""
    from curate.filters import neardup, patches
    from curate.filters.phash import phash_pair
    from curate.filters.pixel_scores import grey_view

    photos = [Image.open(path).convert("RGB") for path in sorted((REALDATA / "imagenet-sample").glob("*.jpg"))[:count]]
    ground = Image.open(sorted((REALDATA / "flickr-ferrari").glob("*/*.jpg"))[0]).convert("RGB").resize((600, 600))

    def framed(photo: Image.Image, side: float) -> Image.Image:
        out, inner = ground.copy(), round(600 * (1 - 2 * side))
        out.paste(photo.resize((inner, inner)), (round(600 * side), round(600 * side)))
        return out

    def card(photo: Image.Image) -> Image.Image:
        out, inner = ground.copy(), round(600 * 0.3 ** 0.5)
        out.paste(photo.resize((inner, inner)), ((600 - inner) // 2, (600 - inner) // 2))
        return out

    def mockup(photo: Image.Image) -> Image.Image:
        out, inner = ground.copy(), round(600 * 0.27 ** 0.5)
        out.paste(photo.resize((inner, inner)), (60, 90))
        return out

    print(f"{count} different real photos in one template (pairs within 12 pHash bits / agreeing at 0.8):")
    for name, compose in (("frame, 25 % a side", lambda p: framed(p, 0.25)), ("frame, 30 % a side",
                          lambda p: framed(p, 0.30)), ("card, window 30 % in the middle", card),
                          ("mockup, print 27 % off the middle", mockup)):
        shots = [compose(photo) for photo in photos]
        views = [patches.patch_view(grey_view(shot)) for shot in shots]
        pairs = [phash_pair(shot) for shot in shots]
        hashes = neardup.phash_to_uint64([p for p, _ in pairs])
        mirrors = neardup.phash_to_uint64([m for _, m in pairs])
        a, b, _, _ = neardup.mirror_pairs(hashes, mirrors, 12)
        agree = sum(patches.patch_share(views[i], views[j]) >= 0.8 for i, j in zip(a.tolist(), b.tolist()))
        print(f"  {name}: {len(a)} pairs within 12 bits, {agree} agree patch for patch")


def _saved(image: Image.Image) -> Path:
    """`image` as a JPEG file (thumbnail_bytes reads files)."""
    handle = tempfile.NamedTemporaryFile(suffix=".jpg", delete=False)
    image.save(handle.name, quality=90)
    return Path(handle.name)


def search_cost(n: int) -> None:
    """What reaching 4 bits beyond near_dup_bits costs: `neardup.mirror_pairs` on n random hashes at 8 bits (the
    filter's search), exactly at 12, and at 12 through the 8-bit search's blocks (what the patch match uses)."""
    from curate.filters import neardup

    rng = np.random.default_rng(0)
    hashes, mirrors = (rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n, np.uint64)
                       for _ in range(2))
    for name, bits, search in (("8 bits (the filter's search)", 8, None), ("12 bits, exact", 12, None),
                               ("12 bits through the 8-bit search", 12, 8)):
        started = time.perf_counter()
        found = neardup.mirror_pairs(hashes, mirrors, bits, search_bits=search)[0]
        print(f"  {n:,} random hashes, {name}: {time.perf_counter() - started:.1f} s, {len(found):,} pairs")


def all_real() -> None:
    """Every real photo of ../shared/realdata as one collection (none copied on purpose): the patch match's
    candidate pairs (pHash within near_dup_bits + PATCH_MARGIN_BITS, any view, not linked by the other evidence),
    and the pairs it links, each printed: a link is false unless the pair is one photo stored twice."""
    from curate.filters import neardup, patches, verify
    from curate.filters.neardup import DEFAULT_NEAR_DUP_BITS
    from curate.filters.phash import phash_views
    from curate.filters.pixel_scores import grey_view
    from curate.filters.quality import shrink_for_statistics

    paths = sorted([*(REALDATA / "imagenet-sample").glob("*.jpg"), *(REALDATA / "flickr-ferrari").glob("*/*.jpg"),
                    *REALDATA.glob("scenes15/*/*/*.jpg"), *REALDATA.glob("opensfm-lund/**/*.jpg")])
    images = [Image.open(path).convert("RGB") for path in paths]
    views = [phash_views(shrink_for_statistics(image).convert("L")) for image in images]
    hashes = neardup.phash_to_uint64([v[0] for v in views])
    mirrors = neardup.phash_to_uint64([v[1] for v in views])
    thumbs = np.frombuffer(b"".join(verify.thumbnail_bytes(path) for path in paths), np.uint8).reshape(len(paths), -1)
    greys = {}

    def read(position: int) -> np.ndarray:
        if position not in greys:
            greys[position] = grey_view(images[position])
        return greys[position]

    exact = neardup.mirror_pairs(hashes, mirrors, 12)
    cheap = set(zip(*(side.tolist() for side in neardup.mirror_pairs(hashes, mirrors, 12, search_bits=8)[:2])))
    band = [(i, j) for i, j, bits in zip(*(side.tolist() for side in exact[:3])) if bits > 8]
    print(f"all {len(paths):,} real photos: the 8-bit search's blocks meet {sum(p in cheap for p in band)} of the "
          f"{len(band)} pairs 9-12 bits apart")
    evidence = verify.Evidence(hashes, mirrors, thumbs, read_grey=read)
    from curate.filters.calibration import PATCH_SHARE_FOR_REAL_PHOTOS

    for share in (None, PATCH_SHARE_FOR_REAL_PHOTOS):
        rule = verify.LinkRule(DEFAULT_NEAR_DUP_BITS, 8.0, None, None, tone_diff=5.0, window_score=None,
                               patch_share=share)
        started = time.perf_counter()
        first, second, counts = verify.link_pairs(evidence, rule)
        seconds = time.perf_counter() - started
        if share is None:
            before = set(zip(first.tolist(), second.tolist()))
            print(f"all {len(paths):,} real photos, real-photo limits, no embeddings: {len(first)} links without "
                  "the patch match")
            continue
        print(f"  with it: {counts['patch_candidates']} candidate pairs, {counts['patch']} linked by patches "
              f"({seconds:.1f} s; {seconds / max(1, counts['patch_matched']) * 1000:.0f} ms a pair, decoding "
              f"included)")
        for i, j in sorted(set(zip(first.tolist(), second.tolist())) - before):
            print(f"    linked: {paths[i].relative_to(REALDATA)}  {paths[j].relative_to(REALDATA)}  "
                  f"share {patches.patch_share(patches.patch_view(read(i)), patches.patch_view(read(j))):.2f}")
    linked = set(zip(first.tolist(), second.tolist()))
    for bits in (DEFAULT_NEAR_DUP_BITS + patches.PATCH_MARGIN_BITS, 16):
        a, b, distance, mirrored = neardup.mirror_pairs(hashes, mirrors, bits)
        far = [k for k in range(len(a)) if distance[k] > DEFAULT_NEAR_DUP_BITS and (a[k], b[k]) not in linked]
        shares = np.array([patches.patch_share(patches.patch_view(read(a[k])), patches.patch_view(read(b[k]),
                                                                                                 bool(mirrored[k])))
                           for k in far])
        print(f"  pairs of different real photos {DEFAULT_NEAR_DUP_BITS + 1}-{bits} bits apart, not linked: "
              f"{len(far):,}; patch scores: highest {shares.max():.2f}, 99th percentile "
              f"{np.percentile(shares, 99):.2f}, at or above the limit "
              f"{int((shares >= PATCH_SHARE_FOR_REAL_PHOTOS).sum())}")


if __name__ == "__main__":
    main()
