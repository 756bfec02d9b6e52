"""How good is a trained classifier on held-out photos: the pure computation.

`evaluate_predictions(y_true, probs, classes, owners, photo_ids)` turns class probabilities
into an `EvalReport`: accuracy, per-class precision / recall / F1, the confusion matrix,
the most-confused pairs, the top losses and the accuracy per photographer. No files, no
model: the I/O edge (`classify.evaluate_run`) reads the catalog, runs the model and writes
the report, so the same function scores any model on the same photos (e.g. a curated and
an uncurated model on one clean, owner-disjoint test set).

Undefined ratios are NaN, not 0: a class the model never predicts has no precision, and a
class absent from the test photos has no recall (a small owner-grouped test split often
misses a rare class; reporting recall 0 for it would blame the model for a gap in the data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate import schema

UNKNOWN_OWNER = "(unknown)"
# The sandals test counts an off-topic photo as answered when the model names a label this sure of it.
ANSWER_PROBABILITY = 0.5
# −log p is infinite for p == 0; clipping keeps every loss finite (and JSON-safe).
PROBABILITY_FLOOR = 1e-12
# The standard normal's 97.5 % quantile: the z of a two-sided 95 % interval.
Z_95 = 1.959963984540054
# Below this many scored photos the accuracy's 95 % interval can be wider than ±17 points: said in a warning
# (audit T3: "accuracy 83.3%" on 6 test photos, where one photo is 17 points, with no word on it).
FEW_PHOTOS = 30


@dataclass
class EvalReport:
    """Everything `evaluate_predictions` measures; `to_dict()` is JSON-ready (NaN -> None)."""

    classes: list[str]
    photos: int
    accuracy: float
    mean_loss: float
    macro: dict[str, float]
    per_class: pd.DataFrame  # class, precision, recall, f1, support, predicted
    confusion: np.ndarray  # (K, K) ints: rows = actual, columns = predicted
    most_confused: pd.DataFrame  # actual, predicted, count
    top_losses: pd.DataFrame  # photo_id, owner_id, actual, predicted, loss, p_predicted, p_actual
    per_owner: pd.DataFrame  # owner_id, photos, correct, accuracy

    @property
    def correct(self) -> int:
        """How many photos were classified right (the confusion matrix's diagonal)."""
        return int(np.trace(self.confusion))

    @property
    def accuracy_interval(self) -> tuple[float, float]:
        """The 95 % Wilson score interval of the accuracy, (low, high) in [0, 1]."""
        return wilson_interval(self.correct, self.photos)

    @property
    def classes_without_photos(self) -> list[str]:
        """The classes with no photo here: not measured, and left out of the macro averages."""
        return self.per_class.loc[self.per_class["support"] == 0, "class"].astype(str).tolist()

    def to_dict(self) -> dict:
        return {
            "photos": self.photos,
            "accuracy": _finite_or_none(self.accuracy),
            "correct": self.correct,
            "accuracy_interval_95": dict(zip(("low", "high"), self.accuracy_interval), method="wilson score"),
            "mean_loss": _finite_or_none(self.mean_loss),
            "macro": {name: _finite_or_none(value) for name, value in self.macro.items()},
            "classes": list(self.classes),
            "classes_without_photos": self.classes_without_photos,
            "per_class": _records(self.per_class),
            "confusion": self.confusion.tolist(),
            "most_confused": _records(self.most_confused),
            "top_losses": _records(self.top_losses),
            "per_owner": _records(self.per_owner),
        }


def evaluate_predictions(y_true, probs, classes: list[str], owners=None, photo_ids=None,
                         top_losses: int = 24) -> EvalReport:
    """Score class probabilities against the true classes.

    Args:
        y_true: (N,) int class indices into `classes`.
        probs: (N, K) probabilities (rows sum to 1, or less for a run with a hidden off-topic
            output), K == len(classes). The prediction is the argmax.
        classes: class names, in the model's order.
        owners: (N,) photographer ids, or None (then one "(unknown)" owner). Null ids count as "(unknown)".
        photo_ids: (N,) ids shown in the top losses, or None (then "0", "1", ...).
        top_losses: how many of the highest-loss photos to list.
    Returns:
        An EvalReport.
    Raises:
        ValueError: empty input, mismatched shapes, or a class index outside 0..K-1.

    >>> r = evaluate_predictions([0, 1, 1], [[.9, .1], [.2, .8], [.6, .4]], ["cat", "dog"])
    >>> round(r.accuracy, 3), r.confusion.tolist(), r.most_confused.to_dict("records")
    (0.667, [[1, 0], [1, 1]], [{'actual': 'dog', 'predicted': 'cat', 'count': 1}])
    """
    y_true, probs = _check_inputs(y_true, probs, classes)
    n, k = probs.shape
    y_pred = probs.argmax(axis=1)
    owners = np.full(n, UNKNOWN_OWNER, dtype=object) if owners is None else _owner_names(owners)
    photo_ids = np.arange(n).astype(str) if photo_ids is None else np.asarray(photo_ids, dtype=object)
    rows = np.arange(n)
    p_actual = probs[rows, y_true]
    losses = -np.log(np.clip(p_actual, PROBABILITY_FLOOR, None))
    confusion = confusion_matrix(y_true, y_pred, k)
    per_class = per_class_metrics(confusion, classes)
    present = per_class["support"] > 0
    # over the classes with test photos, a class never predicted counting precision 0 as it counts F1 0 (audit DH 5:
    # it was left out of the precision alone, so a model that never predicts a class looked more precise)
    macro = {name: float(per_class.loc[present, name].fillna(0.0).mean()) for name in ("precision", "recall", "f1")}
    return EvalReport(
        classes=list(classes), photos=n, accuracy=float(np.mean(y_pred == y_true)), mean_loss=float(losses.mean()),
        macro=macro, per_class=per_class, confusion=confusion, most_confused=most_confused(confusion, classes),
        top_losses=_top_losses(photo_ids, owners, y_true, y_pred, probs, losses, classes, top_losses),
        per_owner=owner_accuracy(owners, y_pred == y_true))


def wilson_interval(correct: int, photos: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of the binomial proportion `correct / photos` (95 % with the default `z`).

    Unlike p ± z·s.e. it stays inside [0, 1] and is not empty at 0 % or 100 %, which matters on the
    few photos where it is needed most.

    Args:
        correct: successes (photos classified right), 0..photos.
        photos: trials, > 0.
        z: the standard normal quantile of the interval (1.96 for 95 %).
    Returns:
        (low, high), fractions in [0, 1].
    Raises:
        ValueError: photos < 1 or correct outside 0..photos.

    >>> [round(end, 3) for end in wilson_interval(5, 6)]
    [0.436, 0.97]
    >>> wilson_interval(0, 10)[0], wilson_interval(10, 10)[1]
    (0.0, 1.0)
    """
    if photos < 1 or not 0 <= correct <= photos:
        raise ValueError(f"a proportion needs 0 <= correct <= photos and photos >= 1, got {correct} of {photos}")
    share = correct / photos
    shrink = 1 + z * z / photos
    centre = (share + z * z / (2 * photos)) / shrink
    half_width = z * math.sqrt(share * (1 - share) / photos + z * z / (4 * photos * photos)) / shrink
    # at 0 or every photo right an end is exactly 0 or 1, which rounding would miss by an ulp
    low = 0.0 if correct == 0 else max(0.0, centre - half_width)
    high = 1.0 if correct == photos else min(1.0, centre + half_width)
    return low, high


def interval_text(low: float, high: float) -> str:
    """The 95 % interval as printed beside an accuracy.

    >>> interval_text(0.4365, 0.9699)
    '95 % interval 43.6–97.0%'
    """
    return f"95 % interval {100 * low:.1f}–{100 * high:.1f}%"


def few_photos_warning(photos: int, correct: int, split: str = "test", few: int = FEW_PHOTOS) -> str | None:
    """One line when fewer than `few` photos were scored: how far the accuracy can move (its 95 % Wilson
    interval, and one photo's worth) and how to narrow it; None for `few` photos or more.

    >>> line = few_photos_warning(6, 5)
    >>> line[:79]
    'warning: only 6 test photos: accuracy 83.3% is within ±39.7 points (95 % interv'
    >>> few_photos_warning(30, 25) is None
    True
    """
    if photos >= few or photos < 1:
        return None
    accuracy = correct / photos
    low, high = wilson_interval(correct, photos)
    spread = 100 * max(accuracy - low, high - accuracy)
    larger = f"a larger `curate split --{split}` share, or " if split in ("test", "val") else ""
    return (f"warning: only {photos} {split} photo{'' if photos == 1 else 's'}: accuracy {accuracy:.1%} is within "
            f"±{spread:.1f} points ({interval_text(low, high)}) and one photo moves it {100 / photos:.1f} points; "
            f"for a tighter figure give the {split} split {few} photos or more ({larger}photos from more "
            "photographers), then train and evaluate again")


def unmeasured_classes_warning(classes_without_photos: list[str], classes: int, split: str = "test") -> str | None:
    """One line naming the classes with no `split` photo (so the model is not measured on them) and
    saying that the accuracy and macro averages are over the others; None when every class has one.

    >>> line = unmeasured_classes_warning(["fish", "salamander"], 16)
    >>> line[:60]
    'warning: 2 of 16 labels have no test photo, so the model is '
    >>> line[60:]
    'not measured on them: fish, salamander; accuracy and macro F1 are over the other 14 labels'
    """
    if not classes_without_photos:
        return None
    missing = len(classes_without_photos)
    return (f"warning: {missing} of {classes} labels {'has' if missing == 1 else 'have'} no {split} photo, so the "
            f"model is not measured on {'it' if missing == 1 else 'them'}: {', '.join(classes_without_photos)}; "
            f"accuracy and macro F1 are over the other {classes - missing} labels")


def answered_with_label(probs, topic_scores=None, gate_threshold: float | None = None,
                        min_probability: float = ANSWER_PROBABILITY) -> np.ndarray:
    """(N,) bool: the photo gets a label, i.e. its top probability is >= `min_probability` and,
    behind a gate (`topic_scores` and `gate_threshold` given), its topic score is not below the threshold.

    >>> answered_with_label([[.9, .1], [.55, .45], [.4, .6]], [0.9, 0.9, 0.1], 0.5).tolist()
    [True, True, False]
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, classes), got shape {probs.shape}")
    answered = probs.max(axis=1, initial=0.0) >= min_probability
    if topic_scores is not None and gate_threshold is not None:
        answered &= ~gated_off_topic(topic_scores, gate_threshold)
    return answered


def gated_off_topic(topic_scores, gate_threshold: float) -> np.ndarray:
    """(N,) bool: answered as off-topic by the gate (topic score below its threshold; NaN scores are not gated)."""
    scores = np.asarray(topic_scores, dtype=np.float64)
    return scores < gate_threshold  # NaN < t is False


def sandals_score(probs, topic_scores=None, gate_threshold: float | None = None,
                  min_probability: float = ANSWER_PROBABILITY) -> dict:
    """The sandals test on off-topic photos: how many the model answers with a label.

    Args:
        probs: (N, K) class probabilities for N off-topic photos.
        topic_scores, gate_threshold: the gate's P(on topic) per photo and its cut, or None (model alone).
    Returns:
        {"photos", "answered", "answered_share" (None when N == 0), "gated", "model_alone_answered",
         "model_alone_answered_share", "behind_gate", "min_probability"}.

    >>> sandals_score([[.9, .1], [.6, .4]], [0.1, 0.8], 0.5)["answered"]
    1
    """
    alone = answered_with_label(probs, min_probability=min_probability)
    behind_gate = topic_scores is not None and gate_threshold is not None
    answered = answered_with_label(probs, topic_scores, gate_threshold, min_probability) if behind_gate else alone
    gated = gated_off_topic(topic_scores, gate_threshold) if behind_gate else np.zeros(len(alone), bool)
    n = len(alone)
    return {"photos": n, "answered": int(answered.sum()), "answered_share": _share(answered.sum(), n),
            "gated": int(gated.sum()), "behind_gate": bool(behind_gate),
            "model_alone_answered": int(alone.sum()), "model_alone_answered_share": _share(alone.sum(), n),
            "min_probability": float(min_probability)}


def wrongly_gated(topic_scores, gate_threshold: float, correct=None) -> dict:
    """On-topic photos the gate answers as off-topic: {"photos", "gated", "share", "accuracy_behind_gate"}.

    `correct` (N,) bool, the classifier's right answers, gives the accuracy of classifier + gate
    (a gated on-topic photo counts as wrong); None leaves it out.

    >>> wrongly_gated([0.9, 0.2, 0.7, 0.8], 0.5, [True, True, False, True])["accuracy_behind_gate"]
    0.5
    """
    gated = gated_off_topic(topic_scores, gate_threshold)
    n = len(gated)
    out = {"photos": n, "gated": int(gated.sum()), "share": _share(gated.sum(), n)}
    if correct is not None:
        out["accuracy_behind_gate"] = _share((np.asarray(correct, bool) & ~gated).sum(), n)
    return out


def sandals_summary(sandals_test: dict, on_topic_target: float = 0.03, split: str = "test") -> str:
    """One line for a person: the sandals test of one model (`sandals_score`'s keys, plus
    "on_topic_wrongly_gated" from `wrongly_gated` when the model has a gate, and "on_topic_answered":
    the on-topic photos labelled by the same rule, so an unsure model does not pass unnoticed). `split`: the
    split scored (audit AN: `--split train` still said "test photographers").

    >>> sandals_summary({"photos": 10, "behind_gate": False, "answered_share": 0.1,
    ...                  "on_topic_answered": {"photos": 50, "share": 0.8}}).split("; ")[1]
    'by the same rule it labels 80% of the 50 on-topic test photos'
    """
    photos = sandals_test["photos"]
    if not photos:
        return no_sandals_line(sandals_test, split)
    line = f"sandals test: of {photos} off-topic photos by {split} photographers, this model "
    if sandals_test["behind_gate"]:
        line += (f"behind its gate labels {sandals_test['answered_share']:.0%} (alone "
                 f"{sandals_test['model_alone_answered_share']:.0%})")
    else:
        line += f"labels {sandals_test['answered_share']:.0%} (no gate)"
    wrongly = sandals_test.get("on_topic_wrongly_gated")
    if wrongly and wrongly.get("share") is not None:
        line += (f"; the gate wrongly answers {wrongly['share']:.1%} of {wrongly['photos']} on-topic {split} photos "
                 f"as off-topic (target ≤ {on_topic_target:.0%})")
    answered = sandals_test.get("on_topic_answered")
    if answered and answered.get("share") is not None:
        line += (f"; by the same rule it labels {answered['share']:.0%} of the {answered['photos']} on-topic {split} "
                 "photos")
    taken = sandals_test.get("from_labels_mostly_dropped") or {}
    if taken:  # audit CD: a declared label the prefilter took most of is no sandals
        named = ", ".join(f"{label} {n}" for label, n in list(taken.items())[:6])
        line += (f"; {sum(taken.values())} of these photos are filed under labels the pre-classifier dropped most of "
                 f"({named}{', …' if len(taken) > 6 else ''}): if those labels belong in the collection, refusing "
                 "them is a loss, not a pass")
    return line


def no_sandals_line(counts: dict, split: str = "test") -> str:
    """The sandals test's line when it has no photo to score, with why (`off_topic_counts`'s keys where known: a
    result saved before them gives the line alone).

    >>> no_sandals_line({"off_topic_dropped": 26, "off_topic_elsewhere": 26}).split(" (")[1]
    'the 26 photos dropped as off topic are all by photographers with no photo in the test split)'
    """
    line = f"sandals test: no off-topic photo by a {split} photographer to score"
    dropped, elsewhere = counts.get("off_topic_dropped"), counts.get("off_topic_elsewhere")
    if dropped is None or elsewhere is None:
        return line
    if not dropped:
        return f"{line} (the prefilter dropped no photo as off topic)"
    if elsewhere == dropped:
        who = "are all by photographers" if dropped > 1 else "is by a photographer"
        return (f"{line} (the {dropped:,} photo{'s' if dropped > 1 else ''} dropped as off topic {who} with no photo "
                f"in the {split} split)")
    return (f"{line} (of the {dropped:,} photos dropped as off topic, {elsewhere:,} are by photographers with no "
            f"photo in the {split} split and the rest have no readable image)")


def _share(count, total: int) -> float | None:
    return float(count) / total if total else None


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: entry [a, p] = photos of actual class a predicted as p."""
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def per_class_metrics(confusion: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """class, precision, recall, f1, support (actual photos), predicted (photos predicted as it).

    precision = TP / predicted, recall = TP / support, f1 = 2 TP / (support + predicted) (their harmonic
    mean where both exist, 0 for a class never predicted right); NaN where the denominator is 0.
    """
    true_positives = np.diag(confusion).astype(float)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_positives / predicted, np.nan)
        recall = np.where(support > 0, true_positives / support, np.nan)
        f1 = np.where(support + predicted > 0, 2 * true_positives / (support + predicted), np.nan)
    return pd.DataFrame({"class": list(classes), "precision": precision, "recall": recall, "f1": f1,
                         "support": support.astype(np.int64), "predicted": predicted.astype(np.int64)})


def most_confused(confusion: np.ndarray, classes: list[str], min_count: int = 1) -> pd.DataFrame:
    """Off-diagonal (actual, predicted, count) with count >= min_count, most frequent first
    (ties by class order), like fast.ai's `ClassificationInterpretation.most_confused`."""
    off_diagonal = confusion.copy()
    np.fill_diagonal(off_diagonal, 0)
    actual, predicted = np.nonzero(off_diagonal >= max(min_count, 1))
    counts = off_diagonal[actual, predicted]
    order = np.lexsort((predicted, actual, -counts))
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame({"actual": names[actual[order]], "predicted": names[predicted[order]],
                         "count": counts[order].astype(np.int64)})


def owner_accuracy(owners, correct) -> pd.DataFrame:
    """owner_id, photos, correct, accuracy per photographer; most photos first (ties by owner_id)."""
    frame = pd.DataFrame({"owner_id": _owner_names(owners), "correct": np.asarray(correct, dtype=bool)})
    grouped = frame.groupby("owner_id", sort=True)["correct"].agg(photos="size", correct="sum").reset_index()
    grouped["correct"] = grouped["correct"].astype(np.int64)
    grouped["accuracy"] = grouped["correct"] / grouped["photos"]
    return grouped.sort_values(["photos", "owner_id"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def _top_losses(photo_ids, owners, y_true, y_pred, probs, losses, classes, limit: int) -> pd.DataFrame:
    """The `limit` photos with the highest loss, highest first (ties keep input order)."""
    order = np.argsort(-losses, kind="mergesort")[:max(limit, 0)]
    names = np.asarray(classes, dtype=object)
    return pd.DataFrame({
        schema.PHOTO_ID: photo_ids[order], "owner_id": owners[order],
        "actual": names[y_true[order]], "predicted": names[y_pred[order]], "loss": losses[order],
        "p_predicted": probs[order, y_pred[order]], "p_actual": probs[order, y_true[order]],
    })


def _check_inputs(y_true, probs, classes):
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probs must be (N, {len(classes)}), got shape {probs.shape}")
    if y_true.shape != (probs.shape[0],):
        raise ValueError(f"y_true must be ({probs.shape[0]},), got shape {y_true.shape}")
    if not len(y_true):
        raise ValueError("nothing to evaluate: no predictions")
    if not np.issubdtype(y_true.dtype, np.integer) or y_true.min() < 0 or y_true.max() >= len(classes):
        raise ValueError(f"y_true must hold class indices 0..{len(classes) - 1}")
    return y_true.astype(np.int64), probs


def _owner_names(owners) -> np.ndarray:
    values = pd.Series(list(owners), dtype=object)
    return values.where(values.notna(), UNKNOWN_OWNER).astype(str).to_numpy(dtype=object)


def _finite_or_none(value):
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{key: _finite_or_none(value) for key, value in row.items()} for row in frame.to_dict("records")]
