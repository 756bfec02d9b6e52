"""`classify lr-find`: the learning-rate range test (Smith 2015; fast.ai's lr_find).

The head trains on the frozen backbone (stage 1's setting) while the rate grows
exponentially from `start` to `end`; the loss is smoothed (exponential moving average,
bias-corrected) and the test stops once it exceeds 4x its minimum. The suggestion is the
rate where the smoothed loss falls fastest (steepest negative slope against log rate),
searched before the minimum.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from curate.errors import UsageError
from curate.workspace import atomic_write_bytes

DIVERGE = 4.0
SMOOTHING = 0.9


@dataclass
class LrFindResult:
    rates: list[float]
    losses: list[float]  # smoothed
    suggestion: float
    minimum_rate: float

    def to_dict(self) -> dict:
        return asdict(self)


def suggest(rates: np.ndarray, smoothed: np.ndarray) -> tuple[float, float]:
    """(steepest-descent rate, rate at the minimum loss)."""
    lowest = int(np.argmin(smoothed))
    if lowest < 2:
        return float(rates[lowest]), float(rates[lowest])
    slope = np.gradient(smoothed[: lowest + 1], np.log(rates[: lowest + 1]))
    return float(rates[int(np.argmin(slope))]), float(rates[lowest])


def lr_range_test(trainer, start: float = 1e-7, end: float = 1.0, steps: int = 100) -> LrFindResult:
    if not 0 < start < end:
        raise UsageError(f"--start-lr must be positive and below --end-lr, got {start} and {end}")
    if steps < 5:
        raise UsageError(f"--steps must be at least 5, got {steps}")
    trainer._set_stage(1)
    optimizer = torch.optim.AdamW(trainer.model.head.parameters(), lr=start, weight_decay=trainer.config.weight_decay)
    factor = (end / start) ** (1 / (steps - 1))
    trainer.model.train()
    trainer.model.backbone.eval()
    rates, smoothed = [], []
    average, best = 0.0, float("inf")
    step, epoch = 0, 0
    while step < steps:
        for images, targets in trainer.loader("train", epoch):
            rate = start * factor**step
            for group in optimizer.param_groups:
                group["lr"] = rate
            images, targets = images.to(trainer.device), targets.to(trainer.device)
            loss = trainer.criterion(trainer.forward(images).float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            if not np.isfinite(value):
                step = steps
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * value
            current = average / (1 - SMOOTHING ** (step + 1))
            rates.append(rate)
            smoothed.append(current)
            best = min(best, current)
            step += 1
            if current > DIVERGE * best or step >= steps:
                step = steps
                break
        epoch += 1
    if len(rates) < 3:
        raise UsageError("the loss diverged immediately; lower --start-lr")
    suggestion, minimum = suggest(np.array(rates), np.array(smoothed))
    return LrFindResult(rates, smoothed, suggestion, minimum)


def save_result(result: LrFindResult, out_dir: Path) -> None:
    import matplotlib

    from classify.train import write_png

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(result.rates, result.losses)
    axis.axvline(result.suggestion, color="tab:red", linestyle="--", label=f"suggested {result.suggestion:.1e}")
    axis.set(xscale="log", xlabel="learning rate", ylabel="smoothed training loss", title="LR range test")
    axis.legend()
    axis.grid(alpha=0.3)
    write_png(figure, out_dir / "lr_find.png")
    atomic_write_bytes(out_dir / "lr_find.json", json.dumps(result.to_dict(), indent=2).encode("utf-8"))
