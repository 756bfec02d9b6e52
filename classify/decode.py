"""Decoding images for the model with bounded memory (`classify predict` and `classify serve`).

A photo is decoded once, straight to the size the model's preprocessing resizes it to:
JPEGs at a reduced DCT scale (draft mode, to at least `curate.vision.images.draft_side`, the
scale every model input decodes at), everything else at full size, averaged down by a whole
factor (`curate.store.shrink_loaded`, as `open_rgb` does) and then resized
at once with the same call `curate.vision.images.prepare` makes (bilinear, reducing_gap
2.0), so `prepare` finds the image already at its target size and the probabilities are
the ones `classify evaluate` gets from `curate.store.open_rgb` + `prepare`. EXIF rotation
and the conversion to RGB are applied to the small image, except for modes a resize
cannot take (palette, 1-bit, 16-bit, CMYK, alpha), which are converted at full size first
(transparency composited onto white, as `curate.store.flat_rgb` does for every stored image).

What a decode may allocate is known from the header before any pixel is decoded
(`decode_cost_bytes`); a `MemoryBudget` shared by concurrent decodes makes each one wait
until its bytes fit, so N uploads of a 80-megapixel PNG cost one or two full-size buffers
at a time instead of N.
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
import threading
from contextlib import contextmanager, nullcontext

from PIL import Image

from curate.store import (
    MIN_SIDE_PX,
    BadImage,
    decode_error_detail,
    flat_rgb,
    has_transparency,
    open_image,
    shrink_loaded,
    to_srgb,
)
from curate.vision.images import draft_side

MAX_FILE_BYTES = 256 * 1024 * 1024  # as ingest: no photo is this big; refused before reading
BYTES_PER_PIXEL = 4  # Pillow stores RGB, RGBA, CMYK, I and F images in 4 bytes a pixel
RESIZABLE_MODES = ("RGB", "L")  # resized before conversion with the same result as after it
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
_EXIF_ORIENTATION = 0x0112
_LARGE_DECODE_BYTES = 64 * 1024 * 1024  # after one this big, freed memory goes back to the OS


class MemoryBudget:
    """Bytes of decode buffers allowed at once across threads; `hold(n)` waits until n fit.

    A request for more than the whole budget waits until nothing else is held, then runs
    alone (it is never refused: the pixel limit already bounds a single image).

    >>> budget = MemoryBudget(100)
    >>> with budget.hold(60):
    ...     budget.held_bytes
    60
    """

    def __init__(self, total_bytes: int):
        if total_bytes < 1:
            raise ValueError("a memory budget needs at least one byte")
        self.total_bytes = int(total_bytes)
        self.held_bytes = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, nbytes: int):
        """Block until `nbytes` fit beside what is held, hold them for the `with` block."""
        nbytes = min(int(nbytes), self.total_bytes)
        with self._changed:
            self._changed.wait_for(lambda: self.held_bytes + nbytes <= self.total_bytes)
            self.held_bytes += nbytes
        try:
            yield
        finally:
            with self._changed:
                self.held_bytes -= nbytes
                self._changed.notify_all()


def read_regular_file(path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, or BadImage("unreadable_file" / "file_too_large").

    Opened without blocking and checked on the open descriptor, so a named pipe or a
    device (`/dev/zero`) is refused instead of hanging or filling memory.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise BadImage("unreadable_file", f"{exc.strerror or exc}") from None
    with os.fdopen(descriptor, "rb") as handle:
        facts = os.fstat(descriptor)
        if not stat.S_ISREG(facts.st_mode):
            raise BadImage("unreadable_file", "not a regular file (a named pipe, device or socket)")
        if facts.st_size > max_bytes:
            raise BadImage("file_too_large", f"{facts.st_size:,} bytes; the limit is {max_bytes:,}")
        try:
            data = handle.read(max_bytes + 1)  # the file may have grown since fstat
        except OSError as exc:
            raise BadImage("unreadable_file", f"{exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise BadImage("file_too_large", f"over {max_bytes:,} bytes")
    return data


def decode_cost_bytes(size: tuple[int, int], mode: str, transparent: bool = False) -> int:
    """Upper bound of the bytes a decode of this image allocates at once (full-size buffers)."""
    width, height = size
    # other modes are converted at full size; transparency is flattened there too (RGBA, RGB, alpha band)
    copies = 4 if transparent else 1 if mode in RESIZABLE_MODES else 2
    return width * height * BYTES_PER_PIXEL * copies


def decode_for_model(data: bytes, preprocess, budget: MemoryBudget | None = None) -> Image.Image:
    """Bytes -> upright RGB image already resized the way `prepare(image, preprocess)` resizes.

    Raises BadImage (empty_file, not_an_image, decompression_bomb, animated,
    truncated_image, too_small) before any large allocation: the header is read first.
    With a budget, the full-size decode waits until its bytes fit in it.
    """
    image = open_image(data)  # the store's header checks: empty, not an image, bomb, animated
    with image:
        width, height = image.size
        # no EXIF read here: a PNG's getexif() loads the whole image (Pillow reads its text chunks), which decoded
        # a huge upload before the budget was held (review BG); a quarter turn does not change the shorter side
        if min(width, height) < MIN_SIDE_PX:
            raise BadImage("too_small", f"{width}x{height} is under {MIN_SIDE_PX} px")
        if image.format == "JPEG":  # the reduced scale every model input decodes at (curate.vision.images)
            side = draft_side(preprocess)
            image.draft("RGB", (side, side))
        cost = decode_cost_bytes(image.size, image.mode, has_transparency(image))
        with budget.hold(cost) if budget is not None else nullcontext():
            try:
                image.load()
            except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad streams
                raise BadImage("truncated_image", decode_error_detail(exc) or "the image data ends early") from None
            # read again after the load: Pillow turns a TIFF upright as it loads it and drops the tag (audit AU:
            # predict turned such a TIFF a second time, 57 to 95 levels off the evaluation, one top class flipped)
            small = _shrink(image, _orientation(image), preprocess)
    if cost >= _LARGE_DECODE_BYTES:
        release_memory()
    return small


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block is no orientation, as in ImageOps
        return 1


def _shrink(image: Image.Image, orientation: int, preprocess) -> Image.Image:
    """The loaded image -> upright RGB at the size `prepare` resizes it to, in sRGB (`curate.store.to_srgb`:
    converted before the resize, as the evaluation's `open_rgb` converts before `prepare` resizes; converted
    after it, a Camera RGB photo's probabilities were 0.02 off the evaluation's, audit AU)."""
    profile = image.info.get("icc_profile")
    if image.format != "JPEG":  # averaged down first, as the evaluation's open_rgb does (a JPEG: its draft)
        image = shrink_loaded(image, draft_side(preprocess))
    if image.mode not in RESIZABLE_MODES or has_transparency(image):
        image = flat_rgb(image)  # full size: the conversion must come before any averaging
    image = to_srgb(image, profile)  # (an RGB image with an RGB profile other than sRGB; any other as it is)
    rotated = orientation in (5, 6, 7, 8)
    upright_size = image.size[::-1] if rotated else image.size
    target = model_input_size(upright_size, preprocess)
    resized = image.resize(target[::-1] if rotated else target, Image.BILINEAR, reducing_gap=2.0)
    if orientation in _TRANSPOSE:
        resized = resized.transpose(_TRANSPOSE[orientation])
    return resized.convert("RGB")


def model_input_size(size: tuple[int, int], preprocess) -> tuple[int, int]:
    """The (width, height) `curate.vision.images.prepare` resizes an upright image of `size` to."""
    width, height = size
    scale = preprocess.resize / min(width, height)
    return max(preprocess.size, round(width * scale)), max(preprocess.size, round(height * scale))


def release_memory() -> None:
    """Hand freed heap memory back to the OS (glibc keeps large freed blocks in its arenas)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, or None on another C library."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
