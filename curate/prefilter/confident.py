"""Confident learning: find samples whose given label is probably wrong (NumPy, no cleanlab).

Input: `labels` (n,) given class indices in [0, K) and `probs` (n, K) predicted probabilities
that must be out-of-fold (each sample scored by a model that never saw it), else the model
has memorised the wrong labels and agrees with them. The method (Northcutt, Jiang & Chuang,
"Confident Learning", JAIR 2021), in four vectorised steps:

1. `per_class_thresholds`: t_j = mean of probs[:, j] over samples labelled j (the model's
   average self-confidence on class j). Classes with no sample get t_j = inf: never fire.
2. `confident_joint`: C[i, j] counts samples labelled i that the model confidently believes
   are j: the class with the highest probability among {j : probs[:, j] >= t_j}.
3. `calibrate_joint`: rescale each row of C so it sums to the number of samples labelled i,
   divide by n: an estimate of the joint distribution Q(given = i, true = j).
4. `find_label_issues`, "prune by noise rate": for each off-diagonal cell, n_ij = round(n Q[i, j])
   samples labelled i are flagged: those with the largest margin probs[:, j] - probs[:, i].
   The union over j is kept, minus any sample whose argmax is its given label.

cleanlab (AGPL-3.0) implements the same paper; it is deliberately not a dependency. This is
an independent implementation which differs from cleanlab's `filter.find_label_issues`
(`filter_by="prune_by_noise_rate"`) in these documented ways:

- A sample above several thresholds goes to the most probable of *those* classes (the
  paper's definition); cleanlab uses the argmax over all classes.
- A class with samples but an empty confident-joint row (nothing counted) is assumed
  correctly labelled (its row goes onto the diagonal); cleanlab instead raises every
  diagonal cell to at least 1 before calibrating.
- Every class keeps at least `min_examples_per_class` unflagged samples, guaranteed: when a
  row's prune counts add up to more than that allows they are scaled down (rounded down).
  cleanlab shifts counts uniformly and rounds, which can miss the bound by rounding.
- Ties in the margin ranking are broken by sample order, so exactly n_ij samples are taken
  per cell and the result is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROW_SUM_TOLERANCE = 1e-3
# A class mean can land a rounding error above every value it averages (all samples of a
# class at 0.7 give a mean of 0.7000000000000001); this slack keeps such samples counted.
THRESHOLD_SLACK = 1e-6


@dataclass(frozen=True)
class LabelIssues:
    """What `find_label_issues` found, one entry per sample unless noted.

    is_issue: bool (n,), the sample's given label is probably wrong.
    label_quality: float (n,), self-confidence probs[i, labels[i]] in [0, 1]; low is suspect.
    suggested: int (n,), the model's most probable class (argmax of probs, lowest index on
        ties) for every sample; for a flagged sample it always differs from the given label.
    joint: float (K, K), calibrated joint Q(given = row, true = column), sums to 1.
    thresholds: float (K,), per-class thresholds (inf for classes with no sample).
    prune_counts: int (K, K), how many samples labelled `row` were looked for as `column`
        (zero diagonal); `is_issue` of class i has at most prune_counts[i].sum() entries.
    """

    is_issue: np.ndarray
    label_quality: np.ndarray
    suggested: np.ndarray
    joint: np.ndarray
    thresholds: np.ndarray
    prune_counts: np.ndarray

    @property
    def num_issues(self) -> int:
        return int(self.is_issue.sum())


def per_class_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Mean self-confidence per class: t_j = mean(probs[labels == j, j]).

    Args:
        labels: (n,) ints in [0, K); probs: (n, K), rows summing to 1.
    Returns:
        float (K,); a class with no sample gets `inf`, a threshold nothing reaches, so it is
        never the confidently-believed class of any sample.

    >>> per_class_thresholds(np.array([0, 0, 1]), np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]]))
    array([0.7, 0.8])
    """
    labels, probs = _validated(labels, probs)
    return _thresholds(labels, probs)


