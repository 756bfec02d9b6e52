"""`curate filter`."""

from __future__ import annotations

import json
from typing import Annotated

import pandas as pd
import typer

from curate.cli.common import JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.console import console
from curate.errors import UsageError
from curate.filters.run import run_filter
from curate.filters.stage import FilterConfig
from curate.recipes import load_recipe

RecipeOption = Annotated[str | None, typer.Option(
    "--recipe", help="Dataset recipe (name in datasets/ or a .toml path).")]


@user_errors
def filter_command(
    workspace_path: WorkspaceOption = None,
    max_km: Annotated[str | None, typer.Option(
        "--max-km", help="Geo outlier threshold in km, or off to turn the geo filter off (default: recipe, else 5).",
    )] = None,
    force_geo: Annotated[bool | None, typer.Option(
        "--force-geo/--no-force-geo",
        help="Geo-filter labels that do not look like places (or have too few geotagged photos) too (default: recipe, "
             "else no).",
        show_default=False)] = None,
    max_outlier_share: Annotated[float | None, typer.Option(
        "--max-outlier-share",
        help="A label is not a place when the filter would drop more than this share of its geotagged photos (default: "
             "recipe, else 0.5).",
    )] = None,
    max_median_multiple: Annotated[float | None, typer.Option(
        "--max-median-multiple",
        help="... or when its median distance to its centre is above this multiple of --max-km (default: recipe, else "
             "10).",
    )] = None,
    min_geotagged: Annotated[int | None, typer.Option(
        "--min-geotagged",
        help="Labels with fewer geotagged photos are not judged and not geo-filtered (default: recipe, else 5).",
    )] = None,
    licences: Annotated[str | None, typer.Option(
        "--licences",
        help="Keep only these licences, comma-separated (cc-by,cc-by-sa,cc0...; a name without version allows every "
             "version). Photos without a licence are dropped.",
    )] = None,
    center: Annotated[str | None, typer.Option(
        "--center", help="Label centre: median of its photos, or recipe coordinates (default: recipe, else median).",
    )] = None,
    missing_geo: Annotated[str | None, typer.Option(
        "--missing-geo", help="Labelled photos without coordinates: keep or drop (default: recipe, else keep).",
    )] = None,
    min_geo_accuracy: Annotated[int | None, typer.Option(
        "--min-geo-accuracy",
        help="Treat positions the source rates less precise than this as missing (Flickr: 11 city, 16 street; default: "
             "recipe, else 0 = off).",
    )] = None,
    near_dup_bits: Annotated[int | None, typer.Option(
        "--near-dup-bits", help="pHash Hamming distance (inclusive) for near duplicates.")] = None,
    near_dup_colour_diff: Annotated[float | None, typer.Option(
        "--near-dup-colour-diff",
        help="Max mean RGB difference (0-255) of 16x12 thumbnails that confirms a pHash pair.")] = None,
    near_dup_cosine: Annotated[str | None, typer.Option(
        "--near-dup-cosine",
        help="Link photos whose cached EfficientNet-Lite0 embeddings (curate embed) have at least this cosine, or off "
             "(default: recipe, else 0.90).",
    )] = None,
    near_dup_verify_cosine: Annotated[str | None, typer.Option(
        "--near-dup-verify-cosine",
        help="Embedding cosine that confirms a pHash pair whose colours differ, or off (default: recipe, else 0.85).",
    )] = None,
    dedupe_near: Annotated[bool | None, typer.Option(
        "--dedupe-near/--keep-near",
        help="Keep one photo per near-duplicate cluster, or keep them all (default: recipe, else keep).",
        show_default=False)] = None,
    max_per_owner: Annotated[int | None, typer.Option(
        "--max-per-owner", help="At most N photos per owner per label.")] = None,
    max_owner_share: Annotated[float | None, typer.Option(
        "--max-owner-share", help="At most this fraction of a label per owner.")] = None,
    drop_quality: Annotated[str | None, typer.Option(
        "--drop-quality",
        help="Drop photos failing these image-quality checks, comma-separated: blurry, dark, bright, low_information, "
             "odd_aspect, greyscale, tiny, or all (default: recipe, else none: every check only flags, in "
             "quality_issues).",
    )] = None,
    colour_collection_share: Annotated[float | None, typer.Option(
        "--colour-collection-share",
        help="The greyscale check flags photos only when more than this share of the collection has colour (0 to under "
             "1; default: recipe, else 0.5).",
    )] = None,
    recipe: RecipeOption = None,
    workers: Annotated[int, typer.Option("--workers", help="Threads for perceptual hashing.")] = 2,
    as_json: JsonOption = False,
) -> None:
    """Flag ambiguous labels, geo outliers, exact/near duplicates, image-quality issues and over-dominant owners."""
    from curate.pipeline import build_config

    chosen = load_recipe(recipe) if recipe else None
    given = {"max_km": max_km, "force_geo": force_geo, "max_outlier_share": max_outlier_share,
             "max_median_multiple": max_median_multiple, "min_geotagged": min_geotagged,
             "licences": _names(licences), "center": center, "missing_geo": missing_geo,
             "min_geo_accuracy": min_geo_accuracy,
             "near_dup_bits": near_dup_bits, "near_dup_colour_diff": near_dup_colour_diff,
             "near_dup_cosine": near_dup_cosine, "near_dup_verify_cosine": near_dup_verify_cosine,
             "dedupe_near": dedupe_near, "max_per_owner": max_per_owner, "max_owner_share": max_owner_share,
             "drop_quality": _names(drop_quality), "colour_collection_share": colour_collection_share}
    # a flag given wins over the recipe's [filter] section, which wins over FilterConfig's default
    settings = {**(chosen.stage_defaults("filter") if chosen else {}),
                **{key: value for key, value in given.items() if value is not None}}
    where = f"curate filter (recipe {recipe} [filter])" if chosen else "curate filter"
    config = build_config(FilterConfig, settings, where)
    if config.center == "recipe" and chosen is None:
        raise UsageError("--center recipe needs --recipe NAME (the recipe holds each label's coordinates)")
    report = run_filter(workspace(workspace_path), config, chosen, workers)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(report.summary(), highlight=False, markup=False, soft_wrap=True)  # its warnings too
    console.print(f"exact-duplicate groups: {report.exact_duplicate_groups}; "
                  f"near-duplicate clusters: {report.near_duplicate_clusters}", highlight=False)
    geo_title = f"max {config.max_km:g} km" if config.geo_on else "geo filter off: nothing dropped as geo_outlier"
    shown = report.geo.drop(columns=["outlier_share", "p90_km", "p99_km"], errors="ignore")  # the note says why
    print_table(shown.round(2), title=f"geo centres ({geo_title})")
    print_table(report.concentration.round(3), title="owner concentration per label (kept photos)")
    if not report.caps.empty:
        print_table(report.caps, title="owner caps")
    if report.quality:
        print_table(pd.DataFrame(report.quality).drop(columns=["meaning"]),
                    title="image quality (flagged: fail the check; dropped only with --drop-quality)")
    print_table(report.funnel, title="funnel: photos per label and reason")



def _names(text: str | None) -> list[str] | None:
    """'cc-by, cc-by-sa' -> ['cc-by', 'cc-by-sa'] (empty items ignored); None stays None."""
    return None if text is None else [name.strip() for name in text.split(",") if name.strip()]
