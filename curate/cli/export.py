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
from curate.export.plan import AMBIGUOUS, DAMAGED_REASON


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
    missing = result.plan.missing
    damaged = missing[missing["reason"] == DAMAGED_REASON]
    absent = missing[missing["reason"] != DAMAGED_REASON]
    if len(absent):
        err_console.print(f"warning: {len(absent)} photos have no stored image and were not exported "
                          f"(first: {absent.iloc[0]['photo_id']}); {result.out}/export.json lists them",
                          highlight=False, markup=False, soft_wrap=True)
    if len(damaged):
        err_console.print(f"warning: {len(damaged)} stored image{'s are' if len(damaged) > 1 else ' is'} damaged "
                          f"(the bytes no longer match the SHA-256 they were stored under; first: "
                          f"{damaged.iloc[0]['photo_id']}) and not exported; {result.out}/export.json lists them. "
                          "Delete the damaged files from the image store and run `curate ingest` again to store "
                          "them anew", highlight=False, markup=False, soft_wrap=True)
    ambiguous = result.plan.excluded.get(AMBIGUOUS, 0)
    if ambiguous:
        one = ambiguous == 1
        err_console.print(f"warning: {ambiguous:,} kept photo{' has' if one else 's have'} tags naming two or more "
                          f"labels (the filter held {'its' if one else 'their'} drops as ambiguous) and "
                          f"{'was' if one else 'were'} not exported; `curate review --queue ambiguous` gives each "
                          "its label", highlight=False, markup=False, soft_wrap=True)
    unlabelled = result.plan.excluded.get("kept without a label", 0)
    if unlabelled:
        one = unlabelled == 1
        err_console.print(f"warning: {unlabelled:,} kept photo{' has' if one else 's have'} no label and "
                          f"{'was' if one else 'were'} not exported; give {'it' if one else 'them'} a label (label "
                          "folders, a label column, or `curate review`) to include them",
                          highlight=False, markup=False, soft_wrap=True)
    if as_json:
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
    for warning in result.warnings:  # the exported split holds copies of another collection's photos
        err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    console.print(str(result.out), highlight=False, soft_wrap=True, markup=False)
