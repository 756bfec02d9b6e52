"""`curate split` against scikit-learn's StratifiedGroupKFold on generated collection shapes.

Both split by the same groups (owner ∪ walk ∪ near-duplicate cluster ∪ exact copy, from
`curate.split.split_groups`), so both are leak-free; what differs is how well each label keeps its
requested shares. The baseline is what a user would write with scikit-learn: StratifiedGroupKFold
with ten folds (shuffled, seeded), fold 0 as val and folds 1–2 as test for val 0.1 / test 0.2 (five
folds, one each, for 0.2 / 0.2), the rest train. Measured per collection, in one run, for both:

- **share error**: over labels of two or more photos, the sum of (val share − val asked)² + (test
  share − test asked)², divided by the number of such labels (lower is better);
- **no train**: labels of two or more photos with no training photo (the class cannot be learnt and
  every one of its test photos is scored wrong);
- **no test, reachable**: labels of five or more photos in two or more groups with no test photo
  (`classify evaluate` cannot measure them, though a group could have gone to test);
- **val but no test**: labels of two or more photos with val photos but no test photo (a group that
  went to val could have gone to test, where `classify evaluate` measures the label);
- **val / test of the collection**: the shares of all photos, against those asked.

A collection with fewer groups than folds is refused by scikit-learn (ValueError); it is left out of
both columns and counted.

Shapes (each a few hundred to a few thousand photos, seeded): `balanced` (many photographers per
label), `lumpy` (one to three photographers per label, skewed), `tail` (a few labels of 40–200 beside
many of 2–6), `crossowner` (a fifth of the photos by photographers who shoot every label), `stray` (a
balanced collection plus one-photo labels by its busiest photographers).

Run:  .venv/bin/python bench/split_quality.py [--catalogs 40] [--seed 0] [--val 0.1 --test 0.2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate import schema  # noqa: E402
from curate.split import SplitConfig, split_catalog, split_groups  # noqa: E402

SHAPES = ("balanced", "lumpy", "tail", "crossowner", "stray")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def generate(shape: str, rng: np.random.Generator) -> pd.DataFrame:
    """A kept catalog of one shape: photo_id, owner_id, label (no copies: groups are photographers)."""
    rows: list[tuple[str, str]] = []  # (owner, label)
    if shape == "tail":
        sizes = [int(rng.integers(40, 201)) for _ in range(int(rng.integers(2, 6)))]
        sizes += [int(rng.integers(2, 7)) for _ in range(int(rng.integers(20, 80)))]
    else:
        sizes = [int(np.clip(rng.lognormal(3.3, 0.6), 8, 300)) for _ in range(int(rng.integers(5, 30)))]
    shared = [f"S{i}" for i in range(int(rng.integers(3, 9)))]
    for k, size in enumerate(sizes):
        if shape == "lumpy":
            photographers = int(rng.integers(1, 4))
            weights = rng.dirichlet(np.full(photographers, 0.4))
        elif shape == "tail" and size < 10:
            photographers = int(rng.integers(1, size + 1))
            weights = np.full(photographers, 1 / photographers)
        else:
            photographers = max(2, int(size * rng.uniform(0.2, 0.6)))
            weights = rng.dirichlet(np.ones(photographers))
        for _ in range(size):
            owner = f"L{k}-o{rng.choice(photographers, p=weights)}"
            if shape == "crossowner" and rng.random() < 0.2:
                owner = str(rng.choice(shared))
            rows.append((owner, f"L{k:02d}"))
    if shape == "stray":  # one-photo labels (stray tags) by the busiest photographers
        busiest = pd.Series([owner for owner, _ in rows]).value_counts().index[:int(rng.integers(3, 12))]
        rows += [(owner, f"stray{i}") for i, owner in enumerate(busiest)]
    frame = pd.DataFrame(rows, columns=["owner_id", "label"])
    frame["source"] = "bench"
    frame["source_id"] = [f"p{i}" for i in range(len(frame))]
    frame["photo_id"] = "bench:" + frame["source_id"]
    frame["sha256"] = "h" + frame["source_id"]
    frame["status"] = schema.KEPT
    for column in ("near_dup_cluster", "exact_dup_group"):
        frame[column] = None
    return schema.to_pandas(schema.conform(frame))


def sklearn_split(catalog: pd.DataFrame, val: float, test: float, seed: int) -> np.ndarray:
    """StratifiedGroupKFold as a user would use it for a val/test/train split (see the module docstring)."""
    from sklearn.model_selection import StratifiedGroupKFold

    folds = 10 if (val, test) == (0.1, 0.2) else 5
    n_val, n_test = round(val * folds), round(test * folds)
    groups = split_groups(catalog, "owner")
    out = np.full(len(catalog), "train", dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "The least populated class in y has only 1 members"
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        for fold, (_, held) in enumerate(splitter.split(np.zeros(len(catalog)), catalog["label"], groups)):
            if fold < n_val:
                out[held] = "val"
            elif fold < n_val + n_test:
                out[held] = "test"
    return out


def scores(catalog: pd.DataFrame, split: np.ndarray, val: float, test: float) -> dict:
    frame = pd.DataFrame({"label": catalog["label"].to_numpy(), "split": split,
                          "group": split_groups(catalog, "owner")})
    counts = pd.crosstab(frame["label"], frame["split"]).reindex(columns=["train", "val", "test"], fill_value=0)
    photos = counts.sum(axis=1)
    groups = frame.groupby("label")["group"].nunique()
    many = photos >= 2
    error = (((counts["val"] / photos - val) ** 2 + (counts["test"] / photos - test) ** 2)[many]).mean()
    return {"error": float(error), "no_train": int((many & (counts["train"] == 0)).sum()),
            "no_test": int(((photos >= 5) & (groups >= 2) & (counts["test"] == 0)).sum()),
            "val_no_test": int((many & (counts["val"] > 0) & (counts["test"] == 0)).sum()),
            "val": float(counts["val"].sum() / photos.sum()), "test": float(counts["test"].sum() / photos.sum()),
            "labels": int(many.sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalogs", type=int, default=40, help="collections per shape")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val", type=float, default=0.1)
    parser.add_argument("--test", type=float, default=0.2)
    args = parser.parse_args()
    import sklearn

    rng = np.random.default_rng(args.seed)
    print(f"{machine()}; scikit-learn {sklearn.__version__}; {args.catalogs} collections per shape, seed "
          f"{args.seed}, val {args.val:g} / test {args.test:g}")
    header = ("| shape | collections | photos (median) | labels of 2+ (median) | share error: curate / sklearn "
              "(ratio) | no train: curate / sklearn | no test, reachable: curate / sklearn | val but no test: curate / "
              "sklearn | val of collection: curate / sklearn | test of collection: curate / sklearn | time: curate / "
              "sklearn |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for shape in SHAPES:
        ours, theirs, sizes, spent, refused = [], [], [], [0.0, 0.0], 0
        for i in range(args.catalogs):
            catalog = generate(shape, rng)
            started = time.perf_counter()
            try:
                baseline = sklearn_split(catalog, args.val, args.test, seed=i)
            except ValueError:  # fewer groups than folds
                refused += 1
                continue
            spent[1] += time.perf_counter() - started
            started = time.perf_counter()
            result, _ = split_catalog(catalog, SplitConfig(val=args.val, test=args.test, seed=i))
            spent[0] += time.perf_counter() - started
            sizes.append(len(catalog))
            ours.append(scores(catalog, result["split"].to_numpy(), args.val, args.test))
            theirs.append(scores(catalog, baseline, args.val, args.test))
        a, b = pd.DataFrame(ours), pd.DataFrame(theirs)
        left_out = f" (scikit-learn refused {refused}: fewer groups than folds)" if refused else ""
        print(f"| {shape} | {len(ours)} | {int(np.median(sizes)):,} | {int(a['labels'].median())} | "
              f"{a['error'].mean():.4f} / {b['error'].mean():.4f} ({b['error'].mean() / a['error'].mean():.2f}×) | "
              f"{a['no_train'].sum()} / {b['no_train'].sum()} | {a['no_test'].sum()} / {b['no_test'].sum()} | "
              f"{a['val_no_test'].sum()} / {b['val_no_test'].sum()} | "
              f"{a['val'].mean():.3f} / {b['val'].mean():.3f} | {a['test'].mean():.3f} / {b['test'].mean():.3f} | "
              f"{spent[0]:.1f} s / {spent[1]:.1f} s |{left_out}")

if __name__ == "__main__":
    main()
