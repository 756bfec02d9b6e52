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

The parts: the search space and its trials in classify.tune_space, running them in
classify.tune_trials, the ranking and best.json in classify.tune_ranking.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from classify.train import TrainConfig
from classify.tune_ranking import best_record
from classify.tune_space import SEARCHED, Halving, SearchSpace, plan_epochs, rung_epochs, sample_trials
from classify.tune_trials import TrainFn, epoch_count, successive_halving, write_table
from curate.errors import UsageError
from curate.workspace import atomic_write_bytes

log = logging.getLogger(__name__)

SEARCH_FORMAT = 2  # search.json layout; 1 (no "format" key) searched colour jitter alone


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
