"""Coordinates as users' metadata files write them, read into decimal degrees (`clean_coordinates`).

Decimal degrees as numbers or text, and the two other ways real sidecars write a position (audit BP E1): a
decimal comma (`51,5074`, what a European spreadsheet saves beside `;` separators) and degrees, minutes and
seconds with a hemisphere (`51 deg 30' 26.64" N`, what `exiftool -csv` prints without `-n`; `51°30'26.6"N`,
`N 51° 30.444'`). A hemisphere letter must suit its column (N or S for latitude, E or W for longitude). What no
rule reads is left empty as `not_a_number`, and `unreadable_warnings` says how many and shows one, so the ingest
can say so instead of filing a written geotag as a missing one.
"""

from __future__ import annotations

import re
import shlex

import numpy as np
import pandas as pd

# `51,5074` or `-0,1278`: one comma and no dot. No coordinate has a thousands separator (|lat| <= 90, |lon| <= 180)
DECIMAL_COMMA = re.compile(r"^\s*([+-]?\d+),(\d+)\s*$")
_NUMBER = r"\d+(?:[.,]\d+)?"
# degrees, then minutes only after a degree mark, then seconds only after a minute mark (a seconds mark may be left
# out before the hemisphere: `33 d 51 m 54 S`), and a hemisphere letter before or after. The marks are case-
# sensitive, the letters not: `54 S` is south, never 54 seconds (review BR 1); `51'` is no 5 deg 1' (review BR 2)
_DMS = re.compile(
    rf"^\s*(?P<pre>[NSEWnsew])?\s*(?P<sign>[+-])?\s*(?P<deg>{_NUMBER})\s*"
    rf"(?:(?P<dmark>°|º|˚|deg\b|d\b)\s*"
    rf"(?:(?P<min>{_NUMBER})\s*(?P<mmark>'|′|’|min\b|m\b)\s*"
    rf"(?:(?P<sec>{_NUMBER})\s*(?P<smark>\"|″|''|”|sec\b|s\b)?\s*)?)?)?"
    r"(?P<post>[NSEWnsew])?\s*$")
HEMISPHERES = {"lat": {"N": 1, "S": -1}, "lon": {"E": 1, "W": -1}}


def coordinate_numbers(values: pd.Series, axis: str) -> pd.Series:
    """Floats of a latitude (`axis` "lat") or longitude ("lon") column; what no rule reads is NaN. Booleans
    (JSON `true`, a bool column) are no number, not 1.0/0.0.

    >>> coordinate_numbers(pd.Series([41.9, "51,5074", "51 deg 30' 26.64\\" N", "33°51'54\\"S", "N 51° 30.5'",
    ...                               "-0,5", "12.5 E", "x", True, "1,2,3"]), "lat").round(4).tolist()
    [41.9, 51.5074, 51.5074, -33.865, 51.5083, -0.5, nan, nan, nan, nan]
    >>> coordinate_numbers(pd.Series(["0 deg 7' 39.12\\" W", "151.2 E", "12 N"]), "lon").round(4).tolist()
    [-0.1275, 151.2, nan]
    """
    numbers = _numbers(values)
    if pd.api.types.is_numeric_dtype(values):
        return numbers
    text = values[numbers.isna() & values.map(lambda v: isinstance(v, str) and bool(v.strip()))]
    for index, value in text.items():
        numbers.at[index] = _written(value, axis)
    return numbers


def _numbers(values: pd.Series) -> pd.Series:
    """Floats of a source's column as pandas reads them; booleans (JSON `true`, a bool column) become NaN, not
    1.0/0.0."""
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=values.index, dtype="float64")
    if values.dtype == object:
        values = values.where(~values.map(lambda v: isinstance(v, (bool, np.bool_))), None)
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _written(value: str, axis: str) -> float:
    """One text coordinate in a decimal comma or in degrees, minutes and seconds (NaN when neither)."""
    value = value.replace("\u2212", "-")
    try:
        return float(value)  # a number once its minus sign is ASCII (`−0.1278`)
    except ValueError:
        pass
    comma = DECIMAL_COMMA.match(value)
    if comma:
        return float(f"{comma.group(1)}.{comma.group(2)}")
    parts = _DMS.match(value)
    if not parts or (parts["pre"] and parts["post"]):
        return np.nan
    letter = (parts["pre"] or parts["post"] or "").upper()
    marked = parts["dmark"] or parts["mmark"] or parts["smark"] or letter
    if parts["sec"] and not parts["smark"] and not letter:  # bare seconds need a hemisphere after them
        return np.nan
    if not marked or (letter and letter not in HEMISPHERES[axis]) or (letter and parts["sign"]):
        return np.nan
    degrees, minutes, seconds = (float((parts[name] or "0").replace(",", ".")) for name in ("deg", "min", "sec"))
    if minutes >= 60 or seconds >= 60 or (parts["min"] and "." in parts["deg"].replace(",", ".")) \
            or (parts["sec"] and "." in parts["min"].replace(",", ".")):
        return np.nan
    sign = -1 if parts["sign"] == "-" else HEMISPHERES[axis].get(letter, 1)
    return sign * (degrees + minutes / 60 + seconds / 3600)


