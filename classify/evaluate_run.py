"""`classify evaluate RUN`: score a trained run on the catalog's test photos; write RUN/evaluation/.

The I/O edge around `classify.evaluate.evaluate_predictions`::

    catalog ──select_photos──► kept photos of the split whose label the model knows
            ──predict_photos─► probabilities (unreadable images counted and skipped)
            ──evaluate_predictions──► EvalReport
            ──sandals test──► off-topic photos of the split's photographers answered with a label
                              (behind the run's topic gate, classify.gate, unless use_gate=False)
            ──write_evaluation──► RUN/evaluation/{evaluation.json, confusion.png, top_losses.png,
                                                  per_class.csv, per_owner.csv, top_losses.csv}
                                  (RUN/evaluation-val/ or -train/ for `--split val|train`)

`evaluate_run(run_dir, ws, ...)` is the whole path for one model, so scoring a second model
(e.g. one trained without curation) on the same photos is a second call; `catalog=` scores on an
in-memory catalog variant instead (e.g. a random re-split). `--compare-random-split` and
`--uncurated` retrain and compare (classify.compare); their numbers go under "comparisons".
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from classify.evaluate import (
    EvalReport,
    answered_with_label,
    evaluate_predictions,
    sandals_score,
    sandals_summary,
    unmeasured_classes_warning,
    wrongly_gated,
)
from curate import objectstore, schema
from curate.errors import DataContractError, UsageError
from curate.progress import progress_bar
from curate.report.plots import figure_png, plain
from curate.schema import NO_LABEL, SPLITS
from curate.split import empty_split_cause
from curate.stage_reports import load_stage_report
from curate.workspace import Workspace, atomic_write_bytes, catalog_sha256, read_catalog

OFF_TOPIC = "off_topic"  # curate prefilter's drop_reason for a photo that does not show the topic

BATCH_SIZE = 64
GALLERY_COLUMNS = 6
THUMBNAIL_PX = 160


@dataclass
class RunEvaluation:
    """One model scored on one split: the report plus what was left out and why."""

    run_dir: Path
    split: str
    report: EvalReport
    photos: pd.DataFrame  # the evaluated photos: photo_id, owner_id, label, image_path, predicted
    unknown_labels: dict[str, int] = field(default_factory=dict)  # label -> photos not scored
    unreadable: list[dict] = field(default_factory=list)  # photo_id, reason
    catalog_sha256: str | None = None
    model_catalog_sha256: str | None = None
    device: str = "cpu"
    comparisons: dict = field(default_factory=dict)  # classify.compare results, when asked for
    sandals_test: dict | None = None  # off-topic photos of the split's photographers: how many get a label
    trained_on: int = 0  # photos of the split the run trained on (or chose its epoch on), left out
    touching_trained: int = 0  # more photos of the split that share a photographer or a copy with those, left out
    stale_split: str | None = None  # curate.freshness.stale_split_line of the workspace, when its split is stale
    flagged: int = 0  # scored photos the prefilter flagged as label issues (kept, not dropped), no reviewer decided

    @property
    def warnings(self) -> list[str]:
        """What the figures leave out, one line each: the split's photos the run learned from, photos skipped
        (a label the model lacks, an unreadable image), a catalog other than the one trained on, the classes
        with no photo in the split. `classify evaluate` and `curate run`'s evaluate step print them all."""
        lines = []
        if self.stale_split:  # training refuses a stale split; scoring an old run on one is allowed, and said
            lines.append(f"warning: {self.stale_split}, then train and evaluate again; these figures are on the "
                         f"{self.split} photos the stale split holds, which a fresh split may change")
        if self.flagged:  # audit AP: 8 of 49 test photos were flagged, 5 of them truly wrong labels, unsaid
            one = self.flagged == 1
            lines.append(f"note: {self.flagged:,} of the {self.report.photos:,} {self.split} photos scored "
                         f"{'is' if one else 'are'} flagged as a likely wrong label (kept, not dropped); a wrong label "
                         f"in {self.split} counts as the model's mistake: look at {'it' if one else 'them'} with "
                         "`curate review` (queue label_issues)")
        if self.trained_on:
            one = self.trained_on == 1
            what = (f"{self.trained_on:,} {self.split} photo{' was' if one else 's were'} this run's training or "
                    f"validation photo{'' if one else 's'} (the split changed since it was trained, or this workspace "
                    "is another collection holding the same images)")
            lines.append(left_out_line(self.trained_on, what))
        if self.touching_trained:
            one = self.touching_trained == 1
            what = (f"{self.touching_trained:,} more {self.split} photo{'' if one else 's'} share{'s' if one else ''} "
                    "a photographer or a copy with the photos this run learned from (`curate split` would have kept "
                    "them in one split)")
            lines.append(left_out_line(self.touching_trained, what))
        if self.split != "test":
            used = "trained on" if self.split == "train" else "chose its best epoch (a probe: its strength) on"
            lines.append(f"warning: the {self.split} split holds photos this run {used}, so these figures are not "
                         "a held-out measure (--split test is)")
        # these three were said by `classify evaluate` alone, not `curate run` (audit AW4)
        foreign = {label: n for label, n in self.unknown_labels.items() if label != NO_LABEL}
        if foreign:
            total = sum(foreign.values())
            detail = ", ".join(f"{label}: {n}" for label, n in foreign.items())
            lines.append(f"warning: {total} {self.split} photos skipped, left out of every figure: label not among "
                         f"the model's classes ({detail})")
        if self.unknown_labels.get(NO_LABEL):
            count = self.unknown_labels[NO_LABEL]
            lines.append(f"note: {count} {self.split} photo{' has' if count == 1 else 's have'} no label, so "
                         "nothing to score against: left out")
        if self.unreadable:
            first = self.unreadable[0]
            lines.append(f"warning: {len(self.unreadable)} {self.split} images unreadable, skipped (e.g. "
                         f"{first['photo_id']}: {first['reason']})")
        if self.catalog_changed:
            lines.append("note: the catalog is not the one this model was trained on (it changed since, or this is "
                         "another workspace); if the split changed, test photos may have been trained on")
        line = unmeasured_classes_warning(self.report.classes_without_photos, len(self.report.classes), self.split)
        return lines + ([line] if line else [])

    @property
    def catalog_changed(self) -> bool:
        """The model was trained on another catalog version (the split may differ from training's)."""
        return bool(self.model_catalog_sha256) and self.model_catalog_sha256 != self.catalog_sha256

    def to_dict(self) -> dict:
        return {"run": str(self.run_dir), "split": self.split, "device": self.device,
                "catalog_sha256": self.catalog_sha256, "model_catalog_sha256": self.model_catalog_sha256,
                "catalog_changed_since_training": self.catalog_changed, "left_out_trained_on": self.trained_on,
                "left_out_touching_trained_on": self.touching_trained,
                "stale_split": self.stale_split, "flagged_label_issues": self.flagged,
                "skipped": {"unknown_label": dict(self.unknown_labels), "unreadable": list(self.unreadable)},
                **self.report.to_dict(), **({"sandals_test": self.sandals_test} if self.sandals_test else {}),
                **({"comparisons": self.comparisons} if self.comparisons else {})}


