"""Map a metadata table's columns onto canonical record fields (see curate.records).

Known spellings are recognised by default (Flickr API, YFCC100M, im2gps, exiftool -csv's
GPSLatitude, GPSLongitude and Keywords, our own names); `--map field=column` overrides. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

import pandas as pd

from curate.errors import UsageError

# canonical field -> spellings recognised without --map: compared case-insensitively after trimming, then also
# ignoring spaces, underscores and hyphens (`Owner ID`, `OwnerId`, `Date Taken`, `GPS Latitude`: audit CK 4)
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
    """['lat=LATITUDE', 'url=downloadurl'] -> {'lat': 'LATITUDE', 'url': 'downloadurl'}.

    The column is trimmed: `resolve_columns` matches it against the headers trimmed too, so a header written
    with a trailing blank (`file `) is named without it."""
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


def header_key(name: object) -> str:
    """A header as it is compared with another: trimmed and case-folded (`'Latitude '` -> `'latitude'`)."""
    return str(name).strip().casefold()


def loose_key(name: object) -> str:
    """A header as it is compared with the known spellings when no spelling matches it as written: spaces,
    underscores and hyphens left out too (`'Owner ID'`, `'OwnerId'` and `'owner_id'` -> `'ownerid'`)."""
    return re.sub(r"[\s_-]+", "", header_key(name))


# the fields whose aliases are read first for photos already on disk (`ingest folder`): no column is a download
# URL there, and the alias order, made for URL lists, filed a Flickr sidecar's `photopage` as `url`, leaving
# `page_url` and the attribution's page empty (audit AM, the real Flickr Ferrari sidecar)
PAGES_FIRST = ("page_url",)


def resolve_columns(columns: list[str], explicit: dict[str, str], pages_first: bool = False,
                    blank: Collection[str] = ()) -> dict[str, str]:
    """Canonical field -> source column, from explicit --map first, then known aliases (with `pages_first`,
    `page_url`'s before the others': photos on disk have no download URL, so a `photopage` is the page).

    Headers are matched trimmed and case-folded (`header_key`): the aliases as written first, then, for the
    fields still unread, ignoring spaces, underscores and hyphens too (`loose_key`: `Owner ID` is owner_id), so
    that an exact spelling never loses its column to a loose one. Of several columns that spell one field, the
    first in alias order is read, unless it is one of `blank` (empty in every row) and another has values; but
    the download URL never falls back to a page's spelling (`photopage`, `pageurl`: review CO L3, a web page
    downloaded as an image): an empty `url` beside a filled `photopage` stays `url`, and the page is `page_url`.
    An explicit column that is not in the table is a UsageError naming the columns there.

    >>> resolve_columns(["file", "photopage"], {}), resolve_columns(["file", "photopage"], {}, pages_first=True)
    ({'file': 'file', 'url': 'photopage'}, {'page_url': 'photopage', 'file': 'file'})
    >>> resolve_columns(["File ", "Owner ID", "lat", "GPS Latitude"], {}, blank={"lat"})
    {'file': 'File ', 'owner_id': 'Owner ID', 'lat': 'GPS Latitude'}
    >>> resolve_columns(["url", "photopage"], {}, blank={"url"})
    {'page_url': 'photopage', 'url': 'url'}
    """
    names = [str(c) for c in columns]
    resolved = {}
    for field, column in explicit.items():
        found = column if column in names else next((name for name in names if header_key(name) == header_key(column)),
                                                    None)
        if found is None:
            raise UsageError(f"column {column!r} (for {field}) is not in the metadata; columns are: "
                             f"{', '.join(shown_columns(columns))}")
        resolved[field] = found
    order = [*(f for f in PAGES_FIRST if pages_first), *(f for f in DEFAULT_ALIASES if not pages_first
                                                           or f not in PAGES_FIRST)]
    for key in (header_key, loose_key):
        for field in order:
            if field in resolved:
                continue
            taken = set(resolved.values())
            candidates = [name for alias in DEFAULT_ALIASES[field] for name in names
                          if key(name) == key(alias) and name not in taken]
            filled = [name for name in candidates if name not in blank]
            if field == "url" and candidates and candidates[0] in blank:  # a page is no download for an empty url
                filled = [name for name in filled if not _is_page_spelling(name)]
            if filled or (candidates and key is loose_key):  # an empty exact one waits for a filled loose one
                resolved[field] = (filled or candidates)[0]
    return resolved


def _is_page_spelling(name: str) -> bool:
    """Whether the header `name` spells a photo's web page (`photopage`, `Page URL`), which `url` reads only when
    no other column spells a URL, never in place of an empty download column."""
    return any(loose_key(name) == loose_key(alias) for alias in DEFAULT_ALIASES["page_url"])


def blank_columns(table: pd.DataFrame) -> set[str]:
    """The columns of `table` with no value in any row (nulls and blank text), when it has rows."""
    if table.empty:
        return set()
    return {str(name) for name in table.columns if _all_blank(_column(table, name))}


def _all_blank(values: pd.Series) -> bool:
    present = values.dropna()
    if present.empty:
        return True
    if not _is_blank(present.iloc[:100]).all():  # most columns tell at once, without a pass over every row
        return False
    return bool(_is_blank(present).all())


def _is_blank(values: pd.Series) -> pd.Series:
    """Per value: null, or text of blanks only."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.isna()
    if values.dtype == object:
        text = values.where(values.map(lambda value: isinstance(value, str)))
    else:
        text = values.astype("string")
    return values.isna() | text.str.strip().eq("").fillna(False).astype(bool)


