"""`curate ingest flickr --tags chicago,skyline`: photos from a Flickr search, with licences."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

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
from curate.ingest.flickr import FlickrOptions, FlickrQuery, ingest_flickr
from curate.ingest.http import DownloadConfig
from curate.pipeline.settings import build_config

DOWNLOAD_FLAGS = ("workers", "retries")  # DownloadConfig's fields with a flag here; --timeout fills both timeouts


@user_errors
@store_options
@engine_options
@config_options(DownloadConfig, layered=False, param="download_settings",
                skip=tuple(item.name for item in fields(DownloadConfig) if item.name not in DOWNLOAD_FLAGS))
@config_options(FlickrOptions, layered=False, param="run_settings", skip=("query", "download"))
@config_options(FlickrQuery, layered=False, required=("tags",))
def flickr(
    settings: dict | None = None,  # one flag per FlickrQuery field (curate/cli/options.py)
    run_settings: dict | None = None,  # one flag per FlickrOptions field: --recipe, --calls-per-hour, ...
    download_settings: dict | None = None,  # --workers, --retries (DownloadConfig's fields)
    timeout: TimeoutOption = None,
    engine_settings: dict | None = None,  # --engine, --ray-address, ... (curate/cli/engine_options.py)
    workspace_path: WorkspaceOption = None,
    store_settings: dict | None = None,  # --store (curate/cli/store_option.py)
    as_json: JsonOption = False,
) -> None:
    """Search Flickr by tags (and place, dates, licence) and download the photos (resumable).

    The API key comes from FLICKR_API_KEY or ~/.config/curate/flickr.toml (api_key = "...").
    Queries over Flickr's ~4,000-result cap are split by taken date automatically.
    Re-running the same command continues an interrupted run; a finished one calls no API.
    """
    query = build_config(FlickrQuery, {}, "", flags=settings, command="curate ingest flickr")
    download = build_config(DownloadConfig, {}, "", command="curate ingest flickr",
                            flags={**download_settings, **timeouts(timeout)})
    options = build_config(FlickrOptions, {}, "", flags=run_settings, command="curate ingest flickr", query=query,
                           download=download)
    with engines.use(engine_config(engine_settings, "curate ingest flickr")):
        report = ingest_flickr(store_workspace(workspace_path, store_settings), options)
    if as_json:
        console.print_json(json.dumps(asdict(report)))
        return
    console.print(f"Flickr {','.join(query.tags)}: {report.photos_listed} photos listed "
                  f"({report.api_calls} API calls this run, {report.slices} date slices"
                  f"{', resumed' if report.listing_resumed else ''}); {report.summary()} ({report.fetched} fetched "
                  f"this run, {report.already_done} already done)", highlight=False, markup=False, soft_wrap=True)
    skipped = {"malformed pages skipped": report.malformed_pages, "malformed photos skipped": report.malformed_photos,
               "photos beyond the cap": report.truncated_photos}
    for what, count in skipped.items():
        if count:
            console.print(f"{what}: {count}", highlight=False)
    print_ingest_details(report)
    print_drop_reasons(report.dropped_by_reason)
