"""Running `classify tune`'s trials: each (trial, rung) trains in its own run directory (`Search.run_rung`),
finished runs are read back (`read_finished`), the rungs halve the trials (`successive_halving`), and
OUT/trials.csv is written as they go (`write_table`)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from classify.train import CHECKPOINT, TrainConfig
from classify.tune_ranking import promote, rank_key, ranking_noise
from classify.tune_space import Halving, Trial, rung_epochs
from curate.errors import DataContractError, UsageError
from curate.workspace import atomic_write_bytes

log = logging.getLogger("classify.tune")  # the search's log keeps the command's name, one logger for its lines

FINISHED = "trial.json"
TABLE_COLUMNS = ["trial", "lr", "weight_decay", "augment", "color_jitter", "crop_scale", "rung", "epochs",
                 "epochs_run", "val_loss", "val_accuracy", "status", "run_dir"]


def augment_words(augment: float, color_jitter: float, crop_scale: float) -> str:
    return f"augmentation {augment:g} (colour jitter {color_jitter:g}, crop scale {crop_scale:g})"


def epoch_count(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


# ---------------------------------------------------------------- running trials
@dataclass
class Outcome:
    """What one training reports: best validation loss (None if never finite) and its accuracy."""

    val_loss: float | None
    val_accuracy: float | None
    epochs_run: int
    metrics: dict = field(default_factory=dict)


TrainFn = Callable[[Path, TrainConfig, bool], Outcome]  # (run_dir, config, resume) -> Outcome


def outcome_from_history(history: list[dict], metrics: dict | None = None) -> Outcome:
    """The epoch with the lowest finite val_loss in a trainer's history."""
    scored = [h for h in history if h.get("val_loss") is not None and math.isfinite(h["val_loss"])]
    best = min(scored, key=lambda h: h["val_loss"], default=None)
    if best is None:
        return Outcome(None, None, len(history), dict(metrics or {}))
    return Outcome(best["val_loss"], best["val_accuracy"], len(history), dict(metrics or {}))


def trial_config(base: TrainConfig, trial: Trial, epochs: int) -> TrainConfig:
    """The base config with the trial's values; `epochs` in total = 1 head epoch + epochs - 1 fine-tuning."""
    return replace(base, lr=trial.lr, weight_decay=trial.weight_decay, color_jitter=trial.color_jitter,
                   crop_scale=trial.crop_scale, head_epochs=1, epochs=epochs - 1)


def read_finished(run_dir: Path, config: TrainConfig, split_key: str | None = None) -> Outcome | None:
    """The saved outcome of a finished run with this config, else None. DataContractError when it
    trained on another split than `split_key` (audit X: a re-split search read its finished trials
    back and ranked their val losses, measured partly on photos they had trained on, against new
    ones); a record without a split (an older version) is read as before."""
    path = run_dir / FINISHED
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    if TrainConfig.from_dict(saved["config"]).comparable() != config.comparable():
        raise UsageError(f"{run_dir} holds a run with other settings; use another --out")
    if split_key is not None and saved.get("split_sha256") not in (None, split_key):
        raise DataContractError(f"the split or the labels changed since the finished run in {run_dir} was trained "
                                "(it learned from photos that may now be val photos, or from other labels, so its val "
                                "loss cannot be ranked with new trials' losses); search again with another --out, or "
                                "restore the catalog")
    return Outcome(saved["val_loss"], saved["val_accuracy"], saved["epochs_run"], saved.get("metrics", {}))


def write_finished(run_dir: Path, config: TrainConfig, outcome: Outcome, split_key: str | None = None) -> None:
    record = {"config": asdict(config), **asdict(outcome), "split_sha256": split_key}
    atomic_write_bytes(run_dir / FINISHED, json.dumps(record, indent=2).encode("utf-8"))


@dataclass
class RunRecord:
    trial: Trial
    rung: int
    epochs: int
    run_dir: Path
    config: TrainConfig
    outcome: Outcome | None = None  # None: skipped (budget)
    status: str = "skipped"  # then "done" once trained; promoted / stopped / best when decided


