"""`curate prefilter`: a weak-label topic pre-classifier and label-issue detection (pure).

Topic (the talk's "skyline or not" model):
- Weak label: the topic tag is among the photo's tags.
- Model: logistic regression on L2-normalised embeddings. Every kept photo is scored
  out of fold: folds are grouped by photographer joined with duplicate clusters
  (`curate.split.split_groups`), so no photo is scored by a model that saw its
  photographer or a copy of it. The score is stored as `topic_score`.
- Threshold `auto` (`curate.prefilter.threshold`): Otsu's cut of the out-of-fold scores when
  they are bimodal (Ashman's D >= 2 on their logits and group means >= 0.1 apart);
  otherwise the cut calibrated on tagged vs untagged scores (Youden's J), which needs at least
  `min_untagged` untagged photos. Tag noise moves both groups' score levels (on-topic photos
  score about the tagging rate, off-topic ones about the false-tag rate); the cut falls between.
- Below the threshold: dropped as `off_topic`. Untagged photos at or above it stay kept
  and are marked `topic_recovered` (not when the drops are held: a held cut decided nothing).
- Topic rescue (`topic_rescue`, on by default; `curate.prefilter.repair`): a photo below the
  threshold whose label the label model confidently believes (its pixels show its label, and the
  labels are kinds of the topic) is kept again and marked `topic_rescued`. The cut alone dropped 66
  of 1,107 on-topic photos of the scenes scrape (a linear model on noisy tags cannot tell a factory
  from a shop); the rescue keeps 44 of them and 1 off-topic photo (docs/prefilter-rescue.md).
- Every applied cut gets a note bounding the on-topic photos among its drops (`cut_estimate`).
- Sanity: the stage holds its drops (records scores, flags the photos below the threshold as
  `topic_doubted`, keeps them, says why) when the tag is on more than `max_topic_share` of the
  photos judged, when the cut would drop more than `max_drop_share` of the tagged photos, when
  the scores are not bimodal and too few photos are untagged to calibrate a cut, when the cut would
  drop more than `max_total_drop_share` of all the photos judged, or more than
  `max_label_drop_share` of a label's photos (a wrong --topic, or labels that are not kinds of the
  topic: ImageNet object labels with --topic food; `collection_reasons`). `force` applies the drops
  anyway.

Without a topic (`label_issues_only`, topic None: `--label-issues-only`, for a labelled collection
without tags, such as a folder of class folders) the stage fits no topic model, drops nothing as
off_topic and judges every kept photo with a usable embedding for label issues only.

Label issues (confident learning, `curate.prefilter.confident`): multi-class out-of-fold
probabilities over the kept, labelled photos (same grouping, embeddings + logistic
regression) give `label_quality` (self-confidence), `is_label_issue` and
`suggested_label`. Flag only, unless `drop_label_issues`. The same fold models then repair
(`curate.prefilter.repair`): `relabel` replaces confidently wrong labels (keeping
`original_label`), `geo_rescue` keeps the filter's geo outliers whose pixels agree with their
label and the topic (`geo_rescued`), and `topic_rescue` keeps the cut's drops whose pixels agree
with their label (`topic_rescued`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import UsageError
from curate.prefilter.config import HELD_CUT, MIN_LABEL_PHOTOS, PrefilterConfig
from curate.prefilter.threshold import (  # noqa: F401
    MAX_TAG_CHANCE,
    MAX_WITHIN_CHANCE,
    MIN_TAG_SEPARATION,
    OTSU_BINS,
    bimodality,
    label_separation,
    otsu_threshold,
    percent_apart,
    percent_below,
    tag_separation,
    youden_threshold,
)
from curate.records import apply_drops, reset_stage, tag_and_value
from curate.stage_reports import names_text

STAGE = "prefilter"


# A topic model learnt from fewer tagged photos than this holds its drops (an audit's re-check: 3 tagged photos
# of 120 dropped 7 untagged ones, 18 with --folds 4, with no word but "scores not bimodal").
MIN_TAGGED = 10
SKIPPED = "label issues skipped: "  # how the note on skipped label issues starts (curate.prefilter.repair)


@dataclass
class PrefilterReport:
    topic: str | None  # None: no topic, label issues only
    threshold: float | None
    threshold_method: str
    scored: int
    tagged_kept: int
    tagged_dropped: int
    untagged_recovered: int
    untagged_dropped: int
    unreadable: int
    label_issues: int | None
    label_issues_dropped: int
    held: bool = False  # the drops were held back (sanity); below-threshold photos are flagged topic_doubted
    held_reasons: list[str] = field(default_factory=list)
    forced: bool = False  # sanity objected but --force applied the drops
    unforceable: bool = False  # held although --force: the photos scored were all of one kind (audit AV3)
    doubted: int = 0
    would_drop_tagged: int = 0
    would_drop_untagged: int = 0
    topic_share: float = 0.0
    bimodality: dict = field(default_factory=dict)
    cut_estimate: dict = field(default_factory=dict)  # `cut_estimate`: what the cut drops and its bound on good ones
    per_label: list[dict] = field(default_factory=list)
    geo_rescue: dict = field(default_factory=dict)  # curate.prefilter.repair.rescue's summary; {} when off
    relabel: dict = field(default_factory=dict)  # curate.prefilter.repair.relabel's summary; {} when off
    topic_rescue: dict = field(default_factory=dict)  # curate.prefilter.repair.rescue_topic's summary; {} when off
    label_model: dict = field(default_factory=dict)  # curate.prefilter.repair.label_model_figures; {} when skipped
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # drops held back or forced (label issues): one line each
    config: dict = field(default_factory=dict)

    def counts_table(self) -> pd.DataFrame:
        """The talk's four counts; when the drops were held, a column of the kept photos doubted (and the
        untagged kept are every untagged photo: a held cut recovers none, it only keeps them)."""
        untagged = self.scored - self.tagged_kept - self.tagged_dropped
        table = pd.DataFrame({"": ["tagged", "untagged"],
                              "kept": [self.tagged_kept, untagged - self.untagged_dropped],
                              "dropped": [self.tagged_dropped, self.untagged_dropped]})
        if self.held and not self.unforceable:  # a cut among photos of one kind doubts none (audit AX)
            table["kept, doubted"] = [self.would_drop_tagged, self.would_drop_untagged]
        return table

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for `curate prefilter` and `curate run`: the talk's four counts, label issues, repairs,
        and why nothing was dropped when sanity held the drops back."""
        issues = "not checked" if self.label_issues is None else f"{self.label_issues:,}"
        if self.label_issues_dropped:  # `curate run` shows only this line (audit AE: "nothing dropped" beside 3 drops)
            issues += f" ({self.label_issues_dropped:,} dropped)"
        if self.label_model.get("unlike_label"):  # curate.prefilter.outliers: no label fits them
            issues += f" ({self.label_model['unlike_label']:,} of them unlike their label's photos by others)"
        unjudged = sum(int(row.get("unjudged", 0)) for row in self.per_label)
        if unjudged:  # `curate run` shows only this line: the photos no verdict covers
            issues += (f" ({unjudged:,} photos not judged: too few photos of their label in the fold model; "
                       "curate review lists them after the flags)")
        skipped = next((note for note in self.notes if note.startswith(SKIPPED)), None)
        if self.label_issues is None and skipped:  # `curate run` shows only this line: say why
            issues += f": {skipped.removeprefix(SKIPPED).split('; ')[0]}"
        if self.topic is None:
            given = (self.config or {}).get("topic")  # a topic on every photo judged: no model (`_label_issues_only`)
            why = f"topic {given!r} on every photo, no negatives" if given else "no topic"
            line = f"{why} (label issues only): {self.scored:,} photos examined; label issues {issues}"
        else:
            line = (f"topic {self.topic!r}: tagged kept {self.tagged_kept:,}, tagged dropped {self.tagged_dropped:,}, "
                    f"untagged recovered {self.untagged_recovered:,}, untagged dropped {self.untagged_dropped:,}; "
                    f"label issues {issues}")
        if self.label_model.get("out_of_fold_accuracy") is not None:
            line += (f" (the label model agrees with {self.label_model['out_of_fold_accuracy']:.0%} of the given "
                     "labels out of fold)")
        if self.relabel:
            line += f", {self.relabel['relabelled']:,} relabelled"
            if self.relabel.get("held"):
                line += f" (held: {self.relabel['reached']:,} reach the cut, too few to trust)"
        if self.geo_rescue:
            line += f"; geo outliers rescued {self.geo_rescue['rescued']:,} of {self.geo_rescue['geo_outliers']:,}"
            span = self.geo_rescue.get("rescued_km")  # how far, where to look (audit AP: `curate run` said neither)
            if isinstance(span, list) and len(span) == 2:
                line += (f" ({span[0]:,.0f}-{span[1]:,.0f} km from their label's centre; `curate review --queue "
                         "geo`, or --no-geo-rescue: recipe geo_rescue = false)")
        if self.topic_rescue:
            rescue = self.topic_rescue
            held = "" if not rescue.get("held") else \
                f" (held: expected precision {percent_below(rescue['expected_precision'], rescue['min_precision'])})"
            line += (f"; below the cut, {rescue['rescued']:,} of {rescue['off_topic_labelled']:,} labelled photos "
                     f"rescued (pixels agree with the label){held}")
        sanity = self.sanity_line()
        return line + (f"; {sanity}" if sanity else "")

    def label_model_line(self) -> str | None:
        """What the label issues rest on: the label model's out-of-fold agreement with the given
        labels next to the most common label's share; None when label issues were not checked."""
        model = self.label_model
        if model.get("out_of_fold_accuracy") is None:
            return None
        weak = model.get("weak_labels") or {}
        named = "; ".join(f"{label} {row['agreement']:.0%} of {row['photos']:,} ({row['flagged']:,} flagged)"
                          for label, row in sorted(weak.items(), key=lambda item: item[1]["agreement"])[:6])
        weak_text = (f"; it agrees with under half of these labels' photos, so its flags there are mostly its own "
                     f"confusion (features that do not see what tells these labels apart): {named}") if weak else ""
        return (f"the label model agrees with {model['out_of_fold_accuracy']:.0%} of the {model['photos']:,} given "
                f"labels out of fold (the most common label alone: {model['majority_share']:.0%}){weak_text}; a flag "
                "is its confident disagreement, a wrong label only as often as the model is right: look at the "
                "flags (`curate review`) before dropping them")

    def sanity_line(self) -> str | None:
        """One line saying why nothing was dropped (or that --force dropped anyway); None if sanity passed."""
        if not self.held_reasons:
            return None
        why = "; ".join(self.held_reasons)
        if self.forced:
            return f"dropped anyway (--force) although {why}"
        if self.unforceable:
            return f"{HELD_CUT}: {why}; every photo is kept, none flagged topic_doubted"
        return (f"{HELD_CUT}: {why}; {self.doubted:,} photos below the threshold are kept and "
                "flagged topic_doubted; pass --force (recipe force = true) to drop them")


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


