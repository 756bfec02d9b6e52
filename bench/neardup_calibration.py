"""Does each collection's evidence tell its photos apart? `calibration.calibrate` on real folders and the demo.

The filter's `auto` near-duplicate limits (and whether it trusts the embeddings) depend on two
shares measured on the collection itself (curate/filters/calibration.py): random pairs of distinct
images 9-12 pHash bits apart, and random pairs at cosine >= 0.90 more than 20 bits apart. This
script prints both, with their distribution by pHash band, for every folder of
../shared/realdata (each as its own collection, and all together) and for generated demo
collections of several sizes, so the limit `calibration.CROWDED_SHARE` can be checked against the
collections on either side of it; and for the 2026-12-04 audit's copy-heavy sets (real photos with
crops, rotations and brightness copies), which must read distinct once their copies are set aside
(the shares printed are after that; what was set aside follows them). Embeddings are
EfficientNet-Lite0's, as `curate embed` computes them (cached by file name with --vectors; the
15-Scene folder is embedded only with --embed-scenes, about 10 minutes on two cores).

    .venv/bin/python bench/neardup.py calibration [--vectors /tmp/cal.npz] [--embed-scenes]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from neardup_real import REALDATA, cached_vectors

FOLDERS = ("scenes15", "imagenet-sample", "flickr-ferrari", "opensfm-lund")
BANDS = ((0, 8), (9, 12), (13, 16), (17, 20), (21, 64))


def folder_collection(folder: str, with_vectors: bool, cache: Path | None):
    """(names, hashes, mirrors, vectors or None) of every photo in a realdata folder, one per distinct file."""
    from curate.filters.phash import phash_to_uint64
    from curate.store import open_rgb
    from curate.vision import features

    files = sorted(p for p in (REALDATA / folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    found = [features.features_of_file(path) for path in files]
    keep = [i for i, f in enumerate(found) if f and f.get("phash")]
    names = [str(files[i].relative_to(REALDATA)) for i in keep]
    hashes = phash_to_uint64([found[i]["phash"] for i in keep])
    mirrors = phash_to_uint64([found[i]["phash_mirror"] for i in keep])
    vectors = cached_vectors([open_rgb(files[i]) for i in keep], names, cache) if with_vectors else None
    return names, hashes, mirrors, vectors


def demo_collection(photos: int, seed: int, with_vectors: bool, cache: Path | None):
    """The same for a generated demo collection (160x120 pictures, as the demo recipe makes them)."""
    from curate.demo.config import DemoConfig
    from curate.filters.phash import phash_to_uint64
    from curate.ingest.demo import ingest_demo
    from curate.store import open_rgb
    from curate.workspace import Workspace, read_catalog

    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace(Path(folder))
        ingest_demo(ws, DemoConfig(photos=photos, seed=seed), images=True)
        catalog = read_catalog(ws).dropna(subset=["phash"]).drop_duplicates("sha256")
        names = [f"demo-{photos}-{seed}/{sha}" for sha in catalog["sha256"]]
        vectors = None
        if with_vectors:
            vectors = cached_vectors([open_rgb(ws.root / path) for path in catalog["image_path"]], names, cache)
        return names, phash_to_uint64(catalog["phash"]), phash_to_uint64(catalog["phash_mirror"]), vectors


def copy_heavy_collection(heavy: bool, cache: Path | None):
    """The 2026-12-04 audit's copy-heavy sets (finding 5): 40 Ferraris and 80 ImageNet photos (seeded draw),
    20 of each with a 50 % downscale, JPEG q60, a 5 %-per-side crop and brightness +20 %; `heavy`: every
    original also with a 10 %-per-side crop, a 3 degree rotation and a 3 % shift (the audit's `ws2`)."""
    import io
    import random

    from PIL import Image, ImageEnhance

    from curate.filters.phash import phash_pair, phash_to_uint64
    from curate.store import open_rgb

    def jpeg(image, quality=90):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    rng = random.Random(1)
    ferrari = sorted(p for colour in ("red", "yellow", "white", "black")
                     for p in (REALDATA / "flickr-ferrari" / colour).glob("*.jpg"))
    imagenet = sorted((REALDATA / "imagenet-sample").glob("*.jpg"))
    images, names = [], []
    for files in (rng.sample(ferrari, 40), rng.sample(imagenet, 80)):
        for index, path in enumerate(files):
            image = open_rgb(path)
            w, h = image.size
            edits = {"orig": image}
            if index < 20:
                dx, dy = int(w * 0.05), int(h * 0.05)
                edits |= {"resized50": jpeg(image.resize((w // 2, h // 2), Image.LANCZOS)), "q60": jpeg(image, 60),
                          "crop5": jpeg(image.crop((dx, dy, w - dx, h - dy))),
                          "bright20": jpeg(ImageEnhance.Brightness(image).enhance(1.2))}
            if heavy:
                dx, dy, m, s = int(w * .10), int(h * .10), int(w * .05), int(w * .03)
                edits |= {"crop10": jpeg(image.crop((dx, dy, w - dx, h - dy))),
                          "rot3": jpeg(image.rotate(3, resample=Image.BICUBIC).crop((m, m, w - m, h - m))),
                          "shift3": jpeg(image.crop((s, 0, w, h)).resize((w, h)))}
            for kind, edited in edits.items():
                images.append(edited), names.append(f"audit-copies/{path.relative_to(REALDATA)}/{kind}")
    pairs = [phash_pair(image) for image in images]
    vectors = cached_vectors(images, names, cache)
    return names, phash_to_uint64([p[0] for p in pairs]), phash_to_uint64([p[1] for p in pairs]), vectors


def describe(name: str, hashes, mirrors, vectors) -> None:
    from curate.filters import calibration, embed_neighbours, verify

    evidence = verify.Evidence(hashes, mirrors, vectors=vectors)
    crowding = calibration.calibrate(evidence, 8, 0.90 if vectors is not None else None)
    first, second = calibration._random_pairs(len(hashes), 2_000_000, 0)
    bits = calibration._pair_bits(evidence, first, second)
    bands = " ".join(f"{lo}-{hi}:{((bits >= lo) & (bits <= hi)).mean():.1e}" for lo, hi in BANDS)
    share = "not measured (too few images)" if crowding.hash_share is None else f"{crowding.hash_share:.1e}"
    line = f"{name:34s} {len(hashes):6d} images  pHash bands {bands}  -> share {share}"
    if crowding.hash_copies_share:
        line += f" (+{crowding.hash_copies_share:.1e} set aside: copies the embeddings confirm)"
    line += f" crowded={crowding.hashes_crowded}"
    if vectors is not None:
        unit, _ = embed_neighbours.normalised(vectors)
        cosine = np.concatenate([np.einsum("ij,ij->i", unit[first[s:s + 65536]], unit[second[s:s + 65536]])
                                 for s in range(0, len(first), 65536)])
        alike = cosine >= 0.90
        by_band = " ".join(f"{lo}-{hi}:{(alike & (bits >= lo) & (bits <= hi)).mean():.1e}" for lo, hi in BANDS)
        share = "not measured (too few images)" if crowding.embedding_share is None else \
            f"{crowding.embedding_share:.1e}"
        if crowding.embedding_copies_share:
            share += f" (+{crowding.embedding_copies_share:.1e} set aside: one photo's copies)"
        line += (f"\n{'':34s} cosine >= 0.90 by pHash band {by_band}  -> share {share} "
                 f"crowded={crowding.embeddings_crowded}")
    print(line, flush=True)


def run_calibration(args) -> None:
    from curate.filters import calibration

    if not (REALDATA / "imagenet-sample").is_dir():
        print(f"(no real photos at {REALDATA}: skipped)")
        return
    print(f"limit calibration.CROWDED_SHARE = {calibration.CROWDED_SHARE:g}; hash share: pairs {8 + 1}-"
          f"{8 + calibration.CROWDING_MARGIN_BITS} bits apart; embedding share: cosine >= 0.90 and more than "
          f"{calibration.EMBEDDING_FAR_BITS} bits apart; {calibration.CROWDING_PAIRS:,} random pairs")
    started = time.perf_counter()
    together = [[], [], []]
    for folder in FOLDERS:
        with_vectors = folder != "scenes15" or args.embed_scenes
        names, hashes, mirrors, vectors = folder_collection(folder, with_vectors, args.vectors)
        describe(f"real: {folder}", hashes, mirrors, vectors)
        for part, values in zip(together, (hashes, mirrors, vectors)):
            part.append(values)
    describe("real: all folders (pHash only)", np.concatenate(together[0]), np.concatenate(together[1]), None)
    for heavy in (False, True):  # the audit's sets: a photo's own copies must not read as look-alikes
        names, hashes, mirrors, vectors = copy_heavy_collection(heavy, args.vectors)
        describe(f"copies: audit {'ws2 (7 edits of 120)' if heavy else 'ws (4 edits of 40)'}", hashes, mirrors,
                 vectors)
    for photos, seed in ((1000, 7), (3000, 0)):
        names, hashes, mirrors, vectors = demo_collection(photos, seed, photos <= 1000, args.vectors)
        describe(f"demo: {photos} photos, seed {seed}", hashes, mirrors, vectors)
        if photos == 1000:  # small collections: how often a demo of that size reads crowded
            from curate.filters import verify as v

            for size in (100, 200, 400):
                verdicts = []
                for draw in range(20):
                    pick = np.random.default_rng(draw).choice(len(hashes), size, replace=False)
                    crowding = calibration.calibrate(v.Evidence(hashes[pick], mirrors[pick], vectors=vectors[pick]),
                                                     8, 0.90)
                    verdicts.append((crowding.hashes_crowded, crowding.embeddings_crowded))
                print(f"{'':34s} random subsets of {size}: hashes crowded in {sum(h for h, _ in verdicts)} of 20, "
                      f"embeddings in {sum(e for _, e in verdicts)} of 20")
    print(f"wall {time.perf_counter() - started:.0f} s")
