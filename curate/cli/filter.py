"""`curate filter`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from curate.cli.common import JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.console import console
from curate.errors import UsageError
from curate.filters.run import run_filter
from curate.filters.stage import FilterConfig
from curate.recipes import load_recipe

RecipeOption = Annotated[str | None, typer.Option("--recipe", help="Dataset recipe (name in datasets/ or a .toml path).")]


@user_errors
def filter_command(
    workspace_path: WorkspaceOption = None,
    max_km: Annotated[float | None, typer.Option("--max-km", help="Geo outlier threshold in km (default: recipe, else 5).")] = None,
    center: Annotated[str | None, typer.Option("--center", help="Label centre: median of its photos, or recipe coordinates (default: recipe, else median).")] = None,
    missing_geo: Annotated[str | None, typer.Option("--missing-geo", help="Labelled photos without coordinates: keep or drop (default: recipe, else keep).")] = None,
    min_geo_accuracy: Annotated[int | None, typer.Option("--min-geo-accuracy", help="Treat positions the source rates less precise than this as missing (Flickr: 11 city, 16 street; default: recipe, else 0 = off).")] = None,
    near_dup_bits: Annotated[int | None, typer.Option("--near-dup-bits", help="pHash Hamming distance (inclusive) for near duplicates.")] = None,
    near_dup_colour_diff: Annotated[float | None, typer.Option("--near-dup-colour-diff", help="Max mean RGB difference (0-255) of 16x12 thumbnails that confirms a pHash pair.")] = None,
    dedupe_near: Annotated[bool | None, typer.Option("--dedupe-near/--keep-near", help="Keep one photo per near-duplicate cluster, or keep them all (default: recipe, else keep).", show_default=False)] = None,
    max_per_owner: Annotated[int | None, typer.Option("--max-per-owner", help="At most N photos per owner per label.")] = None,
    max_owner_share: Annotated[float | None, typer.Option("--max-owner-share", help="At most this fraction of a label per owner.")] = None,
    recipe: RecipeOption = None,
    workers: Annotated[int, typer.Option("--workers", help="Threads for perceptual hashing.")] = 2,
    as_json: JsonOption = False,
) -> None:
    """Flag ambiguous labels, geo outliers, exact/near duplicates and over-dominant owners."""
    from curate.pipeline import build_config

    chosen = load_recipe(recipe) if recipe else None
    given = {"max_km": max_km, "center": center, "missing_geo": missing_geo, "min_geo_accuracy": min_geo_accuracy,
             "near_dup_bits": near_dup_bits, "near_dup_colour_diff": near_dup_colour_diff,
             "dedupe_near": dedupe_near, "max_per_owner": max_per_owner, "max_owner_share": max_owner_share}
    # a flag given wins over the recipe's [filter] section, which wins over FilterConfig's default
    settings = {**(chosen.stage_defaults("filter") if chosen else {}),
                **{key: value for key, value in given.items() if value is not None}}
    config = build_config(FilterConfig, settings, f"curate filter (recipe {recipe} [filter])" if chosen else "curate filter")
    if config.center == "recipe" and chosen is None:
        raise UsageError("--center recipe needs --recipe NAME (the recipe holds each label's coordinates)")
    report = run_filter(workspace(workspace_path), config, chosen, workers)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"dropped by filter: {report.dropped_by_reason or 'nothing'}; "
                  f"exact-duplicate groups: {report.exact_duplicate_groups}; "
                  f"near-duplicate clusters: {report.near_duplicate_clusters}", highlight=False)
    print_table(report.geo.round(2), title=f"geo centres (max {config.max_km:g} km)")
    print_table(report.concentration.round(3), title="owner concentration per label (kept photos)")
    if not report.caps.empty:
        print_table(report.caps, title="owner caps")
    print_table(report.funnel, title="funnel: photos per label and reason")

