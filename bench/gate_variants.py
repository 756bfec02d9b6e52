"""Topic-gate variants on saved features: which score keeps off-topic photos from being answered?

Issue K's gate target: of the off-topic photos of test photographers (the sandals test), the
curated model behind its gate answers <= 5% with a label at p >= 0.5, and gates <= 3% of the
on-topic test photos. This bench compares, for trained runs of one collection, in the same run:

  a      today's gate: logistic head (L2 rows, C=1) on the run's pooled fine-tuned features,
         threshold Youden's J on owner-grouped out-of-fold scores, capped at 3% of on-topic val
  a C=10 the same head, weaker regularisation
  a all  the same head, cap on the out-of-fold scores of ALL on-topic training photos (not val only)
  c      the head's out-of-fold logit stacked with the classifier's energy and max softmax
         (free at predict time: the same forward pass)
  d14/15 the head on pooled outputs of lite0 blocks 14 / 15 (same forward pass, less specialised)
  b3     the head on the pretrained backbone's pooled features at the run's own input size (a
         second forward pass; tells fine-tuning apart from input size)
  b2     the head on the pretrained ImageNet embedding `curate embed` cached (a second forward pass)
  b      the prefilter's own saved topic model and threshold on that embedding (a second pass; note:
         the sandals photos ARE the prefilter's drops, so on them this variant grades itself)

Every variant is fitted and thresholded on training photographers only (`classify.gate.gate_rows`:
kept train/val photos vs prefilter off-topic drops of non-test owners); figures are on test
photographers: the sandals photos as `classify evaluate` picks them, and the test split. With the
collection's ground truth (demo_truth.parquet, generated and scraped collections have one), the
sandals photos are also split into truly off-topic and truly on-topic (prefilter false drops: a
gate that answers those is right, yet the sandals share counts them).

Features (pooled, logits, block outputs) are extracted once per run into --cache and reused.

    .venv/bin/python bench/gate_variants.py --workspace /tmp/lead-k/scenes-scrape/full \\
        --cache /tmp/gate-variants/scenes [--runs full-seed0 full-seed1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BLOCKS = (14, 15)  # EfficientNet-Lite0 blocks: 14 ends the 192-channel stage, 15 is the 320-channel one
ANSWER_P, GATE_TARGET, WRONG_TARGET = 0.5, 0.05, 0.03


def extract(run: Path, paths: list[str], pretrained: bool = False) -> dict[str, np.ndarray]:
    """{"pooled", "logits", "block14", "block15"} of the run's model on the images at `paths`
    (eval transform, one forward pass; block outputs via forward hooks, averaged over space).
    `pretrained`: the same architecture and input size with its ImageNet weights instead."""
    import torch

    from classify.data import read_rgb_tensor, transforms
    from classify.model import build_classifier, load_model

    model, meta = load_model(run, "cpu")
    if pretrained:
        model, _ = build_classifier(meta.backbone, len(meta.classes), pretrained=True,
                                    image_size=meta.preprocessing().size)
        model.eval()
    grabbed, hooks = {}, []
    blocks = getattr(getattr(model.backbone, "net", None), "_blocks", None)
    for b in BLOCKS if blocks is not None else ():
        hooks.append(blocks[b].register_forward_hook(
            lambda _m, _i, out, b=b: grabbed.__setitem__(b, out.mean((2, 3)).float().numpy())))
    transform, out = transforms(meta.preprocessing(), train=False), {}
    with torch.inference_mode():
        for start in range(0, len(paths), 64):
            batch = torch.stack([transform(read_rgb_tensor(p)) for p in paths[start:start + 64]])
            pooled, logits = model.features_and_logits(batch)
            for key, value in (("pooled", pooled.numpy()), ("logits", logits.numpy()),
                               *((f"block{b}", grabbed[b]) for b in grabbed)):
                out.setdefault(key, []).append(value)
    for hook in hooks:
        hook.remove()
    return {key: np.concatenate(chunks) for key, chunks in out.items()}


def cached_features(run: Path, rows: pd.DataFrame, cache: Path, pretrained: bool = False) -> dict[str, np.ndarray]:
    """The run's features for `rows` (sha256, resized), extracting only images not yet in the cache."""
    size = json.loads((run / "model.json").read_text())["preprocess"]["size"]
    target = cache / (f"pretrained-{size}px.npz" if pretrained else f"{run.name}.npz")
    old = dict(np.load(target)) if target.exists() else None
    todo = rows if old is None else rows[~rows["sha256"].isin(set(old["sha256"]))]
    if len(todo):
        started = time.time()
        new = {**extract(run, todo["resized"].tolist(), pretrained), "sha256": todo["sha256"].to_numpy().astype(str)}
        merged = new if old is None else {k: np.concatenate([old[k], new[k]]) for k in new}
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(target, **merged)
        print(f"  {target.stem}: features of {len(todo):,} images in {time.time() - started:.0f} s", flush=True)
        old = merged
    order = pd.Series(np.arange(len(old["sha256"])), index=old["sha256"]).reindex(rows["sha256"]).to_numpy()
    return {key: value[order] for key, value in old.items() if key != "sha256"}


