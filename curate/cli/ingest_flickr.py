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
from curate.console import console
from curate.errors import UsageError
from curate.ingest.flickr import FlickrOptions, FlickrQuery, ingest_flickr
from curate.ingest.flickr.api import DEFAULT_ENDPOINT
from curate.ingest.http import DownloadConfig
from curate.pipeline.settings import build_config


def _numbers(text: str | None, what: str, count: int) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise UsageError(f"{what} takes {count} comma-separated numbers, got {text!r}")
    return values


@user_errors
@engine_options
def flickr(
    tags: Annotated[str, typer.Option(help="Comma-separated tags, e.g. chicago,skyline.", show_default=False)],
    tag_mode: Annotated[str, typer.Option("--tag-mode", help="all: every tag; any: at least one.")] = "all",
    license: Annotated[str, typer.Option(
        "--license", help="cc (Creative Commons licences), any, or Flickr licence ids like 4,5,9.")] = "cc",
    bbox: Annotated[str | None, typer.Option(help="min_lon,min_lat,max_lon,max_lat.", show_default=False)] = None,
    lat: Annotated[float | None, typer.Option(help="Centre latitude for a radius search.")] = None,
    lon: Annotated[float | None, typer.Option(help="Centre longitude for a radius search.")] = None,
    radius_km: Annotated[float | None, typer.Option("--radius-km", help="Radius in km (Flickr: at most 32).")] = None,
    min_taken: Annotated[str | None, typer.Option("--min-taken", help="Taken on or after (ISO date).")] = None,
    max_taken: Annotated[str | None, typer.Option("--max-taken", help="Taken on or before (ISO date).")] = None,
    has_geo: Annotated[bool, typer.Option("--has-geo", help="Only geotagged photos.")] = False,
    max_photos: Annotated[int | None, typer.Option("--max-photos", min=1, help="Stop after N photos.")] = None,
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
    query = FlickrQuery(tags=tuple(t.strip() for t in tags.split(",") if t.strip()), tag_mode=tag_mode,
                        license=license, bbox=_numbers(bbox, "--bbox", 4), lat=lat, lon=lon, radius_km=radius_km,
                        min_taken=min_taken, max_taken=max_taken, has_geo=has_geo, max_photos=max_photos)
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