def left_out_line(count: int, what: str) -> str:
    """The warning on `count` photos of the split left out of every figure, `what` saying which and why.

    >>> left_out_line(1, "1 test photo was this run's").endswith("; it is left out of every figure (train a new run "
    ...                                                          "on this split to score them all)")
    True
    """
    return (f"warning: {what}; {'it is' if count == 1 else 'they are'} left out of every figure (train a new run on "
            "this split to score them all)")


def select_photos(catalog: pd.DataFrame, classes: list[str], split: str,
                  split_report: dict | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """(kept photos of `split` whose label is one of `classes`, {other label: photos}).

    Raises UsageError when the catalog has no split, the split is empty (`empty_split_error`,
    with the reason `split_report`, the workspace's reports/split.json, gives), or no photo's
    label is one the model knows.
    """
    if split not in SPLITS:
        raise UsageError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if catalog["split"].isna().all():
        raise UsageError("the catalog has no split yet; run `curate split` first")
    in_split = catalog[(catalog["status"] == schema.KEPT) & (catalog["split"] == split)]
    if in_split.empty:
        raise UsageError(empty_split_error(split, split_report))
    known = in_split["label"].isin(classes).to_numpy(dtype=bool)
    others = in_split.loc[~known, "label"].astype(object).fillna(NO_LABEL)
    unknown = {str(label): int(count) for label, count in others.value_counts().items()}
    if not known.any():
        raise UsageError(f"none of the {len(in_split)} {split} photos has a label this model knows "
                         f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}); "
                         "evaluate a run trained on this workspace, or pass its --workspace")
    photos = in_split.loc[known, [schema.PHOTO_ID, "owner_id", "label", "image_path"]].reset_index(drop=True)
    return photos, unknown


