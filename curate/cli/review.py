"""`curate review`: the review app, and moving decisions between workspaces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curate.cli.common import WorkspaceOption, user_errors, workspace
from curate.console import console
from curate.errors import UsageError


@user_errors
def review(
    workspace_path: WorkspaceOption = None,
    host: Annotated[str, typer.Option(
        "--host", help="Interface to listen on; any other than 127.0.0.1 needs the printed token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8765,
    queue: Annotated[str, typer.Option(
        "--queue",
        help="Queue to open: label_issues, off_topic, recovered, geo, duplicates, owners, quality or ambiguous.",
    )] = "label_issues",
    export_decisions: Annotated[Path | None, typer.Option(
        "--export-decisions", help="Write every decision (undos too) to FILE as JSON Lines, then stop.")] = None,
    import_decisions: Annotated[Path | None, typer.Option(
        "--import-decisions",
        help="Add the decisions of FILE that this workspace lacks, apply them to the catalog, then stop.")] = None,
) -> None:
    """Look at what the stages flagged and decide with the keyboard; decisions win on every re-run."""
    from curate.review import journal
    from curate.review.serve import apply_to_catalog, serve_review

    ws = workspace(workspace_path)
    if export_decisions and import_decisions:
        raise UsageError("give --export-decisions or --import-decisions, not both")
    if not ws.check_not_a_file().has_catalog():  # a file: said as every other command says it (audit AN)
        raise UsageError(f"no catalog at {ws.catalog_path}; run `curate ingest ...` first or pass --workspace")
    if export_decisions:
        count = journal.export_decisions(ws, export_decisions)
        console.print(f"exported {count} decisions to {export_decisions}", highlight=False, markup=False)
        return
    if import_decisions:
        from curate.review.serve import import_summary
        from curate.workspace import read_catalog

        before = read_catalog(ws)
        added, known, moved = journal.import_decisions(ws, import_decisions, set(before["photo_id"]))
        console.print(import_summary(before, apply_to_catalog(ws), journal.read_decisions(ws), added, known, moved),
                      highlight=False, markup=False, soft_wrap=True)
        return
    serve_review(ws, host, port, queue, announce=lambda url: console.print(
        f"curate review: open {url}  (Ctrl-C to stop)", highlight=False, markup=False, soft_wrap=True))
