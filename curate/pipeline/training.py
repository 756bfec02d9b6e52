"""The training and evaluation steps, registered by the package that trains (classify).

`curate` curates; `classify` trains on what it curated. The dependency runs one way:
classify imports curate, never the reverse. So the pipeline does not import classify to
train: classify hands it a `TrainingSteps` at import (``import classify`` calls
`register_training`), the way sources are listed in `curate.pipeline.sources`. The
`curate` command line imports classify, so `curate run --train` finds the steps; a library
user without classify gets one line saying what to install.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import UsageError
from curate.workspace import Workspace


@dataclass(frozen=True)
class TrainingSteps:
    """What a training package lends the pipeline.

    config: the training config dataclass, filled from the recipe's [train] section.
    train(ws, run_dir, config) -> summary line: trains (resuming an interrupted run in run_dir).
    evaluate(ws, run_dir, settings) -> summary lines: scores the run (settings: EvaluateSettings).
    topic_scorer(config) -> scorer: out-of-fold topic scores for `curate prefilter --mode finetune`
    (see curate.prefilter.run.run_prefilter's `finetune`).
    train_unchanged(ws, run_dir, config), evaluate_unchanged(ws, run_dir, settings) -> a
    curate.pipeline.runner.Unchanged when run_dir's model (its evaluation) was made from what the step would
    read today, else None: the steps' `unchanged` (None: the steps run whenever a step before them ran).
    """

    config: type
    train: Callable[[Workspace, Path, Any], str]
    evaluate: Callable[[Workspace, Path, Any], str]
    topic_scorer: Callable[[Any], Callable]
    train_unchanged: Callable[[Workspace, Path, Any], Any] | None = None
    evaluate_unchanged: Callable[[Workspace, Path, Any], Any] | None = None


_registered: list[TrainingSteps] = []


def register_training(steps: TrainingSteps) -> None:
    """Make `steps` the pipeline's training steps (the last registration wins)."""
    _registered[:] = [steps]


def registered_training() -> TrainingSteps | None:
    """The registered training steps, or None when no training package registered any."""
    return _registered[0] if _registered else None


def training_steps(where: str) -> TrainingSteps:
    """The registered training steps, or a UsageError saying where they were needed and why missing."""
    steps = registered_training()
    if steps is None:
        raise UsageError(f"{where}: training needs the classify package, which registers the train and "
                         "evaluate steps when imported (the `curate` command imports it); `import classify` first")
    return steps
