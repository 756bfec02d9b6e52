"""Photo formats beyond what Pillow reads by itself: HEIC / HEIF (phones), with the optional pillow-heif.

`register_optional_decoders` runs when the `curate` package is imported, so every process that decodes a
photo (ingest's pixel pass, embed's loader workers, Ray tasks, the report's and review's thumbnails,
training) can open a stored HEIC once pillow-heif is installed (`pip install 'curate-photos[heif]'`; an
optional extra, never a base dependency: its binary wheels are GPLv2, bundling x265).
Without it a HEIC photo is a row dropped as `unsupported_format` (`heif_brand` says which bytes those are),
which the next `curate ingest folder` run tries again. AVIF needs nothing on a recent Pillow (this project's
reads it; one built without libavif gives `unsupported_format` too).

How large a photo may be depends on its format. No image is ever decoded at more than `MAX_DECODE_PIXELS`;
a JPEG can decode at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling, every byte still entropy-decoded), so
JPEGs up to `MAX_JPEG_PIXELS` are real photos (phones' 108 and 200 MP modes, medium-format cameras,
stitched panoramas), decoded at the largest scale that fits. Beyond those limits a file is a
`decompression_bomb`. `register_optional_decoders` raises Pillow's own bomb limit (`Image.MAX_IMAGE_PIXELS`,
an error at twice its value) so that Pillow opens such a JPEG at all; curate's store checks each format's
limit before anything is decoded.
"""

from __future__ import annotations

# The file extensions read as photos (any case): what `curate ingest folder` and `classify predict` scan for,
# and what a per-photo sidecar's name must carry to be one (curate.ingest.photo_sidecars).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp",
                              ".avif", ".heic", ".heif"})  # HEIC/HEIF decode with pillow-heif (curate.store)

# ISO base media file brands (the `ftyp` box at byte 4) of HEIF images: HEIC, HEIF, AVIF.
HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC", b"hevc": "HEIC",
               b"hevx": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}


def heif_brand(data: bytes) -> str | None:
    """"HEIC", "HEIF" or "AVIF" when `data` starts as such an image (its `ftyp` box), else None.

    >>> heif_brand(b"\\x00\\x00\\x00\\x18ftypheic\\x00\\x00\\x00\\x00"), heif_brand(b"\\xff\\xd8\\xff\\xe0")
    ('HEIC', None)
    """
    return HEIF_BRANDS.get(data[8:12]) if data[4:8] == b"ftyp" else None


MAX_DECODE_PIXELS = 80_000_000  # ~ 9000 x 9000: the most pixels any image is decoded at (240 MB as RGB, 320 MB
# as RGBA; the pixel pass holds about twice that at its peak: `curate.store.shrink_loaded`, bench/decode_memory.py)
MAX_JPEG_PIXELS = 250_000_000  # ~ 18000 x 14000: a 200 MP phone photo fits; decoded at 1/2 scale or less


def pixel_limit(image_format: str | None) -> int:
    """The most pixels a photo of this Pillow format may have before it counts as a decompression bomb.

    >>> pixel_limit("JPEG"), pixel_limit("PNG")
    (250000000, 80000000)
    """
    return MAX_JPEG_PIXELS if image_format == "JPEG" else MAX_DECODE_PIXELS


def allow_large_jpegs() -> None:
    """Raise Pillow's bomb limit to `MAX_JPEG_PIXELS` (never lower it: a caller's own setting, even None, stays)."""
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_JPEG_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_JPEG_PIXELS


def register_optional_decoders() -> bool:
    """Let Pillow open HEIC / HEIF when pillow-heif is installed, and JPEGs up to `MAX_JPEG_PIXELS`;
    whether pillow-heif is installed."""
    allow_large_jpegs()
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def has_decoder(brand: str) -> bool:
    """Whether this installation decodes `brand` ("HEIC", "HEIF" or "AVIF"): Pillow's own AVIF plugin, or
    pillow-heif registered (`register_optional_decoders`)."""
    from PIL import Image, features

    if brand == "AVIF" and features.check("avif"):
        return True
    Image.init()
    return (brand if brand == "AVIF" else "HEIF") in Image.OPEN


def missing_decoder(brand: str) -> str:
    """The error detail of a photo whose format this installation cannot decode: what to install."""
    if brand == "AVIF":
        return "AVIF: this Pillow has no AVIF decoder; upgrade Pillow (recent releases read AVIF), then ingest again"
    return (f"{brand}: no decoder installed; pip install pillow-heif (or 'curate-photos[heif]'), then run ingest "
            f"again")
