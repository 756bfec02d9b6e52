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

`--worth` measures what the cleaning is worth downstream, the figure a user acts on: for each noise kind
(`uniform`: another label at random; `confusable`: one of the two labels whose photos look most like
the true one, by class centroids, e.g. bedroom <-> living room) and each `--worth-rates` share, the
project's linear probe (`classify.probe.fit_head`, its strength chosen on a fifth of the kept photos
held out with their given labels) is trained on the 15-Scene train folder as given (noisy), as each
method cleaned it, and with exactly the flipped photos removed (oracle), and scored on the real,
clean 15-Scene test folder (2,985 photos). Methods: ours dropping the flags (`--drop-label-issues`),
ours relabelling then dropping the rest (`--relabel --drop-label-issues`), cleanlab dropping its
flags (the peer, same run, same probabilities).

`--strengths C …` asks whether the label model's L2 strength (`--C`, default 1) should be chosen per collection:
for each noise kind and rate, the stage's F1 at each C, and at the C with the least out-of-fold log loss on
the given labels (the choice a user could make without the truth), against the default.

Run:  .venv/bin/python bench/label_issues_real.py [--seeds 3] [--flip-rate 0.1]
      .venv/bin/python bench/label_issues_real.py --worth [--seeds 3] [--worth-rates 0.1 0.2 0.4]
      .venv/bin/python bench/label_issues_real.py --strengths 0.3 1 3 10 30 [--seeds 3] [--worth-rates 0.1 0.2]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENES = ROOT.parent / "shared" / "realdata" / "scenes15" / "train"
SCENES_TEST = SCENES.parent / "test"


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


