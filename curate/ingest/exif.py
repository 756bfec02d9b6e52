"""Metadata from a photo's own EXIF block: the fallback when a folder has no sidecar row.

Only three things are read: the GPS position, when the photo was taken and Artist. The time is
DateTimeOriginal, else DateTimeDigitized, else the GPS receiver's date and time (UTC), else the
capture time Mapillary's apps write into ImageDescription (real street-level sequences carry
nothing else: ../shared/realdata/opensfm-lund); DateTime (the file's last change) is not read,
nor anything else of the Mapillary block (it holds the uploader's e-mail and device name). Without a
time, photos without an owner cannot be grouped into one walk by the split (curate.split.sessions).
Reading opens the file header only (no pixel decode) and never raises: a file whose EXIF is
missing or broken simply yields no fields, and the image store judges the pixels later.
"""

from __future__ import annotations

import io
import json
import math
import re
import warnings
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image

from curate.dates import CLOCK_AT_ZERO

_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_ARTIST = 0x013B
_DATETIME_ORIGINAL = 0x9003
_DATETIME_DIGITIZED = 0x9004
_IMAGE_DESCRIPTION = 0x010E
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4
_GPS_TIME, _GPS_DATE = 7, 29
_MAPILLARY_TIME = re.compile(r"(\d{4})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})(?:_(\d{1,6}))?")


def dms_to_degrees(dms: object, ref: object) -> float | None:
    """Degrees/minutes/seconds rationals plus an N/S/E/W ref -> signed decimal degrees.

    Returns None when the value is not three finite numbers (the caller then treats
    the coordinate as missing).

    >>> dms_to_degrees((41, 53, 24.0), "N")
    41.89
    >>> dms_to_degrees((87, 37, 48.0), b"W")
    -87.63
    """
    try:
        degrees, minutes, seconds = (float(part) for part in dms)  # IFDRational -> float
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = degrees + minutes / 60.0 + seconds / 3600.0
    if not math.isfinite(value):
        return None
    ref_text = _text(ref) or ""
    sign = -1.0 if ref_text[:1].upper() in ("S", "W") else 1.0
    return round(sign * value, 7)


def exif_fields(exif: Image.Exif) -> dict:
    """Record fields (lat, lon, taken_at, owner_name, owner_id) found in an EXIF block.

    Only fields that are present and usable appear in the result.
    """
    fields: dict = {}
    gps = _safe_ifd(exif, _GPS_IFD)
    lat = dms_to_degrees(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF)) if gps.get(_GPS_LAT) is not None else None
    lon = dms_to_degrees(gps.get(_GPS_LON), gps.get(_GPS_LON_REF)) if gps.get(_GPS_LON) is not None else None
    if lat is not None and lon is not None:
        fields["lat"], fields["lon"] = lat, lon
    taken = taken_at(exif, gps)
    if taken:
        fields["taken_at"] = taken
    artist = _text(exif.get(_ARTIST))
    if artist:
        fields["owner_name"] = fields["owner_id"] = artist
    return fields


def taken_at(exif: Image.Exif, gps: dict | None = None) -> str | None:
    """When the photo was taken, 'YYYY-MM-DD HH:MM:SS[.fff]', from the first usable of DateTimeOriginal,
    DateTimeDigitized, the GPS date and time stamps and Mapillary's MAPCaptureTime; None without one.
    A blank ('0000:00:00 00:00:00') or impossible date, a camera clock started from zero (on 1970-01-01 or
    1980-01-01) or a date after tomorrow is not usable (`plausible`): the next source is read.

    >>> exif = Image.Exif()
    >>> exif.get_ifd(_EXIF_IFD).update({_DATETIME_ORIGINAL: "0000:00:00 00:00:00",
    ...                                 _DATETIME_DIGITIZED: "2019:07:04 18:30:00"})
    >>> taken_at(exif)
    '2019-07-04 18:30:00'
    >>> taken_at(Image.Exif(), {_GPS_DATE: "2014:06:07", _GPS_TIME: (8.0, 24.0, 5.5)})
    '2014-06-07 08:24:05.500'
    """
    fields = _safe_ifd(exif, _EXIF_IFD)
    gps = _safe_ifd(exif, _GPS_IFD) if gps is None else gps
    for tag in (_DATETIME_ORIGINAL, _DATETIME_DIGITIZED):
        parsed = _exif_datetime(_text(fields.get(tag)))
        if parsed is not None:
            return _iso(parsed)
    return _gps_datetime(gps) or _mapillary_time(exif.get(_IMAGE_DESCRIPTION))




