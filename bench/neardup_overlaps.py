"""The overlap match (curate/filters/pixel_scores.py `overlap_score`) on real photos (`bench/neardup.py overlaps`).

Why: the window match finds a crop inside its original, with the inner picture spanning 60-100 % of the
outer's side. 15-Scene also holds one photo cut twice (two crops, neither inside the other) and zooms of
1.5x and more: the all-real-photos audit (docs/audits/all-realdata-2026-12-05.md, finding 3) found such
pairs across its published train/test split, and `curate check-leakage` said "no leakage".

Copies (real pixels, real JPEG): for each real original of bench/neardup_real.py (15-Scene, ImageNet,
Ferrari; split into a fit and a held-out half by original), `two_crops` (two windows of 60-85 % of each
side, one toward the top left and one toward the bottom right, sharing at least half of the smaller) and
`zoom` (a window of 90-100 % and a window of 40-55 % inside it: a 1.7-2.5x zoom, beyond the window match),
each stored at 256 px on its longer side and saved as JPEG (quality 80-90).
Different photos: every pair of the 30 opensfm-lund shots (one building, neighbouring viewpoints: the
hardest negatives at hand) and every pair of copies of different originals.
Rules: a pair is linked when its cosine is at least C and its overlap score at least S (grid below); the
rule allowed on the fit side links no different photos; the one with the best mean recall, then the
highest S, then the highest C is chosen and reported held out, beside the window match alone and
imagededup's PHash (10 bits, its default) on the same pairs.
15-Scene: the audit's 4 crop pairs and 6 pan or burst pairs, and every 15-Scene pair (train and test as
one collection) at the chosen cosine that the window match leaves apart: how many the chosen rule links,
and the lowest-scoring ones named (to check by eye: docs/benchmarks.md lists the verdicts).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
from neardup_real import REALDATA, cached_vectors, original_paths
from PIL import Image

GRID = {"cosine": (0.80, 0.85, 0.90), "score": (0.85, 0.88, 0.90, 0.92)}
KINDS = ("two_crops", "zoom")
SIDE = 256
# The all-real-photos audit's pairs (train file, test file), checked by eye there.
AUDIT_CROPS = [("Coast", 198, 211), ("Coast", 221, 2), ("Coast", 199, 94), ("Mountain", 323, 367)]
AUDIT_PANS = [("Street", 267, 272), ("TallBuilding", 118, 167), ("TallBuilding", 159, 79), ("Mountain", 347, 16),
              ("Mountain", 54, 326), ("TallBuilding", 73, 153)]


def _stored(image: Image.Image, rng) -> Image.Image:
    """`image` at SIDE px on its longer side, through a JPEG of quality 80-90 (as a scraped copy is)."""
    scale = SIDE / max(image.size)
    image = image.resize((max(8, round(image.width * scale)), max(8, round(image.height * scale))), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(80, 91)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _window(image: Image.Image, share: float, at: tuple[float, float]) -> tuple[int, int, int, int]:
    """The box of a window of `share` of each side placed at `at` (0-1 of the slack, x and y)."""
    width, height = image.size
    w, h = round(width * share), round(height * share)
    left, top = round((width - w) * at[0]), round((height - h) * at[1])
    return left, top, left + w, top + h


def _shared(a: tuple, b: tuple) -> float:
    """The area two boxes share over the smaller box's area."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def copy_pairs(original: Image.Image, rng) -> dict[str, tuple[Image.Image, Image.Image]]:
    """kind -> (copy, copy) of one original (the module docstring)."""
    while True:
        first = _window(original, rng.uniform(0.60, 0.85), (rng.uniform(0.0, 0.3), rng.uniform(0.0, 0.3)))
        second = _window(original, rng.uniform(0.60, 0.85), (rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0)))
        if _shared(first, second) >= 0.55:
            break
    outer = _window(original, rng.uniform(0.90, 1.0), (rng.uniform(0, 1), rng.uniform(0, 1)))
    inner_share = rng.uniform(0.40, 0.55)
    left, top, right, bottom = outer
    zoomed = original.crop(outer)
    inner = _window(zoomed, inner_share, (rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)))
    return {"two_crops": (_stored(original.crop(first), rng), _stored(original.crop(second), rng)),
            "zoom": (_stored(zoomed, rng), _stored(zoomed.crop(inner), rng))}


def build(seed: int):
    """(images, names, root per image (-1: a Lund shot), kind per image, fit mask per original root)."""
    from curate.store import open_rgb

    rng = np.random.default_rng(seed)
    paths = original_paths(seed=seed)
    images, names, root, kind = [], [], [], []
    for r, path in enumerate(paths):
        for name, pair in copy_pairs(open_rgb(path), rng).items():
            for k, image in enumerate(pair):
                images.append(image)
                names.append(f"overlaps/{seed}/{path.relative_to(REALDATA)}/{name}/{k}")
                root.append(r)
                kind.append(name)
    for path in sorted((REALDATA / "opensfm-lund").glob("*.jpg")):
        images.append(_stored(open_rgb(path), rng))
        names.append(f"overlaps/{seed}/{path.relative_to(REALDATA)}")
        root.append(-1)
        kind.append("lund")
    fit = np.random.default_rng(seed + 1).random(len(paths)) < 0.5
    return images, names, np.array(root), np.array(kind, dtype=object), fit


