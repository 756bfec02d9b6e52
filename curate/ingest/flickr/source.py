"""`curate ingest flickr`: photos found by a Flickr tag search, with licence and attribution.

Two phases, each resumable:

1. listing: `flickr.photos.search` page by page along the query plan (see
   curate.ingest.flickr.plan: date slicing under the ~4,000-result cap, a cursor saved
   after every page, photos appended to a record log and deduplicated by id);
2. downloading: the listed photos go through the shared ingest engine and A's
   Downloader (journal, atomic catalog checkpoints; rows already in the catalog are
   never fetched again).

A killed run re-run with the same query continues where it stopped: at most the page in
flight is requested again, and no image is downloaded twice. Once a query's listing is
complete, re-running it calls no API at all (pass refresh=True / --refresh to list again).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from curate.errors import UpstreamError, UsageError
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import IngestJob, IngestReport
from curate.ingest.flickr.api import DEFAULT_ENDPOINT, ApiConfig, FlickrClient
from curate.ingest.flickr.pages import SEARCH_EXTRAS, Licence, MalformedPage, parse_licenses, parse_search_page
from curate.ingest.flickr.plan import DATE_FORMAT, FLICKR_CAP, Plan, PlanStore, query_key, root_slice
from curate.ingest.http import (
    TRANSIENT_REASONS,
    DownloadConfig,
    Downloader,
    check_api_retries,
    check_some_download_worked,
    check_timeout_s,
    is_http_url,
)
from curate.progress import working
from curate.recipes import load_recipe
from curate.settings_fields import SettingError, setting
from curate.workspace import Workspace, changes_workspace

SOURCE = "flickr"
KEY_ENV = "FLICKR_API_KEY"
CONFIG_ENV = "CURATE_FLICKR_CONFIG"
DEFAULT_CONFIG = "~/.config/curate/flickr.toml"
MAX_RADIUS_KM = 32.0  # Flickr's limit for radius searches
PER_PAGE, PER_PAGE_GEO = 500, 250  # Flickr's maxima; geo queries get at most 250


def parse_bbox(text: str) -> tuple[float, ...]:
    """'-87.7,41.8,-87.55,41.95' -> the four numbers; a SettingError naming `bbox` otherwise.

    >>> parse_bbox("-87.7, 41.8, -87.55, 41.95")
    (-87.7, 41.8, -87.55, 41.95)
    """
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise SettingError(f"{{bbox}} takes 4 comma-separated numbers, got {text!r}", "bbox")
    return values


@dataclass(frozen=True)
class FlickrQuery:
    """What to search for (the fields of `flickr.photos.search` this tool uses)."""

    tags: tuple[str, ...] = setting(help="Comma-separated tags, e.g. chicago,skyline.")
    tag_mode: str = setting("all", help="all: every tag; any: at least one.")
    license: str = setting("cc", help="cc (Creative Commons licences), any, or Flickr licence ids like 4,5,9.")
    bbox: tuple[float, float, float, float] | None = setting(None, parse=parse_bbox, help=(
        "min_lon,min_lat,max_lon,max_lat."))
    lat: float | None = setting(None, help="Centre latitude for a radius search.")
    lon: float | None = setting(None, help="Centre longitude for a radius search.")
    radius_km: float | None = setting(None, help=f"Radius in km (Flickr: at most {MAX_RADIUS_KM:g}).")
    min_taken: str | None = setting(None, help="Taken on or after (ISO date or datetime).")
    max_taken: str | None = setting(None, help="Taken on or before (ISO date: the whole day; or datetime).")
    has_geo: bool = setting(False, flag="--has-geo", help="Only geotagged photos.")
    max_photos: int | None = setting(None, help="Stop after N photos.")

    def __post_init__(self) -> None:
        validate_query(self)

    @property
    def is_geo(self) -> bool:
        return self.bbox is not None or self.lat is not None or self.has_geo


@dataclass(frozen=True)
class FlickrOptions:
    """One `curate ingest flickr` run."""

    query: FlickrQuery
    recipe: str | None = setting(None, help="Dataset recipe (name or .toml) to match tags to labels.")
    endpoint: str = setting(DEFAULT_ENDPOINT, help="Flickr's REST API URL: change it only for a mirror, a proxy "
                            "or a local server replaying recorded answers (offline tests).")
    calls_per_hour: float = setting(ApiConfig.calls_per_hour, help="API call budget (Flickr allows 3,600 per key).")
    download: DownloadConfig = field(default_factory=DownloadConfig)  # its own fields are the download settings
    # The API client's settings, prefixed so that a recipe's [[sources]] table can tell them
    # from the image download's (connect_timeout_s, retries... belong to `download`).
    api_connect_timeout_s: float = setting(ApiConfig.connect_timeout_s, help="API connect timeout, seconds.")
    api_read_timeout_s: float = setting(ApiConfig.read_timeout_s, help="API read timeout, seconds.")
    api_retries: int = setting(ApiConfig.retries, help="API call retries (5xx, 429, timeouts).")
    api_backoff_base_s: float = setting(ApiConfig.backoff_base_s, help="API retry n waits about this x 2**n s.")
    api_backoff_max_s: float = setting(ApiConfig.backoff_max_s, help="Longest wait between API retries, seconds.")
    api_retry_after_cap_s: float = setting(ApiConfig.retry_after_cap_s, help=(
        "Longest wait an API Retry-After header may ask for, seconds."))
    cap: int = setting(FLICKR_CAP, help="Results Flickr serves per query before repeating pages (date slices past it).")
    refresh: bool = setting(False, flag="--refresh", help="List again although this query finished before.")
    download_images: bool = setting(True, help="Download the images (--no-download-images: the listing only).")
    checkpoint_seconds: float = setting(5.0, help="Seconds between two saves of the progress journal.")

    def __post_init__(self) -> None:
        if not is_http_url(self.endpoint):
            raise SettingError(f"{{endpoint}} {self.endpoint!r} is not an http(s) URL of Flickr's REST API "
                               f"(the default is {DEFAULT_ENDPOINT})", "endpoint")
        if not self.calls_per_hour > 0:
            raise SettingError(f"{{calls_per_hour}} must be positive (Flickr allows 3600 a key), got "
                               f"{self.calls_per_hour:g}", "calls_per_hour")
        check_timeout_s(self.api_connect_timeout_s, "api_connect_timeout_s")
        check_timeout_s(self.api_read_timeout_s, "api_read_timeout_s")
        check_api_retries(self.api_retries, self.api_backoff_base_s, self.api_backoff_max_s, self.api_retry_after_cap_s,
                          ("api_retries", "api_backoff_base_s", "api_backoff_max_s", "api_retry_after_cap_s"))
        if not (isinstance(self.cap, int) and 1 <= self.cap <= FLICKR_CAP):
            raise SettingError(f"{{cap}} must be a whole number from 1 to {FLICKR_CAP:,} (what Flickr serves per "
                               f"query), got {self.cap!r}", "cap")

    def api_config(self) -> ApiConfig:
        return ApiConfig(endpoint=self.endpoint, calls_per_hour=self.calls_per_hour,
                         connect_timeout_s=self.api_connect_timeout_s, read_timeout_s=self.api_read_timeout_s,
                         retries=self.api_retries, backoff_base_s=self.api_backoff_base_s,
                         backoff_max_s=self.api_backoff_max_s, retry_after_cap_s=self.api_retry_after_cap_s)


@dataclass
class FlickrIngestReport(IngestReport):
    """The engine's report plus what the listing did."""

    query_key: str = ""
    api_calls: int = 0  # HTTP requests to the API in this run, retries included
    pages_listed: int = 0  # good search pages in this run
    photos_listed: int = 0  # unique photos found by the query (all runs)
    slices: int = 0  # date slices in the plan
    malformed_pages: int = 0  # skipped (all runs)
    malformed_photos: int = 0  # photos without id/owner in good pages, skipped
    truncated_photos: int = 0  # over the cap in a slice too narrow to split: not reachable
    listing_resumed: bool = False


