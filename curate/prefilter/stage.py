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
  and are marked `topic_recovered` (not when the drops are held: a held cut decided nothing) when
  they also reach the recovery floor (`curate.prefilter.cut.recovery_floor`: the tagged photos'
  1st percentile); an untagged photo between the cut and the floor is kept, flagged `topic_doubted`
  (not recovered, not dropped) and a warning names it and its photographers (audit EG F1: a
  three-clump cut recovered 18 untagged sandals as Ferraris).
- Topic rescue (`topic_rescue`, on by default; `curate.prefilter.rescue`): a photo below the
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

import math
from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import UsageError
from curate.prefilter.config import PrefilterConfig
from curate.prefilter.cut import RECOVERY_QUANTILE, Cut, cut_estimate, cut_estimate_note, decide_cut, recovery_floor
from curate.prefilter.folds import grouped_folds, normalise_rows, out_of_fold_proba
from curate.prefilter.labels import SKIPPED
from curate.prefilter.report import PrefilterReport
from curate.prefilter.topic import topic_rows, topic_tagged
from curate.records import apply_drops, reset_stage

STAGE = "prefilter"


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
    floor = None if cut.held else recovery_floor(score, tagged)
    result, on_topic, unrecovered = _apply_cut(result, rows, tagged, score, cut, doubt=not one_kind, floor=floor)
    unrecovered_lines = _unrecovered_warning(result, rows, tagged, score, unrecovered, cut.threshold, floor,
                                             config.topic) if unrecovered.any() else []
    estimate = cut_estimate(score, tagged, cut.threshold)

    notes: list[str] = [] if cut.held or not estimate["dropped"] else [cut_estimate_note(estimate)]
    issues, dropped_issues, per_label, repairs = None, 0, [], {}
    # label issues judge every kept photo with an embedding, the ones no topic model could score too (audit CR: a
    # topic left 18 real Ferraris out of the label issues without a word)
    kept_now = (result["status"] == schema.KEPT).to_numpy() & eligible & ~unreadable
    if config.label_issues and not (found & ok)[kept_now].all():
        notes.append(f"{SKIPPED}some kept photos have no embedding (run `curate embed`)")
    elif config.label_issues:
        from curate.prefilter.repair import TopicView, label_repairs

        topic = TopicView(rows, tagged, groups, cut.threshold) if topic_scores is None else None
        result, issues, dropped_issues, per_label, repairs = label_repairs(
            result, vectors, found & ok, config, topic, notes, rescue_off_topic=config.topic_rescue and not cut.held,
            judged=kept_now)
    elif config.geo_rescue or config.relabel or config.topic_rescue:
        notes.append("geo rescue, topic rescue and relabel skipped: they need the label model (--label-issues)")
    result = _note_split_dropped(result, notes)
    rescued = result["topic_rescued"].to_numpy()[rows] == True  # noqa: E712  (None: not judged)
    kept = on_topic | cut.held | rescued  # a held cut drops nothing
    report = PrefilterReport(
        topic=config.topic, threshold=round(float(cut.threshold), 4), threshold_method=cut.method,
        scored=len(rows), tagged_kept=int((tagged & kept).sum()), tagged_dropped=int((tagged & ~kept).sum()),
        untagged_recovered=0 if cut.held else int((~tagged & ((on_topic & ~unrecovered) | rescued)).sum()),
        untagged_rescued=0 if cut.held else int((~tagged & ~on_topic & rescued).sum()),
        untagged_dropped=int((~tagged & ~kept).sum()),
        unreadable=int(unreadable.sum()), label_issues=issues, label_issues_dropped=dropped_issues,
        held=cut.held, held_reasons=cut.reasons, forced=bool(cut.reasons) and not cut.held, unforceable=one_kind,
        doubted=int((~on_topic).sum()) if cut.held and not one_kind else 0,
        recovery_floor=None if floor is None else round(floor, 4), untagged_doubted=int(unrecovered.sum()),
        would_drop_tagged=int((tagged & ~on_topic).sum()),
        would_drop_untagged=int((~tagged & ~on_topic).sum()), topic_share=round(float(tagged.mean()), 4),
        bimodality=cut.bimodality, cut_estimate=estimate, per_label=per_label, geo_rescue=repairs.get("geo_rescue", {}),
        relabel=repairs.get("relabel", {}), topic_rescue=repairs.get("topic_rescue", {}),
        label_model=repairs.get("label_model", {}), notes=notes,
        warnings=unscored_lines + unrecovered_lines + repairs.get("warnings", []),
        config=asdict(config))
    return result, _with_rejected_owners(result, report)


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
    head = (f"{n:,} photos were not judged on topic (kept, no topic_score): they hold "
            f"{int((~tagged & unscored).sum()):,} of the {untagged:,} photos without the tag {config.topic!r} and "
            f"{int((tagged & unscored).sum()):,} of the {tagged_n:,} with it, so the model fitted without their "
            "photographers saw photos of one kind only and can score none of them")
    # the kind every scored photo lacks sits in the unscored folds; when it is a handful, that is the cause, and
    # more photographers would not help (audit EG F8: 2 untagged photos of 131, both one photographer's)
    few_untagged = not (~tagged & ~unscored).any()
    few = untagged if few_untagged else tagged_n
    if few < config.min_untagged:
        lack, other = ("lack", "without") if few_untagged else ("carry", "with")
        theirs = pd.Series(result["owner_id"].to_numpy(dtype=object)[rows[tagged != few_untagged]]).dropna().unique()
        every = "both" if few == 2 else f"all {few:,}"
        by = f" ({every} by photographer {theirs[0]})" if len(theirs) == 1 and few > 1 else ""
        return [f"{head}; only {few:,} of the {len(rows):,} photos {lack} the tag{by}, too few to fit a topic model "
                f"on (min_untagged {config.min_untagged}): more photos {other} the tag would help, more "
                "photographers alone would not"]
    return [f"{head}{who}; a topic model needs photographers on both sides: ingest photos of more photographers"]


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
                "search), or ask for label issues only (`curate prefilter --label-issues-only` without --topic; "
                "recipe: label_issues_only = true) to silence this"]
    if held_reasons:
        notes = [f"topic {config.topic!r}: no fold's topic model saw photos with and without the tag, so none "
                 "could score a photo: label issues only (nothing dropped as off topic)"]
        held = list(held_reasons)
    if config.geo_rescue and (result["drop_reason"] == "geo_outlier").any():
        notes.append("geo rescue skipped: it needs a topic (--topic TAG)")
    result, issues, dropped, per_label, repairs = label_repairs(
        result, vectors, usable, replace(config, geo_rescue=False), None, notes, judged=judged)
    result = _note_split_dropped(result, notes)
    report = PrefilterReport(
        topic=None, threshold=None, threshold_method="none", scored=int(judged.sum()), tagged_kept=0,
        tagged_dropped=0, untagged_recovered=0, untagged_dropped=0, unreadable=unreadable, label_issues=issues,
        label_issues_dropped=dropped, per_label=per_label, relabel=repairs.get("relabel", {}),
        label_model=repairs.get("label_model", {}), notes=notes, warnings=held + repairs.get("warnings", []),
        config=asdict(config))
    return result, _with_rejected_owners(result, report)


