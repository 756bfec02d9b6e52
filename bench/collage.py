"""Collage panels (`curate.filters.panels.panel_phashes`, `curate.filters.pixel_links._add_panel_links`) on real
photos, against a plain pHash baseline, in one run.

Audit DF (2026-12-07) found a collage of two photos side by side (a 20 px white gutter, 600 px high) linked to
neither photo (1 and 2 of 30). This bench collages real photos that chose no threshold (the Ferrari photos after
the first 50 in path order, which chose `panels.PANEL_*` and `pixel_links.PANEL_MIN_AGREEMENT`, and every 30th
photo of 15-Scene's test half) in consecutive pairs, in that form (JPEG q 90), and prints

* panel: the collage linked to each of its photos by `verify.link_pairs` (the photos and the collages as the
  pandas engine sees them: pHashes, panel pHashes, the grey views; no thumbnails or embeddings, so only the hash
  and pixel rules run), and the links between a collage and a photo not in it (false);
* baseline: a plain pHash of the whole collage (imagehash.phash at full size) within 10 bits of the photo's
  (imagededup's PHash default);

then how many ordinary real photos (every photo of ../shared/realdata) get panels at all: only an image at least
1.5 times as wide as high (or high as wide) can, so the others are counted without a decode.

    .venv/bin/python bench/collage.py [--every 30]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
REALDATA = ROOT.parent / "shared" / "realdata"
CHOOSING = 50  # the first Ferrari photos in path order chose the thresholds


def main() -> None:
    from curate.filters import neardup, verify
    from curate.filters.panels import PANEL_MIN_ASPECT, parse_panel_phashes
    from curate.filters.pixel_scores import grey_view
    from curate.store import map_images, open_rgb
    from curate.vision import features
    from tests.test_collage_panels import collage  # the audit's collage, as the tests draw it

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=30, help="every Nth photo of 15-Scene's test half")
    args = parser.parse_args()
    started = time.monotonic()
    paths = sorted((REALDATA / "flickr-ferrari").glob("*/*.jpg"))[CHOOSING:]
    paths += sorted((REALDATA / "scenes15" / "test").glob("*/*.jpg"))[::args.every]
    paths = paths[:len(paths) // 2 * 2]
    photos = [open_rgb(path) for path in paths]
    collages = [collage(photos[k], photos[k + 1]) for k in range(0, len(photos), 2)]
    images = photos + collages
    made = [features.image_features(image) for image in images]
    hashes = neardup.phash_to_uint64([found["phash"] for found in made])
    panels, has_panels = parse_panel_phashes([found["phash_panels"] for found in made])
    views = [grey_view(image) for image in images]
    evidence = verify.Evidence(hashes, read_grey=views.__getitem__, panels=panels, has_panels=has_panels)
    first, second, counts = verify.link_pairs(evidence, verify.LinkRule(max_bits=neardup.DEFAULT_NEAR_DUP_BITS))
    linked = set(zip(first.tolist(), second.tolist())) | set(zip(second.tolist(), first.tolist()))
    n = len(photos)
    truth = {(n + k // 2, k) for k in range(n)}  # (collage, photo in it)
    found = sum(pair in linked for pair in truth)
    false = sum(1 for a, b in linked if a >= n and b < n and (a, b) not in truth)
    false_photos = sum(1 for a, b in linked if a < n and b < n and a < b)
    plain = [imagehash.phash(image) for image in images]
    baseline = sum(plain[c] - plain[p] <= 10 for c, p in truth)
    has = int(has_panels[:n].sum()), int(has_panels[n:].sum())
    print(f"{n} real photos ({sum('flickr' in str(p) for p in paths)} Ferrari after the "
          f"first {CHOOSING}, {sum('scenes15' in str(p) for p in paths)} 15-Scene test) in {len(collages)} collages")
    print(f"collages with panels: {has[1]} of {len(collages)}; photos with panels: {has[0]} of {n}")
    print(f"linked to its photo, panel: {found} of {n} ({found / n:.2f}); panel candidates "
          f"{counts.get('panel_candidates', 0)}, panel links {counts.get('panel', 0)}")
    print(f"linked to its photo, baseline pHash <= 10 bits: {baseline} of {n} ({baseline / n:.2f})")
    print(f"false links: collage to a photo not in it {false}; photo to photo {false_photos}")

    every = sorted(REALDATA.glob("**/*.jpg"))
    measured = [found for found in map_images(features.features_of_file, every, 2)]
    readable = [k for k, found in enumerate(measured) if found is not None]
    shaped = sum(max(size) >= PANEL_MIN_ASPECT * min(size) for size in (Image.open(p).size for p in every))
    with_panels = [every[k] for k in readable if measured[k]["phash_panels"]]
    print(f"ordinary real photos with panels: {len(with_panels)} of {len(every)} ({len(with_panels) / len(every):.2%});"
          f" {shaped} are 1.5x as wide as high or more")
    for path in with_panels:
        print(f"  {path.relative_to(REALDATA)}")
    # their panels against every real photo's pHash, confirmed on pixels as the filter would
    hashes = neardup.phash_to_uint64([measured[k]["phash"] for k in readable])
    panels, has_panels = parse_panel_phashes([measured[k]["phash_panels"] for k in readable])
    evidence = verify.Evidence(hashes, read_grey=lambda k: grey_view(open_rgb(every[readable[k]])), panels=panels,
                               has_panels=has_panels)
    counts: dict[str, int] = {}
    from curate.filters.pixel_links import _add_panel_links

    _add_panel_links(evidence, verify.LinkRule(max_bits=neardup.DEFAULT_NEAR_DUP_BITS), np.zeros(0, np.int64),
                     np.zeros(0, np.int64), counts)
    print(f"  their panels within {neardup.DEFAULT_NEAR_DUP_BITS} bits of another real photo's pHash: "
          f"{counts['panel_candidates']} pairs; linked on pixels: {counts['panel']}")
    print(f"machine: {platform.machine()}, {platform.python_version()}; {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