def resized_images(ws, rows: pd.DataFrame, side: int, cache: Path) -> list:
    """Each row's image at the training cache's size: the workspace's own cache where it has it,
    else resized once into `cache` (the workspace is only read)."""
    from classify.data import _resize_one, resized_path

    out = []
    for sha, path in zip(rows["sha256"], rows["image_path"]):
        own, ours = resized_path(ws, sha, side), cache / f"resized-{side}" / sha[:2] / f"{sha}.jpg"
        if not own.exists() and not ours.exists():
            ours.parent.mkdir(parents=True, exist_ok=True)
            _resize_one(ws.root / path, ours, side)
        out.append(str(own) if own.exists() else str(ours) if ours.exists() else None)
    return out


def collection(ws_root: Path, side: int, cache: Path):
    """(catalog rows with resized images, fit rows, sandals rows, test rows, truth or None)."""
    from classify.evaluate_photos import off_topic_photos_of
    from classify.gate import gate_rows
    from curate.workspace import Workspace, read_catalog

    ws = Workspace(ws_root)
    catalog = read_catalog(ws)
    positives, negatives = gate_rows(catalog)
    fit = pd.concat([positives.assign(y=1), negatives.assign(y=0)], ignore_index=True)
    sandals = catalog[catalog["photo_id"].isin(off_topic_photos_of(catalog)["photo_id"])]
    test = catalog[(catalog["split"] == "test") & catalog["image_path"].notna()]
    rows = pd.concat([fit, sandals, test])[["sha256", "image_path"]].drop_duplicates("sha256")
    rows = rows.assign(resized=resized_images(ws, rows, side, cache))
    rows = rows[rows["resized"].notna()].reset_index(drop=True)
    keep = set(rows["sha256"])
    truth_path = ws_root / "demo_truth.parquet"
    truth = pd.read_parquet(truth_path).set_index("photo_id")["is_on_topic"] if truth_path.exists() else None
    return (ws, rows, *(frame[frame["sha256"].isin(keep)].reset_index(drop=True) for frame in (fit, sandals, test)),
            truth)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def energy(logits: np.ndarray) -> np.ndarray:
    """log-sum-exp of the logits: high where the classifier is confident in some class."""
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


class Fitted:
    """One variant fitted on the fit rows: `scores` over all rows, `threshold`, out-of-fold scores."""

    def __init__(self, scores: np.ndarray, threshold: float, oof: np.ndarray):
        self.scores, self.threshold, self.oof = scores, threshold, oof


def head(x: np.ndarray, fit: np.ndarray, y: np.ndarray, fold: np.ndarray, is_val: np.ndarray,
         c: float = 1.0, cap_on: str = "val", norm: bool = True) -> Fitted:
    """`classify.gate.fit_gate`'s recipe on any feature matrix `x` (all rows; `fit` indexes the fit rows)."""
    from sklearn.linear_model import LogisticRegression

    from classify.gate import choose_threshold
    from curate.prefilter.folds import normalise_rows, out_of_fold_proba

    xn = normalise_rows(x) if norm else x
    oof = out_of_fold_proba(xn[fit], y, fold, 2, c, 0)[:, 1]
    threshold, _ = choose_threshold(oof, y.astype(bool), is_val if cap_on == "val" else np.ones(len(y), bool))
    model = LogisticRegression(C=c, max_iter=3000, random_state=0).fit(xn[fit], y)
    return Fitted(model.predict_proba(xn)[:, 1], threshold, oof)