def leave_out_trained_on(run_dir: Path, catalog: pd.DataFrame, photos: pd.DataFrame, split: str,
                         by: str | None = None) -> tuple[pd.DataFrame, int, int]:
    """(`photos` less those the run in `run_dir` learned from; how many were its own photos; how many more
    touch them). A split made after training can hold them: scored, they would flatter the model.

    A run's own photos (trained on, or its epoch chosen on) are those trained_on.parquet lists, known by photo
    id or image. With `by` (the workspace split's grouping: "owner", a column, or "none"), a photo also touches
    them when `curate split` would have kept it in their split: `split_groups` over them and the photos (a
    photographer, a walk, a near-duplicate cluster or exact copy, the `by` column; with "none", the copies
    alone). Audit AZ: after a re-split, four "held-out" photos were copies of training photos or by a
    photographer whose 14 other photos trained the model, and were scored as held out. `by` None (a variant
    catalog with its own split, as the random-split comparison's, which measures that very leak) leaves the
    run's own photos out and nothing else. A run from before that file is taken as it is (the catalog-changed
    note stays its only warning). DataContractError when every photo of the split is left out.
    """
    from classify.run_files import TRAINED_ON

    path = Path(run_dir) / TRAINED_ON
    if not path.exists():
        return photos, 0, 0
    try:
        trained = pd.read_parquet(path, columns=[schema.PHOTO_ID, "sha256"])
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a damaged file
        raise DataContractError(f"{path} is unreadable ({type(exc).__name__}); it lists the photos the run learned "
                                "from, without which its test figures cannot be trusted: train the run again") from None
    rows = catalog.drop_duplicates(schema.PHOTO_ID).set_index(schema.PHOTO_ID)
    trained_ids, trained_shas = set(trained[schema.PHOTO_ID]), set(trained["sha256"].dropna())
    shas = rows["sha256"].reindex(photos[schema.PHOTO_ID].to_numpy()).to_numpy()
    seen = photos[schema.PHOTO_ID].isin(trained_ids).to_numpy() | pd.Series(shas).isin(trained_shas).to_numpy()
    touching = np.zeros(len(photos), dtype=bool)
    if by is not None and not seen.all():
        touching[~seen] = touches_learned(rows, photos[schema.PHOTO_ID].to_numpy()[~seen], trained_ids,
                                          trained_shas, by)
    left_out = seen | touching
    if left_out.all():
        raise DataContractError(f"every one of the {len(photos):,} {split} photos was this run's training or "
                                "validation photo, or a copy or a photographer's photo of one (the split changed "
                                "since it was trained, or this workspace is another collection holding the same "
                                "images): evaluate a run trained on this split")
    return photos[~left_out].reset_index(drop=True), int(seen.sum()), int(touching.sum())


def touches_learned(rows: pd.DataFrame, ids: np.ndarray, trained_ids: set, trained_shas: set, by: str) -> np.ndarray:
    """Which of the photos `ids` (of the catalog `rows`, indexed by photo id) `curate split` grouping `by` would
    have put with a photo the run learned from (by id or image), found in `rows`.

    >>> rows = pd.DataFrame({"photo_id": list("abcde"), "sha256": list("12345"), "owner_id": ["o", "o", "p", "q", "q"],
    ...                      "near_dup_cluster": [None, None, None, "k", None], "exact_dup_group": None,
    ...                      "taken_at": pd.NaT, "lat": None, "lon": None, "status": "kept"}).set_index("photo_id")
    >>> rows.loc["c", "near_dup_cluster"] = "k"  # c is a copy of d; a and c were learned from
    >>> touches_learned(rows, np.array(["b", "d", "e"]), {"a", "c"}, set(), "owner").tolist()
    [True, True, True]
    >>> touches_learned(rows, np.array(["b", "d", "e"]), {"a", "c"}, set(), "none").tolist()
    [False, True, False]
    >>> rows.loc["e", ["sha256", "status"]] = ["1", "dropped"]  # e: a dropped re-upload of a's image by q
    >>> touches_learned(rows, np.array(["b", "d"]), {"a"}, {"1"}, "owner").tolist()  # d: q's, not learned's
    [True, False]
    """
    from curate.groups import components
    from curate.split import split_groups

    # a photo the run learned from, by id; by image only while kept (review BC: a re-upload by another
    # photographer, dropped as an exact duplicate, pulled that photographer's test photos in, though the split
    # groups kept photos alone and rightly put them in test)
    kept = (rows["status"] == schema.KEPT).to_numpy() if "status" in rows else np.ones(len(rows), dtype=bool)
    learned = rows.index.isin(trained_ids) | (rows["sha256"].isin(trained_shas).to_numpy() & kept)
    frame = pd.concat([rows[learned], rows.reindex(pd.Index(ids)).loc[lambda f: ~f.index.isin(rows.index[learned])]])
    frame = frame.rename_axis(schema.PHOTO_ID).reset_index()
    is_learned = np.zeros(len(frame), dtype=bool)
    is_learned[:int(learned.sum())] = True
    if by == "none":  # no grouping asked for: a copy still shows the model its photo
        group = components(frame["near_dup_cluster"], frame["exact_dup_group"], frame["sha256"])
    else:
        group = split_groups(frame, by)
    hit = pd.Series(group).isin(set(group[is_learned])).to_numpy()
    return pd.Series(hit, index=frame[schema.PHOTO_ID]).groupby(level=0).any().reindex(ids).fillna(False).to_numpy(
        dtype=bool)