def confident_joint(labels: np.ndarray, probs: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """Counts C[i, j] of samples labelled i that the model confidently believes are class j.

    A sample is counted in column argmax{probs[s, j] : probs[s, j] >= t_j} (lowest index on
    ties); a sample above no threshold is not counted at all, so C.sum() <= n.

    Args:
        labels: (n,) ints in [0, K); probs: (n, K), rows summing to 1.
        thresholds: (K,) per-class thresholds; default `per_class_thresholds(labels, probs)`.
    Returns:
        int64 (K, K); row = given label, column = confidently-believed label.

    >>> confident_joint(np.array([0, 0, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.2, 0.8]]))
    array([[1, 1],
           [0, 1]])
    """
    labels, probs = _validated(labels, probs)
    if thresholds is None:
        thresholds = _thresholds(labels, probs)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.shape != (probs.shape[1],):
        raise ValueError(f"thresholds must have one value per class ({probs.shape[1]}), got shape {thresholds.shape}")
    return _confident_joint(labels, probs, thresholds)


def confident_class(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The class each sample is confidently believed to be: argmax{probs[s, j] : probs[s, j] >= t_j}
    (lowest index on ties), -1 where no class reaches its threshold. The confident joint's column.

    Args:
        probs: (n, K) probabilities; thresholds: (K,) per-class thresholds (`per_class_thresholds`).
    Returns:
        int64 (n,).

    >>> confident_class(np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]]), np.array([0.7, 0.8]))
    array([ 0, -1, -1])
    """
    probs = np.asarray(probs, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if probs.ndim != 2 or thresholds.shape != (probs.shape[1],):
        raise ValueError(f"probs must be (n, K) and thresholds (K,), got {probs.shape} and {thresholds.shape}")
    above = probs >= thresholds - THRESHOLD_SLACK
    believed = np.where(above, probs, -np.inf).argmax(axis=1)
    return np.where(above.any(axis=1), believed, -1).astype(np.int64)


def calibrate_joint(cj: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Turn confident-joint counts into a joint distribution Q(given, true) that sums to 1.

    Each row i is rescaled to sum to the number of samples labelled i (the confident joint
    under-counts rows whose samples often fall below every threshold), then everything is
    divided by n; so Q's row sums are the given-label frequencies. A row with no count but
    with samples carries no evidence of noise and goes onto the diagonal. Rows of classes
    with no sample are zero. Returns a probability matrix, not counts: multiply by n for counts.

    >>> calibrate_joint(np.array([[2, 1], [0, 1]]), np.array([0, 0, 0, 0, 0, 0, 1, 1]))
    array([[0.5 , 0.25],
           [0.  , 0.25]])
    """
    cj = np.asarray(cj, dtype=np.float64)
    if cj.ndim != 2 or cj.shape[0] != cj.shape[1] or cj.shape[0] < 2:
        raise ValueError(f"confident joint must be a square K x K matrix with K >= 2, got shape {cj.shape}")
    if not np.all(np.isfinite(cj)) or (cj < 0).any():
        raise ValueError("confident joint must hold finite, non-negative counts")
    labels = _validated_labels(labels, cj.shape[0])
    if labels.size == 0:
        raise ValueError("no samples: labels is empty")
    return _calibrate(cj, np.bincount(labels, minlength=cj.shape[0]))


def find_label_issues(labels: np.ndarray, probs: np.ndarray, *, min_examples_per_class: int = 1) -> LabelIssues:
    """Flag samples whose given label is probably wrong (confident learning, prune by noise rate).

    Args:
        labels: (n,) given class indices in [0, K).
        probs: (n, K) out-of-fold predicted probabilities, rows summing to 1 (within 1e-3).
        min_examples_per_class: never flag so many samples of a class that fewer than this
            many remain unflagged (a class with at most this many samples is never pruned).
    Returns:
        `LabelIssues`. A flagged sample's given label is never its argmax class.
    Raises:
        ValueError: probs not 2-D, fewer than 2 classes, rows not summing to 1, negative or
            non-finite probabilities, labels not integers in [0, K) or of another length.

    >>> probs = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4 + [[0.05, 0.95]])
    >>> find_label_issues(np.array([0] * 4 + [1] * 4 + [0]), probs).is_issue.nonzero()[0]
    array([8])
    """
    if isinstance(min_examples_per_class, bool) or not isinstance(min_examples_per_class, (int, np.integer)) \
            or min_examples_per_class < 0:
        raise ValueError(f"min_examples_per_class must be an integer >= 0, got {min_examples_per_class!r}")
    labels, probs = _validated(labels, probs)
    counts = np.bincount(labels, minlength=probs.shape[1])
    thresholds = _thresholds(labels, probs)
    joint = _calibrate(_confident_joint(labels, probs, thresholds), counts)
    prune_counts = _prune_counts(joint, counts, int(min_examples_per_class))
    suggested = probs.argmax(axis=1)
    is_issue = _flag_by_noise_rate(labels, probs, prune_counts) & (suggested != labels)
    label_quality = probs[np.arange(len(labels)), labels]
    return LabelIssues(is_issue, label_quality, suggested, joint, thresholds, prune_counts)


