"""Peak memory of the pixel pass on one large non-JPEG photo (audit AS 2), against plain Pillow in the
same run.

    .venv/bin/python bench/decode_memory.py [--side 8900] [--repeat 3]

The photo: a real Flickr Ferrari (../shared/realdata/flickr-ferrari; a smooth synthetic picture when the
folder is absent) enlarged to SIDE x SIDE (79 MP at 8900, under the 80 MP non-JPEG limit) as an RGBA PNG
whose top fifth is transparent (a cut-out product shot), with EXIF orientation 1 (shown as stored). Each
way of decoding it runs in a child process of its own, which prints its peak resident memory (VmHWM)
before and after the decode; the bench prints the median growth of each:

    pillow        Image.open, ImageOps.exif_transpose, convert("RGB"), thumbnail to 256 px: what a
                  plain pipeline does (the peer baseline)
    curate-before curate.store.decode_image(data, work_side=256) with `shrink_loaded` switched off:
                  the pass before the fix (full-size orientation and transparency work)
    curate        curate.store.decode_image(data, work_side=256) as shipped

and the ratios of curate to each. The pass keeps the file's bytes in memory too (`data`, read before
the first peak reading, so in none of the growths).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

FERRARI = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "flickr-ferrari"


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no /proc/self/status: Linux only")


def make_photo(path: Path, side: int) -> str:
    """The RGBA PNG described in the module; returns where its pixels came from."""
    import numpy as np
    from PIL import Image, ImageOps

    sources = sorted(FERRARI.rglob("*.jpg")) if FERRARI.exists() else []
    if sources:
        with Image.open(sources[0]) as opened:
            base, origin = ImageOps.exif_transpose(opened).convert("RGB"), f"{sources[0].name} (flickr-ferrari)"
    else:
        rng = np.random.default_rng(0)
        base, origin = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)), "a smooth synthetic picture"
    rgba = np.asarray(base.resize((side, side), Image.BICUBIC).convert("RGBA")).copy()
    rgba[: side // 5, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(path, compress_level=1)
    return origin


def child(way: str, path: str) -> None:
    from PIL import Image, ImageOps

    import curate.store as store

    data = Path(path).read_bytes()
    before = peak_mb()
    if way == "pillow":
        with Image.open(path) as image:
            plain = ImageOps.exif_transpose(image).convert("RGB")
            plain.thumbnail((256, 256))
    else:
        if way == "curate-before":
            store.shrink_loaded = lambda image, min_side: image
        store.decode_image(data, work_side=256)
    print(json.dumps({"growth_mb": peak_mb() - before}))


def run(way: str, path: Path) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", way, str(path)], check=True, capture_output=True,
                         text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)["growth_mb"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", type=int, default=8900)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cutout.png"
        origin = make_photo(path, args.side)
        ways = ("pillow", "curate-before", "curate")
        growth = {way: [] for way in ways}
        for _ in range(args.repeat):
            for way in ways:
                growth[way].append(run(way, path))
        size = path.stat().st_size
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; one {args.side}x"
          f"{args.side} RGBA PNG ({args.side * args.side / 1e6:.0f} MP, {size / 1e6:.0f} MB, from {origin}); "
          f"median of {args.repeat}")
    median = {way: statistics.median(values) for way, values in growth.items()}
    for way in ways:
        print(f"{way}: peak memory grew {median[way]:,.0f} MB in the decode")
    print(f"curate / pillow: {median['curate'] / median['pillow']:.2f}x; "
          f"curate / curate-before: {median['curate'] / median['curate-before']:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
