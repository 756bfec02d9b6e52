"""Pure functions over MediaWiki API answers: request parameters, batch merging, file page -> record.

No I/O here. A Commons listing is a *generator* query (`categorymembers` or `geosearch`
in namespace 6) with `prop=imageinfo|categories|coordinates`, read in the API's JSON
format version 2. One "batch" of generated pages may come back over several responses
when a prop module has to continue (e.g. `iicontinue`: ApiQueryImageInfo renders at
most 50 thumbnails per request); `merge_pages` joins those partial pages and the batch
is complete when the API says `batchcomplete`.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from html.parser import HTMLParser

from curate.errors import UsageError
from curate.records import to_float

API_BATCH = 50  # generator limit: ApiQueryImageInfo renders at most 50 thumbnails per request
GEOSEARCH_MAX = 500  # list=geosearch returns at most 500 pages and has no continuation
RADIUS_MIN_M, RADIUS_MAX_M = 10, 10_000  # list=geosearch's own bounds for gsradius
EXTMETADATA_FIELDS = ("Artist", "LicenseShortName", "GPSLatitude", "GPSLongitude", "DateTimeOriginal")
# image/* files that are drawings or documents, not photos (their thumbnails are renderings).
NOT_PHOTO_MIME = frozenset({"image/svg+xml", "image/vnd.djvu", "image/x-djvu", "image/x-xcf"})
PHOTO_EXTENSIONS = frozenset({"jpg", "jpeg", "jpe", "png", "tif", "tiff", "webp", "gif"})
UNKNOWN_ARTISTS = frozenset({"unknown", "unknown author", "unknown photographer", "anonymous", "anonymous author",
                             "author unknown", "not known", "unknown artist"})
_INVALID_TITLE_CHARS = re.compile(r"[#<>\[\]|{}\x00-\x1f\x7f]")
_DATETIME_ATTR = re.compile(r'datetime="([^"]+)"')
_DATE = re.compile(r"(?<!\d)(\d{4})[-:/.](\d{1,2})[-:/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?(?!\d)")

# Why a listed page did not become a catalog row (counted in the report).
SKIP_MISSING = "missing_file"  # deleted between listing and query
SKIP_MALFORMED = "malformed_page"  # no page id to name the row by
# Drop reasons of rows kept in the catalog without an image.
DROP_NOT_A_PHOTO = "unsupported_mime"
DROP_MALFORMED = "malformed_metadata"


def category_title(name: str) -> str:
    """'Category:<Name>' for a category given with or without the prefix.

    >>> category_title("category:Skylines_of_Chicago")
    'Category:Skylines of Chicago'
    """
    text = " ".join(str(name).replace("_", " ").split())
    if text[:9].casefold() == "category:":
        text = text[9:].strip()
    if not text or _INVALID_TITLE_CHARS.search(text):
        raise UsageError(f"--category {name!r} is not a Commons category name; pass it as it appears after "
                         "'Category:' in the category page's title, e.g. --category \"Skylines of Chicago\"")
    return "Category:" + text[0].upper() + text[1:]  # MediaWiki titles start upper-case


def listing_params(*, category: str | None, near: tuple[float, float] | None, radius_m: int,
                   limit: int, thumb_width: int) -> dict[str, str]:
    """Query-string parameters of one listing request (without `continue` and `maxlag`)."""
    params = {
        "action": "query", "format": "json", "formatversion": "2",
        "prop": "imageinfo|categories|coordinates",
        "iiprop": "url|extmetadata|user|size|mime", "iiurlwidth": str(thumb_width),
        "iiextmetadatafilter": "|".join(EXTMETADATA_FIELDS),
        "clshow": "!hidden", "cllimit": "max", "colimit": "max",
    }
    if category is not None:
        params.update(generator="categorymembers", gcmtitle=category_title(category), gcmtype="file",
                      gcmnamespace="6", gcmlimit=str(limit))
    else:
        lat, lon = near
        params.update(generator="geosearch", ggscoord=f"{lat:.6f}|{lon:.6f}", ggsradius=str(radius_m),
                      ggsnamespace="6", ggslimit=str(limit))
    return params


def response_pages(payload: dict) -> list:
    """`query.pages` of an answer (empty when the query found nothing); ValueError if malformed."""
    query = payload.get("query", {})
    pages = query.get("pages", []) if isinstance(query, dict) else None
    if not isinstance(pages, list):
        raise ValueError("query.pages is not a list (is the request missing formatversion=2?)")
    return pages


def page_key(page: dict) -> str | None:
    """Identity of a page within a batch: its id, else its title."""
    if isinstance(page.get("pageid"), int):
        return f"id:{page['pageid']}"
    if isinstance(page.get("title"), str):
        return f"title:{page['title']}"
    return None


def merge_pages(batch: dict[str, dict], pages: list) -> dict[str, dict]:
    """The batch with one more answer's pages folded in (a new dict; inputs untouched).

    A page seen again gains the list props it lacked or had only in part (imageinfo,
    categories, coordinates arrive in pieces when a prop module continues); entries
    that are not objects, or carry neither id nor title, are kept under a key of their
    own so that `batch_records` can count them.
    """
    merged = dict(batch)
    for position, page in enumerate(pages):
        if not isinstance(page, dict) or page_key(page) is None:
            merged[f"junk:{len(merged)}:{position}"] = {"_junk": True}
            continue
        key = page_key(page)
        old = merged.get(key)
        if old is None:
            merged[key] = dict(page)
            continue
        combined = dict(old)
        for name, value in page.items():
            if isinstance(value, list) and isinstance(combined.get(name), list):
                combined[name] = combined[name] + [item for item in value if item not in combined[name]]
            else:
                combined.setdefault(name, value)
        merged[key] = combined
    return merged


def batch_records(batch: dict[str, dict]) -> tuple[list[dict], Counter]:
    """Records of a complete batch in the API's order, and what was skipped by reason."""
    pages = list(batch.values())
    if pages and all(isinstance(p.get("index"), int) for p in pages):
        pages.sort(key=lambda p: p["index"])  # geosearch: nearest first
    records, skipped = [], Counter()
    for page in pages:
        outcome = page_record(page)
        if isinstance(outcome, str):
            skipped[outcome] += 1
        else:
            records.append(outcome)
    return records, skipped


