"""Second look at near-duplicate candidates: a tiny colour thumbnail per image.

A 64-bit pHash is greyscale and low-frequency: two different photos of one landmark
from a similar viewpoint, or one room layout in other colours, can sit within a few
bits, while on flat, low-texture images a 1-2 px shift can move it by 10 bits. So pHash
only proposes candidate pairs (within `near_dup_bits`); a pair is linked when the
mean absolute difference of the two 16x12 RGB thumbnails is at most
`near_dup_colour_diff` (0-255 scale). Measured on the default demo collection (see
docs/benchmarks.md): burst frames differ by 0-7.3 (95% <= 4.6), different scenes that
pHash proposes by 3-106 (5% <= 6.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from curate.store import open_rgb

THUMB_WIDTH, THUMB_HEIGHT = 16, 12
THUMB_BYTES = THUMB_WIDTH * THUMB_HEIGHT * 3
DEFAULT_COLOUR_DIFF = 4.0


def thumbnail_bytes(path: Path) -> bytes | None:
    """The upright image shrunk to 16x12 RGB (576 bytes); None if it cannot be read."""
    try:
        image = open_rgb(path).resize((THUMB_WIDTH, THUMB_HEIGHT), Image.BILINEAR)
    except Exception:  # an unreadable file is simply not verified
        return None
    return image.tobytes()


def compute_thumbnails(paths: Iterable[Path], workers: int = 2) -> list[bytes | None]:
    """thumbnail_bytes for each path, in order, with a thread pool."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(thumbnail_bytes, paths))


def colour_difference(first: np.ndarray, second: np.ndarray, thumbs: np.ndarray) -> np.ndarray:
    """Mean absolute RGB difference (0-255) between thumbnails of index pairs.

    >>> t = np.zeros((2, THUMB_BYTES), dtype=np.uint8); t[1] += 10
    >>> colour_difference(np.array([0]), np.array([1]), t).tolist()
    [10.0]
    """
    out = np.empty(len(first), dtype=np.float64)
    for start in range(0, len(first), 65536):  # bounded memory on huge candidate lists
        a = thumbs[first[start:start + 65536]].astype(np.int16)
        b = thumbs[second[start:start + 65536]].astype(np.int16)
        out[start:start + 65536] = np.abs(a - b).mean(axis=1)
    return out