def topic_tagged(tags: pd.Series, topic: str) -> np.ndarray:
    """Which rows carry the topic: as a tag, or as a machine tag's value (`dc:subject=skyline`)."""
    wanted = topic.strip().casefold()
    return np.fromiter((wanted in tag_and_value(row) for row in tags), dtype=bool, count=len(tags))


def topic_rows(catalog: pd.DataFrame, eligible: np.ndarray, config: PrefilterConfig
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row numbers, tagged, owner group) of the photos the topic model scores, checked to
    hold positives, negatives and at least `folds` groups."""
    from curate.split import split_groups

    rows = np.flatnonzero(eligible)
    kept = catalog.iloc[rows]
    tagged = topic_tagged(kept["tags"], config.topic)
    groups = split_groups(kept, "owner")
    _check_topic(config, tagged, groups, photographers=int(kept["owner_id"].nunique()))
    return rows, tagged, groups


def topic_folds(catalog: pd.DataFrame, eligible: np.ndarray, config: PrefilterConfig
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row numbers, tagged, fold) of the photos the topic model scores; fold grouped by owner."""
    rows, tagged, groups = topic_rows(catalog, eligible, config)
    return rows, tagged, grouped_folds(tagged.astype(int), groups, config.folds, config.seed)


def prefilter_catalog(catalog: pd.DataFrame, vectors: np.ndarray, found: np.ndarray, ok: np.ndarray,
                      config: PrefilterConfig, topic_scores: np.ndarray | None = None
                      ) -> tuple[pd.DataFrame, PrefilterReport]:
    """Score the topic, drop off-topic photos (unless sanity holds the drops), flag label issues.

    `vectors` align with catalog rows. `topic_scores` (aligned with catalog rows, NaN where a
    photo could not be scored): out-of-fold scores computed elsewhere (`--mode finetune`)
    instead of the logistic regression. When the drops are held (see `decide_cut`), photos below
    the threshold stay kept with `topic_doubted` True and the report's `held_reasons` say why.
    """
    catalog = reset_stage(catalog, STAGE).reset_index(drop=True)
    eligible = ((catalog["status"] == schema.KEPT) & catalog["image_path"].notna()).to_numpy()
    if topic_scores is None:
        if (eligible & ~found).any():
            raise UsageError(f"{int((eligible & ~found).sum())} kept photos have no embedding yet; "
                             "run `curate embed` first")
        unreadable = eligible & found & ~ok
    else:
        unreadable = eligible & np.isnan(topic_scores)
    result = apply_drops(catalog, pd.Series(np.where(unreadable, "unreadable_image", None)), stage=STAGE)
    for column in ("topic_score", "topic_recovered", "topic_doubted", "label_quality", "is_label_issue",
                   "suggested_label", "geo_rescued", "original_label", "topic_rescued", "label_fit"):
        result[column] = None
    if config.topic is None:
        return _label_issues_only(result, vectors, found & ok, eligible & ~unreadable, int(unreadable.sum()), config)
    judged = eligible & ~unreadable
    if topic_scores is None and config.label_issues and judged.any() \
            and topic_tagged(result.loc[judged, "tags"], config.topic).all():
        return _label_issues_only(result, vectors, found & ok, judged, int(unreadable.sum()), config,
                                  topic_everywhere=True)
    rows, tagged, groups = topic_rows(result, eligible & ~unreadable, config)
    score = _scores(rows, tagged, groups, vectors, config, topic_scores)
    unscored = np.isnan(score) if topic_scores is None else np.zeros(len(rows), bool)  # finetune: NaN = unreadable
    unscored_lines = _unscored_warning(result, rows, tagged, unscored, config) if unscored.any() else []
    if unscored.all():  # no fold's model saw both kinds: no topic model at all
        judged = np.zeros(len(result), bool)
        judged[rows] = True
        return _label_issues_only(result, vectors, found & ok, judged, int(unreadable.sum()), config,
                                  held_reasons=unscored_lines)
    rows, tagged, groups, score = rows[~unscored], tagged[~unscored], groups[~unscored], score[~unscored]
    cut = decide_cut(score, tagged, config, result["label"].to_numpy(dtype=object)[rows])
    one_kind = bool(unscored.any()) and len(np.unique(tagged)) < 2
    if one_kind:  # a cut among photos of one kind judges nothing: held, whatever --force says
        kind = "carries" if tagged.all() else "lacks"
        cut = replace(cut, held=True, reasons=[
            f"every one of the {len(rows):,} photos the fold models could score {kind} the tag {config.topic!r} (the "
            "others are unscored, above), so a cut among them cannot tell off-topic photos apart, even with --force",
            *cut.reasons])
    # one kind: the photos under the cut are no more doubtful than the others (audit AX: 19 real Ferraris were
    # flagged topic_doubted, and the export counted them, while the 60 off-topic photos were unscored)
    result, on_topic = _apply_cut(result, rows, tagged, score, cut, doubt=not one_kind)
    estimate = cut_estimate(score, tagged, cut.threshold)

    notes: list[str] = [] if cut.held or not estimate["dropped"] else [cut_estimate_note(estimate)]
    issues, dropped_issues, per_label, repairs = None, 0, [], {}
    kept_now = (result["status"] == schema.KEPT).to_numpy() & result["topic_score"].notna().to_numpy()
    if config.label_issues and not (found & ok)[kept_now].all():
        notes.append(f"{SKIPPED}some kept photos have no embedding (run `curate embed`)")
    elif config.label_issues:
        from curate.prefilter.repair import TopicView, label_repairs

        topic = TopicView(rows, tagged, groups, cut.threshold) if topic_scores is None else None
        result, issues, dropped_issues, per_label, repairs = label_repairs(
            result, vectors, found & ok, config, topic, notes, rescue_off_topic=config.topic_rescue and not cut.held)
    elif config.geo_rescue or config.relabel or config.topic_rescue:
        notes.append("geo rescue, topic rescue and relabel skipped: they need the label model (--label-issues)")
    result = _unsplit_dropped(result, notes)
    rescued = result["topic_rescued"].to_numpy()[rows] == True  # noqa: E712  (None: not judged)
    kept = on_topic | cut.held | rescued  # a held cut drops nothing
    report = PrefilterReport(
        topic=config.topic, threshold=round(float(cut.threshold), 4), threshold_method=cut.method,
        scored=len(rows), tagged_kept=int((tagged & kept).sum()), tagged_dropped=int((tagged & ~kept).sum()),
        untagged_recovered=0 if cut.held else int((~tagged & (on_topic | rescued)).sum()),
        untagged_dropped=int((~tagged & ~kept).sum()),
        unreadable=int(unreadable.sum()), label_issues=issues, label_issues_dropped=dropped_issues,
        held=cut.held, held_reasons=cut.reasons, forced=bool(cut.reasons) and not cut.held, unforceable=one_kind,
        doubted=int((~on_topic).sum()) if cut.held and not one_kind else 0,
        would_drop_tagged=int((tagged & ~on_topic).sum()),
        would_drop_untagged=int((~tagged & ~on_topic).sum()), topic_share=round(float(tagged.mean()), 4),
        bimodality=cut.bimodality, cut_estimate=estimate, per_label=per_label, geo_rescue=repairs.get("geo_rescue", {}),
        relabel=repairs.get("relabel", {}), topic_rescue=repairs.get("topic_rescue", {}),
        label_model=repairs.get("label_model", {}), notes=notes, warnings=unscored_lines + repairs.get("warnings", []),
        config=asdict(config))
    return result, report


