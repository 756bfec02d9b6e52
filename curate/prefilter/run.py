"""I/O edge of the prefilter stage: look up cached embeddings, run the pure stage, save."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from curate import objectstore, schema
from curate.embed import EmbeddingCache
from curate.errors import UsageError
from curate.prefilter.report import PrefilterReport
from curate.prefilter.stage import STAGE, PrefilterConfig, prefilter_catalog
from curate.prefilter.topic import TopicModel, fit_topic_model, topic_folds
from curate.progress import working
from curate.records import reset_stage
from curate.review.apply import overridden_note
from curate.review.journal import apply_workspace_decisions
from curate.settings_fields import SettingError
from curate.stage_reports import load_stage_report, mark_writing, save_stage_report
from curate.workspace import (
    Workspace,
    atomic_write_bytes,
    catalog_sha256,
    changes_workspace,
    read_catalog,
    write_catalog,
)

TOPIC_MODEL_DIR = ("models", "topic")  # under the workspace root
TOPIC_WEIGHTS = "topic.safetensors"
TOPIC_META = "topic.json"

# `--mode finetune`'s out-of-fold P(topic) per catalog row (NaN where not scored):
# scorer(ws, catalog, rows, tagged, fold, out_dir). Training is classify's, so the caller hands
# the scorer in (classify.finetune.topic_scorer; curate.pipeline.training for `curate run`).
TopicScorer = Callable[[Workspace, pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, Path], np.ndarray]


@changes_workspace
def run_prefilter(ws: Workspace, config: PrefilterConfig, embeddings: str | None = None,
                  finetune: TopicScorer | None = None) -> PrefilterReport:
    """`embeddings`: the cache to use (a backbone name, or name-<size>px); default: the last `curate embed`'s.
    `finetune`: the topic scorer `--mode finetune` needs (see TopicScorer); UsageError without one."""
    started = time.monotonic()
    if config.mode == "finetune" and finetune is None:
        raise SettingError("{mode} finetune trains a CNN per fold: it needs the classify package's scorer "
                           "(classify.finetune.topic_scorer); use {mode} embeddings without it", "mode")
    catalog = read_catalog(ws)  # first: a missing catalog says "run curate ingest", not "curate embed"
    if embeddings is None:
        last = load_stage_report(ws, "embed")
        if last is None and config.mode == "embeddings":
            raise UsageError("no embeddings in this workspace yet: run `curate embed` first")
        embeddings = last["cache_key"] if last else None
    elif not EmbeddingCache(ws, embeddings).dir.is_dir():
        known = sorted(p.name for p in (ws.cache_dir / "embeddings").glob("*") if p.is_dir())
        raise UsageError(f"--embeddings {embeddings}: no such embedding cache in this workspace (it has: "
                         f"{', '.join(known) or 'none'}); give one of those, or run `curate embed` for it")
    input_hash = catalog_sha256(ws)
    if embeddings:
        vectors, found, ok = EmbeddingCache(ws, embeddings).lookup(catalog["sha256"])
        gone = missing_from_store(ws, catalog, found)  # as if unreadable: found, not ok
        found, ok = found | gone, ok & ~gone
    else:
        vectors = np.zeros((len(catalog), 0), np.float32)
        found, ok = np.zeros(len(catalog), bool), np.zeros(len(catalog), bool)
    scores = _finetune_scores(ws, catalog, config, finetune) if config.mode == "finetune" else None
    # The out-of-fold fits take about a minute at demo size: a spinner, for the CLI and `curate run` alike.
    scored = "label issues" if config.mode == "finetune" or config.topic is None else "topic and label issues"
    with working(f"{scored}: out-of-fold logistic regressions ({config.folds} folds)"):
        result, report = prefilter_catalog(catalog, vectors, found, ok, config, topic_scores=scores)
    final = apply_workspace_decisions(ws, result, "prefilter")  # human decisions (curate review) win
    report.notes += overridden_note(final, "prefilter")
    mark_writing(ws, "prefilter")
    write_catalog(ws, final)
    model = fit_topic_model(result, vectors, config, found & ok) if config.mode == "embeddings" else None
    saved = save_topic_model(ws, model, report, embeddings, input_hash)
    if saved is None and report.topic is None:
        report.notes.append("no topic model saved (no topic: a run trained on this collection gets no topic gate)")
    elif saved is None and config.mode == "finetune":
        report.notes.append("no topic model saved (--mode finetune has no embedding model to serve)")
    elif saved is None:
        report.notes.append("no topic model saved (the photos it would learn from are all tagged, or none is: a "
                            "run trained on this collection gets no topic gate)")
    elif report.held and not report.forced:
        report.notes.append(f"topic model saved to {topic_model_dir(ws)} ({TOPIC_WEIGHTS} + {TOPIC_META}), but the "
                            "drops were held, so no photo is off topic for `classify train` to fit a topic gate on "
                            "(`--force` drops them)")
    else:
        report.notes.append(f"topic model saved to {topic_model_dir(ws)} ({TOPIC_WEIGHTS} + {TOPIC_META}); "
                            "`classify train` fits the run's topic gate after it")
    save_stage_report(ws, "prefilter", input_hash, {**report.to_dict(), "embeddings": embeddings,
                                                    "topic_model": saved}, started)
    return report


def topic_model_dir(ws: Workspace):
    """<workspace>/models/topic: where `curate prefilter` saves its topic model."""
    return ws.root.joinpath(*TOPIC_MODEL_DIR)


def save_topic_model(ws: Workspace, model: TopicModel | None, report: PrefilterReport, embeddings: str | None,
                     input_hash: str) -> dict | None:
    """Write topic.safetensors then topic.json (each atomically); return the JSON written.

    No model (`--mode finetune`): any older saved model is removed, so no stale gate outlives the
    prefilter that produced it. topic.json names the weights file's sha256, so a reader can tell a
    pair written by two different runs apart.
    """
    from safetensors.numpy import save

    folder = topic_model_dir(ws)
    if model is None:
        for name in (TOPIC_META, TOPIC_WEIGHTS):  # the JSON first: a lone weights file is not a model
            (folder / name).unlink(missing_ok=True)
        return None
    weights = save({"coef": model.coef.astype(np.float32), "intercept": np.asarray([model.intercept], np.float32)})
    key = embeddings or ""
    meta = {"topic": report.topic, "backbone": key.rsplit("-", 1)[0] if key.endswith("px") else key,
            "embedding_cache_key": embeddings, "threshold": report.threshold,
            "calibration": report.threshold_method, "held": report.held, "normalise": "l2",
            "regularisation": report.config.get("regularisation"), "photos": model.photos, "tagged": model.tagged,
            "catalog_sha256": input_hash, "output_catalog_sha256": catalog_sha256(ws),
            "weights_sha256": hashlib.sha256(weights).hexdigest(), "format_version": 1}
    atomic_write_bytes(folder / TOPIC_WEIGHTS, weights)
    atomic_write_bytes(folder / TOPIC_META, json.dumps(meta, indent=2).encode("utf-8"))
    return meta


def missing_from_store(ws: Workspace, catalog, found: np.ndarray) -> np.ndarray:
    """Rows whose stored image file is gone: without an embedding (`curate embed` does not cache them;
    restored, they are embedded next time), and, on a local store, kept photos whose file went after they were
    embedded (audit AN: deleted from the store after `curate embed`, they stayed kept through every stage, the
    cached vector standing in for a file no longer there). The stage drops them as unreadable. (An object store
    is asked only about the rows without an embedding: one request a photo.)"""
    paths = catalog["image_path"].to_numpy()
    locate = objectstore.locator(ws)
    local = not objectstore.remote(ws)
    judged = catalog["status"].isin([schema.KEPT]) | catalog["drop_stage"].isin(["prefilter"])  # judged anew
    asked = ~found | (local & judged.to_numpy(dtype=bool))
    return np.array([ask and isinstance(path, str) and not objectstore.exists(locate(path))
                     for ask, path in zip(asked, paths)], dtype=bool)


def _finetune_scores(ws: Workspace, catalog, config: PrefilterConfig, scorer: TopicScorer) -> np.ndarray:
    """Out-of-fold P(topic) from one binary CNN per owner-grouped fold (the caller's `scorer`)."""
    fresh = reset_stage(catalog, STAGE).reset_index(drop=True)
    eligible = ((fresh["status"] == schema.KEPT) & fresh["image_path"].notna()).to_numpy()
    rows, tagged, fold = topic_folds(fresh, eligible, config)
    return scorer(ws, fresh, rows, tagged, fold, ws.runs_dir / f"prefilter-finetune-{config.topic}")
