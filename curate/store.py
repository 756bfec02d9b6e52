"""Content-addressed image store: validate bytes once, keep them under their SHA-256.

Every image is decoded once, at ingest, to prove it is a usable photo and to record its
size (after EXIF orientation) and format. A caller that wants pixel-level features in
the same pass (`put_image(..., analyse=...)`) gets the decoded image handed to its
`analyse` function: a JPEG then decodes at a reduced DCT scale (every byte of the file is
still entropy-decoded, so a truncated file is still caught), which is the same upright
RGB image `open_rgb(path, min_side=work_side)` gives later from the stored file. Bad bytes never raise out of
this module as anything but `BadImage`, whose `reason` becomes the row's drop_reason.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageFile

from curate import objectstore
from curate.imageformats import MAX_DECODE_PIXELS, MAX_JPEG_PIXELS, has_decoder, heif_brand, missing_decoder
from curate.workspace import Workspace, atomic_write_bytes

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated JPEG must be an error, not grey pixels

MIN_SIDE_PX = 32
MAX_PIXELS = MAX_DECODE_PIXELS  # ~ 9000 x 9000: no image decodes at more; a larger non-JPEG is a decompression bomb

_EXT_BY_FORMAT = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp",
                  "TIFF": "tif", "BMP": "bmp", "AVIF": "avif", "HEIF": "heic"}
# Formats whose extra frames make an animation: a GIF, APNG or animated WebP/AVIF is not a photo. A TIFF's
# extra pages (a preview, a second resolution: scanners, Photoshop), an MPO's (a phone's depth or stereo
# view) and a HEIF's other images are not: the first page, the primary image, is the photo (audit AS 4).
ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP", "AVIF"})
_ROTATED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_EXIF_ORIENTATION = 0x0112


class BadImage(Exception):
    """Bytes that are not a usable photo; `reason` is a drop_reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    image_format: str
    extension: str
    mode: str


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    image_path: str  # the store-relative key images/<ab>/<sha256>.<ext> (curate.objectstore.locate)
    info: ImageInfo
    features: dict | None = None  # what `analyse` returned for the decoded image (put_image)


Analyse = Callable[[Image.Image], dict]


def inspect_image(data: bytes, *, min_side_px: int = MIN_SIDE_PX, max_pixels: int = MAX_PIXELS,
                  max_jpeg_pixels: int = MAX_JPEG_PIXELS) -> ImageInfo:
    """Decode `data` fully (a JPEG over `max_pixels` at a reduced scale) and describe it, or raise BadImage
    with a drop reason.

    >>> inspect_image(b"")
    Traceback (most recent call last):
    ...
    curate.store.BadImage: empty_file
    """
    return decode_image(data, min_side_px=min_side_px, max_pixels=max_pixels, max_jpeg_pixels=max_jpeg_pixels)[0]


def decode_image(data: bytes, *, work_side: int | None = None, min_side_px: int = MIN_SIDE_PX,
                 max_pixels: int = MAX_PIXELS,
                 max_jpeg_pixels: int = MAX_JPEG_PIXELS) -> tuple[ImageInfo, Image.Image | None]:
    """Decode `data` once: (its description, the upright RGB image or None).

    With `work_side`, a JPEG decodes at the smallest DCT scale that keeps both sides at
    least `work_side` px and the upright RGB image is returned (exactly what
    `open_rgb(stored_path, min_side=work_side)` gives); without it the image decodes at full
    size and only the description is returned. A JPEG of more than `max_pixels` (up to
    `max_jpeg_pixels`) always decodes at a reduced scale that fits `max_pixels`; the description
    keeps its full size. Raises BadImage with a drop reason.
    """
    with open_image(data, max_pixels, max_jpeg_pixels) as image:
        info = _describe(image, min_side_px, max_pixels, work_side)
        return info, (upright_rgb(shrink_loaded(image, work_side)) if work_side else None)


