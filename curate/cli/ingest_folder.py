"""`curate ingest folder DIR`: photos from a local folder (label subfolders or a sidecar)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from curate import engines
from curate.cli.common import (
    JsonOption,
    WorkspaceOption,
    print_drop_reasons,
    print_ingest_details,
    user_errors,
    workspace,
)
from curate.cli.engine_options import engine_config, engine_options
from curate.console import console
from curate.errors import UsageError
from curate.ingest.engine import IngestReport
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.ingest.mapping import parse_map_options


@user_errors
@engine_options
def folder(
    directory: Annotated[Path, typer.Argument(help="Folder of photos: <label>/<photo> subfolders, or flat.",
                                              metavar="DIR", show_default=False)],
    metadata: Annotated[Path | None, typer.Option(
        "--metadata", metavar="FILE",
        help="CSV or JSON (list or lines) sidecar, one row per photo with a `file` column "
             "relative to DIR. Default: DIR/metadata.csv|jsonl|json when present.")] = None,
    map_options: Annotated[list[str] | None, typer.Option(
        "--map", metavar="FIELD=COLUMN",
        help="FIELD=COLUMN: read a record field (lat, owner_id, tags, file...) from COLUMN. "
             "Repeatable.")] = None,
    label_column: Annotated[str | None, typer.Option(
        "--label-column", metavar="COLUMN",
        help="Metadata column holding the label (implies --label-from column).")] = None,
    label_from: Annotated[str, typer.Option(
        "--label-from", metavar="SOURCE", help="folder | column | tags | none. Default: column with --label-column, "
                             "else the first-level folder name.")] = "auto",
    recipe: Annotated[str | None, typer.Option(
        "--recipe", metavar="NAME", help="Dataset recipe (name in datasets/ or a .toml path) whose labels are matched "
                         "against tags.")] = None,
    workers: Annotated[int, typer.Option("--workers", metavar="N", help="Files read and validated in parallel.")] = 4,
    keep_url_secrets: Annotated[bool, typer.Option(
        "--keep-url-secrets", help="Store the sidecar's URLs verbatim. Default: user:password@ and secret-looking "
                                   "query parameters (api_key, token, sig...) are redacted.")] = False,
    engine_settings: dict | None = None,  # --engine, --ray-address, ... (curate/cli/engine_options.py)
    workspace_path: WorkspaceOption = None,
    json_output: JsonOption = False,
) -> None:
    """Ingest a local folder of photos, with metadata from a sidecar file or EXIF.

    Re-running it reads no photo twice; photos already in the catalog take the metadata of
    this run (an edited sidecar or another --map updates them).
    """
    column_map = parse_map_options(map_options)
    if label_column:
        if column_map.get("label", label_column) != label_column:
            raise UsageError(f"--label-column {label_column!r} conflicts with --map label={column_map['label']}")
        column_map["label"] = label_column
    options = FolderOptions(folder=directory, metadata=metadata, column_map=column_map, label_source=label_from,
                            recipe=recipe, workers=workers, keep_url_secrets=keep_url_secrets)
    with engines.use(engine_config(engine_settings, "curate ingest folder")):
        report = ingest_folder(workspace(workspace_path), options)
    if json_output:
        console.print_json(json.dumps(asdict(report)))
    else:
        print_summary(report)


def print_summary(report: IngestReport) -> None:
    """One line of totals, the metadata columns read and updated, then drop counts by reason."""
    console.print(f"ingest folder: {report.summary()} · already in the catalog {report.already_done} · "
                  f"metadata updated {report.metadata_updated}", highlight=False, markup=False, soft_wrap=True)
    print_ingest_details(report)
    print_drop_reasons(report.dropped_by_reason)