def flip(true: np.ndarray, classes: np.ndarray, rate: float, kind: str, rng: np.random.Generator,
         near: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(given labels, flipped mask): `rate` of the labels changed, to another label at random (uniform) or to
    one of the two classes `near` the true one (confusable)."""
    flipped = rng.random(len(true)) < rate
    given = true.copy()
    for i in np.flatnonzero(flipped):
        given[i] = rng.choice(near[true[i]] if kind == "confusable" else classes[classes != true[i]])
    return given, flipped


def nearest_classes(vectors: np.ndarray, true: np.ndarray, classes: np.ndarray, k: int = 2) -> dict[str, np.ndarray]:
    """Each class's `k` most similar other classes, by the cosine of their mean normalised embeddings."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    centres = np.stack([unit[true == c].mean(axis=0) for c in classes])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    similarity = centres @ centres.T
    np.fill_diagonal(similarity, -np.inf)
    return {c: classes[np.argsort(-similarity[i])[:k]] for i, c in enumerate(classes)}


def probe_accuracy(x: np.ndarray, y: np.ndarray, keep: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                   classes: np.ndarray, seed: int) -> float:
    """Test accuracy of the project's linear probe trained on the kept photos (labels `y`), its strength
    chosen on a fifth of them held out (their labels as given: a user has no others)."""
    from classify.probe import fit_head

    rows = np.flatnonzero(keep)
    rng = np.random.default_rng(1000 + seed)
    held = rng.random(len(rows)) < 0.2
    codes = np.searchsorted(classes, y)
    train, val = rows[~held], rows[held]
    weight, bias, _ = fit_head(x[train], codes[train], x[val], codes[val], len(classes))
    predicted = (test_x @ weight.T + bias).argmax(axis=1)
    return float((predicted == np.searchsorted(classes, test_y)).mean())


def worth(args, vectors: np.ndarray, true: np.ndarray, classes: np.ndarray, cleanlab_issues) -> None:
    """The `--worth` table: test accuracy of the probe on each training set, per noise kind and rate."""
    from curate.prefilter.folds import fit_fold_models, grouped_folds, normalise_rows
    from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
    from curate.split import split_groups
    from tests.test_split import make_catalog

    test_paths = sorted(SCENES_TEST.glob("*/*.jpg"))
    started = time.perf_counter()
    test_x = embed(test_paths)
    test_y = np.array([path.parent.name for path in test_paths])
    print(f"{len(test_paths):,} clean test photos embedded in {time.perf_counter() - started:.0f} s")
    near = nearest_classes(vectors, true, classes)
    print("confusable flips go to: " + "; ".join(f"{c} -> {'/'.join(near[c])}" for c in classes))
    n = len(true)
    clean = probe_accuracy(vectors, true, np.ones(n, bool), test_x, test_y, classes, 0)
    print(f"probe on the train folder's own labels (no flips): {clean:.1%} test accuracy\n")
    methods = ("noisy (as given)", "ours: drop flags", "ours: relabel, drop the rest", "cleanlab: drop flags",
               "oracle: flips removed")
    table: dict[tuple[str, float], dict[str, list[float]]] = {}
    for kind in ("uniform", "confusable"):
        for rate in args.worth_rates:
            cell = table.setdefault((kind, rate), {m: [] for m in methods + ("flags ours", "flags cleanlab",
                                                                               "relabelled right")})
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                given, flipped = flip(true, classes, rate, kind, rng, near)
                catalog = make_catalog([{"owner_id": None, "tags": [], "image_path": f"i{i}.jpg", "label": given[i]}
                                        for i in range(n)])
                everyone = np.ones(n, bool)
                result, _ = prefilter_catalog(catalog, vectors, everyone, everyone,
                                              PrefilterConfig(topic=None, label_issues_only=True))
                ours = result["is_label_issue"].astype(bool).to_numpy()
                relabelled, _ = prefilter_catalog(catalog, vectors, everyone, everyone,
                                                  PrefilterConfig(topic=None, label_issues_only=True, relabel=True))
                new_labels = relabelled["label"].astype(str).to_numpy()
                changed = new_labels != given
                still = relabelled["is_label_issue"].astype(bool).to_numpy() & ~changed
                names, codes = np.unique(given, return_inverse=True)
                config = PrefilterConfig(topic=None, label_issues_only=True)
                fold = grouped_folds(codes, split_groups(catalog, "owner"), config.folds, config.seed)
                proba, _ = fit_fold_models(normalise_rows(vectors), codes, fold, len(names), config.regularisation,
                                           config.seed, normalise_rows(vectors[:0]), np.zeros(0, int))
                theirs = np.asarray(cleanlab_issues(labels=codes, pred_probs=proba), bool)
                sets = ((given, everyone), (given, ~ours), (new_labels, ~still), (given, ~theirs), (given, ~flipped))
                for method, (labels, keep) in zip(methods, sets):
                    cell[method].append(probe_accuracy(vectors, labels, keep, test_x, test_y, classes, seed))
                cell["flags ours"].append(int(ours.sum()))
                cell["flags cleanlab"].append(int(theirs.sum()))
                cell["relabelled right"].append((int((changed & (new_labels == true)).sum()), int(changed.sum())))
                print(f"{kind} {rate:.0%} seed {seed}: {int(flipped.sum())} flipped; " + ", ".join(
                    f"{m} {cell[m][-1]:.1%}" for m in methods) + f"; relabelled {int(changed.sum())} "
                    f"({int((changed & (new_labels == true)).sum())} right)", flush=True)
    print(f"\nmean test accuracy over {args.seeds} seeds (clean 15-Scene test, {len(test_paths):,} photos); "
          "worth = method - noisy, in pp (s.e. over seeds)")
    print(f"{'noise':18s} " + " ".join(f"{m:>30s}" for m in methods))
    for (kind, rate), cell in table.items():
        noisy = np.array(cell[methods[0]])
        parts = []
        for method in methods:
            values = np.array(cell[method])
            if method == methods[0]:
                parts.append(f"{values.mean():30.1%}")
            else:
                gain = (values - noisy) * 100
                se = gain.std(ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else float("nan")
                parts.append(f"{values.mean():.1%} ({gain.mean():+.1f} pp, s.e. {se:.1f})".rjust(30))
        print(f"{kind + ' ' + format(rate, '.0%'):18s} " + " ".join(parts))
    print()
    for (kind, rate), cell in table.items():
        ours = np.array(cell["ours: drop flags"]) - np.array(cell[methods[0]])
        theirs = np.array(cell["cleanlab: drop flags"]) - np.array(cell[methods[0]])
        right = np.sum([r for r, _ in cell["relabelled right"]])
        total = np.sum([t for _, t in cell["relabelled right"]])
        print(f"{kind} {rate:.0%}: worth ours (drop) {ours.mean() * 100:+.1f} pp vs cleanlab (drop) "
              f"{theirs.mean() * 100:+.1f} pp; flags {np.mean(cell['flags ours']):.0f} vs "
              f"{np.mean(cell['flags cleanlab']):.0f}; relabels right {right}/{total}")


def strengths(args, vectors: np.ndarray, true: np.ndarray, classes: np.ndarray) -> None:
    """The `--strengths` table: the stage's F1 at each L2 strength C of its label model, and at the C that the
    out-of-fold log loss on the given labels picks (what a user could choose without the truth), against the
    default (C = 1), per noise kind and rate."""
    from curate.prefilter.folds import fit_fold_models, grouped_folds, normalise_rows
    from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
    from tests.test_split import make_catalog

    near = nearest_classes(vectors, true, classes)
    n, default = len(true), PrefilterConfig(topic=None, label_issues_only=True)
    print(f"{'noise':16s} {'seed':>4s} " + " ".join(f"{'F1 C=' + format(c, 'g'):>9s}" for c in args.strengths)
          + f" {'log loss picks':>14s} {'its F1':>6s} {'/ default':>9s}")
    ratios = []
    for kind in ("uniform", "confusable"):
        for rate in args.worth_rates:
            for seed in range(args.seeds):
                given, flipped = flip(true, classes, rate, kind, np.random.default_rng(seed), near)
                catalog = make_catalog([{"owner_id": None, "tags": [], "image_path": f"i{i}.jpg", "label": given[i]}
                                        for i in range(n)])
                names, codes = np.unique(given, return_inverse=True)
                fold = grouped_folds(codes, np.arange(n), default.folds, default.seed)  # one photo a group here
                f1, loss = {}, {}
                for c in sorted(set(args.strengths) | {default.regularisation}):
                    config = PrefilterConfig(topic=None, label_issues_only=True, regularisation=c)
                    result, _ = prefilter_catalog(catalog, vectors, np.ones(n, bool), np.ones(n, bool), config)
                    f1[c] = scores(result["is_label_issue"].astype(bool).to_numpy(), flipped)[2]
                    proba, _ = fit_fold_models(normalise_rows(vectors), codes, fold, len(names), c, default.seed,
                                               normalise_rows(vectors[:0]), np.zeros(0, int))
                    loss[c] = float(-np.log(np.clip(proba[np.arange(n), codes], 1e-12, 1.0)).mean())
                picked = min(args.strengths, key=lambda c: loss[c])
                ratios.append(f1[picked] / f1[default.regularisation])
                print(f"{kind + ' ' + format(rate, '.0%'):16s} {seed:4d} "
                      + " ".join(f"{f1[c]:9.3f}" for c in args.strengths)
                      + f" {format(picked, 'g'):>14s} {f1[picked]:6.3f} {ratios[-1]:9.3f}", flush=True)
    print(f"\nF1 at the log-loss choice / F1 at the default C={default.regularisation:g}: mean {np.mean(ratios):.3f}, "
          f"range {min(ratios):.3f}-{max(ratios):.3f} over {len(ratios)} runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--flip-rate", type=float, default=0.1)
    parser.add_argument("--worth", action="store_true", help="downstream test accuracy instead of flag scores")
    parser.add_argument("--worth-rates", type=float, nargs="+", default=[0.1, 0.2, 0.4],
                        help="noise rates of --worth and --strengths")
    parser.add_argument("--strengths", type=float, nargs="+", metavar="C",
                        help="F1 at each label-model C and at the one the out-of-fold log loss picks (no cleanlab)")
    args = parser.parse_args()
    if not SCENES.is_dir():
        raise SystemExit(f"real data not found at {SCENES}")
    if args.strengths:
        paths = sorted(SCENES.glob("*/*.jpg"))
        true = np.array([path.parent.name for path in paths])
        started = time.perf_counter()
        vectors = embed(paths)
        cpu = platform.processor() or platform.machine()
        print(f"{len(paths):,} photos embedded in {time.perf_counter() - started:.0f} s; {cpu}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}")
        strengths(args, vectors, true, np.unique(true))
        return

    from curate.prefilter.folds import fit_fold_models, grouped_folds, normalise_rows
    from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
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
        if args.worth:
            worth(args, vectors, true, classes, cleanlab_issues)
            return
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
