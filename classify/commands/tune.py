"""`classify tune`: the command around classify.tune with real training (classify.tune_run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classify.config import TrainConfig, check_out_folder
from classify.tune import Halving, SearchSpace, augment_words, epoch_count, rank_key, sample_trials, tune
from classify.tune_run import require_val_photos, workspace_train_fn
from curate.cli.common import WorkspaceOption, print_table, user_errors
from curate.console import console
from curate.workspace import resolve_workspace


@user_errors
def tune_command(
    workspace_path: WorkspaceOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Search folder (default: <workspace>/runs/tune); re-run to resume.")] = None,
    trials: Annotated[int, typer.Option("--trials", help="Random trials, or the most grid points.")] = 8,
    mode: Annotated[str, typer.Option("--mode", help="random or grid.")] = "random",
    min_epochs: Annotated[int, typer.Option(
        "--min-epochs", help="Epochs per trial in the first rung (1 head epoch included).")] = 1,
    max_epochs: Annotated[int, typer.Option("--max-epochs", help="Epochs in the top rung.")] = 9,
    eta: Annotated[int, typer.Option(
        "--eta", help="Keep the best 1/eta of each rung; the next rung trains eta x longer.")] = 3,
    budget_epochs: Annotated[int | None, typer.Option(
        "--budget-epochs", help="Most epochs trained across all trials (default: what the plan trains in all).",
    )] = None,
    lr_min: Annotated[float, typer.Option("--lr-min")] = 1e-4,
    lr_max: Annotated[float, typer.Option("--lr-max")] = 3e-2,
    wd_min: Annotated[float, typer.Option(
        "--wd-min", help="Weight decay range (log-uniform; 0 and 0 turns it off).")] = 1e-5,
    wd_max: Annotated[float, typer.Option("--wd-max")] = 1e-1,
    augment_min: Annotated[float, typer.Option(
        "--augment-min",
        help="Augmentation strength range in [0, 1] (uniform): 0 = no colour jitter, whole-image crops; 1 = jitter "
             "0.4, crops down to 8% of the area.",
    )] = 0.0,
    augment_max: Annotated[float, typer.Option("--augment-max")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the sampler and every trial's training.")] = 0,
    backbone: Annotated[str, typer.Option("--backbone")] = "efficientnet_lite0",
    image_size: Annotated[int, typer.Option("--image-size")] = 224,
    cache_side: Annotated[int, typer.Option(
        "--cache-side", help="Short side of the pre-resized image cache (at least --image-size).")] = 256,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA > MPS > CPU), cuda, mps or cpu.")] = "auto",
    workers: Annotated[int | None, typer.Option("--workers", help="DataLoader worker processes.")] = None,
) -> None:
    """Search lr, weight decay and augmentation strength with successive halving; write trials.csv and best.json."""
    space = SearchSpace(lr_min, lr_max, wd_min, wd_max, augment_min, augment_max)
    halving = Halving(min_epochs, max_epochs, eta, budget_epochs)
    base = TrainConfig(backbone=backbone, image_size=image_size, cache_side=cache_side, batch_size=batch_size,
                       seed=seed, device=device, workers=workers)
    sample_trials(space, trials, seed, mode)  # bad --trials / --mode before touching the workspace
    ws = resolve_workspace(workspace_path)
    require_val_photos(ws)
    out_dir = out or ws.root / "runs" / "tune"
    check_out_folder(out_dir)
    table, best = tune(out_dir, space, base, workspace_train_fn(ws), trials=trials, mode=mode, seed=seed,
                       halving=halving, workspace_root=ws.root)
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
