"""Pure parsing of Flickr REST answers (JSON format: format=json&nojsoncallback=1).

No I/O here: `parse_search_page` turns one `flickr.photos.search` answer into canonical
records (see curate.records.RECORD_FIELDS), `parse_licenses` turns
`flickr.photos.licenses.getInfo` into an id -> Licence table, and `api_failure` reads
Flickr's error envelope (`{"stat": "fail", "code": 100, "message": "Invalid API Key"}`),
which arrives with HTTP 200.

A page whose structure is broken raises `MalformedPage`; a single broken photo in an
otherwise good page is skipped and counted (`SearchPage.malformed_photos`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from curate.records import to_float

# Image sizes in order of preference: large 1024, medium 800, medium 640, medium 500.
URL_EXTRAS = ("url_l", "url_c", "url_z", "url_m")
SEARCH_EXTRAS = ("license", "owner_name", "geo", "tags", "date_taken", "media", *URL_EXTRAS)
CIRCA = "8"  # datetakengranularity: 0 to the second, 4 month, 6 year, 8 "circa" (a guess)
PHOTO_PAGE = "https://www.flickr.com/photos/{owner}/{photo_id}"
PHOTO_LINK = "https://www.flickr.com/photo.gne?id={photo_id}"  # when the owner is unknown
# More results than Flickr holds photos: a page claiming so is broken, not a reason to plan for it.
MAX_PLAUSIBLE_TOTAL = 10**11


class MalformedPage(ValueError):
    """An answer that is not a Flickr search page (bad JSON, missing or wrong fields)."""


@dataclass(frozen=True)
class Licence:
    licence_id: str
    name: str
    url: str = ""

    @property
    def is_creative_commons(self) -> bool:
        """CC licences and dedications (CC0, Public Domain Mark) all allow reuse with attribution rules."""
        return "creativecommons.org/" in self.url


@dataclass(frozen=True)
class SearchPage:
    page: int
    pages: int
    per_page: int
    total: int
    records: list[dict] = field(default_factory=list)
    malformed_photos: int = 0
    taken_dates: list[str] = field(default_factory=list)  # raw datetaken of the photos, in page order


def api_failure(payload: object) -> tuple[int, str] | None:
    """(code, message) when `payload` is Flickr's error envelope, else None."""
    if isinstance(payload, dict) and payload.get("stat") == "fail":
        try:
            code = int(payload.get("code", -1))
        except (TypeError, ValueError):
            code = -1
        return code, str(payload.get("message") or "no message")
    return None


def parse_licenses(payload: object) -> dict[str, Licence]:
    """`flickr.photos.licenses.getInfo` -> {licence id: Licence}.

    >>> parse_licenses({"licenses": {"license": [{"id": 4, "name": "Attribution License",
    ...     "url": "https://creativecommons.org/licenses/by/2.0/"}]}, "stat": "ok"})["4"].name
    'Attribution License'
    """
    try:
        entries = payload["licenses"]["license"]
        table = {str(e["id"]): Licence(str(e["id"]), str(e["name"]), str(e.get("url") or "")) for e in entries}
    except (KeyError, TypeError) as exc:
        raise MalformedPage(f"licence list without {exc}") from None
    if not table:
        raise MalformedPage("empty licence list")
    return table


def parse_search_page(payload: object, licences: dict[str, Licence]) -> SearchPage:
    """One `flickr.photos.search` answer -> SearchPage with canonical records.

    Raises MalformedPage when the envelope is broken (no `photos`, non-numeric, negative
    or absurd paging: a `total` over MAX_PLAUSIBLE_TOTAL).
    """
    if not isinstance(payload, dict) or payload.get("stat") != "ok":
        raise MalformedPage("not a Flickr answer with stat=ok")
    photos = payload.get("photos")
    if not isinstance(photos, dict) or not isinstance(photos.get("photo"), list):
        raise MalformedPage("no photos.photo list")
    try:
        paging = [int(photos[name]) for name in ("page", "pages", "perpage", "total")]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedPage(f"bad paging fields ({type(exc).__name__}: {exc})") from None
    if min(paging) < 0 or paging[3] > MAX_PLAUSIBLE_TOTAL:
        raise MalformedPage(f"implausible paging (page {paging[0]}, pages {paging[1]}, perpage {paging[2]}, "
                            f"total {paging[3]})")
    records, malformed, taken = [], 0, []
    for photo in photos["photo"]:
        record = photo_record(photo, licences)
        if record is None:
            malformed += 1
            continue
        records.append(record)
        if isinstance(photo.get("datetaken"), str):
            taken.append(photo["datetaken"])
    return SearchPage(*paging, records=records, malformed_photos=malformed, taken_dates=taken)


def photo_record(photo: object, licences: dict[str, Licence]) -> dict | None:
    """One photo of a search page -> a canonical record, or None without an id (it cannot be a row).

    A photo without an owner is still a row (owner_id null); its page is then Flickr's
    id-only photo link.

    Flickr sends latitude = longitude = 0 (accuracy 0) for photos without a position, and
    `datetakenunknown = 1` when the date is a guess: both become missing values. A position with
    accuracy 0 is passed on as it is: the catalog nulls it (`coord_issue` zero_accuracy,
    curate.records.clean_coordinates), as Flickr's own clients discard it. A date of granularity
    8 ("circa") is a guess too: missing.
    """
    if not isinstance(photo, dict) or not photo.get("id"):
        return None
    photo_id, owner = str(photo["id"]), (str(photo["owner"]) if photo.get("owner") else None)
    lat, lon, accuracy = (to_float(photo.get(name)) for name in ("latitude", "longitude", "accuracy"))
    if lat == 0 and lon == 0:
        lat = lon = accuracy = None
    licence_id = str(photo.get("license", "")).strip()
    licence = licences.get(licence_id)
    url = best_image_url(photo)
    return {
        "source_id": photo_id,
        "owner_id": owner,
        "owner_name": photo.get("ownername") or None,
        "title": photo.get("title") or None,
        "tags": str(photo.get("tags") or "").split(),  # Flickr's squashed tags, space-separated
        "lat": lat,
        "lon": lon,
        "geo_accuracy": accuracy,
        "taken_at": (None if str(photo.get("datetakenunknown", "0")) == "1"
                     or str(photo.get("datetakengranularity", "0")).strip() == CIRCA
                     else photo.get("datetaken") or None),
        "license": licence.name if licence else (f"flickr licence {licence_id}" if licence_id else None),
        "license_id": licence_id or None,
        "url": url,
        "page_url": (PHOTO_PAGE.format(owner=owner, photo_id=photo_id) if owner
                     else PHOTO_LINK.format(photo_id=photo_id)),
        # a video's url_* are a still frame: not a photo (asked with media=photos, said again here)
        "drop_reason": ("unsupported_mime" if str(photo.get("media", "photo")) == "video"
                        else None if url else "no_image_url"),
    }


def best_image_url(photo: dict) -> str | None:
    """The largest of url_l / url_c / url_z / url_m the answer carries."""
    for name in URL_EXTRAS:
        url = photo.get(name)
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url
    return None
