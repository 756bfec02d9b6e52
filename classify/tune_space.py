"""The search space of `classify tune` (pure): the ranges searched (`SearchSpace`), the trials drawn from
them (`sample_trials`, `Trial`, `augmentation`) and the successive-halving plan (`Halving`, `rung_epochs`,
`plan_epochs`). classify.tune's docstring explains the search."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from curate.errors import UsageError
from curate.settings_fields import SettingError, setting

MODES = ("random", "grid")
MAX_TRIALS = 10_000  # far more than any epoch budget trains; a grid of 10^8 points would not fit in memory
SEARCHED = ("lr", "weight_decay", "color_jitter", "crop_scale", "head_epochs", "epochs")  # set per trial
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
