"""How `classify tune` ranks its trials (`promote`, `rank_key`), how far the val split can tell them apart
(`ranking_noise`), and best.json (`best_record`, with the `classify train` line that retrains the best)."""

from __future__ import annotations

import math
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from classify.train import TrainConfig
from classify.tune_space import SEARCHED
from curate.workspace import Workspace

if TYPE_CHECKING:
    from classify.tune_trials import Search


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


def rank_key(loss: float | None) -> float:
    return math.inf if loss is None or not math.isfinite(loss) else loss


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
