"""Repairs the prefilter makes with its label model (pure): geo rescue and relabel.

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

Relabel: among the photos confident learning flags (`is_label_issue`), the label is replaced by
`suggested_label` (the old one kept in `original_label`) when the margin
p(suggested) - p(given) reaches a cut chosen for a stated precision: probabilities are first
temperature-scaled to the given labels (out of fold), and the cut is the lowest margin at which
the mean calibrated p(suggested) of the photos at or above it (the expected share of right new
labels) is still at least `precision`. The others stay flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from curate import schema
from curate.prefilter import outliers
from curate.prefilter.confident import LabelIssues, confident_class
from curate.prefilter.config import MIN_LABEL_PHOTOS
from curate.prefilter.stage import SKIPPED, fit_fold_models, largest_class, normalise_rows
from curate.prefilter.threshold import percent_below


@dataclass(frozen=True)
class LabelEvidence:
    """The label model's out-of-fold view of the examined (kept, labelled) photos.

    rows: catalog row numbers; classes: label names; codes: given label per row (index into
    classes); proba: (rows, classes) out-of-fold probabilities; fold: fold per row; groups:
    photographer group per row; found: confident learning's result.
    """

    rows: np.ndarray
    classes: np.ndarray
    codes: np.ndarray
    proba: np.ndarray
    fold: np.ndarray
    groups: np.ndarray
    found: LabelIssues  # its is_issue already leaves the unjudged photos out
    unjudged: np.ndarray  # bool per row: too little support to judge (`fold_support`, MIN_LABEL_SUPPORT[_SHARE])


# A flag needs a fold model that saw at least this many photos of the photo's given label (`fold_support`):
# the project's "a smaller label is judged by chance" size (curate.prefilter.config.MIN_LABEL_PHOTOS). On a
# long-tailed real collection (16 labels of 3-72 photos, 72 photographers, 9 planted mislabels; the
# 2026-12-05 long-tail audit) photographer-grouped folds left a small label mostly in one fold (one
# photographer holding 11 of dog's 15 photos, a re-post joining two): of the photos scored by a model
# that saw 0-9 of their label's photos, 45 of 72 were flagged, 1 of them a planted mislabel; of those
# scored with support 10 or more, 8 of 301 (6 of them planted). The 15-Scene, scenes-scrape and demo
# collections have every photo's support far above it.
MIN_LABEL_SUPPORT = MIN_LABEL_PHOTOS
# ... and at least this share of the label's photos: a model that saw a sliver of a large label knows one
# corner of what it looks like. With 5 even folds a model sees 80 %; below a quarter, one group holds most of
# the label. The audit of all 5,614 real photos (2026-12-05) had near-duplicate pairs by different
# photographers join 316 of Forest's 328 photos into one group: the model scoring them saw 12 (4 %) and
# flagged 181 right labels (agreement 3 %); with each cluster given one owner, 28 flags and 91 %. No other
# label's photos sat between 10 % and 25 % there; the lowest judged share was OpenCountry's 38 %. Such
# chains are why `_evidence` falls back to `curate.split.copy_owner_groups` (each copy set with its main
# photographer, no chains) when the split's groups leave photos unjudged that those would judge: after the
# overlap match there, 2,097 unjudged photos of 9 labels became 40 (bench/label_chains.py).
MIN_LABEL_SUPPORT_SHARE = 0.25


def fold_support(codes: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Per row: how many photos of its label the model that scores it trains on (those outside its fold).

    >>> fold_support(np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 0, 1])).tolist()
    [1, 1, 2, 1, 1]
    """
    total = np.bincount(codes)
    pair = fold.astype(np.int64) * len(total) + codes
    _, position, in_own_fold = np.unique(pair, return_inverse=True, return_counts=True)
    return total[codes] - in_own_fold[position]


