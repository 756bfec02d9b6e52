"""`curate split` and `curate check-leakage`."""

from __future__ import annotations

import json
from typing import Annotated

import pyarrow as pa
import typer

from curate import schema
from curate.cli.common import CatalogEngineOption, JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.cli.options import config_options
from curate.console import console, err_console
from curate.errors import EXIT_DATA, UsageError
from curate.leakage import workspace_leakage
from curate.split import SplitConfig, run_split


@user_errors
@config_options(SplitConfig, layered=False)
def split(
    workspace_path: WorkspaceOption = None,
    settings: dict | None = None,  # one flag per SplitConfig field (curate/cli/options.py)
    catalog_engine: CatalogEngineOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train/val/test split grouped by photographer and duplicate cluster, stratified by label."""
    from curate.pipeline import build_config

    config = build_config(SplitConfig, {}, "curate split", flags=settings)
    report = run_split(workspace(workspace_path), config, engine=catalog_engine)
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(report.summary(), highlight=False, markup=False, soft_wrap=True)
    table = report.per_label
    pct = lambda req, got: f"{req:.0%}→{got:.1%}"  # noqa: E731
    compact = table[["label", "photos"]].assign(
        **{name: table[f"{name}_photos"].astype(str) + "/" + table[f"{name}_owners"].astype(str)
           for name in ("train", "val", "test")},
        val_share=[pct(r, g) for r, g in zip(table["val_requested"], table["val_achieved"])],
        test_share=[pct(r, g) for r, g in zip(table["test_requested"], table["test_achieved"])],
        ok=table["within_tolerance"].map({True: "yes", False: "NO"}))
    if table["no_owner"].any():  # photos without an owner: in the photos, never among the photographers
        compact.insert(2, "no owner", table["no_owner"])
    print_table(compact, title="photos/photographers per split (photos without an owner: no photographer); "
                               "shares requested→achieved (ok: ±2pp)")


@user_errors
def check_leakage(
    workspace_path: WorkspaceOption = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Also check this column (e.g. a day or a location cell).")] = None,
    catalog_engine: CatalogEngineOption = None,
    as_json: JsonOption = False,
) -> None:
    """List every owner, near-duplicate cluster and exact hash present in 2+ splits (exit 3 if any)."""
    ws = workspace(workspace_path)
    if by is not None and by not in ("owner", "none") and by not in schema.NAMES:
        raise UsageError(f"--by {by!r} is not a catalog column")
    if by in schema.COLUMN_BY_NAME and pa.types.is_list(schema.COLUMN_BY_NAME[by].type):
        raise UsageError(f"--by {by} holds a list per photo, not one group; check a column with one value per "
                         "photo (e.g. a day or a location cell)")
    leaks = workspace_leakage(ws, by, engine=catalog_engine)  # refuses a stale split: no false all-clear
    if as_json:
        print(json.dumps({"leaks": leaks.to_dict("records"), "count": len(leaks)}, indent=2, default=str))
    elif leaks.empty:
        console.print("no leakage: no owner, near-duplicate cluster or exact image spans two splits")
    else:
        print_table(leaks.groupby("kind").size().rename("groups").reset_index(), title="leaks by kind")
        print_table(leaks.head(50).drop(columns="photos_per_split"), title="leaking groups (first 50)")
    if len(leaks):
        raise typer.Exit(EXIT_DATA)
