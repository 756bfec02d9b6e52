"""Label issues on real photos without tags (`curate prefilter --label-issues-only`) against cleanlab.

Data: the real 15-Scene train folder (../shared/realdata/scenes15/train: 1,500 photos, 15 classes,
100 each; no tags, no photographers), embedded with EfficientNet-Lite0 at 224 px (`embed_paths`,
the same vectors `curate embed` caches). For each seed, `--flip-rate` of the labels are planted
wrong (each given another of the 15 labels at random); the truth is "this label was flipped".

Ours: the stage itself (`prefilter_catalog` with label_issues_only: out-of-fold logistic
regressions over photographer groups, here one photo each, then confident learning).
Peer, in the same run: cleanlab's `find_label_issues` (cleanlab is AGPL-3.0, never a dependency:
pip-installed into a temporary folder for this run) on the same out-of-fold probabilities that
the stage computes (`fit_fold_models` on the stage's folds), with its defaults. A third line is
the naive rule "flag where the most probable class is not the given label", on the same
probabilities. Printed: precision, recall and F1 of each against the planted flips, and the
ratio of our F1 to cleanlab's.

15-Scene's own labels are not all right or unambiguous (bedroom/living room, coast/open
country): a flag on an unflipped photo counts as a false positive here even when it is one of
those, so precision is a lower bound for every method alike.

Run:  .venv/bin/python bench/label_issues_real.py [--seeds 3] [--flip-rate 0.1]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENES = ROOT.parent / "shared" / "realdata" / "scenes15" / "train"


def install_cleanlab(target: Path) -> None:
    """cleanlab and the two small packages it needs that this environment lacks, for this run only."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    "cleanlab", "termcolor"], check=True)
    sys.path.insert(0, str(target))


def embed(paths: list[Path]) -> np.ndarray:
    import torch

    from curate.embed import embed_paths
    from curate.vision.backbones import load_backbone

    backbone = load_backbone()
    vectors = np.zeros((len(paths), backbone.dim), np.float32)
    for indices, features, ok in embed_paths(backbone, paths, torch.device("cpu"), 64, 2):
        if not ok.all():
            raise SystemExit("a 15-Scene photo did not decode")
        vectors[indices] = features
    return vectors


def scores(flagged: np.ndarray, flipped: np.ndarray) -> tuple[float, float, float]:
    hits = int((flagged & flipped).sum())
    precision = hits / max(int(flagged.sum()), 1)
    recall = hits / max(int(flipped.sum()), 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--flip-rate", type=float, default=0.1)
    args = parser.parse_args()
    if not SCENES.is_dir():
        raise SystemExit(f"real data not found at {SCENES}")

    from curate.prefilter.repair import fit_fold_models
    from curate.prefilter.stage import PrefilterConfig, grouped_folds, normalise_rows, prefilter_catalog
    from curate.split import split_groups
    from tests.test_split import make_catalog

    with tempfile.TemporaryDirectory() as folder:
        install_cleanlab(Path(folder))
        from cleanlab.filter import find_label_issues as cleanlab_issues

        paths = sorted(SCENES.glob("*/*.jpg"))
        true = np.array([path.parent.name for path in paths])
        classes = np.unique(true)
        started = time.perf_counter()
        vectors = embed(paths)
        print(f"{len(paths):,} photos, {len(classes)} classes, embedded in {time.perf_counter() - started:.0f} s "
              f"({platform.processor() or platform.machine()}, {platform.python_version()})")
        config = PrefilterConfig(topic=None, label_issues_only=True)
        rows = {"ours (curate prefilter --label-issues-only)": [], "cleanlab find_label_issues": [],
                "argmax != given": []}
        n = len(paths)
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            flipped = rng.random(n) < args.flip_rate
            given = true.copy()
            for i in np.flatnonzero(flipped):
                given[i] = rng.choice(classes[classes != true[i]])
            catalog = make_catalog([{"owner_id": None, "tags": [], "image_path": f"i{i}.jpg", "label": given[i]}
                                    for i in range(n)])
            result, report = prefilter_catalog(catalog, vectors, np.ones(n, bool), np.ones(n, bool), config)
            ours = result["is_label_issue"].astype(bool).to_numpy()
            # the stage's own out-of-fold probabilities (same folds, same models) for the peers
            names, codes = np.unique(given, return_inverse=True)
            fold = grouped_folds(codes, split_groups(catalog, "owner"), config.folds, config.seed)
            proba, _ = fit_fold_models(normalise_rows(vectors), codes, fold, len(names), config.regularisation,
                                       config.seed, normalise_rows(vectors[:0]), np.zeros(0, int))
            theirs = np.asarray(cleanlab_issues(labels=codes, pred_probs=proba), bool)
            naive = proba.argmax(axis=1) != codes
            for name, flags in zip(rows, (ours, theirs, naive)):
                rows[name].append(scores(flags, flipped) + (int(flags.sum()),))
            print(f"seed {seed}: {int(flipped.sum())} labels flipped; flags: ours {int(ours.sum())}, cleanlab "
                  f"{int(theirs.sum())}, argmax {int(naive.sum())}; label model out-of-fold agreement "
                  f"{report.label_model['out_of_fold_accuracy']:.1%}")
        print(f"\nmean over {args.seeds} seeds, {args.flip_rate:.0%} of labels flipped:")
        print(f"{'method':45s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'flags':>6s}")
        means = {}
        for name, values in rows.items():
            p, r, f, k = np.mean(values, axis=0)
            means[name] = f
            print(f"{name:45s} {p:9.3f} {r:7.3f} {f:6.3f} {k:6.0f}")
        ours_f1, cleanlab_f1 = means["ours (curate prefilter --label-issues-only)"], means["cleanlab find_label_issues"]
        print(f"\nF1 ratio ours / cleanlab: {ours_f1 / cleanlab_f1:.3f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
