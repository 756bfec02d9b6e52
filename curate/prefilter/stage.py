"""`curate prefilter`: a weak-label topic pre-classifier and label-issue detection (pure).

Topic (the talk's "skyline or not" model):
- Weak label: the topic tag is among the photo's tags.
- Model: logistic regression on L2-normalised embeddings. Every kept photo is scored
  out of fold: folds are grouped by photographer joined with duplicate clusters
  (`curate.split.split_groups`), so no photo is scored by a model that saw its
  photographer or a copy of it. The score is stored as `topic_score`.
- Threshold `auto`: Otsu's cut of the out-of-fold scores (the cut that maximises the
  between-group variance of a 256-bin score histogram; when a run of empty bins ties,
  the middle of that gap). It needs no clean labels: tag noise
  moves both groups' score levels (on-topic photos score about the tagging rate, off-topic
  ones about the false-tag rate), and the cut falls in the valley between them.
- Below the threshold: dropped as `off_topic`. Untagged photos at or above it stay kept
  and are marked `topic_recovered`.

Label issues (confident learning, `curate.prefilter.confident`): multi-class out-of-fold
probabilities over the kept, labelled photos (same grouping, embeddings + logistic
regression) give `label_quality` (self-confidence), `is_label_issue` and
`suggested_label`. Flag only, unless `drop_label_issues`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import UsageError
from curate.records import apply_drops, reset_stage

STAGE = "prefilter"
MODES = ("embeddings", "finetune")
OTSU_BINS = 256


@dataclass(frozen=True)
class PrefilterConfig:
    topic: str
    threshold: float | None = None  # None: auto (Otsu on the out-of-fold scores)
    folds: int = 5
    seed: int = 0
    regularisation: float = 1.0  # logistic regression C
    label_issues: bool = True
    drop_label_issues: bool = False
    mode: str = "embeddings"  # embeddings: logistic regression; finetune: a binary CNN per fold (classify)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.topic or not self.topic.strip():
            raise UsageError("--topic must name a tag, e.g. --topic skyline")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise UsageError(f"--threshold must be auto or a number between 0 and 1, got {self.threshold}")
        if self.folds < 2:
            raise UsageError(f"--folds must be at least 2, got {self.folds}")
        if not 0 <= self.seed < 2**32:  # scikit-learn's random_state range
            raise UsageError(f"--seed must be between 0 and 2**32 - 1, got {self.seed}")
        if not self.regularisation > 0:
            raise UsageError(f"--C must be positive, got {self.regularisation}")


@dataclass
class PrefilterReport:
    topic: str
    threshold: float
    threshold_method: str
    scored: int
    tagged_kept: int
    tagged_dropped: int
    untagged_recovered: int
    untagged_dropped: int
    unreadable: int
    label_issues: int | None
    label_issues_dropped: int
    per_label: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def counts_table(self) -> pd.DataFrame:
        """The talk's four counts."""
        return pd.DataFrame({"": ["tagged", "untagged"],
                             "kept": [self.tagged_kept, self.untagged_recovered],
                             "dropped": [self.tagged_dropped, self.untagged_dropped]})

    def to_dict(self) -> dict:
        return asdict(self)


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def grouped_folds(y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per row; a group never spans folds; labels stratified as far as groups allow."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    fold = np.full(len(y), -1, dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has fewer members than n_splits"
        for number, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
            fold[test] = number
    return fold


def out_of_fold_proba(x: np.ndarray, y: np.ndarray, fold: np.ndarray, n_classes: int, c: float,
                      seed: int) -> np.ndarray:
    """(n, n_classes) probabilities, each row predicted by a model fitted without its fold.

    A class absent from a fold's training rows gets probability 0 for that fold.
    """
    from sklearn.linear_model import LogisticRegression

    proba = np.zeros((len(y), n_classes))
    for number in np.unique(fold):
        test = fold == number
        train = ~test
        classes = np.unique(y[train])
        if len(classes) == 1:
            proba[np.ix_(test, classes)] = 1.0
            continue
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(x[train], y[train])
        proba[np.ix_(test, classes)] = model.predict_proba(x[test])
    return proba


def otsu_threshold(scores: np.ndarray, bins: int = OTSU_BINS) -> float:
    """The cut in [0, 1] that maximises between-group variance of the score histogram."""
    counts, edges = np.histogram(scores, bins=bins, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)[:-1]
    weight_high = counts.sum() - weight_low
    sum_low = np.cumsum(counts * centres)[:-1]
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (np.sum(counts * centres) - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    best = int(np.argmax(between))
    # empty bins between the groups give the same variance: cut in the middle of that gap
    last = best
    while last + 1 < len(between) and np.isclose(between[last + 1], between[best], rtol=1e-12, atol=0):
        last += 1
    return float((edges[1:-1][best] + edges[1:-1][last]) / 2)


def topic_tagged(tags: pd.Series, topic: str) -> np.ndarray:
    wanted = topic.strip().casefold()
    return np.fromiter((wanted in set(row) for row in tags), dtype=bool, count=len(tags))


def topic_rows(catalog: pd.DataFrame, eligible: np.ndarray, config: PrefilterConfig
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row numbers, tagged, owner group) of the photos the topic model scores, checked to
    hold positives, negatives and at least `folds` groups."""
    from curate.split import split_groups

    rows = np.flatnonzero(eligible)
    kept = catalog.iloc[rows]
    tagged = topic_tagged(kept["tags"], config.topic)
    groups = split_groups(kept, "owner")
    _check_topic(config, tagged, groups)
    return rows, tagged, groups


def topic_folds(catalog: pd.DataFrame, eligible: np.ndarray, config: PrefilterConfig
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row numbers, tagged, fold) of the photos the topic model scores; fold grouped by owner."""
    rows, tagged, groups = topic_rows(catalog, eligible, config)
    return rows, tagged, grouped_folds(tagged.astype(int), groups, config.folds, config.seed)


def prefilter_catalog(catalog: pd.DataFrame, vectors: np.ndarray, found: np.ndarray, ok: np.ndarray,
                      config: PrefilterConfig, topic_scores: np.ndarray | None = None
                      ) -> tuple[pd.DataFrame, PrefilterReport]:
    """Score the topic, drop off-topic photos, flag label issues. `vectors` align with catalog rows.

    `topic_scores` (aligned with catalog rows, NaN where a photo could not be scored): out-of-fold
    scores computed elsewhere (`--mode finetune`) instead of the logistic regression.
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
    for column in ("topic_score", "topic_recovered", "label_quality", "is_label_issue", "suggested_label"):
        result[column] = None
    rows, tagged, groups = topic_rows(result, eligible & ~unreadable, config)
    if topic_scores is None:
        fold = grouped_folds(tagged.astype(int), groups, config.folds, config.seed)
        x = normalise_rows(vectors[rows])
        score = out_of_fold_proba(x, tagged.astype(int), fold, 2, config.regularisation, config.seed)[:, 1]
    else:  # already out of fold: the folds were made (once) where the scores were computed
        score = topic_scores[rows]
    threshold = config.threshold if config.threshold is not None else otsu_threshold(score)
    on_topic = score >= threshold
    result["topic_score"] = result["topic_score"].astype(object)
    result.loc[rows, "topic_score"] = score
    result.loc[rows, "topic_recovered"] = ~tagged & on_topic
    off_topic = np.full(len(result), None, dtype=object)
    off_topic[rows[~on_topic]] = "off_topic"
    result = apply_drops(result, pd.Series(off_topic), stage=STAGE)

    notes: list[str] = []
    issues = None
    dropped_issues = 0
    per_label: list[dict] = []
    kept_now = (result["status"] == schema.KEPT).to_numpy() & result["topic_score"].notna().to_numpy()
    if config.label_issues and not (found & ok)[kept_now].all():
        notes.append("label issues skipped: some kept photos have no embedding (run `curate embed`)")
    elif config.label_issues:
        result, issues, dropped_issues, per_label = _label_issues(result, vectors, config, notes)
    if result["split"].notna().any():
        result.loc[result["status"] == schema.DROPPED, "split"] = None
        notes.append("the catalog was split before this prefilter: run `curate split` again so shares are "
                     "computed over the photos that are still kept")
    report = PrefilterReport(
        topic=config.topic, threshold=round(float(threshold), 4),
        threshold_method="fixed" if config.threshold is not None else "otsu",
        scored=len(rows), tagged_kept=int((tagged & on_topic).sum()), tagged_dropped=int((tagged & ~on_topic).sum()),
        untagged_recovered=int((~tagged & on_topic).sum()), untagged_dropped=int((~tagged & ~on_topic).sum()),
        unreadable=int(unreadable.sum()), label_issues=issues, label_issues_dropped=dropped_issues,
        per_label=per_label, notes=notes, config=asdict(config))
    return result, report


def _check_topic(config: PrefilterConfig, tagged: np.ndarray, groups: np.ndarray) -> None:
    if len(tagged) == 0:
        raise UsageError("no kept photos with embeddings to pre-classify; run `curate filter` and `curate embed`")
    if not tagged.any():
        raise UsageError(f"no kept photo is tagged {config.topic!r}: the pre-classifier needs positives; "
                         "check --topic against the tags (`curate status` lists the common ones)")
    if tagged.all():
        raise UsageError(f"every kept photo is tagged {config.topic!r}: the pre-classifier needs untagged photos "
                         "as negatives; ingest a broader collection")
    owners = len(np.unique(groups))
    if owners < config.folds:
        raise UsageError(f"only {owners} photographers (groups) among kept photos, fewer than --folds "
                         f"{config.folds}; lower --folds or ingest more photographers")


def _label_issues(result: pd.DataFrame, vectors: np.ndarray, config: PrefilterConfig, notes: list[str]):
    """Multi-class out-of-fold probabilities -> confident learning flags on kept, labelled rows."""
    from curate.prefilter.confident import find_label_issues
    from curate.split import split_groups

    rows = np.flatnonzero(((result["status"] == schema.KEPT) & result["label"].notna()
                           & result["topic_score"].notna()).to_numpy())
    kept = result.iloc[rows]
    classes, codes = np.unique(kept["label"].to_numpy(dtype=str), return_inverse=True)
    groups = split_groups(kept, "owner")
    if len(classes) < 2:
        notes.append("label issues skipped: fewer than two labels among kept photos")
        return result, None, 0, []
    if len(np.unique(groups)) < config.folds:
        notes.append(f"label issues skipped: fewer than {config.folds} photographer groups among labelled photos")
        return result, None, 0, []
    x = normalise_rows(vectors[rows])
    fold = grouped_folds(codes, groups, config.folds, config.seed)
    proba = out_of_fold_proba(x, codes, fold, len(classes), config.regularisation, config.seed)
    found = find_label_issues(codes, proba)
    result.loc[rows, "label_quality"] = found.label_quality
    result.loc[rows, "is_label_issue"] = found.is_issue
    result.loc[rows, "suggested_label"] = classes[found.suggested]
    dropped = 0
    if config.drop_label_issues:
        reason = np.full(len(result), None, dtype=object)
        reason[rows[found.is_issue]] = "label_issue"
        result = apply_drops(result, pd.Series(reason), stage=STAGE)
        dropped = int(found.is_issue.sum())
    per_label = (pd.DataFrame({"label": classes[codes], "issue": found.is_issue})
                 .groupby("label")["issue"].agg(photos="size", issues="sum").reset_index().to_dict("records"))
    return result, int(found.is_issue.sum()), dropped, [{k: (int(v) if k != "label" else v) for k, v in r.items()}
                                                          for r in per_label]
