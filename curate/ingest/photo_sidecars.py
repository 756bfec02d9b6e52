"""Per-photo JSON sidecars: one metadata file beside each photo, read by `curate ingest folder`.

Three layouts that users bring are read without a --metadata file:

* **img2dataset** (its default `files` output): shard folders `00000/`, `00001/`, … holding
  `000010005.jpg` with `000010005.json` (`url`, `caption`, `key`, `status`, `exif`, and any column the
  download carried with `--save_additional_columns`, such as `tags`, `owner` or `license`) and
  `000010005.txt` (the caption again). The EXIF that img2dataset read before re-encoding (its resize
  drops it from the image) is a JSON text of exifread's tags in `exif`: its capture time and GPS
  position are taken from there.
* **Google Takeout** (Google Photos): `IMG_1234.jpg` with `IMG_1234.jpg.json` (or, since 2024,
  `IMG_1234.jpg.supplemental-metadata.json`; a long name's cut short before `.json`, found by the start
  of the photo's name): `title`, `description`, `photoTakenTime.timestamp` (seconds, UTC), `geoData`
  (0, 0 when there is no position; `geoDataExif` is tried next) and `url` (the photo's page on Google
  Photos).
* **Flickr's account export** ("Your Flickr Data"): the photos in `data-download-1/`, … named
  `<title>_<id>_o.jpg` (or `<id>_<secret>_o.jpg`), and one `photo_<id>.json` per photo in the account
  data folder (`<number>_<hash>_part1/`), found anywhere in the folder by the photo id: `id`, `name`
  (the title), `description`, `date_taken`, `photopage`, `license` (its name), `tags` (objects with a
  `tag`), `geo` (`latitude` and `longitude` in millionths of a degree, `accuracy` 1-16), `albums`. The
  owner is the account in `photopage` (`https://www.flickr.com/photos/<owner>/<id>/`); the EXIF copy,
  comments, notes, people and groups are left out, and `original` (a link to the original file that works
  without signing in, private photos too) is never read.

Nested objects are flattened to dotted names (`geoData.latitude`), which `--map FIELD=NAME` can name
like any column. Pure functions over a folder; no catalog work here.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import pandas as pd

from curate.imageformats import IMAGE_EXTENSIONS
from curate.ingest.exif import _exif_datetime, _iso, dms_to_degrees
from curate.ingest.mapping import DEFAULT_ALIASES

SIDECAR_SUFFIXES = (".json", ".supplemental-metadata.json")  # appended to the photo's own name (Takeout)
MAX_SIDECAR_BYTES = 1024 * 1024  # a photo's metadata; anything larger is not one
_NUMBERED = re.compile(r"(.+)\((\d+)\)")  # Takeout's second photo of one name: IMG_1(1)
# Takeout's edited copy of a photo: IMG_1-edited.jpg (the suffix in the account's language: German, French)
_EDITED = ("-edited", "-bearbeitet", "-modifié")
# Takeout cuts a long sidecar name short: the first characters of (photo name + ".supplemental-metadata"), then
# ".json" (`<32 hex>.jpg.supplemen.json`: 46 characters kept; the tools that read Takeout disagree on the count,
# 44 to 47), so any cut from 40 characters to 60 is looked for, the longest first.
_TAKEOUT_CUTS = range(60, 39, -1)
_TAKEOUT_SUFFIX = ".supplemental-metadata"
_RATIONAL = re.compile(r"^\s*(-?\d+(?:\.\d+)?)(?:\s*/\s*(\d+(?:\.\d+)?))?\s*$")
_FLICKR_SIDECAR = re.compile(r"photo_(\d+)\.json")  # Flickr's account export: one per photo
# a sidecar named after its photo: IMG_1.jpg.json, IMG_1.jpg(1).json, IMG_1.jpg.supplemental-metadata(1).json
_PHOTO_SIDECAR = re.compile(r".+(\.[A-Za-z0-9]+)(?:\(\d+\))?(?:\.supplemental-metadata(?:\(\d+\))?)?\.json")

_FLICKR_PHOTO = re.compile(r"(.+)_o\.[^./]+")  # <title>_<id>_o.jpg or <id>_<secret>_o.jpg: the original
_FLICKR_ID_DIGITS = 6  # Flickr photo ids have 7-11 digits; shorter runs in a name are not one
_FLICKR_DROPPED = ("exif", "comments", "notes", "people", "groups", "original")  # bulky, or a link to keep out
_FLICKR_OWNER = re.compile(r"https?://(?:www\.)?flickr\.com/photos/([^/?#]+)/", re.IGNORECASE)


def sidecar_paths(images: Iterable[str], json_files: set[str]) -> dict[str, str]:
    """Photo -> its sidecar, both relative to the folder: `IMG_1.jpg.json`,
    `IMG_1.jpg.supplemental-metadata.json` (Takeout) or `IMG_1.json` (img2dataset), the first present. Two
    Takeout habits are followed: a second photo of the same name, `IMG_1(1).jpg`, has `IMG_1.jpg(1).json`, and
    an edited copy, `IMG_1-edited.jpg`, shares its original's sidecar.

    >>> sidecar_paths(["a/1.jpg", "b/IMG_2.jpg", "c/3.png"], {"a/1.json", "b/IMG_2.jpg.json"})
    {'a/1.jpg': 'a/1.json', 'b/IMG_2.jpg': 'b/IMG_2.jpg.json'}
    >>> sidecar_paths(["t/IMG_3(1).jpg", "t/IMG_3-edited.jpg"], {"t/IMG_3.jpg(1).json", "t/IMG_3.jpg.json"})
    {'t/IMG_3(1).jpg': 't/IMG_3.jpg(1).json', 't/IMG_3-edited.jpg': 't/IMG_3.jpg.json'}

    A long name's sidecar has a name Takeout cut short (one that two photos would share is nobody's):

    >>> sidecar_paths(["t/IMG_20250801_120808_LongEventTitleAtMuseumPalace.jpg"],
    ...               {"t/IMG_20250801_120808_LongEventTitleAtMuseumPa.json"})
    {'t/IMG_20250801_120808_LongEventTitleAtMuseumPalace.jpg': 't/IMG_20250801_120808_LongEventTitleAtMuseumPa.json'}

    Flickr's account export keeps `photo_<id>.json` in a folder of its own; a photo named `..._<id>_o.jpg`
    or `<id>_<secret>_o.jpg` finds it anywhere in the folder (in its own folder first):

    >>> sidecar_paths(["data-download-1/lake_2634391576_o.jpg", "data-download-1/2634391577_6ab6f1017f_o.jpg"],
    ...               {"7215_x_part1/photo_2634391576.json", "7215_x_part1/photo_2634391577.json"})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'data-download-1/lake_2634391576_o.jpg': '7215_x_part1/photo_2634391576.json',
     'data-download-1/2634391577_6ab6f1017f_o.jpg': '7215_x_part1/photo_2634391577.json'}
    """
    found = {}
    flickr = _flickr_sidecars(json_files)
    for image in images:
        stem, extension = os.path.splitext(image)
        candidates = [*(image + suffix for suffix in SIDECAR_SUFFIXES), stem + ".json"]
        numbered = _NUMBERED.fullmatch(stem)
        if numbered:  # IMG_1(1).jpg -> IMG_1.jpg(1).json, or since 2024 IMG_1.jpg.supplemental-metadata(1).json
            candidates += [f"{numbered[1]}{extension}({numbered[2]}).json",
                           f"{numbered[1]}{extension}{_TAKEOUT_SUFFIX}({numbered[2]}).json"]
        original = _unedited(stem)
        if original is not None:
            candidates += [original + extension + suffix for suffix in SIDECAR_SUFFIXES]
        match = next((candidate for candidate in candidates if candidate in json_files), None)
        if match is None and flickr:
            match = _flickr_sidecar(image, flickr)
        if match:
            found[image] = match
    cut = {}  # photos without a sidecar yet -> (a sidecar whose name Takeout cut short, the photo it belongs to)
    shortest = min(_TAKEOUT_CUTS) + len(".json")
    folders = {os.path.dirname(name) for name in json_files if len(os.path.basename(name)) >= shortest}
    for image in images:
        if image not in found and os.path.dirname(image) in folders:
            owner, names = _takeout_cut_names(image)
            match = next((name for name in names if name in json_files), None)
            if match:
                cut[image] = (match, owner)
    # a cut-short name that fits two photos is nobody's, unless they are one photo and its edited copies
    owners = pd.DataFrame(list(cut.values()), columns=["sidecar", "owner"]).groupby("sidecar")["owner"].nunique()
    taken = set(found.values())  # a photo's own sidecar is no other photo's cut-short one
    found.update({image: name for image, (name, _) in cut.items() if owners[name] == 1 and name not in taken})
    return found


def _unedited(stem: str) -> str | None:
    """The stem of the photo an edited copy was made from (`IMG_1-edited` -> `IMG_1`), None for any other."""
    return next((stem[: -len(suffix)] for suffix in _EDITED if stem.endswith(suffix)), None)


def _takeout_cut_names(image: str) -> tuple[str, list[str]]:
    """(the photo whose sidecar it is, the names Takeout may give a long photo name's sidecar, cut short
    (`_TAKEOUT_CUTS`), longest first). An edited copy's are its original's; a numbered one's, `IMG(1).jpg`,
    the original name's cut short and then `(1)`."""
    folder, name = os.path.split(image)
    stem, extension = os.path.splitext(name)
    numbered = _NUMBERED.fullmatch(stem)
    original = _unedited(stem)
    if numbered:
        full, tail = numbered[1] + extension + _TAKEOUT_SUFFIX, f"({numbered[2]}).json"
    else:
        name = name if original is None else original + extension
        full, tail = name + _TAKEOUT_SUFFIX, ".json"
    owner = os.path.join(folder, name if not numbered else stem + extension)
    return owner, [os.path.join(folder, full[:cut] + tail) for cut in _TAKEOUT_CUTS if len(full) > cut]


