"""`curate prefilter --mode finetune`: out-of-fold topic scores from binary CNNs (the talk's way).

For each owner-grouped fold k, a binary classifier ("topic" vs "other", from the topic tag)
is fine-tuned with `classify.train` on the other folds (one of them held out for
validation) and scores fold k. Every photo is thus scored by a network that never saw its
photographer. Costs `folds` trainings: meant for GPU users; on a CPU use the default
embeddings mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from classify.run_files import load_checkpoint_state
from classify.train import CHECKPOINT, TrainConfig, train
from classify.trainer import Trainer
from curate import schema
from curate.workspace import Workspace

TOPIC, OTHER = "topic", "other"


def fold_catalog(catalog: pd.DataFrame, rows: np.ndarray, tagged: np.ndarray, fold: np.ndarray, k: int) -> pd.DataFrame:
    """Catalog variant for fold k: scored photos labelled topic/other; fold k = test,
    the next fold = val (with 3+ folds; with 2 there is no val split and no early stopping),
    the rest = train; every other photo dropped."""
    folds = int(fold.max()) + 1
    val_fold = (k + 1) % folds if folds >= 3 else -1
    variant = catalog.copy()
    variant["status"] = schema.DROPPED
    variant["label"] = None
    variant["split"] = None
    variant.loc[rows, "status"] = schema.KEPT
    variant.loc[rows, "label"] = np.where(tagged, TOPIC, OTHER)
    variant.loc[rows, "split"] = np.where(fold == k, "test", np.where(fold == val_fold, "val", "train"))
    # near-duplicate / exact groups were folded with their owners, so no group spans the sides
    return variant


def topic_scores(ws: Workspace, catalog: pd.DataFrame, rows: np.ndarray, tagged: np.ndarray, fold: np.ndarray,
                 config: TrainConfig, out_dir: Path) -> np.ndarray:
    """P(topic) per catalog row (NaN where not scored), each from the model that left its fold out."""
    scores = np.full(len(catalog), np.nan)
    for k in range(int(fold.max()) + 1):
        variant = fold_catalog(catalog, rows, tagged, fold, k)
        run_dir = out_dir / f"fold-{k}"
        state = load_checkpoint_state(run_dir) if (run_dir / CHECKPOINT).exists() else None
        if state is not None and state["next_epoch"] >= config.total_epochs:
            trainer = _finished(ws, run_dir, config, variant, state)
        else:  # a new fold, or one that was interrupted
            trainer = train(ws, run_dir, config, resume=state is not None, catalog=variant, checkpoint_state=state)
        scores[_test_positions(catalog, trainer)] = _probabilities(trainer)[:, trainer.classes.index(TOPIC)]
    return scores


def _finished(ws: Workspace, run_dir: Path, config: TrainConfig, variant: pd.DataFrame, state: dict) -> Trainer:
    """A fold run that already finished (its checkpoint `state`): rebuild its trainer with the saved weights."""
    trainer = Trainer(ws, run_dir, config, classes=state["classes"], catalog=variant)
    trainer.model.load_state_dict(state["model"])
    return trainer


def _test_positions(catalog: pd.DataFrame, trainer: Trainer) -> np.ndarray:
    index = pd.Index(catalog[schema.PHOTO_ID])
    return index.get_indexer(trainer.data["test"].rows[schema.PHOTO_ID])


@torch.inference_mode()
def _probabilities(trainer: Trainer) -> np.ndarray:
    trainer.model.eval()
    batches = [torch.softmax(trainer.model(images.to(trainer.device)).float(), dim=1).cpu()
               for images, _ in trainer.loader("test", 0)]
    return torch.cat(batches).numpy() if batches else np.zeros((0, len(trainer.classes)))
