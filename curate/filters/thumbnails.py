"""The 16x12 RGB thumbnails the near-duplicate rule compares (curate.filters.verify): how one is made from
a stored image (`thumbnail_bytes`), and how two are compared: in colour (`colour_difference_of`, in
luminance when either is greyscale), after a tone curve is taken out (`tone_difference_of`), by a
tone-invariant hash (`tone_hashes`), or one mirrored (`mirrored_thumbnails`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from curate.store import map_images, open_rgb

THUMB_WIDTH, THUMB_HEIGHT = 16, 12
THUMB_BYTES = THUMB_WIDTH * THUMB_HEIGHT * 3


def thumbnail_bytes(path: Path) -> bytes | None:
    """The upright image shrunk to 16x12 RGB (576 bytes); None if it cannot be read."""
    try:
        image = open_rgb(path).resize((THUMB_WIDTH, THUMB_HEIGHT), Image.BILINEAR)
    except Exception:  # an unreadable file is simply not verified
        return None
    return image.tobytes()


def compute_thumbnails(paths: Iterable[Path], workers: int = 2) -> list[bytes | None]:
    """thumbnail_bytes for each path, in order, with a thread pool."""
    return map_images(thumbnail_bytes, paths, workers)


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


GREY_CHROMA = 3.0  # mean max(R,G,B) - min(R,G,B) of a thumbnail below which it is greyscale (JPEG noise ~1)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def colour_difference_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference (0-255) of paired thumbnail rows; in luminance when either is greyscale.

    A greyscale copy of a colour photo differs from it in colour only, so such pairs are
    compared on brightness (ITU-R 601 luma), like the pHash itself.

    >>> red = np.tile(np.array([200, 0, 0], np.uint8), THUMB_WIDTH * THUMB_HEIGHT)[None]
    >>> grey = np.full_like(red, 60)  # 0.299 * 200 = 59.8
    >>> blue = red[:, ::-1].copy()  # (0, 0, 200)
    >>> [round(float(colour_difference_of(red, other)[0]), 1) for other in (grey, blue)]
    [0.2, 133.3]
    """
    a = a.reshape(len(a), THUMB_WIDTH * THUMB_HEIGHT, 3).astype(np.float32)  # not -1: no pairs is 0 rows
    b = b.reshape(len(b), THUMB_WIDTH * THUMB_HEIGHT, 3).astype(np.float32)
    grey = (_chroma(a) < GREY_CHROMA) | (_chroma(b) < GREY_CHROMA)
    rgb = np.abs(a - b).mean(axis=(1, 2))
    luma = np.abs(a @ _LUMA - b @ _LUMA).mean(axis=1)
    return np.where(grey, luma, rgb)