def unreadable_warnings(lat: pd.Series, lon: pd.Series, names: tuple[str, str] = ("lat", "lon")) -> list[str]:
    """One line for each of the two columns whose given values no rule reads as a coordinate (`names`: the
    columns as the user's file spells them), with how many and one of them: such a photo is stored without a
    position (`coord_issue` not_a_number), which the geo filter counts with the photos that have none.

    >>> unreadable_warnings(pd.Series(["51,5", "n/a", "x", None]), pd.Series([0.1, 2, 3, None]), ("Breite", "Länge"))
    ["2 Breite values could not be read as coordinates (e.g. 'n/a'): those photos are stored without a position \
(coord_issue not_a_number); write decimal degrees such as 51.5074 or -0.1278"]
    """
    lines = []
    for values, axis, name in ((lat, "lat", names[0]), (lon, "lon", names[1])):
        values = pd.Series(values, copy=False)
        bad = ~_blank(values) & ~np.isfinite(coordinate_numbers(values, axis))
        if bad.any():
            count = int(bad.sum())
            lines.append(f"{count:,} {name} value{'s' if count != 1 else ''} could not be read as coordinates (e.g. "
                         f"{str(values[bad].iloc[0]).strip()!r}): those photos are stored without a position "
                         "(coord_issue not_a_number); write decimal degrees such as 51.5074 or -0.1278")
    return lines


def out_of_range_warnings(lat: pd.Series, lon: pd.Series, names: tuple[str, str] = ("lat", "lon"),
                          photos: pd.Series | None = None) -> list[str]:
    """One line for the photos whose position reads as numbers but lies off the globe (|lat| > 90 or |lon| > 180):
    `clean_coordinates` stores them without one (`coord_issue` out_of_range), which the geo filter counts with the
    photos that have none (audit CK 3: a file with its lat and lon columns swapped lost half its geotags without a
    word). Those holding a valid latitude in the lon column and a valid longitude in the lat column fit swapped;
    nothing is swapped unasked.

    The line recommends swapping the columns (the `--map` that reads them the other way round) only when the photos
    off the globe that fit swapped are most of the positions given (more than half). A position within both ranges
    reads either way, so the numbers cannot tell a file with its columns swapped from one with some rows swapped;
    only such a majority makes the columns the likely cause, and the line says that the positions that fit either
    way are then read swapped too. When they are fewer (review CO M2: a file merged from two sources, 7 right Paris
    rows and 3 swapped Sydney ones, where the swap put the Paris rows off Somalia without a word), the line names
    those rows (how many, one of them, by its id where `photos` gives them; when they are one in ten positions at
    least, else they read as stray typos) as rows to fix in the file, and gives the `--map` only as what it is:
    right when every row has the columns swapped (a swapped file of European places, whose longitudes fit as
    latitudes, is one). Column names that a shell would split are quoted.

    >>> line, = out_of_range_warnings(pd.Series([151.2, 151.2, -33.9]), pd.Series([-33.9, -33.9, 151.2]), ("y", "x"))
    >>> line[:64], "are the columns swapped? If so, ingest again with --map lat=x --map lon=y" in line
    ('2 photos have a position off the globe (|y| over 90 or |x| over ', True)
    >>> lat, lon = pd.Series(["48.86"] * 7 + ["151.21"] * 3), pd.Series(["2.35"] * 7 + ["-33.87"] * 3)
    >>> photos = pd.Series([f"p{n}" for n in range(10)])
    >>> line, = out_of_range_warnings(lat, lon, ("GPS Latitude", "GPS Longitude"), photos)
    >>> print(line[line.index("; 3 of them"):])  # doctest: +NORMALIZE_WHITESPACE
    ; 3 of them (photo p7: GPS Latitude '151.21', GPS Longitude '-33.87') hold a valid latitude in GPS Longitude and a
    valid longitude in GPS Latitude: swapped in those rows? Then swap the two values in those rows of the file.
    Swapping the columns instead (--map 'lat=GPS Longitude' --map 'lon=GPS Latitude') is right only if every row has
    them swapped, the 7 other positions too, which fit either way and would then be read swapped
    """
    lat_num, lon_num = coordinate_numbers(pd.Series(lat, copy=False), "lat"), \
        coordinate_numbers(pd.Series(lon, copy=False), "lon")
    finite = np.isfinite(lat_num) & np.isfinite(lon_num)
    off = finite & ((lat_num.abs() > 90) | (lon_num.abs() > 180))
    count = int(off.sum())
    if not count:
        return []
    one = count == 1
    first = off.to_numpy().nonzero()[0][0]
    line = (f"{count:,} photo{'' if one else 's'} {'has' if one else 'have'} a position off the globe "
            f"(|{names[0]}| over 90 or |{names[1]}| over 180, e.g. {names[0]} {_shown(lat, first)}, {names[1]} "
            f"{_shown(lon, first)}): stored without a position (coord_issue out_of_range)")
    swapped = off & (lon_num.abs() <= 90) & (lat_num.abs() <= 180)
    fitting, positions = int(swapped.sum()), int(finite.sum())
    if fitting * 2 > positions:  # most positions given fit only swapped: the file's columns are swapped
        line += _swap_columns_hint(fitting, count, positions - count, names)
    elif fitting * 10 >= positions:  # and no stray typo among many (one in ten positions at least)
        line += _swapped_rows_hint(swapped, count, positions - count, lat, lon, names, photos)
    else:
        line += "; write latitudes within -90..90 and longitudes within -180..180, in decimal degrees"
    return [line]


