"""Which copy of a picture the filter keeps: the keep rule against the rules before it, on real photos.

For real photos (ImageNet sample and Flickr Ferraris, at least 150 px on the short side; by default not the
ones that chose the thresholds: the first 30 of each, with 20 15-Scene photos) this makes the reposts audit
AV1 found kept in place of their originals (upscaled 1.5x + blur + JPEG q40, a plain 2x upscale,
letterboxed, greyscale), the ones audit AX found (a 2x upscale sharpened, a 1.25x upscale, a 2x upscale
saved at q40) and honest copies (downscaled to 70 % q60, shrunk to 0.6 and sharpened for the web, shrunk to
256 px), then
1. prints the two upscale measures for each pair (the copy with more pixels against the one with fewer):
   the detail ratio read at ingest (Laplacian variance, both measured at 256 px; `duplicates.UPSCALED_DETAIL`)
   and the pixels' `upscale.upscale_score` (`upscale.UPSCALE_SCORE`);
2. puts each original with its copies in one group and counts, for the keep rule
   (`duplicates.representative_order` with `upscaled_copies` reading the pixels), the rule of 2026-12-06
   (the detail ratio alone, at 0.8) and the most-pixels rule before it (both baselines, same run), how often
   the original is the copy kept.

With `--limits`, it instead scores harder pairs on 40 of the photos (a downscale saved at JPEG q10-q20, with
noise, more contrast, blurred or strongly sharpened; an original saved at q30; upscales by nearest neighbour,
by Lanczos into a PNG, with added grain, and of a q20 copy) and prints how often `upscale_score` is wrong.

With `--soft` (audit DY F4), it puts real photos of all four sets (15-Scene, ImageNet sample, OpenSfM Lund, Flickr
Ferraris; not the ones that chose BAND_EVIDENCE) beside their 60 % and 75 % Lanczos copies (q92) and, as another
picture, a half-size copy beside its 2x bicubic upscale, and counts through the keep rule how often the original
is kept and the upscale is not, with the band test (`upscale.BAND_EVIDENCE`) and without it (the score alone).

    .venv/bin/python bench/keep_rule.py [--photos 140] [--with-calibration] [--limits | --soft]
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

from curate.filters import duplicates, upscale  # noqa: E402
from curate.vision.features import image_features  # noqa: E402

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def copies(image: Image.Image):
    width, height = image.size
    up = lambda scale: image.resize((round(width * scale), round(height * scale)), Image.BICUBIC)  # noqa: E731
    down = lambda scale: image.resize((round(width * scale), round(height * scale)), Image.LANCZOS)  # noqa: E731
    yield "upscaled 1.5x, blur, q40", jpeg(up(1.5).filter(ImageFilter.GaussianBlur(1)), 40)
    yield "upscaled 2x", jpeg(up(2), 95)
    yield "upscaled 2x, sharpened", jpeg(up(2).filter(ImageFilter.UnsharpMask(2, 150, 3)), 90)
    yield "upscaled 1.25x", jpeg(up(1.25), 90)
    yield "upscaled 2x, q40", jpeg(up(2), 40)
    framed = Image.new("RGB", (width, int(height * 1.3)))
    framed.paste(image, (0, int(height * 0.15)))
    yield "letterboxed", jpeg(framed, 92)
    yield "greyscale", jpeg(image.convert("L").convert("RGB"), 95)
    yield "downscaled 70 %, q60", jpeg(down(0.7), 60)
    yield "web: 0.6, sharpened", jpeg(down(0.6).filter(ImageFilter.UnsharpMask(1, 60, 2)), 85)
    if min(image.size) > 300:
        yield "shrunk to 256 px", jpeg(down(256 / min(image.size)), 90)


KINDS = [kind for kind, _ in copies(Image.new("RGB", (400, 400)))]
RESIZED = [kind for kind in KINDS if kind not in ("letterboxed", "greyscale")]


def row(photo_id: str, group: str, image: Image.Image) -> dict:
    features = image_features(image)
    return {"photo_id": photo_id, "group": group, "width": image.size[0], "height": image.size[1],
            "laplacian_var": features["laplacian_var"], "chroma_mean": features["chroma_mean"],
            "phash_trimmed": features["phash_trimmed"], "taken_at": pd.Timestamp("2021-06-01"), "status": "kept",
            "label": "x"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=140)
    parser.add_argument("--limits", action="store_true", help="score the harder pairs instead (see above)")
    parser.add_argument("--soft", action="store_true", help="originals beside their 60 %% / 75 %% copies (see above)")
    parser.add_argument("--with-calibration", action="store_true",
                        help="also the photos that chose UPSCALE_SCORE (the first 30 ImageNet and Ferrari ones)")
    args = parser.parse_args()
    if args.limits:
        limits()
        return
    if args.soft:
        soft()
        return
    skip = 0 if args.with_calibration else 30
    paths = (sorted((REALDATA / "imagenet-sample").glob("n*.jpg"))[skip:][::7]
             + sorted((REALDATA / "flickr-ferrari").rglob("*.jpg"))[skip:])
    started, rows, images, detail, scores = time.monotonic(), [], {}, {}, {}
    for index, path in enumerate(paths):
        image = Image.open(path).convert("RGB")
        if min(image.size) < 150:
            continue
        original = row(f"{index:04d}:original", f"g{index}", image)
        rows.append(original)
        images[original["photo_id"]] = image
        for kind, copy in copies(image):
            rows.append(row(f"{index:04d}:{kind}", f"g{index}", copy))
            images[rows[-1]["photo_id"]] = copy
            if kind not in RESIZED:
                continue
            (big, big_image), (small, small_image) = sorted(
                [(rows[-1], copy), (original, image)], key=lambda pair: -pair[1].size[0] * pair[1].size[1])
            if min(small_image.size) >= 256:
                detail.setdefault(kind, []).append(big["laplacian_var"] / max(small["laplacian_var"], 1e-9))
            scores.setdefault(kind, []).append(upscale.upscale_score(big_image, small_image))
        if len({r["group"] for r in rows}) >= args.photos:
            break
    catalog = pd.DataFrame(rows)
    catalog["taken_at"] = catalog["taken_at"].astype("datetime64[us]")
    catalog["sha256"] = catalog["photo_id"]
    groups = catalog["group"]
    print(f"{groups.nunique()} real photos, {len(catalog) - groups.nunique()} copies "
          f"({time.monotonic() - started:.0f} s to make and measure)")
    print(f"\nthe copy with more pixels against the one with fewer: detail ratio at 256 px (both >= 256 px; "
          f"upscale under {duplicates.UPSCALED_DETAIL}) and upscale_score (under {upscale.UPSCALE_SCORE}); "
          "min / 5th pct / median / 95th pct / max, and the share under the threshold")
    for kind in RESIZED:
        for name, values, limit in (("detail", detail.get(kind, []), duplicates.UPSCALED_DETAIL),
                                    ("pixels", scores.get(kind, []), upscale.UPSCALE_SCORE)):
            values = np.asarray(values, float)
            values = values[np.isfinite(values)]
            if len(values):
                low, p5, mid, p95, high = np.percentile(values, [0, 5, 50, 95, 100])
                print(f"  {kind:26s} {name:6s} n={len(values):3d}  {low:5.2f} {p5:5.2f} {mid:5.2f} {p95:5.2f} "
                      f"{high:5.2f}   under: {float((values < limit).mean()):4.0%}")

    def opener(key: str, min_side: int) -> Image.Image:
        return images[key]

    def kept_originals(frame: pd.DataFrame) -> dict[str, float]:
        keys = frame["group"]
        rules = {"keep rule": duplicates.group_representatives(
                     frame, keys, duplicates.upscaled_copies(frame, keys, opener, workers=2)),
                 "detail at 0.8 (12-06)": duplicates.group_representatives(frame, keys, _detail_rule(frame, keys)),
                 "most pixels": duplicates.group_representatives(
                     frame.drop(columns=["phash_trimmed", "chroma_mean", "laplacian_var"]), keys)}
        return {name: float(kept.drop_duplicates().str.endswith(":original").mean()) for name, kept in rules.items()}

    print("\noriginal kept:                       keep rule  detail at 0.8 (12-06)  most pixels (baselines)")
    for kind in KINDS:
        pair = catalog[catalog["photo_id"].str.endswith(":original") | catalog["photo_id"].str.endswith(f":{kind}")]
        pair = pair[pair["group"].isin(pair.loc[pair["photo_id"].str.endswith(f":{kind}"), "group"])]
        shares = kept_originals(pair)
        print(f"  original + {kind:26s} {shares['keep rule']:6.0%}  {shares['detail at 0.8 (12-06)']:14.0%}  "
              f"{shares['most pixels']:14.0%}")
    shares = kept_originals(catalog)
    keys = catalog["group"]
    kept = duplicates.group_representatives(catalog, keys, duplicates.upscaled_copies(catalog, keys, opener, workers=2))
    instead = kept.drop_duplicates()
    instead = instead[~instead.str.endswith(":original")].str.split(":").str[1].value_counts()
    print("  (with all its copies, the copy kept instead of the original: "
          + ", ".join(f"{kind} {n}" for kind, n in instead.items()) + ")")
    print(f"  original + all its copies at once   {shares['keep rule']:6.0%}  {shares['detail at 0.8 (12-06)']:14.0%}  "
          f"{shares['most pixels']:14.0%}")


def limits() -> None:
    """`upscale_score` on pairs made to be hard (module docstring), 20 Ferraris and 20 ImageNet photos."""
    def resized(image: Image.Image, scale: float, kind=Image.LANCZOS) -> Image.Image:
        return image.resize((round(image.width * scale), round(image.height * scale)), kind)

    def noisy(image: Image.Image, sigma: float) -> Image.Image:
        pixels = np.asarray(image, float) + np.random.default_rng(0).normal(0, sigma, np.asarray(image).shape)
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

    from PIL import ImageEnhance

    cases = {  # name -> (larger, smaller) of an original o; "up" cases: the larger is the upscale
        "original > its half at q20": lambda o: (o, jpeg(resized(o, .5), 20)),
        "original > its half at q10": lambda o: (o, jpeg(resized(o, .5), 10)),
        "original > its half with noise": lambda o: (o, jpeg(noisy(resized(o, .5), 8), 90)),
        "original > its half, contrast x1.5": lambda o: (o, jpeg(ImageEnhance.Contrast(resized(o, .5)).enhance(1.5),
                                                                90)),
        "original at q30 > its half": lambda o: (jpeg(o, 30), jpeg(resized(o, .5), 90)),
        "original > its half blurred": lambda o: (o, jpeg(resized(o, .5).filter(ImageFilter.GaussianBlur(1)), 90)),
        "original > 0.75, sharpened hard": lambda o: (
            o, jpeg(resized(o, .75).filter(ImageFilter.UnsharpMask(2, 250, 0)), 90)),
        "up 2x nearest neighbour": lambda o: (jpeg(resized(o, 2, Image.NEAREST), 90), o),
        "up 2x Lanczos, PNG": lambda o: (resized(o, 2), o),
        "up 2x with grain": lambda o: (jpeg(noisy(resized(o, 2, Image.BICUBIC), 6), 90), o),
        "up 1.5x of a q20 copy": lambda o: (jpeg(resized(jpeg(o, 20), 1.5, Image.BICUBIC), 90), jpeg(o, 20)),
    }
    paths = (sorted((REALDATA / "flickr-ferrari").rglob("*.jpg"))[70:90]
             + sorted((REALDATA / "imagenet-sample").glob("n*.jpg"))[600:620])
    originals = [Image.open(path).convert("RGB") for path in paths]
    print(f"upscale_score on {len(originals)} real photos (wrong: an original under {upscale.UPSCALE_SCORE}, an "
          "upscale at or over it)")
    for name, make in cases.items():
        scores = np.array([upscale.upscale_score(*make(original)) for original in originals])
        scores = scores[np.isfinite(scores)]
        wrong = (scores >= upscale.UPSCALE_SCORE) if name.startswith("up") else (scores < upscale.UPSCALE_SCORE)
        print(f"  {name:36s} n={len(scores)}  min {scores.min():.2f}  median {np.median(scores):.2f}  "
              f"max {scores.max():.2f}  wrong {wrong.mean():4.0%}")


def soft() -> None:
    """The keep rule on originals beside their downscales and on true upscales, with and without the band test."""
    def resized(image: Image.Image, scale: float, kind=Image.LANCZOS) -> Image.Image:
        return image.resize((round(image.width * scale), round(image.height * scale)), kind)

    sets = {"15-Scene": sorted((REALDATA / "scenes15" / "train").rglob("*.jpg"))[7::15][:60],
            "ImageNet sample": sorted((REALDATA / "imagenet-sample").glob("n*.jpg"))[8::17][:40],
            "OpenSfM Lund": sorted((REALDATA / "opensfm-lund").glob("*.jpg"))[15:30],
            "Flickr Ferraris": sorted((REALDATA / "flickr-ferrari").rglob("*.jpg"))[4::9][:30]}
    rows, images = [], {}
    for name, paths in sets.items():
        for index, path in enumerate(paths):
            image = Image.open(path).convert("RGB")
            if min(image.size) > 1024:  # the pixels judge at most 2x the smaller copy: as a 1024 px download
                image = resized(image, 1024 / min(image.size))
            if min(image.size) < 150:
                continue
            half = jpeg(resized(image, 0.5), 92)
            for kind, copy in (("original", image), ("60 %", jpeg(resized(image, 0.6), 92)),
                               ("75 %", jpeg(resized(image, 0.75), 92)), ("half", half),
                               ("upscale", jpeg(half.resize(image.size, Image.BICUBIC), 92))):
                group = f"{name}:{index}:" + ("up" if kind in ("half", "upscale") else "photo")
                rows.append({**row(f"{name}:{index}:{kind}", group, copy), "set": name, "kind": kind})
                images[rows[-1]["photo_id"]] = copy
    catalog = pd.DataFrame(rows)
    catalog["taken_at"] = catalog["taken_at"].astype("datetime64[us]")
    catalog["sha256"] = catalog["photo_id"]

    def kept(frame: pd.DataFrame) -> pd.Series:
        keys = frame["group"]
        upscaled = duplicates.upscaled_copies(frame, keys, lambda key, side: images[key], workers=2)
        return frame["photo_id"].isin(duplicates.group_representatives(frame, keys, upscaled))

    print(f"{catalog['group'].nunique() // 2} real photos: the copy the keep rule keeps, with the band test "
          f"(BAND_EVIDENCE {upscale.BAND_EVIDENCE}) / the score alone (before)")
    print("                   original over    original over    original over    half over")
    print("                   its 60 % copy    its 75 % copy    both             its 2x upscale")
    results = {}
    saved = upscale.BAND_EVIDENCE
    for rule, evidence in (("band", saved), ("score", float("inf"))):
        upscale.BAND_EVIDENCE = evidence
        try:
            for pair in (("60 %",), ("75 %",), ("60 %", "75 %"), ("upscale",)):
                frame = catalog[catalog["kind"].isin(("original", "half", *pair))].reset_index(drop=True)
                frame = frame[frame["group"].map(frame["group"].value_counts()) > 1].reset_index(drop=True)
                won = frame[kept(frame) & frame["kind"].isin(("original", "half"))]
                results[rule, pair] = (won.groupby("set").size().reindex(list(sets), fill_value=0),
                                       frame[frame["kind"].isin(("original", "half"))].groupby("set").size())
        finally:
            upscale.BAND_EVIDENCE = saved
    for name in [*sets, "all"]:
        cells = []
        for pair in (("60 %",), ("75 %",), ("60 %", "75 %"), ("upscale",)):
            counts = []
            for rule in ("band", "score"):
                won, total = results[rule, pair]
                won, total = (won.sum(), total.sum()) if name == "all" else (won[name], total.get(name, 0))
                counts.append(f"{won}")
            cells.append(f"{'/'.join(counts)} of {total}".ljust(17))
        print(f"  {name:17s}" + "".join(cells))


def _detail_rule(frame: pd.DataFrame, keys: pd.Series) -> np.ndarray:
    """The keep rule's upscale test of 2026-12-06: the detail ratio alone, at 0.8."""
    saved = duplicates.UPSCALED_DETAIL
    duplicates.UPSCALED_DETAIL = 0.8
    try:
        return duplicates.upscaled_copies(frame, keys)
    finally:
        duplicates.UPSCALED_DETAIL = saved


if __name__ == "__main__":
    main()
