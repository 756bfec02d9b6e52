"""The search of `classify.tune` with real training on a workspace (the command: classify.commands.tune)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from classify.config import TrainConfig
from classify.tune_trials import Outcome, TrainFn, outcome_from_history
from curate.errors import UsageError
from curate.workspace import Workspace


def workspace_train_fn(ws: Workspace) -> TrainFn:
    """The real objective: `classify.train.train` on the workspace's catalog."""
    from classify.train import train

    def run(run_dir: Path, config: TrainConfig, resume: bool) -> Outcome:
        trainer = train(ws, run_dir, config, resume=resume)
        return outcome_from_history(trainer.history, trainer.meta().metrics)

    return run


def require_val_photos(catalog: pd.DataFrame) -> pd.DataFrame:
    """The photos a trial trains and validates on (`labelled_rows`); UsageError unless some are val
    photos (the search ranks trials by val loss) and the train split holds two labels or more (audit
    X: that refusal came at the first trial, after search.json was written, and the folder then
    refused another search)."""
    from classify.data import class_list, labelled_rows

    rows = labelled_rows(catalog)
    if not (rows["split"] == "val").any():
        raise UsageError("classify tune ranks trials by validation loss, but the catalog has no kept val photos: "
                         "run `curate split --val 0.1` first")
    class_list(rows)
    return rows


