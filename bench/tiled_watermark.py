"""Tiled watermarks (`curate.filters.overlay`, the overlay check of `verify.link_pairs`) on real photos, against the
rule without it, in one run.

Audit DF (2026-12-07) found copies under rows of "© STOCKPIX" tiled over the whole photo (white, alpha 110) linked
to their photo 10 of 30 by default: the pHash stays within 0-10 bits, but the text moves the 16x12 thumbnails'
colours 4.5-12.8 and tones 3.1-8.6 apart and the embedding's cosine to 0.65-0.92. This bench puts a watermark over
real photos (the Ferrari photos, every `--every`th of 15-Scene's train and test halves and of the ImageNet sample,
Lund's 29 frames), two copies of each:

* varied: a watermark drawn per photo (seeded by its position, other seeds than the exploration that chose
  `overlay.OVERLAY_*`): one of six texts and six fonts, 3-6 rows, the text 1/10-1/18 of the width, opacity 60-140,
  white, light grey or near-black, level or turned 30-45°; saved as JPEG q 85, half of them also shrunk to 0.8;
* shared: the audit's watermark on every photo (JPEG q 92): different photos under the same text;

and links them all with `verify.link_pairs` as the pandas engine sees them (pHashes, mirrored and border-trimmed
ones, 16x12 thumbnails, the stored images' grey views; no embeddings, whose `near_dup_verify_cosine` 0.85 adds the
copies that stay that close), under the strict limits (colour 4, tone off: what a crowded collection such as the
audit's gets) and the real-photo ones (colour 8, tone 5), each with and without the overlay check. It prints, per
rule: the copies linked to their photo (recall, and the ratio to the rule without the check), and the false links:
pairs of images of different photos linked (15-Scene holds exact duplicates and a few brightened ones: photos whose
originals the rule without the check links under the real-photo limits are one photo here), with Lund's frames
counted apart (one cathedral, which the filter partly links by design: docs/cleaning-duplicates.md).

    .venv/bin/python bench/tiled_watermark.py [--every 4] [--pairs 4000]
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
REALDATA = ROOT.parent / "shared" / "realdata"
FONT_DIR = Path("/usr/share/fonts/truetype")
FONTS = ["dejavu/DejaVuSans-Bold.ttf", "dejavu/DejaVuSerif.ttf", "liberation/LiberationSans-Regular.ttf",
         "liberation/LiberationSerif-Bold.ttf", "noto/NotoSansMono-Regular.ttf",
         "dejavu/DejaVuSansCondensed-Oblique.ttf"]
TEXTS = ["© STOCKPIX", "PREVIEW", "© photobank.example", "DO NOT COPY", "sample • sample", "© J. Doe 2024"]
COLOURS = [(255, 255, 255), (255, 255, 255), (200, 200, 200), (20, 20, 20)]
SEED = 10_000  # the exploration drew its watermarks with seeds 0..5613


def varied(image: Image.Image, seed: int) -> Image.Image:
    """A watermark drawn for this photo (see the module docstring), the copy saved as JPEG q 85."""
    from tests.test_neardup_watermark import tiled_watermark

    rng = random.Random(SEED + seed)
    fonts = [str(FONT_DIR / name) for name in FONTS if (FONT_DIR / name).is_file()]
    copy = tiled_watermark(image, rng.choice(TEXTS), rng.randint(60, 140), rng.choice(COLOURS),
                           rng.choice([0, 0, 30, -30, 45]), rng.choice(fonts or [""]), rng.randint(10, 18),
                           rng.randint(3, 6), quality=85, min_size=14)
    return copy.resize((round(copy.width * 0.8), round(copy.height * 0.8)), Image.BILINEAR) if seed % 2 else copy


def no_overlay(evidence, rule, first, *_) -> np.ndarray:
    """`verify._overlay_links` made to link nothing: the rule without the overlay check."""
    return np.zeros(len(first), bool)


def main() -> None:
    from curate.filters import neardup, verify
    from curate.filters.windows import stored_grey_view
    from curate.groups import components_from_pairs
    from curate.store import open_rgb
    from curate.vision import features
    from tests.test_neardup_watermark import tiled_watermark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=4, help="every Nth photo of 15-Scene and the ImageNet sample")
    parser.add_argument("--pairs", type=int, default=verify.DEFAULT_WINDOW_PAIRS,
                        help="candidate pairs matched on pixels at most (--near-dup-window-pairs)")
    args = parser.parse_args()
    started = time.monotonic()
    paths = sorted((REALDATA / "flickr-ferrari").glob("*/*.jpg"))
    paths += sorted((REALDATA / "scenes15").glob("*/*/*.jpg"))[::args.every]
    paths += sorted((REALDATA / "imagenet-sample").glob("*.jpg"))[::args.every]
    paths += sorted((REALDATA / "opensfm-lund").glob("*.jpg"))
    n = len(paths)
    with tempfile.TemporaryDirectory() as scratch:
        stored = []
        for k, path in enumerate(paths):
            photo = open_rgb(path)
            for kind, image in (("o", photo), ("v", varied(photo, k)), ("s", tiled_watermark(photo))):
                stored.append(Path(scratch) / f"{k:05d}{kind}.jpg")
                image.save(stored[-1], quality=95 if kind == "o" else 100)  # the copies are JPEG already
        made = features.compute_features(stored, 2)
        hashes = neardup.phash_to_uint64([found["phash"] for found in made])
        mirrors = neardup.phash_to_uint64([found["phash_mirror"] for found in made])
        trimmed = neardup.phash_to_uint64([found["phash_trimmed"] or found["phash"] for found in made])
        thumbs = np.stack([np.frombuffer(features.thumbnail_bytes(found), np.uint8) for found in made])
        views: dict[int, np.ndarray | None] = {}

        def read_grey(position: int) -> np.ndarray | None:
            if position not in views:
                views[position] = stored_grey_view(stored[position])
            return views[position]

        evidence = verify.Evidence(hashes, mirrors, thumbs, trimmed=trimmed, read_grey=read_grey)
        photo_of = np.repeat(np.arange(n), 3)
        lund = np.array(["opensfm-lund" in str(path) for path in paths])
        print(f"{n} real photos ({sum('flickr' in str(p) for p in paths)} Ferrari, "
              f"{sum('scenes15' in str(p) for p in paths)} 15-Scene, {sum('imagenet' in str(p) for p in paths)} "
              f"ImageNet sample, {int(lund.sum())} Lund), each with a varied and a shared watermark: {3 * n} images")
        without = verify._overlay_links
        verify._overlay_links = no_overlay
        # photos whose originals the rule without the check links under the real-photo limits (the data sets' own
        # duplicates: 15-Scene holds exact copies and a few brightened ones) are one photo here
        first, second, _ = verify.link_pairs(evidence, verify.LinkRule(max_bits=neardup.DEFAULT_NEAR_DUP_BITS,
                                                                       colour_diff=8.0, tone_diff=5.0))
        originals = (first % 3 == 0) & (second % 3 == 0)
        same = components_from_pairs(n, photo_of[first[originals]], photo_of[second[originals]])
        verify._overlay_links = without
        print(f"one photo: {n - len(np.unique(same))} of the {n} photos are another's duplicate (linked as originals)")
        for name, colour, tone in (("strict (colour 4, tone off)", 4.0, None),
                                   ("real-photo (colour 8, tone 5)", 8.0, 5.0)):
            rule = verify.LinkRule(max_bits=neardup.DEFAULT_NEAR_DUP_BITS, colour_diff=colour, tone_diff=tone,
                                   window_pairs=args.pairs)
            results = {}
            for check in ("without", "with"):
                verify._overlay_links = without if check == "with" else no_overlay
                tick = time.monotonic()
                first, second, counts = verify.link_pairs(evidence, rule)
                results[check] = (first, second, counts, time.monotonic() - tick)
            verify._overlay_links = without
            print(f"\n{name}:")
            for check in ("without", "with"):
                first, second, counts, seconds = results[check]
                labels = components_from_pairs(3 * n, first, second)
                copies = np.arange(n) * 3
                found = {kind: int((labels[copies] == labels[copies + offset]).sum()) for kind, offset in
                         (("varied", 1), ("shared", 2))}
                other = same[photo_of[first]] != same[photo_of[second]]
                in_lund = other & lund[photo_of[first]] & lund[photo_of[second]]
                shared = other & ~in_lund & (first % 3 == 2) & (second % 3 == 2)
                results[check] += (found, int((other & ~in_lund).sum()), int(shared.sum()), int(in_lund.sum()))
                bits, shared_bits = (np.minimum(neardup.hamming_distance(hashes[copies], hashes[copies + offset]),
                                                neardup.hamming_distance(hashes[copies], mirrors[copies + offset]))
                                     for offset in (1, 2))
                by_set = ", ".join(
                    f"{label} {int((labels[copies] == labels[copies + 1])[chosen].sum())}/{int(chosen.sum())}"
                    for label, chosen in ((name_, np.array([key in str(path) for path in paths]))
                                          for name_, key in (("Ferrari", "flickr"), ("15-Scene", "scenes15"),
                                                             ("ImageNet", "imagenet"))))
                print(f"  {check:7s} the overlay check: varied copies linked {found['varied']} of {n} "
                      f"({found['varied'] / n:.2f}), audit's watermark {found['shared']} of {n} "
                      f"({found['shared'] / n:.2f}); false links {int((other & ~in_lund).sum())} (between two "
                      f"photos under the shared watermark {int(shared.sum())}), Lund frame links {int(in_lund.sum())};"
                      f" overlay links {counts.get('hash_overlay', 0)} of {counts.get('overlay_candidates', 0)} "
                      f"candidates; {seconds:.1f} s\n            varied by set: {by_set}; varied copies over "
                      f"{neardup.DEFAULT_NEAR_DUP_BITS} bits from their photo (no candidate): "
                      f"{int((bits > neardup.DEFAULT_NEAR_DUP_BITS).sum())}, audit's "
                      f"{int((shared_bits > neardup.DEFAULT_NEAR_DUP_BITS).sum())}")
                kinds = "ovs"
                for a, b in list(zip(first[other & ~in_lund], second[other & ~in_lund]))[:10]:
                    print(f"            false link: {paths[photo_of[a]].relative_to(REALDATA)} ({kinds[a % 3]}) - "
                          f"{paths[photo_of[b]].relative_to(REALDATA)} ({kinds[b % 3]})")
            before, after = results["without"][4], results["with"][4]
            print(f"  ratio to the rule without it: varied {after['varied'] / max(1, before['varied']):.2f}x, "
                  f"audit's {after['shared'] / max(1, before['shared']):.2f}x; new false links "
                  f"{results['with'][5] - results['without'][5]}, new Lund links "
                  f"{results['with'][7] - results['without'][7]}")
    print(f"machine: {platform.machine()}, {platform.python_version()}; {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