def _swap_columns_hint(fitting: int, count: int, either_way: int, names: tuple[str, str]) -> str:
    """The end of `out_of_range_warnings`' line when most positions fit swapped: the `--map` that swaps the columns,
    and what it does to the positions that read either way (they swap too)."""
    one = fitting == 1
    some = "its" if count == 1 else ("all their" if fitting == count else f"{fitting:,} of their")
    others = (f"; the {either_way:,} other photo{'s' if either_way != 1 else ''} with a position, whose values fit "
              f"either way, {'are' if either_way != 1 else 'is'} then read swapped too: check "
              f"{'one' if either_way != 1 else 'it'}") if either_way else ""
    return (f"; {some} {names[1]} value{'' if one else 's'} {'is a valid latitude' if one else 'are valid latitudes'}"
            f" and {'its' if one else 'their'} {names[0]} value{'' if one else 's'} "
            f"{'a valid longitude' if one else 'valid longitudes'}: are the columns swapped? If so, ingest again "
            f"with --map {shlex.quote(f'lat={names[1]}')} --map {shlex.quote(f'lon={names[0]}')}{others}")


def _swapped_rows_hint(swapped: pd.Series, count: int, either_way: int, lat: pd.Series, lon: pd.Series,
                       names: tuple[str, str], photos: pd.Series | None) -> str:
    """The end of `out_of_range_warnings`' line when some rows fit swapped but they are not most positions: those
    rows, to fix in the file, and the column swap only as what it is, right when every row has them swapped."""
    fitting = int(swapped.sum())
    one = fitting == 1
    at = swapped.to_numpy().nonzero()[0][0]
    photo = f"photo {str(photos.iloc[at]).strip()}: " if photos is not None else ""
    rows = "that row" if one else "those rows"
    others = (f", the {either_way:,} other position{'s' if either_way != 1 else ''} too, which fit either way and "
              f"would then be read swapped") if either_way else ""
    rest = "" if fitting == count else (f"; write the other{'s' if count - fitting != 1 else ''} with {names[0]} "
                                        f"within -90..90 and {names[1]} within -180..180")
    return (f"; {'it' if count == 1 else f'{fitting:,} of them'} ({photo}{names[0]} {_shown(lat, at)}, {names[1]} "
            f"{_shown(lon, at)}) hold{'s' if one else ''} a valid latitude in {names[1]} and a valid longitude in "
            f"{names[0]}: swapped in {rows}? Then swap the two values in {rows} of the file. Swapping the columns "
            f"instead (--map {shlex.quote(f'lat={names[1]}')} --map {shlex.quote(f'lon={names[0]}')}) is right only "
            f"if every row has them swapped{others}{rest}")


