"""The border rule (`curate.filters.phash.content_box`) against the rule before it, on real photos, in one run.

Audit DF (2026-12-07) drew phone screenshots as phones make them today (1080x2340: a status bar, a white header
with the poster's name in 44 px bold, the photo at full width, a like line and a caption in 40 px bold, a
navigation bar) and found 2 of 30 linked to their photo: the header text ended the border, and a 16:9 photo fills
only 0.26 of such a screen. This bench frames real photos that chose no threshold (every 50th of 15-Scene's test
half, every 16th of the ImageNet sample) in those screenshots (short and long texts; the photo as it is and cut
to 16:9) and in the older frames of tests/test_frame_text_bars.py (audit BU's 540x960 screenshot, a 1080x1920
phone, dark and light), and prints, per frame and per rule:

* box: the photo's rows found to within 3 lines at the decode pass's 256 px (the tall screenshots, whose photo
  rows are known);
* found: the copy's `phash_trimmed` within 8 bits of the photo's pHash (what the filter's frame links start from);

with a plain pHash of the whole screenshot within 10 bits (imagededup's PHash default) as the peer baseline; then
how many ordinary real photos (every photo of ../shared/realdata but 15-Scene's test half) get a border at all
under each rule (a border on a photo that has none moves its trimmed hash; the filter still needs the embedding
to agree).

The rule before is read from git (`--before REV`, default the newest commit whose rule has another version than
the working tree's), so both run on the same decoded images.

    .venv/bin/python bench/border_rule.py [--before REV]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from curate.filters import phash as current  # noqa: E402
from curate.filters.quality import shrink_for_statistics  # noqa: E402
from curate.store import open_rgb  # noqa: E402
from tests.helpers import REALDATA  # noqa: E402
from tests.test_frame_text_bars import audit_screenshot, phone_screenshot, tall_phone_screenshot  # noqa: E402

SHORT = ("@cars", "nice")
LONG = ("@carspotter_official • Follow", "Look at this beauty #ferrari #cars #v12")


def rule_before(rev: str | None):
    """curate.filters.phash as it was at `rev` (a module of its own, beside today's)."""
    def source_at(commit: str) -> str:
        return subprocess.run(["git", "show", f"{commit}:curate/filters/phash.py"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout

    if rev is None:  # the newest commit whose rule is older than the working tree's
        log = subprocess.run(["git", "log", "--format=%H", "--", "curate/filters/phash.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        rev = next(commit for commit in log.stdout.split()
                   if f"BORDER_RULE_VERSION = {current.BORDER_RULE_VERSION}\n" not in source_at(commit))
    source = source_at(rev)
    path = Path(tempfile.mkdtemp()) / "phash_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("phash_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, rev


def grey_work(image: Image.Image) -> Image.Image:
    return shrink_for_statistics(image).convert("L")


def bits(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def to_16_9(photo: Image.Image) -> Image.Image:
    width, height = photo.size
    if width / height >= 16 / 9:
        return photo
    keep = round(width * 9 / 16)
    return photo.crop((0, (height - keep) // 2, width, (height - keep) // 2 + keep))


def framed(photo: Image.Image):
    """(kind, the photo as framed, the screenshot, its photo's (top, bottom) shares or None)."""
    wide = to_16_9(photo)
    for name, shown in (("as is", photo), ("16:9", wide)):
        for texts, label in ((SHORT, "short text"), (LONG, "long text")):
            shot, rows = tall_phone_screenshot(shown, *texts)
            yield f"1080x2340, {label}, photo {name}", shown, shot, rows
    yield "540x960 (audit BU)", photo, audit_screenshot(photo), None
    yield "1080x1920 dark", photo, phone_screenshot(photo), None
    yield "1080x1920 light", photo, phone_screenshot(photo, dark=False), None


def box_right(box, rows, height: int) -> bool:
    return box is not None and abs(box[0] - rows[0] * height) <= 3 and abs(box[1] - rows[1] * height) <= 3


def trimmed(rule, grey: Image.Image) -> str | None:
    box = rule.content_box(np.asarray(grey, dtype=np.float32))
    if box is None:
        return None
    top, bottom, left, right = box
    return str(imagehash.phash(grey.crop((left, top, right, bottom))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, help="git revision holding the rule to compare with")
    args = parser.parse_args()
    before, rev = rule_before(args.before)
    print(f"border rule {current.BORDER_RULE_VERSION} (working tree) against {before.BORDER_RULE_VERSION} ({rev})")
    started = time.perf_counter()
    photos = sorted((REALDATA / "scenes15" / "test").rglob("*.jpg"))[::50] + \
        sorted((REALDATA / "imagenet-sample").glob("*.jpg"))[::16]
    counts: dict[str, np.ndarray] = {}
    for path in photos:
        for kind, shown, shot, rows in framed(open_rgb(path)):
            original = str(imagehash.phash(grey_work(shown)))
            grey = grey_work(shot)
            height = grey.size[1]
            row = [bits(str(imagehash.phash(grey)), original) <= 10]
            for rule in (before, current):
                found = trimmed(rule, grey)
                row += [rows is not None and box_right(rule.content_box(np.asarray(grey, np.float32)), rows, height),
                        found is not None and bits(found, original) <= 8]
            counts.setdefault(kind, np.zeros(6, int))[:5] += row
            counts[kind][5] += 1
    print(f"\nframed copies of {len(photos)} real photos ({time.perf_counter() - started:.0f} s)")
    print(f"{'frame':40s} {'plain pHash':>12s} {'box, rule ' + str(before.BORDER_RULE_VERSION):>12s} "
          f"{'found':>6s} {'box, rule ' + str(current.BORDER_RULE_VERSION):>12s} {'found':>6s}")
    for kind, (plain, box0, found0, box1, found1, total) in counts.items():
        boxes = (f"{box0}/{total}", f"{box1}/{total}") if "1080x2340" in kind else ("-", "-")
        print(f"{kind:40s} {plain:>5d}/{total:<6d} {boxes[0]:>12s} {found0:>3d}/{total:<3d} {boxes[1]:>12s} "
              f"{found1:>3d}/{total:<3d}")
    totals = sum(counts.values())
    print(f"{'all':40s} {totals[0]:>5d}/{totals[5]:<6d} {'':>12s} {totals[2]:>3d}/{totals[5]:<3d} {'':>12s} "
          f"{totals[4]:>3d}/{totals[5]:<3d}   found, rule {current.BORDER_RULE_VERSION} against plain pHash: "
          f"{totals[4] / max(1, totals[0]):.1f}x; against rule {before.BORDER_RULE_VERSION}: "
          f"{totals[4] / max(1, totals[2]):.2f}x")

    print("\nordinary real photos with a border (a trimmed hash)")
    folders = {"scenes15/train": sorted((REALDATA / "scenes15" / "train").rglob("*.jpg")),
               "imagenet-sample": sorted((REALDATA / "imagenet-sample").glob("*.jpg")),
               "flickr-ferrari": sorted((REALDATA / "flickr-ferrari").rglob("*.jpg")),
               "opensfm-lund": sorted((REALDATA / "opensfm-lund").glob("*.jpg"))}
    for folder, paths in folders.items():
        found = [0, 0, 0]
        for path in paths:
            grey = np.asarray(grey_work(open_rgb(path)), dtype=np.float32)
            boxes = [rule.content_box(grey) for rule in (before, current)]
            found[0] += boxes[0] is not None
            found[1] += boxes[1] is not None
            found[2] += boxes[0] != boxes[1]
        print(f"{folder:18s} {len(paths):5d} photos: rule {before.BORDER_RULE_VERSION} {found[0]:3d}, rule "
              f"{current.BORDER_RULE_VERSION} {found[1]:3d} ({found[2]} boxes differ)")


if __name__ == "__main__":
    main()
