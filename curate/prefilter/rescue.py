"""Rescues the prefilter makes with its label model (pure): geo rescue and topic rescue.

Geo rescue: the filter drops a photo whose geotag is far from its label's centre
(`geo_outlier`), yet a wrong geotag does not make a wrong label. A geo outlier is kept again,
as `geo_rescued`, when its pixels agree with its label and with the topic:

- its label is the class confident learning believes: among the classes j whose out-of-fold
  probability reaches the class's threshold t_j (mean self-confidence of the kept photos
  labelled j, `confident.per_class_thresholds`), the most probable one is its given label;
- its topic score reaches the prefilter's topic threshold.

`geo_rescue_rule = "argmax"` drops the threshold: the label need only be the most probable
class (on one seed it kept 84% / 77% of the right-label mis-geotags of the demo / scenes scrape,
against 63% / 43%, still with none wrong; docs/benchmarks.md).

A label model that mostly disagrees with a label's own kept photos cannot vouch for that label's geo
outliers: the rescue is held per label where the model agrees with under WEAK_AGREEMENT of the label's
judged photos (or judges none of them), and the stage names those labels. Audit BP P1 (2026-12-07): real
geotags on look-alike street scenes, a model agreeing with 2-27 % of each city's photos (the most common
label alone: 20 %) put 7 planted wrong geotags back, 0 of 7 right. Nor can a model that gives a label to
photos of every label: it is held too where under WEAK_AGREEMENT of the judged photos the model gives the
label carry it (audit CF: a model that called 402 of 601 photos New York City, 68 of them rightly, agreed with
64 % of New York City's photos and put back a wrong geotag 5,022 km away).

Its probabilities come from the same photographer-grouped fold models that score the kept
photos (fitted on kept photos only): a geo outlier is scored by the model of the fold its
photographer group fell in, so no model saw its photographer. Photos whose pixels say another
label ("tagged Amsterdam, taken in Seoul") stay dropped. A redundant byte copy (its exact-copy
group is represented by another photo) is never rescued.

Topic rescue: the topic cut drops a photo whose topic score is low, yet a labelled photo whose
pixels clearly show its label is a photo of the topic (the labels are the topic's kinds: a factory
is urban, a skyline is a skyline). Among the prefilter's own `off_topic` drops, a photo labelled with
a class the label model knows is kept again, as `topic_rescued`, when its label is the class
confident learning believes (the same class-threshold rule as geo rescue; no topic condition, its
topic score is below the cut by definition). Off-topic photos carry labels too (a scrape tags a
photographer's photos with the home label whatever they show), but their pixels seldom reach their
label's class threshold: on the scenes scrape the rule kept 44 of the 66 on-topic photos the cut
dropped and 1 of 602 off-topic ones (docs/prefilter-rescue.md). The argmax rule is not offered here:
the most probable of a handful of classes is the given label for about one off-topic photo in four.
A label model that believes a class for many off-topic photos would vouch for some by chance, so the
rescue estimates how many of its photos are off topic from the ones it does not vouch for
(`expected_false_rescues`) and keeps none when the expected share on topic is below
`topic_rescue_precision` (default 0.8): a 240-photo demo embedded at 64 px would otherwise keep 7
off-topic photos among 12 (estimated precision 0.30); the scenes scrape's estimate is 0.95 (44 of
45 right), the 3,000-photo demo's 0.90 (3 of 3).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from curate import schema
from curate.prefilter.confident import confident_class
from curate.prefilter.labels import WEAK_AGREEMENT, LabelEvidence, judged_agreement


def geo_candidates(result: pd.DataFrame, usable: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Row numbers of the filter's geo outliers that could be rescued: labelled with a class the label
    model knows, embedded (`usable`), and not a redundant byte copy of another photo."""
    exact = result["exact_dup_group"]
    return np.flatnonzero(((result["drop_reason"] == "geo_outlier") & (result["drop_stage"] == "filter")
                           & result["label"].isin(list(classes)) & result["image_path"].notna()
                           & (exact.isna() | (exact == result[schema.PHOTO_ID]))).to_numpy() & usable)