def too_little_support(codes: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Per row: whether the model that scores it saw too few photos of its label to judge it (fewer than
    MIN_LABEL_SUPPORT, or under MIN_LABEL_SUPPORT_SHARE of the label).

    >>> codes, fold = np.array([0] * 40 + [1] * 20), np.array([0, 1, 2, 3] * 10 + [0] * 16 + [1] * 4)
    >>> too_little_support(codes, fold)[[0, 40, 59]].tolist()  # the model scoring row 40 saw 4 of its label's 20
    [False, True, False]
    """
    support = fold_support(codes, fold)
    return (support < MIN_LABEL_SUPPORT) | (support < MIN_LABEL_SUPPORT_SHARE * np.bincount(codes)[codes])


def unchained_note(labels: np.ndarray, chained: np.ndarray, loose: np.ndarray, unjudged: np.ndarray,
                   loose_unjudged: np.ndarray) -> str:
    """The note saying that the label model's folds kept each copy set with its main photographer instead
    of joining photographers through shared copies, and what that won.

    >>> labels = np.array(["Forest"] * 6 + ["Coast"] * 2)
    >>> print(unchained_note(labels, np.array([0] * 5 + [1, 2, 2]), np.arange(8) // 2,
    ...                      np.array([True] * 5 + [False] * 3), np.zeros(8, bool)))  # doctest: +NORMALIZE_WHITESPACE
    label issues: near-duplicate copies shared by photographers joined them into groups holding most of a
    label (Forest 5 of 6 photos), too few left for a fold model to judge it; the label model's folds keep each
    copy set with the photographer holding most of it instead (4 groups, not 3), so 5 more photos were judged
    (the split still keeps such photographers together)
    """
    frame = pd.DataFrame({"label": labels, "group": chained, "won": unjudged & ~loose_unjudged})
    largest = frame.groupby(["label", "group"]).size().groupby(level=0).max()
    won_by_label = frame.groupby("label")["won"].sum()
    gaining = won_by_label[won_by_label > 0].sort_values(ascending=False, kind="stable").index
    named = [f"{label} {int(largest[label]):,} of {int((labels == label).sum()):,} photos" for label in gaining[:4]]
    held = f" ({', '.join(named)}{', …' if len(gaining) > 4 else ''})" if named else ""
    won = int(unjudged.sum()) - int(loose_unjudged.sum())
    return (f"label issues: near-duplicate copies shared by photographers joined them into groups holding most "
            f"of a label{held}, too few left for a fold model to judge it; the label model's folds keep each copy "
            f"set with the photographer holding most of it instead ({len(np.unique(loose)):,} groups, not "
            f"{len(np.unique(chained)):,}), so {won:,} more photo{'s were' if won != 1 else ' was'} judged "
            f"(the split still keeps such photographers together)")


def copy_sets(kept: pd.DataFrame) -> np.ndarray:
    """Copy set per row (0..k-1): rows joined by a near-duplicate cluster or an exact copy, others alone."""
    from curate.groups import components

    return components(kept["near_dup_cluster"].reset_index(drop=True), kept["exact_dup_group"].reset_index(drop=True))


def spread_to_copies(flags: np.ndarray, copies: np.ndarray, codes: np.ndarray, suggested: np.ndarray) -> np.ndarray:
    """`flags` also set on each row of a copy set that shares a flagged row's given label (`codes`) and whose own
    most probable class (`suggested`) is not that label: copies of one photo under one label, which the model
    doubts alike, get one verdict. Confident learning flags a set number of photos per class, the least
    self-confident first, so of two copies just apart it may flag one (a photo at 0.067 flagged, its 10 % resize
    at 0.087 not, both most probably another label, in a real collection of 359 photos). A copy the model
    believes under its label keeps its own verdict (a cluster may join two crops of one scene, which the
    backbone sees apart).

    >>> spread_to_copies(np.array([True, False, False, False, False]), np.array([0, 0, 0, 1, 0]),
    ...                  np.array([2, 2, 1, 2, 2]), np.array([0, 0, 0, 0, 2])).tolist()
    [True, True, False, False, False]
    """
    key = pd.factorize(pd.Series(copies.astype(np.int64) * (int(codes.max(initial=0)) + 1) + codes))[0]
    flagged = np.zeros(key.max(initial=-1) + 1, bool)
    flagged[key[flags]] = True
    return flags | (flagged[key] & (suggested != codes))


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


def rescue(result: pd.DataFrame, candidates: np.ndarray, evidence: LabelEvidence, proba: np.ndarray,
           topic_score: np.ndarray, topic_threshold: float, rule: str = "class_threshold") -> tuple[pd.DataFrame, dict]:
    """Keep the candidates whose pixels agree with their label and the topic (module docstring).

    `proba`: (candidates, classes) label probabilities; `topic_score`: their topic scores. `rule`:
    class_threshold (the label is the confident-learning class) or argmax (the label is the most
    probable class, no threshold: keeps more right labels, measured in docs/benchmarks.md).
    Writes label_quality, suggested_label and geo_rescued of every candidate; the rescued ones
    become kept, with their topic_score. Returns (catalog, summary for the stage report).
    """
    given = pd.Index(evidence.classes).get_indexer(result["label"].iloc[candidates])
    believed = confident_class(proba, evidence.found.thresholds) if rule == "class_threshold" else proba.argmax(axis=1)
    on_topic = topic_score >= topic_threshold
    rescued = (believed == given) & on_topic
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
               "other_label": int((believed != given).sum()),
               "off_topic": int(((believed == given) & ~on_topic).sum()),
               "thresholds": {str(name): round(float(t), 4) for name, t in
                              zip(evidence.classes, evidence.found.thresholds)}}
    return result, summary


def temperature(proba: np.ndarray, codes: np.ndarray) -> float:
    """The temperature T that makes softmax(log p / T) best fit the given labels (least log loss).

    Logistic regression's probabilities are shrunk by its regularisation; scaling them on the
    out-of-fold predictions makes "p = 0.9" mean right about 9 times in 10 against the given labels.
    """
    from scipy.optimize import minimize_scalar

    logits = np.log(np.clip(proba, 1e-12, 1.0))

    def loss(log_t: float) -> float:
        return float(-_log_softmax(logits / np.exp(log_t))[np.arange(len(codes)), codes].mean())

    return float(np.exp(minimize_scalar(loss, bounds=(np.log(0.02), np.log(50.0)), method="bounded").x))


def calibrated(proba: np.ndarray, t: float) -> np.ndarray:
    """softmax(log p / t): probabilities at temperature `t`."""
    return np.exp(_log_softmax(np.log(np.clip(proba, 1e-12, 1.0)) / t))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def margin_cut(margin: np.ndarray, p_suggested: np.ndarray, precision: float) -> tuple[float | None, float | None]:
    """(cut, expected precision): the lowest margin whose photos at or above it have a mean
    p(suggested) of at least `precision`; (None, None) when no cut reaches it.

    >>> margin_cut(np.array([0.9, 0.5, 0.1]), np.array([0.95, 0.9, 0.5]), 0.9)
    (0.5, 0.925)
    """
    if len(margin) == 0:
        return None, None
    order = np.argsort(-margin, kind="stable")
    ranked = margin[order]
    running = np.cumsum(p_suggested[order]) / np.arange(1, len(order) + 1)
    last_of_tie = np.append(ranked[:-1] > ranked[1:], True)  # a cut takes in every photo at its margin
    reach = np.flatnonzero((running >= precision) & last_of_tie)
    if len(reach) == 0:
        return None, None
    cut = float(margin[order][reach[-1]])
    chosen = margin >= cut
    return cut, round(float(p_suggested[chosen].mean()), 4)


# Fewer photos reaching the relabel cut than this: none is relabelled (they stay flagged). The expected
# precision is the mean of the label model's own calibrated p(suggested) over the photos above the cut; over
# a handful it stands for nothing (one wrong in 10 is the 90 % target already), and a clean collection's
# few confident disagreements are the model's confusions: an acceptance audit's --relabel on 280 real
# 15-Scene photos with their published labels changed 5 (Bedroom <-> LivingRoom, OpenCountry -> Mountain) at
# an "expected precision 91 %", none of them right. The noisy collections it is for relabel 58-66.
MIN_RELABELLED = 10


def relabel(result: pd.DataFrame, evidence: LabelEvidence, precision: float) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Replace confidently wrong labels by `suggested_label`, keeping `original_label` (module docstring);
    none when fewer than MIN_RELABELLED photos reach the cut (`held` in the summary says so).

    Returns (catalog, relabelled: bool per evidence row, summary for the stage report).
    """
    t = temperature(evidence.proba, evidence.codes)
    proba = calibrated(evidence.proba, t)
    index = np.arange(len(evidence.codes))
    suggested = evidence.found.suggested
    margin = proba[index, suggested] - proba[index, evidence.codes]
    flagged = evidence.found.is_issue
    cut, expected = margin_cut(margin[flagged], proba[index, suggested][flagged], precision)
    changed = flagged & (margin >= cut) if cut is not None else np.zeros(len(index), bool)
    reached = int(changed.sum())
    held = 0 < reached < MIN_RELABELLED
    if held:
        changed = np.zeros(len(index), bool)
    rows = evidence.rows[changed]
    result = result.copy()
    result.loc[rows, "original_label"] = result.loc[rows, "label"]
    result.loc[rows, "label"] = evidence.classes[suggested[changed]]
    summary = {"flagged": int(flagged.sum()), "relabelled": int(changed.sum()), "precision_target": precision,
               "margin_cut": None if cut is None else round(cut, 4), "expected_precision": expected,
               "temperature": round(t, 4), "reached": reached, "held": held}
    return result, changed, summary


@dataclass(frozen=True)
class TopicView:
    """What geo rescue needs of the topic model: the scored rows, their weak labels and photographer
    groups (the folds are rebuilt from them exactly as the stage built them) and the threshold."""

    rows: np.ndarray
    tagged: np.ndarray
    groups: np.ndarray
    threshold: float


def label_repairs(result: pd.DataFrame, vectors: np.ndarray, usable: np.ndarray, config, topic: TopicView | None,
                  notes: list[str], rescue_off_topic: bool = False, judged: np.ndarray | None = None
                  ) -> tuple[pd.DataFrame, int | None, int, list[dict], dict]:
    """Label issues on the kept, labelled photos (those the topic model scored, or `judged`: a
    mask over `result`'s rows when there is no topic model), then relabel (`config.relabel`), drops of the
    remaining issues (`config.drop_label_issues`), geo rescue (`config.geo_rescue`; needs `topic`)
    and, with `rescue_off_topic`, topic rescue of the stage's own off_topic drops.

    Returns (catalog, issues found or None when skipped, issues dropped, per-label counts,
    {"label_model": ..., "relabel": ..., "geo_rescue": ..., "topic_rescue": ...}: the label model's
    figures (`label_model_figures`) and summaries of the repairs that ran).
    """
    from curate.records import apply_drops

    evidence, candidates, candidate_proba, off_topic, off_topic_proba = _evidence(result, vectors, usable, config,
                                                                                  notes, rescue_off_topic, judged)
    if evidence is None:
        return result, None, 0, [], {}
    found, rows = evidence.found, evidence.rows
    unjudged = evidence.unjudged
    fit = outliers.label_fit(normalise_rows(vectors[rows]), evidence.codes, evidence.groups, ~unjudged, config.seed)
    unlike = outliers.unlike_label(fit)  # no label fits it: not a relabel candidate, a label issue all the same
    issue = found.is_issue | unlike
    result.loc[rows, "label_quality"] = found.label_quality
    result.loc[rows, "label_fit"] = fit
    flags = pd.array(issue, dtype="boolean")
    flags[unjudged] = pd.NA  # not judged: no flag either way
    result.loc[rows, "is_label_issue"] = flags
    result.loc[rows, "suggested_label"] = evidence.classes[found.suggested]
    repairs: dict = {"label_model": {**label_model_figures(evidence, issue & ~unjudged),
                                     "unlike_label": int((unlike & ~unjudged).sum())}}
    changed = np.zeros(len(rows), bool)
    if config.relabel:  # confident learning's flags only: a photo flagged for its fit alone has no label to take
        result, changed, repairs["relabel"] = relabel(result, evidence, config.relabel_precision)
    remaining = issue & ~changed
    dropped = 0
    if config.drop_label_issues:
        judged = ~evidence.unjudged
        heavy = heavy_issue_labels(evidence.classes[evidence.codes][judged], remaining[judged])
        causes = one_photographer_causes(heavy, evidence.classes[evidence.codes], remaining & unlike,
                                         result["owner_id"].to_numpy(object)[rows])
        if heavy and not config.force:
            remaining = remaining & ~np.isin(evidence.classes[evidence.codes], list(heavy))
        if heavy:
            repairs["warnings"] = [issue_drop_warning(heavy, held=not config.force, causes=causes)]
        reason = np.full(len(result), None, dtype=object)
        reason[rows[remaining]] = "label_issue"
        result = apply_drops(result, pd.Series(reason), stage="prefilter")
        dropped = int(remaining.sum())
    if config.geo_rescue and topic is None:
        notes.append("geo rescue skipped: it needs the embedding topic model (not --mode finetune)")
    elif config.geo_rescue:
        score = _topic_scores(result, vectors, candidates, topic, config)
        result, repairs["geo_rescue"] = rescue(result, candidates, evidence, candidate_proba, score, topic.threshold,
                                               config.geo_rescue_rule)
    if rescue_off_topic:
        result, repairs["topic_rescue"] = rescue_topic(result, off_topic, evidence, off_topic_proba,
                                                       config.topic_rescue_precision)
        if repairs["topic_rescue"]["held"]:
            held = repairs["topic_rescue"]
            below = percent_below(held["expected_precision"], held["min_precision"], "topic_rescue_precision")
            notes.append(f"topic rescue held: {held['would_rescue']:,} photos below the cut would be kept, but "
                         f"an expected {held['expected_false']:.1f} of them are off topic (expected precision "
                         f"{below}); "
                         "the label model cannot vouch for them")
    agrees = (evidence.proba.argmax(axis=1) == evidence.codes).astype(float)
    frame = pd.DataFrame({"label": evidence.classes[evidence.codes], "issue": issue, "unjudged": unjudged,
                          "agrees": np.where(unjudged, np.nan, agrees)})
    per_label = frame.groupby("label").agg(photos=("issue", "size"), issues=("issue", "sum"),
                                           unjudged=("unjudged", "sum"), agreement=("agrees", "mean")).reset_index()
    if unjudged.any():
        notes.append(unjudged_note(per_label))
    # agreement: the label model's out-of-fold agreement with the label, over its judged photos (None: none judged)
    per_label = [{"label": r.label, "photos": int(r.photos), "issues": int(r.issues), "unjudged": int(r.unjudged),
                  "agreement": None if pd.isna(r.agreement) else round(float(r.agreement), 4)}
                 for r in per_label.itertuples()]
    return result, int(issue.sum()), dropped, per_label, repairs


# `--drop-label-issues` holds a label's drops when its flags are more than this share of its judged photos: the
# label model then disagrees with most of the label, which says more about the model (a label the features do
# not see, a label of a different kind) than about the photos. Before the fold-support guard, a long-tailed
# real collection lost 60-80 % of dog, monkey, fungus and fish this way, every drop but one a right label
# (the 2026-12-05 long-tail audit); the topic cut holds at 0.9 of a label, the quality drops and owner caps hold at 0.5.
MAX_LABEL_ISSUE_DROP_SHARE = 0.5


def heavy_issue_labels(labels: np.ndarray, flagged: np.ndarray) -> dict[str, tuple[int, int]]:
    """label -> (flagged, photos) for the labels whose flags exceed MAX_LABEL_ISSUE_DROP_SHARE of their photos
    (the judged ones: the caller leaves the others out).

    >>> heavy_issue_labels(np.array(["a"] * 4 + ["b"] * 4), np.array([1, 1, 1, 0, 1, 0, 0, 0], bool))
    {'a': (3, 4)}
    """
    frame = pd.DataFrame({"label": labels, "flagged": flagged})
    counts = frame.groupby("label")["flagged"].agg(["sum", "size"])
    heavy = counts[counts["sum"] > MAX_LABEL_ISSUE_DROP_SHARE * counts["size"]]
    return {str(label): (int(row["sum"]), int(row["size"])) for label, row in heavy.iterrows()}


def one_photographer_causes(heavy: dict[str, tuple[int, int]], labels: np.ndarray, unlike: np.ndarray,
                            owners: np.ndarray) -> dict[str, tuple[str, int]]:
    """label -> (photographer, photos) for the heavy labels more than half of whose flags are photos unlike the
    label by one known photographer: then not the model but that photographer's photos are the story (audit
    AD: one photographer's 25 off-label photos beside 20 good ones held the label with a warning blaming the
    model).

    >>> one_photographer_causes({"Street": (25, 45)}, np.array(["Street"] * 4), np.array([1, 1, 1, 0], bool),
    ...                         np.array(["sam", "sam", "ann", "sam"], object))
    {}
    >>> one_photographer_causes({"Street": (2, 3)}, np.array(["Street"] * 3), np.array([1, 1, 0], bool),
    ...                         np.array(["sam", "sam", "ann"], object))
    {'Street': ('sam', 2)}
    """
    causes = {}
    for label, (flagged, _) in heavy.items():
        mine = (labels == label) & unlike & pd.notna(owners)
        if not mine.any():
            continue
        top = pd.Series(owners[mine]).value_counts().sort_index().sort_values(ascending=False, kind="stable")
        if top.iloc[0] > 0.5 * flagged:
            causes[label] = (str(top.index[0]), int(top.iloc[0]))
    return causes


def issue_drop_warning(heavy: dict[str, tuple[int, int]], held: bool,
                       causes: dict[str, tuple[str, int]] | None = None) -> str:
    """The warning for labels most of whose photos are flagged, their drops held (or applied under --force);
    `causes` (`one_photographer_causes`) names a photographer whose photos unlike the label are most flags.

    >>> print(issue_drop_warning({"dog": (10, 15)}, held=True))  # doctest: +NORMALIZE_WHITESPACE
    held: --drop-label-issues would drop more than half of 1 label (dog 10 of 15): the label model disagrees
    with most of it, which says more about the model than the photos; those flags are kept, not dropped.
    Look at them (`curate review`); --force (recipe force = true) drops them anyway
    """
    named = ", ".join(f"{label} {flagged:,} of {photos:,}" for label, (flagged, photos) in sorted(heavy.items()))
    count = f"{len(heavy)} label{'s' if len(heavy) != 1 else ''}"
    told = "".join(f"; {count_:,} of {label}'s flags are photos unlike it by one photographer, {owner}: look at "
                   "that photographer's photos (`curate review --queue owners`)"
                   for label, (owner, count_) in sorted((causes or {}).items()))
    if not held:
        return (f"--drop-label-issues dropped more than half of {count} ({named}) although the label model "
                f"disagrees with most of it: applied, as --force asked{told}")
    why = ("the label model disagrees with most of it, which says more about the model than the photos"
           if len(causes or {}) < len(heavy) else "most of it is flagged")
    look = told if told else ". Look at them (`curate review`)"
    return (f"held: --drop-label-issues would drop more than half of {count} ({named}): {why}; those flags are "
            f"kept, not dropped{look}; --force (recipe force = true) drops them anyway")


def unjudged_note(per_label: pd.DataFrame) -> str:
    """The note naming the labels some of whose photos were not judged (`MIN_LABEL_SUPPORT`, `_SHARE`).

    >>> table = pd.DataFrame({"label": ["dog", "Coast", "fish"], "photos": [15, 72, 6], "unjudged": [15, 0, 6]})
    >>> print(unjudged_note(table))  # doctest: +NORMALIZE_WHITESPACE
    label issues not judged for 21 photos of 2 labels (dog 15 of 15, fish 6 of 6): the fold models that scored
    them saw fewer than 10 photos of their label, or under a quarter of them (a small label, or one
    photographer or near-duplicates by several holding most of it, so that its photos share a fold); a flag
    there would be a guess. They are not flagged (is_label_issue
    empty); `curate review` lists them after the flags, or add photos from more photographers
    """
    hit = per_label[per_label["unjudged"] > 0].sort_values(["unjudged", "label"], ascending=[False, True])
    shown = ", ".join(f"{r.label} {int(r.unjudged):,} of {int(r.photos):,}" for r in hit.head(8).itertuples())
    more = f", and {len(hit) - 8} more" if len(hit) > 8 else ""
    total = int(hit["unjudged"].sum())
    return (f"label issues not judged for {total:,} photo{'s' if total != 1 else ''} of {len(hit)} "
            f"label{'s' if len(hit) != 1 else ''} ({shown}{more}): the fold models that scored them saw fewer than "
            f"{MIN_LABEL_SUPPORT} photos of their label, or under a quarter of them (a small label, or one "
            "photographer or near-duplicates by several holding most of it, so that its photos share a fold); a "
            "flag there would be a guess. They are not flagged "
            "(is_label_issue empty); `curate review` lists them after the flags, or add photos from more photographers")


MIN_WEAK_LABEL = 10  # photos of a label for its agreement to be named
WEAK_AGREEMENT = 0.5  # below it, the label model mostly disagrees with the label's own photos


def label_model_figures(evidence: LabelEvidence, flagged: np.ndarray | None = None) -> dict:
    """How far the label model's word goes: its out-of-fold agreement with the given labels, next to
    the share of the most common label (what a model that learnt nothing would score).

    Confident learning flags the photos this model confidently disagrees with, so a flag is evidence
    of a wrong label only as far as the model is right: on a clean real collection whose labels the
    ImageNet features hardly see (flickr-ferrari's car colours: 76% agreement, majority 37%) all 11
    flags were right labels (docs/pixels.md). The figures go in the stage report, its summary line
    and the report, so that a reader weighs the flags before `--drop-label-issues`.

    `flagged`: the photos flagged as label issues (the catalog's `is_label_issue`: confident learning's flags and
    the photos no label fits), counted per weak label and in `flagged_share`; confident learning's alone when not
    given (audit BB: a label's sentence said 50 flagged beside the table's 51).
    """
    codes, proba = evidence.codes, evidence.proba
    flagged = evidence.found.is_issue if flagged is None else np.asarray(flagged, bool)
    n = len(codes)
    agrees = proba.argmax(axis=1) == codes if n else np.zeros(0, bool)
    # per label (10+ photos): where the model agrees with under half of a label's given labels, its flags on that
    # label are mostly its own confusion (audit AM: 5 of 5 flags on the Ferraris were white cars, the model
    # agreeing with 39% of white's labels)
    weak = {}
    for code, name in enumerate(evidence.classes):
        mine = codes == code
        if mine.sum() >= MIN_WEAK_LABEL and agrees[mine].mean() < WEAK_AGREEMENT:
            weak[str(name)] = {"photos": int(mine.sum()), "agreement": round(float(agrees[mine].mean()), 4),
                               "flagged": int(flagged[mine].sum())}
    return {"photos": int(n), "classes": int(len(evidence.classes)),
            "out_of_fold_accuracy": round(float(agrees.mean()), 4) if n else None,
            "majority_share": round(float(np.bincount(codes).max() / n), 4) if n else None,
            "flagged_share": round(float(flagged.mean()), 4) if n else None,
            "weak_labels": weak}


def why_no_label_folds(labels: int, groups: int, largest: int, folds: int) -> str | None:
    r"""Why the label model's `folds` photographer-grouped, label-stratified folds cannot be made, and what
    to do; None when they can. `labels`, `groups`: how many among the labelled photos; `largest`: the
    photos of the largest label (scikit-learn refuses to stratify when every label has fewer than `folds`).

    >>> print(why_no_label_folds(100, 300, 3, 5).replace("; ", ";\n"))
    every label has fewer than 5 photos among kept photos (the largest has 3);
    --folds 3 or fewer, or more photos per label
    >>> why_no_label_folds(100, 300, 5, 5) is None
    True
    """
    if labels < 2:
        return "fewer than two labels among kept photos"
    if groups < folds:
        return f"fewer than {folds} photographer groups among labelled photos"
    if largest >= folds:
        return None
    if largest < 2:
        return "every label has one photo among kept photos; label issues need a label with 2 photos or more"
    return (f"every label has fewer than {folds} photos among kept photos (the largest has {largest}); "
            f"--folds {largest} or fewer, or more photos per label")


def skipped_note(why: str, config, rescue_off_topic: bool) -> str:
    r"""The note for label issues skipped because of `why`, naming the repairs skipped with them.

    >>> from curate.prefilter.config import PrefilterConfig
    >>> print(skipped_note("too few", PrefilterConfig(topic="t", relabel=True), True).replace("; ", ";\n"))
    label issues skipped: too few;
    relabel, geo rescue and topic rescue skipped with them (they need the label model)
    """
    repairs = [name for name, on in (("relabel", config.relabel), ("geo rescue", config.geo_rescue),
                                     ("topic rescue", rescue_off_topic)) if on]
    if not repairs:
        return f"{SKIPPED}{why}"
    named = repairs[0] if len(repairs) == 1 else f"{', '.join(repairs[:-1])} and {repairs[-1]}"
    return (f"{SKIPPED}{why}; {named} skipped with them "
            f"({'it needs' if len(repairs) == 1 else 'they need'} the label model)")


def _evidence(result: pd.DataFrame, vectors: np.ndarray, usable: np.ndarray, config, notes: list[str],
              rescue_off_topic: bool = False, judged: np.ndarray | None = None):
    """(LabelEvidence or None when label issues are skipped, geo candidates, their probabilities,
    topic-rescue candidates, their probabilities); each candidate is scored by its photographer
    group's fold model."""
    from curate.prefilter.stage import grouped_folds, normalise_rows
    from curate.split import copy_owner_groups, split_groups

    scored = result["topic_score"].notna().to_numpy() if judged is None else judged
    rows = np.flatnonzero(((result["status"] == schema.KEPT) & result["label"].notna()).to_numpy() & scored)
    kept = result.iloc[rows]
    classes, codes = np.unique(kept["label"].to_numpy(dtype=str), return_inverse=True)
    groups = split_groups(kept, "owner")
    why = why_no_label_folds(len(classes), len(np.unique(groups)), largest_class(codes), config.folds)
    if why is not None:
        notes.append(skipped_note(why, config, rescue_off_topic))
        return None, None, None, None, None
    fold = grouped_folds(codes, groups, config.folds, config.seed)
    unjudged = too_little_support(codes, fold)
    grouping = None  # the split's groups
    loose = copy_owner_groups(kept) if unjudged.any() else groups  # copies may have chained a label into one group
    if loose.max(initial=-1) > groups.max(initial=-1):  # more groups (ids 0..k-1; it refines the split's): unchained
        loose_fold = grouped_folds(codes, loose, config.folds, config.seed)
        loose_unjudged = too_little_support(codes, loose_fold)
        if loose_unjudged.sum() < unjudged.sum():
            notes.append(unchained_note(classes[codes], groups, loose, unjudged, loose_unjudged))
            groups, fold, unjudged, grouping = loose, loose_fold, loose_unjudged, copy_owner_groups
    candidates = geo_candidates(result, usable, classes) if config.geo_rescue else np.zeros(0, np.int64)
    off_topic = topic_candidates(result, usable, classes) if rescue_off_topic else np.zeros(0, np.int64)
    extra = np.concatenate([candidates, off_topic])
    extra_fold = np.concatenate([inherited_folds(result, rows, fold, chosen, config.folds, config.seed, grouping)
                                 for chosen in (candidates, off_topic)])
    proba, extra_proba = fit_fold_models(
        normalise_rows(vectors[rows]), codes, fold, len(classes), config.regularisation, config.seed,
        normalise_rows(vectors[extra]), extra_fold)
    found = judged_label_issues(codes, proba, unjudged)
    found = replace(found, is_issue=spread_to_copies(found.is_issue, copy_sets(kept), codes, found.suggested)
                                         & ~unjudged)
    evidence = LabelEvidence(rows, classes, codes, proba, fold, groups, found, unjudged)
    return evidence, candidates, extra_proba[:len(candidates)], off_topic, extra_proba[len(candidates):]


def judged_label_issues(codes: np.ndarray, proba: np.ndarray, unjudged: np.ndarray) -> LabelIssues:
    """Confident learning over the judged rows and the labels they carry only; the unjudged rows get no
    flag, their self-confidence and the model's most probable label. Audit AD: a label too small or too
    one-photographer's to judge (opensfm-lund, 29 photos by one owner) has out-of-fold probability 0 for its
    own label, a class threshold of 0, and skewed the confident joint of every class: 130 flags on 1,500
    clean 15-Scene photos instead of 25.

    >>> proba = np.array([[0.9, 0.1, 0.0]] * 4 + [[0.1, 0.9, 0.0]] * 4 + [[0.5, 0.5, 0.0]] * 3)
    >>> found = judged_label_issues(np.array([0] * 4 + [1] * 4 + [2] * 3), proba, np.array([False] * 8 + [True] * 3))
    >>> bool(found.is_issue.any()), found.thresholds.tolist()
    (False, [0.9, 0.9, inf])
    """
    from curate.prefilter.confident import find_label_issues

    judged = ~np.asarray(unjudged, bool)
    if judged.all():
        return find_label_issues(codes, proba)
    n, k = proba.shape
    present = np.unique(codes[judged])
    rows = np.arange(n)
    none = LabelIssues(np.zeros(n, bool), proba[rows, codes], proba.argmax(axis=1), np.zeros((k, k)),
                       np.full(k, np.inf), np.zeros((k, k), np.int64))
    if len(present) < 2:
        return none
    sub = proba[judged][:, present]
    sub = sub / np.maximum(sub.sum(axis=1, keepdims=True), 1e-12)
    position = np.full(k, -1)
    position[present] = np.arange(len(present))
    part = find_label_issues(position[codes[judged]], sub)
    is_issue, suggested, thresholds = none.is_issue.copy(), none.suggested.copy(), none.thresholds.copy()
    is_issue[judged] = part.is_issue
    suggested[judged] = present[part.suggested]
    thresholds[present] = part.thresholds
    joint, prune = none.joint.copy(), none.prune_counts.copy()
    joint[np.ix_(present, present)] = part.joint
    prune[np.ix_(present, present)] = part.prune_counts
    return LabelIssues(is_issue, none.label_quality, suggested, joint, thresholds, prune)


def _topic_scores(result: pd.DataFrame, vectors: np.ndarray, candidates: np.ndarray, topic: TopicView,
                  config) -> np.ndarray:
    """Topic scores of the geo candidates from the stage's topic fold models (refitted, same folds)."""
    from curate.prefilter.stage import grouped_folds, normalise_rows

    fold = grouped_folds(topic.tagged.astype(int), topic.groups, config.folds, config.seed)
    extra_fold = inherited_folds(result, topic.rows, fold, candidates, config.folds, config.seed)
    _, extra = fit_fold_models(normalise_rows(vectors[topic.rows]), topic.tagged.astype(int), fold, 2,
                               config.regularisation, config.seed, normalise_rows(vectors[candidates]), extra_fold)
    return extra[:, 1]