def plausible(moment: datetime | None) -> datetime | None:
    """`moment`, or None for a camera clock started from zero (`curate.dates.CLOCK_AT_ZERO`) or a date after
    tomorrow.

    >>> plausible(datetime(2019, 7, 4, 18, 30)), plausible(datetime(1970, 1, 1, 0, 4)), plausible(datetime(2099, 1, 1))
    (datetime.datetime(2019, 7, 4, 18, 30), None, None)
    """
    if moment is None or moment.date() in CLOCK_AT_ZERO or moment > datetime.now() + timedelta(days=1):
        return None
    return moment


def _exif_datetime(text: str | None) -> datetime | None:
    try:
        return plausible(datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")) if text else None
    except ValueError:  # blank placeholders, other layouts, impossible dates
        return None


def _iso(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="milliseconds" if moment.microsecond else "seconds")


def _gps_datetime(gps: dict) -> str | None:
    """The GPS receiver's clock (UTC): GPSDateStamp 'YYYY:MM:DD' and GPSTimeStamp (h, m, s)."""
    date = _text(gps.get(_GPS_DATE))
    try:
        hours, minutes, seconds = (float(part) for part in gps.get(_GPS_TIME))
        day = datetime.strptime(date or "", "%Y:%m:%d")
        whole = int(seconds)
        moment = day.replace(hour=int(hours), minute=int(minutes), second=whole,
                             microsecond=round((seconds - whole) * 1e6) // 1000 * 1000)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return None if plausible(moment) is None else _iso(moment)


def _mapillary_time(description: object) -> str | None:
    """MAPCaptureTime ('2014_06_07_10_24_05_656') of the JSON Mapillary's apps write into ImageDescription."""
    text = _text(description)
    if not text or not text.startswith("{") or "MAPCaptureTime" not in text:
        return None
    try:
        value = json.loads(text).get("MAPCaptureTime")
        match = _MAPILLARY_TIME.fullmatch(value.strip())
        year, month, day, hour, minute, second, fraction = match.groups()
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                          int((fraction or "0").ljust(6, "0")) // 1000 * 1000)
    except (ValueError, AttributeError, TypeError):  # not JSON, not a dict, no such key, bad layout or date
        return None
    return None if plausible(moment) is None else _iso(moment)


def read_exif_fields(path: Path) -> dict:
    """`exif_fields` of the file at `path`; {} when it cannot be opened or has no EXIF."""
    if not path.is_file():  # a named pipe or device would block the read forever
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning, corrupt-EXIF warnings
        try:
            with Image.open(path) as image:
                return exif_fields(image.getexif())
        except Exception:  # junk bytes, bombs, directories, dangling links: no EXIF, not our call
            return {}


def read_exif_bytes(data: bytes) -> dict:
    """`exif_fields` of an image's bytes (its start is enough); {} when they cannot be opened or have no EXIF."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                return exif_fields(image.getexif())
        except Exception:  # junk or cut-short bytes: no EXIF, not our call
            return {}


def _safe_ifd(exif: Image.Exif, tag: int) -> dict:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:  # a corrupt sub-IFD pointer must not hide the other fields
        return {}


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).replace("\x00", "").strip()
    return text or None
