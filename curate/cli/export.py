"""`curate export`: the curated split as an ImageFolder tree, a Hugging Face imagefolder,
WebDataset shards or a CSV manifest, with ATTRIBUTION.csv, a dataset card and export.json."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from curate.cli.common import JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.cli.options import config_options
from curate.console import console, err_console
from curate.export.card import counts_table
from curate.export.config import ExportConfig


@user_errors
@config_options(ExportConfig, layered=False, required=("format",))
def export(
    out: Annotated[str, typer.Option("--out", "-o", help=(
        "Export folder (created; re-running updates it), or an fsspec URL (s3://bucket/prefix, gs://...: written "
        "in the workspace, then uploaded; credentials from the environment)."), show_default=False)],
    workspace_path: WorkspaceOption = None,
    settings: dict | None = None,  # one flag per ExportConfig field (curate/cli/options.py)
    as_json: JsonOption = False,
) -> None:
    """Export the kept photos of a fresh, leak-free split for torchvision, fast.ai, Keras, Hugging Face,
    WebDataset/timm or anything that reads CSV."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from curate.export import export_workspace
    from curate.pipeline.settings import build_config

    config = build_config(ExportConfig, {}, "curate export", flags=settings)
    ws = workspace(workspace_path)  # its images may be on an object store: read from there (docs/scale.md)
    with Progress(TextColumn("export {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=as_json or not err_console.is_terminal) as bar:
        task = bar.add_task("images", total=None)
        result = export_workspace(ws, out, config, progress=lambda phase, done, total: bar.update(
            task, description=phase, completed=done, total=total))
    if as_json:  # the warnings on stderr as well: JSON on stdout is read by a program, not a person
        for warning in result.warnings:
            err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
        print(json.dumps(result.to_dict(), indent=2))
        return
    summary = result.plan.summary  # counts: never a row per photo
    if summary.photos:
        table = counts_table(summary).drop(columns="total").rename_axis("label").reset_index()
        print_table(table, title=f"photos exported per label and split ({config.format})")
    console.print(f"{summary.photos:,} photos: {result.written:,} files written, {result.reused:,} unchanged, "
                  f"{result.removed:,} removed", highlight=False)
    if result.upload is not None:  # an export to an object store, written in the workspace first
        up = result.upload
        console.print(f"uploaded to {up.url}: {up.uploaded:,} files sent, {up.unchanged:,} already there, "
                      f"{up.removed:,} stale objects removed (staged in {up.staging})",
                      highlight=False, markup=False, soft_wrap=True)
    for note in result.notes:  # e.g. links that became copies: the images are on an object store
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    for warning in result.warnings:  # photos left out or flagged, copies of another collection's photos
        err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    console.print(str(result.out), highlight=False, soft_wrap=True, markup=False)
