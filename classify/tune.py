"""`classify tune`: random or grid search over learning rate, weight decay and augmentation
strength, with successive halving inside an epoch budget.

    SearchSpace ──sample_trials──► trials (lr, weight_decay, augment)
                ──rung_epochs────► epochs per rung: min·eta^r, then max_epochs
                ──plan_epochs────► the plan's epochs in all: the default budget
                ──successive_halving──► one run per (trial, rung) in OUT/trial-XXX/rung-R/
                ──tune──► OUT/trials.csv, OUT/best.json

Augmentation strength `augment` in [0, 1] is one knob for both random augmentations of the
trainer, interpolated linearly between no augmentation beyond flips (0) and the strong
Inception-style setting (1), see `augmentation()`:

    color_jitter = augment · 0.4             (0 = off; 0.4 = the "light" jitter of the trainer)
    crop_scale   = 1 - augment · (1 - 0.08)  (smallest area share a RandomResizedCrop keeps;
                                              0.08 is torchvision's and Inception's default)

so stronger means more jitter and smaller crops. `classify train`'s own default crop scale,
0.35, is strength ≈ 0.7 on the crop axis. Both derived values are rounded like the searched
ones and written to trials.csv, best.json and the printed `classify train` line.

Rung 0 trains every trial for `min_epochs` epochs in total (1 head epoch + the rest
fine-tuning). Only the best 1/eta of a rung, ranked by the best validation loss of each
run, go on to the next rung; the others stop there. When a single trial is left, it goes
straight to the top rung (`max_epochs`): a rung with one trial compares nothing. The best
config is the run with the lowest validation loss over all rungs (its epochs are part of
the config: if the longer run of a survivor scores worse, the shorter one is the best).

The ranking is only as good as the val split (audit AZ F4: 4 trials ranked on 14 val photos, where
0.929 against 0.857 is one photo). best.json's `ranking` gives the val photos n, what one photo is
worth (1/n) and the trials whose val accuracy is within one standard error of the difference of two
accuracies on n photos of the best's (`ranking_noise`); the command prints a warning naming them.

A promoted trial trains again FROM SCRATCH at the larger budget, in its own run
directory. Continuing the shorter run is not the same thing: its one-cycle schedule was
planned for fewer epochs and has already annealed the rate to ~0, and the trainer resumes
only a run with an identical config. The price is the epochs of the lower rungs: 8 trials,
rungs 1/3/9 and eta 3 cost 8·1 + 2·3 + 1·9 = 23 epochs instead of 18.

The search is always budget-bounded: without `budget_epochs` the budget is the plan's own
total (23 above), so the whole plan runs and nothing more; a smaller budget skips the runs
that would go over it. A run is started only if its full epochs fit in what is left.

Each finished run leaves `trial.json` (its config and scores) next to the trainer's files,
so running the same command again reads finished runs back, resumes an interrupted one
exactly (the trainer's checkpoint), and trains only what is missing. Search settings are
saved in `OUT/search.json`; a re-run with other settings (except the budget, which may
grow) is refused, and so is an OUT written before `augment` existed (SEARCH_FORMAT).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from classify.train import CHECKPOINT, TrainConfig
from curate.errors import DataContractError, UsageError
from curate.settings_fields import SettingError, setting
from curate.workspace import Workspace, atomic_write_bytes

log = logging.getLogger(__name__)

MODES = ("random", "grid")
MAX_TRIALS = 10_000  # far more than any epoch budget trains; a grid of 10^8 points would not fit in memory
FINISHED = "trial.json"
SEARCH_FORMAT = 2  # search.json layout; 1 (no "format" key) searched colour jitter alone
SEARCHED = ("lr", "weight_decay", "color_jitter", "crop_scale", "head_epochs", "epochs")  # set per trial
TABLE_COLUMNS = ["trial", "lr", "weight_decay", "augment", "color_jitter", "crop_scale", "rung", "epochs",
                 "epochs_run", "val_loss", "val_accuracy", "status", "run_dir"]
FULL_COLOR_JITTER = 0.4  # colour jitter at augment 1
FULL_CROP_SCALE = 0.08  # smallest crop area share at augment 1 (torchvision's RandomResizedCrop default)


# ---------------------------------------------------------------- search space (pure)
def augmentation(strength: float) -> tuple[float, float]:
    """(color_jitter, crop_scale) for an augmentation strength in [0, 1], rounded to 3 digits.

    Linear in both: 0 → (0, 1.0) (whole-image crops, random aspect ratio and flips only),
    1 → (0.4, 0.08). Example: `augmentation(0.5)` → (0.2, 0.54).
    """
    if not 0 <= strength <= 1:
        raise UsageError(f"augmentation strength must be in [0, 1], got {strength:g}")
    return (_round(strength * FULL_COLOR_JITTER, 0.0, FULL_COLOR_JITTER),
            _round(1 - strength * (1 - FULL_CROP_SCALE), FULL_CROP_SCALE, 1.0))


@dataclass(frozen=True)
class SearchSpace:
    """Ranges searched. lr and weight decay are log-uniform, augmentation strength uniform.

    An axis whose min equals its max is fixed (weight decay 0/0 turns it off; augment 0/0
    trains every trial without jitter and with whole-image crops).
    """

    lr_min: float = setting(1e-4, help="Learning rate range (log-uniform): the lowest.")
    lr_max: float = setting(3e-2, help="Learning rate range: the highest.")
    wd_min: float = setting(1e-5, help="Weight decay range (log-uniform; 0 and 0 turns it off).")
    wd_max: float = setting(1e-1, help="Weight decay range: the highest.")
    augment_min: float = setting(0.0, help=(
        "Augmentation strength range in [0, 1] (uniform): 0 = no colour jitter, whole-image crops; 1 = jitter "
        "0.4, crops down to 8% of the area."))
    augment_max: float = setting(1.0, help="Augmentation strength range: the highest.")

    def __post_init__(self) -> None:
        if not 0 < self.lr_min <= self.lr_max < math.inf:
            raise SettingError(f"need 0 < {{lr_min}} <= {{lr_max}} (finite), got {self.lr_min:g} and {self.lr_max:g}",
                               "lr_min", "lr_max")
        if not 0 <= self.wd_min <= self.wd_max < math.inf:
            raise SettingError(f"need 0 <= {{wd_min}} <= {{wd_max}} (finite), got {self.wd_min:g} and {self.wd_max:g}",
                               "wd_min", "wd_max")
        if self.wd_min == 0 < self.wd_max:
            raise SettingError("{wd_min} must be above 0 (weight decay is searched log-uniformly); "
                               "set {wd_min} and {wd_max} both to 0 to turn weight decay off", "wd_min", "wd_max")
        if not 0 <= self.augment_min <= self.augment_max <= 1:
            raise SettingError(f"need 0 <= {{augment_min}} <= {{augment_max}} <= 1, got {self.augment_min:g} and "
                               f"{self.augment_max:g}", "augment_min", "augment_max")

    def axes(self) -> list[tuple[str, float, float, bool]]:
        """(name, low, high, log scale) per searched value."""
        return [("lr", self.lr_min, self.lr_max, True), ("weight_decay", self.wd_min, self.wd_max, True),
                ("augment", self.augment_min, self.augment_max, False)]


@dataclass(frozen=True)
class Trial:
    """One point of the search; colour jitter and crop scale follow from `augment`."""

    trial: int
    lr: float
    weight_decay: float
    augment: float

    @property
    def color_jitter(self) -> float:
        return augmentation(self.augment)[0]

    @property
    def crop_scale(self) -> float:
        return augmentation(self.augment)[1]


def _round(value: float, low: float, high: float) -> float:
    """Three significant digits (so the printed `classify train` line is exact), kept in range."""
    return float(min(max(float(f"{value:.3g}"), low), high))


def grid_levels(n: int, free_axes: int) -> list[int]:
    """Values per free axis for the largest full grid with at most `n` points.

    Axes grow in turn (lr first), so 8 → [2, 2, 2], 12 → [3, 2, 2], 5 → [2, 2, 1].
    """
    levels = [1] * free_axes
    grown = True
    while grown:
        grown = False
        for axis in range(free_axes):
            if math.prod(levels) // levels[axis] * (levels[axis] + 1) <= n:
                levels[axis] += 1
                grown = True
    return levels


def _axis_values(low: float, high: float, log: bool, count: int) -> np.ndarray:
    if count == 1:
        return np.array([math.sqrt(low * high) if log else (low + high) / 2])
    return np.geomspace(low, high, count) if log else np.linspace(low, high, count)


def sample_trials(space: SearchSpace, n: int, seed: int = 0, mode: str = "random") -> list[Trial]:
    """`n` random trials (same seed, same trials), or the largest full grid of at most `n` points.

    Example: `sample_trials(SearchSpace(), 8, mode="grid")` → 2 lr × 2 weight decays × 2 augmentation
    strengths, endpoints included.
    """
    if not 1 <= n <= MAX_TRIALS:
        raise UsageError(f"--trials must be between 1 and {MAX_TRIALS:,}, got {n}")
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    axes = space.axes()
    if mode == "random":
        rng = np.random.default_rng(seed)
        columns = []
        for _, low, high, log in axes:
            draws = rng.uniform(math.log(low), math.log(high), n) if log and low < high else rng.uniform(low, high, n)
            columns.append(np.exp(draws) if log and low < high else draws)
        points = list(zip(*columns))
    else:
        free = [low < high for _, low, high, _ in axes]
        counts = iter(grid_levels(n, sum(free)))
        values = [_axis_values(low, high, log, next(counts)) if is_free else np.array([low])
                  for (_, low, high, log), is_free in zip(axes, free)]
        points = list(itertools.product(*values))
    return [Trial(i, *(_round(v, low, high) for v, (_, low, high, _) in zip(point, axes)))
            for i, point in enumerate(points)]


def rung_epochs(min_epochs: int, max_epochs: int, eta: int) -> list[int]:
    """Epochs per rung: min·eta^r while below max, then max. (1, 9, 3) → [1, 3, 9]; (1, 10, 3) → [1, 3, 9, 10]."""
    epochs = [min_epochs]
    while epochs[-1] < max_epochs:
        epochs.append(min(epochs[-1] * eta, max_epochs))
    return epochs


def plan_epochs(n_trials: int, halving: Halving) -> int:
    """Epochs the successive-halving plan trains in all if no run stops early: the default budget.

    8 trials, rungs 1/3/9, eta 3: 8·1 + 2·3 + 1·9 = 23. One trial trains only the top rung.
    """
    schedule = rung_epochs(halving.min_epochs, halving.max_epochs, halving.eta)
    top = len(schedule) - 1
    alive, rung, total = n_trials, top if n_trials == 1 else 0, 0
    while True:
        total += alive * schedule[rung]
        if rung == top:
            return total
        alive = max(1, alive // halving.eta)  # as promote() keeps
        rung = top if alive == 1 else rung + 1


def promote(losses: dict[int, float | None], eta: int) -> list[int]:
    """The best max(1, n // eta) trials by loss (no loss ranks last; ties go to the lower id)."""
    ranked = sorted(losses, key=lambda t: (rank_key(losses[t]), t))
    return ranked[:max(1, len(ranked) // eta)]


# a best val accuracy measured to within one accuracy point (one standard error): trials within noise of it are
# as good as it, and more val photos would not be worth their cost; above it, the val split is too small to rank
PRECISE_ENOUGH = 0.01


def accuracy_variance(accuracy: float, val_photos: int) -> float:
    """p(1-p)/n, the variance of an accuracy measured on `val_photos` photos, with an accuracy of 0 or 1
    counted half a photo away from it (a perfect score on 14 photos does not claim to be exact).

    >>> round(accuracy_variance(13 / 14, 14) ** 0.5, 4)
    0.0688
    """
    p = min(max(accuracy, 0.5 / val_photos), 1 - 0.5 / val_photos)
    return p * (1 - p) / val_photos


def ranking_noise(best_trial: int, best_accuracy: float | None, others: dict[int, float | None],
                  val_photos: int | None) -> dict | None:
    """How far the ranking of the best trial against the others can be trusted on `val_photos` photos;
    None when there are no val photos or the best has no accuracy.

    `others` holds each other trial's val accuracy (that of its own best run). A trial is within noise of
    the best when their accuracies differ by no more than one standard error of the difference of two
    accuracies on n photos, sqrt(p1(1-p1)/n + p2(1-p2)/n) (about 1.4 times one accuracy's; never less
    than one photo): the val split cannot tell them apart, whichever the val loss ranked first. The rule
    scales with n: on 14 photos one photo (7.1 points) is within noise, on 1,400 photos a 3-point gap is
    not. Returns
    val_photos, one_photo_accuracy (1/n), accuracy_standard_error (the best's, `accuracy_variance`'s root),
    within_noise (trial, val_accuracy, difference and standard_error of each such trial) and warning
    (a line saying so and how to fix it, or None).

    >>> noise = ranking_noise(2, 13 / 14, {0: 12 / 14, 1: 4 / 14}, 14)
    >>> [row["trial"] for row in noise["within_noise"]], noise["one_photo_accuracy"]
    ([0], 0.0714)
    """
    if not val_photos or best_accuracy is None:
        return None
    close = []
    for trial, accuracy in sorted(others.items()):
        if accuracy is None:
            continue
        error = max(math.sqrt(accuracy_variance(best_accuracy, val_photos) + accuracy_variance(accuracy, val_photos)),
                    1 / val_photos)  # one photo is never a reliable margin (the root can fall below it at n < 3)
        if abs(accuracy - best_accuracy) <= error:
            close.append({"trial": trial, "val_accuracy": round(accuracy, 4),
                          "difference": round(accuracy - best_accuracy, 4), "standard_error": round(error, 4)})
    one_photo = 1 / val_photos
    warning = None
    best_error = math.sqrt(accuracy_variance(best_accuracy, val_photos))
    if close:
        shown = ", ".join(f"{row['trial']} ({row['val_accuracy']:.3f})" for row in close[:6]) + (
            " …" if len(close) > 6 else "")
        others = f"trial{'s' if len(close) > 1 else ''} {shown}"
        if best_error <= PRECISE_ENOUGH:  # review BC: 5,000 val photos were "too few", "one photo = 0.0 points"
            warning = (f"note: {others} score within one standard error of trial {best_trial} (val accuracy "
                       f"{best_accuracy:.3f}, ±{100 * best_error:.2g} points on {val_photos:,} val photos): as good "
                       "as it as far as validation can tell; choose among them on what else matters (speed, size)")
        else:
            warning = (f"warning: the val split has {val_photos:,} photo{'s' if val_photos != 1 else ''} (one photo "
                       f"= {100 * one_photo:.2g} accuracy points), too few to rank trial {best_trial} (val accuracy "
                       f"{best_accuracy:.3f}) above {others}: their accuracies differ by no more than one standard "
                       "error of the difference (or one photo), so the ranking between them is within noise; give "
                       "validation more photos (a larger share with `curate split --val`, or more photos) and search "
                       "again with another --out")
    return {"val_photos": int(val_photos), "one_photo_accuracy": round(one_photo, 4),
            "accuracy_standard_error": round(best_error, 4),
            "within_noise": close, "warning": warning}


def augment_words(augment: float, color_jitter: float, crop_scale: float) -> str:
    return f"augmentation {augment:g} (colour jitter {color_jitter:g}, crop scale {crop_scale:g})"


def epoch_count(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def rank_key(loss: float | None) -> float:
    return math.inf if loss is None or not math.isfinite(loss) else loss


# ---------------------------------------------------------------- running trials
@dataclass(frozen=True)
class Halving:
    min_epochs: int = setting(1, help="Epochs per trial in the first rung (1 head epoch included).")
    max_epochs: int = setting(9, help="Epochs in the top rung.")
    eta: int = setting(3, help="Keep the best 1/eta of each rung; the next rung trains eta x longer.")
    budget_epochs: int | None = setting(None, help=(  # None = the plan's own total (plan_epochs)
        "Most epochs trained across all trials (default: what the plan trains in all)."))

    def __post_init__(self) -> None:
        if not 1 <= self.min_epochs <= self.max_epochs:
            raise SettingError(f"need 1 <= {{min_epochs}} <= {{max_epochs}}, got {self.min_epochs} and "
                               f"{self.max_epochs}", "min_epochs", "max_epochs")
        if self.eta < 2:
            raise SettingError(f"{{eta}} must be at least 2 (keep the best 1/eta of each rung), got {self.eta}", "eta")
        if self.budget_epochs is not None and self.budget_epochs < self.min_epochs:
            raise SettingError(f"{{budget_epochs}} {self.budget_epochs} cannot pay for one trial of "
                               f"{{min_epochs}} {self.min_epochs}; raise it or leave it out", "budget_epochs",
                               "min_epochs")

    def bounded(self, n_trials: int) -> Halving:
        """This plan with its budget set: the given one, else the plan's own total for `n_trials`."""
        if self.budget_epochs is not None:
            return self
        return replace(self, budget_epochs=plan_epochs(n_trials, self))


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


TRAIN_FLAGS = ("backbone", "head_epochs", "epochs", "lr", "backbone_lr_factor", "weight_decay", "batch_size",
               "schedule", "label_smoothing", "patience", "image_size", "eval_image_size", "cache_side", "color_jitter",
               "crop_scale", "balance", "seed", "device", "workers")


def train_command_line(config: TrainConfig, workspace_root: Path | None, out: str | None = None) -> str:
    """A `classify train` line that trains this config (the searched values always, others if not default)."""
    default = TrainConfig()
    parts = ["classify", "train"]
    if workspace_root is not None:
        parts += ["--workspace", str(workspace_root)]
    if out is not None:
        parts += ["--out", out]
    for name in TRAIN_FLAGS:
        value = getattr(config, name)
        if value is not None and (name in SEARCHED or value != getattr(default, name)):
            parts += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    if config.compile:
        parts.append("--compile")
    return shlex.join(parts)


def best_record(search: Search, workspace_root: Path | None, val_photos: int | None = None) -> dict:
    """best.json: the best run's full TrainConfig, scores, the line that retrains it, and `ranking`
    (`Search.ranking`: how many val photos ranked the trials, and which trials are within noise of it)."""
    best = search.best()
    # one retrained run per search folder (audit X: every search suggested runs/tuned, refused the second time)
    out = str(Workspace(Path(workspace_root)).runs_dir / f"tuned-{search.out_dir.name}") if workspace_root is not None \
        else None
    return {"trial": best.trial.trial, "rung": best.rung, "run_dir": str(best.run_dir),
            "augment": best.trial.augment, "config": asdict(best.config),
            "metrics": {**best.outcome.metrics, "val_loss": best.outcome.val_loss,
                        "val_accuracy": best.outcome.val_accuracy, "epochs_run": best.outcome.epochs_run},
            "epochs_spent": search.spent_epochs, "budget_epochs": search.halving.budget_epochs,
            "train_command": train_command_line(best.config, workspace_root, out),
            "ranking": search.ranking(val_photos)}


def _check_settings(out_dir: Path, settings: dict) -> None:
    """Refuse to mix two searches in one OUT; the budget alone may change between runs."""
    path = out_dir / "search.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("format", 1) != settings["format"]:
            raise UsageError(f"{out_dir} holds a search from another version of classify tune (before one "
                             "augmentation strength set both colour jitter and crop scale), which cannot be "
                             "resumed; choose another --out")
        changed = sorted(k for k in settings.keys() | saved.keys()
                         if k not in ("budget_epochs", "base_config") and saved.get(k) != settings.get(k))
        base, saved_base = settings.get("base_config") or {}, saved.get("base_config") or {}
        changed += sorted("--" + k.replace("_", "-") for k in base.keys() | saved_base.keys()
                          if base.get(k) != saved_base.get(k))  # the training flag, not "base_config"
        if changed:
            raise UsageError(f"{out_dir} holds a search with other settings ({', '.join(changed)}); "
                             "repeat its options to resume it, or choose another --out")
    atomic_write_bytes(path, json.dumps(settings, indent=2).encode("utf-8"))


def tune(out_dir: Path, space: SearchSpace, base: TrainConfig, train_fn: TrainFn, *, trials: int = 8,
         mode: str = "random", seed: int = 0, halving: Halving = Halving(),
         workspace_root: Path | None = None, split_key: str | None = None,
         val_photos: int | None = None) -> tuple[pd.DataFrame, dict | None]:
    """Sample, run successive halving, write OUT/trials.csv and OUT/best.json; (table, best).

    best["ranking"] says how many val photos ranked the trials and which trials the best is within noise
    of (`ranking_noise`), with a warning line when there are any; `val_photos` is the count of val photos
    when the trainer's outcome does not give it (a fake objective's).

    Without `halving.budget_epochs` the budget is the plan's own total (printed first).
    Re-running with the same `out_dir` and settings reads finished runs back, when they trained on the
    split and labels `split_key` names (the command's: a hash of each photo's split and label; None: not
    checked).
    """
    if base.probe:  # every trial would fit the same convex head: nothing to search
        raise UsageError("classify tune searches fine-tuning settings (learning rate, weight decay, augmentation, "
                         "epochs) and a --probe run uses none of them (its L2 strength is chosen on the validation "
                         "split); tune without --probe, or train the probe with `classify train --probe`")
    out_dir = Path(out_dir)
    sampled = sample_trials(space, trials, seed, mode)
    plan = plan_epochs(len(sampled), halving)
    halving = halving.bounded(len(sampled))
    settings = {"format": SEARCH_FORMAT, "space": asdict(space), "trials": trials, "mode": mode, "seed": seed,
                **asdict(halving),
                "base_config": {k: v for k, v in base.comparable().items() if k not in SEARCHED}}
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, json.loads(json.dumps(settings)))
    schedule = "/".join(str(e) for e in rung_epochs(halving.min_epochs, halving.max_epochs, halving.eta))
    trials_text = f"{len(sampled)} trial{'s' if len(sampled) != 1 else ''}"
    log.info(f"search: {trials_text} ({mode}), rungs of {schedule} epochs, eta {halving.eta}; budget "
             f"{epoch_count(halving.budget_epochs)}" + (" (the plan's total)" if halving.budget_epochs == plan else
                                                    f" (the full plan would train {plan})"))
    search = successive_halving(sampled, base, out_dir, train_fn, halving, split_key)
    table = search.table()
    write_table(out_dir, table)
    best = best_record(search, workspace_root, val_photos) if search.best() is not None else None
    if best is not None:
        atomic_write_bytes(out_dir / "best.json", json.dumps(best, indent=2).encode("utf-8"))
    return table, best