class Search:
    """State of one successive-halving search: runs so far and epochs spent (halving has its budget set)."""

    def __init__(self, out_dir: Path, base: TrainConfig, train_fn: TrainFn, halving: Halving,
                 split_key: str | None = None):
        assert halving.budget_epochs is not None, "pass halving.bounded(n_trials)"
        self.out_dir, self.base, self.train_fn, self.halving = Path(out_dir), base, train_fn, halving
        self.split_key = split_key  # which photos are in which split (`read_finished`)
        self.records: list[RunRecord] = []
        self.spent_epochs = 0

    def run_rung(self, trials: list[Trial], rung: int, epochs: int) -> dict[int, float | None]:
        """Train (or read back) each trial at this rung; {trial id: val loss} of those that ran."""
        losses = {}
        for trial in trials:
            run_dir = self.out_dir / f"trial-{trial.trial:03d}" / f"rung-{rung}"
            record = RunRecord(trial, rung, epochs, run_dir, trial_config(self.base, trial, epochs))
            self.records.append(record)
            record.outcome = read_finished(run_dir, record.config, self.split_key)
            if record.outcome is None:
                if self.spent_epochs + epochs > self.halving.budget_epochs:
                    continue  # stays "skipped"
                augment = augment_words(trial.augment, trial.color_jitter, trial.crop_scale)
                log.info(f"trial {trial.trial} rung {rung}: {epoch_count(epochs)}, lr {trial.lr:g}, weight decay "
                         f"{trial.weight_decay:g}, {augment}")
                record.outcome = self.train_fn(run_dir, record.config, (run_dir / CHECKPOINT).exists())
                write_finished(run_dir, record.config, record.outcome, self.split_key)
            self.spent_epochs += record.outcome.epochs_run
            record.status = "done"
            losses[trial.trial] = record.outcome.val_loss
            write_table(self.out_dir, self.table())
        return losses

    def table(self) -> pd.DataFrame:
        rows = [{"trial": r.trial.trial, "lr": r.trial.lr, "weight_decay": r.trial.weight_decay,
                 "augment": r.trial.augment, "color_jitter": r.config.color_jitter,
                 "crop_scale": r.config.crop_scale, "rung": r.rung, "epochs": r.epochs,
                 "epochs_run": r.outcome.epochs_run if r.outcome else 0,
                 "val_loss": r.outcome.val_loss if r.outcome else None,
                 "val_accuracy": r.outcome.val_accuracy if r.outcome else None,
                 "status": r.status, "run_dir": r.run_dir.relative_to(self.out_dir).as_posix()}
                for r in sorted(self.records, key=lambda r: (r.trial.trial, r.rung))]
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)

    def ranking(self, val_photos: int | None = None) -> dict | None:
        """`ranking_noise` of the best run against each other trial's best run; n is the val photos the best
        run was scored on (its trainer's `val_photos`), else `val_photos`."""
        best = self.best()
        if best is None:
            return None
        others: dict[int, RunRecord] = {}
        for record in sorted((r for r in self.records if r.outcome is not None),
                             key=lambda r: (rank_key(r.outcome.val_loss), -r.rung)):
            if record.trial.trial != best.trial.trial:
                others.setdefault(record.trial.trial, record)
        scored = best.outcome.metrics.get("val_photos") or val_photos
        return ranking_noise(best.trial.trial, best.outcome.val_accuracy,
                             {trial: r.outcome.val_accuracy for trial, r in others.items()}, scored)

    def best(self) -> RunRecord | None:
        """The finished run with the lowest val loss (ties: the longer run, then the lower trial id)."""
        done = [r for r in self.records if r.outcome is not None]
        return min(done, key=lambda r: (rank_key(r.outcome.val_loss), -r.rung, r.trial.trial), default=None)


def successive_halving(trials: list[Trial], base: TrainConfig, out_dir: Path, train_fn: TrainFn,
                       halving: Halving = Halving(), split_key: str | None = None) -> Search:
    """Run the rungs; statuses end as promoted / stopped / best / skipped (budget).

    `train_fn(run_dir, config, resume)` trains one run and returns its Outcome; tests pass a
    fake one. Stops at the top rung, or when the budget cannot pay for the next run; without
    `halving.budget_epochs` the budget is the plan's own total.
    """
    halving = halving.bounded(len(trials))
    search = Search(out_dir, base, train_fn, halving, split_key)
    schedule = rung_epochs(halving.min_epochs, halving.max_epochs, halving.eta)
    alive = list(trials)
    rung = len(schedule) - 1 if len(alive) == 1 else 0
    while True:
        losses = search.run_rung(alive, rung, schedule[rung])
        if rung == len(schedule) - 1 or len(losses) < len(alive):
            break  # top rung reached, or the budget ran out mid-rung
        keep = set(promote(losses, halving.eta))
        for record in search.records:
            if record.rung == rung and record.trial.trial in keep:
                record.status = "promoted"
        alive = [t for t in alive if t.trial in keep]
        rung = len(schedule) - 1 if len(alive) == 1 else rung + 1
    for record in search.records:
        if record.status == "done":
            record.status = "stopped"
    best = search.best()
    if best is not None:
        best.status = "best"
    return search


# ---------------------------------------------------------------- outputs
def write_table(out_dir: Path, table: pd.DataFrame) -> None:
    atomic_write_bytes(Path(out_dir) / "trials.csv", table.to_csv(index=False).encode("utf-8"))
