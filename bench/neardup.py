"""Benchmark: near-duplicate clustering of 64-bit hashes, and the evidence for the default threshold.

    python bench/neardup.py scale [--n 1000000] [--subset 20000] [--max-bits 8] [--workers 2]
    python bench/neardup.py threshold [--demo-photos 3000]
    python bench/neardup.py ann [--n 1000000] [--dim 1280] [--subset 20000]
    python bench/neardup.py real [--seed 0]
    python bench/neardup.py calibration [--vectors CACHE.npz] [--embed-scenes]
    python bench/neardup.py frames [--imagededup] [--vectors CACHE.npz] [--scenes-vectors CACHE.npz]
    python bench/neardup.py windows [--imagededup] [--vectors CACHE.npz] [--scenes-vectors CACHE.npz]
    python bench/neardup.py overlaps [--imagededup] [--vectors CACHE.npz] [--scenes-vectors CACHE.npz]

`scale` times `cluster_near_duplicates` on n random hashes with planted near pairs and
chains (distance 1..max_bits per link), checks that every planted link landed in one
cluster, and measures recall against a brute-force all-pairs scan on a subset drawn
from the same hashes; the brute force on that subset is also the speed baseline.

`threshold` prints pHash distance distributions: real photos against edited copies of
themselves (re-encoded, resized, brightened, cropped, rotated, burst-like) and against
each other (../shared/realdata/flickr-ferrari), and the demo collection's burst frames
against different scenes (curate.demo), with cluster-level precision/recall per threshold.

`ann` times the embedding neighbour search (curate.filters.embed_neighbours, IVF above
60,000 vectors) on synthetic vectors with planted near copies, and its recall of the
exact pairs (exhaustive search) on a subset. `real` is bench/neardup_real.py: the linking
rule's thresholds chosen on one half of the real-edit set (split by original photo) and its
precision/recall per edit kind reported on the held-out half, against imagededup's PHash.
`calibration` is bench/neardup_calibration.py: the shares `calibration.calibrate` measures on every
real folder and on demo collections, against the limit between them. `frames` is bench/neardup_frames.py:
rules for crops off one side and screenshot frames, against 15-Scene's look-alikes. `windows` is
bench/neardup_windows.py: the window match's thresholds (crops found on their pixels) chosen on the fit side,
reported held out and on 15-Scene's look-alikes, and the library's defaults end to end. `overlaps` is
bench/neardup_overlaps.py: the overlap match (two crops of one picture, zooms beyond the window match) chosen
on the fit side against Lund shots and different photos, reported held out and on 15-Scene.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from curate.filters.neardup import DEFAULT_NEAR_DUP_BITS, block_plan, cluster_near_duplicates
from curate.filters.phash import HASH_BITS, hamming_distance, popcount64

REAL_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "flickr-ferrari"


# ---------------------------------------------------------------- scale benchmark

def random_masks(rng: np.random.Generator, bits_per_row: np.ndarray, skip: np.ndarray | None = None) -> np.ndarray:
    """One uint64 per row with bits_per_row[i] random bits set (after the first skip[i] of a random order)."""
    rank = rng.random((len(bits_per_row), HASH_BITS)).argsort(axis=1).argsort(axis=1)
    low = np.zeros(len(bits_per_row), dtype=np.int64) if skip is None else skip
    chosen = (rank >= low[:, None]) & (rank < (low + bits_per_row)[:, None])
    return np.bitwise_or.reduce(np.where(chosen, np.uint64(1) << np.arange(HASH_BITS, dtype=np.uint64), np.uint64(0)),
                                axis=1)


def cpu_ticks() -> np.ndarray:
    """(all, steal) jiffies of the machine so far, from /proc/stat (zeros where absent)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return np.zeros(2, dtype=np.int64)
    return np.array([sum(fields), fields[7] if len(fields) > 7 else 0], dtype=np.int64)


