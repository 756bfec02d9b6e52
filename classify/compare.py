"""`classify evaluate RUN --compare-random-split / --uncurated`: what leakage inflates, what curation is worth.

Both comparisons retrain with RUN's own TrainConfig (from RUN/model.json) on an in-memory
variant of the workspace catalog; images still come from the workspace's store::

    --compare-random-split   kept photos, re-split at random (`by="none"`, same val/test shares
                             and seed as `curate split`)          ──► RUN/compare-random-split/
                             scored on ITS OWN random test split. Leakage inflation =
                             random-split accuracy − owner-split accuracy (percentage points).
    --uncurated              every ingested photo that decoded, the labels ingest gave, random split
                             ──► RUN/uncurated/, scored like RUN on the curated workspace's
                             clean, owner-disjoint test split. Curation is worth
                             curated accuracy − uncurated accuracy (percentage points),
                             both over the test photos both models can be scored on.

Choices, and why:
- Uncurated labels are the labels ingest gave (`uncurated_labels`): the source's own label where
  it gave one (folder name, label column: ingest keeps it over the tags), else the one recipe label
  the tags name; tags naming two or more labels give none (tag order is arbitrary, so "the first"
  would be a coin flip, and ingest itself leaves those null). A relabel by `curate prefilter
  --relabel` or a reviewer is curation, so it is undone.
- Uncurated photos that share anything with the clean test set (the photo itself, its
  photographer, its exact bytes or near-duplicate cluster) are flagged dropped (stage
  "compare") before the random split; otherwise the uncurated model would be scored on
  photographers and near-copies it trained on, and curation would look worth less than it is.
  The clean test set (with what touches it) is the uncurated model's held-out test, so the rest
  is split at random into train and val only, with `curate split`'s train:val ratio (val share
  val / (1 − test)). Splitting off another random test share that is never scored would train
  the uncurated model on ~20% fewer photos than RUN and credit curation with a data-size gap.
- The worth is like for like: both accuracies (and the owner bootstrap's error) over the same photos.
  A test photo whose label one model has no class for (tags naming two labels leave the uncurated
  model without one) cannot be scored by it; it is left out of both scores and counted and explained
  in one note, rather than dropped from one model's score only.
- A finished sub-run is reused (a second `evaluate` costs only predictions), an interrupted one
  resumed; one trained with other settings or on another catalog is refused with a clear line.

The catalog transforms are pure (`random_split_catalog`, `uncurated_catalog`, `clean_test_reasons`,
`leakage_summary`); `run_comparisons` is the I/O edge that trains and evaluates.
Scoring both models like for like, and the lines that say what the comparisons found, are in
classify.compare_scores.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from classify.compare_scores import (
    curation_headline,
    left_out_line,
    left_out_reasons,
    sandals_comparison,
    score_on_common_photos,
    worth_counting_missing_classes,
    worth_se,
)
from curate import schema
from curate.errors import UsageError
from curate.leakage import CLEAN_TEST_REASONS, clean_test_reasons, find_leakage  # noqa: F401 (re-exported)
from curate.records import apply_drops
from curate.report.explain import difference_se, two_sample_se
from curate.split import SplitConfig, SplitReport, split_catalog
from curate.stage_reports import load_stage_report
from curate.workspace import Workspace, read_catalog

STAGE = "compare"
RANDOM_SPLIT_DIR = "compare-random-split"
UNCURATED_DIR = "uncurated"
# what the sub-runs' training warnings call them (printed among RUN's own lines, e.g. in `curate run`)
RANDOM_SPLIT_MODEL = "the random-split comparison model"
UNCURATED_MODEL = "the uncurated comparison model"
DEFAULT_SHARES = SplitConfig(val=0.1, test=0.2, by="none", seed=0)


# ---------------------------------------------------------------- pure catalog transforms
def random_split_catalog(catalog: pd.DataFrame, split_config: SplitConfig) -> tuple[pd.DataFrame, SplitReport]:
    """The kept photos re-split at random (stratified by label), ignoring owners and duplicates.

    `split_config.by` is forced to "none"; shares and seed are kept. Returns (catalog, report).

    >>> catalog = pd.DataFrame({"photo_id": [f"p{i}" for i in range(20)], "label": ["a", "b"] * 10,
    ...                         "owner_id": "o1", "status": "kept"})
    >>> random_catalog, _ = random_split_catalog(catalog, SplitConfig(val=0.1, test=0.2, seed=0))
    >>> random_catalog["split"].value_counts().to_dict()  # one owner, yet every split gets photos
    {'train': 14, 'test': 4, 'val': 2}
    """
    return split_catalog(catalog, dataclasses.replace(split_config, by="none"))


def train_val_shares(shares: SplitConfig) -> SplitConfig:
    """A random train/val split (no test share) with the train:val ratio of `shares`.

    >>> train_val_shares(SplitConfig(val=0.1, test=0.2)).val
    0.125
    """
    return SplitConfig(val=shares.val / (1 - shares.test), test=0.0, by="none", seed=shares.seed)


def uncurated_labels(catalog: pd.DataFrame) -> pd.Series:
    """Label per row as ingest gave it, before `curate prefilter --relabel` or a reviewer changed it
    (`schema.given_label`): the source's own label (a folder name, a label column) where it gave one, as
    ingest keeps it over the tags; else the one recipe label the tags name; none where they name two or
    more. Audit AT: labels taken from the tags first gave 34 of 100 folder-labelled Ferraris the recipe's
    city names, labels the collection never had, and credited curation with +38 pp for dropping nothing."""
    given = schema.given_label(catalog)
    return pd.Series(given.where(given.notna(), None).to_numpy(dtype=object), index=catalog.index, dtype=object)


def uncurated_catalog(catalog: pd.DataFrame, clean_test: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The collection without curation, minus anything touching `clean_test`; returns (catalog, summary).

    Every photo whose image was stored (image_path set) and that ingest did not drop is kept again,
    whatever filter or prefilter decided; ingest drops (undecodable, empty, repeated ids) stay
    dropped. Labels come from `uncurated_labels`; `split` is cleared (split it with
    `random_split_catalog`). Rows touching the clean test set are flagged dropped, stage "compare".
    """
    out = catalog.reset_index(drop=True).copy()
    dropped_at_ingest = (out["status"] == schema.DROPPED) & (out["drop_stage"] == "ingest")
    stored = out["image_path"].notna() & ~dropped_at_ingest
    brought_back = stored & (out["status"] == schema.DROPPED)
    back_by_stage = {str(k): int(v) for k, v in out.loc[brought_back, "drop_stage"].value_counts().items()}
    out.loc[stored, ["status", "drop_reason", "drop_stage"]] = [schema.KEPT, None, None]
    out = apply_drops(out, pd.Series(np.where(out["image_path"].isna(), "no_stored_image", None)), STAGE)
    out["label"] = uncurated_labels(out)
    out["split"] = None
    pool = int(stored.sum())
    reason = clean_test_reasons(out, clean_test).where(out["status"] == schema.KEPT, None)
    out = apply_drops(out, reason, STAGE)
    kept = out["status"] == schema.KEPT
    summary = {"photos": pool, "brought_back": int(brought_back.sum()), "brought_back_by_stage": back_by_stage,
               "excluded_touching_clean_test": {name: int((reason == name).sum()) for name in CLEAN_TEST_REASONS},
               "kept": int(kept.sum()), "labelled": int((kept & out["label"].notna()).sum()),
               "labels": "the one recipe label the tags name (2+ named: no label; none named: the source's label)"}
    return out, summary