def _unscored_warning(result: pd.DataFrame, rows: np.ndarray, tagged: np.ndarray, unscored: np.ndarray,
                      config: PrefilterConfig) -> list[str]:
    """The line for photos the out-of-fold topic models could not score (`out_of_fold_proba`: their fold's
    model saw one class only), naming who holds them: they stay kept, unjudged."""
    owners = result["owner_id"].to_numpy(dtype=object)[rows[unscored]]
    named = pd.Series(owners).dropna()
    who = ""
    if not named.empty:
        top, count = named.value_counts().index[0], int(named.value_counts().iloc[0])
        who = f"; photographer {top} alone has {count:,} of the {len(rows):,} photos ({count / len(rows):.0%})"
    n, untagged, tagged_n = int(unscored.sum()), int((~tagged).sum()), int(tagged.sum())
    return [f"{n:,} photos were not judged on topic (kept, no topic_score): they hold "
            f"{int((~tagged & unscored).sum()):,} of the {untagged:,} photos without the tag {config.topic!r} and "
            f"{int((tagged & unscored).sum()):,} of the {tagged_n:,} with it, so the model fitted without their "
            f"photographers saw photos of one kind only and can score none of them{who}; a topic model needs "
            "photographers on both sides: ingest photos of more photographers"]


def _label_issues_only(result: pd.DataFrame, vectors: np.ndarray, usable: np.ndarray, judged: np.ndarray,
                       unreadable: int, config: PrefilterConfig, topic_everywhere: bool = False,
                       held_reasons: list[str] | None = None) -> tuple[pd.DataFrame, PrefilterReport]:
    """`prefilter_catalog` without a topic: label issues (and relabel, drops of issues when asked) on
    the `judged` photos; no topic score, nothing dropped as off_topic, no rescue (both need a topic).
    `topic_everywhere`: a topic was given but every judged photo carries it, so no topic model can be
    fitted (no negatives): the same, with a warning that says so (audit M: `curate run` stopped there).
    `held_reasons`: why a topic model judged none of the photos (`_unscored_warning`), said as warnings."""
    from curate.prefilter.repair import label_repairs

    if not judged.any():
        raise UsageError("no kept photos with embeddings to judge; run `curate filter` and `curate embed`")
    notes = ["no topic: label issues only (no topic model, nothing dropped as off topic)"]
    held = []
    if topic_everywhere:
        notes = [f"topic {config.topic!r} on every photo judged: label issues only (no topic model, nothing dropped "
                 "as off topic)"]
        held = [f"every one of the {int(judged.sum()):,} kept photos judged is tagged {config.topic!r}: the "
                "pre-classifier needs untagged photos as negatives, so no photo was judged off topic (nothing "
                "dropped); label issues ran alone; to gate the topic, ingest photos without the tag as well (a broader "
                "search), or ask for label issues only (--label-issues-only; recipe: label_issues_only = true) to "
                "silence this"]
    if held_reasons:
        notes = [f"topic {config.topic!r}: no fold's topic model saw photos with and without the tag, so none "
                 "could score a photo: label issues only (nothing dropped as off topic)"]
        held = list(held_reasons)
    if config.geo_rescue and (result["drop_reason"] == "geo_outlier").any():
        notes.append("geo rescue skipped: it needs a topic (--topic TAG)")
    result, issues, dropped, per_label, repairs = label_repairs(
        result, vectors, usable, replace(config, geo_rescue=False), None, notes, judged=judged)
    result = _unsplit_dropped(result, notes)
    report = PrefilterReport(
        topic=None, threshold=None, threshold_method="none", scored=int(judged.sum()), tagged_kept=0,
        tagged_dropped=0, untagged_recovered=0, untagged_dropped=0, unreadable=unreadable, label_issues=issues,
        label_issues_dropped=dropped, per_label=per_label, relabel=repairs.get("relabel", {}),
        label_model=repairs.get("label_model", {}), notes=notes, warnings=held + repairs.get("warnings", []),
        config=asdict(config))
    return result, report


