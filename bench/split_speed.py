"""`curate split` and `curate check-leakage` at a million photos, beside scikit-learn's GroupShuffleSplit.

Issue C's benchmark: 1,000,000 kept photos, 100,000 owners, 50,000 near-duplicate clusters (two to
four photos each, half of them across two owners), 10 labels; goal: the split in at most 5 s on one
core. Measured in one run, each step timed on its own: `curate.split.split_catalog` (the groups,
their placement, the warnings), `curate.leakage.find_leakage` on its result, and, for reference,
scikit-learn's GroupShuffleSplit on the same rows grouped by owner alone (twice: test off the
whole, val off the rest). GroupShuffleSplit counts groups, not photos, does not stratify by label and
knows nothing of copies, so it is the floor of what a split costs, not a like-for-like peer.

Pin to one core with `taskset -c 0` (the script says whether it is pinned).
Run:  taskset -c 0 .venv/bin/python bench/split_speed.py [--photos 1000000] [--owners 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate import schema  # noqa: E402
from curate.leakage import find_leakage  # noqa: E402
from curate.split import SplitConfig, split_catalog  # noqa: E402


def generate(photos: int, owners: int, clusters: int, labels: int, seed: int) -> pd.DataFrame:
    """Photographers of heavy-tailed sizes (log-normal: most a handful, a few thousands), each shooting
    mostly one label; near-duplicate clusters of two to four photos, nine in ten within one photographer's
    photos, one in ten joining two photographers (copies reposted by someone else)."""
    rng = np.random.default_rng(seed)
    sizes = rng.lognormal(0.0, 1.5, owners)
    sizes = np.maximum(1, np.round(sizes / sizes.sum() * photos)).astype(int)
    owner = np.repeat(np.arange(owners), sizes)[:photos]
    owner = np.concatenate([owner, rng.integers(0, owners, photos - len(owner))])
    rng.shuffle(owner)
    home = rng.integers(0, labels, owners)  # each photographer shoots mostly one label
    label = np.where(rng.random(photos) < 0.8, home[owner], rng.integers(0, labels, photos))
    by_owner = pd.Series(np.arange(photos)).groupby(owner).apply(np.asarray)
    cluster = np.full(photos, None, dtype=object)
    made = 0
    for k, first in enumerate(rng.permutation(photos)):
        if made == clusters:
            break
        if cluster[first] is not None:
            continue
        own = by_owner[owner[first]]
        others = own[own != first][: int(rng.integers(1, 4))]
        if rng.random() < 0.1 or not len(others):  # a copy by another photographer
            others = np.append(others[:1], rng.integers(0, photos))
        members = [first, *[m for m in others if cluster[m] is None]]
        if len(members) >= 2:
            cluster[members] = f"c{k}"
            made += 1
    frame = pd.DataFrame({"photo_id": [f"b:{i}" for i in range(photos)], "source": "b",
                          "source_id": np.arange(photos).astype(str), "status": schema.KEPT,
                          "owner_id": [f"o{value}" for value in owner], "label": [f"label{value}" for value in label],
                          "near_dup_cluster": cluster})
    return schema.to_pandas(schema.conform(frame))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1_000_000)
    parser.add_argument("--owners", type=int, default=100_000)
    parser.add_argument("--clusters", type=int, default=50_000)
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from sklearn import __version__ as sklearn_version
    from sklearn.model_selection import GroupShuffleSplit

    pinned = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{platform.machine()}, {os.cpu_count()} CPUs ({pinned} usable by this process), Python "
          f"{platform.python_version()}, scikit-learn {sklearn_version}")
    started = time.perf_counter()
    catalog = generate(args.photos, args.owners, args.clusters, args.labels, args.seed)
    print(f"generated {len(catalog):,} photos, {catalog['owner_id'].nunique():,} owners, "
          f"{catalog['near_dup_cluster'].nunique():,} near-duplicate clusters, {args.labels} labels in "
          f"{time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    result, report = split_catalog(catalog, SplitConfig(val=0.1, test=0.2, seed=args.seed))
    ours = time.perf_counter() - started
    shares = result["split"].value_counts(normalize=True)
    started = time.perf_counter()
    leaks = find_leakage(result)
    check = time.perf_counter() - started

    groups = pd.factorize(catalog["owner_id"])[0]
    started = time.perf_counter()
    outer = GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=args.seed)
    rest, test = next(outer.split(np.zeros(len(catalog)), groups=groups))
    inner = GroupShuffleSplit(n_splits=1, test_size=0.125, random_state=args.seed)
    train, val = next(inner.split(np.zeros(len(rest)), groups=groups[rest]))
    theirs = time.perf_counter() - started
    print(f"| step | seconds | notes |\n|---|---|---|\n"
          f"| curate split_catalog | {ours:.1f} | train/val/test {shares.get('train', 0):.3f} / "
          f"{shares.get('val', 0):.3f} / {shares.get('test', 0):.3f}; {len(report.warnings)} warnings |\n"
          f"| curate find_leakage | {check:.1f} | {len(leaks)} leaking keys |\n"
          f"| scikit-learn GroupShuffleSplit (owner groups, test then val) | {theirs:.2f} | train/val/test "
          f"{len(rest[train]) / len(catalog):.3f} / {len(rest[val]) / len(catalog):.3f} / "
          f"{len(test) / len(catalog):.3f}; copies and labels not considered |")
    print(f"curate split / GroupShuffleSplit: {ours / theirs:.1f}x the time; goal <= 5 s: "
          f"{'met' if ours <= 5 else f'missed by {ours / 5:.1f}x'}")


if __name__ == "__main__":
    main()