def leakage_summary(catalog: pd.DataFrame) -> dict:
    """How much a split leaks: owners / near-dup clusters / exact groups in 2+ splits, and the
    share of test photos whose photographer also has photos in train."""
    leaks = find_leakage(catalog)
    by_kind = leaks["kind"].value_counts()
    rows = catalog[(catalog["status"] == schema.KEPT) & catalog["split"].notna()]
    cluster_sizes = rows["near_dup_cluster"].value_counts()
    train_owners = set(rows.loc[rows["split"] == "train", "owner_id"].dropna())
    test_owners = rows.loc[rows["split"] == "test", "owner_id"]
    return {"owners_spanning_splits": int(by_kind.get("owner", 0)), "owners": int(rows["owner_id"].nunique()),
            "near_dup_clusters_spanning_splits": int(by_kind.get("near_dup_cluster", 0)),
            "near_dup_clusters": int((cluster_sizes > 1).sum()),
            "exact_groups_spanning_splits": int(by_kind.get("exact_hash", 0)),
            "test_photos_whose_owner_is_in_train": float(test_owners.isin(train_owners).mean())
            if len(test_owners) else 0.0}


# ---------------------------------------------------------------- I/O edge: configs, sub-runs
def workspace_shares(ws: Workspace) -> SplitConfig:
    """val/test shares and seed of the workspace's last `curate split` (defaults 0.1/0.2/0), by="none"."""
    config = (load_stage_report(ws, "split") or {}).get("config") or {}
    return SplitConfig(val=float(config.get("val", DEFAULT_SHARES.val)),
                       test=float(config.get("test", DEFAULT_SHARES.test)), by="none",
                       seed=int(config.get("seed", DEFAULT_SHARES.seed)))


