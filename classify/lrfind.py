"""`classify lr-find`: the learning-rate range test (Smith 2015; fast.ai's lr_find).

The head trains on the frozen backbone (stage 1's setting) while the rate grows
exponentially from `start` to `end`, one mini-batch per rate. The test stops at the first
non-finite loss, or once the loss, smoothed as it comes (exponential moving average, beta
0.9, bias-corrected), exceeds 4x its lowest value since the warm-up: the loss diverged.

The suggestion (`suggest`, a pure function of the rates and the raw losses):

1. keep the points before divergence, and drop the warm-up points at the start
   (max(3, steps // 10), as fast.ai and torch-lr-finder skip them): there the rate is too
   small to matter and a few unlucky batches would read as a steep fall;
2. smooth the rest with the moving average run forwards and then backwards (zero phase:
   the whole curve is known, so the smoothed curve need not lag behind the rate as a
   one-way average does); each pass averages over about a tenth of the tested rates;
3. find the minimum of the smoothed loss, and the highest point before it;
4. if the loss falls from that high point to the minimum by at least 5% and by more than
   the batch noise (twice the raw losses' robust standard deviation around the smoothed
   curve), suggest the rate where it falls fastest: the steepest negative slope of the
   smoothed loss against log(rate) between the two (fast.ai's "steep" rule);
5. otherwise (no clear descent) fall back to the minimum's rate / 10 (fast.ai's "minimum"
   rule) and say so: the range missed the descent, or too few batches to show it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from classify.config import LR_MIN_WARMUP, LrRange
from curate.errors import UsageError
from curate.progress import progress_bar
from curate.vision.backbones import cpu_speed
from curate.workspace import atomic_write_bytes

DIVERGE = 4.0  # the smoothed loss above DIVERGE x its minimum: the rate is too high
SMOOTHING = 0.9  # beta of the running (one-way) average that watches for divergence
MIN_WARMUP = LR_MIN_WARMUP  # points skipped at the start, at least
MIN_DROP = 0.05  # a "clear descent": the smoothed loss falls by this share of its level,
NOISE_DROPS = 2.0  # and by this many standard deviations of one batch's loss
STEEPEST, FALLBACK = "steepest descent", "minimum / 10, no clear descent"


@dataclass(frozen=True)
class Suggestion:
    rate: float  # the rate to pass as --lr
    minimum_rate: float  # where the smoothed loss is lowest (after the warm-up)
    rule: str  # STEEPEST or FALLBACK
    first: int  # index of the first point searched (after the warm-up)
    smoothed: tuple[float, ...]  # the smoothed loss of the points searched: first, first + 1, ...


@dataclass
class LrFindResult:
    rates: list[float]
    losses: list[float]  # raw, one mini-batch each
    smoothed: list[float | None]  # what the suggestion searched; None for the warm-up and after divergence
    suggestion: float
    minimum_rate: float
    rule: str
    diverged_at: float | None  # the rate at which the test stopped on a diverging loss; None: it reached `end`

    def to_dict(self) -> dict:
        return asdict(self)


def smooth(losses, beta: float = SMOOTHING) -> np.ndarray:
    """Bias-corrected exponential moving average of `losses` (as Adam corrects its moments).

    >>> smooth(np.array([2.0, 2.0, 2.0])).round(6).tolist()
    [2.0, 2.0, 2.0]
    """
    from scipy.signal import lfilter

    losses = np.asarray(losses, dtype=float)
    average = lfilter([1 - beta], [1, -beta], losses)  # a_i = beta * a_(i-1) + (1 - beta) * loss_i, a_-1 = 0
    return average / (1 - beta ** np.arange(1, len(losses) + 1))


def smooth_zero_phase(losses, span: float) -> np.ndarray:
    """The exponential moving average over about `span` points, run forwards then backwards
    (scipy's filtfilt, Gustafsson's edges): no lag, and a constant stays that constant."""
    from scipy.signal import filtfilt

    beta = 1 - 1 / max(span, 2.0)
    return filtfilt([1 - beta], [1, -beta], np.asarray(losses, dtype=float), method="gust")


def warmup_points(steps: int) -> int:
    """How many points at the start of a `steps`-point test the suggestion skips."""
    return max(MIN_WARMUP, steps // 10)


def usable_length(losses, warmup: int = 0) -> int:
    """How many leading points come before divergence: the first non-finite loss, or the
    first smoothed loss (after `warmup` points) above DIVERGE x the lowest smoothed loss
    since the warm-up (one lucky early batch must not make every later loss "diverged")."""
    losses = np.asarray(losses, dtype=float)
    finite = np.isfinite(losses)
    n = len(losses) if finite.all() else int(np.argmin(finite))
    smoothed = smooth(losses[:n])[warmup:]
    above = smoothed > DIVERGE * np.minimum.accumulate(smoothed)
    return warmup + int(np.argmax(above)) if above.any() else n


def suggest(rates, losses, steps: int | None = None) -> Suggestion:
    """The learning rate to train with, from an LR range test's rates and raw losses.

    Args: `rates` increasing and positive; `losses` the raw loss of the batch trained at
    each rate (NaN/inf allowed once the loss diverged: those points and what follows are ignored);
    `steps` the test's planned length (default: the points given), which sets the warm-up and
    the smoothing span. Returns a Suggestion; see the module docstring for the rule.
    Raises ValueError with fewer than 3 points before divergence.

    Example: a loss that falls fastest at 1e-3 and blows up after 1e-1
    >>> rates = np.logspace(-7, 0, 100)
    >>> losses = 2 - np.tanh(np.log10(rates) + 3) + (rates > 0.1) * 50 * rates
    >>> 1e-4 < suggest(rates, losses).rate < 1e-2
    True
    """
    rates, losses = np.asarray(rates, dtype=float), np.asarray(losses, dtype=float)
    if rates.shape != losses.shape or rates.ndim != 1:
        raise ValueError(f"rates and losses must be 1-d and of one length, got {rates.shape} and {losses.shape}")
    if not (rates > 0).all() or not (np.diff(rates) > 0).all():
        raise ValueError("rates must be positive and increasing")
    steps = len(losses) if steps is None else steps
    n = usable_length(losses, warmup_points(steps))
    if n < 3:
        raise ValueError(f"only {n} points before the loss diverged; at least 3 are needed")
    first = min(warmup_points(steps), n - 3)  # keep at least 3 points to search
    rates = rates[first:n]
    smoothed = smooth_zero_phase(losses[first:n], span=steps / 10)
    lowest = int(np.argmin(smoothed))
    highest = int(np.argmax(smoothed[:lowest + 1]))
    minimum_rate = float(rates[lowest])
    drop = smoothed[highest] - smoothed[lowest]
    # batch-to-batch noise: the raw losses' robust spread (MAD, as a standard deviation) around the curve
    noise = 1.4826 * float(np.median(np.abs(losses[first:n] - smoothed)))
    if lowest - highest < 2 or drop < max(MIN_DROP * abs(smoothed[highest]), NOISE_DROPS * noise):
        return Suggestion(minimum_rate / 10, minimum_rate, FALLBACK, first, tuple(smoothed.tolist()))
    # central differences against log(rate); on [highest, lowest) the slope is that of the descent
    slope = np.gradient(smoothed, np.log(rates))
    steepest = highest + int(np.argmin(slope[highest:lowest]))
    return Suggestion(float(rates[steepest]), minimum_rate, STEEPEST, first, tuple(smoothed.tolist()))


def check_range(start: float, end: float, steps: int) -> None:
    """UsageError unless 0 < start < end and steps >= LR_MIN_STEPS (classify.config.LrRange)."""
    LrRange(start_lr=start, end_lr=end, steps=steps)


def lr_range_test(trainer, start: float = 1e-7, end: float = 1.0, steps: int = 100) -> LrFindResult:
    """Train `trainer`'s head for `steps` mini-batches at rates growing exponentially from
    `start` to `end` (stopping early once the loss diverges); the model is left trained."""
    check_range(start, end, steps)
    trainer._set_stage(1)
    optimizer = torch.optim.AdamW(trainer.model.head.parameters(), lr=start, weight_decay=trainer.config.weight_decay)
    factor = (end / start) ** (1 / (steps - 1))
    trainer.model.train()
    trainer.model.backbone.eval()  # frozen backbone: keep its batch-norm statistics, as training does
    rates, losses = [], []
    diverged_at, epoch = None, 0
    # a progress bar (minutes on a CPU), and denormal floats flushed on a CPU as in training
    with progress_bar(f"LR range test ({steps} batches)", steps) as advance, cpu_speed(trainer.device):
        while len(rates) < steps and diverged_at is None:
            batches = len(rates)
            for images, targets in trainer.loader("train", epoch):
                rate = start * factor ** len(rates)
                for group in optimizer.param_groups:
                    group["lr"] = rate
                images, targets = trainer.on_device(images, targets)
                with trainer.autocast():
                    loss = trainer.criterion(trainer.forward(images, all_outputs=True).float(), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = float(loss.detach())
                if not np.isfinite(value):
                    diverged_at = rate
                    break
                rates.append(rate)
                losses.append(value)
                advance()
                if usable_length(losses, warmup_points(steps)) < len(losses):
                    diverged_at = rate
                    break
                if len(rates) >= steps:
                    break
            if len(rates) == batches and diverged_at is None:
                raise UsageError("no training batches: the catalog has no kept, labelled photos in the train split")
            epoch += 1
    try:
        found = suggest(rates, losses, steps)
    except ValueError:
        raise UsageError("the loss diverged within the first batches; lower --start-lr") from None
    smoothed = [None] * len(rates)
    smoothed[found.first:found.first + len(found.smoothed)] = found.smoothed
    return LrFindResult(rates, losses, smoothed, found.rate, found.minimum_rate, found.rule, diverged_at)


def save_result(result: LrFindResult, out_dir: Path) -> None:
    """Write lr_find.png (raw and smoothed loss against the rate) and lr_find.json."""
    import matplotlib

    from classify.plots import write_png

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(result.rates, result.losses, color="tab:blue", alpha=0.3, label="loss per batch")
    smoothed = [np.nan if value is None else value for value in result.smoothed]
    axis.plot(result.rates, smoothed, color="tab:blue", label="smoothed (searched)")
    axis.axvline(result.suggestion, color="tab:red", linestyle="--",
                 label=f"suggested {result.suggestion:.1e} ({result.rule})")
    axis.axvline(result.minimum_rate, color="tab:gray", linestyle=":", label=f"minimum {result.minimum_rate:.1e}")
    searched = [value for value in result.smoothed if value is not None]
    low, high = min(min(result.losses), min(searched)), max(searched)
    # the batches that blew up would squash the curve that matters into a flat line
    axis.set_ylim(low - 0.1 * (high - low), high + 0.5 * (high - low))
    axis.set(xscale="log", xlabel="learning rate", ylabel="training loss", title="LR range test")
    axis.legend(fontsize="small")
    axis.grid(alpha=0.3)
    write_png(figure, out_dir / "lr_find.png")
    atomic_write_bytes(out_dir / "lr_find.json", json.dumps(result.to_dict(), indent=2).encode("utf-8"))
