"""`classify train --probe`: a linear probe, the head alone fitted to convergence on the pretrained
backbone's pooled features.

No fine-tuning and no augmentation: every photo's features come from one forward pass of the
frozen ImageNet backbone over the same centre crop evaluation, prediction, serving and the topic
gate see (`--image-size`, or `--eval-image-size`), and the head is a multinomial logistic
regression on them (L-BFGS, the L2 strength picked on the validation split's log loss). The
result is an ordinary run (the same `model.safetensors`: the pretrained backbone and this head),
so everything downstream reads it unchanged, and the topic gate reads the very features the
head does: one forward pass answers both.

Why it exists: on CPU the fine-tuned recipes train at 96-128 px for a few epochs, while the
backbone's own input is 224 px. On the scenes scrape a probe at 224 px is more accurate than
the fine-tuned 128 px model, in seconds of fitting after one pass (docs/benchmarks.md,
"Eighth run"). The fit is convex and deterministic: `--seed` does not change it.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from classify.trainer import with_model_name

log = logging.getLogger(__name__)

# inverse L2 strengths tried on standardised features; the validation log loss picks one
PROBE_C = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
DEFAULT_C = 0.1  # used when there are too few photos to choose with
MIN_VAL_PHOTOS = 30  # fewer validation photos: choose the strength by cross-validation on train
CV_FOLDS = 3
EDGE_FACTORS = (3.0, 10.0)  # strengths tried beyond the grid's end when the best is at it (10 -> 30, 100)
MAX_ITER = 2000


class FeatureCache:
    """Pooled features of the PRETRAINED backbone at one crop, by image sha256, in
    `<workspace>/cache/features/<backbone>-<crop>px/` (parquet parts, float16, the format of
    `curate embed`'s cache). A probe never changes the backbone, so its training, its topic gate,
    the uncurated comparison and every seed read the same features: each image is computed once.

    The features are those of the original photo decoded as every model input is
    (`curate.vision.images.load_uint8`), which is what `classify evaluate`, `predict` and `serve`
    feed the model: the head and the gate are fitted on the features they will be asked about.
    `curate embed` decodes the same way, so an image it has embedded with the same backbone at the
    same crop is not computed again: its vector is borrowed from that cache. Only the images
    without an embedding are computed."""

    def __init__(self, ws, backbone: str, size: int):
        from curate.embed_cache import EmbeddingCache, cache_key

        self.store = EmbeddingCache(ws, f"{backbone}-{size}px", folder="features")
        self.embedded = EmbeddingCache(ws, cache_key(backbone, size))  # `curate embed`'s, same crop
        self.borrowed = 0  # images the last `features` call took from `curate embed`'s cache

    def forget_read_otherwise(self, ws, workers: int) -> int:
        """Features an older way of reading pixels computed differently (curate.vision.pixel_read): dropped
        from this cache, to be computed again (`EmbeddingCache.forget_read_otherwise`); how many."""
        from curate import objectstore
        from curate.embed_cache import embeddable_images
        from curate.vision import pixel_read
        from curate.workspace import read_catalog

        if pixel_read.current(self.store.dir) or not self.store.dir.is_dir():
            return 0
        return self.store.forget_read_otherwise(embeddable_images(read_catalog(ws)), objectstore.locator(ws),
                                                max(1, workers))

    def _lendable(self) -> bool:
        """Whether `curate embed`'s vectors may stand in for this cache's: computed from pixels read the current
        way (a cache an older curate filled is marked again by the next `curate embed`)."""
        from curate.vision import pixel_read

        return pixel_read.marked(self.embedded.dir)  # its photos left pending are not lent (`_unlent`)

    def _unlent(self, shas) -> np.ndarray:
        """Which of `shas` (a Series) `curate embed`'s marked cache must not lend: those its mark leaves pending, whose
        vectors are not judged yet (an image out of the catalog when an older cache was marked, now back: review
        DG 5; an image whose file could not be opened)."""
        from curate.vision import pixel_read

        return shas.isin(pixel_read.waiting(self.embedded.dir)).to_numpy()

    def features(self, shas: list[str], compute) -> np.ndarray:
        """(N, dim) float32 features of `shas`; `compute(positions)` makes the missing ones, as (n, dim),
        from positions into `shas` (one position per distinct missing sha256)."""
        import pandas as pd

        series = pd.Series(shas, dtype=object)
        vectors, found, _ = self.store.lookup(series)
        self.borrowed = 0
        if found.all():
            return vectors
        missing = series[~found]
        first = missing[~missing.duplicated()]
        computed = self._borrow_or_compute(first, compute)
        self.store.append(first.tolist(), computed, np.ones(len(first), dtype=bool))
        vectors, found, _ = self.store.lookup(series)
        if not found.all():  # another process rewrote the part just written: use what was computed
            by_sha = dict(zip(first.tolist(), computed.astype(np.float16).astype(np.float32)))
            if vectors.shape[1] != computed.shape[1]:  # an empty cache has width 0 (nothing was found)
                vectors = np.zeros((len(series), computed.shape[1]), dtype=np.float32)
            vectors[~found] = np.stack([by_sha[sha] for sha in series[~found]])
        return vectors

    def cached(self, shas: list[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """((N, dim) float32 features, found (N,)) of `shas` from the caches alone, nothing computed:
        this cache first, then `curate embed`'s readable vectors. A vector of another width, or all
        zeros (an image that did not decode when it was cached), is not found: its photo is decoded
        again by the caller, which then says why it is unreadable."""
        import pandas as pd

        series = pd.Series(shas, dtype=object)
        features = np.zeros((len(series), dim), np.float32)
        found = np.zeros(len(series), bool)
        for cache, needs_ok in ((self.store, False), *(((self.embedded, True),) if self._lendable() else ())):
            vectors, has, ok = cache.lookup(series)
            if vectors.ndim != 2 or vectors.shape[1] != dim:
                continue
            take = has & ~found & (ok & ~self._unlent(series) if needs_ok else True) & vectors.any(axis=1)
            features[take], found[take] = vectors[take], True
        return features, found

    def _borrow_or_compute(self, first, compute) -> np.ndarray:
        """Features of the distinct images `first` (indexed by position into the caller's list):
        `curate embed`'s vectors where it has a readable one, `compute` for the others."""
        if not self._lendable():
            return compute(first.index.to_numpy())
        embedded, has, ok = self.embedded.lookup(first.reset_index(drop=True))
        take = has & ok & ~self._unlent(first)
        rest = first.index.to_numpy()[~take]
        fresh = compute(rest) if len(rest) else None
        if not take.any():
            return fresh
        if fresh is not None and fresh.shape[1] != embedded.shape[1]:  # not this network's vectors: borrow none
            return compute(first.index.to_numpy())
        out = embedded.astype(np.float32)
        if fresh is not None:
            out[~take] = fresh
        self.borrowed = int(take.sum())
        return out


def cached_features(trainer, rows, dataset) -> np.ndarray:
    """Pooled features of `rows`' original photos at the evaluation crop (`classify.gate.pooled_features`),
    through the workspace's FeatureCache (rows: the catalog rows of `dataset`)."""
    from classify import gate
    from curate import objectstore

    cache = FeatureCache(trainer.ws, trainer.config.backbone, trainer.eval_preprocess.size)
    if dropped := cache.forget_read_otherwise(trainer.ws, trainer.config.resolved_workers()):
        log.info(with_model_name(f"probe: {dropped:,} photos with a colour profile have their features computed "
                                 "again (read converted to sRGB since 2026-12-06)", trainer.name))
    paths = [objectstore.locate(trainer.ws, path) for path in rows["image_path"]]

    def compute(positions: np.ndarray) -> np.ndarray:
        return gate.pooled_features(trainer.model, [paths[i] for i in positions], trainer.eval_preprocess,
                                    trainer.device, trainer.config.batch_size, trainer.config.resolved_workers(),
                                    label=f"features of {len(positions)} photos")

    features = cache.features(rows["sha256"].astype(str).tolist(), compute)
    if cache.borrowed:
        log.info(with_model_name(f"probe: {cache.borrowed:,} photos' features taken from `curate embed`'s cache, "
                                 "not computed again", trainer.name))
    return features


def fit_head(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, outputs: int,
             balanced: bool = False, grid=PROBE_C, groups=None,
             name: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(weight (outputs, dim), bias (outputs,), facts) of a multinomial logistic regression on the
    features, for a linear layer fed the RAW features (the standardisation is folded in).

    The L2 strength is the one in `grid` with the lowest validation log loss. With fewer than
    `MIN_VAL_PHOTOS` validation photos that choice would rest on a handful of photos, so it is
    made by `CV_FOLDS`-fold cross-validation on the training photos instead (folds by `groups`,
    e.g. photographers, when given; a fold scores only when it holds out a photo of a class its
    other folds train on); with too few photos for that, or no fold that can score (one photo per
    class), `DEFAULT_C`. `facts` says which, and why.
    An output with no training photo gets weight 0 and a bias below every other, so it is never
    the answer.

    >>> x = np.array([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.2]], dtype=np.float32)
    >>> w, b, facts = fit_head(x, np.array([0, 0, 1, 1]), x[:0], np.array([], dtype=int), 3)
    >>> (x @ w.T + b).argmax(1).tolist(), facts["c"], facts["chosen_on"]
    ([0, 0, 1, 1], 0.1, 'default (too few training photos or groups to cross-validate)')
    """
    mean, std = _standardisation(train_x)
    scaled_train, scaled_val = (train_x - mean) / std, (val_x - mean) / std
    present = np.unique(train_y)
    if len(present) < 2:
        raise ValueError("a probe needs training photos of at least two classes")
    fit = partial(_fit_regression, x=scaled_train, y=train_y, class_weight="balanced" if balanced else None)
    folds = _folds(len(train_y), groups)
    chosen_on, score = _strength_scorer(fit, (scaled_train, train_y), (scaled_val, val_y), present, folds, groups)
    if score is None:
        c, model, val_loss, scored = DEFAULT_C, fit(DEFAULT_C), None, []
    else:
        scored = _search_with_progress(score, grid,
                                       with_model_name(f"probe: choosing the L2 strength C on {chosen_on}", name))
        val_loss, c, model = min(scored, key=lambda item: (item[0], item[1]))
        model = model if model is not None else fit(c)  # cross-validation keeps no model: fit the chosen C on all
    weights, bias = _raw_linear_layer(model, present, mean, std, outputs)
    facts = {"c": c, "chosen_on": chosen_on, "val_log_loss": val_loss,
             "grid": {str(g): s for s, g, _ in scored} if scored else None,
             "iterations": int(np.max(model.n_iter_))}
    return weights, bias, facts


def _standardisation(train_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per feature of the training photos, the scale the regression is fitted on: standardised
    features make one L2 strength weigh every feature alike (`PROBE_C` is a grid for them). A constant
    feature (std ~0) is divided by 1, not blown up."""
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    return mean, np.where(std > 1e-6, std, 1.0)


def _fit_regression(c: float, x: np.ndarray, y: np.ndarray, class_weight: str | None):
    """A multinomial logistic regression with inverse L2 strength `c`, fitted on `x`, `y` without the
    warnings that say nothing new: not converging within MAX_ITER (the strength search judges the result
    anyway) and few photos per class."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # few photos per class (one each, say): the run's thin-class warning has said so already
        warnings.filterwarnings("ignore", "The number of unique classes is greater than 50%", UserWarning)
        return LogisticRegression(C=c, max_iter=MAX_ITER, class_weight=class_weight).fit(x, y)


def _held_out_loss(model, x: np.ndarray, y: np.ndarray) -> float:
    """Mean log loss of the rows whose class the model knows."""
    known = np.isin(y, model.classes_)
    probabilities = np.clip(model.predict_proba(x[known]), 1e-12, 1)
    column = np.searchsorted(model.classes_, y[known])
    return float(-np.log(probabilities[np.arange(known.sum()), column]).mean())


def _strength_scorer(fit, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                     present: np.ndarray, folds: np.ndarray | None, groups) -> tuple[str, Callable | None]:
    """(what the L2 strength is chosen on, `score(c)` -> (loss, c, model or None)) for (x, y) of the `train`
    and `val` photos: the validation photos when `MIN_VAL_PHOTOS` of them are of a class training has
    (`present`), else cross-validation on the training photos over the folds that can score, else (the
    default and why, None): fewer photos would choose the strength on a handful of them. `fit(c)` fits the
    training photos."""
    (train_x, train_y), (val_x, val_y) = train, val
    scoring = _scoring_folds(folds, train_y)
    if np.isin(val_y, present).sum() >= MIN_VAL_PHOTOS:
        return "validation", partial(_validation_score, fit, val_x, val_y)
    if scoring:
        chosen_on = f"{CV_FOLDS}-fold cross-validation on the training photos" + (" by group" if groups is not None
                                                                                    else "")
        return chosen_on, partial(_cross_validation_score, fit, train_x, train_y, folds, scoring)
    why = ("too few training photos or groups to cross-validate" if folds is None else
           "no cross-validation fold holds out a photo of a class its other folds train on")
    return f"default ({why})", None


def _validation_score(fit, val_x: np.ndarray, val_y: np.ndarray, c: float) -> tuple[float, float, object]:
    """(validation log loss, c, model) of the regression fitted on every training photo at strength `c`."""
    model = fit(c)
    return _held_out_loss(model, val_x, val_y), c, model


def _cross_validation_score(fit, x: np.ndarray, y: np.ndarray, folds: np.ndarray, scoring: list[int],
                            c: float) -> tuple[float, float, None]:
    """(mean held-out log loss over the `scoring` folds, c, None) at strength `c`: each fold is scored by a
    model fitted on the other folds (none is kept: the chosen strength is fitted on every photo after)."""
    losses = [_held_out_loss(fit(c, x=x[folds != fold], y=y[folds != fold]), x[folds == fold], y[folds == fold])
              for fold in scoring]
    return float(np.mean(losses)), c, None


def _search_with_progress(score, grid, described: str) -> list[tuple]:
    """`_search(score, grid)` under a progress line `described`, counting the strengths tried: a search on
    many photos takes a while, and the line says what for (and which model, `with_model_name`)."""
    from curate.progress import working

    with working(described) as update:
        tried: list[float] = []

        def counted(c: float):
            found = score(c)
            tried.append(c)
            update(f"{described} ({len(tried)} of {len(grid)} or more strengths tried)")
            return found

        return _search(counted, grid)


def _raw_linear_layer(model, present: np.ndarray, mean: np.ndarray, std: np.ndarray,
                      outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """(weight (outputs, dim), bias (outputs,)) float32 of a linear layer fed the RAW features that answers
    what `model` answers on the standardised ones (the standardisation folded into it). The classes in
    `present` get the model's rows; an output with no training photo gets weight 0 and a bias 30 below
    every other, so it is never the answer."""
    coef, intercept = model.coef_, model.intercept_
    if len(present) == 2:  # sklearn's binary form: one row for the second class against the first
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    weights = np.zeros((outputs, len(mean)), dtype=np.float64)
    bias = np.full(outputs, 0.0)
    weights[present] = coef / std
    bias[present] = intercept - (coef / std) @ mean
    missing = np.setdiff1d(np.arange(outputs), present)
    bias[missing] = bias[present].min() - 30.0
    return weights.astype(np.float32), bias.astype(np.float32)


def _search(score, grid) -> list[tuple]:
    """`score(c)` (loss, c, model) of every strength in `grid`, then of up to `len(EDGE_FACTORS)` more
    beyond whichever end of the grid scored best, for as long as the newest one is the best so far: a best
    strength at the grid's edge says the best may lie beyond it (a small collection whose labels the
    features separate well wants a weaker penalty than the grid's weakest).

    >>> [c for _, c, _ in _search(lambda c: (abs(np.log10(c) - 2.0), c, None), (0.1, 1.0, 10.0))]
    [0.1, 1.0, 10.0, 30.0, 100.0]
    >>> [c for _, c, _ in _search(lambda c: (abs(np.log10(c)), c, None), (0.1, 1.0, 10.0))]
    [0.1, 1.0, 10.0]
    >>> [c for _, c, _ in _search(lambda c: (c, c, None), (0.001, 0.01))]
    [0.001, 0.01, 0.0003, 0.0001]
    """
    scored = [score(c) for c in grid]
    low, high = min(grid), max(grid)
    best = min(scored, key=lambda item: (item[0], item[1]))[1]
    if best not in (low, high) or len(grid) < 2:
        return scored
    for factor in EDGE_FACTORS:
        c = float(f"{best * factor if best == high else best / factor:.1g}")
        scored.append(score(c))
        if min(scored, key=lambda item: (item[0], item[1]))[1] != c:
            break
    return scored


def _scoring_folds(folds: np.ndarray | None, y: np.ndarray) -> list[int]:
    """The cross-validation folds that can score a strength: the photos outside the fold hold two
    classes or more, and the fold holds out a photo of one of them (a class the fold's model never
    saw has no probability to score). None of them with one training photo per class.

    >>> _scoring_folds(np.array([0, 1, 2, 0, 1, 2]), np.array([0, 0, 1, 1, 2, 2])), _scoring_folds(None, [0])
    ([0, 1, 2], [])
    >>> _scoring_folds(np.array([0, 1, 2, 0, 1, 2]), np.array([0, 1, 2, 3, 4, 5]))
    []
    """
    if folds is None:
        return []
    return [fold for fold in range(CV_FOLDS)
            if len(np.unique(y[folds != fold])) >= 2 and np.isin(y[folds == fold], y[folds != fold]).any()]


def _folds(n: int, groups) -> np.ndarray | None:
    """Fold of each of `n` training rows (`CV_FOLDS` folds, whole groups together when `groups` is
    given; a row without a group is a group of its own), or None when there are too few rows or
    groups to hold any out.

    >>> _folds(6, None).tolist(), _folds(6, ["a", "a", "b", "b", "c", "c"]).tolist(), _folds(4, None)
    ([0, 1, 2, 0, 1, 2], [0, 0, 1, 1, 2, 2], None)
    >>> _folds(6, [None] * 6).tolist(), _folds(6, ["a", "a", None, None, "b", None]).tolist()
    ([0, 1, 2, 0, 1, 2], [0, 0, 2, 0, 1, 1])
    """
    if n < 2 * CV_FOLDS:
        return None
    if groups is None:
        return np.arange(n) % CV_FOLDS
    import pandas as pd

    codes = pd.factorize(pd.Series(list(groups), dtype=object))[0]
    missing = codes < 0  # no owner: each photo is its own group, as in `curate split`
    codes[missing] = codes.max(initial=-1) + 1 + np.arange(missing.sum())
    return codes % CV_FOLDS if codes.max() + 1 >= CV_FOLDS else None


def fit_probe(trainer) -> dict:
    """Fit `trainer`'s head as a linear probe; returns the run's one history row."""
    started = time.perf_counter()
    data = trainer.data
    train_x = cached_features(trainer, data["train"].rows, data["train"].dataset)
    val_x = cached_features(trainer, data["val"].rows, data["val"].dataset)
    train_y, val_y = data["train"].dataset.targets, data["val"].dataset.targets
    owners = data["train"].rows["owner_id"] if "owner_id" in data["train"].rows else None
    weights, bias, facts = fit_head(train_x, train_y, val_x, val_y, len(trainer.outputs),
                                    balanced=trainer.config.balance != "none", groups=owners, name=trainer.name)
    linear = trainer.model.head[-1]
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weights))
        linear.bias.copy_(torch.from_numpy(bias))
    train_logits = train_x @ weights.T + bias
    row = {"epoch": 1, "stage": 1, **_scores("train", train_logits, train_y)}
    if len(val_y):
        row.update(_scores("val", val_x @ weights.T + bias, val_y, labels=len(trainer.classes)))
    else:
        row.update({"val_loss": None, "val_accuracy": None})
    row.update({"lr": 0.0, "probe_c": facts["c"], "probe_c_chosen_on": facts["chosen_on"],
                "seconds": round(time.perf_counter() - started, 2)})
    log.info(with_model_name(f"probe: L2 strength C = {facts['c']:g}, chosen on {facts['chosen_on']}"
                             f"{_grid_words(facts)}, {facts['iterations']} L-BFGS iterations", trainer.name))
    return row


def _grid_words(facts: dict) -> str:
    """The log loss of each C tried, and a warning when the choice sits at the grid's edge.

    >>> _grid_words({"c": 10.0, "grid": {"0.1": 0.61234, "10.0": 0.3691}})
    ' (log loss per C: 0.1: 0.612, 10: 0.369; at the edge of the grid, so a weaker L2 strength might fit better)'
    >>> _grid_words({"c": 0.1, "grid": None})
    ''
    """
    grid = facts.get("grid")
    if not grid:
        return ""
    words = ", ".join(f"{float(c):g}: {loss:.3f}" for c, loss in grid.items())
    values = [float(c) for c in grid]
    edge = ""
    if len(values) > 1 and facts["c"] == max(values):
        edge = "; at the edge of the grid, so a weaker L2 strength might fit better"
    elif len(values) > 1 and facts["c"] == min(values):
        edge = "; at the edge of the grid, so a stronger L2 strength might fit better"
    return f" (log loss per C: {words}{edge})"


def _scores(split: str, logits: np.ndarray, targets: np.ndarray, labels: int | None = None) -> dict:
    """Cross-entropy and accuracy as `Trainer.evaluate` computes them (validation: the labels' logits)."""
    logits = logits if labels is None else logits[:, :labels]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probabilities[np.arange(len(targets)), targets].mean())
    return {f"{split}_loss": loss, f"{split}_accuracy": float((logits.argmax(1) == targets).mean())}