def empty_split_error(split: str, split_report: dict | None) -> str:
    """One line for an empty `split`: what is wrong, why (from `curate split`'s own report when
    there is one: the share it was asked for, why the split could not fill it, or photos it gave the
    split that were dropped since) and how to fix it, as "what; why; fix". The audit's
    one-photographer run asked for --test 0.2 and was told to run `curate split` with --test above 0;
    a re-check found the split's whole warning (naming val too) pasted after a colon, hard to read.

    >>> line = empty_split_error("test", {"config": {"test": 0.0}})
    >>> "ran with --test 0;" in line and "run `curate split --test 0.2`" in line
    True
    >>> empty_split_error("test", {"config": {"test": 0.2, "by": "owner"}, "empty_splits": {"test": "…"}})[:75]
    "nothing to evaluate: the 'test' split is empty; --test 0.2 asked for photos"
    """
    wrong = f"nothing to evaluate: the {split!r} split is empty"
    report = split_report or {}
    asked = (report.get("config") or {}).get(split)
    given = sum(int(row.get(f"{split}_photos") or 0) for row in report.get("per_label") or [])
    said = (report.get("empty_splits") or {}).get(split)  # the split could not fill it (reports since 2026-12-05)
    if asked is not None and float(asked) == 0:
        return (f"{wrong} because `curate split` ran with --{split} 0; run `curate split --{split} 0.2` (or another "
                "share above 0), then evaluate again")
    if said:  # why in the split's own words, once (not its whole warning, which may name val too)
        why, fix = empty_split_cause(str((report.get("config") or {}).get("by") or "owner"))
        asked_for = f"--{split} {float(asked):g} asked for photos, but " if asked is not None else ""
        return f"{wrong}; {asked_for}{why}; {fix}, then split, train and evaluate again"
    if given:
        return (f"{wrong}; `curate split` put {given:,} photos in it, but none is kept now (a later filter or review "
                "dropped them); run `curate split` again, then train and evaluate again")
    if asked is not None:  # a report from before empty_splits: its warnings (reports/split.json) say why
        return (f"{wrong} although --{split} {float(asked):g} asked for photos; the warning in reports/split.json "
                "says why (e.g. one photographer per label, or labels too small to share out); run `curate split` "
                "again to see it here")
    return (f"{wrong}; run `curate split` (with --{split} above 0), whose warning says why a split stays empty, "
            "e.g. one photographer per label, or labels too small to share out")


