"""Which copy of a picture the filter keeps: the keep rule against the most-pixels rule, on real photos.

For real photos (ImageNet sample and Flickr Ferraris, at least 256 px on the short side) this makes the
reposts audit AV1 found kept in place of their originals (upscaled 1.5x + blur + JPEG q40, a plain 2x
upscale, letterboxed, greyscale) and honest copies (downscaled to 70 %, JPEG q60), then
1. prints the detail ratio the upscale test reads (Laplacian variance of the copy with more pixels over the
   one with fewer, both measured at 256 px): the evidence for `duplicates.UPSCALED_DETAIL`;
2. puts each original with its copies in one group and counts, for the keep rule
   (`duplicates.representative_order`) and for the most-pixels rule it replaced (the baseline, same run),
   how often the original (or, for the downscale, the original it came from) is the copy kept.

    .venv/bin/python bench/keep_rule.py [--photos 140]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.filters import duplicates  # noqa: E402
from curate.vision.features import image_features  # noqa: E402

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def copies(image: Image.Image):
    width, height = image.size
    yield "upscaled 1.5x, blur, q40", jpeg(image.resize((width * 3 // 2, height * 3 // 2), Image.BICUBIC)
                                           .filter(ImageFilter.GaussianBlur(1)), 40)
    yield "upscaled 2x", jpeg(image.resize((width * 2, height * 2), Image.BICUBIC), 95)
    framed = Image.new("RGB", (width, int(height * 1.3)))
    framed.paste(image, (0, int(height * 0.15)))
    yield "letterboxed", jpeg(framed, 92)
    yield "greyscale", jpeg(image.convert("L").convert("RGB"), 95)
    yield "downscaled 70 %, q60", jpeg(image.resize((int(width * 0.7), int(height * 0.7)), Image.LANCZOS), 60)


def row(photo_id: str, group: str, image: Image.Image) -> dict:
    features = image_features(image)
    return {"photo_id": photo_id, "group": group, "width": image.size[0], "height": image.size[1],
            "laplacian_var": features["laplacian_var"], "chroma_mean": features["chroma_mean"],
            "phash_trimmed": features["phash_trimmed"], "taken_at": pd.Timestamp("2021-06-01"), "status": "kept",
            "label": "x"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=140)
    args = parser.parse_args()
    paths = (sorted((REALDATA / "imagenet-sample").glob("n*.jpg"))[::7]
             + sorted((REALDATA / "flickr-ferrari").rglob("*.jpg")))
    started, rows, ratios = time.monotonic(), [], {}
    for index, path in enumerate(paths):
        image = Image.open(path).convert("RGB")
        if min(image.size) < 256:
            continue
        original = row(f"{index:04d}:original", f"g{index}", image)
        rows.append(original)
        for kind, copy in copies(image):
            rows.append(row(f"{index:04d}:{kind}", f"g{index}", copy))
            big, small = (rows[-1], original) if copy.size[0] * copy.size[1] > image.size[0] * image.size[1] \
                else (original, rows[-1])
            if min(copy.size) >= 256 and kind not in ("letterboxed", "greyscale"):
                ratios.setdefault(kind, []).append(big["laplacian_var"] / max(small["laplacian_var"], 1e-9))
        if len({r["group"] for r in rows}) >= args.photos:
            break
    catalog = pd.DataFrame(rows)
    catalog["taken_at"] = catalog["taken_at"].astype("datetime64[us]")
    groups = catalog["group"]
    print(f"{groups.nunique()} real photos, {len(catalog) - groups.nunique()} copies "
          f"({time.monotonic() - started:.0f} s to make and measure)")
    print("\nLaplacian variance, copy with more pixels / copy with fewer (both >= 256 px):")
    for kind, values in ratios.items():
        values = np.asarray(values)
        print(f"  {kind:24s} n={len(values):3d}  min {values.min():.2f}  median {np.median(values):.2f}  "
              f"max {values.max():.2f}")
    upscaled = duplicates.upscaled_copies(catalog, groups)
    kept_now = duplicates.group_representatives(catalog, groups, upscaled)
    plain = catalog.drop(columns=["phash_trimmed", "chroma_mean", "laplacian_var"])
    kept_before = duplicates.group_representatives(plain, groups)  # most pixels, then taken_at, then photo_id
    print(f"\noriginal kept (threshold {duplicates.UPSCALED_DETAIL}):  keep rule  most pixels (baseline)")
    for kind, _ in copies(Image.new("RGB", (300, 300))):
        either = catalog["photo_id"].str.endswith(":original") | catalog["photo_id"].str.endswith(f":{kind}")
        pair = catalog[either]
        pair_groups = pair["group"]
        now = duplicates.group_representatives(pair, pair_groups, duplicates.upscaled_copies(pair, pair_groups))
        before = duplicates.group_representatives(pair.drop(columns=["phash_trimmed", "chroma_mean",
                                                                     "laplacian_var"]), pair_groups)
        share = lambda kept: float(kept.drop_duplicates().str.endswith(":original").mean())  # noqa: E731
        print(f"  original + {kind:24s} {share(now):9.0%}  {share(before):9.0%}")
    share_all = lambda kept: float(kept.drop_duplicates().str.endswith(":original").mean())  # noqa: E731
    print(f"  original + all five copies   {share_all(kept_now):9.0%}  {share_all(kept_before):9.0%}")
    print(f"copies marked upscaled: {int(upscaled.sum())} of {len(catalog) - groups.nunique()}")


if __name__ == "__main__":
    main()