def page_record(page: dict) -> dict | str:
    """One file page as a record (RECORD_FIELDS + drop_reason), or a skip reason.

    A file that is not a photo (PDF, video, SVG...) or whose imageinfo is unusable is
    still a record, dropped with `unsupported_mime` / `malformed_metadata`, so the
    catalog says why it holds no image.
    """
    if page.get("_junk") or not isinstance(page.get("pageid"), int):
        return SKIP_MISSING if page.get("missing") else SKIP_MALFORMED
    title = str(page.get("title") or "")
    record = {"source_id": str(page["pageid"]), "owner_id": None, "owner_name": None, "title": file_stem(title),
              "tags": page_categories(page), "lat": None, "lon": None, "taken_at": None, "license": None,
              "url": None, "drop_reason": None}
    infos = page.get("imageinfo")
    info = infos[0] if isinstance(infos, list) and infos and isinstance(infos[0], dict) else None
    image_url = (info.get("thumburl") or info.get("url")) if info else None
    if not isinstance(image_url, str) or not image_url:
        record["drop_reason"] = DROP_MALFORMED
        return record
    meta = info.get("extmetadata") if isinstance(info.get("extmetadata"), dict) else {}
    artist = strip_html(meta_value(meta, "Artist"))
    if artist.casefold().rstrip(".") in UNKNOWN_ARTISTS:
        artist = ""  # "Unknown author" is nobody: one giant owner group would skew owner caps and splits
    owner = (artist or str(info.get("user") or "").strip())[:200] or None
    lat, lon = page_position(page, meta)
    page_url = info.get("descriptionurl") if isinstance(info.get("descriptionurl"), str) else None
    record.update(owner_id=owner, owner_name=owner, lat=lat, lon=lon, url=image_url,
                  page_url=page_url or f"https://commons.wikimedia.org/w/index.php?curid={page['pageid']}",
                  taken_at=commons_taken_at(meta_value(meta, "DateTimeOriginal")),
                  license=strip_html(meta_value(meta, "LicenseShortName")) or None)
    if not is_photo(info.get("mime"), title):
        record["drop_reason"] = DROP_NOT_A_PHOTO
    return record


