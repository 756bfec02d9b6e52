"""`curate ingest commons`: files of a Commons category, or near a point, into the catalog.

Two phases, each resumable:

1. Listing (serial API requests, see `client`): the generator query is followed batch
   by batch through its `continue` tokens; each finished batch's records are committed
   to the listing cursor (see `cursor`), so a killed run continues from the last
   committed batch and never lists a file twice.
2. Downloading: the records go to the shared ingest engine with the shared Downloader,
   which fetches each thumbnail once (its journal survives a kill; rows already in the
   catalog are never fetched again). When the engine finishes, the cursor is removed,
   so the next run of the same command lists afresh and only downloads new files.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from curate.errors import UpstreamError
from curate.ingest.commons.client import CommonsClient
from curate.ingest.commons.cursor import ListingCursor, ListingState
from curate.ingest.commons.pages import (
    API_BATCH,
    GEOSEARCH_MAX,
    RADIUS_MAX_M,
    RADIUS_MIN_M,
    batch_records,
    category_title,
    listing_params,
    merge_pages,
    response_pages,
)
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import IngestJob, IngestReport
from curate.ingest.http import (
    TRANSIENT_REASONS,
    DownloadConfig,
    Downloader,
    check_api_retries,
    check_range,
    check_some_download_worked,
    check_timeout_s,
)
from curate.progress import working
from curate.recipes import load_recipe
from curate.records import RECORD_FIELDS
from curate.settings_fields import SettingError, setting
from curate.workspace import Workspace, changes_workspace

SOURCE = "commons"
DEFAULT_ENDPOINT = "https://commons.wikimedia.org/w/api.php"
# Commons is a shared, donation-run service: its thumbnails are fetched fewer at a time than the
# generic downloader's 16, with longer timeouts (a thumbnail of a new width is rendered on request).
# One place for the command's defaults, a recipe's kind = "commons" table and a library CommonsOptions.
COMMONS_DOWNLOAD = {"workers": 8, "per_host": 4, "connect_timeout_s": 30.0, "read_timeout_s": 30.0}


def commons_download(**changes) -> DownloadConfig:
    """The download settings of a Commons source: COMMONS_DOWNLOAD, then `changes`.

    >>> commons_download().workers, commons_download(workers=2).connect_timeout_s
    (8, 30.0)
    """
    return DownloadConfig(**{**COMMONS_DOWNLOAD, **changes})
THUMB_WIDTH_RANGE = (20, 4000)


def parse_near(text: str) -> tuple[float, float]:
    """'41.88,-87.63' -> (41.88, -87.63); a SettingError naming `near` otherwise.

    >>> parse_near("41.88, -87.63")
    (41.88, -87.63)
    """
    parts = text.replace(" ", "").split(",")
    try:
        lat, lon = (float(part) for part in parts)
    except ValueError:
        raise SettingError(f"{{near}} {text!r} is not LAT,LON in degrees, e.g. 41.8827,-87.6233", "near") from None
    return lat, lon


DEFAULT_RADIUS_M = 10_000


@dataclass(frozen=True)
class CommonsQuery:
    """Which files: a category's direct file members, or files geotagged near a point."""

    category: str | None = setting(None, help=(  # "Skylines of Chicago", with or without "Category:"
        "Category whose files to ingest, e.g. \"Skylines of Chicago\"."))
    near: tuple[float, float] | None = setting(None, metavar="LAT,LON", parse=parse_near, help=(
        "Files geotagged near this point (lat, lon in degrees)."))
    radius_m: int = setting(DEFAULT_RADIUS_M, help=(
        f"With near: search radius in metres ({RADIUS_MIN_M}..{RADIUS_MAX_M})."))
    max_photos: int | None = setting(None, help="Stop after this many photos (default: all).")
    thumb_width: int = setting(1024, help="Width of the thumbnail downloaded, pixels.")  # iiurlwidth
    label: str | None = setting(None, help="Label every photo of this query, e.g. chicago.")
    tags: tuple[str, ...] = setting((), flag="--tag", help="Extra tag on every photo, e.g. skyline (repeatable).")

    def __post_init__(self):
        if (self.category is None) == (self.near is None):
            raise SettingError("give exactly one of {category} NAME or {near} LAT,LON for a Commons query",
                               "category", "near")
        if self.category is not None:
            category_title(self.category)  # raises UsageError on a name that cannot be a title
            if self.radius_m != DEFAULT_RADIUS_M:  # (a radius asked for that nothing would read)
                raise SettingError("{radius_m} applies to a {near} query; a {category} lists the whole category: "
                                   "leave {radius_m} out", "radius_m", "near", "category")
        else:
            lat, lon = self.near
            if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
                raise SettingError(f"{{near}} {lat},{lon} is not a position; latitude is -90..90, longitude "
                                   "-180..180", "near")
            if not RADIUS_MIN_M <= self.radius_m <= RADIUS_MAX_M:
                raise SettingError(f"{{radius_m}} {self.radius_m} is outside what Commons geosearch allows "
                                   f"({RADIUS_MIN_M}..{RADIUS_MAX_M} m); cover a larger area with several "
                                   "{near} queries", "radius_m", "near")
        if self.max_photos is not None and self.max_photos < 1:
            raise SettingError(f"{{max_photos}} {self.max_photos} must be at least 1 (leave it out for no limit)",
                               "max_photos")
        if not THUMB_WIDTH_RANGE[0] <= self.thumb_width <= THUMB_WIDTH_RANGE[1]:
            raise SettingError(f"{{thumb_width}} {self.thumb_width} must be between {THUMB_WIDTH_RANGE[0]} and "
                               f"{THUMB_WIDTH_RANGE[1]} pixels", "thumb_width")

    def describe(self) -> str:
        if self.category is not None:
            return category_title(self.category)
        return f"files within {self.radius_m} m of {self.near[0]:g},{self.near[1]:g}"