def stacked(features: dict, fit, y, fold, is_val) -> Fitted:
    """Variant c: the pooled head's out-of-fold logit with the classifier's energy and max softmax."""
    base = head(features["pooled"], fit, y, fold, is_val)
    logit = np.log(np.clip(base.scores, 1e-9, 1)) - np.log(np.clip(1 - base.scores, 1e-9, 1))
    logit[fit] = np.log(np.clip(base.oof, 1e-9, 1)) - np.log(np.clip(1 - base.oof, 1e-9, 1))
    logits = features["logits"]
    z = np.c_[logit, energy(logits), softmax(logits).max(axis=1)]
    z = (z - z[fit].mean(axis=0)) / (z[fit].std(axis=0) + 1e-9)
    return head(z, fit, y, fold, is_val, c=1.0, norm=False)


def variants(features: dict, at_run_size: dict, embedding: np.ndarray | None, prefilter, fit, y, fold,
             is_val) -> dict[str, Fitted]:
    """{name: Fitted} of every variant this run's features allow."""
    out = {"a (today)": head(features["pooled"], fit, y, fold, is_val),
           "a C=10": head(features["pooled"], fit, y, fold, is_val, c=10.0),
           "a cap on all": head(features["pooled"], fit, y, fold, is_val, cap_on="all"),
           "c stacked energy": stacked(features, fit, y, fold, is_val)}
    for b in BLOCKS:
        if f"block{b}" in features:
            out[f"d block {b}"] = head(features[f"block{b}"], fit, y, fold, is_val)
    out["b3 pretrained @ run size"] = head(at_run_size["pooled"], fit, y, fold, is_val)
    if embedding is not None:
        out["b2 pretrained head"] = head(embedding, fit, y, fold, is_val)
    if prefilter is not None:
        out["b prefilter model"] = Fitted(*prefilter, oof=np.full(len(y), np.nan))
    return out


def pretrained(ws, shas: pd.Series):
    """(embedding (N, dim) or None, (prefilter scores, threshold) or None) from `curate embed`'s cache
    and the prefilter's saved topic model; None where a row has no embedding."""
    from curate.embed import EmbeddingCache
    from curate.prefilter.folds import normalise_rows
    from curate.prefilter.run import TOPIC_META, TOPIC_WEIGHTS, topic_model_dir

    folder = topic_model_dir(ws)
    if not (folder / TOPIC_META).exists():
        return None, None
    meta = json.loads((folder / TOPIC_META).read_text())
    vectors, found, ok = EmbeddingCache(ws, meta["embedding_cache_key"]).lookup(shas)
    if not (found & ok).all():
        print(f"  {int((~(found & ok)).sum())} photos have no cached embedding: b and b2 left out")
        return None, None
    from safetensors.numpy import load_file

    weights = load_file(folder / TOPIC_WEIGHTS)
    scores = 1 / (1 + np.exp(-(normalise_rows(vectors) @ weights["coef"] + float(weights["intercept"][0]))))
    return vectors, (scores, float(meta["threshold"]))


def score_run(fitted: Fitted, maxp: np.ndarray, sandals: np.ndarray, test: np.ndarray, truly_on: np.ndarray | None,
              y: np.ndarray) -> dict:
    """Shares for one variant: training photographers' off-topic gated (out of fold), sandals answered,
    sandals truly off-topic answered (with truth), on-topic test photos wrongly gated."""
    answered = (fitted.scores[sandals] >= fitted.threshold) & (maxp[sandals] >= ANSWER_P)
    oof_gated = None if np.isnan(fitted.oof).all() else float(np.mean(fitted.oof[y == 0] < fitted.threshold))
    out = {"threshold": round(float(fitted.threshold), 4), "oof_off_topic_gated": oof_gated,
           "sandals": int(len(sandals)), "sandals_answered": float(answered.mean()),
           "wrongly_gated": float(np.mean(fitted.scores[test] < fitted.threshold))}
    if truly_on is not None:
        out.update(truly_off=int((~truly_on).sum()), truly_off_answered=float(answered[~truly_on].mean()),
                   truly_on_answered=int(answered[truly_on].sum()), truly_on=int(truly_on.sum()))
    return out