def half_pair_warnings(lat: pd.Series, lon: pd.Series, names: tuple[str, str] = ("lat", "lon")) -> list[str]:
    """One line for the photos whose metadata gives one of lat and lon and leaves the other empty: stored without a
    position (`coord_issue` not_a_number), which `unreadable_warnings` does not see (each value alone reads)."""
    lat, lon = pd.Series(lat, copy=False), pd.Series(lon, copy=False)
    half = _blank(lat) ^ _blank(lon)
    count = int(half.sum())
    if not count:
        return []
    first = half.to_numpy().nonzero()[0][0]
    one = count == 1
    return [f"{count:,} photo{'' if one else 's'} {'gives' if one else 'give'} only one of {names[0]} and {names[1]} "
            f"(e.g. {names[0]} {_shown(lat, first)}, {names[1]} {_shown(lon, first)}): stored without a position "
            f"(coord_issue not_a_number); fill in the other value, or empty both"]


def _shown(values: pd.Series, at: int) -> str:
    value = values.iloc[at]
    return "(empty)" if value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip() \
        else repr(str(value).strip()) if isinstance(value, str) else str(value)


def coordinate_warnings(records: pd.DataFrame, names: tuple[str, str] = ("lat", "lon")) -> list[str]:
    """The lines that say why photos whose metadata wrote a position are stored without one: values no rule reads
    (`unreadable_warnings`), a position off the globe (`out_of_range_warnings`, with a hint when the columns look
    swapped) and one of the pair left empty (`half_pair_warnings`), for a source's canonical records (nothing when
    they have no lat or lon column). `names`: the columns as the user's file spells them."""
    if "lat" not in records.columns and "lon" not in records.columns:
        return []
    blank = pd.Series(None, index=records.index, dtype=object)
    lat = records["lat"] if "lat" in records.columns else blank
    lon = records["lon"] if "lon" in records.columns else blank
    photos = records["source_id"] if "source_id" in records.columns else None
    return [*unreadable_warnings(lat, lon, names), *out_of_range_warnings(lat, lon, names, photos),
            *half_pair_warnings(lat, lon, names)]


def clean_coordinates(lat: pd.Series, lon: pd.Series,
                      accuracy: pd.Series | None = None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Numeric lat/lon with invalid pairs nulled, and why (`coord_issue`).

    Both values missing -> 'missing'; unreadable (`coordinate_numbers`) or NaN/inf -> 'not_a_number';
    |lat| > 90 or |lon| > 180 -> 'out_of_range'. A half-missing pair is nulled too.
    A JSON boolean is not a number (`true` is not latitude 1.0). Exactly 0, 0 -> 'zero_position':
    the placeholder exports and APIs (Flickr among them) write for "no position", never a
    photo's place in practice (the Gulf of Guinea). An `accuracy` (Flickr's scale, 1 world to 16
    street) of exactly 0 -> 'zero_accuracy': Flickr's "position not set", whatever the numbers.

    >>> lat, lon, issue = clean_coordinates(pd.Series(["0", 41.9, 28.6, None]), pd.Series([0, 12.5, 77.2, None]),
    ...                                     pd.Series([None, "16", "0", None]))
    >>> issue.fillna("-").tolist(), lat.tolist()[1]
    (['zero_position', '-', 'zero_accuracy', 'missing'], 41.9)
    """
    lat_raw = pd.Series(lat, copy=False)
    lon_raw = pd.Series(lon, copy=False)
    lat_num = coordinate_numbers(lat_raw, "lat")
    lon_num = coordinate_numbers(lon_raw, "lon")
    given = ~(_blank(lat_raw) & _blank(lon_raw))
    finite = np.isfinite(lat_num) & np.isfinite(lon_num)
    in_range = (lat_num.abs() <= 90) & (lon_num.abs() <= 180)
    issue = pd.Series(None, index=lat_raw.index, dtype="object")
    issue[~given] = "missing"
    issue[given & ~finite] = "not_a_number"
    issue[given & finite & ~in_range] = "out_of_range"
    issue[issue.isna() & (lat_num == 0) & (lon_num == 0)] = "zero_position"
    if accuracy is not None:
        issue[issue.isna() & (_numbers(pd.Series(accuracy, copy=False)) == 0).to_numpy()] = "zero_accuracy"
    valid = issue.isna()
    return lat_num.where(valid), lon_num.where(valid), issue


def _blank(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.isna()
    return values.isna() | (values.astype("string").str.strip() == "").fillna(True).astype(bool)
