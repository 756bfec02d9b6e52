"""`curate report`: the label-quality audit as a self-contained HTML page + report.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from curate.cli.common import JsonOption, WorkspaceOption, user_errors, workspace
from curate.console import console
from curate.report.run import check_report_limits, write_report


@user_errors
def report(
    workspace_path: WorkspaceOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report folder (default: <workspace>/report).")] = None,
    max_gallery: Annotated[int, typer.Option(
        "--max-gallery", help="Most photos per gallery (the page stays short).")] = 12,
    max_rows: Annotated[int, typer.Option(
        "--max-rows", help="Most rows per big table (full tables in CSV/JSON).")] = 200,
    owner_alarm: Annotated[float, typer.Option(
        "--owner-alarm", help="An owner alarm also needs the label's top owner to hold more than this share of "
        "its kept photos (the alarm itself: top owners unusually large for the collection; docs/report.md).")] = 0.10,
    as_json: JsonOption = False,
) -> None:
    """Write <workspace>/report/index.html (works offline, copyable) and report.json; print the page's path."""
    check_report_limits(max_gallery, max_rows, owner_alarm)  # the check a recipe's [report] gets too
    index, result = write_report(workspace(workspace_path), out, max_gallery=max_gallery,
                                 owner_alarm=owner_alarm, max_rows=max_rows)
    if as_json:
        print(json.dumps({"index": str(index), "report": str(index.parent / "report.json"),
                          "stages_run": result["stages_run"]}, indent=2))
        return
    console.print(str(index), highlight=False, soft_wrap=True, markup=False)