def scored_pairs(images: list, vectors: np.ndarray, root: np.ndarray, kind: np.ndarray, lowest: float):
    """Every pair that is a copy pair or has cosine >= lowest: (i, j, cosine, window score, overlap score)."""
    from curate.filters import pixel_scores

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    i, j = np.triu_indices(len(images), 1)
    copy = (root[i] == root[j]) & (root[i] >= 0) & (kind[i] == kind[j])
    keep = copy | (cosine[i, j] >= lowest) | ((root[i] < 0) & (root[j] < 0))
    i, j = i[keep], j[keep]
    views = [pixel_scores.grey_view(image) for image in images]
    window = np.array([pixel_scores.window_score(views[a], views[b]) for a, b in zip(i, j)])
    overlap = np.array([pixel_scores.overlap_score(views[a], views[b]) for a, b in zip(i, j)])
    return i, j, cosine[i, j], window, overlap


def _rates(pairs, root, kind, fit, half: bool, cosine: float, score: float | None, window_min: float) -> dict:
    """Recall per kind and false links (Lund, different originals) of a rule on one half."""
    i, j, cos, window, overlap = pairs
    r = np.where(root[i] >= 0, root[i], 0)
    in_half = np.where(root[i] >= 0, fit[r] == half, True) & np.where(root[j] >= 0, fit[np.maximum(root[j], 0)] == half,
                                                                       True)
    linked = (window >= window_min) & (cos >= 0.75)  # the window match as the library runs it (pre-gate aside)
    if score is not None:
        linked |= (cos >= cosine) & (overlap >= score)
    copy = (root[i] == root[j]) & (root[i] >= 0)
    out = {}
    for name in KINDS:
        mask = in_half & copy & (kind[i] == name)
        out[name] = float(linked[mask].mean()) if mask.any() else float("nan")
    out["lund"] = int((linked & in_half & (root[i] < 0) & (root[j] < 0)).sum())
    out["different"] = int((linked & in_half & (root[i] >= 0) & (root[j] >= 0) & (root[i] != root[j])).sum())
    return out


def _imagededup(images: list, pairs, root, kind, fit) -> None:
    try:
        from imagededup.methods import PHash
    except ImportError:
        print("imagededup: not installed (run with --imagededup)")
        return
    hasher = PHash(verbose=False)
    codes = [int(hasher.encode_image(image_array=np.asarray(image)), 16) for image in images]
    i, j = pairs[0], pairs[1]
    distance = np.array([bin(codes[a] ^ codes[b]).count("1") for a, b in zip(i, j)])
    copy = (root[i] == root[j]) & (root[i] >= 0)
    held = np.where(root[i] >= 0, ~fit[np.maximum(root[i], 0)], False)
    row = {name: float((distance[copy & held & (kind[i] == name)] <= 10).mean()) for name in KINDS}
    lund = int(((distance <= 10) & (root[i] < 0) & (root[j] < 0)).sum())
    print("held out, imagededup PHash (10 bits): " + ", ".join(f"{k} {v:.2f}" for k, v in row.items())
          + f"; Lund pairs linked (both halves) {lund}")


def _scenes(cache: Path | None, cosine: float, score: float) -> None:
    """The audit's pairs and every 15-Scene pair at `cosine` that the window match leaves apart."""
    from curate.filters import pixel_scores, verify
    from curate.store import open_rgb

    files = sorted((REALDATA / "scenes15").glob("*/*/*.jpg"))
    if not files:
        print("(no 15-Scene photos: skipped)")
        return
    names = [str(path.relative_to(REALDATA)) for path in files]
    cached = set(np.load(cache)["names"].tolist()) if cache is not None and cache.is_file() else set()
    vectors = cached_vectors([None if name in cached else open_rgb(path) for name, path in zip(names, files)],
                             names, cache)
    index = {name: k for k, name in enumerate(names)}
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    views: dict[int, np.ndarray] = {}

    def view(k: int) -> np.ndarray:
        if k not in views:
            views[k] = pixel_scores.grey_view(open_rgb(files[k]))
        return views[k]

    for title, pairs in (("crop pairs", AUDIT_CROPS), ("pan or burst pairs", AUDIT_PANS)):
        print(f"the audit's {title}:")
        for label, train, test in pairs:
            a = index[f"scenes15/train/{label}/image_{train:04d}.jpg"]
            b = index[f"scenes15/test/{label}/image_{test:04d}.jpg"]
            c = float(unit[a] @ unit[b])
            w, o = pixel_scores.window_score(view(a), view(b)), pixel_scores.overlap_score(view(a), view(b))
            linked = "window" if w >= verify.DEFAULT_WINDOW_SCORE else (
                "overlap" if c >= cosine and o >= score else "apart")
            print(f"  {label} {train:04d}/{test:04d}: cosine {c:.3f}, window {w:.3f}, overlap {o:.3f} -> {linked}")
    cos = unit @ unit.T
    i, j = np.triu_indices(len(files), 1)
    keep = cos[i, j] >= cosine
    i, j = i[keep], j[keep]
    started = time.perf_counter()
    window = np.array([pixel_scores.window_score(view(a), view(b)) for a, b in zip(i, j)])
    overlap = np.array([pixel_scores.overlap_score(view(a), view(b)) for a, b in zip(i, j)])
    seconds = time.perf_counter() - started
    apart = window < verify.DEFAULT_WINDOW_SCORE
    linked = apart & (overlap >= score)
    across = np.array([names[a].split("/")[1] != names[b].split("/")[1] for a, b in zip(i, j)])
    print(f"15-Scene (train and test as one collection): {len(i)} pairs at cosine >= {cosine:g}, "
          f"{int((~apart).sum())} linked by the window match, {int(linked.sum())} more by the overlap match "
          f"({int((linked & across).sum())} of them across the published split); both scores in {seconds:.0f} s "
          f"({1000 * seconds / max(len(i), 1):.0f} ms a pair on one core)")
    band = np.flatnonzero(apart & (overlap >= score - 0.06))
    print("  the pairs the window match leaves apart nearest the overlap threshold (check by eye):")
    for k in band[np.argsort(overlap[band])][:30]:
        print(f"    {names[i[k]]} ~ {names[j[k]]}: overlap {overlap[k]:.3f}, cosine {cos[i[k], j[k]]:.3f}"
              + (" LINKED" if linked[k] else ""))