def topic_candidates(result: pd.DataFrame, usable: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Row numbers of the prefilter's own off_topic drops that could be rescued: labelled with a class
    the label model knows and embedded (`usable`)."""
    return np.flatnonzero(((result["drop_reason"] == "off_topic") & (result["drop_stage"] == "prefilter")
                           & result["label"].isin(list(classes)) & result["image_path"].notna()).to_numpy() & usable)


def expected_false_rescues(given: np.ndarray, believed: np.ndarray, n_classes: int) -> float:
    """How many off-topic photos a topic rescue is expected to keep, from the photos it does not keep.

    An off-topic photo's label has nothing to do with its pixels: when the label model confidently
    believes it is class j, its label is j (a false rescue) with about the share q_j of the
    candidates labelled j, another label with 1 - q_j. So each candidate believed to be j under
    another label stands for q_j / (1 - q_j) expected false rescues. On-topic photos under another
    class's label (mislabels) count too, which makes it err high; but it is a point estimate from few
    mismatches, and off-topic photos that look like one class (suburbs under `insidecity`) carry that
    class's label more often than q_j: audit V (2026-12-06) saw 8 false rescues of 22 where it
    expected 3.6, and 9 of 19 where it expected 2.9, on look-alike scrapes. It can err low.

    >>> expected_false_rescues(np.array([0, 0, 1, 1]), np.array([0, 1, 0, -1]), 2)  # two mismatches, q = 1/2
    2.0
    """
    share = np.bincount(given, minlength=n_classes) / max(len(given), 1)
    q = share[believed[(believed >= 0) & (believed != given)]]
    return float(np.sum(q / np.maximum(1.0 - q, 1e-12)))


def rescue_topic(result: pd.DataFrame, candidates: np.ndarray, evidence: LabelEvidence, proba: np.ndarray,
                 min_precision: float) -> tuple[pd.DataFrame, dict]:
    """Keep the off_topic candidates whose label is the class confident learning believes (module docstring),
    unless the expected share of on-topic photos among them (1 - `expected_false_rescues` / rescued)
    is below `min_precision`: then the label model cannot tell these photos apart, and none is kept.

    `proba`: (candidates, classes) out-of-fold label probabilities. Writes label_quality,
    suggested_label and topic_rescued of every candidate; the rescued ones become kept. Returns
    (catalog, summary for the stage report).
    """
    given = pd.Index(evidence.classes).get_indexer(result["label"].iloc[candidates])
    believed = confident_class(proba, evidence.found.thresholds)
    rescued = believed == given
    false = expected_false_rescues(given, believed, len(evidence.classes))
    # a share, so at least 0: more false rescues are expected than photos rescued when the model cannot tell
    precision = max(0.0, float(1.0 - false / rescued.sum())) if rescued.any() else None
    held = bool(precision is not None and precision < min_precision)
    would = int(rescued.sum())
    if held:
        rescued = np.zeros(len(candidates), bool)
    result = result.copy()
    result.loc[candidates, "label_quality"] = proba[np.arange(len(candidates)), given]
    result.loc[candidates, "suggested_label"] = evidence.classes[proba.argmax(axis=1)]
    result.loc[candidates, "topic_rescued"] = rescued
    result.loc[candidates[rescued], ["status", "drop_reason", "drop_stage"]] = [schema.KEPT, None, None]
    per_label = pd.Series(evidence.classes[given[rescued]]).value_counts().sort_index()
    summary = {"off_topic_labelled": len(candidates), "rescued": int(rescued.sum()), "would_rescue": would,
               "expected_false": round(false, 2),
               "expected_precision": None if precision is None else round(precision, 4),
               "min_precision": min_precision, "held": held, "rule": "class_threshold",
               "per_label": {str(name): int(count) for name, count in per_label.items()}}
    return result, summary


RESCUE_RULES = ("class_threshold", "argmax")


def unvouched_labels(evidence: LabelEvidence) -> dict[str, float | None]:
    """{label: agreement} of the labels whose geo outliers the label model cannot vouch for: it agrees with under
    WEAK_AGREEMENT of their judged photos out of fold (None: it judged none of them).

    >>> from types import SimpleNamespace
    >>> evidence = SimpleNamespace(classes=np.array(["a", "b", "c"]), codes=np.array([0, 0, 0, 1, 1, 2]),
    ...                            proba=np.eye(3)[[0, 0, 1, 0, 1, 2]], unjudged=np.array([0, 0, 0, 0, 0, 1], bool))
    >>> unvouched_labels(evidence)
    {'c': None}
    >>> evidence.proba = np.eye(3)[[0, 1, 1, 0, 0, 2]]
    >>> unvouched_labels(evidence)
    {'a': 0.3333, 'b': 0.0, 'c': None}
    """
    precision = given_precision(evidence)
    return {name: None if agreement is None else round(agreement, 4)
            for name, (_, agreement) in judged_agreement(evidence).items()
            if agreement is None or agreement < WEAK_AGREEMENT
            or (precision[name] is not None and precision[name] < WEAK_AGREEMENT)}


def given_precision(evidence: LabelEvidence) -> dict[str, float | None]:
    """{label: of the judged photos the label model gives it out of fold, the share that carry it} (None: it gives
    it to none).

    >>> from types import SimpleNamespace
    >>> evidence = SimpleNamespace(classes=np.array(["a", "b"]), codes=np.array([0, 1, 1, 1]),
    ...                            proba=np.eye(2)[[0, 0, 0, 1]], unjudged=np.zeros(4, bool))
    >>> given_precision(evidence)
    {'a': 0.3333, 'b': 1.0}
    """
    judged = ~np.asarray(evidence.unjudged, bool)
    called = evidence.proba.argmax(axis=1) if len(evidence.codes) else np.zeros(0, int)
    out = {}
    for code, name in enumerate(evidence.classes):
        mine = (called == code) & judged
        out[str(name)] = round(float((evidence.codes[mine] == code).mean()), 4) if mine.any() else None
    return out


def rescue(result: pd.DataFrame, candidates: np.ndarray, evidence: LabelEvidence, proba: np.ndarray,
           topic_score: np.ndarray, topic_threshold: float, rule: str = "class_threshold") -> tuple[pd.DataFrame, dict]:
    """Keep the candidates whose pixels agree with their label and the topic (module docstring).

    `proba`: (candidates, classes) label probabilities; `topic_score`: their topic scores. `rule`:
    class_threshold (the label is the confident-learning class) or argmax (the label is the most
    probable class, no threshold: keeps more right labels, measured in docs/benchmarks.md).
    Writes label_quality, suggested_label and geo_rescued of every candidate; the rescued ones
    become kept, with their topic_score. None is kept under a label the model cannot vouch for
    (`unvouched_labels`): the summary's `held` counts, per such label, the photos it would have kept.
    Returns (catalog, summary for the stage report).
    """
    given = pd.Index(evidence.classes).get_indexer(result["label"].iloc[candidates])
    believed = confident_class(proba, evidence.found.thresholds) if rule == "class_threshold" else proba.argmax(axis=1)
    on_topic = topic_score >= topic_threshold
    would = (believed == given) & on_topic
    weak = unvouched_labels(evidence)
    unvouched = np.isin(evidence.classes[given], list(weak))
    rescued = would & ~unvouched
    held = pd.Series(evidence.classes[given[would & unvouched]]).value_counts().sort_index()
    precision = given_precision(evidence) if len(held) else {}  # once, for the held labels' figures
    result = result.copy()
    result.loc[candidates, "label_quality"] = proba[np.arange(len(candidates)), given]
    result.loc[candidates, "suggested_label"] = evidence.classes[proba.argmax(axis=1)]
    result.loc[candidates[rescued], "topic_score"] = topic_score[rescued]  # scored and kept, like the others
    result.loc[candidates, "geo_rescued"] = rescued
    result.loc[candidates[rescued], ["status", "drop_reason", "drop_stage"]] = [schema.KEPT, None, None]
    distance = result["geo_distance_km"].iloc[candidates[rescued]].astype(float).dropna() \
        if "geo_distance_km" in result else pd.Series(dtype=float)
    summary = {"geo_outliers": len(candidates), "rescued": int(rescued.sum()), "rule": rule,
               # how far the kept ones lie from their label's centre (audit AM: 3,900-14,500 km, said nowhere)
               "rescued_km": [round(float(distance.min()), 1), round(float(distance.max()), 1)] if len(distance)
               else None,
               "held": {str(name): {"would_rescue": int(count), "agreement": weak[str(name)],
                                    "precision": precision[str(name)]}
                        for name, count in held.items()},
               "other_label": int((believed != given).sum()),
               "off_topic": int(((believed == given) & ~on_topic).sum()),
               "thresholds": {str(name): round(float(t), 4) for name, t in
                              zip(evidence.classes, evidence.found.thresholds)}}
    return result, summary


def geo_rescue_held_note(held: dict[str, dict]) -> str:
    """The note for the labels whose geo rescue was held (`rescue`'s summary `held`).

    >>> print(geo_rescue_held_note({"london": {"would_rescue": 2, "agreement": 0.02},
    ...                             "paris": {"would_rescue": 1, "agreement": None},
    ...                             "nyc": {"would_rescue": 1, "agreement": 0.64, "precision": 0.17}}))
    ... # doctest: +NORMALIZE_WHITESPACE
    geo rescue held for 3 labels (london 2 photos, agreement 2%; paris 1, none judged; nyc 1, agreement 64% but
    precision 17%): the label model agrees with under half of their judged photos, or under half of the photos it
    gives their label carry it, so its word cannot put their geo outliers back; 4 stay dropped (`curate review
    --queue geo` to keep any by hand)
    """
    def figures(entry: dict) -> str:
        if entry["agreement"] is None:
            return "none judged"
        precision = entry.get("precision")
        weak_precision = precision is not None and precision < WEAK_AGREEMENT and entry["agreement"] >= WEAK_AGREEMENT
        return f"agreement {math.floor(entry['agreement'] * 100)}%" + \
            (f" but precision {math.floor(precision * 100)}%" if weak_precision else "")

    parts = [f"{name} {entry['would_rescue']:,}{' photos' if index == 0 else ''}, {figures(entry)}"
             for index, (name, entry) in enumerate(sorted(held.items(), key=lambda item: -item[1]["would_rescue"]))]
    total = sum(entry["would_rescue"] for entry in held.values())
    precision = any(entry.get("precision") is not None and entry["precision"] < WEAK_AGREEMENT
                    for entry in held.values())
    return (f"geo rescue held for {len(held)} label{'s' if len(held) != 1 else ''} ({'; '.join(parts)}): the label "
            f"model agrees with under half of their judged photos"
            + (", or under half of the photos it gives their label carry it" if precision else "")
            + f", so its word cannot put their geo outliers back; {total:,} stay dropped (`curate review --queue geo` "
            "to keep any by hand)")
