"""The topic model (pure): which photos carry the topic, which ones it scores, and the deployable model.

`prefilter_catalog` (curate/prefilter/stage.py) scores the photos out of fold; `fit_topic_model` fits
the model `curate prefilter` saves (curate/prefilter/run.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import UsageError
from curate.prefilter.config import PrefilterConfig
from curate.prefilter.folds import fit_logistic, grouped_folds
from curate.recipes import squash
from curate.tags import tag_and_value


def topic_tagged(tags: pd.Series, topic: str) -> np.ndarray:
    """Which rows carry the topic: as a tag, or as a machine tag's value (`dc:subject=skyline`), matched as a
    recipe label is (`curate.recipes.squash`: NFC, case, spaces and punctuation ignored), so that `Sky-Line`,
    `sky line` and an NFD spelling of the topic count, while `skylines` does not.

    >>> topic_tagged(pd.Series([["sky-line"], ["dc:subject=skyline"], ["skylines"], []]), " Skyline ").tolist()
    [True, True, False, False]
    """
    wanted = squash(topic)
    carries: dict[str, bool] = {}  # tag -> whether it names the topic (a catalog repeats its tags a lot)

    def named(tag: str) -> bool:
        if tag not in carries:
            carries[tag] = any(squash(text) == wanted for text in tag_and_value([tag]))
        return carries[tag]

    return np.fromiter((row is not None and any(named(tag) for tag in row) for row in tags), dtype=bool,
                       count=len(tags))


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
                         "check --topic against the tags (`curate status` lists the most common tags), or, for "
                         "photos without tags (labelled by their folders), look for label errors alone "
                         "(`curate prefilter --label-issues-only` without --topic; recipe: label_issues_only = true)")
    if tagged.all():
        raise UsageError(f"every kept photo is tagged {config.topic!r}: the pre-classifier needs untagged photos "
                         "as negatives; ingest photos without the tag as well (a broader search), or look for label "
                         "errors alone (`curate prefilter --label-issues-only` without --topic; recipe: "
                         "label_issues_only = true)")
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
