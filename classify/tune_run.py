"""The search of `classify.tune` with real training on a workspace (the command: classify.commands.tune)."""

from __future__ import annotations

from pathlib import Path

from classify.config import TrainConfig
from classify.tune import Outcome, TrainFn, outcome_from_history
from curate.errors import UsageError
from curate.workspace import Workspace, read_catalog


def workspace_train_fn(ws: Workspace) -> TrainFn:
    """The real objective: `classify.train.train` on the workspace's catalog."""
    from classify.train import train

    def run(run_dir: Path, config: TrainConfig, resume: bool) -> Outcome:
        trainer = train(ws, run_dir, config, resume=resume)
        return outcome_from_history(trainer.history, trainer.meta().metrics)

    return run


def require_val_photos(ws: Workspace) -> None:
    """UsageError unless the catalog has kept val photos (the search ranks trials by val loss)."""
    from classify.data import labelled_rows

    if not (labelled_rows(read_catalog(ws))["split"] == "val").any():
        raise UsageError("classify tune ranks trials by validation loss, but the catalog has no kept val photos: "
                         "run `curate split --val 0.1` first")


