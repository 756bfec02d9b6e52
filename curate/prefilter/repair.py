"""Repairs the prefilter makes with its label model (pure): geo rescue and relabel.

`label_repairs` builds the label model's out-of-fold evidence (`curate.prefilter.labels`), flags label
issues, then relabels (`curate.prefilter.relabel`), drops the remaining issues when asked, and rescues
geo outliers and the topic cut's drops (`curate.prefilter.rescue`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from curate import schema
from curate.prefilter import outliers
from curate.prefilter.confident import LabelIssues
from curate.prefilter.folds import fit_fold_models, grouped_folds, inherited_folds, largest_class, normalise_rows
from curate.prefilter.labels import (
    LabelEvidence,
    copy_sets,
    heavy_issue_labels,
    issue_drop_warning,
    label_model_figures,
    one_photographer_causes,
    skipped_note,
    spread_to_copies,
    too_little_support,
    unchained_note,
    unjudged_note,
    why_no_label_folds,
)
from curate.prefilter.relabel import relabel
from curate.prefilter.rescue import geo_candidates, geo_rescue_held_note, rescue, rescue_topic, topic_candidates
from curate.prefilter.threshold import percent_below


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
    """Label issues on the kept, labelled photos of `judged` (a mask over `result`'s rows: the stage passes every
    kept photo with an embedding, topic-scored or not; when not given, those the topic model scored), then
    relabel (`config.relabel`), drops of the remaining issues (`config.drop_label_issues`), geo rescue
    (`config.geo_rescue`; needs `topic`) and, with `rescue_off_topic`, topic rescue of the stage's own off_topic
    drops.

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
    x = normalise_rows(vectors[rows])
    similarity = outliers.label_similarity(x, evidence.codes, evidence.groups, ~unjudged, config.seed)
    fit = outliers.within_labels(similarity, evidence.codes, evidence.groups)
    # no label fits it (and its own is not what surrounds it): not a relabel candidate, a label issue all the same
    unlike = outliers.unlike_label(fit, similarity, x, evidence.codes, evidence.groups, config.seed)
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
        if repairs["geo_rescue"]["held"]:
            notes.append(geo_rescue_held_note(repairs["geo_rescue"]["held"]))
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


def _evidence(result: pd.DataFrame, vectors: np.ndarray, usable: np.ndarray, config, notes: list[str],
              rescue_off_topic: bool = False, judged: np.ndarray | None = None):
    """(LabelEvidence or None when label issues are skipped, geo candidates, their probabilities,
    topic-rescue candidates, their probabilities); each candidate is scored by its photographer
    group's fold model."""
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
    fold = grouped_folds(topic.tagged.astype(int), topic.groups, config.folds, config.seed)
    extra_fold = inherited_folds(result, topic.rows, fold, candidates, config.folds, config.seed)
    _, extra = fit_fold_models(normalise_rows(vectors[topic.rows]), topic.tagged.astype(int), fold, 2,
                               config.regularisation, config.seed, normalise_rows(vectors[candidates]), extra_fold)
    return extra[:, 1]