def run_train_config(run_dir: Path, device: str | None = None):
    """RUN's TrainConfig from model.json (device replaced by `device` when given)."""
    from classify.model import META, RunMeta
    from classify.train import TrainConfig

    meta = RunMeta.from_file(Path(run_dir) / META)
    if not meta.config:
        raise UsageError(f"{run_dir}/{META} holds no training config (not made by `classify train`); "
                         "the comparisons retrain with RUN's settings, so train RUN with `classify train`")
    config = TrainConfig.from_dict(meta.config)
    return dataclasses.replace(config, device=device) if device else config


def train_or_reuse(ws: Workspace, run_dir: Path, config, catalog: pd.DataFrame, gate: bool = False,
                   name: str | None = None) -> str:
    """Train `catalog` into `run_dir` unless done: returns "trained", "resumed" or "reused".

    `gate`: fit the topic gate when training ends (comparison sub-runs need none). `name`: what the
    training's warnings call the model (e.g. "the uncurated comparison model"), so that they are not
    read as RUN's.

    Raises UsageError when `run_dir` holds a run with other settings or another catalog.
    """
    from classify.model import META, RunMeta
    from classify.run_files import frame_sha256, load_checkpoint_state
    from classify.train import CHECKPOINT, TrainConfig, train

    run_dir = Path(run_dir)
    checkpoint, meta_path = run_dir / CHECKPOINT, run_dir / META
    if not checkpoint.is_file() and not (meta_path.is_file() and RunMeta.from_file(meta_path).finished):
        train(ws, run_dir, config, allow_leakage=True, catalog=catalog, warn_leakage=False, gate=gate, name=name)
        return "trained"
    if checkpoint.is_file():
        state = load_checkpoint_state(run_dir)
        saved_config, saved_sha256 = state["config"], state["catalog_sha256"]
    else:
        meta = RunMeta.from_file(meta_path)
        saved_config, saved_sha256 = meta.config, meta.catalog_sha256
    if TrainConfig.from_dict(saved_config).comparable() != config.comparable():
        raise UsageError(f"{run_dir} was trained with other settings than the run being evaluated; "
                         "delete that folder to retrain it")
    if saved_sha256 != frame_sha256(catalog):
        raise UsageError(f"{run_dir} was trained on another version of the catalog (it changed since); "
                         "delete that folder to retrain it")
    if checkpoint.is_file() and state["next_epoch"] < config.total_epochs:
        train(ws, run_dir, config, resume=True, allow_leakage=True, catalog=catalog, checkpoint_state=state,
              warn_leakage=False, gate=gate, name=name)
        return "resumed"
    return "reused"


def _train_photos(run_dir: Path) -> int | None:
    from classify.model import META, RunMeta

    return RunMeta.from_file(Path(run_dir) / META).metrics.get("train_photos")


def _scored(evaluation) -> dict:
    return {"run": str(evaluation.run_dir), "accuracy": float(evaluation.report.accuracy),
            "photos": int(evaluation.report.photos), "train_photos": _train_photos(evaluation.run_dir)}


# ---------------------------------------------------------------- orchestration
def compare_random_split(run_dir: Path, ws: Workspace, config, shares: SplitConfig, reference,
                         evaluate) -> tuple[dict, object]:
    """Train RUN's config on a random split; score it on its own test split against `reference`
    (RUN on the owner-disjoint test split). `evaluate(run_dir, catalog)` -> RunEvaluation.
    Returns (comparison, the sub-run's RunEvaluation)."""
    random_catalog, _ = random_split_catalog(read_catalog(ws), shares)
    sub_dir = Path(run_dir) / RANDOM_SPLIT_DIR
    how = train_or_reuse(ws, sub_dir, config, random_catalog, name=RANDOM_SPLIT_MODEL)
    random_eval = evaluate(sub_dir, random_catalog)
    owner, random = _scored(reference), _scored(random_eval)
    return {"sub_run": how, "split": dataclasses.asdict(shares), "owner_split": owner, "random_split": random,
            "owner_split_accuracy": owner["accuracy"], "random_split_accuracy": random["accuracy"],
            "leakage_inflation_pp": (random["accuracy"] - owner["accuracy"]) * 100,
            # two test sets, two models: the unpaired error of the difference (audit DH 3: it had none)
            "leakage_inflation_se_pp": two_sample_se(owner["accuracy"], owner["photos"], random["accuracy"],
                                                     random["photos"]),
            "random_split_leakage": leakage_summary(random_catalog)}, random_eval


