"""`curate split` and `curate check-leakage`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from curate import schema
from curate.cli.common import (
    CatalogEngineOption,
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
from curate.errors import EXIT_DATA, UsageError
from curate.leakage import empty_column_note, workspace_leakage
from curate.leakage_lookalikes import SHOWN, save_lookalikes, workspace_lookalikes
from curate.pipeline.settings import LeakageSettings, build_config
from curate.split import SplitConfig, by_refusal, run_split


@user_errors
@config_options(SplitConfig, show_defaults=True)
def split(
    workspace_path: WorkspaceOption = None,
    settings: dict | None = None,  # one flag per SplitConfig field (curate/cli/options.py)
    recipe: RecipeOption = None,
    catalog_engine: CatalogEngineOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train/val/test split grouped by photographer and duplicate cluster, stratified by label."""
    section, where = recipe_section(recipe, "split")  # a flag given wins over the recipe's [split] (audit CG)
    config = build_config(SplitConfig, section, where or "curate split", flags=settings)
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
@config_options(LeakageSettings, show_defaults=True)
def check_leakage(
    workspace_path: WorkspaceOption = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Also check this column (e.g. a day or a location cell).")] = None,
    settings: dict | None = None,  # --against (LeakageSettings, curate/cli/options.py)
    drop_decisions: Annotated[Path | None, typer.Option(
        "--drop-decisions", metavar="FILE", help=(
            "With --against: write a review decision dropping each copy to FILE; `curate review "
            "--import-decisions FILE` applies them (undoable in the review app)."))] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Images read in parallel (with --against).")] = 2,
    recipe: RecipeOption = None,
    catalog_engine: CatalogEngineOption = None,
    as_json: JsonOption = False,
) -> None:
    """List every owner, near-duplicate cluster and exact hash present in 2+ splits, and with --against the
    photos copied from another collection (exit 3 if any); val/test photos that look like a train photo
    (embeddings) are listed for review, not counted."""
    ws = workspace(workspace_path)
    if by is not None and by not in ("owner", "none") and by not in schema.NAMES:
        raise UsageError(f"--by {by!r} is not a catalog column")
    if by is not None and (reason := by_refusal(by)):  # as `curate split --by` refuses it (audit U)
        raise UsageError(f"--by {by} cannot be checked: {reason}; check owner (default) or another column with one "
                         "value per photo (e.g. a day or a location cell)")
    section, where = recipe_section(recipe, "leakage")
    config = build_config(LeakageSettings, section, where or "curate check-leakage", flags=settings)
    against = Path(config.against).expanduser() if config.against else None
    if against is not None and recipe and "against" not in (settings or {}):  # the recipe's: from its folder
        from curate.pipeline.sources import recipe_relative
        from curate.recipes import load_recipe

        against = recipe_relative(load_recipe(recipe), against)  # as `curate run` reads it (review CO)
    copies = None
    if drop_decisions is not None and against is None:
        raise UsageError("--drop-decisions writes the copies --against finds; add --against WORKSPACE")
    if against is not None:
        from curate.contamination import (
            against_workspace,
            copies_of,
            drop_copies_commands,
            save_copies_report,
            write_drop_decisions,
        )
        from curate.workspace import read_catalog

        other, notes = against_workspace(ws, against, workers)  # a folder of photos is ingested first
        for note in notes:  # on stderr under --json: stdout is the JSON alone
            (err_console if as_json else console).print(f"note: {note}", highlight=False, markup=False,
                                                        soft_wrap=True)
        copies = copies_of(ws, other, workers)
        save_copies_report(ws, copies, str(against))  # `curate report` shows it under the splits
        if drop_decisions is not None:
            written = write_drop_decisions(copies, other, drop_decisions)
            err_console.print(f"wrote {written:,} drop decision{'s' if written != 1 else ''} to {drop_decisions}; "
                              f"apply them with `curate review --import-decisions {drop_decisions}`",
                              highlight=False, markup=False, soft_wrap=True)
        if not read_catalog(ws)["split"].notna().any():  # nothing split yet: only the copies are checked
            leaks = None
        else:
            leaks = workspace_leakage(ws, by, engine=catalog_engine)
    else:
        leaks = workspace_leakage(ws, by, engine=catalog_engine)  # refuses a stale split: no false all-clear
    note = empty_column_note(ws, by)
    if note:  # on stderr under --json: stdout is the JSON alone
        (err_console if as_json else console).print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    # a copy the filter missed crosses the split unseen: listed for review, not counted as a leak (docs/splits.md)
    alike = workspace_lookalikes(ws, config.lookalike_cosine) if leaks is not None else None
    unsaved = save_lookalikes(ws, alike) if alike is not None else None  # `curate report` shows them
    for note in [*(alike.notes if alike is not None else ()), *([unsaved] if unsaved else [])]:
        (err_console if as_json else console).print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    if as_json:
        found = {"leaks": [] if leaks is None else leaks.to_dict("records"),
                 "count": 0 if leaks is None else len(leaks)}
        if alike is not None and alike.pairs is not None:
            found.update(look_alikes=alike.records(), look_alike_cosine=alike.min_cosine,
                         look_alike_nearest_cosine=alike.nearest)
        if copies is not None:
            found.update(copies=copies.copies.to_dict("records"), copies_count=len(copies.copies),
                         copies_checked=copies.checked, other_images=copies.other_images, notes=copies.notes)
        print(json.dumps(found, indent=2, default=str))
    else:
        if leaks is None:
            console.print("note: no split yet, so only the copies of the other collection were checked")
        elif leaks.empty:  # with copies of another collection found, "no leakage" first would read as all clear
            column = f", {by} value" if by not in (None, "owner", "none") else ""
            clean = f"no owner, near-duplicate cluster{column} or exact image spans two splits"
            console.print(f"no leakage: {clean}" if copies is None or copies.copies.empty else
                          f"the split itself does not leak ({clean}), but copies of the other collection follow")
        else:
            print_table(leaks.groupby("kind").size().rename("groups").reset_index(), title="leaks by kind")
            print_table(leaks.head(50).drop(columns="photos_per_split"), title="leaking groups (first 50)")
        if alike is not None and alike.pairs is not None:
            console.print(alike.summary(), highlight=False, markup=False, soft_wrap=True)
            if len(alike.pairs):
                print_table(alike.pairs.head(SHOWN), title=f"look-alikes across the split (first {SHOWN}; all: --json)")
        if copies is not None:
            for note in copies.notes:
                console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
            console.print(copies.summary(str(against)), highlight=False, markup=False, soft_wrap=True)
            if len(copies.copies):
                print_table(copies.copies.head(50), title=f"copies of photos in {against} (first 50)")
                if drop_decisions is None:  # (with it, the line above says how to apply the decisions)
                    console.print(f"{drop_copies_commands(str(against))}; then run `curate split` again",
                                  highlight=False, markup=False, soft_wrap=True)
    if (leaks is not None and len(leaks)) or (copies is not None and len(copies.copies)):
        raise typer.Exit(EXIT_DATA)
