"""Photo formats beyond what Pillow reads by itself: HEIC / HEIF (phones), with the optional pillow-heif.

`register_optional_decoders` runs when the `curate` package is imported, so every process that decodes a
photo (ingest's pixel pass, embed's loader workers, Ray tasks, the report's and review's thumbnails,
training) can open a stored HEIC once pillow-heif is installed (`pip install 'curate-photos[heif]'`; an
optional extra, never a base dependency: its binary wheels are GPLv2, bundling x265).
Without it a HEIC photo is a row dropped as `unsupported_format` (`heif_brand` says which bytes those are),
which the next `curate ingest folder` run tries again. AVIF needs nothing on a recent Pillow (this project's
reads it; one built without libavif gives `unsupported_format` too).
"""

from __future__ import annotations

# ISO base media file brands (the `ftyp` box at byte 4) of HEIF images: HEIC, HEIF, AVIF.
HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC", b"hevc": "HEIC",
               b"hevx": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}


def heif_brand(data: bytes) -> str | None:
    """"HEIC", "HEIF" or "AVIF" when `data` starts as such an image (its `ftyp` box), else None.

    >>> heif_brand(b"\\x00\\x00\\x00\\x18ftypheic\\x00\\x00\\x00\\x00"), heif_brand(b"\\xff\\xd8\\xff\\xe0")
    ('HEIC', None)
    """
    return HEIF_BRANDS.get(data[8:12]) if data[4:8] == b"ftyp" else None


def register_optional_decoders() -> bool:
    """Let Pillow open HEIC / HEIF when pillow-heif is installed; whether it is."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def missing_decoder(brand: str) -> str:
    """The error detail of a photo whose format this installation cannot decode: what to install."""
    if brand == "AVIF":
        return "AVIF: this Pillow has no AVIF decoder; upgrade Pillow (recent releases read AVIF), then ingest again"
    return (f"{brand}: no decoder installed; pip install pillow-heif (or 'curate-photos[heif]'), then run ingest "
            f"again")
