"""The `classify` command line."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Annotated

import typer

from classify.commands.evaluate import evaluate_command
from classify.commands.predict import predict
from classify.commands.serve import serve
from classify.commands.tune import tune_command
from classify.config import LrRange, TrainConfig
from classify.devices import describe_devices
from curate.cli.common import WorkspaceOption, interrupt_code, run_app, terminate_as_interrupt, user_errors
from curate.cli.help import HelpTyper
from curate.cli.options import config_options
from curate.console import console
from curate.errors import UsageError
from curate.pipeline.settings import build_config
from curate.workspace import Workspace, resolve_workspace

app = HelpTyper(name="classify", help="Train and serve an image classifier on a curated catalog.",
                no_args_is_help=True, add_completion=False)


@app.callback()
def _group() -> None:
    """Train and serve an image classifier on a curated catalog."""


@app.command("devices")
@user_errors
def devices(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the torch build and which device `--device auto` will use."""
    facts = describe_devices()
    if as_json:
        print(json.dumps(facts, indent=2))
        return
    console.print(f"torch {facts['torch']}; auto device: [bold]{facts['auto']}[/bold]; "
                  f"CUDA: {', '.join(facts['cuda_devices']) or 'none'}; MPS: {facts['mps']}; "
                  f"CPU threads: {facts['cpu_threads']}", markup=True)


app.command("evaluate")(evaluate_command)
app.command("predict")(predict)
app.command("serve")(serve)
app.command("tune")(tune_command)



def _run_dir(workspace_dir, out, backbone: str):
    from datetime import datetime

    if out is not None:
        return out
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Workspace(Path(workspace_dir)).runs_dir / f"{backbone}-{stamp}"


def gate_line(gate: dict | None) -> str:
    """One line on the run's topic gate: fitted (threshold, counts) or why there is none."""
    if not gate:
        return "topic gate: not fitted (training did not run to its end)"
    if not gate.get("fitted"):
        return (f"topic gate: none ({gate.get('reason', 'no off-topic photos')}); "
                "predict and serve use the classifier alone")
    val = gate.get("on_topic_val_gated_oof")
    return (f"topic gate: threshold {gate['threshold']:.3f} ({gate['calibration']}) on {gate['on_topic']:,} on-topic "
            f"and {gate['off_topic']:,} off-topic photos; out of fold it gates {gate['off_topic_gated_oof']:.1%} of "
            f"off-topic photos" + ("" if val is None else f" and {val:.1%} of on-topic val photos"))


@app.command("train")
@user_errors
@config_options(TrainConfig, layered=False)
def train_command(
    ctx: typer.Context,
    workspace_path: WorkspaceOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Run directory (default: <workspace>/runs/<backbone>-<time>).")] = None,
    settings: dict | None = None,  # one flag per TrainConfig field (curate/cli/options.py)
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the interrupted run in --out exactly, with its settings.")] = False,
    allow_leakage: Annotated[bool, typer.Option(
        "--allow-leakage", help="Train even if the split leaks (scores will be inflated).")] = False,
) -> None:
    """Fine-tune a pretrained backbone on the catalog's kept photos and their split."""
    from classify.run_files import load_checkpoint_state, resumed_config
    from classify.train import train
    from curate.pipeline.settings import build_config

    ws = resolve_workspace(workspace_path)
    state = None
    if resume:
        if out is None:
            raise UsageError("--resume needs --out RUN_DIR (the run to continue)")
        state = load_checkpoint_state(out)  # read once: its settings here, its weights in train()
        # The run's own settings, except flags given again (device and workers may change).
        given = {name for name in settings if ctx.get_parameter_source(name).name == "COMMANDLINE"}
        config = resumed_config(state, {name: settings[name] for name in given})
    else:
        config = build_config(TrainConfig, {}, "classify train", flags=settings)
    run_dir = _run_dir(ws.root, out, config.backbone)
    try:
        with terminate_as_interrupt():
            trainer = train(ws, run_dir, config, resume=resume, allow_leakage=allow_leakage, checkpoint_state=state)
    except KeyboardInterrupt as exc:
        # the generic "run the same command again" would be refused (the folder holds a run now)
        console_err_line(interrupted_line(run_dir, ws.root, workspace_path is not None))
        raise typer.Exit(interrupt_code(exc)) from None
    if not trainer.dist.main:
        return
    metrics = trainer.meta().metrics
    console.print(gate_line(trainer.gate), highlight=False, soft_wrap=True)
    accuracy = "n/a (no val split)" if metrics["val_accuracy"] is None else round(metrics["val_accuracy"], 4)
    import shlex

    from curate.freshness_advice import workspace_flag

    flag = workspace_flag(ws)  # (audit DA: pasted without it, evaluate looked for ./workspace)
    console.print(f"run: {run_dir} (best epoch {metrics['best_epoch']}, val accuracy {accuracy}); "
                  f"next: classify evaluate {shlex.quote(str(run_dir))}{' ' + flag if flag else ''}", highlight=False)