def planted_hashes(rng, n: int, max_bits: int, pairs: int, chains: int):
    """n random hashes; `pairs` (A, B) and `chains` (A, B, C) with each link within 1..max_bits bits.

    Chain links flip disjoint bits, so A and C are usually farther apart than max_bits:
    only transitivity puts them together.
    """
    hashes = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    slots = rng.permutation(n)[:2 * pairs + 3 * chains]
    a, b = slots[:pairs], slots[pairs:2 * pairs]
    hashes[b] = hashes[a] ^ random_masks(rng, rng.integers(1, max_bits + 1, pairs))
    ca, cb, cc = slots[2 * pairs:].reshape(3, chains)
    first, second = rng.integers(1, max_bits + 1, chains), rng.integers(1, max_bits + 1, chains)
    order_seed = int(rng.integers(2**31))
    # Same random bit order for both links of a chain: the second link takes the next bits.
    hashes[cb] = hashes[ca] ^ random_masks(np.random.default_rng(order_seed), first)
    hashes[cc] = hashes[cb] ^ random_masks(np.random.default_rng(order_seed), second, skip=first)
    links = np.concatenate([np.stack([a, b], 1), np.stack([ca, cb], 1), np.stack([cb, cc], 1)])
    return hashes, links, np.stack([ca, cc], 1)