def resolve_api_key(api_key: str | None = None) -> str:
    """The key given, else $FLICKR_API_KEY, else `api_key` in the config file (never in the repo).

    The config file is ~/.config/curate/flickr.toml, or $CURATE_FLICKR_CONFIG. Raises
    UsageError naming FLICKR_API_KEY when there is none. Messages never include the key.
    """
    if api_key and api_key.strip():
        return api_key.strip()
    from_env = os.environ.get(KEY_ENV, "").strip()
    if from_env:
        return from_env
    path = Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()
    if path.is_file():
        try:
            value = tomllib.loads(path.read_text(encoding="utf-8")).get("api_key")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read the Flickr config {path} ({type(exc).__name__}); "
                             f'it should hold one line: api_key = "..."') from None
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value is not None:  # say what is wrong without echoing it: it may be the key
            raise UsageError(f"api_key in the Flickr config {path} must be a quoted string, got a "
                             f'{type(value).__name__}: write api_key = "..."')
    raise UsageError(f"no Flickr API key: set {KEY_ENV} (or api_key = \"...\" in {DEFAULT_CONFIG}, "
                     f"path overridable with {CONFIG_ENV})")


def validate_query(query: FlickrQuery) -> None:
    """Raise a SettingError on the first invalid field (one line: what and how to fix; the
    field named as the user gave it, flag or [[sources]] key)."""
    if not query.tags or not all(str(tag).strip() for tag in query.tags):
        raise SettingError("give at least one tag, e.g. {tags} chicago,skyline", "tags")
    if query.tag_mode not in ("all", "any"):
        raise SettingError(f"{{tag_mode}} must be 'all' or 'any', not {query.tag_mode!r}", "tag_mode")
    licence = query.license.strip().lower()
    if licence not in ("cc", "any") and not all(part.strip().isdigit() for part in licence.split(",")):
        raise SettingError(f"licence must be 'cc', 'any' or Flickr licence ids like 4,5,9 ({{license}}), not "
                           f"{query.license!r}", "license")
    if query.bbox is not None:
        _check_bbox(query.bbox)
    circle = (query.lat, query.lon, query.radius_km)
    if any(v is not None for v in circle):
        if query.bbox is not None:
            raise SettingError("give either {bbox} or {lat}/{lon}/{radius_km}, not both", "bbox", "lat", "lon",
                               "radius_km")
        if any(v is None for v in circle):
            raise SettingError("a radius search needs all of {lat}, {lon} and {radius_km}", "lat", "lon", "radius_km")
        if not (-90 <= query.lat <= 90 and -180 <= query.lon <= 180):
            raise SettingError(f"{{lat}}/{{lon}} {query.lat},{query.lon} out of range (lat -90..90, lon -180..180)",
                               "lat", "lon")
        if not 0 < query.radius_km <= MAX_RADIUS_KM:
            raise SettingError(f"{{radius_km}} {query.radius_km:g} km: Flickr allows 0 < radius <= "
                               f"{MAX_RADIUS_KM:g} km; use {{bbox}} for a larger area", "radius_km", "bbox")
    low, high = taken_range(query)
    if low and high and low > high:
        raise SettingError(f"{{min_taken}} {query.min_taken} is after {{max_taken}} {query.max_taken}", "min_taken",
                           "max_taken")
    if query.max_photos is not None and query.max_photos < 1:
        raise SettingError(f"{{max_photos}} must be at least 1, got {query.max_photos}", "max_photos")