@dataclass(frozen=True)
class CommonsOptions:
    """One `curate ingest commons` run."""

    query: CommonsQuery
    recipe: str | None = setting(None, help="Dataset recipe (name or .toml) to match tags to labels.")
    endpoint: str = setting(DEFAULT_ENDPOINT, hidden=True, help="api.php URL (tests).")
    maxlag_s: int = setting(5, help=(  # ask the API to refuse (and us to wait) while replicas lag more than this
        "Seconds of replica lag past which the API is asked to refuse (and the listing waits)."))
    download: DownloadConfig = field(default_factory=commons_download)  # its fields are the download settings
    contact: str | None = setting(None, help="Your e-mail or URL, sent in the User-Agent as Wikimedia asks.")
    page_size: int = setting(API_BATCH, help="Files per listing batch (gcmlimit).")
    api_timeout_s: float = setting(30.0, flag="--timeout", help="API timeout, seconds.")
    api_retries: int = setting(5, help="API request retries.")
    api_backoff_s: float = setting(2.0, help="API retry n waits about this x 2**n s, unless Retry-After says.")
    api_backoff_max_s: float = setting(60.0, help="Longest wait between API retries, seconds.")
    api_retry_after_cap_s: float = setting(120.0, help="Longest wait an API Retry-After may ask for, seconds.")
    checkpoint_seconds: float = setting(5.0, help="Seconds between two saves of the progress journal.")

    def __post_init__(self) -> None:
        check_timeout_s(self.api_timeout_s, "api_timeout_s")
        check_api_retries(self.api_retries, self.api_backoff_s, self.api_backoff_max_s, self.api_retry_after_cap_s,
                          ("api_retries", "api_backoff_s", "api_backoff_max_s", "api_retry_after_cap_s"))
        check_range(self.page_size, "page_size", 1, API_BATCH, whole=True)
        check_range(self.maxlag_s, "maxlag_s", 1, 600, whole=True)
        if self.contact and (not self.contact.isprintable() or not self.contact.isascii()):
            raise SettingError(f"{{contact}} {self.contact!r} must be plain printable ASCII (an e-mail or URL)",
                               "contact")


@dataclass
class CommonsReport(IngestReport):
    """The engine's IngestReport plus what the listing did."""

    query: str = ""
    listed: int = 0  # file records listed (photos and dropped non-photos), before --max-photos
    api_requests: int = 0  # API requests of this query, interrupted runs included
    skipped_by_reason: dict[str, int] = field(default_factory=dict)  # listed pages that made no row
    resumed_listing: bool = False


def user_agent(options: CommonsOptions) -> str:
    """The downloader's User-Agent with a contact, which Wikimedia's User-Agent policy asks for."""
    base = options.download.user_agent
    if not options.contact:
        return base
    name, _, rest = base.partition(" (")
    return f"{name} ({options.contact}; {rest}" if rest else f"{base} ({options.contact})"


def query_identity(options: CommonsOptions) -> dict:
    """What makes two runs the same listing (the cursor's name). Labels, tags and
    --max-photos are applied after listing, so changing them keeps the cursor."""
    query = options.query
    where = {"category": category_title(query.category)} if query.category is not None else \
        {"near": [round(query.near[0], 6), round(query.near[1], 6)], "radius_m": query.radius_m}
    return {"endpoint": options.endpoint, **where, "thumb_width": query.thumb_width}


