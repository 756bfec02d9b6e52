"""`curate ingest flickr --tags chicago,skyline`: photos from a Flickr search, with licences."""

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
    workspace,
)
from curate.cli.engine_options import engine_config, engine_options
from curate.cli.options import config_options
from curate.console import console
from curate.ingest.flickr import FlickrOptions, FlickrQuery, ingest_flickr
from curate.ingest.flickr.api import DEFAULT_ENDPOINT
from curate.ingest.http import DownloadConfig
from curate.pipeline.settings import build_config


@user_errors
@engine_options
@config_options(FlickrQuery, layered=False, required=("tags",))
def flickr(
    settings: dict | None = None,  # one flag per FlickrQuery field (curate/cli/options.py)
    recipe: Annotated[str | None, typer.Option(help="Dataset recipe (name or .toml) to match tags to labels.")] = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="List again although this query finished before.")] = False,
    calls_per_hour: Annotated[float, typer.Option("--calls-per-hour", min=1, max=3600,
                                                  help="API call budget (Flickr allows 3,600 per key).")] = 3600,
    workers: Annotated[int, typer.Option(min=1, max=256, help="Concurrent image downloads.")] = 16,
    timeout: Annotated[float, typer.Option(min=0.1, help="Image download timeout, seconds.")] = 20.0,
    retries: Annotated[int, typer.Option(min=0, max=10, help="Image download retries (5xx, 429, timeouts).")] = 3,
    endpoint: Annotated[str, typer.Option(hidden=True)] = DEFAULT_ENDPOINT,
    engine_settings: dict | None = None,  # --engine, --ray-address, ... (curate/cli/engine_options.py)
    workspace_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search Flickr by tags (and place, dates, licence) and download the photos (resumable).

    The API key comes from FLICKR_API_KEY or ~/.config/curate/flickr.toml (api_key = "...").
    Queries over Flickr's ~4,000-result cap are split by taken date automatically.
    Re-running the same command continues an interrupted run; a finished one calls no API.
    """
    query = build_config(FlickrQuery, {}, "", flags=settings, command="curate ingest flickr")
    download = build_config(DownloadConfig, {}, "", command="curate ingest flickr",
                            flags={"workers": workers, "connect_timeout_s": timeout, "read_timeout_s": timeout,
                                   "retries": retries})
    options = FlickrOptions(query=query, recipe=recipe, endpoint=endpoint, calls_per_hour=calls_per_hour,
                            download=download, refresh=refresh)
    with engines.use(engine_config(engine_settings, "curate ingest flickr")):
        report = ingest_flickr(workspace(workspace_path), options)
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
