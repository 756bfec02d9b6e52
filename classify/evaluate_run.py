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

Which photos are scored: classify.evaluate_photos; the RunEvaluation record and the files it writes:
classify.evaluation_files (its figures: classify.evaluate_figures).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from classify.evaluate import (
    answered_with_label,
    evaluate_predictions,
    sandals_score,
    sandals_summary,
    wrongly_gated,
)
from classify.evaluate_photos import (
    labels_mostly_taken,
    leave_out_trained_on,
    off_topic_counts,
    off_topic_photos_of,
    select_photos,
)
from classify.evaluation_files import RunEvaluation, write_evaluation
from curate import objectstore, schema
from curate.errors import DataContractError, UsageError
from curate.progress import progress_bar
from curate.stage_reports import load_stage_report
from curate.workspace import Workspace, catalog_sha256, read_catalog

BATCH_SIZE = 64


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
        from curate.freshness_workspace import stale_split_line

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
    flagged, unflagged = 0, None  # the scored photos the prefilter flagged as label issues; (photos, right) of the rest
    if "is_label_issue" in catalog.columns:
        rows = catalog.drop_duplicates(schema.PHOTO_ID).set_index(schema.PHOTO_ID)
        open_flag = rows["is_label_issue"].eq(True)
        if "review_status" in rows.columns:  # a reviewer's keep or relabel settled it (audit AQ)
            open_flag &= rows["review_status"].isna()
        is_flagged = open_flag.reindex(scored[schema.PHOTO_ID], fill_value=False).to_numpy(bool)
        flagged = int(is_flagged.sum())
        # the accuracy on the photos no flag doubts (audit BU E1: 11 of 58 test labels wrong, 10 of them flagged:
        # 75.9% on all, 95.7% on the 46 unflagged)
        right = (scored["predicted"] == scored["label"]).to_numpy(bool)
        unflagged = (int((~is_flagged).sum()), int(right[~is_flagged].sum())) if flagged else None
    evaluation = RunEvaluation(run_dir=run_dir, split=split, report=report, photos=scored, unknown_labels=unknown,
                               unreadable=unreadable, catalog_sha256=catalog_hash,
                               model_catalog_sha256=predictor.meta.catalog_sha256, device=str(predictor.device),
                               trained_on=trained_on, touching_trained=touching, stale_split=stale, flagged=flagged,
                               unflagged=unflagged)
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
    result["from_labels_mostly_dropped"] = labels_mostly_taken(catalog, photos[ok])
    result.update(off_topic_counts(catalog, split))  # why none is scored, when none is
    what = (f"photos dropped as off-topic whose photographer has {split} photos, answered with a label at "
            f"probability >= {result['min_probability']:g}")
    return {"summary": sandals_summary(result, split=split), "what": what, "split": split, **result,
            "unreadable": int((~ok).sum()), "gate_threshold": None if gate is None else gate.threshold}


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