def list_files(client: CommonsClient, options: CommonsOptions, cursor: ListingCursor,
               state: ListingState) -> ListingState:
    """Follow the listing from `state` until it ends or --max-photos photos are listed.

    Each complete batch (the API says `batchcomplete`, or nothing is left to continue)
    is committed; a batch whose props arrive over several answers is only committed
    once all of them are in, from the continue token that started it.
    """
    query = options.query
    limit = options.page_size if query.category is not None else \
        min(GEOSEARCH_MAX, (query.max_photos or GEOSEARCH_MAX) + API_BATCH)  # slack for non-photos
    params = listing_params(category=query.category, near=query.near, radius_m=query.radius_m, limit=limit,
                            thumb_width=query.thumb_width)
    seen = {record["source_id"] for record in state.records}
    photos = sum(record["drop_reason"] is None for record in state.records)
    token, batch = state.continue_token, {}
    with working("listing Commons files") as show_status:
        while not state.listing_done and (query.max_photos is None or photos < query.max_photos):
            before, sent = client.requests_made, token
            payload = client.query({**params, **(token or {})}, validate=response_pages)
            state.api_requests += client.requests_made - before
            batch = merge_pages(batch, response_pages(payload))
            token = payload.get("continue") if isinstance(payload.get("continue"), dict) else None
            if token is not None and token == sent:  # a server that would keep us here forever
                raise UpstreamError(f"Commons API at {options.endpoint} answered the same continue token twice "
                                    f"({token}); stopping rather than looping")
            if not (payload.get("batchcomplete") or token is None):
                continue  # props of this batch continue in the next answer
            records, skipped = batch_records(batch)
            new = [record for record in records if record["source_id"] not in seen]
            seen.update(record["source_id"] for record in new)
            photos += sum(record["drop_reason"] is None for record in new)
            state.records.extend(new)
            state.skipped = dict(Counter(state.skipped) + skipped)
            state.continue_token, state.listing_done = token, token is None
            cursor.commit(state, new)
            batch = {}
            show_status(f"listing Commons files: {photos:,} photos, {state.api_requests:,} API requests")
    return state


def records_frame(records: list[dict], query: CommonsQuery) -> pd.DataFrame:
    """Engine records for the listed files, cut after the max_photos-th photo, with the
    query's label and tags."""
    if query.max_photos is not None:
        is_photo = pd.Series([record["drop_reason"] is None for record in records], dtype=bool)
        cut = int(is_photo.cumsum().searchsorted(query.max_photos)) + 1
        records = records[:cut]
    frame = pd.DataFrame.from_records(records, columns=[*RECORD_FIELDS, "drop_reason"])
    frame["tags"] = [list(tags or []) + list(query.tags) for tags in frame["tags"]]
    frame["label"] = query.label
    return frame


@changes_workspace
def ingest_commons(ws: Workspace, options: CommonsOptions) -> CommonsReport:
    """List the query's files and download their thumbnails into the catalog (resumable).

    Returns a CommonsReport: the engine's counts (rows, stored, dropped by reason...) and
    the listing's (files listed, API requests, pages skipped). Raises UsageError for a
    bad query, UpstreamError when the API refuses or keeps failing.

    Listing a category (needs the network; tests use a loopback fake of the API)::

        ingest_commons(Workspace(Path("ws")), CommonsOptions(CommonsQuery(
            category="Skylines of Chicago", max_photos=100, label="chicago", tags=("skyline",))))
    """
    recipe = load_recipe(options.recipe) if options.recipe else None
    ws.ensure()
    cursor = ListingCursor(ws, query_identity(options))
    state = cursor.load()
    resumed = state.resumed
    agent = user_agent(options)
    if not state.listing_done:
        with CommonsClient(options.endpoint, agent, maxlag_s=options.maxlag_s,
                           timeout_s=options.api_timeout_s, retries=options.api_retries,
                           backoff_base_s=options.api_backoff_s, backoff_max_s=options.api_backoff_max_s,
                           retry_after_cap_s=options.api_retry_after_cap_s) as client:
            state = list_files(client, options, cursor, state)
    records = records_frame(state.records, options.query)
    # Thumbnails come from upload.wikimedia.org: the same contact-bearing User-Agent there.
    with Downloader(replace(options.download, user_agent=agent)) as downloader:
        job = IngestJob(SOURCE, records, downloader, recipe=recipe, workers=options.download.workers,
                        retry_reasons=TRANSIENT_REASONS, checkpoint_seconds=options.checkpoint_seconds)
        engine_report = run_ingest(ws, job)
    cursor.clear()
    check_some_download_worked(engine_report)  # every download failed for a passing reason: exit 4
    return CommonsReport(**asdict(engine_report), query=options.query.describe(), listed=len(state.records),
                         api_requests=state.api_requests, skipped_by_reason=dict(state.skipped),
                         resumed_listing=resumed)