# fields whose values are ids: a whole number that pandas wrote as a float (`53012345678.0`) is read as the integer
ID_FIELDS = ("source_id", "owner_id")
_WHOLE_FLOAT_TEXT = r"\s*[+-]?\d+\.0+\s*"


def whole_ids(values: pd.Series) -> tuple[pd.Series, int, tuple[object, object] | None]:
    """An id column with the whole numbers pandas wrote as floats read back as integers (audit CK 5): `12345678.0`
    -> `12345678`. Pandas writes an integer column that has one empty cell as floats, to CSV (text `12345678.0`),
    JSON (a number `12345678.0`) and Parquet (a float column). Text is read so only when every value of the column
    has that form (a CSV column of ids such as `4.0` beside `007123` is text the user wrote: kept as given);
    floats when each is a whole number (`1.5` is no id pandas made, and is kept). Returns (values, how many were
    changed, (one as given, as read)).

    >>> values, changed, example = whole_ids(pd.Series(["53012345678.0", "", "42.0"]))
    >>> values.tolist(), changed, example
    (['53012345678', '', '42'], 2, ('53012345678.0', '53012345678'))
    >>> whole_ids(pd.Series(["4.0", "007123"]))[1], whole_ids(pd.Series([1.5, 2.0]))[1]
    (0, 0)
    """
    present = ~_is_blank(values)
    given = values[present]
    if given.empty:
        return values, 0, None
    kind = pd.api.types.infer_dtype(given, skipna=True)
    if kind == "floating":  # a float column (Parquet), or JSON numbers written with '.0'
        numbers = given.astype("float64")
        if not (numbers.mod(1) == 0).all():
            return values, 0, None
        read_given = numbers.map(lambda number: str(int(number)))
    elif kind == "string" and given.str.fullmatch(_WHOLE_FLOAT_TEXT).all():
        read_given = given.str.strip().str.replace(r"\.0+$", "", regex=True)
    else:
        return values, 0, None
    read = values.astype(object).copy()
    read[present] = read_given
    return read, len(given), (given.iloc[0], read_given.iloc[0])


def stored_float_id(values: pd.Series, stored_ids: Collection[str]) -> str | None:
    """One of the ids `values` that `whole_ids` would read as integers and that the workspace already holds as
    written (`stored_ids`: the source_ids its catalog stores for this source), else None. An ingest made before
    ids were read so (review CO H1) stored `5301234000.0`: reading it as `5301234000` now would make every photo
    a new one, and drop the old rows, with their review decisions and splits, as missing_file.

    >>> stored_float_id(pd.Series(["5301234000.0", "5301234001.0"]), {"5301234001.0"})
    '5301234001.0'
    >>> stored_float_id(pd.Series(["5301234000.0"]), {"5301234000"}), stored_float_id(pd.Series(["7"]), {"7"})
    (None, None)
    """
    if not stored_ids or not whole_ids(values)[1]:
        return None
    given = values[~_is_blank(values)].map(lambda value: str(value).strip())  # as a source stores an id given
    held = given[given.isin(stored_ids)]
    return str(held.iloc[0]) if len(held) else None