def _check_bbox(bbox: tuple) -> None:
    if len(bbox) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in bbox):
        raise SettingError("{bbox} is 4 numbers: min_lon,min_lat,max_lon,max_lat", "bbox")
    min_lon, min_lat, max_lon, max_lat = bbox
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise SettingError(f"bad {{bbox}} {','.join(f'{v:g}' for v in bbox)}: want min_lon,min_lat,max_lon,max_lat "
                           "with min < max, lon in -180..180, lat in -90..90", "bbox")


def taken_range(query: FlickrQuery) -> tuple[str | None, str | None]:
    """The query's taken dates as Flickr datetimes; a date-only max covers its whole day."""
    return (_as_datetime(query.min_taken, "min_taken", end_of_day=False),
            _as_datetime(query.max_taken, "max_taken", end_of_day=True))


def _as_datetime(text: str | None, name: str, end_of_day: bool) -> str | None:
    if not text:
        return None
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            moment = datetime(day.year, day.month, day.day, *((23, 59, 59) if end_of_day else (0, 0, 0)))
        else:
            moment = datetime.fromisoformat(text.strip()).replace(tzinfo=None, microsecond=0)
    except ValueError:
        raise SettingError(f"{{{name}}} {text!r} is not an ISO date like 2019-06-30", name) from None
    return moment.strftime(DATE_FORMAT)


