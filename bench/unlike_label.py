"""Photos unlike their label (`curate.prefilter.outliers`) on real photos, against confident learning
alone and against cleanlab, in the same run.

Data: the 15-Scene train folder (1,500 real photos, 15 labels of 100; each photo its own photographer,
as the folder gives none) and real imagenet-sample photos (dogs, tools, food: none of the labels).
Plant: one photographer adds `--shares` (of the label, default 5 / 15 / 30 %) imagenet photos under one
label (Coast, then Kitchen, then Highway: one per seed), the classic "sandals tagged Chicago". A clean
run (nothing planted) counts flags on good photos.

Methods, on the same embeddings (EfficientNet-Lite0, `curate embed`'s backbone) and the same
out-of-fold probabilities (the stage's own folds and models):
- ours: the stage (`prefilter_catalog`, label issues only): confident learning or unlike its label;
- ours before audit CR: the same run's flags or `label_fit` under -3.5 alone (no neighbourhood condition);
- confident learning alone (`curate.prefilter.confident.find_label_issues`: the stage before this);
- cleanlab `find_label_issues` (the peer, installed for this run into a temporary folder; AGPL, never a
  dependency) on the same probabilities;
- cleanlab `OutOfDistribution` (kNN on the same features, label-blind), flagging as many photos as ours.
Printed: plants found, good photos flagged, per method; the ratio of our recall to cleanlab's.
Run:  .venv/bin/python bench/unlike_label.py [--seeds 3] [--shares 0.05 0.15 0.3] [--vectors /tmp/v.npy]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENES = ROOT.parent / "shared" / "realdata" / "scenes15" / "train"
IMAGENET = ROOT.parent / "shared" / "realdata" / "imagenet-sample"
LABELS = ("Coast", "Kitchen", "Highway")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.05, 0.15, 0.3])
    parser.add_argument("--vectors", type=Path, help="a .npy cache of the embeddings: read when it exists "
                        "(and holds one row per photo), written otherwise")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.label_issues_real import embed, install_cleanlab
    from curate.prefilter.confident import find_label_issues
    from curate.prefilter.folds import fit_fold_models, grouped_folds, normalise_rows
    from curate.prefilter.outliers import UNLIKE_Z
    from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
    from curate.split import split_groups
    from tests.test_split import make_catalog

    scenes = sorted(SCENES.glob("*/*.jpg"))
    extra = sorted(IMAGENET.glob("*.JPEG")) + sorted(IMAGENET.glob("*.jpg"))
    if not scenes or not extra:
        raise SystemExit(f"needs {SCENES} and {IMAGENET} (../shared/realdata)")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{len(scenes)} 15-Scene photos, {len(extra)} imagenet-sample photos; embedding ...", flush=True)
    vectors = cached_vectors(args.vectors, scenes + extra, embed)
    genuine = np.array([path.parent.name for path in scenes])
    config = PrefilterConfig(topic=None, label_issues_only=True)
    with tempfile.TemporaryDirectory() as folder:
        install_cleanlab(Path(folder))
        from cleanlab.filter import find_label_issues as cleanlab_issues
        from cleanlab.outlier import OutOfDistribution

        rows = []
        for share in [0.0, *args.shares]:
            for seed in range(args.seeds if share else 1):
                rng = np.random.default_rng(seed)
                label = LABELS[seed % len(LABELS)]
                count = int(round(share * 100 / (1 - share))) if share else 0  # share of the label after planting
                planted = rng.choice(len(extra), count, replace=False) + len(scenes)
                index = np.concatenate([np.arange(len(scenes)), planted])
                labels = np.concatenate([genuine, [label] * count])
                owners = [f"u{i}" for i in range(len(scenes))] + ["sandalman"] * count
                catalog = make_catalog([{"owner_id": owner, "tags": [], "image_path": f"i{i}.jpg", "label": name}
                                        for i, (owner, name) in enumerate(zip(owners, labels))])
                x = vectors[index]
                n = len(index)
                result, _ = prefilter_catalog(catalog, x, np.ones(n, bool), np.ones(n, bool), config)
                ours = result["is_label_issue"].fillna(False).astype(bool).to_numpy()
                # before audit CR the fit alone flagged (label_fit is the same column): the old rule, same vectors
                alone = result["label_fit"].to_numpy(float) < -UNLIKE_Z
                if not share:
                    print("clean run, unlike their label by the fit alone: " + ", ".join(
                        f"{scenes[i].parent.name}/{scenes[i].stem} ({result['label_fit'].iloc[i]:.2f}"
                        f"{', still flagged' if ours[i] else ', not flagged now'})" for i in np.flatnonzero(alone)),
                        flush=True)
                names, codes = np.unique(labels, return_inverse=True)
                fold = grouped_folds(codes, split_groups(catalog, "owner"), config.folds, config.seed)
                proba, _ = fit_fold_models(normalise_rows(x), codes, fold, len(names), config.regularisation,
                                           config.seed, normalise_rows(x[:0]), np.zeros(0, int))
                confident = find_label_issues(codes, proba).is_issue
                theirs = np.asarray(cleanlab_issues(labels=codes, pred_probs=proba), bool)
                ood = OutOfDistribution().fit_score(features=normalise_rows(x))
                budget = np.zeros(n, bool)
                budget[np.argsort(ood, kind="stable")[:ours.sum()]] = True
                bad = np.arange(n) >= len(scenes)
                methods = (("ours", ours), ("before CR", ours | alone), ("confident", confident),
                           ("cleanlab", theirs), ("cleanlab OOD", budget))
                rows.append((share, seed, label, count, {name: (int((flags & bad).sum()), int((flags & ~bad).sum()))
                                                         for name, flags in methods}))
                found = rows[-1][4]
                print(f"share {share:.0%} seed {seed} ({label}, {count} planted): " + "; ".join(
                    f"{name} {hit}/{count} planted, {wrong} good" for name, (hit, wrong) in found.items()),
                    flush=True)
    print("\n| planted (share of the label) | ours: planted found / good flagged | ours before audit CR (the fit "
          "alone) | confident learning alone | cleanlab find_label_issues | cleanlab OutOfDistribution (as many "
          "flags as ours) |")
    print("|---|---|---|---|---|---|")
    for share in [0.0, *args.shares]:
        mine = [row for row in rows if row[0] == share]
        planted = sum(row[3] for row in mine)
        cells = []
        for name in ("ours", "before CR", "confident", "cleanlab", "cleanlab OOD"):
            hit, wrong = sum(row[4][name][0] for row in mine), sum(row[4][name][1] for row in mine)
            cells.append(f"{hit}/{planted} / {wrong}" if planted else f"— / {wrong}")
        print(f"| {share:.0%} ({len(mine)} run{'s' if len(mine) != 1 else ''}) | " + " | ".join(cells) + " |")
    planted = [row for row in rows if row[0]]
    ours = sum(row[4]["ours"][0] for row in planted)
    before = sum(row[4]["before CR"][0] for row in planted)
    theirs = sum(row[4]["cleanlab"][0] for row in planted)
    total = sum(row[3] for row in planted)
    print(f"\nplanted photos found, ours / cleanlab find_label_issues: {ours}/{total} vs {theirs}/{total} "
          f"({ours / max(theirs, 1):.2f}x); ours before audit CR's neighbourhood rule: {before}/{total}; good photos "
          f"flagged on the clean folder, ours / before: {rows[0][4]['ours'][1]} / {rows[0][4]['before CR'][1]}")


def cached_vectors(path: Path | None, paths: list[Path], embed) -> np.ndarray:
    """`embed(paths)`, read from `path` (.npy) when it holds one row per photo, saved there otherwise."""
    if path is not None and path.exists():
        vectors = np.load(path)
        if len(vectors) == len(paths):
            print(f"vectors read from {path}", flush=True)
            return vectors
    vectors = embed(paths)
    if path is not None:
        np.save(path, vectors)
    return vectors


if __name__ == "__main__":
    main()