def _unsplit_dropped(result: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Photos this stage dropped leave their split; a note asks for `curate split` again."""
    left = (result["status"] == schema.DROPPED) & result["split"].notna()
    if left.any():
        result.loc[left, "split"] = None
        notes.append("the catalog was split before this prefilter: run `curate split` again so shares are "
                     "computed over the photos that are still kept")
    return result


@dataclass(frozen=True)
class Cut:
    """The threshold the stage chose, how, and whether its drops are held (with the reasons)."""

    threshold: float
    method: str  # fixed, otsu, youden, or otsu-uncalibrated (no bimodality, too few untagged)
    bimodality: dict
    reasons: list[str]
    held: bool


def decide_cut(score: np.ndarray, tagged: np.ndarray, config: PrefilterConfig,
               labels: np.ndarray | None = None) -> Cut:
    """Choose the threshold and check it is safe to apply.

    Threshold: `config.threshold` when given; else Otsu's cut when the scores are bimodal
    (`curate.prefilter.threshold.bimodality`); else Youden's J on tagged vs untagged scores when
    at least `min_untagged` photos are untagged; else Otsu's cut, uncalibrated, never applied
    without `force`. Reasons to hold the drops: fewer than MIN_TAGGED tagged photos, the tag is on
    more than `max_topic_share` of the photos, the cut drops more than `max_drop_share` of the tagged
    ones, no calibrated cut, or
    (`collection_reasons`) the cut drops more than `max_total_drop_share` of all the photos or
    more than `max_label_drop_share` of a label's (`labels`: one per score, None where unlabelled).
    """
    test = bimodality(score, config.seed)
    untagged = int((~tagged).sum())
    reasons = []
    if config.threshold is not None:
        threshold, method = config.threshold, "fixed"
    elif test.bimodal:
        threshold, method = test.cut, "otsu"
    elif untagged >= config.min_untagged:
        threshold, method = youden_threshold(score, tagged), "youden"
        reasons += tag_separation_reasons(score, tagged, config.topic)
    else:
        threshold, method = test.cut, "otsu-uncalibrated"
        reasons.append(f"scores not bimodal and only {untagged} untagged photos to calibrate a cut on "
                       f"(min_untagged {config.min_untagged})")
    if int(tagged.sum()) < MIN_TAGGED:
        reasons.append(f"only {int(tagged.sum()):,} of the {len(tagged):,} photos judged carry the tag "
                       f"{config.topic!r}: a topic model learnt from fewer than {MIN_TAGGED} tagged photos cannot be "
                       "trusted to drop photos")
    share = float(tagged.mean())
    if share > config.max_topic_share:
        reasons.append(f"{percent_apart(share, config.max_topic_share)} of the {len(tagged):,} photos judged carry "
                       f"the tag {config.topic!r}, too many to tell off-topic ones apart (max_topic_share "
                       f"{config.max_topic_share:.0%}; a collection gathered by that tag: to look for wrong labels "
                       "alone, --label-issues-only)")
    tagged_below = int((tagged & (score < threshold)).sum())
    if tagged_below > config.max_drop_share * tagged.sum():
        reasons.append(f"the cut {threshold:.3f} would drop {tagged_below:,} of {int(tagged.sum()):,} tagged photos "
                       f"({percent_apart(tagged_below / tagged.sum(), config.max_drop_share)}; max_drop_share "
                       f"{config.max_drop_share:.0%})")
    reasons += collection_reasons(score < threshold, tagged, labels, threshold, config)
    unsupported = unsupported_labels(score, tagged, labels, threshold, config.seed) if labels is not None else []
    reasons += unsupported_label_reasons(unsupported, config.topic)
    figures = {"ashman_d": round(test.ashman_d, 4), "mode_gap": round(test.mode_gap, 4),
               "bimodal": test.bimodal, "otsu_cut": round(test.cut, 4), "summary": test.describe(),
               "within_label": unsupported}
    return Cut(float(threshold), method, figures, reasons, held=bool(reasons) and not config.force)


def cut_estimate(score: np.ndarray, tagged: np.ndarray, threshold: float) -> dict:
    """What a cut drops and how many of its drops could be on-topic photos (audit V, 2026-12-06).

    The tagged photos stand for the on-topic ones: if the tag were on a random share of them, the cut
    would lose the same share F of the on-topic photos as of the tagged ones, and the A photos it keeps
    (on-topic, at most) would be 1 - F of them, so about A·F/(1 - F) on-topic photos are among its D
    drops. A rough guide, not a measure: tagged off-topic photos (wrong tags) also score low and raise F,
    and off-topic photos above the cut raise A; where the tag goes on the most typical on-topic photos,
    F is too low and so is the figure (audit Z10: 26 where 73 were on topic, on generated scores). On
    audit V's 20 real-photo scrapes its precision came within about 0.05 of the drops' true precision,
    or below it, in 19; on the demo, whose tags are wrong by design, it says 453 of 965 where the drops
    are almost all off topic.

    >>> cut_estimate(np.array([0.1, 0.2, 0.8, 0.9, 0.9, 0.1]), np.array([0, 0, 1, 1, 1, 1], bool), 0.5)
    {'dropped': 3, 'tagged_below_share': 0.25, 'on_topic_dropped_bound': 1, 'precision_bound': 0.6667}
    """
    below = score < threshold
    dropped, kept = int(below.sum()), int((~below).sum())
    share = float((tagged & below).sum() / tagged.sum()) if tagged.any() else 0.0
    bound = dropped if share >= 1 else min(dropped, int(round(kept * share / (1 - share))))
    return {"dropped": dropped, "tagged_below_share": round(share, 4), "on_topic_dropped_bound": bound,
            "precision_bound": round(1 - bound / dropped, 4) if dropped else None}


def cut_estimate_note(estimate: dict) -> str:
    """The note on an applied cut: its drops and the bound of `cut_estimate` on the on-topic ones among them."""
    return (f"the cut drops {estimate['dropped']:,} photos; {estimate['tagged_below_share']:.0%} of the tagged "
            f"photos score below it, so were every tag right and the tag on a random share of the on-topic photos, "
            f"about {estimate['on_topic_dropped_bound']:,} of the drops would be on topic (a rough guide: fewer where "
            "tags are wrong, as a wrongly tagged off-topic photo scores low too; more where the tagged photos are "
            "the most typical ones); `curate review` shows the drops, --threshold moves the cut")


def tag_separation_reasons(score: np.ndarray, tagged: np.ndarray, topic: str | None) -> list[str]:
    """A reason to hold a cut calibrated on the tag (Youden) when the topic model's scores do not tell
    tagged from untagged photos (`threshold.tag_separation`): such a cut drops photos at random."""
    j, chance = tag_separation(score, tagged)
    if j >= MIN_TAG_SEPARATION and chance < MAX_TAG_CHANCE:
        return []
    return [f"the tag {topic!r} does not tell photos apart: above its best cut, the topic model (out of fold) keeps "
            f"{j * 100:.0f} points more of the tagged photos' share than of the untagged ones' (Youden's J {j:.2f}; a "
            f"tag at random does as well {_share(chance)} of the time; J {MIN_TAG_SEPARATION:g} and a chance under "
            f"{MAX_TAG_CHANCE:.0%} needed), so a cut on it would drop photos at random; is the tag the topic, and on "
            "the photos that show it? Or is nearly every photo on topic, the tag missing from some (then there is "
            "nothing to drop; J cannot exceed the share of off-topic photos among the untagged ones, so a collection "
            "with few off-topic photos reads the same: audit V saw J 0.10 with 5% off topic)"]


MOST_OF_A_LABEL = 0.5  # a cut dropping more of a label's judged photos than this is tested within the label


def unsupported_labels(score: np.ndarray, tagged: np.ndarray, labels: np.ndarray, threshold: float,
                       seed: int = 0) -> list[dict]:
    """The labels of MIN_LABEL_PHOTOS or more judged that carry the tag less than the other photos judged and that
    the cut would take most of (MOST_OF_A_LABEL) while, within the label, the scores tell its tagged photos from
    its untagged ones no better than the tag shuffled among them (`threshold.label_separation`, chance
    MAX_WITHIN_CHANCE or more): the model has learnt that the label's photos are seldom tagged, not what the topic
    looks like. One dict per label (photos, dropped, tagged, others_tag_share, j, chance). A label too seldom
    tagged to test is left to `collection_reasons`' share; one that carries the tag more (one photographer's
    off-topic photos tagged with the topic filling most of it: the sandals) is the cut's to judge."""
    keys = np.array([None if pd.isna(label) else str(label) for label in np.asarray(labels, dtype=object)],
                    dtype=object)
    below = score < threshold
    found = []
    for label in sorted({key for key in keys if key is not None}):
        rows = keys == label
        photos, dropped, carry = int(rows.sum()), int((rows & below).sum()), int(tagged[rows].sum())
        if photos < MIN_LABEL_PHOTOS or dropped <= MOST_OF_A_LABEL * photos:
            continue
        others, others_tagged = int((~rows).sum()), int(tagged[~rows].sum())
        # the label must carry the tag less (a plain comparison: audit AJ's one-sided Fisher test, proposed so that
        # a 5-point gap would not count, let cuts of precision 0.42-0.57 drop most of a label's good photos on
        # audit AI's collections; a hold is the recoverable mistake, `--force`)
        if not others or carry * others >= others_tagged * photos:
            continue
        tested = label_separation(score[rows], tagged[rows], seed)
        if tested is not None and tested[1] >= MAX_WITHIN_CHANCE:
            found.append({"label": label, "photos": photos, "dropped": dropped, "tagged": carry,
                          "others_tag_share": round(others_tagged / others, 4), "j": round(tested[0], 4),
                          "chance": round(tested[1], 4)})
    return found