def off_topic_photos_of(catalog: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """The sandals test's photos: dropped as off-topic (drop_reason "off_topic"), with a stored image, by a
    photographer who has kept photos in `split`; columns photo_id, owner_id, image_path. Neither model
    trained on them: curation dropped them, `--uncurated` leaves out every photo of a test photographer."""
    owners = catalog.loc[(catalog["status"] == schema.KEPT) & (catalog["split"] == split), "owner_id"].dropna()
    chosen = ((catalog["status"] == schema.DROPPED) & (catalog["drop_reason"] == OFF_TOPIC)
              & catalog["owner_id"].isin(set(owners)) & catalog["image_path"].notna())
    return catalog.loc[chosen, [schema.PHOTO_ID, "owner_id", "image_path"]].reset_index(drop=True)


def cached_probe_features(predictor, ws: Workspace, catalog: pd.DataFrame,
                          photo_ids: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """For a linear probe (its backbone is the pretrained one, unchanged): ((N, dim) features, found
    (N,)) of the catalog's photos `photo_ids` from the workspace's caches (`FeatureCache.cached`, by
    image sha256: the features the probe was fitted on, from `curate embed`'s vectors), so that
    evaluating it does not decode and run the backbone again. None for a fine-tuned run, whose
    backbone has changed."""
    if not predictor.meta.config.get("probe"):
        return None
    from classify.probe import FeatureCache
    from classify.run_files import LEFT_OUT

    shas = catalog.set_index(schema.PHOTO_ID)["sha256"].reindex(photo_ids.to_numpy())
    cache = FeatureCache(ws, predictor.meta.backbone, predictor.preprocess.size)
    features, found = cache.cached([sha if isinstance(sha, str) else "" for sha in shas], predictor.feature_dim)
    left_out = getattr(predictor, "run_dir", None) and predictor.run_dir / LEFT_OUT
    if left_out and left_out.is_file():  # images the run's own loader could not decode: decoded again, not scored
        try:
            unread = set(pd.read_csv(left_out, dtype=str)[schema.PHOTO_ID])
        except (OSError, ValueError, KeyError, pd.errors.ParserError):
            unread = set()
        found = found & ~photo_ids.isin(unread).to_numpy()
    return features, found


def predict_photos(predictor, ws: Workspace, image_paths: list, batch_size: int = BATCH_SIZE, gate=None,
                   cached: tuple[np.ndarray, np.ndarray] | None = None):
    """(probabilities (N, K) with zero rows for failures, ok (N,) bool, {index: reason}, topic scores (N,)
    from `gate` (classify.gate.Gate) on the same forward pass's features, NaN for failures; None without a gate).

    Images are decoded on a few threads (PIL releases the GIL), `batch_size` at a time, so
    memory stays bounded however large the split is. With `cached` ((N, dim) features, found (N,):
    `cached_probe_features`), the photos found are scored from their features by the head alone,
    and only the others are decoded.
    """
    probs = np.zeros((len(image_paths), len(predictor.classes)), np.float32)
    topic_scores = None if gate is None else np.full(len(image_paths), np.nan)
    ok = np.zeros(len(image_paths), bool)
    failures: dict[int, str] = {}
    from curate.vision.images import draft_side

    todo = np.arange(len(image_paths))
    if cached is not None and cached[1].any():
        features, found = cached
        found = found & _stored_locally(ws, image_paths, found)
        probs[found] = predictor.probabilities_from_features(features[found])
        if gate is not None:
            topic_scores[found] = gate.scores(features[found])
        ok[found] = True
        todo = todo[~found]
    min_side = draft_side(predictor.preprocess)  # the decode `curate embed` and a probe's features use
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool, \
            progress_bar(f"evaluating {len(todo):,} photos", len(todo)) as advance:
        for start in range(0, len(todo), batch_size):
            indices = todo[start:start + batch_size].tolist()
            opened = list(pool.map(lambda i: _open(ws, image_paths[i], min_side), indices))
            images = []
            for index, (image, reason) in zip(indices, opened):
                if image is None:
                    failures[index] = reason
                else:
                    images.append(image)
                    ok[index] = True
            good = [i for i in indices if ok[i]]
            if good and gate is None:
                probs[good] = predictor.probabilities(images)
            elif good:
                probs[good], features = predictor.predict_with_features(images)
                topic_scores[good] = gate.scores(features)
            advance(len(indices))
    return probs, ok, failures, topic_scores


def evaluate_run(run_dir: Path, ws: Workspace, split: str = "test", top_losses: int = 24, device: str = "auto",
                 batch_size: int = BATCH_SIZE, catalog: pd.DataFrame | None = None, use_gate: bool = True,
                 sandals: bool = True) -> RunEvaluation:
    """Score the model in `run_dir` on the kept `split` photos of the workspace's catalog
    (or of `catalog`, an in-memory variant; images still come from the workspace's store).

    With `sandals`, also the sandals test (`sandals_test`): the photos `off_topic_photos_of` picks,
    scored by the model behind its topic gate (`use_gate` and the run has one) or alone, plus the
    on-topic `split` photos the gate wrongly answers as off-topic.

    Raises UsageError (not a run, no split, nothing to score) or DataContractError (every image unreadable).
    """
    from classify.gate import load_gate
    from classify.model import Predictor

    run_dir = Path(run_dir)
    predictor = Predictor(run_dir, device)
    gate = load_gate(run_dir) if use_gate else None
    split_report = stale = by = None  # a variant catalog (comparison sub-runs) brings its own split
    if catalog is None:
        from curate.freshness import stale_split_line

        catalog, catalog_hash = read_catalog(ws), catalog_sha256(ws)
        split_report = load_stage_report(ws, "split")
        stale = stale_split_line(ws, catalog)
        by = str(((split_report or {}).get("config") or {}).get("by") or "owner")  # how the split grouped photos
    else:
        from classify.run_files import frame_sha256

        catalog_hash = frame_sha256(catalog)
    photos, unknown = select_photos(catalog, predictor.classes, split, split_report)
    # train and val are the run's own photos: scored as they are, with a warning (audit N2: leaving them out
    # refused every --split val or train, exit 3, blaming a re-split), not as a held-out measure
    photos, trained_on, touching = (leave_out_trained_on(run_dir, catalog, photos, split, by) if split == "test"
                                    else (photos, 0, 0))
    cached = cached_probe_features(predictor, ws, catalog, photos[schema.PHOTO_ID])
    probs, ok, failures, topic_scores = predict_photos(predictor, ws, photos["image_path"].tolist(), batch_size, gate,
                                                       cached)
    unreadable = [{"photo_id": photos.at[i, schema.PHOTO_ID], "reason": reason} for i, reason in failures.items()]
    if not ok.any():
        raise DataContractError(f"none of the {len(photos)} {split} images could be read "
                                f"(first: {unreadable[0]['reason']}); check the workspace's images/ folder")
    scored = photos[ok].reset_index(drop=True)
    index_of = {name: i for i, name in enumerate(predictor.classes)}
    report = evaluate_predictions(scored["label"].map(index_of).to_numpy(np.int64), probs[ok], predictor.classes,
                                  owners=scored["owner_id"].tolist(), photo_ids=scored[schema.PHOTO_ID].tolist(),
                                  top_losses=top_losses)
    # each photo's answer, so that two models can be compared on the photos both scored (classify.compare)
    scored["predicted"] = np.asarray(predictor.classes, dtype=object)[probs[ok].argmax(axis=1)]
    flagged = 0  # the scored photos the prefilter flagged as label issues
    if "is_label_issue" in catalog.columns:
        rows = catalog.drop_duplicates(schema.PHOTO_ID).set_index(schema.PHOTO_ID)
        open_flag = rows["is_label_issue"].eq(True)
        if "review_status" in rows.columns:  # a reviewer's keep or relabel settled it (audit AQ)
            open_flag &= rows["review_status"].isna()
        flagged = int(open_flag.reindex(scored[schema.PHOTO_ID], fill_value=False).sum())
    evaluation = RunEvaluation(run_dir=run_dir, split=split, report=report, photos=scored, unknown_labels=unknown,
                               unreadable=unreadable, catalog_sha256=catalog_hash,
                               model_catalog_sha256=predictor.meta.catalog_sha256, device=str(predictor.device),
                               trained_on=trained_on, touching_trained=touching, stale_split=stale, flagged=flagged)
    if sandals:
        correct = probs[ok].argmax(axis=1) == scored["label"].map(index_of).to_numpy(np.int64)
        on_topic = None if gate is None else wrongly_gated(topic_scores[ok], gate.threshold, correct)
        # the sandals test's rule on the on-topic photos: a model unsure of everything would pass it
        answered = answered_with_label(probs[ok], None if gate is None else topic_scores[ok],
                                       None if gate is None else gate.threshold)
        on_topic_answered = {"photos": int(len(answered)), "answered": int(answered.sum()),
                             "share": float(answered.mean()) if len(answered) else None}
        evaluation.sandals_test = run_sandals_test(predictor, gate, ws, catalog, split, batch_size, on_topic,
                                                   on_topic_answered)
    return evaluation


def run_sandals_test(predictor, gate, ws: Workspace, catalog: pd.DataFrame, split: str, batch_size: int,
                     on_topic_gated: dict | None, on_topic_answered: dict | None = None) -> dict:
    """The sandals test's JSON: `sandals_score` on `off_topic_photos_of(catalog, split)` (unreadable
    images left out and counted), the gate used, `on_topic_gated` (`wrongly_gated` on the split) and
    `on_topic_answered` (the split's on-topic photos answered by the same rule: its other side)."""
    photos = off_topic_photos_of(catalog, split)
    cached = cached_probe_features(predictor, ws, catalog, photos[schema.PHOTO_ID])
    probs, ok, _, scores = predict_photos(predictor, ws, photos["image_path"].tolist(), batch_size, gate, cached)
    result = sandals_score(probs[ok], None if gate is None else scores[ok], None if gate is None else gate.threshold)
    result["on_topic_wrongly_gated"] = on_topic_gated
    result["on_topic_answered"] = on_topic_answered
    what = (f"photos dropped as off-topic whose photographer has {split} photos, answered with a label at "
            f"probability >= {result['min_probability']:g}")
    return {"summary": sandals_summary(result), "what": what, "split": split, **result,
            "unreadable": int((~ok).sum()), "gate_threshold": None if gate is None else gate.threshold}


def write_evaluation(evaluation: RunEvaluation, ws: Workspace, out_dir: Path | None = None) -> dict[str, Path]:
    """Write evaluation.json, the CSVs and the two PNGs (each atomically); return {name: path}.

    The test split's go to RUN/evaluation/, the held-out figures `curate report` shows; `--split val` or
    `train`'s to RUN/evaluation-val/ or RUN/evaluation-train/ (audit R: written to RUN/evaluation/, a
    train split's 100 % replaced the test evaluation and its comparisons, and the report showed it)."""
    if out_dir is None:
        out_dir = evaluation_folder(evaluation.run_dir, evaluation.split)
    out_dir = Path(out_dir)
    report = evaluation.report
    files = {"evaluation.json": out_dir / "evaluation.json", "confusion.png": out_dir / "confusion.png",
             "top_losses.png": out_dir / "top_losses.png", "per_class.csv": out_dir / "per_class.csv",
             "per_owner.csv": out_dir / "per_owner.csv", "top_losses.csv": out_dir / "top_losses.csv"}
    for name, frame in (("per_class.csv", report.per_class), ("per_owner.csv", report.per_owner),
                        ("top_losses.csv", report.top_losses)):
        atomic_write_bytes(files[name], frame.to_csv(index=False).encode("utf-8"))
    atomic_write_bytes(files["confusion.png"], plot_confusion(report.confusion, report.classes))
    path_of = dict(zip(evaluation.photos[schema.PHOTO_ID], evaluation.photos["image_path"]))
    image_paths = [objectstore.locate(ws, path_of[photo_id]) for photo_id in report.top_losses[schema.PHOTO_ID]]
    atomic_write_bytes(files["top_losses.png"], plot_top_losses(report.top_losses, image_paths))
    payload = {**evaluation.to_dict(), "files": {name: str(path) for name, path in files.items()}}
    atomic_write_bytes(files["evaluation.json"], json.dumps(payload, indent=2).encode("utf-8"))
    return files


def plot_confusion(confusion: np.ndarray, classes: list[str]) -> bytes:
    """PNG of the confusion matrix: rows = actual, columns = predicted, each cell annotated with its count."""
    # Fixed margins sized for the longest class name (constrained layout costs ~0.5 s per plot).
    label_in = 0.6 + 0.06 * max((len(name) for name in classes), default=1)
    side_in = max(3.0, 0.5 * len(classes))
    figure, axes = _figure(size_in=(side_in + label_in + 0.3, side_in + label_in + 0.5), layout=None)
    width_in, height_in = figure.get_size_inches()
    figure.subplots_adjust(left=label_in / width_in, bottom=label_in / height_in, right=1 - 0.3 / width_in,
                           top=1 - 0.5 / height_in)
    axes.imshow(confusion, cmap="Blues", vmin=0)
    ticks = np.arange(len(classes))
    shown = [plain(name) for name in classes]  # a `$` in a label would start TeX math
    axes.set_xticks(ticks, labels=shown, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(ticks, labels=shown, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    axes.set_title(f"confusion matrix ({int(confusion.sum())} photos)")
    dark_from = confusion.max() / 2 if confusion.size else 0
    for (row, column), count in np.ndenumerate(confusion):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                  color="white" if count > dark_from else "black")
    return figure_png(figure)


def plot_top_losses(top_losses: pd.DataFrame, image_paths: list[Path]) -> bytes:
    """PNG gallery: each photo titled predicted / actual / loss / probability of the prediction (as fast.ai)."""
    count = max(len(top_losses), 1)
    columns = min(GALLERY_COLUMNS, count)
    rows = -(-count // columns)
    height_in = 2.2 * rows + 0.4
    # Fixed margins, not constrained layout: laying out dozens of image tiles that way takes seconds.
    figure, axes_grid = _figure(size_in=(2.3 * columns, height_in), rows=rows, columns=columns, layout=None)
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.45 / height_in, wspace=0.05, hspace=0.25)
    axes_list = np.atleast_1d(axes_grid).ravel()
    for axes in axes_list:
        axes.axis("off")
    for axes, row, path in zip(axes_list, top_losses.itertuples(index=False), image_paths):
        thumbnail = _thumbnail(path)
        if thumbnail is not None:
            axes.imshow(thumbnail)
        axes.set_title(f"{plain(row.predicted)} / {plain(row.actual)}\nloss {row.loss:.2f} · p {row.p_predicted:.2f}",
                       fontsize=7)
    figure.suptitle("top losses: predicted / actual, loss, probability of the prediction", fontsize=9)
    return figure_png(figure)


def _figure(size_in, rows: int = 1, columns: int = 1, layout: str | None = None):
    # A bare Figure on the Agg canvas: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size_in, dpi=100, layout=layout)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=True)


def _thumbnail(path: Path):
    from curate.store import open_rgb

    try:
        image = open_rgb(path, min_side=THUMBNAIL_PX)
    except Exception:  # noqa: BLE001 - a gallery tile left blank beats a failed report
        return None
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    return np.asarray(image)


def _stored_locally(ws: Workspace, image_paths: list, found: np.ndarray) -> np.ndarray:
    """Per image: False where its features are cached but its stored file, in a local store, is gone
    (audit X: a probe's evaluation scored two test photos whose images were missing or broken from
    `curate embed`'s vectors, 26 photos where its own run and a fine-tuned one counted 24); such a photo
    is decoded instead, and counted unreadable as training counted it. An object store is not asked
    (a request per image)."""
    locate = objectstore.locator(ws)
    keep = np.ones(len(image_paths), bool)
    for i in np.flatnonzero(found):
        where = locate(image_paths[i]) if isinstance(image_paths[i], str) else None
        keep[i] = not isinstance(where, Path) or where.is_file()
    return keep


def _open(ws: Workspace, image_path, min_side: int):
    """(RGB image, None) or (None, why it could not be read)."""
    from classify.data import unreadable_reason
    from curate.store import open_rgb

    if image_path is None or pd.isna(image_path):
        return None, "no stored image"
    try:
        return open_rgb(objectstore.locate(ws, image_path), min_side=min_side), None
    except Exception as exc:  # noqa: BLE001 - any decoder failure skips this one photo
        return None, unreadable_reason(exc)  # the drop-reason words predict and train use


def evaluation_folder(run_dir: Path, split: str) -> Path:
    """Where `classify evaluate RUN --split SPLIT` writes: RUN/evaluation for test, else RUN/evaluation-SPLIT.

    >>> evaluation_folder(Path("runs/a"), "test").as_posix(), evaluation_folder(Path("runs/a"), "val").as_posix()
    ('runs/a/evaluation', 'runs/a/evaluation-val')
    """
    return Path(run_dir) / ("evaluation" if split == "test" else f"evaluation-{split}")


def evaluate_and_write(run: Path, ws: Workspace, split: str = "test", top_losses: int = 24, device: str = "auto",
                       compare_random_split: bool = False, uncurated: bool = False
                       ) -> tuple[RunEvaluation, dict[str, Path]]:
    """`classify evaluate` as a library call: evaluate, run the asked comparisons, write the files.

    The comparisons score the test split, and their figures belong with the test evaluation `curate report`
    shows: with `--split val|train` they are refused (audit S: they went into RUN/evaluation-val/, where the
    report never looks, after a retrain)."""
    if split != "test" and (compare_random_split or uncurated):
        flag = "--compare-random-split" if compare_random_split else "--uncurated"
        raise UsageError(f"{flag} compares test accuracy and is written with the test evaluation; run it without "
                         f"--split {split}")
    evaluation = evaluate_run(run, ws, split=split, top_losses=top_losses, device=device)
    if compare_random_split or uncurated:
        evaluation.comparisons = _compare(evaluation, ws, compare_random_split, uncurated, top_losses, device)
    return evaluation, write_evaluation(evaluation, ws)


def _compare(evaluation: RunEvaluation, ws: Workspace, random_split: bool, uncurated: bool, top_losses: int,
             device: str) -> dict:
    """Run classify.compare; write each sub-run's own evaluation beside it."""
    from classify.compare import run_comparisons

    def evaluate(run_dir: Path, catalog: pd.DataFrame | None) -> RunEvaluation:
        # a sub-run is scored alone (the uncurated model has no gate by definition); the sandals test
        # only on the workspace's own test split, where it compares with RUN's
        return evaluate_run(run_dir, ws, "test", top_losses, device, catalog=catalog, use_gate=False,
                            sandals=catalog is None)

    comparisons, sub_evaluations = run_comparisons(evaluation.run_dir, ws, evaluation, random_split=random_split,
                                                   uncurated=uncurated, device=device, evaluate=evaluate)
    for sub_evaluation in sub_evaluations:
        write_evaluation(sub_evaluation, ws)
    return comparisons