def bench_run(run: Path, rows, fit, sandals, test, truth, ws, cache: Path) -> dict[str, dict]:
    """{variant: score_run(...)} for one trained run."""
    from classify.model import RunMeta
    from curate.prefilter.folds import grouped_folds

    features = cached_features(run, rows, cache)
    where = pd.Series(np.arange(len(rows)), index=rows["sha256"])
    fit_i, sandals_i, test_i = (where.loc[frame["sha256"]].to_numpy() for frame in (fit, sandals, test))
    y = fit["y"].to_numpy()
    fold = grouped_folds(y, fit["owner_id"].to_numpy(), 5, 0)
    embedding, prefilter = pretrained(ws, rows["sha256"])
    maxp = softmax(features["logits"]).max(axis=1)
    truly_on = None if truth is None else sandals["photo_id"].map(truth).fillna(False).to_numpy(bool)
    at_run_size = cached_features(run, rows, cache, pretrained=True)
    fitted = variants(features, at_run_size, embedding, prefilter, fit_i, y, fold, (fit["split"] == "val").to_numpy())
    out = {name: score_run(f, maxp, sandals_i, test_i, truly_on, y) for name, f in fitted.items()}
    alone = maxp[sandals_i] >= ANSWER_P
    out["model alone"] = {"sandals": int(len(sandals_i)), "sandals_answered": float(alone.mean()),
                          **({} if truly_on is None else {"truly_off_answered": float(alone[~truly_on].mean())})}
    print(f"  {run.name}: {RunMeta.from_file(run / 'model.json').preprocess['size']} px, {len(fit):,} fit rows "
          f"({int((y == 0).sum())} off topic), {len(sandals_i)} sandals photos, {len(test_i)} test photos", flush=True)
    return out


def pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def print_table(results: dict[str, dict[str, dict]]) -> None:
    """One row per variant: mean over runs (per-run figures after the slash)."""
    names = list(next(iter(results.values())))
    print("| variant | answered (sandals test) | truly off-topic answered | truly on-topic answered | "
          "on-topic test wrongly gated | training photographers' off-topic gated (oof) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        cells = []
        for key in ("sandals_answered", "truly_off_answered", "truly_on_answered", "wrongly_gated",
                    "oof_off_topic_gated"):
            values = [r[name].get(key) for r in results.values()]
            if any(v is None for v in values):
                cells.append("—")
            elif key == "truly_on_answered":
                cells.append(" / ".join(f"{v} of {r[name]['truly_on']}" for v, r in zip(values, results.values())))
            else:
                cells.append(f"{pct(np.mean(values))} ({' / '.join(pct(v) for v in values)})")
        print(f"| {name} | " + " | ".join(cells) + " |")


def fail(message: str) -> None:
    """One line on stderr, exit 2 (a usage error)."""
    print(message, file=sys.stderr)
    sys.exit(2)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True, help="a curated collection with trained runs/")
    parser.add_argument("--runs", nargs="*", help="run names under runs/ (default: every full-seed* with a gate)")
    parser.add_argument("--cache", type=Path, required=True, help="where features and resized images are kept")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    from classify.model import RunMeta

    runs = args.workspace / "runs"
    names = args.runs or sorted(p.name for p in runs.glob("full-seed*") if (p / "gate.json").exists())
    if not names:
        fail(f"no trained runs with a gate under {runs}; pass --runs")
    missing = [name for name in names if not (runs / name / "model.json").is_file()]
    if missing or not (args.workspace / "catalog.parquet").is_file():
        fail(f"{args.workspace} has no catalog.parquet or no trained run {', '.join(missing)} under runs/; "
                 "pass a curated workspace and run names from its runs/ folder")
    side = int(RunMeta.from_file(runs / names[0] / "model.json").config.get("cache_side", 256))
    ws, rows, fit, sandals, test, truth = collection(args.workspace, side, args.cache)
    print(f"{args.workspace}: runs {', '.join(names)}; truth {'yes' if truth is not None else 'no'}", flush=True)
    results = {name: bench_run(runs / name, rows, fit, sandals, test, truth, ws, args.cache)
               for name in names}
    print_table(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