def licence_filter(spec: str, licences: dict) -> str | None:
    """The `license` parameter for `spec` ('cc', 'any', or ids), checked against getInfo."""
    spec = spec.strip().lower()
    if spec == "any":
        return None
    if spec == "cc":
        ids = [lid for lid, licence in licences.items() if licence.is_creative_commons]
    else:
        ids = [part.strip() for part in spec.split(",") if part.strip()]
        unknown = [lid for lid in ids if lid not in licences]
        if unknown:
            known = ", ".join(f"{lid}={lic.name}" for lid, lic in sorted(licences.items(),
                                                                         key=lambda kv: _id_order(kv[0])))
            raise UsageError(f"unknown Flickr licence id {', '.join(unknown)}; known: {known}")
    return ",".join(sorted(set(ids), key=_id_order))


def _id_order(licence_id: str) -> tuple:
    """Numeric ids in numeric order; anything else after them (never an exception)."""
    return (0, int(licence_id), "") if licence_id.isdigit() else (1, 0, licence_id)


def search_params(query: FlickrQuery, plan: Plan, index: int, page: int) -> dict:
    """The `flickr.photos.search` parameters for one page of one slice."""
    piece = plan.slices[index]
    params = {"tags": ",".join(t.strip() for t in query.tags), "tag_mode": query.tag_mode,
              "license": plan.licence_filter, "extras": ",".join(SEARCH_EXTRAS), "per_page": plan.per_page,
              "page": page, "sort": "date-taken-asc", "media": "photos"}
    if query.bbox is not None:
        params["bbox"] = ",".join(f"{v:g}" for v in query.bbox)
    if query.lat is not None:
        params.update(lat=f"{query.lat:g}", lon=f"{query.lon:g}", radius=f"{query.radius_km:g}", radius_units="km")
    if query.has_geo:
        params["has_geo"] = 1
    if piece.dated:
        params.update(min_taken_date=piece.min_taken, max_taken_date=piece.max_taken)
    return params


def new_plan(query: FlickrQuery, key: str, licences: dict, cap: int) -> Plan:
    per_page = PER_PAGE_GEO if query.is_geo else PER_PAGE
    if query.max_photos:
        per_page = min(per_page, query.max_photos)
    low, high = taken_range(query)
    return Plan(query_key=key, query=_query_dict(query), licence_names={k: v.name for k, v in licences.items()},
                licence_filter=licence_filter(query.license, licences), per_page=per_page, cap=cap,
                slices=[root_slice(low, high)])


def _query_dict(query: FlickrQuery) -> dict:
    return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(query).items()}


def start_plan(client: FlickrClient, query: FlickrQuery, key: str, cap: int) -> Plan:
    """A fresh plan, with the licence table from `flickr.photos.licenses.getInfo`."""
    try:
        licences = parse_licenses(client.call("flickr.photos.licenses.getInfo"))
        odd = [licence_id for licence_id in licences if not licence_id.isdigit()]
        if odd:  # ids are sorted and sent as numbers: "abc" would fail later with a traceback
            raise MalformedPage(f"licence id {odd[0][:40]!r} is not a number")
    except MalformedPage as exc:
        raise UpstreamError(f"Flickr's licence list is unreadable ({client.scrub(str(exc))}); "
                            "try again later") from None
    plan = new_plan(query, key, licences, cap)
    plan.api_calls = client.calls
    return plan


