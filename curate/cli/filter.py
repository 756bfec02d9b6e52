"""`curate filter`."""

from __future__ import annotations

import json
from typing import Annotated

import pandas as pd
import typer

from curate.cli.common import (
    CatalogEngineOption,
    JsonOption,
    RecipeOption,
    WorkspaceOption,
    print_table,
    user_errors,
    workspace,
)
from curate.cli.options import config_options
from curate.console import console
from curate.errors import UsageError
from curate.filters.run import run_filter
from curate.filters.stage import QUALITY_SKIPPED, FilterConfig
from curate.recipes import load_recipe


@user_errors
@config_options(FilterConfig)
def filter_command(
    workspace_path: WorkspaceOption = None,
    settings: dict | None = None,  # one flag per FilterConfig field (curate/cli/options.py)
    recipe: RecipeOption = None,
    workers: Annotated[int, typer.Option("--workers", help=(
        "Threads for the image pass (hashes, thumbnails); processes for the window match's scores."))] = 2,
    catalog_engine: CatalogEngineOption = None,
    as_json: JsonOption = False,
) -> None:
    """Flag ambiguous labels, geo outliers, exact/near duplicates, image-quality issues and over-dominant owners."""
    from curate.pipeline import build_config

    if not 1 <= workers <= 256:
        raise UsageError(f"--workers must be from 1 to 256, got {workers}")

    chosen = load_recipe(recipe) if recipe else None
    # a flag given wins over the recipe's [filter] section, which wins over FilterConfig's default
    config = build_config(FilterConfig, chosen.stage_defaults("filter") if chosen else {},
                          f"recipe {recipe} [filter]", flags=settings, command="curate filter")
    if config.center == "recipe" and chosen is None:
        raise UsageError("--center recipe needs --recipe NAME (the recipe holds each label's coordinates)")
    if config.center == "recipe" and not chosen.labels:
        raise UsageError(f"--center recipe reads each label's lat and lon from the recipe's [[labels]], and recipe "
                         f"{chosen.name} lists none; add [[labels]] with lat and lon, or use --center median")
    report = run_filter(workspace(workspace_path), config, chosen, workers, engine=catalog_engine)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(report.summary(), highlight=False)
    for warning in report.warnings:  # the filter did less than asked (or held drops): one line each, with why
        console.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"exact-duplicate groups: {report.exact_duplicate_groups}; "
                  f"near-duplicate clusters: {report.near_duplicate_clusters}", highlight=False)
    geo_title = f"max {config.max_km:g} km" if config.geo_on else "geo filter off: nothing dropped as geo_outlier"
    verdicts = report.geo.get("geo_filter", pd.Series(dtype=object)).astype(str)
    if config.geo_on and len(verdicts) and verdicts.str.startswith("skipped").all():
        geo_title += ", skipped for every label: nothing dropped as geo_outlier"
    shown = report.geo.drop(columns=["outlier_share", "near_max_km", "spread_km", "p90_km", "p99_km"],
                            errors="ignore")  # the note says why
    print_table(shown.round(2), title=f"geo centres ({geo_title})")
    print_table(report.concentration.round(3),
                title="owner concentration per label (kept photos, before any owner cap)")
    if not report.caps.empty:
        print_table(report.caps.drop(columns="tightest_share", errors="ignore"), title="owner caps")  # the note says it
    if report.quality and QUALITY_SKIPPED not in report.notes:  # (nothing measured: the note says so)
        print_table(_quality_table(report.quality),
                    title="image quality (flagged: fail the check; dropped only with --drop-quality)")
    print_table(report.funnel, title="funnel: photos per label and reason")


def _quality_table(rows: list[dict]) -> pd.DataFrame:
    """The quality checks as the command shows them: each threshold in its statistic's own units (the
    report's raw `threshold` is on the check's badness scale, where dark's -90 means a brightness under 90)."""
    from curate.filters.quality import CHECK_BY_NAME

    table = pd.DataFrame(rows).drop(columns=["meaning"])
    fails = table["check"].map(lambda name: CHECK_BY_NAME[name].fails_when if name in CHECK_BY_NAME else None)
    table.insert(1, "fails_when", fails.fillna(table["threshold"].round(3).astype(str)))
    return table.drop(columns=["threshold"])
