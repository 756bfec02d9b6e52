"""`curate report`: the label-quality audit as a self-contained HTML page + report.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from curate.cli.common import (
    CatalogEngineOption,
    JsonOption,
    RecipeOption,
    WorkspaceOption,
    path_given,
    recipe_section,
    user_errors,
    workspace,
)
from curate.cli.options import config_options
from curate.console import console
from curate.pipeline.settings import ReportSettings, build_config


@user_errors
@config_options(ReportSettings, show_defaults=True)
def report(
    workspace_path: WorkspaceOption = None,
    out: Annotated[Path | None, typer.Option("--out", parser=path_given,
                                             help="Report folder (default: <workspace>/report).")] = None,
    settings: dict | None = None,  # one flag per ReportSettings field (curate/cli/options.py)
    recipe: RecipeOption = None,
    catalog_engine: CatalogEngineOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write <workspace>/report/index.html (works offline, copyable) and report.json; print the page's path."""
    from curate.report.changes import line as changes_line
    from curate.report.run import write_report  # matplotlib loads only when a report is written (review CT)

    section, where = recipe_section(recipe, "report")  # a flag given wins over the recipe's [report]
    config = build_config(ReportSettings, section, where or "curate report", flags=settings)
    index, result = write_report(workspace(workspace_path), out, max_gallery=config.max_gallery,
                                 owner_alarm=config.owner_alarm, max_rows=config.max_rows, engine=catalog_engine)
    if as_json:
        print(json.dumps({"index": str(index), "report": str(index.parent / "report.json"),
                          "stages_run": result["stages_run"]}, indent=2))
        return
    changed = changes_line(result.get("changes"))
    if changed:
        console.print(changed, highlight=False, soft_wrap=True, markup=False)
    console.print(str(index), highlight=False, soft_wrap=True, markup=False)
