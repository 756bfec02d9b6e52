"""`curate ingest commons`: files of a Wikimedia Commons category, or near a point."""

from __future__ import annotations

import json
from dataclasses import asdict
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
from curate.ingest.commons import COMMONS_DOWNLOAD, CommonsOptions, CommonsQuery, ingest_commons
from curate.ingest.http import DownloadConfig
from curate.pipeline.settings import build_config
from curate.settings_fields import HELP


@user_errors
@store_options
@engine_options
@config_options(CommonsOptions, layered=False, param="run_settings", skip=("query", "download", "api_timeout_s"))
@config_options(CommonsQuery, layered=False, skip=("tags",))  # --tag: repeated
def commons(
    settings: dict | None = None,  # one flag per CommonsQuery field (curate/cli/options.py)
    tag: Annotated[list[str] | None, typer.Option(  # repeatable: CommonsQuery.tags
        help=CommonsQuery.__dataclass_fields__["tags"].metadata[HELP], show_default=False)] = None,
    run_settings: dict | None = None,  # one flag per CommonsOptions field: --recipe, --contact, ...
    workers: Annotated[int | None, typer.Option(min=1, max=64, show_default=False, help=(
        f"Concurrent thumbnail downloads (default {COMMONS_DOWNLOAD['workers']}; workers in a recipe)."))] = None,
    timeout: Annotated[float | None, typer.Option(min=0.1, show_default=False, help=(
        "Connect and read timeout of the API and the downloads, seconds (default "
        f"{COMMONS_DOWNLOAD['read_timeout_s']:g}; api_timeout_s, connect_timeout_s and read_timeout_s in a "
        "recipe)."))] = None,
    engine_settings: dict | None = None,  # --engine, --ray-address, ... (curate/cli/engine_options.py)
    workspace_path: WorkspaceOption = None,
    store_settings: dict | None = None,  # --store (curate/cli/store_option.py)
    as_json: JsonOption = False,
) -> None:
    """Ingest the files of a Commons category (--category) or near a point (--near, --radius-m).

    Photos only: PDFs, videos and drawings stay in the catalog as rows dropped with
    unsupported_mime. Interrupted? Run the same command again: the listing continues
    from its last page and no thumbnail is downloaded twice.
    """
    query = build_config(CommonsQuery, {}, "", flags={**settings, "tags": list(tag or ())},
                         command="curate ingest commons")
    given = {"workers": workers, "connect_timeout_s": timeout, "read_timeout_s": timeout}
    download = build_config(DownloadConfig, COMMONS_DOWNLOAD, "", command="curate ingest commons",
                            flags={name: value for name, value in given.items() if value is not None})
    options = build_config(CommonsOptions, {}, "", command="curate ingest commons", query=query, download=download,
                           flags={**run_settings, **({"api_timeout_s": timeout} if timeout is not None else {})})
    with engines.use(engine_config(engine_settings, "curate ingest commons")):
        report = ingest_commons(store_workspace(workspace_path, store_settings), options)
    if as_json:
        console.print_json(json.dumps(asdict(report)))
        return
    skipped = sum(report.skipped_by_reason.values())
    console.print(f"{report.query}: {report.summary()} ({report.fetched} fetched this run, {report.already_done} "
                  f"already done, {report.resumed_from_journal} resumed from an interrupted run; "
                  f"{report.api_requests} API requests{f', {skipped} listed pages skipped' if skipped else ''})",
                  highlight=False, markup=False, soft_wrap=True)
    if not report.records:
        console.print("no files found: check the category's spelling (titles are case-sensitive after the "
                      "first letter) or widen --radius-m", highlight=False)
    print_ingest_details(report)
    print_drop_reasons(report.dropped_by_reason)
