"""`curate ingest urls FILE`: download photos listed in a CSV/Parquet file."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
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
from curate.cli.download_options import TimeoutOption, timeouts
from curate.cli.engine_options import engine_config, engine_options
from curate.cli.options import config_options
from curate.cli.store_option import store_options, store_workspace
from curate.console import console
from curate.ingest.http import DownloadConfig
from curate.ingest.mapping import parse_map_options
from curate.ingest.urls import UrlIngestOptions, ingest_urls
from curate.pipeline.settings import build_config
from curate.settings_fields import HELP

MAP_HELP = UrlIngestOptions.__dataclass_fields__["column_map"].metadata[HELP]
URL_DOWNLOAD_FLAGS = ("workers", "per_host", "retries")  # DownloadConfig's fields with a flag here; --timeout: both


@user_errors
@store_options
@engine_options
@config_options(DownloadConfig, layered=False, param="download_settings",
                skip=tuple(item.name for item in fields(DownloadConfig) if item.name not in URL_DOWNLOAD_FLAGS))
@config_options(UrlIngestOptions, layered=False, skip=("path", "column_map", "download"))  # FILE, --map
def urls(
    file: Annotated[Path, typer.Argument(help="CSV/TSV or Parquet file, one photo per row with its image URL.",
                                         show_default=False)],
    column_map: Annotated[list[str] | None, typer.Option(  # repeatable: UrlIngestOptions.column_map
        "--map", metavar="FIELD=COLUMN", help=MAP_HELP)] = None,
    settings: dict | None = None,  # one flag per UrlIngestOptions field (curate/cli/options.py)
    download_settings: dict | None = None,  # --workers, --per-host, --retries (DownloadConfig's fields)
    timeout: TimeoutOption = None,
    engine_settings: dict | None = None,  # --engine, --ray-address, ... (curate/cli/engine_options.py)
    workspace_path: WorkspaceOption = None,
    store_settings: dict | None = None,  # --store (curate/cli/store_option.py)
    as_json: JsonOption = False,
) -> None:
    """Download the images listed in FILE into the workspace (resumable; failures become drop reasons).

    Re-running the same command downloads only what is missing and retries transient
    failures (timeouts, resets, 5xx, 429); 404s and broken images stay dropped. Rows
    already in the catalog take FILE's metadata (an edited FILE or another --map updates
    them) without being downloaded again.
    """
    download = build_config(DownloadConfig, {}, "", command="curate ingest urls",
                            flags={**download_settings, **timeouts(timeout)})
    options = build_config(UrlIngestOptions, {}, "", command="curate ingest urls", download=download,
                           flags={**settings, "path": str(file), "column_map": parse_map_options(column_map)})
    with engines.use(engine_config(engine_settings, "curate ingest urls")):
        report = ingest_urls(store_workspace(workspace_path, store_settings), options)
    if as_json:
        console.print_json(json.dumps(asdict(report)))
        return
    console.print(f"{file}: {report.summary()}; {report.fetched} fetched this run, {report.already_done} already "
                  f"done, {report.resumed_from_journal} resumed from an interrupted run", highlight=False,
                  markup=False, soft_wrap=True)
    print_ingest_details(report)
    print_drop_reasons(report.dropped_by_reason)