def _with_rejected_owners(result: pd.DataFrame, report: PrefilterReport) -> PrefilterReport:
    """The report with the photographers this run mostly rejected (`curate.prefilter.owners`) and its line."""
    from curate.prefilter.owners import mostly_rejected_owners, owners_line, owners_records

    table = mostly_rejected_owners(result)
    line = owners_line(table)
    if line is None:
        return report
    if not table["kept"].sum():  # nothing of theirs left to look at: said, not warned
        return replace(report, rejected_owners=owners_records(table), notes=[*report.notes, line])
    return replace(report, rejected_owners=owners_records(table), warnings=[*report.warnings, line])


def _note_split_dropped(result: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """A note asking for `curate split` again when this stage dropped photos of a split. The photos keep their
    `split` until then, as a photo the filter drops does: the next split counts them among the earlier split's
    photos dropped since (they were cleared here, and its note undercounted them), then clears it."""
    if ((result["status"] == schema.DROPPED) & result["split"].notna()).any():
        notes.append("the catalog was split before this prefilter: run `curate split` again so shares are "
                     "computed over the photos that are still kept")
    return result


def _scores(rows: np.ndarray, tagged: np.ndarray, groups: np.ndarray, vectors: np.ndarray,
            config: PrefilterConfig, topic_scores: np.ndarray | None) -> np.ndarray:
    """Out-of-fold topic scores of `rows`: logistic regression on embeddings, or the given ones."""
    if topic_scores is not None:  # already out of fold: the folds were made (once) where they were computed
        return topic_scores[rows]
    fold = grouped_folds(tagged.astype(int), groups, config.folds, config.seed)
    x = normalise_rows(vectors[rows])
    return out_of_fold_proba(x, tagged.astype(int), fold, 2, config.regularisation, config.seed)[:, 1]


def _apply_cut(result: pd.DataFrame, rows: np.ndarray, tagged: np.ndarray, score: np.ndarray, cut: Cut,
               doubt: bool = True, floor: float | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Store scores and flags; drop the photos below the cut as off_topic unless the cut is held (then flag
    them topic_doubted, when `doubt`). An untagged photo at or above an applied cut is recovered when it reaches
    `floor` too (`recovery_floor`); below it, it is kept and flagged topic_doubted. Returns (catalog, on topic,
    untagged kept but not recovered)."""
    on_topic = score >= cut.threshold
    unrecovered = ~tagged & on_topic & (not cut.held) & (floor is not None) & (score < (floor or 0.0))
    result["topic_score"] = result["topic_score"].astype(object)
    result.loc[rows, "topic_score"] = score
    # held: it decided nothing, claims none
    result.loc[rows, "topic_recovered"] = ~tagged & on_topic & ~unrecovered & (not cut.held)
    result.loc[rows, "topic_doubted"] = (~on_topic & cut.held & doubt) | unrecovered
    if not cut.held:
        off_topic = np.full(len(result), None, dtype=object)
        off_topic[rows[~on_topic]] = "off_topic"
        result = apply_drops(result, pd.Series(off_topic), stage=STAGE)
    return result, on_topic, unrecovered


TAGS_MOST = 0.5  # a photographer tagging more than this share of their judged photos with the topic "tags it"


def _unrecovered_warning(result: pd.DataFrame, rows: np.ndarray, tagged: np.ndarray, score: np.ndarray,
                         unrecovered: np.ndarray, threshold: float, floor: float, topic: str) -> list[str]:
    """The line for the untagged photos kept above the cut but below the recovery floor (`_apply_cut`), naming
    the photographers who hold most of them; one who tags most of their other photos with the topic and left these
    untagged is named as such (their own tags say these are something else: audit EG F1's sandals)."""
    owners = pd.Series(result["owner_id"].to_numpy(dtype=object)[rows])
    names = result["owner_name"].to_numpy(dtype=object)[rows] if "owner_name" in result else owners.to_numpy()
    held = owners[unrecovered].dropna().value_counts()
    parts = []
    for owner, count in held.head(3).items():
        mine = (owners == owner).to_numpy()
        name = next((str(n) for n in names[mine] if isinstance(n, str) and n), str(owner))
        carry = int((tagged & mine).sum())
        text = f"{name} {int(count):,} (tagged {carry:,} of their {int(mine.sum()):,} photos judged"
        if carry > TAGS_MOST * mine.sum():
            text += ": a photographer who tags the topic left these untagged"
        parts.append(text + ")")
    more = f" and {len(held) - 3:,} more photographers" if len(held) > 3 else ""
    who = f"; by {'; '.join(parts)}{more}" if parts else ""
    n, low = int(unrecovered.sum()), float(score[unrecovered].min())
    above = math.floor(float(score[unrecovered].max()) * 1000 + 1) / 1000  # a --threshold that drops them all
    tagged_under = int((tagged & (score < above)).sum())
    also = f" (and {tagged_under:,} tagged photo{'s' if tagged_under != 1 else ''} under it)" if tagged_under else ""
    return [f"{n:,} untagged photo{'s' if n != 1 else ''} score{'' if n != 1 else 's'} above the cut "
            f"{threshold:.3f} but below {floor:.3f} ({low:.3f} at lowest), lower than {1 - RECOVERY_QUANTILE:.0%} of "
            f"the {int(tagged.sum()):,} photos tagged {topic!r}: nothing vouches that they are on topic, so they are "
            f"kept, not recovered, and flagged topic_doubted{who}; look at them (`curate review --queue off_topic`), "
            f"or drop them with --threshold {above:.3f}{also}"]