def to_records(table: pd.DataFrame, explicit: dict[str, str], pages_first: bool = False,
               stored_ids: Collection[str] = ()) -> pd.DataFrame:
    """Rename mapped columns to canonical fields; unmapped columns are left out. Ids that pandas wrote as floats
    are read as the integers they are (`whole_ids`), but for a `source_id` column of which the workspace holds
    photos under such an id as written (`stored_ids`, see `stored_float_id`): those keep the ids they have, so
    only a new workspace gets the integers; `mapping_notes` says which. An owner id is read as the integer either
    way (a changed owner_id updates a stored photo's metadata, it makes no new photo)."""
    resolved = resolve_columns(list(table.columns), explicit, pages_first, blank_columns(table))
    records = pd.DataFrame({field: _column(table, column) for field, column in resolved.items()}, index=table.index)
    for field in ID_FIELDS:
        if field in records.columns and not (field == "source_id" and stored_float_id(records[field], stored_ids)):
            records[field] = whole_ids(records[field])[0]
    return records


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    values = table[name]
    return values.iloc[:, 0] if isinstance(values, pd.DataFrame) else values


def coordinate_names(table: pd.DataFrame, column_map: dict[str, str], pages_first: bool = False) -> tuple[str, str]:
    """The columns the lat and lon were read from, as the file spells them (for the coordinate warnings)."""
    resolved = resolve_columns(list(table.columns), column_map, pages_first, blank_columns(table))
    return resolved.get("lat", "lat").strip(), resolved.get("lon", "lon").strip()


def mapping_notes(table: pd.DataFrame, explicit: dict[str, str], pages_first: bool = False,
                  stored_ids: Collection[str] = ()) -> list[str]:
    """What `to_records` did that the column report does not show: a field read from a column other than the
    first of its spellings because that one is empty in every row (audit CK 9: an empty `lat` beside a filled
    `Latitude` lost every position), ids read back as integers from pandas' floats (`whole_ids`), and source ids
    kept as written because the workspace holds its photos so (`stored_ids`, `stored_float_id`)."""
    columns = list(table.columns)
    blank = blank_columns(table)
    first, used = resolve_columns(columns, explicit, pages_first), resolve_columns(columns, explicit, pages_first,
                                                                                 blank)
    notes = [f"{field} was read from the column {used[field]!r}, as {first[field]!r} is empty in every row "
             f"(--map {field}=COLUMN reads another)" for field in used if first.get(field) != used[field]]
    for field in ID_FIELDS:
        if field in used:
            values = _column(table, used[field])
            _, changed, example = whole_ids(values)
            kept = stored_float_id(values, stored_ids) if field == "source_id" else None
            if kept:
                notes.append(f"the {field} values are whole numbers written with '.0' (as pandas writes an id column "
                             f"that has an empty cell), and the workspace holds its photos under such ids as written "
                             f"(e.g. {kept!r}, ingested before ids were read as integers): kept as given, so that "
                             "those photos keep their ids, review decisions and splits (a new workspace reads them "
                             "as integers)")
            elif changed:
                many = changed != 1
                notes.append(f"{changed:,} {field} value{'s' if many else ''} written as a whole number with '.0' "
                             f"(as pandas writes an id column that has an empty cell) {'were' if many else 'was'} "
                             f"read as the integer (e.g. {example[0]!r} as {example[1]!r})")
    return notes


UNNAMED = re.compile(r"Unnamed: \d+")  # the name pandas' CSV reader gives a column without a header