def list_photos(client: FlickrClient, query: FlickrQuery, plan: Plan, store: PlanStore) -> tuple[int, list[dict]]:
    """Walk the plan to its end, saving it after every page.

    Returns the good pages of this run and every photo listed (earlier runs' first), the
    same list as `store.records()` would read back, so the caller need not read the log again.
    """
    licences = {lid: Licence(lid, name) for lid, name in plan.licence_names.items()}
    records = store.records()
    seen = {record["source_id"] for record in records}
    plan.listed = len(seen)
    pages = 0
    with working("listing Flickr photos") as show_status:
        while (request := plan.next_request()) is not None:
            index, page_number = request
            calls = client.calls
            try:
                payload = client.call("flickr.photos.search", **search_params(query, plan, index, page_number))
                page = parse_search_page(payload, licences)
            except MalformedPage as exc:
                plan.skip_page(index, client.scrub(str(exc)))
            else:
                plan.take_page(index, page)
                unique: dict[str, dict] = {}
                for record in page.records:  # first occurrence of an id, as store.records() keeps
                    unique.setdefault(record["source_id"], record)
                fresh = [r for source_id, r in unique.items() if source_id not in seen]
                if query.max_photos:
                    fresh = fresh[:max(0, query.max_photos - len(seen))]
                store.append(fresh)
                records.extend(fresh)
                seen.update(r["source_id"] for r in fresh)
                pages += 1
            plan.listed = len(seen)
            plan.api_calls += client.calls - calls
            if query.max_photos and len(seen) >= query.max_photos:
                plan.complete = True
            store.save(plan)
            show_status(f"listing Flickr photos: {len(seen):,} found, {plan.pages_done:,} pages, "
                          f"{len(plan.slices)} date slices")
    store.save(plan)  # complete now (next_request said so): a later run lists nothing and reads "not resumed"
    return pages, records


@changes_workspace
def ingest_flickr(ws: Workspace, options: FlickrOptions, api_key: str | None = None) -> FlickrIngestReport:
    """List the photos of `options.query` on Flickr and download them into the workspace.

    Resumable (see the module docstring). Raises UsageError for a bad query or a missing
    key, UpstreamError when Flickr refuses (invalid key) or stays down after retries.

    Listing a query (needs the network and FLICKR_API_KEY; tests use a loopback fake)::

        ingest_flickr(Workspace(Path("ws")), FlickrOptions(FlickrQuery(tags=("chicago", "skyline"))))
    """
    validate_query(options.query)
    key = resolve_api_key(api_key)
    recipe = load_recipe(options.recipe) if options.recipe else None
    ws.ensure()
    qkey = query_key(_query_dict(options.query))
    store = PlanStore(ws, qkey)
    if options.refresh:
        store.reset()
    plan = store.load()
    resumed = plan is not None and not plan.complete and plan.pages_done > 0
    calls = pages = 0
    if plan is None or not plan.complete:
        with FlickrClient(key, options.api_config()) as client:
            if plan is None:
                plan = start_plan(client, options.query, qkey, options.cap)
                store.save(plan)
            pages, listed = list_photos(client, options.query, plan, store)
            calls = client.calls
    else:
        listed = store.records()
    records = pd.DataFrame.from_records(listed)
    if records.empty:
        records = pd.DataFrame(columns=["source_id", "url"])
    fetch = Downloader(options.download) if options.download_images else None
    try:
        job = IngestJob(SOURCE, records, fetch, recipe=recipe, workers=options.download.workers,
                        retry_reasons=TRANSIENT_REASONS, checkpoint_seconds=options.checkpoint_seconds)
        engine_report = run_ingest(ws, job)
    finally:
        if fetch is not None:
            fetch.close()
    check_some_download_worked(engine_report)  # every download failed for a passing reason: exit 4
    return FlickrIngestReport(**asdict(engine_report), query_key=qkey, api_calls=calls, pages_listed=pages,
                              photos_listed=plan.listed, slices=len(plan.slices),
                              malformed_pages=len(plan.malformed_pages), malformed_photos=plan.malformed_photos,
                              truncated_photos=plan.truncated_photos, listing_resumed=resumed)