def interrupted_line(run_dir: Path, workspace_root: Path, workspace_given: bool) -> str:
    """What to do after Ctrl-C stopped `classify train` in `run_dir`: resume it (naming the
    folder and the epochs saved), or, when no epoch was saved, run the command again."""
    from classify.train import CHECKPOINT

    if not (Path(run_dir) / CHECKPOINT).is_file():
        return ("interrupted before the first epoch was saved: nothing to resume; run the same command again "
                "to start over")
    try:
        epochs = sum(1 for _ in (Path(run_dir) / "metrics.csv").open(encoding="utf-8")) - 1
    except OSError:
        epochs = 0
    done = f" after epoch {epochs}" if epochs > 0 else ""
    workspace = f" --workspace {workspace_root}" if workspace_given else ""
    return f"interrupted{done}: resume with classify train{workspace} --out {run_dir} --resume"


def console_err_line(text: str) -> None:
    from curate.console import err_console

    err_console.print(text, highlight=False, soft_wrap=True)


# the settings of the network the range test trains (TrainConfig's flags)
LR_FIND_TRAIN_FLAGS = ("backbone", "batch_size", "image_size", "cache_side", "seed", "device", "workers")


@app.command("lr-find")
@user_errors
@config_options(TrainConfig, layered=False, param="train_settings",
                skip=tuple(item.name for item in fields(TrainConfig) if item.name not in LR_FIND_TRAIN_FLAGS))
@config_options(LrRange, layered=False, param="range_settings")
def lr_find_command(
    workspace_path: WorkspaceOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for lr_find.png / lr_find.json (default: <workspace>/runs/lr-find).")] = None,
    range_settings: dict | None = None,  # --start-lr, --end-lr, --steps (classify.config.LrRange)
    train_settings: dict | None = None,  # --backbone, --batch-size, ... (TrainConfig's)
    allow_leakage: Annotated[bool, typer.Option(
        "--allow-leakage", help="Run even if the split leaks (as `classify train --allow-leakage`).")] = False,
) -> None:
    """LR range test: plot loss against an exponentially growing rate and suggest one for --lr."""
    from classify.config import check_out_folder
    from classify.lrfind import STEEPEST, lr_range_test, save_result
    from classify.train import check_workspace_split
    from classify.trainer import Trainer, seed_everything

    config = build_config(TrainConfig, {}, "", flags=train_settings, command="classify lr-find")
    # before the slow part: the model and the image cache
    lr_range = build_config(LrRange, {}, "", flags=range_settings, command="classify lr-find")
    start_lr, end_lr, steps = lr_range.start_lr, lr_range.end_lr, lr_range.steps
    ws = resolve_workspace(workspace_path)
    seed_everything(config.seed)
    out_dir = out or ws.runs_dir / "lr-find"
    check_out_folder(out_dir)
    check_workspace_split(ws, allow_leakage)  # the photos `classify train` would train on, or exit 3 as it does
    result = lr_range_test(Trainer(ws, out_dir, config), start_lr, end_lr, steps)
    save_result(result, out_dir)
    if result.rule != STEEPEST:
        console.print(f"no clear descent in the loss between {start_lr:g} and {result.rates[-1]:.2e} (it is within "
                      "the batch noise): the suggestion is the minimum's rate / 10; for a sharper one use more "
                      "--steps or a larger --batch-size", highlight=False)
    console.print(f"suggested --lr {result.suggestion:.2e} ({result.rule}; loss minimum at "
                  f"{result.minimum_rate:.2e}); plot: {out_dir / 'lr_find.png'}", highlight=False)


def main() -> None:
    run_app(app, "classify")


if __name__ == "__main__":
    main()
