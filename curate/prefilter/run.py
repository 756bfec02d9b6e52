"""I/O edge of the prefilter stage: look up cached embeddings, run the pure stage, save."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from curate import schema
from curate.console import err_console
from curate.embed import EmbeddingCache
from curate.errors import UsageError
from curate.prefilter.stage import STAGE, PrefilterConfig, PrefilterReport, prefilter_catalog, topic_folds
from curate.records import reset_stage
from curate.review.journal import apply_workspace_decisions
from curate.runs import load_stage_report, save_stage_report
from curate.workspace import Workspace, catalog_sha256, changes_workspace, read_catalog, write_catalog

if TYPE_CHECKING:  # classify (torch) is imported only when --mode finetune runs
    from classify.config import TrainConfig


@changes_workspace
def run_prefilter(ws: Workspace, config: PrefilterConfig, embeddings: str | None = None,
                  finetune: TrainConfig | None = None) -> PrefilterReport:
    """`embeddings`: the cache to use (a backbone name, or name-<size>px); default: the last `curate embed`'s.
    `finetune`: training settings for `--mode finetune` (default TrainConfig())."""
    if embeddings is None:
        last = load_stage_report(ws, "embed")
        if last is None and config.mode == "embeddings":
            raise UsageError("no embeddings in this workspace yet: run `curate embed` first")
        embeddings = last["cache_key"] if last else None
    catalog = read_catalog(ws)
    input_hash = catalog_sha256(ws)
    if embeddings:
        vectors, found, ok = EmbeddingCache(ws, embeddings).lookup(catalog["sha256"])
        found = found | missing_from_store(ws, catalog, found)  # as if unreadable (ok stays False)
    else:
        vectors, found, ok = np.zeros((len(catalog), 0), np.float32), np.zeros(len(catalog), bool), np.zeros(len(catalog), bool)
    scores = _finetune_scores(ws, catalog, config, finetune) if config.mode == "finetune" else None
    # The out-of-fold fits take about a minute at demo size: a spinner, for the CLI and `curate run` alike.
    scored = "label issues" if config.mode == "finetune" else "topic and label issues"
    with err_console.status(f"{scored}: out-of-fold logistic regressions ({config.folds} folds)"):
        result, report = prefilter_catalog(catalog, vectors, found, ok, config, topic_scores=scores)
    write_catalog(ws, apply_workspace_decisions(ws, result))  # human decisions (curate review) win
    save_stage_report(ws, "prefilter", input_hash, {**report.to_dict(), "embeddings": embeddings})
    return report


def missing_from_store(ws: Workspace, catalog, found: np.ndarray) -> np.ndarray:
    """Rows without an embedding whose stored image file is gone: `curate embed` does not cache
    them (restored, they are embedded next time), and until then the stage drops them as unreadable."""
    paths = catalog["image_path"].to_numpy()
    return np.array([not hit and isinstance(path, str) and not (ws.root / path).is_file()
                     for hit, path in zip(found, paths)], dtype=bool)


def _finetune_scores(ws: Workspace, catalog, config: PrefilterConfig, finetune) -> np.ndarray:
    """Out-of-fold P(topic) from one binary CNN per owner-grouped fold (classify.finetune)."""
    from classify.finetune import topic_scores
    from classify.train import TrainConfig

    fresh = reset_stage(catalog, STAGE).reset_index(drop=True)
    eligible = ((fresh["status"] == schema.KEPT) & fresh["image_path"].notna()).to_numpy()
    rows, tagged, fold = topic_folds(fresh, eligible, config)
    return topic_scores(ws, fresh, rows, tagged, fold, finetune or TrainConfig(),
                        ws.root / "runs" / f"prefilter-finetune-{config.topic}")
