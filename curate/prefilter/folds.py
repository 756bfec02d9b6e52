"""Out-of-fold models (pure): photographer-grouped folds and the logistic regressions fitted on them.

The topic model (`curate.prefilter.topic`), the label model (`curate.prefilter.repair`) and the
classifier's gate (`classify.gate`) all score photos out of fold with these.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def largest_class(y: np.ndarray) -> int:
    """Rows of the most common value of `y` (0 when empty): `grouped_folds` needs at least `folds`.

    >>> largest_class(np.array([0, 1, 1, 2]))
    2
    """
    return int(np.unique(y, return_counts=True)[1].max(initial=0))


def grouped_folds(y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per row; a group never spans folds; labels stratified as far as groups allow.

    Needs `largest_class(y) >= folds` (scikit-learn refuses to stratify when every label is
    smaller than the number of folds); the callers check it and say what to do.
    """
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    fold = np.full(len(y), -1, dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has fewer members than n_splits"
        for number, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
            fold[test] = number
    return fold


MAX_ITER = 2000  # the logistic regressions' iterations: enough to converge on L2-normalised embeddings


def fit_fold_models(x: np.ndarray, y: np.ndarray, fold: np.ndarray, n_classes: int, c: float, seed: int,
                    extra_x: np.ndarray, extra_fold: np.ndarray,
                    one_class: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(out-of-fold probabilities of `x`, probabilities of `extra_x`): one logistic regression per
    fold, fitted on the rows of `x` outside it; an extra row is scored by its `extra_fold`'s model (the
    extra rows never train). A class absent from a fold's training rows gets probability 0 there. A fold
    whose training rows hold one class gives its rows `one_class` for that class: 1.0 for the label
    model (curate.prefilter.repair reads such rows as the fold's only class), NaN for the topic scores
    (`out_of_fold_proba`)."""
    from sklearn.linear_model import LogisticRegression

    proba, extra = np.zeros((len(y), n_classes)), np.zeros((len(extra_x), n_classes))
    for number in np.unique(fold):
        test, train, scored = fold == number, fold != number, extra_fold == number
        classes = np.unique(y[train])
        if len(classes) == 1:
            if np.isnan(one_class):  # nothing scored: the whole row, not only the one class's column
                proba[test], extra[scored] = np.nan, np.nan
            else:
                proba[np.ix_(test, classes)], extra[np.ix_(scored, classes)] = one_class, one_class
            continue
        model = LogisticRegression(C=c, max_iter=MAX_ITER, random_state=seed).fit(x[train], y[train])
        proba[np.ix_(test, classes)] = model.predict_proba(x[test])
        if scored.any():
            extra[np.ix_(scored, classes)] = model.predict_proba(extra_x[scored])
    return proba, extra


def out_of_fold_proba(x: np.ndarray, y: np.ndarray, fold: np.ndarray, n_classes: int, c: float,
                      seed: int) -> np.ndarray:
    """(n, n_classes) probabilities, each row predicted by a model fitted without its fold
    (`fit_fold_models`, the same models).

    A class absent from a fold's training rows gets probability 0 for that fold. A fold whose training
    rows hold one class only leaves its rows NaN: a model of one class scores nothing (it called every such
    row certain of that class, and a photographer holding every untagged photo got all of them scored
    1.0 on topic: audit AV3).

    >>> x = np.array([[0.0], [0.1], [1.0], [1.1]])
    >>> out_of_fold_proba(x, np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), 2, 1.0, 0)[:, 1].tolist()
    [nan, nan, nan, nan]
    """
    return fit_fold_models(x, y, fold, n_classes, c, seed, x[:0], np.zeros(0, int), one_class=np.nan)[0]


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, float]:
    """(coef (dim,), intercept) of a binary logistic regression on L2-normalised rows of `x`."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=MAX_ITER, random_state=seed).fit(normalise_rows(x), np.asarray(y, int))
    return model.coef_.ravel().astype(np.float64), float(model.intercept_[0])


def inherited_folds(catalog: pd.DataFrame, rows: np.ndarray, fold: np.ndarray, extra: np.ndarray,
                    folds: int, seed: int, grouping=None) -> np.ndarray:
    """Fold of each `extra` row: the fold of the scored rows of its photographer group (`grouping` of
    the rows, computed over both; default `curate.split.split_groups`: photographer ∪ near-duplicate
    cluster ∪ exact copy), else a seeded random fold."""
    from curate.split import split_groups

    chosen = catalog.iloc[np.concatenate([rows, extra])]
    groups = split_groups(chosen, "owner") if grouping is None else grouping(chosen)
    fold_of_group = pd.Series(fold, index=groups[:len(rows)]).groupby(level=0).first()
    inherited = pd.Series(groups[len(rows):]).map(fold_of_group)
    random = np.random.default_rng(seed).integers(0, folds, len(extra))
    return np.where(inherited.isna(), random, inherited.fillna(-1).to_numpy()).astype(np.int64)
