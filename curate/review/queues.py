"""Review queues: which photos each kind of flag puts in front of a person, worst first (pure).

A queue is computed on the catalog as the automatic stages left it (`restore_automatic`), so a
photo stays in its queue after someone decided about it (the card shows the decision, and undo
finds it where it was). Each queue gives, per photo, a `severity` (higher = looked at first) and
`why` (one line: what flagged it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import UsageError
from curate.prefilter.outliers import UNLIKE_Z
from curate.prefilter.owners import owner_rejection, rejected_photos
from curate.review.apply import restore_automatic

QUEUES = ("label_issues", "off_topic", "recovered", "geo", "duplicates", "owners", "quality", "ambiguous")
OWNER_SHARE_ALARM = 0.10  # an owner holding more of a label's photos than this is shown in `owners`
QUALITY_SCORES = ("blurry", "dark", "bright", "low_information", "odd_aspect", "greyscale", "tiny")


@dataclass(frozen=True)
class Queue:
    """One queue: row positions in the catalog (worst first) and a `why` line per position."""

    name: str
    positions: np.ndarray
    why: pd.Series  # indexed by catalog position

    def __len__(self) -> int:
        return len(self.positions)


def _fmt(values: pd.Series, digits: int = 2) -> pd.Series:
    return values.astype(float).round(digits).astype(str)


def _label_issues(c: pd.DataFrame):
    """The flagged photos, worst label quality first; then the photos the prefilter could not judge (a label
    quality but no verdict: the fold model saw too few photos of their label), for a person to look at."""
    flagged = c["is_label_issue"].fillna(False).astype(bool)
    quality = c["label_quality"].astype(float)
    unjudged = c["is_label_issue"].isna() & quality.notna()
    why = "label quality " + _fmt(quality) + "; the model suggests " + c["suggested_label"].fillna("?").astype(str)
    if "label_fit" in c.columns:  # curate.prefilter.outliers: no label fits it, the suggestion is no fix
        fit = c["label_fit"].astype(float)
        unlike = fit < -UNLIKE_Z
        why = why.where(~unlike, "unlike its label's photos by other photographers (label fit " + _fmt(fit, 1)
                        + "); label quality " + _fmt(quality))
    why = why.where(~unjudged, "not judged (too few photos of its label to judge it); " + why)
    return flagged | unjudged, (1 - quality.fillna(0)) - unjudged.astype(float) * 2, why


def _off_topic(c: pd.DataFrame):
    mask = (c["drop_reason"] == "off_topic") | c["topic_doubted"].fillna(False).astype(bool)
    score = c["topic_score"].astype(float)
    # doubted: the prefilter held its drops, or an untagged photo above its cut scored under the recovery floor
    why = np.where(c["drop_reason"] == "off_topic", "dropped as off topic",
                   "doubted, kept (the prefilter held its drops, or untagged and under its recovery floor)")
    return mask, 1 - score.fillna(0), pd.Series(why, index=c.index) + "; topic score " + _fmt(score)


def _recovered(c: pd.DataFrame):
    score = c["topic_score"].astype(float)
    why = "untagged, kept as on topic; topic score " + _fmt(score)
    return c["topic_recovered"].fillna(False).astype(bool), 1 - score.fillna(1), why


def _geo(c: pd.DataFrame):
    rescued = c["geo_rescued"].fillna(False).astype(bool) if "geo_rescued" in c.columns else False
    mask = c["drop_reason"].isin(["geo_outlier", "missing_geo"]) | rescued
    distance = c["geo_distance_km"].astype(float)
    flag = c["drop_reason"].where(c["drop_reason"].notna(), np.where(rescued, "geo outlier kept by the prefilter", ""))
    why = flag.astype(str) + ": " + _fmt(distance, 0) + " km from the label's centre"
    return mask, distance.fillna(0), why


def _duplicates(c: pd.DataFrame):
    cluster = c["near_dup_cluster"].where(c["near_dup_cluster"].notna(), c["exact_dup_group"])
    size = cluster.map(cluster.value_counts()).fillna(0)
    collage = c["drop_reason"] == "collage"  # often a cluster of one: the pictures it joined were set apart
    mask = (size >= 2) | collage
    kept = c["status"] == schema.KEPT
    why = np.where(kept, "kept copy", "dropped copy") + pd.Series(" of a cluster of ", index=c.index) \
        + size.astype(int).astype(str) + " (" + c["drop_reason"].fillna("kept").astype(str) + ")"
    why = why.where(~collage, "dropped collage: its panels are copies of different pictures (kept, it joins them on "
                              "one side of the split)")
    # copies filed under different labels (dropped as ambiguous_label): the card names the labels, as keeping
    # both would train one picture under two labels (audit AL)
    labelled = mask & c["label"].notna()
    names = c["label"][labelled].astype(str).groupby(cluster[labelled]).agg(lambda s: ", ".join(sorted(set(s))))
    several = c["label"][labelled].astype(str).groupby(cluster[labelled]).nunique()
    disagree = cluster.map(names.where(several >= 2)).where(mask).astype(object)
    why = why + np.where(disagree.notna(), "; the copies' labels disagree: " + disagree.fillna("").astype(str)
                         + " (keep the copy whose label is right, or relabel)", "")
    # clusters together, biggest first, the kept member first within its cluster
    rank = cluster.map({key: i for i, key in enumerate(sorted(cluster.dropna().unique()))}).fillna(0)
    return mask, size * 1e9 - rank * 2 + kept.astype(int), why


def _owners(c: pd.DataFrame):
    from curate.filters.owners import owner_keys

    owner = owner_keys(c)
    counted = ((c["status"] == schema.KEPT) | (c["drop_reason"] == "owner_cap")) & c["label"].notna()
    per_pair = pd.Series(1, index=c.index)[counted].groupby([c["label"][counted], owner[counted]]).transform("sum")
    per_label = pd.Series(1, index=c.index)[counted].groupby(c["label"][counted]).transform("sum")
    share = (per_pair / per_label).reindex(c.index).fillna(0)
    mask = counted & ((share > OWNER_SHARE_ALARM) | (c["drop_reason"] == "owner_cap"))
    why = "owner " + owner.astype(str) + " holds " + (share * 100).round(1).astype(str) + "% of " \
        + c["label"].fillna("?").astype(str) + np.where(c["drop_reason"] == "owner_cap", " (capped)", "")
    # first: the kept photos of photographers the prefilter mostly rejected (curate.prefilter.owners)
    judged, _ = rejected_photos(c)
    rejection = owner_rejection(c)
    suspect = rejection.notna() & (c["status"] == schema.KEPT) & judged
    why = why.where(~suspect, "photographer " + owner.astype(str) + ": the prefilter rejected "
                    + (rejection * 100).round(0).astype("Int64").astype(str) + "% of their photos (off topic or "
                    "unlike their label); this one is kept")
    return mask | suspect, share + suspect * (1 + rejection.fillna(0)), why


def _quality(c: pd.DataFrame):
    listed = c["quality_issues"].map(lambda cell: list(cell) if cell is not None and not isinstance(cell, float)
                                     else [])
    scores = c.reindex(columns=[f"{name}_score" for name in QUALITY_SCORES]).astype(float)
    worst = scores.max(axis=1).fillna(0)
    return listed.map(len) > 0, worst, "fails " + listed.map(", ".join) + "; worst score " + _fmt(worst)


def _ambiguous(c: pd.DataFrame):
    """Photos whose tags name two or more labels: dropped as ambiguous, or kept without a label where the filter
    held those drops (audit AC 6: they then looked like untagged photos everywhere); the held ones first, as
    they are kept but cannot be trained on until someone gives each its label."""
    names = c["tag_labels"].map(lambda cell: [str(name) for name in cell]
                                if cell is not None and not isinstance(cell, float) else [])
    named = names.map(len) >= 2
    dropped = c["drop_reason"] == "ambiguous_label"
    unlabelled = c["label"].isna()
    if "review_label" in c.columns:  # a reviewer's label does not take the photo out of its queue
        unlabelled |= c["review_label"].notna() & c["label_before_review"].isna()
    held = named & (c["status"] == schema.KEPT) & unlabelled
    why = "tags name " + names.map(", ".join) + np.where(dropped, " (dropped as ambiguous)",
                                                         " (held: kept without a label)")
    # (copies filed under two labels are dropped as ambiguous_label too, with no tag naming a label: the duplicates
    # queue shows them; audit AI)
    return (dropped & named) | held, held.astype(float) * 100 + names.map(len), why


_BUILDERS = {"label_issues": _label_issues, "off_topic": _off_topic, "recovered": _recovered, "geo": _geo,
             "duplicates": _duplicates, "owners": _owners, "quality": _quality,
             "ambiguous": _ambiguous}


def automatic_view(catalog: pd.DataFrame) -> pd.DataFrame:
    """The catalog as the automatic stages left it, position-indexed (what the queues are built on)."""
    return restore_automatic(catalog, labels=False).reset_index(drop=True)


def build_queue(view: pd.DataFrame, name: str) -> Queue:
    """The queue `name` over `automatic_view(catalog)`: its photos' positions, worst first."""
    if name not in _BUILDERS:
        raise UsageError(f"unknown queue {name!r}; choose one of {', '.join(QUEUES)}")
    mask, severity, why = _BUILDERS[name](view)
    mask = mask.fillna(False).astype(bool).to_numpy()
    positions = np.flatnonzero(mask)
    order = np.lexsort((view[schema.PHOTO_ID].to_numpy()[positions], -severity.to_numpy(dtype=float)[positions]))
    return Queue(name, positions[order], pd.Series(why, index=view.index).astype(object))


def filter_positions(view: pd.DataFrame, queue: Queue, label: str | None = None,
                     owner: str | None = None) -> np.ndarray:
    """The queue's positions narrowed to one label and/or one owner (a filtered view for batch actions)."""
    positions = queue.positions
    if label:
        positions = positions[(view["label"].to_numpy(dtype=object)[positions] == label)]
    if owner:
        positions = positions[(view["owner_id"].to_numpy(dtype=object)[positions] == owner)]
    return positions
