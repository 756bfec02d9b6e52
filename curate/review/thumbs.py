"""Review thumbnails: made on first request, cached under `<workspace>/cache/review-thumbs/`."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from curate import objectstore
from curate.store import upright_rgb
from curate.workspace import Workspace, atomic_write_bytes

THUMB_SIDE = 256
THUMB_DIR = "cache/review-thumbs"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def thumbnail_path(ws: Workspace, sha256: str) -> Path:
    """Where the thumbnail of the image with this hash is cached."""
    return ws.root / THUMB_DIR / sha256[:2] / f"{sha256}.jpg"


def make_thumbnail(source: objectstore.Location, side: int = THUMB_SIDE) -> bytes | None:
    """JPEG bytes of `source` (a file or an object URL) upright and shrunk to at most `side` px, or None
    when unreadable."""
    try:
        with objectstore.open_stored(source) as handle, Image.open(handle) as image:
            image.draft("RGB", (side, side))  # JPEG: decode at a reduced scale, much faster
            image = upright_rgb(image)
            image.thumbnail((side, side))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=80)
            return buffer.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def cached_thumbnail(ws: Workspace, image_path: str, sha256: str | None) -> bytes | None:
    """The cached thumbnail, made and cached first if needed; None when the image cannot be read."""
    sha256 = sha256 if isinstance(sha256, str) and _SHA256.fullmatch(sha256) else None  # names a file
    if sha256:
        cached = thumbnail_path(ws, sha256)
        if cached.is_file():
            return cached.read_bytes()
    data = make_thumbnail(objectstore.locate(ws, image_path))
    if data is not None and sha256:
        try:
            atomic_write_bytes(thumbnail_path(ws, sha256), data, durable=False)
        except OSError:  # a cache: serving the image matters more than keeping it
            pass
    return data