def open_image(data: bytes, max_pixels: int = MAX_PIXELS, max_jpeg_pixels: int = MAX_JPEG_PIXELS) -> Image.Image:
    """`data` opened (header read, nothing decoded) after the checks that need no decode:
    empty, not an image, more than `max_pixels` (`max_jpeg_pixels` for a JPEG, which can decode
    at a reduced scale), animated. The caller closes it. Raises BadImage with a drop reason."""
    if not data:
        raise BadImage("empty_file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:  # over Pillow's own limit (curate raises it to MAX_JPEG_PIXELS)
            claimed = re.search(r"\((\d+) pixels\)", str(exc))
            raise BadImage("decompression_bomb", f"{int(claimed[1]):,} pixels claimed, over any format's limit"
                           if claimed else str(exc)[:200]) from exc
        except Exception as exc:  # PIL raises many types for junk bytes
            brand = heif_brand(data)
            if brand and not has_decoder(brand):  # a phone's HEIC without pillow-heif, or AVIF on an old Pillow
                raise BadImage("unsupported_format", missing_decoder(brand)) from exc
            if brand:  # a decoder there, and it cannot open the file: cut short (audit AU: "upgrade Pillow")
                raise BadImage("truncated_image", f"{len(data):,} bytes: the file is cut short") from exc
            if starts_like_an_image(data):  # an image's signature, cut off before its header ended
                # (a WebP decodes whole as it opens: any cut fails here, most of them in the image data)
                where = "the file is cut short" if data[8:12] == b"WEBP" else "the header is cut short"
                raise BadImage("truncated_image", f"{len(data):,} bytes: {where}") from exc
            raise BadImage("not_an_image", what_it_is(data)) from exc
    width, height = image.size
    limit = max_jpeg_pixels if image.format == "JPEG" else max_pixels
    if width * height > limit:
        kind = "a JPEG's" if image.format == "JPEG" else f"a {image.format or 'non-JPEG'} image's"
        image.close()
        raise BadImage("decompression_bomb", f"{width}x{height} exceeds {kind} limit of {limit:,} pixels")
    if getattr(image, "n_frames", 1) > 1 and image.format in ANIMATED_FORMATS:
        frames = image.n_frames
        image.close()
        raise BadImage("animated", f"{frames} frames")
    return image


_NOT_IMAGES = ((b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip file"),
               (b"<!doctype html", "an HTML page"), (b"<html", "an HTML page"), (b"<?xml", "XML text"),
               (b"<svg", "an SVG drawing (vector, not a photo)"), (b"{", "JSON text"), (b"[", "JSON text"))


def what_it_is(data: bytes) -> str:
    """What bytes that no image decoder opens look like, for a not_an_image row's error_detail.

    >>> what_it_is(b"  <!DOCTYPE html><title>Not found</title>"), what_it_is(b"hello"), what_it_is(bytes(range(200)))
    ('an HTML page', 'text', 'no image format recognised')
    """
    head = data[:512].lstrip().lower()
    for signature, name in _NOT_IMAGES:
        if head.startswith(signature):
            return name
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "no image format recognised"
    return "text" if text and all(c.isprintable() or c in "\r\n\t" for c in text) else "no image format recognised"


_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM")


def starts_like_an_image(data: bytes) -> bool:
    """Whether `data` begins with the signature of an image format we ingest (JPEG, PNG, GIF, TIFF,
    BMP, WebP): bytes PIL cannot open that start so were an image, cut off early.

    >>> starts_like_an_image(bytes([0xFF, 0xD8, 0xFF, 0xE0]) + bytes(10)), starts_like_an_image(b"<html>")
    (True, False)
    """
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def decode_error_detail(exc: BaseException) -> str:
    """What a failed decode of the image data says, for a BadImage's detail: Pillow's "image file is truncated (3
    bytes not processed)" counts the bytes of its last read, not what is missing (audit DH 7: a JPEG cut to 3,000
    of 844,586 bytes), so it is said as "the image data is cut short" (ingest, training's resize, predict, serve).

    >>> decode_error_detail(OSError("image file is truncated (3 bytes not processed)"))
    'the image data is cut short'
    """
    said = str(exc)
    return "the image data is cut short" if said.startswith("image file is truncated") else said[:200]


def _describe(image: Image.Image, min_side_px: int, max_pixels: int, work_side: int | None = None) -> ImageInfo:
    """Decode an image `open_image` checked (at reduced scale with `work_side`) and describe it."""
    width, height = image.size
    image_format = image.format or "UNKNOWN"
    try:
        reduce_jpeg(image, work_side, max_pixels)  # must precede load(); size stays the full one above
        image.load()
        # read after the load: Pillow turns a TIFF upright as it loads it (its size is upright from the open) and
        # drops the tag, so a tag read before would turn it again (audit AU: a TIFF's width and height swapped)
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Image.DecompressionBombError as exc:
        raise BadImage("decompression_bomb", f"more than {max_pixels:,} pixels") from exc
    except Exception as exc:
        raise BadImage("truncated_image", decode_error_detail(exc)) from exc
    if orientation in _ROTATED_ORIENTATIONS:
        width, height = height, width
    if min(width, height) < min_side_px:
        raise BadImage("too_small", f"{width}x{height} is under {min_side_px} px")
    extension = _EXT_BY_FORMAT.get(image_format, image_format.lower())
    return ImageInfo(width, height, image_format, extension, image.mode)


def map_images(fn: Callable, paths: Iterable, workers: int = 2) -> list:
    """`fn(path)` for each path, in order: in this thread for one worker or one path, else in a pool of up to
    `workers` threads (decoding and hashing release the GIL).

    >>> map_images(len, ["ab", "c", ""], workers=2)
    [2, 1, 0]
    """
    paths = list(paths)
    if workers <= 1 or len(paths) < 2:
        return [fn(path) for path in paths]
    with ThreadPoolExecutor(max_workers=min(workers, len(paths))) as pool:
        return list(pool.map(fn, paths))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def relative_image_path(sha256: str, extension: str) -> str:
    """images/<first two hex digits>/<sha256>.<ext>, relative to the workspace."""
    return f"images/{sha256[:2]}/{sha256}.{extension}"


def put_image(ws: Workspace, data: bytes, *, analyse: Analyse | None = None, work_side: int = 256,
              **limits) -> StoredImage:
    """Validate and store `data`; a second put of the same bytes writes nothing.

    With `analyse`, the image decoded for validation (upright RGB, a JPEG at reduced scale
    with both sides >= `work_side`) is passed to it and its dict becomes `features`, so
    the caller needs no second decode.
    """
    info, image = decode_image(data, work_side=work_side if analyse else None, **limits)
    features = analyse(image) if analyse else None
    digest = sha256_hex(data)
    rel_path = relative_image_path(digest, info.extension)
    target = objectstore.locate(ws, rel_path)  # in the workspace's store: <workspace>/images by default
    if objectstore.is_url(target):
        objectstore.put_bytes(target, data)  # one PUT, skipped when the key exists
    elif not target.exists():
        atomic_write_bytes(target, data, durable=False)
    return StoredImage(digest, rel_path, info, features)


def open_rgb(path: objectstore.Location | BinaryIO, min_side: int | None = None) -> Image.Image:
    """Open a stored image as upright RGB (EXIF orientation applied, CMYK/16-bit converted, transparency
    flattened onto white: `flat_rgb`).

    `path` is a local file or an object store URL (`curate.objectstore.locate` gives either), or an
    open binary file (read from where it is, left open).
    `min_side` lets a JPEG decode at a reduced scale (libjpeg DCT scaling) as long as
    both sides stay at least that many pixels: much faster for large photos.
    """
    opened = nullcontext(path) if hasattr(path, "read") else objectstore.open_stored(path)
    with opened as handle, Image.open(handle) as image:
        reduce_jpeg(image, min_side)
        return upright_rgb(shrink_loaded(image, min_side))


def reduce_jpeg(image: Image.Image, min_side: int | None, max_pixels: int = MAX_PIXELS) -> None:
    """Before `image` loads: have a JPEG decode at the smallest DCT scale (1, 1/2, 1/4, 1/8) that keeps
    both sides at least `min_side` px, and in any case at one that keeps it within `max_pixels`
    (a 200 MP photo decodes at 1/4 scale, 12.5 MP, when a full-size view is asked for). Other formats
    are left alone: `open_image` refused them over `max_pixels`."""
    if image.format != "JPEG":
        return
    width, height = image.size
    fit = next((scale for scale in (1, 2, 4, 8) if -(-width // scale) * -(-height // scale) <= max_pixels), 8)
    if fit == 1:
        if min_side:
            image.draft("RGB", (min_side, min_side))
        return
    if min_side:  # the scale Pillow's draft picks for (min_side, min_side), when it reduces more than `fit`
        fit = max(fit, next((scale for scale in (8, 4, 2) if min(width, height) // min_side >= scale), 1))
    image.draft("RGB", (max(1, width // fit), max(1, height // fit)))  # Pillow picks exactly `fit` from this


# Modes whose pixels average as colours or grey levels (not palette indices, not 1-bit, which reduce()
# refuses, as it does 16-bit grey)
_REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "F"})


def shrink_loaded(image: Image.Image, min_side: int | None) -> Image.Image:
    """A non-JPEG `image` reduced by the largest whole factor that keeps both sides at least `min_side`
    px (a box average, as a JPEG's reduced DCT scale: `reduce_jpeg`), before the orientation, 16-bit and
    transparency work of `upright_rgb`, which would otherwise copy the full-size image several times: a
    79 MP RGBA PNG took 1.3 GB to decode, four of them in one ingest 4.85 GB (audit AS 2). A JPEG (reduced
    as it decoded), a palette, 1-bit or 16-bit image, or one with no `min_side`, is returned as it is.

    >>> shrink_loaded(Image.new("RGBA", (2000, 1000)), 256).size, shrink_loaded(Image.new("P", (2000, 1000)), 256).size
    ((667, 334), (2000, 1000))
    """
    if not min_side or image.format == "JPEG" or image.mode not in _REDUCIBLE_MODES:
        return image
    factor = min(image.size) // min_side
    return image.reduce(factor) if factor >= 2 else image


TURNED = frozenset(range(2, 9))  # EXIF orientations other than "as stored"


def shown_turned(image: Image.Image) -> bool:
    """Whether `image`'s EXIF orientation turns or mirrors it for display (read after a TIFF's load, which
    applies it: `_describe`)."""
    return image.getexif().get(_EXIF_ORIENTATION, 1) in TURNED


def upright_rgb(image: Image.Image) -> Image.Image:
    """`image` with its EXIF orientation applied, as RGB (`flat_rgb`), in sRGB (`to_srgb`). An image shown as
    stored is not copied for its orientation (`ImageOps.exif_transpose` copies every image it is given)."""
    from PIL import ImageOps

    profile = image.info.get("icc_profile")
    if shown_turned(image):
        image = ImageOps.exif_transpose(image)
    return to_srgb(flat_rgb(image), profile)


def to_srgb(image: Image.Image, profile: bytes | None) -> Image.Image:
    """An RGB `image` whose pixels are in the colour space of the ICC `profile` converted to sRGB, as a
    colour-managed viewer shows it; as it is without a profile, with an sRGB one, or with one that is not
    an RGB profile or cannot be read. Real Flickr photos carry Adobe RGB, "Camera RGB" and Apple's Generic RGB
    profiles (15 of the 100 flickr-ferrari photos): read as sRGB their colours were off by a mean 2 to 13
    levels, and a photo and its sRGB copy disagreed (audit AS 5; phones' Display P3 is the same case)."""
    if not profile or image.mode != "RGB":
        return image
    transform = srgb_transform(bytes(profile))
    if transform is None:
        return image
    from PIL import ImageCms

    return ImageCms.applyTransform(image, transform)


@functools.lru_cache(maxsize=32)
def srgb_transform(profile: bytes):
    """The transform from the RGB ICC `profile` to sRGB (relative colorimetric, what browsers use for
    photos), built once per profile; None for an sRGB profile (nothing to do), a non-RGB or unreadable one."""
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if source.profile.xcolor_space.strip() != "RGB":
            return None
        if "srgb" in ImageCms.getProfileDescription(source).lower().replace(" ", ""):
            return None  # sRGB IEC61966-2.1 and its variants
        return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), "RGB", "RGB",
                                       renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    except Exception:  # noqa: BLE001 - a damaged or exotic profile: the pixels as they are, as before
        return None


ALPHA_BACKGROUND = (255, 255, 255)  # what a transparent pixel shows: white, as a browser page shows it
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def has_transparency(image: Image.Image) -> bool:
    """Whether `image` carries transparency: an alpha band, or a palette / single-colour tRNS entry."""
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def flat_rgb(image: Image.Image) -> Image.Image:
    """`image` as 8-bit RGB (`as_eight_bit`), its transparent parts composited onto white.

    Pillow's own conversion drops the alpha band and keeps the colours hidden under it: a cut-out
    product shot or logo saved with a transparent background (often black or leftover pixels
    underneath) would be hashed, embedded and classified as whatever the hidden pixels show, not as
    the picture a browser or viewer shows (audit X5). A fully opaque image converts as before.
    """
    image = as_eight_bit(image)
    if not has_transparency(image):
        return image.convert("RGB")
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:  # an alpha band that hides nothing
        return rgba.convert("RGB")
    flat = Image.new("RGB", rgba.size, ALPHA_BACKGROUND)
    flat.paste(rgba.convert("RGB"), mask=alpha)
    return flat


def as_eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit integer grey image scaled to 8 bits (value / 256); a 32-bit integer (mode I) or
    floating-point (mode F) one by the range of its values, read robustly: the 99.9th percentile of the
    finite values sets the top (a few hot pixels, NaN or inf do not), at most 1.5 reads as 0-1 data
    (scientific and HDR exports, highlights a little over 1), at most 255 (or 255 × 1.5) as 0-255, more
    by that top; values below 0 and above the top are clipped. PIL's own conversion clipped 0-1 floats
    to 0 and 1, an all-black photo (audit X), and one NaN or a maximum of 1.001 still gave one (audit O).
    Other modes as they are."""
    import numpy as np

    if image.mode in ("I;16", "I;16B", "I;16L"):
        return image.point(lambda value: value / 256).convert("L")
    if image.mode not in ("I", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    top = float(np.percentile(finite, 99.9)) if finite.size else 0.0
    full = 1.0 if top <= 1.5 else 255.0 if top <= 255.0 * 1.5 else (65535.0 if image.mode == "I" and top <= 65535.0
                                                                      else top)
    scaled = np.clip(np.nan_to_num(values, nan=0.0, posinf=full, neginf=0.0) / full * 255.0, 0.0, 255.0)
    return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