def _flickr_sidecars(json_files: set[str]) -> dict[str, list[str]]:
    """Flickr photo id -> the `photo_<id>.json` files holding it (relative paths, sorted)."""
    by_id: dict[str, list[str]] = {}
    for path in sorted(json_files):
        match = _FLICKR_SIDECAR.fullmatch(os.path.basename(path))
        if match:
            by_id.setdefault(match[1], []).append(path)
    return by_id


def _flickr_sidecar(image: str, by_id: dict[str, list[str]]) -> str | None:
    """The sidecar of a photo named the way Flickr's export names an original (`..._<id>_o.jpg`,
    `<id>_<secret>_o.jpg`): the one in the photo's own folder, else the first by path."""
    match = _FLICKR_PHOTO.fullmatch(os.path.basename(image))
    if not match:
        return None
    parts = match[1].split("_")
    for part in (parts[-1], *parts[-2:-1]):  # the id is last, or before the secret
        if part.isdigit() and len(part) >= _FLICKR_ID_DIGITS and part in by_id:
            paths = by_id[part]
            folder = os.path.dirname(image)
            return next((path for path in paths if os.path.dirname(path) == folder), paths[0])
    return None


def read_photo_sidecars(sidecars: dict[str, str], read: Callable[[str, int], bytes]) -> tuple[pd.DataFrame | None,
                                                                                              list[str]]:
    """(a metadata table with a `file` column, one row per photo whose sidecar is a JSON object; the
    sidecars that could not be read, relative). None when no sidecar could be read. `read(sidecar, limit)`
    gives a sidecar's bytes, raising ValueError when it is over `limit` bytes (a file, or a tar shard's member)."""
    rows, unreadable = [], []
    for image, sidecar in sidecars.items():
        try:
            data = json.loads(read(sidecar, MAX_SIDECAR_BYTES).decode("utf-8-sig"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError; nested too deeply
            unreadable.append(sidecar)
            continue
        if is_flickr_export(data):
            data = flickr_fields(data)
        rows.append({**normalise(flatten(data)), "file": image})
    if not rows:
        return None, unreadable
    table = pd.DataFrame(rows, dtype=object)
    return table[["file", *(column for column in table.columns if column != "file")]], unreadable


def is_flickr_export(data: dict) -> bool:
    """Whether a sidecar is one of Flickr's account export (`photo_<id>.json`)."""
    return "id" in data and "photopage" in data and any(key in data for key in ("date_imported", "count_views",
                                                                              "original"))


def flickr_fields(data: dict) -> dict:
    """A Flickr export sidecar with its fields under the names ingest reads: `name` as `title`, `photopage`
    as `page_url` (never `url`: that is a download link), the account in it as `owner_id`, the tags' text as
    a list, `geo` (millionths of a degree when out of the range of degrees; a list of one object, or
    `geolocation`, read too) as `lat`/`lon`/`geo_accuracy`, the albums' titles as a list; the EXIF copy,
    comments, notes, people, groups and the `original` link dropped. Fields it names itself are kept.

    >>> row = flickr_fields({"id": "2634391576", "name": "Killarney Lake", "date_imported": "2008-07-03",
    ...     "photopage": "https://www.flickr.com/photos/boris/2634391576/", "original": "http://x/1_o.jpg",
    ...     "geo": {"latitude": "49696401", "longitude": "-123159753", "accuracy": "15"},
    ...     "tags": [{"tag": "ShoZu", "user": "https://www.flickr.com/photos/boris/"}], "exif": {"a": {}}})
    >>> sorted(row.items())  # doctest: +NORMALIZE_WHITESPACE
    [('date_imported', '2008-07-03'), ('geo_accuracy', 15.0), ('id', '2634391576'), ('lat', 49.696401),
     ('lon', -123.159753), ('owner_id', 'boris'), ('page_url', 'https://www.flickr.com/photos/boris/2634391576/'),
     ('tags', ['ShoZu']), ('title', 'Killarney Lake')]
    """
    row = {key: value for key, value in data.items() if key not in _FLICKR_DROPPED}
    if "name" in row and "title" not in row:
        row["title"] = row.pop("name")
    page = row.pop("photopage")
    row.setdefault("page_url", page)
    owner = _FLICKR_OWNER.match(page) if isinstance(page, str) else None
    if owner and not any(key in row for key in ("owner_id", "owner", "owner_nsid", "nsid")):
        row["owner_id"] = owner[1]
    if isinstance(row.get("tags"), list):
        texts = [tag.get("tag") if isinstance(tag, dict) else tag for tag in row["tags"]]
        row["tags"] = [str(text) for text in texts if text not in (None, "")]
    if isinstance(row.get("albums"), list):
        row["albums"] = [str(album.get("title") if isinstance(album, dict) else album) for album in row["albums"]]
    geo = row.pop("geo", None) or row.pop("geolocation", None)
    if isinstance(geo, list):
        geo = geo[0] if geo else None
    if isinstance(geo, dict) and not any(key in row for key in ("lat", "latitude", "lon", "longitude")):
        position = _position(geo.get("latitude"), geo.get("longitude"))
        if position and (abs(position[0]) > 90 or abs(position[1]) > 180):
            position = (position[0] / 1e6, position[1] / 1e6)  # the export's millionths of a degree
        if position and abs(position[0]) <= 90 and abs(position[1]) <= 180:
            row["lat"], row["lon"] = position
            try:
                row["geo_accuracy"] = float(geo["accuracy"])
            except (KeyError, TypeError, ValueError):
                pass
    return row


def flatten(data: dict, prefix: str = "") -> dict:
    """Nested objects as dotted names; lists and values as they are.

    >>> flatten({"geoData": {"latitude": 1.5}, "title": "x", "people": [{"name": "A"}]})
    {'geoData.latitude': 1.5, 'title': 'x', 'people': [{'name': 'A'}]}
    """
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def normalise(row: dict) -> dict:
    """A flattened sidecar with the fields its layout keeps under other names (Takeout's time and position,
    the position and time in img2dataset's `exif` text) added as `taken_at`, `lat` and `lon`,
    Takeout's page `url` named `page_url` and its `description` (the caption a user wrote) as `title` (its own
    `title` is the file's name). Other fields the sidecar names itself are left alone.

    >>> row = normalise({"photoTakenTime.timestamp": "1449001234", "geoData.latitude": 0.0,
    ...                  "geoData.longitude": 0.0, "geoDataExif.latitude": 41.9, "geoDataExif.longitude": 12.5,
    ...                  "url": "https://photos.google.com/x"})
    >>> {name: row.get(name) for name in ("taken_at", "lat", "lon", "url", "page_url")}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'taken_at': '2015-12-01 20:20:34', 'lat': 41.9, 'lon': 12.5, 'url': None,
     'page_url': 'https://photos.google.com/x'}
    """
    row = dict(row)
    named = {key.casefold() for key in row}
    has = {field: bool(named & set(DEFAULT_ALIASES[field])) for field in ("lat", "lon", "taken_at")}
    takeout = "photoTakenTime.timestamp" in row or "geoData.latitude" in row or "creationTime.timestamp" in row
    if takeout:
        if "url" in row:
            row["page_url"] = row.pop("url")
        description = row.get("description")
        if isinstance(description, str) and description.strip():  # Takeout's `title` is the file's name
            row["title"] = description.strip()
        moment = _epoch(row.get("photoTakenTime.timestamp"))
        position = next(filter(None, (_position(row.get(f"{prefix}.latitude"), row.get(f"{prefix}.longitude"))
                                      for prefix in ("geoData", "geoDataExif"))), None)
    else:
        moment, position = _img2dataset_exif(row.get("exif"))
    if position and not (has["lat"] or has["lon"]):  # a position the sidecar names itself wins
        row["lat"], row["lon"] = position
    if moment and not has["taken_at"]:
        row["taken_at"] = moment
    return row


# The sidecar fields `normalise` reads under other names (Takeout's, img2dataset's `exif` text), by the field
# they give: the ingest's column report credits them as read, not ignored
_TAKEOUT_MARKERS = {"photoTakenTime.timestamp", "geoData.latitude", "creationTime.timestamp"}
_TAKEOUT_SOURCES = {"title": ("description",), "taken_at": ("photoTakenTime.timestamp",),
                    "lat": ("geoData.latitude", "geoDataExif.latitude"),
                    "lon": ("geoData.longitude", "geoDataExif.longitude")}
_EXIF_SOURCES = {"taken_at": ("exif",), "lat": ("exif",), "lon": ("exif",)}


def credit_derived(usage, columns) -> object:
    """The ingest's column report (`mapping.ColumnUsage`) with the sidecar fields `normalise` read under other
    names shown as read (`photoTakenTime.timestamp → taken_at`) instead of ignored, where the field they give
    was recognised (audit G: Takeout's description, time and position were listed as ignored).

    >>> from curate.ingest.mapping import column_usage
    >>> columns = ["file", "title", "description", "photoTakenTime.timestamp", "taken_at", "people"]
    >>> credit_derived(column_usage(columns, {}), columns)  # doctest: +NORMALIZE_WHITESPACE
    ColumnUsage(mapped={}, recognised={'file': 'file', 'title': 'description',
                'taken_at': 'photoTakenTime.timestamp'}, ignored=('people',))
    """
    from dataclasses import replace

    present = [str(column) for column in columns]
    sources = _TAKEOUT_SOURCES if _TAKEOUT_MARKERS & set(present) else _EXIF_SOURCES
    recognised, credited = dict(usage.recognised), set()
    for field, names in sources.items():
        found = [name for name in names if name in present]
        if found and field in recognised:
            recognised[field] = ", ".join(found)
            credited.update(found)
    return replace(usage, recognised=recognised, ignored=tuple(c for c in usage.ignored if c not in credited))


def exif_text_fields(table: pd.DataFrame) -> pd.DataFrame:
    """A metadata table with img2dataset's `exif` text column (its Parquet output) read as `taken_at`, `lat` and
    `lon`, as `normalise` reads it from a JSON sidecar: only where the table names none of those itself.

    >>> table = pd.DataFrame({"key": ["1", "2"], "exif": ['{"EXIF DateTimeOriginal": "2015:12:01 20:20:34"}', None]})
    >>> exif_text_fields(table)["taken_at"].tolist()
    ['2015-12-01 20:20:34', None]
    """
    if "exif" not in table.columns:
        return table
    named = {str(column).casefold() for column in table.columns}
    parsed = table["exif"].map(_img2dataset_exif)
    table = table.copy()
    column = lambda values: pd.Series(values, index=table.index, dtype=object)  # noqa: E731 - None stays None
    if not named & set(DEFAULT_ALIASES["taken_at"]):
        table["taken_at"] = column([moment for moment, _ in parsed])
    if not named & set(DEFAULT_ALIASES["lat"] + DEFAULT_ALIASES["lon"]):
        table["lat"] = column([position[0] if position else None for _, position in parsed])
        table["lon"] = column([position[1] if position else None for _, position in parsed])
    return table


def unpaired_sidecars(json_files: Iterable[str], paired: Iterable[str]) -> list[str]:
    """The per-photo sidecars (named after a photo file, `IMG_1.jpg.json`, `IMG_1.jpg.supplemental-metadata.json`,
    or Flickr's `photo_<id>.json`) that no photo of the folder took, sorted: a photo missing from the folder, or
    one whose sidecar is named in a way this reader does not know.

    >>> unpaired_sidecars(["a/IMG_1.jpg.json", "a/IMG_2.JPG.supplemental-metadata(1).json", "a/metadata.json",
    ...                    "a/clip.mp4.json", "b/photo_123.json"], ["a/IMG_1.jpg.json"])
    ['a/IMG_2.JPG.supplemental-metadata(1).json', 'b/photo_123.json']
    """
    taken = set(paired)
    return sorted(name for name in json_files if name not in taken and _photo_sidecar_name(os.path.basename(name)))


def _photo_sidecar_name(name: str) -> bool:
    if _FLICKR_SIDECAR.fullmatch(name):
        return True
    match = _PHOTO_SIDECAR.fullmatch(name)
    return bool(match) and match[1].lower() in IMAGE_EXTENSIONS


def _epoch(value: object) -> str | None:
    """Seconds since 1970 (a number or its text) as 'YYYY-MM-DD HH:MM:SS' UTC; None when not one."""
    try:
        seconds = float(value)
        if not math.isfinite(seconds) or seconds <= 0:  # 0: Takeout's "no time"
            return None
        return _iso(datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None))
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _position(lat: object, lon: object) -> tuple[float, float] | None:
    """Both coordinates as finite numbers, not the (0, 0) Takeout writes for "no position"."""
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)) or (lat == 0 and lon == 0):
        return None
    return lat, lon


