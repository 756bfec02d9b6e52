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
)
from curate.cli.engine_options import engine_config, engine_options
from curate.cli.options import config_options
from curate.cli.store_option import store_options, store_workspace
from curate.console import console
from curate.errors import UsageError
from curate.ingest.engine_job import IngestReport
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.ingest.mapping import parse_map_options
from curate.pipeline.settings import build_config
from curate.settings_fields import HELP


@user_errors
@store_options
@engine_options
@config_options(FolderOptions, layered=False, skip=("folder", "column_map"))  # DIR, --map
def folder(
    directory: Annotated[Path, typer.Argument(help="Folder of photos: <label>/<photo> subfolders, or flat.",
                                              metavar="DIR", show_default=False)],
    map_options: Annotated[list[str] | None, typer.Option(  # repeatable: FolderOptions.column_map
        "--map", metavar="FIELD=COLUMN", help=FolderOptions.__dataclass_fields__["column_map"].metadata[HELP])] = None,
    label_column: Annotated[str | None, typer.Option(
        "--label-column", metavar="COLUMN",
        help="Metadata column holding the label (implies --label-from column).")] = None,
    settings: dict | None = None,  # one flag per FolderOptions field (curate/cli/options.py)
    engine_settings: dict | None = None,  # --engine, --ray-address, ... (curate/cli/engine_options.py)
    workspace_path: WorkspaceOption = None,
    store_settings: dict | None = None,  # --store (curate/cli/store_option.py)
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
        label_from = (settings or {}).get("label_source")
        if label_from not in (None, "auto", "column"):  # (the audit: it only warned, and the column was never read)
            raise UsageError(f"--label-column {label_column!r} reads the labels from that column, but --label-from "
                             f"{label_from} takes them from elsewhere; drop one of the two")
    flags = {**settings, "folder": str(directory), "column_map": column_map}
    options = build_config(FolderOptions, {}, "", flags=flags, command="curate ingest folder")
    with engines.use(engine_config(engine_settings, "curate ingest folder")):
        report = ingest_folder(store_workspace(workspace_path, store_settings), options)
    if json_output:
        console.print_json(json.dumps(asdict(report)))
    else:
        print_summary(report)


def print_summary(report: IngestReport) -> None:
    """One line of totals, the metadata columns read and updated, then drop counts by reason."""
    resumed = f" · resumed from an interrupted run {report.resumed_from_journal}" if report.resumed_from_journal else ""
    console.print(f"ingest folder: {report.summary()} · already in the catalog {report.already_done} · "
                  f"metadata updated {report.metadata_updated}{resumed}", highlight=False, markup=False,
                  soft_wrap=True)
    print_ingest_details(report)
    print_drop_reasons(report.dropped_by_reason)