def _thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    num_classes = probs.shape[1]
    counts = np.bincount(labels, minlength=num_classes)
    self_confidence = probs[np.arange(len(labels)), labels]
    sums = np.bincount(labels, weights=self_confidence, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)


def _confident_joint(labels: np.ndarray, probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    num_classes = probs.shape[1]
    above = probs >= thresholds - THRESHOLD_SLACK
    believed = np.where(above, probs, -np.inf).argmax(axis=1)
    counted = above.any(axis=1)
    cells = labels[counted] * num_classes + believed[counted]
    return np.bincount(cells, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _calibrate(cj: np.ndarray, counts: np.ndarray) -> np.ndarray:
    cj = np.array(cj, dtype=np.float64)
    empty = np.flatnonzero(cj.sum(axis=1) == 0)
    cj[empty, empty] = 1.0  # no evidence of noise: assume the labels are right
    calibrated = cj * (counts / cj.sum(axis=1))[:, None]
    return calibrated / counts.sum()


def _prune_counts(joint: np.ndarray, counts: np.ndarray, min_keep: int) -> np.ndarray:
    """Off-diagonal joint counts, rounded, scaled down so each class keeps >= min_keep samples."""
    expected = np.rint(joint * counts.sum()).astype(np.int64)
    np.fill_diagonal(expected, 0)
    allowed = np.maximum(counts - min_keep, 0)
    total = expected.sum(axis=1)
    scale = np.where(total > allowed, allowed / np.maximum(total, 1), 1.0)
    return np.floor(expected * scale[:, None]).astype(np.int64)


def _flag_by_noise_rate(labels: np.ndarray, probs: np.ndarray, prune_counts: np.ndarray) -> np.ndarray:
    """For each class i and j != i, flag the prune_counts[i, j] samples labelled i with the
    largest margin probs[:, j] - probs[:, i] (ties: earlier sample first). One loop over
    classes; the ranking inside a class is one vectorised sort of its (n_i, K) margins."""
    is_issue = np.zeros(len(labels), dtype=bool)
    for given in np.flatnonzero(prune_counts.sum(axis=1)):
        members = np.flatnonzero(labels == given)
        margin = probs[members] - probs[members, given][:, None]
        order = np.argsort(-margin, axis=0, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(len(members))[:, None], axis=0)
        is_issue[members] = (rank < prune_counts[given]).any(axis=1)
    return is_issue


def _validated(labels, probs) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"probs must be a 2-D array (samples x classes), got shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.floating) and not np.issubdtype(probs.dtype, np.integer):
        raise ValueError(f"probs must hold numbers, got dtype {probs.dtype}")
    probs = probs.astype(np.float64, copy=False)
    n, num_classes = probs.shape
    if num_classes < 2:
        raise ValueError(f"probs needs at least 2 classes (columns), got {num_classes}")
    if n == 0:
        raise ValueError("no samples: probs has 0 rows")
    bad_rows = ~np.isfinite(probs).all(axis=1)
    if bad_rows.any():
        raise ValueError(f"probs has NaN or infinite values in {int(bad_rows.sum())} rows (first: row "
                         f"{int(np.argmax(bad_rows))})")
    if (probs < 0).any():
        raise ValueError(f"probs has negative values (first in row {int(np.argmax((probs < 0).any(axis=1)))})")
    row_sums = probs.sum(axis=1)
    off = np.abs(row_sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        first = int(np.argmax(off))
        raise ValueError(f"each row of probs must sum to 1 (within {ROW_SUM_TOLERANCE}): {int(off.sum())} rows do "
                         f"not, e.g. row {first} sums to {row_sums[first]:.6g}; pass probabilities, not logits")
    labels = _validated_labels(labels, num_classes)
    if len(labels) != n:
        raise ValueError(f"labels and probs must have one entry per sample: {len(labels)} labels for {n} rows")
    return labels, probs


def _validated_labels(labels, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class indices, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices in [0, {num_classes}), got dtype {labels.dtype}")
    labels = labels.astype(np.int64, copy=False)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise ValueError(f"labels must lie in [0, {num_classes}) (one per probs column); found {int(bad[0])} "
                         f"({len(bad)} out of range)")
    return labels
