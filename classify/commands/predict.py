"""`classify predict RUN PATHS...`: the command around classify.predict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from classify.predict import (
    DEFAULT_OUT,
    check_out,
    find_images,
    gate_for,
    predict_files,
    summary_line,
    write_predictions,
)
from curate.cli.common import user_errors
from curate.console import console, progress_bar
from curate.errors import DataContractError, UsageError


@user_errors
def predict(
    run: Annotated[Path, typer.Argument(help="Run directory from `classify train` (model.safetensors + model.json).")],
    paths: Annotated[list[Path] | None, typer.Argument(help="Images and/or folders (searched recursively).",
                                                       show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write.")] = DEFAULT_OUT,
    top_k: Annotated[int, typer.Option("--top-k", help="Labels per image, most probable first.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 32,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA > MPS > CPU), cuda, mps or cpu.")] = "auto",
    use_gate: Annotated[bool, typer.Option("--gate/--no-gate", help="Answer off_topic below the run's topic gate "
                                           "(default); --no-gate: the classifier alone.")] = True,
) -> None:
    """Classify images and folders; write path, top-k labels and probabilities, and errors to a CSV.

    With the run's topic gate (default) the CSV also has `label` (off_topic below the gate) and
    `topic_score` columns."""
    from classify.model import Predictor

    if top_k < 1 or batch_size < 1:
        raise UsageError("--top-k and --batch-size must be at least 1")
    check_out(out)
    files = find_images(list(paths or []))
    predictor = Predictor(run, device)
    gate, note = gate_for(run, use_gate, predictor.feature_dim)
    if note:
        console.print(note, highlight=False, soft_wrap=True)
    with progress_bar("predicting", len(files)) as advance:
        frame = predict_files(predictor, files, top_k=top_k, batch_size=batch_size, advance=advance, gate=gate)
    write_predictions(frame, out)
    console.print(summary_line(frame, out), highlight=False, soft_wrap=True)
    if len(frame) and (frame["error"] != "").all():
        raise DataContractError(f"none of the {len(frame)} files could be read as an image; "
                                f"the reasons are in the error column of {out}")