def unsupported_label_reasons(unsupported: list[dict], topic: str | None) -> list[str]:
    """The reason for `unsupported_labels`, one line naming each label and its figures."""
    if not unsupported:
        return []
    named = names_text([f"{row['label']} ({row['dropped']:,} of {row['photos']:,}; tagged {row['tagged']:,}, "
                        f"{row['tagged'] / row['photos']:.0%} against {row['others_tag_share']:.0%} of the other "
                        f"photos; J {row['j']:.2f}, as well {_share(row['chance'])} of the time)"
                        for row in unsupported], shown=6)
    return [f"the cut would drop most of {named}, and within {'each' if len(unsupported) > 1 else 'it'} the topic "
            f"model (out of fold) scores the photos tagged {topic!r} and the others alike (Youden's J; the tag "
            f"shuffled among the label's photos does as well, {MAX_WITHIN_CHANCE:.0%} or more needed to hold): it has "
            "learnt that these photos are seldom tagged, not what the topic looks like; is the tag used less on this "
            "label, its photos on topic all the same?"]


def _share(value: float) -> str:
    """A share as a percentage precise enough to compare with a 1 % bar: 1.3 % is not "1%" (an audit could not
    tell which test a held cut failed).

    >>> _share(0.0134), _share(0.25), _share(0.0004)
    ('1.3%', '25%', '0.04%')
    """
    digits = 0 if value >= 0.1 else 1 if value >= 0.01 else 2
    return f"{value * 100:.{digits}f}%"


