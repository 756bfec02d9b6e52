"""Metadata from a photo's own EXIF block: the fallback when a folder has no sidecar row.

Only three things are read: the GPS position, DateTimeOriginal and Artist. Reading
opens the file header only (no pixel decode) and never raises: a file whose EXIF is
missing or broken simply yields no fields, and the image store judges the pixels later.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

from PIL import Image

_GPS_IFD = 0x8825
_EXIF_IFD = 0x8769
_ARTIST = 0x013B
_DATETIME_ORIGINAL = 0x9003
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4


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
    taken = _text(_safe_ifd(exif, _EXIF_IFD).get(_DATETIME_ORIGINAL))
    if taken:
        # EXIF writes dates as 'YYYY:MM:DD HH:MM:SS'; make the date part ISO so pandas parses it.
        date, _, time = taken.partition(" ")
        fields["taken_at"] = f"{date.replace(':', '-')} {time}".strip()
    artist = _text(exif.get(_ARTIST))
    if artist:
        fields["owner_name"] = fields["owner_id"] = artist
    return fields


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