def tone_difference_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference (0-255) of paired thumbnail rows after a tone curve is taken out.

    Each channel of one thumbnail is mapped onto the other's values by rank (histogram
    matching: its k-th darkest pixel takes the other's k-th darkest value) and compared pixel
    by pixel; both directions are tried and the smaller is kept (the direction that maps the
    wider tone range onto the squashed one is the exact one: a gamma 2.5 copy merges dark tones
    into ties). A monotonic tone curve (gamma, brightness, contrast, levels) keeps the order of
    pixel values, so an edited copy scores near 0; a crop or a different photo does not. Pairs
    where either thumbnail is greyscale are compared in luminance, as `colour_difference_of` does.

    >>> ramp = np.repeat(np.linspace(0, 255, THUMB_WIDTH * THUMB_HEIGHT), 3).astype(np.uint8)[None]
    >>> gamma = (255 * (ramp / 255.0) ** 2.0).astype(np.uint8)
    >>> shuffled = np.random.default_rng(0).permutation(ramp.reshape(-1, 3)).reshape(1, -1)
    >>> [bool(tone_difference_of(ramp, other)[0] < 1) for other in (gamma, shuffled)]  # same order / other
    [True, False]
    """
    a = a.reshape(len(a), THUMB_WIDTH * THUMB_HEIGHT, 3).astype(np.float32)
    b = b.reshape(len(b), THUMB_WIDTH * THUMB_HEIGHT, 3).astype(np.float32)
    grey = (_chroma(a) < GREY_CHROMA) | (_chroma(b) < GREY_CHROMA)
    a = np.where(grey[:, None, None], (a @ _LUMA)[:, :, None], a)
    b = np.where(grey[:, None, None], (b @ _LUMA)[:, :, None], b)
    return np.minimum(_matched_difference(a, b), _matched_difference(b, a))


_TONE_HASH_SIDE = 8  # the 8x8 lowest-frequency DCT coefficients, as pHash


def tone_hashes(thumbs: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """A tone-invariant 64-bit hash of each 16x12 thumbnail row (uint64): pHash's recipe (signs of
    the 8x8 lowest-frequency DCT coefficients relative to their median) applied to the *ranks* of
    the thumbnail's luminance instead of its values. A monotonic tone curve keeps every rank, so a
    gamma or brightness copy hashes like its original; rows of one flat colour all hash alike.

    >>> rng = np.random.default_rng(0)
    >>> levels = np.linspace(0, 255, THUMB_BYTES // 3)  # grey thumbnails, every tone once
    >>> thumbs = np.stack([np.repeat(rng.permutation(levels), 3) for _ in range(2)]).round().astype(np.uint8)
    >>> dimmer = (0.9 * thumbs[:1] + 20).round().astype(np.uint8)  # brightness and contrast
    >>> first, other, edited = tone_hashes(np.concatenate([thumbs, dimmer]))
    >>> bool(first == edited), bool(first == other)
    (True, False)
    """
    from scipy.fft import dct

    out = np.empty(len(thumbs), dtype=np.uint64)
    for start in range(0, len(thumbs), chunk):  # bounded memory on a million thumbnails
        luma = thumbs[start:start + chunk].reshape(-1, THUMB_HEIGHT * THUMB_WIDTH, 3).astype(np.float32) @ _LUMA
        grid = _mid_ranks(np.rint(luma).astype(np.int64)).reshape(-1, THUMB_HEIGHT, THUMB_WIDTH)
        low = dct(dct(grid, axis=1, norm="ortho"), axis=2, norm="ortho")[:, :_TONE_HASH_SIDE, :_TONE_HASH_SIDE]
        low = low.reshape(len(low), -1)
        bits = low > np.median(low, axis=1, keepdims=True)
        out[start:start + chunk] = np.packbits(bits, axis=1).view(">u8").ravel()
    return out


def _mid_ranks(levels: np.ndarray) -> np.ndarray:
    """Rank of each 0-255 level within its row, tied levels sharing their mean rank (histogram
    equalisation): a flat area stays flat instead of taking a ramp from the pixel order."""
    rows = len(levels)
    offsets = np.arange(rows)[:, None] * 256
    counts = np.bincount((levels + offsets).ravel(), minlength=rows * 256).reshape(rows, 256)
    mid = np.cumsum(counts, axis=1) - counts + (counts - 1) / 2.0
    return np.take_along_axis(mid, levels, axis=1).astype(np.float32)


def _chroma(pixels: np.ndarray) -> np.ndarray:
    """Mean max(R,G,B) - min(R,G,B) of (n, pixels, 3) thumbnails. Element-wise over the three channel
    planes: the same values as `.max(axis=2)`, but numpy's reduction over a length-3 axis was ~10x slower."""
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)).mean(axis=1)


def _matched_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean |a - b histogram-matched onto a| of (n, pixels, 3) float arrays (ties kept in pixel order).

    The matched copy takes a's k-th smallest value at the position of b's k-th smallest (stable order):
    written there with one scatter through flat indices, the same array as taking sort(a) at b's ranks
    (argsort of the argsort), at a quarter of the time."""
    rows, pixels, channels = b.shape
    flat = np.argsort(b, axis=1, kind="stable")  # b's order along the pixels, made flat indices into `a` below
    flat *= channels
    flat += np.arange(rows)[:, None, None] * (pixels * channels) + np.arange(channels)[None, None, :]
    matched = np.empty(a.size, dtype=a.dtype)
    matched[flat.ravel()] = np.sort(a, axis=1).ravel()
    return np.abs(a - matched.reshape(a.shape)).mean(axis=(1, 2))


def mirrored_thumbnails(thumbs: np.ndarray) -> np.ndarray:
    """The 16x12 RGB thumbnails (rows of THUMB_BYTES) flipped left-right.

    >>> t = np.arange(THUMB_BYTES, dtype=np.uint8)[None] % 251
    >>> bool((mirrored_thumbnails(mirrored_thumbnails(t)) == t).all()), int(mirrored_thumbnails(t)[0, 0])
    (True, 45)
    """
    grid = thumbs.reshape(len(thumbs), THUMB_HEIGHT, THUMB_WIDTH, 3)
    return np.ascontiguousarray(grid[:, :, ::-1]).reshape(len(thumbs), THUMB_BYTES)