def collection_reasons(below: np.ndarray, tagged: np.ndarray, labels: np.ndarray | None, threshold: float,
                       config: PrefilterConfig) -> list[str]:
    """Reasons to hold a cut that would empty the collection or its labels (both the mark of a wrong
    --topic, or of labels that are not kinds of the topic), one line each; [] when neither.

    `below`: the photos the cut would drop. A label counts when it has at least `MIN_LABEL_PHOTOS`
    photos judged. Topic rescue cannot refill an emptied label (its label model learns from kept
    photos only), so the check comes before it. ImageNet's 6 object labels with `--topic food`: the
    cut would drop 88% of the photos and all of the 5 labels that are not food; the scrapes this
    stage is made for lose 35-40% of their photos and at most 55-70% of one label (the one a
    sandals-style photographer files off-topic photos under); docs/prefilter-rescue.md.
    """
    reasons, n = [], len(below)
    dropped = int(below.sum())
    if n and dropped > config.max_total_drop_share * n:
        # with the tag on nearly every photo the topic is right and the tag tells nothing apart (its own reason
        # says so): no "wrong --topic?" then (audit AM: 98 of 100 real Flickr Ferraris tagged `ferrari`)
        asked = "" if float(np.mean(tagged)) > config.max_topic_share else \
            f": is {config.topic!r} the topic of this collection (a wrong --topic)?"
        reasons.append(f"the cut {threshold:.3f} would drop {dropped:,} of the {n:,} photos judged "
                       f"({percent_apart(dropped / n, config.max_total_drop_share)}; max_total_drop_share "
                       f"{config.max_total_drop_share:.0%}){asked}")
    if labels is None or not n:
        return reasons
    frame = pd.DataFrame({"label": labels, "below": below, "tagged": tagged}).dropna(subset=["label"])
    per_label = frame.groupby("label").agg(photos=("below", "size"), below=("below", "sum"), tagged=("tagged", "sum"))
    emptied = per_label[(per_label["photos"] >= MIN_LABEL_PHOTOS)
                        & (per_label["below"] > config.max_label_drop_share * per_label["photos"])]
    if emptied.empty:
        return reasons
    emptied = emptied.sort_values(["photos", "below"], ascending=False)
    named = [f"{label} {int(row.below):,} of {int(row.photos):,}" for label, row in emptied.head(6).iterrows()]
    more = f" and {len(emptied) - 6} more" if len(emptied) > 6 else ""
    lost = emptied["below"] / emptied["photos"]
    whole = "every" if (lost == 1).all() else "nearly every" if (lost >= 0.9).all() else "most"
    tag_count, photos = int(emptied["tagged"].sum()), int(emptied["photos"].sum())
    tags = (f"none of their photos carries the tag {config.topic!r}" if tag_count == 0 else
            f"{tag_count:,} of their {photos:,} photos carry the tag {config.topic!r}")
    # mostly tagged: the tag vouches for these labels, so the cut is the suspect, not the labels
    cause = ("the tag says they are on topic: the cut does not tell the topic apart" if tag_count >= photos / 2 else
             f"labels that are not kinds of the topic {config.topic!r}, or a wrong --topic")
    reasons.append(f"the cut {threshold:.3f} would drop {whole} photo of {len(emptied)} "
                   f"label{'s' if len(emptied) > 1 else ''} ({', '.join(named)}{more}; max_label_drop_share "
                   f"{config.max_label_drop_share:.0%}) and {tags}: {cause}")
    return reasons


