"""`classify predict RUN PATHS...`: the command around classify.predict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classify.predict import (
    PredictSettings,
    check_out,
    find_images,
    gate_for,
    predict_files,
    summary_line,
    write_predictions,
)
from curate.cli.common import user_errors
from curate.cli.options import config_options
from curate.console import console, err_console, progress_bar
from curate.errors import DataContractError
from curate.pipeline.settings import build_config


@user_errors
@config_options(PredictSettings, layered=False)
def predict(
    run: Annotated[Path, typer.Argument(help="Run directory from `classify train` (model.safetensors + model.json).")],
    paths: Annotated[list[Path] | None, typer.Argument(help="Images and/or folders (searched recursively).",
                                                       show_default=False)] = None,
    settings: dict | None = None,  # one flag per PredictSettings field (curate/cli/options.py)
) -> None:
    """Classify images and folders; write path, top-k labels and probabilities, and errors to a CSV.

    With the run's topic gate (default) the CSV also has `label` (off_topic below the gate) and
    `topic_score` columns."""
    from classify.model import Predictor

    config = build_config(PredictSettings, {}, "", flags=settings, command="classify predict")
    out, top_k, batch_size = config.out, config.top_k, config.batch_size
    check_out(out)
    files, warnings = find_images(list(paths or []))
    for warning in warnings:
        err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    predictor = Predictor(run, config.device)
    gate, note = gate_for(run, config.gate, predictor.feature_dim)
    if note:
        console.print(note, highlight=False, soft_wrap=True)
    with progress_bar("predicting", len(files)) as advance:
        frame = predict_files(predictor, files, top_k=top_k, batch_size=batch_size, advance=advance, gate=gate)
    write_predictions(frame, out)
    console.print(summary_line(frame, out), highlight=False, soft_wrap=True)
    if len(frame) and (frame["error"] != "").all():
        raise DataContractError(f"none of the {len(frame)} files could be read as an image; "
                                f"the reasons are in the error column of {out}")