def compare_uncurated(run_dir: Path, ws: Workspace, config, shares: SplitConfig, reference,
                      evaluate) -> tuple[dict, object]:
    """Train RUN's config without curation; score it and `reference` (RUN) on the same clean test photos:
    those of the clean test set both models could score (`score_on_common_photos`; the others are counted
    and explained in a note). Returns (comparison, the sub-run's RunEvaluation)."""
    catalog = read_catalog(ws)
    clean_test = catalog[(catalog["status"] == schema.KEPT) & (catalog["split"] == "test")]
    pool, summary = uncurated_catalog(catalog, clean_test)
    if not ((pool["status"] == schema.KEPT) & pool["label"].notna()).any():
        raise UsageError("--uncurated: no ingested photo outside the clean test set (and its photographers and "
                         "duplicates) has a label from its tags to train on")
    shares = train_val_shares(shares)
    pool, _ = random_split_catalog(pool, shares)
    # no curation means no prefilter drops to train as an off-topic class: say nothing about it
    config = dataclasses.replace(config, off_topic_class=False)
    sub_dir = Path(run_dir) / UNCURATED_DIR
    try:
        how = train_or_reuse(ws, sub_dir, config, pool, name=UNCURATED_MODEL)
    except UsageError as exc:
        raise UsageError(f"--uncurated: {exc}") from exc
    uncurated_eval = evaluate(sub_dir, None)  # the workspace's own (clean) test split, like RUN
    models = {"curated": reference, "uncurated": uncurated_eval}
    common, left_out = score_on_common_photos(clean_test, {name: e.photos for name, e in models.items()},
                                              {name: e.report.classes for name, e in models.items()},
                                              {name: [row[schema.PHOTO_ID] for row in e.unreadable]
                                               for name, e in models.items()})
    left_out_note = left_out_line(left_out)
    if common.empty:
        raise UsageError(f"--uncurated: the curated and the uncurated model share no clean test photo they can "
                         f"both be scored on ({left_out_note}), so what curation is worth cannot be measured")
    curated, uncurated = ({"run": str(models[name].run_dir), "accuracy": float(common[f"{name}_correct"].mean()),
                           "photos": int(len(common)), "train_photos": _train_photos(models[name].run_dir)}
                          for name in ("curated", "uncurated"))
    sandals = sandals_comparison(getattr(reference, "sandals_test", None),
                                 getattr(uncurated_eval, "sandals_test", None))
    summary.update({f"{name}_photos": int(((pool["status"] == schema.KEPT) & (pool["split"] == name)
                                           & pool["label"].notna()).sum()) for name in ("train", "val")})
    worth_pp = (curated["accuracy"] - uncurated["accuracy"]) * 100
    owner_se, ownerless = worth_se(common)  # the error over test photographers, on the same photos as the worth
    missing_class = worth_counting_missing_classes(common, left_out, reference.photos)
    notes = [left_out_note] if left_out_note else []
    if missing_class is not None:
        notes.append(missing_class["line"])
    return {"sub_run": how, "split": dataclasses.asdict(shares), "uncurated_set": summary, "curated": curated,
            "uncurated": uncurated, "clean_test_photos": int(len(clean_test)), "common_test_photos": int(len(common)),
            "left_out_photos": int(len(left_out)), "left_out": left_out_reasons(left_out),
            "curation_worth_counting_missing_classes_pp": None if missing_class is None else missing_class["pp"],
            "curated_accuracy": curated["accuracy"], "uncurated_accuracy": uncurated["accuracy"],
            "curation_worth_pp": worth_pp, "curation_worth_se_owners_pp": owner_se,
            "test_photos_without_owner": ownerless, **sandals,
            "headline": curation_headline([worth_pp], int(len(common)), sandals or None, owner_se,
                                          test_split_photos=int(len(clean_test)), photo_se=difference_se(
                                              curated["accuracy"], uncurated["accuracy"], int(len(common))),
                                          ownerless=bool(ownerless)),
            "notes": notes}, uncurated_eval


def run_comparisons(run_dir: Path, ws: Workspace, reference, *, random_split: bool, uncurated: bool,
                    device: str = "auto", evaluate=None) -> tuple[dict, list]:
    """The requested comparisons as {"random_split": {...}, "uncurated": {...}} plus the sub-runs'
    evaluations (to write beside them). `reference` is RUN evaluated on the workspace's test split;
    `evaluate(run_dir, catalog)` scores a sub-run on the test split of `catalog` (None: the workspace's).
    """
    config = run_train_config(run_dir, device)
    shares = workspace_shares(ws)
    comparisons, evaluations = {}, []
    if random_split:
        comparisons["random_split"], sub_eval = compare_random_split(run_dir, ws, config, shares, reference,
                                                                     evaluate)
        evaluations.append(sub_eval)
    if uncurated:
        comparisons["uncurated"], sub_eval = compare_uncurated(run_dir, ws, config, shares, reference, evaluate)
        evaluations.append(sub_eval)
    return comparisons, evaluations
