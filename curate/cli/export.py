"""`curate export`: the curated split as an ImageFolder tree, a Hugging Face imagefolder,
WebDataset shards or a CSV manifest, with ATTRIBUTION.csv, a dataset card and export.json."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from curate.cli.common import (
    JsonOption,
    RecipeOption,
    WorkspaceOption,
    print_table,
    recipe_section,
    user_errors,
    workspace,
)
from curate.cli.options import config_options
from curate.console import console, err_console
from curate.errors import UsageError
from curate.export.card import counts_table
from curate.export.config import FORMATS, ExportConfig


@user_errors
@config_options(ExportConfig, show_defaults=True)
def export(
    out: Annotated[str | None, typer.Option("--out", "-o", help=(
        "Export folder (created; re-running updates it), or an fsspec URL (s3://bucket/prefix, gs://...: written "
        "in the workspace, then uploaded; credentials from the environment). Default: the --recipe's [export] out, "
        "in the workspace."), show_default=False)] = None,
    workspace_path: WorkspaceOption = None,
    settings: dict | None = None,  # one flag per ExportConfig field (curate/cli/options.py)
    recipe: RecipeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export the kept photos of a fresh, leak-free split for torchvision, fast.ai, Keras, Hugging Face,
    WebDataset/timm or anything that reads CSV."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from curate.export import export_workspace
    from curate.pipeline.settings import build_config

    section, where = recipe_section(recipe, "export")  # a flag given wins over the recipe's [export] (audit CG)
    recipe_out = section.pop("out", None)
    if "format" not in section and "format" not in (settings or {}):  # as it was: the format is the user's choice
        raise UsageError(f"say which format: --format {'|'.join(FORMATS)}"
                         + (f" (recipe {recipe} has no [export] format)" if recipe else ""))
    config = build_config(ExportConfig, section, where or "curate export", flags=settings)
    ws = workspace(workspace_path)  # its images may be on an object store: read from there (docs/scale.md)
    out = out if out is not None else export_target(ws, recipe_out, recipe)  # "" is refused as before
    with Progress(TextColumn("export {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True, disable=as_json or not err_console.is_terminal) as bar:
        task = bar.add_task("images", total=None)
        result = export_workspace(ws, out, config, recipe=recipe_name(recipe),
                                  progress=lambda phase, done, total: bar.update(
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


def recipe_name(recipe: str | None) -> str | None:
    """The recipe's name, for export.json's provenance (as `curate run` records it)."""
    from curate.recipes import load_recipe

    return load_recipe(recipe).name if recipe else None


def export_target(ws, recipe_out: object, recipe: str | None) -> str:
    """Where `curate export` writes without --out: the recipe's [export] out (default `export`), as `curate run`
    reads it (a path relative to the workspace, or a URL); without a recipe, --out is needed."""
    from pathlib import Path

    from curate.objectstore import is_url

    if recipe is None:
        raise UsageError("say where to export: --out FOLDER (or an s3:// / gs:// URL)")
    recipe_out = "export" if recipe_out is None else recipe_out  # as `curate run` reads [export] (docs/recipes.md)
    if not isinstance(recipe_out, str) or not recipe_out.strip():
        raise UsageError(f"recipe {recipe} [export]: out must be a folder path or a URL (a string), got {recipe_out!r}")
    if is_url(recipe_out):
        from curate.objectstore import check_store_uri

        check_store_uri(recipe_out, f"recipe {recipe} [export] out")
        return recipe_out
    return recipe_out if Path(recipe_out).is_absolute() else str(ws.root / recipe_out)
