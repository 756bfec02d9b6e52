"""Map a metadata table's columns onto canonical record fields (see curate.records).

Known spellings are recognised by default (Flickr API, YFCC100M, im2gps, exiftool -csv's
GPSLatitude, GPSLongitude and Keywords, our own names); `--map field=column` overrides. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import pandas as pd

from curate.errors import UsageError

# canonical field -> spellings recognised without --map (compared case-insensitively)
DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "source_id": ("source_id", "photo_id", "photoid", "id", "img_id", "image_id"),
    "file": ("file", "filename", "file_name", "path", "image_path", "image"),
    "owner_id": ("owner_id", "owner", "owner_nsid", "nsid", "usernsid", "user_nsid", "author", "uid"),
    "owner_name": ("owner_name", "ownername", "username", "usernickname", "realname"),
    "title": ("title", "caption"),
    "tags": ("tags", "usertags", "user_tags", "keywords"),
    "label": ("label", "class", "category"),
    "lat": ("lat", "latitude", "gpslatitude"),
    "lon": ("lon", "lng", "long", "longitude", "gpslongitude"),
    "geo_accuracy": ("geo_accuracy", "accuracy"),
    "taken_at": ("taken_at", "date_taken", "datetaken", "datetimeoriginal", "taken"),
    "license": ("license", "licence", "licensename", "license_name"),
    "url": ("url", "downloadurl", "download_url", "url_l", "url_c", "url_z", "url_m", "image_url", "photopage",
            "pageurl"),
    "page_url": ("page_url", "photopage", "pageurl", "descriptionurl"),  # only when url has another column
}


def parse_map_options(pairs: list[str] | None) -> dict[str, str]:
    """['lat=LATITUDE', 'url=downloadurl'] -> {'lat': 'LATITUDE', 'url': 'downloadurl'}."""
    mapping = {}
    for pair in pairs or []:
        field, sep, column = pair.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise UsageError(f"--map expects FIELD=COLUMN, got {pair!r}")
        if field not in DEFAULT_ALIASES:
            raise UsageError(f"--map field {field!r} is unknown; fields: {', '.join(DEFAULT_ALIASES)}")
        mapping[field] = column
    return mapping


# the fields whose aliases are read first for photos already on disk (`ingest folder`): no column is a download
# URL there, and the alias order, made for URL lists, filed a Flickr sidecar's `photopage` as `url`, leaving
# `page_url` and the attribution's page empty (audit AM, the real Flickr Ferrari sidecar)
PAGES_FIRST = ("page_url",)


def resolve_columns(columns: list[str], explicit: dict[str, str], pages_first: bool = False) -> dict[str, str]:
    """Canonical field -> source column, from explicit --map first, then known aliases (with `pages_first`,
    `page_url`'s before the others': photos on disk have no download URL, so a `photopage` is the page).

    An explicit column that is not in the table is a UsageError naming the columns there.

    >>> resolve_columns(["file", "photopage"], {}), resolve_columns(["file", "photopage"], {}, pages_first=True)
    ({'file': 'file', 'url': 'photopage'}, {'page_url': 'photopage', 'file': 'file'})
    """
    present = {str(c).casefold(): str(c) for c in columns}
    resolved = {}
    for field, column in explicit.items():
        if column.casefold() not in present:
            raise UsageError(f"column {column!r} (for {field}) is not in the metadata; columns are: "
                             f"{', '.join(map(str, columns))}")
        resolved[field] = present[column.casefold()]
    order = [*(f for f in PAGES_FIRST if pages_first), *(f for f in DEFAULT_ALIASES if not pages_first
                                                           or f not in PAGES_FIRST)]
    for field in order:
        aliases = DEFAULT_ALIASES[field]
        if field in resolved:
            continue
        for alias in aliases:
            if alias in present and present[alias] not in resolved.values():
                resolved[field] = present[alias]
                break
    return resolved


def to_records(table: pd.DataFrame, explicit: dict[str, str], pages_first: bool = False) -> pd.DataFrame:
    """Rename mapped columns to canonical fields; unmapped columns are left out."""
    resolved = resolve_columns(list(table.columns), explicit, pages_first)
    return pd.DataFrame({field: table[column] for field, column in resolved.items()}, index=table.index)


@dataclass(frozen=True)
class ColumnUsage:
    """Which of a table's columns an ingest read, and as which record field.

    mapped: field -> column named by --map (or --label-column); recognised: field -> column
    found by a known spelling (DEFAULT_ALIASES); ignored: the table's other columns, in order.
    """

    mapped: dict[str, str]
    recognised: dict[str, str]
    ignored: tuple[str, ...]


def column_usage(columns: list[str], explicit: dict[str, str], unused_fields: Iterable[str] = (),
                 pages_first: bool = False) -> ColumnUsage:
    """Describe how `resolve_columns` maps `columns`; a column resolved to one of
    `unused_fields` (a field the source then overrides or drops) counts as ignored.

    >>> column_usage(["FileName", "Lat", "notes"], {"file": "filename"})
    ColumnUsage(mapped={'file': 'FileName'}, recognised={'lat': 'Lat'}, ignored=('notes',))
    """
    unused = set(unused_fields)
    resolved = {name: column for name, column in resolve_columns(columns, explicit, pages_first).items()
                if name not in unused}
    mapped = {name: column for name, column in resolved.items() if name in explicit}
    recognised = {name: column for name, column in resolved.items() if name not in explicit}
    read = set(resolved.values())
    return ColumnUsage(mapped, recognised, tuple(str(column) for column in columns if str(column) not in read))


def without_renamed_duplicates(usage: ColumnUsage, columns) -> ColumnUsage:
    """`usage` without the names the CSV reader gave a header's repeated columns (`label.1`): the file holds no
    such name, and `duplicate_column_warnings` says what happened."""
    names = [str(column) for column in columns]
    renamed = {name for name in names if re.fullmatch(r"(.+)\.\d+", name) and name.rsplit(".", 1)[0] in names
               and "." not in name.rsplit(".", 1)[0]}
    return replace(usage, ignored=tuple(name for name in usage.ignored if name not in renamed))


def duplicate_column_warnings(columns) -> list[str]:
    """A warning when a CSV header names a column twice: the reader keeps the first and renames the others
    (`label.1`), which the column report would list as ignored under a name the file does not hold.

    >>> duplicate_column_warnings(["file", "label", "label.1", "tags"])
    ["the metadata names the column 'label' twice; the first is read (fix the header to read another)"]
    >>> duplicate_column_warnings(["file", "v1.2"])
    []
    """
    names = [str(column) for column in columns]
    twice = [name for name in names if "." not in name and f"{name}.1" in names]
    return [f"the metadata names the column {name!r} {'twice' if f'{name}.2' not in names else 'more than twice'}; "
            "the first is read (fix the header to read another)" for name in twice]


CSV_HINT = "one header row, fields separated by commas, tabs or semicolons"


def csv_separator(header: str, suffix: str) -> str:
    """The field separator of a delimited text table: a tab for .tsv/.tab, else whichever of comma,
    semicolon (a spreadsheet's CSV in many locales) and tab the header line uses most (comma on a tie).

    >>> csv_separator("file;label;owner", ".csv"), csv_separator("file,label", ".csv")
    (';', ',')
    """
    if suffix.lower() in (".tsv", ".tab"):
        return "\t"
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: (counts[sep], sep == ","))
    return best if counts[best] else ","