def _choose(table: dict) -> tuple:
    """The allowed rule (no different photos linked) with the best mean recall, then the highest score, then
    the highest cosine (the fewest pairs to match)."""
    allowed = [rule for rule, row in table.items() if row["lund"] == 0 and row["different"] == 0]
    return max(allowed, key=lambda rule: (round(float(np.mean([table[rule][k] for k in KINDS])), 2), rule[1], rule[0]))


def run_overlaps(args) -> None:
    from curate.filters import verify

    if not (REALDATA / "opensfm-lund").is_dir():
        print(f"(no real photos at {REALDATA}: skipped)")
        return
    images, names, root, kind, fit = build(args.seed)
    print(f"{len(fit)} real originals x {len(KINDS)} copy pairs + {int((root < 0).sum())} opensfm-lund shots = "
          f"{len(images)} images; fit half {int(fit.sum())} originals, held out {int((~fit).sum())}")
    vectors = cached_vectors(images, names, args.vectors)
    started = time.perf_counter()
    pairs = scored_pairs(images, vectors, root, kind, min(GRID["cosine"]))
    print(f"{len(pairs[0])} pairs scored in {time.perf_counter() - started:.0f} s")
    copy = (root[pairs[0]] == root[pairs[1]]) & (root[pairs[0]] >= 0)
    for name in KINDS:
        mask = copy & (kind[pairs[0]] == name)
        print(f"  {name}: cosine min {pairs[2][mask].min():.3f}, median {np.median(pairs[2][mask]):.3f}; overlap "
              f"score min {pairs[4][mask].min():.3f}; window score max {pairs[3][mask].max():.3f}")
    different = ~copy
    print(f"  different photos: overlap score max {pairs[4][different].max():.3f} (Lund "
          f"{pairs[4][different & (root[pairs[0]] < 0)].max():.3f}), at cosine >= 0.85 "
          f"{pairs[4][different & (pairs[2] >= 0.85)].max():.3f}")
    window_min = verify.DEFAULT_WINDOW_SCORE
    table = {(c, s): _rates(pairs, root, kind, fit, True, c, s, window_min)
             for c in GRID["cosine"] for s in GRID["score"]}
    chosen = _choose(table)
    print("| rule | two_crops fit | held out | zoom fit | held out | Lund pairs linked fit / held out | "
          "different originals linked fit / held out |")
    print("|---|---:|---:|---:|---:|---|---|")
    rows = [("window match alone", None)] + [(f"cosine {c:.2f}, overlap {s:.2f}", (c, s)) for c, s in table]
    for title, rule in rows:
        fit_row = _rates(pairs, root, kind, fit, True, *(rule or (1.0, None)), window_min)
        held = _rates(pairs, root, kind, fit, False, *(rule or (1.0, None)), window_min)
        mark = " (chosen)" if rule == chosen else ""
        print(f"| {title}{mark} | {fit_row['two_crops']:.2f} | {held['two_crops']:.2f} | {fit_row['zoom']:.2f} | "
              f"{held['zoom']:.2f} | {fit_row['lund']} / {held['lund']} | {fit_row['different']} / "
              f"{held['different']} |")
    print(f"chosen on the fit side: cosine {chosen[0]:.2f}, overlap score {chosen[1]:.2f} (library defaults: "
          f"{verify.DEFAULT_OVERLAP_COSINE:.2f}, {verify.DEFAULT_OVERLAP_SCORE:.2f})")
    _imagededup(images, pairs, root, kind, fit)
    _scenes(args.scenes_vectors, verify.DEFAULT_OVERLAP_COSINE, verify.DEFAULT_OVERLAP_SCORE)