def _img2dataset_exif(text: object) -> tuple[str | None, tuple[float, float] | None]:
    """(capture time, position) from img2dataset's `exif`: a JSON object of exifread tags as text, such as
    {"EXIF DateTimeOriginal": "2015:12:01 20:20:34", "GPS GPSLatitude": "[41, 53, 2463/100]",
    "GPS GPSLatitudeRef": "N", ...}.

    >>> _img2dataset_exif('{"EXIF DateTimeOriginal": "2015:12:01 20:20:34", "GPS GPSLatitude": "[41, 53, 2463/100]",'
    ...                   ' "GPS GPSLatitudeRef": "N", "GPS GPSLongitude": "[87, 37, 48]", "GPS GPSLongitudeRef": "W"}')
    ('2015-12-01 20:20:34', (41.890175, -87.63))
    """
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        return None, None
    try:
        tags = json.loads(text)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(tags, dict):
        return None, None
    moment = None
    for name in ("EXIF DateTimeOriginal", "EXIF DateTimeDigitized"):
        parsed = _exif_datetime(str(tags.get(name) or ""))
        if parsed is not None:
            moment = _iso(parsed)
            break
    lat = dms_to_degrees(_rationals(tags.get("GPS GPSLatitude")), tags.get("GPS GPSLatitudeRef"))
    lon = dms_to_degrees(_rationals(tags.get("GPS GPSLongitude")), tags.get("GPS GPSLongitudeRef"))
    position = _position(lat, lon) if lat is not None and lon is not None else None
    if position and (abs(position[0]) > 90 or abs(position[1]) > 180):
        position = None
    return moment, position


def _rationals(text: object) -> tuple[float, ...] | None:
    """exifread's printable ratio list ("[41, 53, 2463/100]") as numbers; None when it is not one."""
    if not isinstance(text, str):
        return None
    numbers = []
    for part in text.strip().strip("[]").split(","):
        match = _RATIONAL.match(part)
        if not match:
            return None
        numerator, denominator = float(match[1]), float(match[2] or 1)
        if denominator == 0:
            return None
        numbers.append(numerator / denominator)
    return tuple(numbers)
