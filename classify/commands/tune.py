"""`classify tune`: the command around classify.tune with real training (classify.tune_run)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Annotated

import typer

from classify.config import TrainConfig, check_out_folder
from classify.tune import tune
from classify.tune_ranking import rank_key
from classify.tune_run import require_val_photos, workspace_train_fn
from classify.tune_space import Halving, SearchSpace, sample_trials
from classify.tune_trials import augment_words, epoch_count
from curate import schema
from curate.cli.common import WorkspaceOption, print_table, terminate_as_interrupt, user_errors
from curate.cli.options import config_options
from curate.console import console, err_console
from curate.pipeline.settings import build_config
from curate.workspace import resolve_workspace

# the settings of each trial's training that the search does not choose (TrainConfig's flags)
TRAIN_FLAGS = ("backbone", "image_size", "cache_side", "batch_size", "device", "workers")


@user_errors
@config_options(TrainConfig, layered=False, param="train_settings",
                skip=tuple(item.name for item in fields(TrainConfig) if item.name not in TRAIN_FLAGS))
@config_options(SearchSpace, layered=False, param="space_settings")
@config_options(Halving, layered=False, param="halving_settings")
def tune_command(
    workspace_path: WorkspaceOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Search folder (default: <workspace>/runs/tune); re-run to resume.")] = None,
    trials: Annotated[int, typer.Option("--trials", help="Random trials, or the most grid points.")] = 8,
    mode: Annotated[str, typer.Option("--mode", help="random or grid.")] = "random",
    halving_settings: dict | None = None,  # --min-epochs, --max-epochs, --eta, --budget-epochs (Halving)
    space_settings: dict | None = None,  # --lr-min ... --augment-max (SearchSpace)
    seed: Annotated[int, typer.Option("--seed", help="Seeds the sampler and every trial's training.")] = 0,
    train_settings: dict | None = None,  # --backbone, --image-size, ... (TrainConfig's)
) -> None:
    """Search lr, weight decay and augmentation strength with successive halving; write trials.csv and best.json."""
    space = build_config(SearchSpace, {}, "", flags=space_settings, command="classify tune")
    halving = build_config(Halving, {}, "", flags=halving_settings, command="classify tune")
    base = build_config(TrainConfig, {}, "", flags={**train_settings, "seed": seed}, command="classify tune")
    sample_trials(space, trials, seed, mode)  # bad --trials / --mode before touching the workspace
    from classify.run_files import frame_sha256
    from classify.train import check_workspace_split

    ws = resolve_workspace(workspace_path)
    out_dir = out or ws.runs_dir / "tune"
    check_out_folder(out_dir)  # first: a bad --out is the cheapest to say
    catalog, _ = check_workspace_split(ws)  # a stale or leaky split: exit 3 before the plan and the first trial
    rows = require_val_photos(catalog)  # and fewer than two labels to train on: before search.json is written
    # which photo is in which split, with which label: a re-split or a review's relabelling (audit O) makes
    # a finished trial's val loss incomparable with a new one's
    split_key = lambda rows: frame_sha256(rows.sort_values(schema.PHOTO_ID))  # noqa: E731
    with terminate_as_interrupt():  # SIGTERM: the "interrupted: run the same command again" line, as Ctrl-C
        table, best = tune(out_dir, space, base, workspace_train_fn(ws), trials=trials, mode=mode, seed=seed,
                           halving=halving, workspace_root=ws.root, split_key=split_key(rows),
                           val_photos=int((rows["split"] == "val").sum()))
    # colour jitter and crop scale follow from augment: in trials.csv and the best line, not on screen
    shown = table.drop(columns=["run_dir", "color_jitter", "crop_scale"]).round({"val_loss": 4, "val_accuracy": 3})
    print_table(shown, title=f"trials ({out_dir / 'trials.csv'})")
    if best is None:
        console.print("no trial finished within the budget; raise --budget-epochs", highlight=False)
        return
    config, metrics = best["config"], best["metrics"]
    accuracy = "n/a" if metrics["val_accuracy"] is None else f"{metrics['val_accuracy']:.3f}"
    augment = augment_words(best["augment"], config["color_jitter"], config["crop_scale"])
    console.print(f"best: trial {best['trial']} (lr {config['lr']:g}, weight decay {config['weight_decay']:g}, "
                  f"{augment}, {epoch_count(config['head_epochs'] + config['epochs'])}): "
                  f"val loss {rank_key(metrics['val_loss']):.4f}, val accuracy {accuracy}; "
                  f"{best['epochs_spent']} of {epoch_count(best['budget_epochs'])} budgeted trained", highlight=False)
    console.print(f"its model: {best['run_dir']} (classify evaluate {best['run_dir']}); config: "
                  f"{out_dir / 'best.json'}", highlight=False)
    console.print(f"to train it again: {best['train_command']}", highlight=False, soft_wrap=True)
    ranking = best.get("ranking")
    if ranking:
        console.print(f"ranked on {ranking['val_photos']:,} val photos: one photo = "
                      f"{100 * ranking['one_photo_accuracy']:.2g} accuracy points, the best's val accuracy "
                      f"±{ranking['accuracy_standard_error']:.3f} (one standard error)", highlight=False,
                      soft_wrap=True)
    if ranking and ranking["warning"]:
        err_console.print(ranking["warning"], highlight=False, markup=False, soft_wrap=True)
