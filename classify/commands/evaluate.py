"""`classify evaluate RUN`: the command around classify.evaluate_run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from classify.evaluate import interval_text, sandals_summary
from classify.evaluate_run import evaluate_and_write
from classify.evaluation_files import RunEvaluation
from curate.cli.common import JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.cli.options import config_options
from curate.console import console, err_console, info_to_stderr
from curate.pipeline.settings import EvaluateSettings, build_config


@user_errors
@config_options(EvaluateSettings, layered=False)
def evaluate_command(
    run: Annotated[Path, typer.Argument(help="Run directory (model.safetensors + model.json).")],
    workspace_path: WorkspaceOption = None,
    settings: dict | None = None,  # one flag per EvaluateSettings field (curate/cli/options.py)
    as_json: JsonOption = False,
) -> None:
    """Accuracy, per-class P/R/F1, confusion matrix, most-confused pairs, top losses, accuracy per photographer."""
    config = build_config(EvaluateSettings, {}, "classify evaluate", flags=settings)  # checked as [evaluate]
    split = config.split
    with info_to_stderr():  # comparison models train: their lines on stderr, so `--json` stdout stays parseable
        evaluation, files = evaluate_and_write(run, workspace(workspace_path), split, config.top_losses, config.device,
                                               compare_random_split=config.compare_random_split,
                                               uncurated=config.uncurated)
    _warn_skipped(evaluation)
    if as_json:
        print(json.dumps({**evaluation.to_dict(), "files": {k: str(v) for k, v in files.items()}}, indent=2))
        return
    report = evaluation.report
    console.print(f"{report.photos} {split} photos · accuracy [bold]{report.accuracy:.1%}[/bold] "
                  f"({interval_text(*report.accuracy_interval)}) · "
                  f"macro F1 {report.macro['f1']:.3f} · mean loss {report.mean_loss:.3f} "
                  f"({evaluation.device})", markup=True, highlight=False)
    if evaluation.sandals_test:
        console.print(sandals_summary(evaluation.sandals_test, split=evaluation.split), highlight=False)
    print_table(_per_class_shown(report.per_class),
                title=f"per class (empty where undefined; a label with no {evaluation.split} photo: its F1 is not "
                      "measured)")
    if report.most_confused.empty:
        console.print("no confusions: every photo was classified correctly")
    else:
        print_table(report.most_confused.head(10), title="most confused (actual → predicted)")
    if evaluation.comparisons:
        from classify.compare_scores import comparison_lines, comparison_table

        print_table(comparison_table(evaluation.comparisons), title="comparisons (test accuracy)")
        for line in comparison_lines(evaluation.comparisons):
            console.print(line, highlight=False)
    console.print(f"wrote {files['evaluation.json'].parent}/: {', '.join(files)}", highlight=False)


def _warn_skipped(evaluation: RunEvaluation) -> None:
    """One line per kind of skipped photo or unmeasured label, on stderr (so `--json` stdout stays parseable)."""
    for line in evaluation.warnings:
        err_console.print(line, highlight=False, soft_wrap=True)  # one line, however long


def _per_class_shown(per_class):
    """The per-class table as the command prints it: F1 left empty for a label with no test photo (0 for
    one that was predicted, as scikit-learn counts it and the JSON keeps, read as a broken class beside
    the headline: all-real-photos audit, finding 7; macro F1 leaves such labels out)."""
    shown = per_class.round(3)
    shown.loc[shown["support"] == 0, "f1"] = float("nan")
    return shown