def shown_columns(columns) -> list[str]:
    """The table's column names as the file gives them: a column with no header is shown as `(no header)`, not
    as the name the CSV reader gave it (`Unnamed: 10`)."""
    return ["(no header)" if UNNAMED.fullmatch(str(name)) else str(name) for name in columns]


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
                 pages_first: bool = False, blank: Collection[str] = ()) -> ColumnUsage:
    """Describe how `resolve_columns` maps `columns` (`blank`: those empty in every row, see `blank_columns`); a
    column resolved to one of `unused_fields` (a field the source then overrides or drops) counts as ignored.

    >>> column_usage(["FileName", "Lat", "notes"], {"file": "filename"})
    ColumnUsage(mapped={'file': 'FileName'}, recognised={'lat': 'Lat'}, ignored=('notes',))
    """
    unused = set(unused_fields)
    resolved = {name: column for name, column in resolve_columns(columns, explicit, pages_first, blank).items()
                if name not in unused}
    mapped = {name: column for name, column in resolved.items() if name in explicit}
    recognised = {name: column for name, column in resolved.items() if name not in explicit}
    read = set(resolved.values())
    return ColumnUsage(mapped, recognised, tuple(shown for column, shown in zip(columns, shown_columns(columns))
                                                 if str(column) not in read))


def without_unnamed_blank_columns(table: pd.DataFrame) -> pd.DataFrame:
    """`table` without the columns that have neither a header nor a value: what a spreadsheet's trailing
    separator makes (`a;b;`), which the CSV reader calls `Unnamed: 2`, a name the file does not hold (audit CK 9)."""
    empty = [name for name in table.columns if UNNAMED.fullmatch(str(name))
             and (table.empty or _is_blank(table[name]).all())]
    return table.drop(columns=empty) if empty else table


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


# Excel writes (and reads) a first line `sep=;` naming the CSV's delimiter, sometimes quoted
_SEPARATOR_LINE = re.compile(r'^"?sep=(?P<sep>[^\r\n])"?[ \t]*\r?(?:\n|$)', re.IGNORECASE)


def separator_line(text: str) -> tuple[str, str | None]:
    """`text` without Excel's first line `sep=X`, and X (None when there is no such line): the delimiter that line
    names, which a spreadsheet's CSV export in some locales starts with (audit CK 8; read as a header it gave the
    columns `sep=` and `Unnamed: 1`).

    >>> separator_line("sep=;\\nfile;lat\\na.jpg;1\\n"), separator_line("file,lat\\n")
    (('file;lat\\na.jpg;1\\n', ';'), ('file,lat\\n', None))
    """
    found = _SEPARATOR_LINE.match(text)
    return (text[found.end():], found["sep"]) if found else (text, None)


def table_text(data: bytes, path, noun: str = "metadata file") -> str:
    """The text of a table file's bytes: UTF-8 (with or without a byte-order mark) or UTF-16 with its byte-order
    mark (Excel's "Unicode Text", a PowerShell export). Anything else is a UsageError saying how to convert it: a
    UTF-16 file without a mark is told apart from a Windows (cp1252) one by its NUL bytes (audit CK 8: a UTF-16
    file was told to convert from cp1252, which makes garbage).

    >>> table_text("file\\tlat\\n".encode("utf-16"), "m.txt")
    'file\\tlat\\n'
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UsageError(f"{noun} {path} starts as UTF-16 text but does not decode as UTF-16 ({exc.reason} at "
                             f"byte {exc.start}); convert it to UTF-8 (`iconv -f UTF-16 -t UTF-8 {path} > "
                             "converted.csv`) or save it as \"CSV UTF-8\"") from exc
    order = _utf16_order(data[:200])
    if order:
        raise UsageError(f"{noun} {path} looks like UTF-16 text without a byte-order mark; convert it to UTF-8 "
                         f"(`iconv -f UTF-16{order} -t UTF-8 {path} > converted.csv`) or save it as \"CSV UTF-8\"")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{noun} {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 (a "
                         "spreadsheet's \"CSV UTF-8\"; `iconv -f cp1252 -t utf-8` converts a Windows file)") from exc


def _utf16_order(head: bytes) -> str | None:
    """"LE" or "BE" when `head` reads as UTF-16 text of Latin letters without a byte-order mark (a NUL byte after,
    or before, most characters, and on the other side none), else None: a binary file has NULs anywhere."""
    even, odd = head[0::2], head[1::2]
    if len(odd) < 2:
        return None
    for order, nuls, chars in (("LE", odd, even), ("BE", even, odd)):
        if nuls.count(0) * 2 >= len(nuls) and chars.count(0) == 0:
            return order
    return None