def _scores(rows: np.ndarray, tagged: np.ndarray, groups: np.ndarray, vectors: np.ndarray,
            config: PrefilterConfig, topic_scores: np.ndarray | None) -> np.ndarray:
    """Out-of-fold topic scores of `rows`: logistic regression on embeddings, or the given ones."""
    if topic_scores is not None:  # already out of fold: the folds were made (once) where they were computed
        return topic_scores[rows]
    fold = grouped_folds(tagged.astype(int), groups, config.folds, config.seed)
    x = normalise_rows(vectors[rows])
    return out_of_fold_proba(x, tagged.astype(int), fold, 2, config.regularisation, config.seed)[:, 1]


def _apply_cut(result: pd.DataFrame, rows: np.ndarray, tagged: np.ndarray, score: np.ndarray, cut: Cut,
               doubt: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Store scores and flags; drop the photos below the cut as off_topic unless the cut is held (then flag
    them topic_doubted, when `doubt`)."""
    on_topic = score >= cut.threshold
    result["topic_score"] = result["topic_score"].astype(object)
    result.loc[rows, "topic_score"] = score
    result.loc[rows, "topic_recovered"] = ~tagged & on_topic & (not cut.held)  # held: it decided nothing, claims none
    result.loc[rows, "topic_doubted"] = ~on_topic & cut.held & doubt
    if not cut.held:
        off_topic = np.full(len(result), None, dtype=object)
        off_topic[rows[~on_topic]] = "off_topic"
        result = apply_drops(result, pd.Series(off_topic), stage=STAGE)
    return result, on_topic


@dataclass(frozen=True)
class TopicModel:
    """The deployable topic model: one logistic regression fitted on every photo the stage scored.

    The out-of-fold models only judge the photos; this one, on the same rows, normalisation and C,
    is what `curate prefilter` saves (curate/prefilter/run.py) for use at prediction time.
    """

    coef: np.ndarray  # (dim,) over L2-normalised embeddings
    intercept: float
    photos: int
    tagged: int


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> tuple[np.ndarray, float]:
    """(coef (dim,), intercept) of a binary logistic regression on L2-normalised rows of `x`."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=MAX_ITER, random_state=seed).fit(normalise_rows(x), np.asarray(y, int))
    return model.coef_.ravel().astype(np.float64), float(model.intercept_[0])


def fit_topic_model(result: pd.DataFrame, vectors: np.ndarray, config: PrefilterConfig,
                    usable: np.ndarray | None = None) -> TopicModel | None:
    """The topic model on the rows `prefilter_catalog` scored (those with a `topic_score`) and, given
    `usable` (which rows have a readable vector), the kept photos it could not score out of fold (their
    fold's model saw one class: they are good training rows all the same), tagged photos as positives.
    None when there are no embeddings (`--mode finetune`) or one class only."""
    judged = result["topic_score"].notna().to_numpy()
    if usable is not None:
        judged = judged | ((result["status"] == schema.KEPT) & result["image_path"].notna()).to_numpy() & usable
    rows = np.flatnonzero(judged)
    if config.topic is None or vectors.ndim != 2 or vectors.shape[1] == 0 or len(rows) == 0:
        return None
    tagged = topic_tagged(result["tags"].iloc[rows], config.topic)
    if tagged.all() or not tagged.any():
        return None
    coef, intercept = fit_logistic(vectors[rows], tagged, config.regularisation, config.seed)
    return TopicModel(coef, intercept, photos=len(rows), tagged=int(tagged.sum()))


def _check_topic(config: PrefilterConfig, tagged: np.ndarray, groups: np.ndarray, photographers: int = 0) -> None:
    """Refuse, in one line saying what to do, a topic model that cannot be judged out of fold. `photographers`:
    the distinct owners among the rows (the groups join them through shared copies: audit AV4)."""
    if len(tagged) == 0:
        raise UsageError("no kept photos with embeddings to pre-classify; run `curate filter` and `curate embed`")
    if not tagged.any():
        raise UsageError(f"no kept photo is tagged {config.topic!r}: the pre-classifier needs positives; "
                         "check --topic against the tags (`curate status` lists the most common tags)")
    if tagged.all():
        raise UsageError(f"every kept photo is tagged {config.topic!r}: the pre-classifier needs untagged photos "
                         "as negatives; ingest photos without the tag as well (a broader search), or look for label "
                         "errors alone (--label-issues-only; recipe: label_issues_only = true)")
    owners = len(np.unique(groups))
    if owners < config.folds and photographers >= config.folds:
        raise UsageError(f"the {photographers:,} photographers of the kept photos are joined into {owners} groups, "
                         f"fewer than --folds {config.folds}, by copies of one picture that several of them hold "
                         "(near-duplicate clusters and exact copies keep their photographers together); run `curate "
                         "filter --dedupe-near` to keep one copy of each picture, or lower --folds")
    if owners < config.folds:
        raise UsageError(f"only {owners} photographers (groups) among kept photos, fewer than --folds "
                         f"{config.folds}; lower --folds or ingest more photographers")
    tagged_count, untagged_count = int(tagged.sum()), int((~tagged).sum())
    largest = max(tagged_count, untagged_count)
    if largest < config.folds:  # the folds are stratified on the tag: one side must fill every fold
        fix = f"--folds {largest} or fewer, or ingest more photos" if largest >= 2 else "ingest more photos"
        raise UsageError(f"only {tagged_count} tagged and {untagged_count} untagged kept photos, both fewer than "
                         f"--folds {config.folds}; {fix}")
