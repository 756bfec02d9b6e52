"""`curate export`: the curated split as an ImageFolder tree, a Hugging Face imagefolder,
WebDataset shards or a CSV manifest, with ATTRIBUTION.csv, a dataset card and export.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from curate.cli.common import JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.console import console, err_console


def _names(text: str | None) -> tuple[str, ...] | None:
    """'train, val' -> ('train', 'val'); None stays None."""
    return None if text is None else tuple(part.strip() for part in text.split(",") if part.strip())


@user_errors
def export(
    format: Annotated[str, typer.Option("--format", "-f", help="imagefolder, hf, hf-parquet, webdataset or csv.",
                                        show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Export folder (created; re-running updates it).",
                                      show_default=False)],
    workspace_path: WorkspaceOption = None,
    splits: Annotated[str | None, typer.Option("--splits", help="Splits to export, e.g. train,val "
                                               "(default: all).")] = None,
    link: Annotated[str, typer.Option("--link", help="copy, hardlink or symlink (folder formats).")] = "copy",
    labels: Annotated[str, typer.Option("--labels", help="kept: kept photos with a split; all: also every other "
                                        "labelled photo, in an 'unsplit' split.")] = "kept",
    resize: Annotated[int | None, typer.Option("--resize", help="Shrink the longest side to this many pixels "
                                               "(JPEG).")] = None,
    licences: Annotated[str | None, typer.Option(
        "--licences", help="Only these licences, e.g. cc-by,cc-by-sa,cc0.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a folder that holds something else.")] = False,
    shard_samples: Annotated[int, typer.Option(
        "--shard-samples", help="Most samples per shard (webdataset, hf-parquet).")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Export the kept photos of a fresh, leak-free split for torchvision, fast.ai, Keras, Hugging Face,
    WebDataset/timm or anything that reads CSV."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from curate.export import ExportConfig, export_workspace

    config = ExportConfig(format=format, splits=_names(splits), link=link, labels=labels, resize=resize,
                          licences=_names(licences), overwrite=overwrite, shard_samples=shard_samples)
    ws = workspace(workspace_path)
    with Progress(TextColumn("export {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=as_json) as bar:
        task = bar.add_task("images", total=None)
        result = export_workspace(ws, out, config, progress=lambda phase, done, total: bar.update(
            task, description=phase, completed=done, total=total))
    missing = result.plan.missing
    if len(missing):
        err_console.print(f"warning: {len(missing)} photos have no stored image and were not exported "
                          f"(first: {missing.iloc[0]['photo_id']}); {out / 'export.json'} lists them",
                          highlight=False, markup=False, soft_wrap=True)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    rows = result.plan.rows
    if len(rows):
        table = pd.crosstab(rows["label"], rows["split"])
        table = table[[s for s in ("train", "val", "test", "unsplit") if s in table.columns]].reset_index()
        print_table(table, title=f"photos exported per label and split ({config.format})")
    console.print(f"{len(rows):,} photos: {result.written:,} files written, {result.reused:,} unchanged, "
                  f"{result.removed:,} removed", highlight=False)
    console.print(str(out), highlight=False, soft_wrap=True, markup=False)