def brute_force_pairs(hashes: np.ndarray, max_bits: int, rows: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j within max_bits by comparing every pair (the baseline)."""
    firsts, seconds = [], []
    for lo in range(0, len(hashes), rows):
        distance = popcount64(hashes[lo:lo + rows, None] ^ hashes[None, :])
        i, j = np.nonzero(distance <= max_bits)
        keep = j > i + lo
        firsts.append(i[keep] + lo)
        seconds.append(j[keep])
    return np.concatenate(firsts), np.concatenate(seconds)


def components(n: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(first), dtype=np.int8), (first, second)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def same_partition(labels_a: np.ndarray, labels_b: np.ndarray) -> bool:
    """True when two labelings group the items identically (label values may differ)."""
    pairs = np.unique(np.stack([labels_a, labels_b], 1), axis=0)
    return len(pairs) == len(np.unique(labels_a)) == len(np.unique(labels_b))


def run_scale(args) -> None:
    rng = np.random.default_rng(args.seed)
    k = args.max_bits
    hashes, links, chain_ends = planted_hashes(rng, args.n, k, pairs=args.n // 40, chains=args.n // 200)
    plan = block_plan(len(np.unique(hashes)), k)
    print(f"{args.n:,} hashes, max_bits={k}, {len(links):,} planted links ({args.n // 40:,} pairs, "
          f"{args.n // 200:,} 3-chains); blocks (width, radius): {[(b.width, b.radius) for b in plan]}")

    wall, cpu, ticks = time.perf_counter(), time.process_time(), cpu_ticks()
    labels = cluster_near_duplicates(hashes, k, workers=args.workers)
    wall, cpu, ticks = time.perf_counter() - wall, time.process_time() - cpu, cpu_ticks() - ticks
    link_recall = np.mean(labels[links[:, 0]] == labels[links[:, 1]])
    chain_far = hamming_distance(hashes[chain_ends[:, 0]], hashes[chain_ends[:, 1]]) > k
    chain_recall = np.mean(labels[chain_ends[chain_far, 0]] == labels[chain_ends[chain_far, 1]])
    steal = f"{ticks[1] / ticks[0]:.0%}" if ticks[0] else "n/a"
    print(f"clustering {args.n:,}: {wall:.1f} s wall, {cpu:.1f} s CPU, workers={args.workers}; "
          f"{len(np.unique(labels)):,} clusters; CPU steal during the run {steal}")
    print(f"planted links in one cluster: {link_recall:.4f}; chain ends farther than {k} bits "
          f"({chain_far.sum():,}) in one cluster: {chain_recall:.4f}")

    subset = subset_with_planted(rng, args.n, args.subset, links)
    sub = hashes[subset]
    (brute_first, brute_second), wall_brute = best_of(3, brute_force_pairs, sub, k)
    brute_labels = components(len(sub), brute_first, brute_second)
    sub_labels, wall_sub = best_of(3, cluster_near_duplicates, sub, k, workers=args.workers)
    recall = np.mean(labels[subset[brute_first]] == labels[subset[brute_second]]) if len(brute_first) else 1.0
    print(f"subset of {len(sub):,} (with {np.isin(links, subset).all(1).sum():,} whole planted links): "
          f"brute force finds {len(brute_first):,} pairs within {k} bits")
    print(f"recall of the {args.n:,}-hash clustering on those pairs: {recall:.4f}")
    print(f"subset clustered alone: same partition as brute force: {same_partition(sub_labels, brute_labels)}")
    print(f"speed on the subset (best of 3): brute-force pairs {wall_brute:.2f} s, "
          f"multi-index clustering {wall_sub:.3f} s "
          f"-> {wall_brute / wall_sub:.0f}x; brute force on {args.n:,} would take about "
          f"{wall_brute * (args.n / len(sub)) ** 2 / 60:.0f} min ({wall_brute * (args.n / len(sub)) ** 2 / wall:.0f}x "
          f"the clustering)")
    if args.mirror:
        mirror_pass(rng, hashes, links, k, args.workers)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak_mib:,.0f} MiB")


def mirror_pass(rng, hashes: np.ndarray, links: np.ndarray, k: int, workers: int) -> None:
    """What the filter runs since mirror hashes: pairs over hashes and mirror hashes (2n in one
    search). Mirrors are random, except that a planted link's second hash gets a mirror within k
    bits of its first hash (a flipped copy), so half the links must be found through a mirror."""
    from curate.filters.neardup import mirror_pairs

    mirrors = rng.integers(0, 2**64, len(hashes), dtype=np.uint64)
    flipped = links[::2]
    mirrors[flipped[:, 1]] = hashes[flipped[:, 0]] ^ random_masks(rng, rng.integers(1, k + 1, len(flipped)))
    wall, cpu = time.perf_counter(), time.process_time()
    first, second, _, mirrored = mirror_pairs(hashes, mirrors, k, workers=workers)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    found = set(zip(first.tolist(), second.tolist()))
    wanted = [tuple(sorted(pair)) for pair in flipped.tolist()]
    recall = np.mean([pair in found for pair in wanted])
    print(f"mirror_pairs over {len(hashes):,} hashes + mirrors: {wall:.1f} s wall, {cpu:.1f} s CPU; "
          f"{len(first):,} pairs ({int(mirrored.sum()):,} through a mirror); planted flipped links found {recall:.4f}")


def best_of(runs: int, function, *args, **kwargs):
    """(result, fastest wall time in s) of `runs` calls: less noise from other processes."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return result, min(times)


def subset_with_planted(rng, n: int, size: int, links: np.ndarray) -> np.ndarray:
    """About half the subset from whole planted links, the rest random other hashes."""
    chosen = np.unique(links[rng.permutation(len(links))[:size // 4]])[:size // 2]
    others = rng.permutation(np.setdiff1d(np.arange(n), chosen))[:size - len(chosen)]
    return np.sort(np.concatenate([chosen, others]))


# ---------------------------------------------------------------- embedding neighbours at scale

def synthetic_embeddings(rng, n: int, dim: int, planted: int, rank: int = 256):
    """float16 vectors shaped like EfficientNet-Lite0's on real photos (measured on the
    scenes-scrape cache: the top 128 principal axes hold 78 % of the variance, eigenvalues
    fall like 1/k, median cosine 0.28): a shared mean, `rank` random axes with scales
    ~k^-0.5 and an isotropic rest; plus `planted` near copies (cosine ~0.85-0.99)."""
    basis = np.linalg.qr(rng.standard_normal((dim, rank)))[0].astype(np.float32).T  # rank x dim, orthonormal
    scales = (np.arange(1, rank + 1, dtype=np.float32) ** -0.5)
    rest = np.float32(np.sqrt(0.25 * (scales ** 2).sum() / dim))  # ~20 % of the variance off the axes
    mean = rng.standard_normal(dim).astype(np.float32)
    mean *= np.sqrt(0.39 * (1.25 * (scales ** 2).sum())) / np.linalg.norm(mean)  # cosine 0.28 between two vectors

    def draw(size):
        return (rng.standard_normal((size, rank), dtype=np.float32) * scales) @ basis \
            + rng.standard_normal((size, dim), dtype=np.float32) * rest

    vectors = np.empty((n, dim), dtype=np.float16)
    for start in range(0, n, 65536):
        size = min(65536, n - start)
        vectors[start:start + size] = mean + draw(size)
    originals = rng.choice(n - planted, planted, replace=False)
    copies = np.arange(n - planted, n)
    strength = rng.uniform(0.1, 0.6, planted).astype(np.float32)[:, None]
    vectors[copies] = vectors[originals].astype(np.float32) + draw(planted) * strength
    return vectors, originals, copies


def run_ann(args) -> None:
    from curate.filters import embed_neighbours
    from curate.filters.verify import DEFAULT_NEAR_DUP_COSINE

    rng = np.random.default_rng(args.seed)
    cosine = args.cosine or DEFAULT_NEAR_DUP_COSINE
    vectors, originals, copies = synthetic_embeddings(rng, args.n, args.dim, args.planted)
    print(f"{args.n:,} synthetic vectors of dimension {args.dim} (float16, {vectors.nbytes / 2**30:.1f} GiB), "
          f"{args.planted:,} planted near copies; cosine threshold {cosine}")
    started, cpu = time.perf_counter(), time.process_time()
    first, second, _ = embed_neighbours.cosine_pairs(vectors, cosine, probes=args.probes)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"IVF search over all {args.n:,}: {wall:.1f} s wall, {cpu:.1f} s CPU, {len(first):,} pairs >= {cosine}")
    half = args.subset // 4
    subset = np.unique(np.concatenate([originals[:half], copies[:half],
                                       rng.choice(args.n, args.subset - 2 * half, replace=False)]))[:args.subset]
    started = time.perf_counter()
    exact_first, exact_second, _ = embed_neighbours.cosine_pairs(vectors[subset], cosine, exact_limit=len(subset) + 1)
    exact_wall = time.perf_counter() - started
    inside = np.isin(first, subset) & np.isin(second, subset)
    found = set(zip(first[inside].tolist(), second[inside].tolist()))
    exact = set(zip(subset[exact_first].tolist(), subset[exact_second].tolist()))
    recall = len(found & exact) / max(1, len(exact))
    print(f"subset of {len(subset):,} (half from planted pairs): exact search {exact_wall:.1f} s, "
          f"{len(exact):,} pairs; "
          f"IVF recall of them {recall:.4f} ({len(exact - found)} missed), extra pairs {len(found - exact)}")
    print(f"targets: <= 300 s for {args.n:,} -> {'met' if wall <= 300 else 'NOT met'}; recall >= 0.98 -> "
          f"{'met' if recall >= 0.98 else 'NOT met'}")


# ---------------------------------------------------------------- threshold evidence

def phash_of(image) -> int:
    import imagehash

    return int(str(imagehash.phash(image)), 16)


def edits():
    """Edits that should keep a photo a near duplicate of itself."""
    from PIL import Image, ImageEnhance

    def jpeg(image, quality):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    def crop(image, fraction):  # cut `fraction` off the left and top: a shift plus a small zoom
        return image.crop((int(fraction * image.width), int(fraction * image.height), image.width, image.height))

    def burst(image, fraction, seed):  # demo-style burst frame: shift up to `fraction`, gain, grain, JPEG
        rng = np.random.default_rng(seed)
        margin = int(fraction * min(image.size))
        dx, dy = rng.integers(-margin, margin + 1, 2)
        box = (margin + dx, margin + dy, image.width - margin + dx, image.height - margin + dy)
        pixels = np.asarray(image.crop(box), dtype=np.float32) * rng.uniform(0.95, 1.05)
        pixels += rng.normal(0, 4, pixels.shape[:2])[..., None]
        return jpeg(Image.fromarray(pixels.clip(0, 255).astype(np.uint8)), 80)

    return {
        "JPEG quality 30": lambda im: jpeg(im, 30),
        "downscaled 4x": lambda im: im.resize((im.width // 4, im.height // 4), Image.BILINEAR),
        "brightness +15%": lambda im: ImageEnhance.Brightness(im).enhance(1.15),
        "crop 2% (left+top)": lambda im: crop(im, 0.02),
        "crop 5% (left+top)": lambda im: crop(im, 0.05),
        "rotated 2 degrees": lambda im: im.rotate(2, resample=Image.BILINEAR),
        "burst frame, shift <= 2%": lambda im: burst(im, 0.02, 1),
        "burst frame, shift <= 4%": lambda im: burst(im, 0.04, 1),
    }


def describe(distances: np.ndarray) -> str:
    q = np.percentile(distances, [50, 90, 95])
    return (f"median {q[0]:4.1f}  p90 {q[1]:4.1f}  p95 {q[2]:4.1f}  max {distances.max():2d}  "
            f"<=8: {np.mean(distances <= 8):6.1%}  <=10: {np.mean(distances <= 10):6.1%}")


def real_photo_evidence() -> None:
    from curate.store import open_rgb

    paths = sorted(REAL_PHOTOS.glob("*/*.jpg"))
    if not paths:
        print(f"(no real photos at {REAL_PHOTOS}: skipped)")
        return
    images = [open_rgb(path) for path in paths]
    base = np.array([phash_of(image) for image in images], dtype=np.uint64)
    print(f"{len(paths)} real photos ({REAL_PHOTOS}); distance to an edited copy of the same photo:")
    for name, edit in edits().items():
        edited = np.array([phash_of(edit(image)) for image in images], dtype=np.uint64)
        print(f"  {name:26s} {describe(hamming_distance(base, edited))}")
    upper = np.triu_indices(len(base), 1)
    unrelated = hamming_distance(base[:, None], base[None, :])[upper]
    q = np.percentile(unrelated, [0.1, 1, 5, 50])
    print(f"  different photos ({len(unrelated):,} pairs): min {unrelated.min()}  0.1% {q[0]:.0f}  1% {q[1]:.0f}  "
          f"5% {q[2]:.0f}  median {q[3]:.0f}; pairs <= 8: {np.sum(unrelated <= 8)}, <= 12: {np.sum(unrelated <= 12)}")
    print(f"  hashes with exactly 32 of 64 bits set: {np.mean(popcount64(base) == 32):.1%} (-> even distances)")


def demo_evidence(photos: int, seed: int) -> None:
    try:
        from PIL import Image

        from curate.demo import DemoConfig, generate_metadata, render_photo
    except ImportError as exc:
        print(f"(demo collection not available: {exc})")
        return
    config = DemoConfig(photos=photos, seed=seed)
    truth = generate_metadata(config)[1]
    truth = truth[truth["broken_kind"].isna()].reset_index(drop=True)
    hashes = np.array([phash_of(Image.open(io.BytesIO(render_photo(row, config))).convert("RGB"))
                       for row in truth.to_dict("records")], dtype=np.uint64)
    burst = truth["burst_id"].fillna(-1).to_numpy(dtype=np.int64)
    copy_of = truth["exact_dup_group"].fillna(-1).to_numpy(dtype=np.int64)
    sandals = truth["is_sandals"].to_numpy(dtype=bool)
    upper = np.triu_indices(len(hashes), 1)
    distance = hamming_distance(hashes[:, None], hashes[None, :])[upper]
    same = lambda group: ((group[:, None] == group[None, :]) & (group[:, None] >= 0))[upper]  # noqa: E731
    positive = same(burst) | same(copy_of)
    ignored = (sandals[:, None] & sandals[None, :])[upper]  # the sandals photographer's near-identical uploads
    negative = ~positive & ~ignored
    print(f"demo collection ({photos} photos, seed {seed}, {len(hashes)} readable): "
          f"burst frame pairs {describe(distance[same(burst)])}")
    print(f"  different scenes ({negative.sum():,} pairs): pairs within 4/8/12 bits: "
          f"{[int(np.sum(distance[negative] <= t)) for t in (4, 8, 12)]}")
    frames = np.flatnonzero(burst >= 0)
    for bits in (4, 6, 8, 10, 12, 14):
        labels = cluster_near_duplicates(hashes, bits)
        together = (labels[:, None] == labels[None, :])[upper]
        recall = np.sum(together & positive) / positive.sum()
        precision = np.sum(together & positive) / max(1, np.sum(together & ~ignored))
        mates = np.array([np.sum((labels == labels[i]) & (burst == burst[i])) > 1 for i in frames])
        print(f"  max_bits {bits:2d}: pair recall {recall:.3f}  pair precision {precision:.3f}  "
              f"burst frames sharing a cluster with their burst {mates.mean():.3f}")


def run_threshold(args) -> None:
    real_photo_evidence()
    demo_evidence(args.demo_photos, args.seed)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} CPUs ({cpu}), {ram_gib:.0f} GiB RAM, Python {platform.python_version()}, "
            f"NumPy {np.__version__}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    scale = commands.add_parser("scale", help="time the clustering on random hashes, recall vs brute force")
    scale.add_argument("--n", type=int, default=1_000_000)
    scale.add_argument("--subset", type=int, default=20_000)
    scale.add_argument("--max-bits", type=int, default=DEFAULT_NEAR_DUP_BITS)
    scale.add_argument("--workers", type=int, default=2)
    scale.add_argument("--seed", type=int, default=0)
    scale.add_argument("--mirror", action="store_true", help="also time mirror_pairs (hashes + mirror hashes)")
    threshold = commands.add_parser("threshold", help="pHash distances of edited copies vs different photos")
    threshold.add_argument("--demo-photos", type=int, default=3000)
    threshold.add_argument("--seed", type=int, default=0)
    ann = commands.add_parser("ann", help="embedding neighbour search on synthetic vectors, recall vs exact")
    ann.add_argument("--n", type=int, default=1_000_000)
    ann.add_argument("--dim", type=int, default=1280)  # EfficientNet-Lite0's feature size
    ann.add_argument("--planted", type=int, default=20_000)
    ann.add_argument("--subset", type=int, default=20_000)
    ann.add_argument("--probes", type=int, default=20)
    ann.add_argument("--cosine", type=float, default=None)
    ann.add_argument("--seed", type=int, default=0)
    real = commands.add_parser("real", help="P/R per edit kind on real photos with real edits (vs imagededup)")
    real.add_argument("--seed", type=int, default=0)
    real.add_argument("--imagededup", action="store_true", help="pip install imagededup into a temp folder: baseline")
    real.add_argument("--vectors", type=Path, default=None,
                      help="an .npz cache of the set's embeddings by image name (read, completed, written)")
    windows = commands.add_parser("windows", help="the window match (crops on their pixels) vs 15-Scene look-alikes")
    windows.add_argument("--seed", type=int, default=0)
    windows.add_argument("--imagededup", action="store_true",
                         help="pip install imagededup into a temp folder: baseline")
    windows.add_argument("--vectors", type=Path, default=None, help="an .npz cache of the edit set's embeddings")
    windows.add_argument("--scenes-vectors", type=Path, default=None, help="an .npz cache of 15-Scene's embeddings")
    frames = commands.add_parser("frames", help="crops off one side and screenshot frames vs 15-Scene look-alikes")
    frames.add_argument("--seed", type=int, default=0)
    frames.add_argument("--imagededup", action="store_true", help="pip install imagededup into a temp folder: baseline")
    frames.add_argument("--vectors", type=Path, default=None, help="an .npz cache of the edit set's embeddings")
    frames.add_argument("--scenes-vectors", type=Path, default=None, help="an .npz cache of 15-Scene's embeddings")
    overlaps = commands.add_parser("overlaps", help="the overlap match (two crops of one picture) vs Lund shots")
    overlaps.add_argument("--seed", type=int, default=0)
    overlaps.add_argument("--imagededup", action="store_true",
                          help="pip install imagededup into a temp folder: baseline")
    overlaps.add_argument("--vectors", type=Path, default=None, help="an .npz cache of the copy set's embeddings")
    overlaps.add_argument("--scenes-vectors", type=Path, default=None, help="an .npz cache of 15-Scene's embeddings")
    calibration = commands.add_parser("calibration", help="calibration.calibrate's shares on real folders and demos")
    calibration.add_argument("--vectors", type=Path, default=None, help="an .npz cache of embeddings by name")
    calibration.add_argument("--embed-scenes", action="store_true", help="also embed 15-Scene (~4,500 photos)")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; load average before the run {os.getloadavg()[0]:.1f}")
    print(f"command: python bench/neardup.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    if args.command == "calibration":
        from neardup_calibration import run_calibration

        run_calibration(args)
    elif args.command in ("real", "frames", "windows", "overlaps"):
        from neardup_frames import run_frames
        from neardup_overlaps import run_overlaps
        from neardup_real import run_real
        from neardup_windows import run_windows

        if args.imagededup:
            import tempfile

            from scorecard import install_imagededup

            install_imagededup(Path(tempfile.mkdtemp(prefix="imagededup-")))
        {"real": run_real, "frames": run_frames, "windows": run_windows, "overlaps": run_overlaps}[args.command](args)
    else:
        {"scale": run_scale, "threshold": run_threshold, "ann": run_ann}[args.command](args)


if __name__ == "__main__":
    main()