def meta_value(meta: dict, name: str) -> str:
    """The text of one extmetadata field ('' when absent)."""
    entry = meta.get(name)
    value = entry.get("value") if isinstance(entry, dict) else None
    return "" if value is None else str(value)


def file_stem(title: str) -> str:
    """'File:Chicago skyline.jpg' -> 'Chicago skyline'."""
    name = title.split(":", 1)[1] if title[:5].casefold() == "file:" else title
    stem, dot, extension = name.rpartition(".")
    return stem if dot and stem and extension.isalnum() and len(extension) <= 5 else name


def is_photo(mime: object, title: str) -> bool:
    """A raster image (by MIME type, else by the file's extension)."""
    if isinstance(mime, str) and mime:
        mime = mime.lower()
        return mime.startswith("image/") and mime not in NOT_PHOTO_MIME
    return title.rpartition(".")[2].lower() in PHOTO_EXTENSIONS


def page_categories(page: dict) -> list[str]:
    """Category names without 'Category:'; hidden ones left out.

    The listing asks for prop=categories with clshow=!hidden, so the server leaves out
    hidden (maintenance, licence) categories; entries marked hidden are dropped anyway.
    """
    entries = page.get("categories")
    names = []
    for entry in entries if isinstance(entries, list) else []:
        title = entry.get("title") if isinstance(entry, dict) and not entry.get("hidden") else None
        if isinstance(title, str):
            name = title.split(":", 1)[1] if title[:9].casefold() == "category:" else title
            names.append(" ".join(name.replace("_", " ").split()))
    return [name for name in names if name]


def page_position(page: dict, meta: dict) -> tuple[float | None, float | None]:
    """(lat, lon) from extmetadata GPSLatitude/GPSLongitude, else the page's primary coordinates."""
    lat, lon = to_float(meta_value(meta, "GPSLatitude")), to_float(meta_value(meta, "GPSLongitude"))
    if lat is not None and lon is not None:
        return lat, lon
    coordinates = [c for c in page.get("coordinates") or [] if isinstance(c, dict)]
    coordinates.sort(key=lambda c: not c.get("primary"))
    for entry in coordinates:
        if str(entry.get("globe", "earth")).lower() == "earth":
            lat, lon = to_float(entry.get("lat")), to_float(entry.get("lon"))
            if lat is not None and lon is not None:
                return lat, lon
    return None, None


def commons_taken_at(value: str) -> str | None:
    """An ISO timestamp from DateTimeOriginal, which is free text on Commons.

    Takes a `<time datetime=...>` attribute, else the first YYYY-MM-DD (or EXIF
    YYYY:MM:DD) with an optional time; anything vaguer ("circa 1920") or impossible is None.

    >>> commons_taken_at('<time class="dtstart" datetime="2012-06-01">1 June 2012</time>')
    '2012-06-01T00:00:00'
    >>> commons_taken_at("2018:03:04 10:11:12"), commons_taken_at("circa 1990s")
    ('2018-03-04T10:11:12', None)
    """
    attribute = _DATETIME_ATTR.search(value or "")
    match = _DATE.search(attribute.group(1) if attribute else strip_html(value))
    if not match:
        return None
    parts = [int(part) if part else 0 for part in match.groups()]
    try:
        when = datetime(*parts)
    except ValueError:
        return None
    return when.isoformat() if 1826 <= when.year <= 2100 else None


class _TextOnly(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def strip_html(value: str) -> str:
    """Visible text of an HTML fragment, entities decoded, whitespace collapsed.

    >>> strip_html('<a href="//commons.wikimedia.org/wiki/User:Foo">Foo &amp; Bar</a>')
    'Foo & Bar'
    """
    if not value:
        return ""
    parser = _TextOnly()
    parser.feed(value)
    parser.close()
    return " ".join("".join(parser.parts).split())
