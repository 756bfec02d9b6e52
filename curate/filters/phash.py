"""64-bit perceptual hashes: compute them from stored images, parse them, compare them.

A pHash (imagehash.phash, hash_size 8) keeps the signs of the 8x8 lowest-frequency DCT
coefficients of a 32x32 greyscale thumbnail, relative to their median. Small shifts,
crops, rescaling and JPEG re-encoding flip few of the 64 bits; a different photo flips
about half of them. The catalog caches a hash as 16 lower-case hex digits (column
``phash``); the clustering works on the same value as a ``numpy.uint64``.

A horizontal flip changes about half of the bits, so `phash_pair` also gives the pHash
of the left-right mirror (column ``phash_mirror``): a flipped copy's hash is within a
few bits of the original's mirror hash.

A photo framed on a uniform border (a screenshot: title bar and margins, a phone's status and
navigation bars with their text and icons; a letterboxed frame) hashes ~20 bits from the photo alone,
so `trimmed_phash` also gives the pHash of what is left once near-constant rows and columns are cut
off the edges (column ``phash_trimmed``; None when there is no such border): a framed copy's trimmed
hash is within a few bits of its original's, and the keep rule puts a framed copy after one that fills
its canvas (curate.filters.duplicates.representative_order).

Only `compute_phashes` / `compute_phash_pairs` touch files. Everything else is pure and vectorised.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import imagehash
import numpy as np
from PIL import Image

from curate.store import map_images, open_rgb

HASH_BITS = 64
HEX_DIGITS = HASH_BITS // 4

_NIBBLE_SHIFTS = np.arange(HEX_DIGITS - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
_HEX_VALUE = np.full(128, -1, dtype=np.int16)  # ASCII code -> hex digit value, -1 if not a hex digit
_HEX_VALUE[[ord(c) for c in "0123456789"]] = np.arange(10)
_HEX_VALUE[[ord(c) for c in "abcdef"]] = np.arange(10, 16)
_HEX_VALUE[[ord(c) for c in "ABCDEF"]] = np.arange(10, 16)
_BYTE_POPCOUNT = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def compute_phashes(paths: Iterable[Path], workers: int = 2) -> list[str | None]:
    """pHash of each image file, as 16 hex digits; None where the file cannot be read.

    Each image is opened with `curate.store.open_rgb` (EXIF orientation applied, RGB),
    so a rotated copy of a photo hashes like its upright original. Never raises for a
    bad file: a missing, truncated or non-image file gives None at its position.

    Args:
        paths: image files (absolute, or relative to the current directory).
        workers: threads decoding images in parallel (Pillow releases the GIL while
            decoding and resizing); 1 runs in the calling thread.
    Returns:
        One entry per path, in the same order.

    Example:
        >>> compute_phashes([Path("no/such/file.jpg")])
        [None]
    """
    paths = list(paths)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive whole number, got {workers!r}")
    return map_images(_phash_or_none, paths, workers)


def _phash_or_none(path: Path) -> str | None:
    try:
        return str(imagehash.phash(open_rgb(path)))
    except Exception:  # any decoder/OS error means "no hash"; the caller records the row as unhashed
        return None


def phash_pair(image: Image.Image) -> tuple[str, str]:
    """pHash of an upright image and of its left-right mirror, as 16 hex digits each.

    The first value is exactly ``str(imagehash.phash(image))``. The image is shrunk to
    imagehash's 32x32 greyscale thumbnail once; the mirror hash is the pHash of that
    thumbnail flipped, which equals hashing the flipped image (shrinking commutes with a
    flip) at the cost of one more 32x32 DCT instead of another full-size resize.

    Args:
        image: an upright PIL image (any mode; `curate.store.open_rgb` gives one).
    Returns:
        (phash, phash_mirror).

    Example:
        >>> ramp = Image.linear_gradient("L").rotate(90).resize((64, 48))  # dark left, bright right
        >>> plain, mirror = phash_pair(ramp)
        >>> plain == str(imagehash.phash(ramp)), plain != mirror
        (True, True)
    """
    plain, mirror, _ = phash_views(image)
    return plain, mirror


def phash_views(image: Image.Image) -> tuple[str, str, str]:
    """(phash, phash_mirror, phash_rot90) from one 32x32 thumbnail: `phash_pair`'s two and the pHash of the
    thumbnail turned a quarter turn clockwise, near `quarter_turn_phash` (shrinking commutes with a quarter turn
    but for the rounding between PIL's two resampling passes) at the cost of one 32x32 DCT.

    Example:
        >>> photo = Image.linear_gradient("L").resize((96, 64)).rotate(30)
        >>> plain, _, turned = phash_views(photo)
        >>> plain == str(imagehash.phash(photo))
        True
        >>> bool(imagehash.hex_to_hash(turned) - imagehash.hex_to_hash(quarter_turn_phash(photo)) <= 2)
        True
    """
    return hash_views(image)[:3]


def hash_views(image: Image.Image) -> tuple[str, str, str, str]:
    """(phash, phash_mirror, phash_rot90, phash_rot180): `phash_views`' three and `half_turn_phash`, from one
    32x32 thumbnail (the decode pass's four hashes: one resize, one batched DCT).

    Example:
        >>> photo = Image.linear_gradient("L").resize((96, 64)).rotate(30)
        >>> hash_views(photo) == (*phash_views(photo), half_turn_phash(photo))
        True
    """
    small = np.asarray(_hash_thumbnail(image))
    return tuple(_phashes_of_thumbnails(np.stack([small, small[:, ::-1], np.rot90(small, -1), small[::-1, ::-1]])))


def _phashes_of_thumbnails(thumbnails: np.ndarray) -> list[str]:
    """`str(imagehash.phash(view))` of each 32x32 grey thumbnail of `thumbnails` (k, 32, 32) uint8, with
    imagehash's arithmetic (scipy.fftpack's DCT down the columns, then along the rows; a batch of views gives each
    view's DCT bit for bit: tests/test_feature_equivalence.py), without a PIL image per view."""
    import scipy.fftpack

    coefficients = scipy.fftpack.dct(scipy.fftpack.dct(thumbnails, axis=1), axis=2)[:, :8, :8]
    return [np.packbits(low > np.median(low)).tobytes().hex() for low in coefficients]


def half_turn_phash(image: Image.Image) -> str:
    """The pHash of the image turned a half turn (upside down), from the same 32x32 thumbnail as `phash_views`:
    a photo taken upside down whose EXIF orientation 3 was lost on upload is such a copy (audit AS: one went to
    train, its original to test, and the leak check saw nothing).

    Example:
        >>> photo = Image.linear_gradient("L").resize((96, 64)).rotate(30)
        >>> half_turn_phash(photo.transpose(Image.Transpose.ROTATE_180)) == phash_views(photo)[0]
        True
    """
    return hash_views(image)[3]


class GreyPlanes(NamedTuple):
    """A grey image's pixels twice: as float32 (what the border and collage rules measure) and as uint8 (the same
    whole grey levels, which give the lines' medians without np.median: `_flat`)."""

    values: np.ndarray  # float32
    codes: np.ndarray  # uint8


def grey_planes(grey: Image.Image) -> GreyPlanes:
    """`GreyPlanes` of an image in mode L."""
    codes = np.asarray(grey, dtype=np.uint8)
    return GreyPlanes(codes.astype(np.float32), codes)


def as_grey(image: Image.Image) -> Image.Image:
    """`image` in mode L: itself when it is (`convert` would copy it), else converted."""
    return image if image.mode == "L" else image.convert("L")


def _hash_thumbnail(image: Image.Image) -> Image.Image:
    """The grey 32x32 thumbnail every pHash view is taken from (imagehash.phash's hash_size * highfreq_factor)."""
    side = 8 * 4
    return as_grey(image).resize((side, side), imagehash.ANTIALIAS)


# The border rule (`content_box`), measured at the decode pass's 256 px short side on real photos
# (docs/benchmarks.md, "Border-trimmed pHash" and "Text bars in a frame"): a row or column is flat when the
# standard deviation of its grey values is at most BORDER_FLAT_STD (a PNG frame: 0; JPEG sky and walls: more)
# or when at least BORDER_FLAT_SHARE of its pixels are within BORDER_TOLERANCE grey levels of its median (a
# bar with a thin icon); the border is the flat lines at an edge, with any run of at most BORDER_GAP_SHARE of the
# side of other lines between flat ones of one colour (medians within BORDER_BAND_TOLERANCE grey levels: a status
# bar's clock, an app's title, a caption line; flat lines of one colour around such a run say it is a band of the
# frame, whatever its text, where a photo's first lines run from the frame's colour to its own sky's); a border
# counts on a side when it is at
# least BORDER_MIN_SHARE of that side; at least BORDER_MIN_SIDES sides need one (a sky band alone is one side: 6 %
# of scenes15/train photos have one, 0.1 % have two); and the content left keeps at least CONTENT_MIN_SHARE of each
# side (a landscape photo in a portrait phone's screenshot keeps 0.35-0.45 of a 16:9 screen's height, 0.25-0.26
# of a 19.5:9 or 20:9 one's: most phones since 2018).
BORDER_FLAT_STD = 3.0
BORDER_TOLERANCE = 3.0
BORDER_FLAT_SHARE = 0.9
BORDER_GAP_SHARE = 0.05
BORDER_BAND_TOLERANCE = 6.0
BORDER_MIN_SHARE = 0.03
BORDER_MIN_SIDES = 2
CONTENT_MIN_SHARE = 0.24
# The version of the rule above that a catalog's `phash_trimmed` was computed with (curate.vision.features
# recomputes the column for a workspace marked with an older one): 1, flat lines only (std <= 3, content >= 0.6
# of each side); 2, text bars (2026-12-07): a run between flat lines was a bar only when 60 % of its pixels sat at
# its median, and content kept 0.3 of each side; 3, any short run between flat lines of one colour, content 0.24
# (audit DF: a
# 1080x2340 screenshot with a 40-48 px header and caption, and a 16:9 photo on such a screen, had no box or the
# wrong one: 2 of 30 linked).
BORDER_RULE_VERSION = 3


def content_box(grey: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) bounds of a greyscale array with its uniform border cut off, or
    None when it has no border by the rule above (rows, then columns within them, twice: a title
    bar spans the side margins).

    Example:
        >>> framed = np.full((100, 80), 240.0)
        >>> framed[12:95, 5:75] = np.add.outer(np.arange(83.0), np.arange(70.0)) % 50  # a pattern in a frame
        >>> content_box(framed), content_box(framed[12:95, 5:75]), content_box(np.zeros((9, 9)))
        ((12, 95, 5, 75), None, None)
        >>> framed[3:6, 4:15] = 0.0  # text in the top bar: still a border
        >>> content_box(framed)
        (12, 95, 5, 75)
    """
    codes = grey if isinstance(grey, np.ndarray) and grey.dtype == np.uint8 else None
    return _content_box(np.asarray(grey, dtype=np.float32), codes)


def _content_box(grey: np.ndarray, codes: np.ndarray | None) -> tuple[int, int, int, int] | None:
    """`content_box` of float32 `grey`; `codes`: the same pixels as uint8 when they are whole grey levels (the
    lines' medians then come from a uint8 sort, not np.median: `_flat`), else None."""
    height, width = grey.shape
    top, bottom, left, right = 0, height, 0, width
    for _ in range(2):
        before = (top, bottom, left, right)
        top, bottom = _border_run(grey[top:bottom, left:right], 1, top, bottom,
                                  None if codes is None else codes[top:bottom, left:right])
        if bottom == top:  # one flat colour: nothing to hash
            return None
        left, right = _border_run(grey[top:bottom, left:right], 0, left, right,
                                  None if codes is None else codes[top:bottom, left:right])
        if right == left:  # flat columns only (vertical stripes)
            return None
        if (top, bottom, left, right) == before:  # nothing cut: a second pass would cut nothing either
            break
    sides = (top / height, 1 - bottom / height, left / width, 1 - right / width)
    if bottom - top < CONTENT_MIN_SHARE * height or right - left < CONTENT_MIN_SHARE * width:
        return None
    if sum(share >= BORDER_MIN_SHARE for share in sides) < BORDER_MIN_SIDES:
        return None
    return top, bottom, left, right


def _border_run(part: np.ndarray, axis: int, start: int, end: int,
                codes: np.ndarray | None = None) -> tuple[int, int]:
    """(start, end) moved inwards past the border lines at each end of `part` (its rows: axis 1; its columns:
    axis 0): flat lines, and runs of bar lines between flat ones (see the rule above). The lines' medians are
    taken near the edges first (most photos have no border: a tenth of the cost), all of them when a border
    may go on. `codes`: `part` as uint8, or None (`_flat`)."""
    lines = part if axis == 1 else part.T
    coded = None if codes is None else (codes if axis == 1 else codes.T)
    count = len(lines)
    gap = max(1, int(BORDER_GAP_SHARE * count))
    near = max(32, 3 * gap)
    if 2 * near < count:
        head = _edge_lines(*_flat(lines[:near], None if coded is None else coded[:near]), gap)
        tail = _edge_lines(*_flat(lines[::-1][:near], None if coded is None else coded[::-1][:near]), gap)
        if max(head, tail) + gap + 1 < near:
            return start + head, end - tail
    flat, medians = _flat(lines, coded)
    if flat.all():
        return start, start  # all flat: no content (content_box rejects it)
    return (start + _edge_lines(flat, medians, gap),
            end - _edge_lines(flat[::-1], medians[::-1], gap))


def _flat(lines: np.ndarray, codes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(whether each line (row) of `lines` is flat (see the rule above), each line's median grey).

    `codes`: the same lines as uint8 (whole grey levels: the decode pass's grey image), or None. With them the
    medians and the shares near them come from `_coded_medians`: the same values as `np.median` and the
    comparison below give, at about a quarter of the cost (the standard deviations are taken as before)."""
    if codes is None or not codes.shape[1]:
        medians = np.median(lines, axis=1, keepdims=True)
        at_median = (np.abs(lines - medians) <= BORDER_TOLERANCE).mean(axis=1)
    else:
        medians, at_median = _coded_medians(codes)
    return (lines.std(axis=1) <= BORDER_FLAT_STD) | (at_median >= BORDER_FLAT_SHARE), medians[:, 0]


def _coded_medians(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each line's median as float32 (count, 1), the share of its pixels within BORDER_TOLERANCE of it) for
    uint8 lines `codes` (count, n): what `np.median(lines, axis=1)` and `(abs(lines - median) <= tolerance).mean(1)`
    give for the same lines as float32. Grey levels are whole numbers, so the median (a level or half-way between
    two) is exact and the comparison exact in twice the levels; numpy sorts uint8 by radix (kind="stable").

    >>> lines = np.array([[3, 9, 1, 4], [7, 7, 200, 8], [5, 0, 5, 9]], dtype=np.uint8)
    >>> medians, shares = _coded_medians(lines)
    >>> medians[:, 0].tolist(), shares.tolist()
    ([3.5, 7.5, 5.0], [0.75, 0.75, 0.5])
    """
    size = codes.shape[1]
    ordered = np.sort(codes, axis=1, kind="stable")
    twice = ordered[:, (size - 1) // 2].astype(np.int16) + ordered[:, size // 2]  # 2 x median
    # |level - median| <= tolerance  <=>  |2 level - 2 median| <= 2 tolerance, both sides whole on the left
    within = (np.abs(codes.astype(np.int16) * 2 - twice[:, None]) <= int(2 * BORDER_TOLERANCE)).sum(axis=1)
    return (twice / 2).astype(np.float32)[:, None], within / size


def _edge_lines(flat: np.ndarray, medians: np.ndarray, gap: int) -> int:
    """How many lines from the start are border: flat ones, with runs of at most `gap` other lines between flat
    ones of one colour (`medians` within BORDER_BAND_TOLERANCE). A run not followed by such a flat line, or
    longer, ends the border before it; so does one before any flat line.

    >>> flat, grey = np.array([1, 1, 0, 0, 1, 0, 0, 0], bool), np.array([9, 9, 0, 0, 9, 0, 0, 0], float)
    >>> _edge_lines(flat, grey, gap=2), _edge_lines(flat, grey + [0, 0, 0, 0, 90, 0, 0, 0], gap=2)
    (5, 2)
    """
    border, line = 0, 0
    while line < len(flat):
        if flat[line]:
            line += 1
            border = line
            continue
        after = line
        while after < len(flat) and not flat[after] and after - line <= gap:
            after += 1
        if border == 0 or after - line > gap or after == len(flat) or not flat[after] \
                or abs(medians[after] - medians[border - 1]) > BORDER_BAND_TOLERANCE:
            break
        line = after
    return border


def quarter_turn_phash(image: Image.Image) -> str:
    """pHash of `image` turned a quarter turn clockwise. A copy turned either way is found by it, as the mirror
    hash finds a flipped one: turned clockwise, its pHash is near this one's; turned anticlockwise, its own
    quarter-turn hash is near this one's pHash (the 2026-12-05 audit I: a pHash moves a median 26 bits under a
    quarter turn, and nothing else caught such copies).

    Example:
        >>> photo = Image.linear_gradient("L").resize((96, 64)).rotate(30)
        >>> turned = photo.transpose(Image.Transpose.ROTATE_270)  # clockwise
        >>> quarter_turn_phash(photo) == str(imagehash.phash(turned))
        True
    """
    return str(imagehash.phash(image.convert("L").transpose(Image.Transpose.ROTATE_270)))


def trimmed_phash(image: Image.Image, planes: GreyPlanes | None = None) -> str | None:
    """pHash of `image` with its uniform border cut off (`content_box`), or None when it has none.

    Computed by the decode pass on the image shrunk to a 256 px short side; a framed copy of a photo
    (a screenshot) gets a trimmed hash within a few bits of the photo's `phash`. `planes`: `grey_planes` of
    `image` when the caller has them (the decode pass shares them with `panels.panel_phashes`).

    Example:
        >>> photo = Image.linear_gradient("L").resize((96, 64)).rotate(30)  # no flat border rows
        >>> trimmed_phash(photo) is None
        True
    """
    grey = as_grey(image)
    box = _content_box(*(planes or grey_planes(grey)))
    if box is None:
        return None
    top, bottom, left, right = box
    return str(imagehash.phash(grey.crop((left, top, right, bottom))))


def compute_phash_pairs(paths: Iterable[Path], workers: int = 2) -> list[tuple[str, str] | None]:
    """`phash_pair` of each image file; None where the file cannot be read (never raises).

    Example:
        >>> compute_phash_pairs([Path("no/such/file.jpg")])
        [None]
    """
    paths = list(paths)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive whole number, got {workers!r}")
    return map_images(_pair_or_none, paths, workers)


def _pair_or_none(path: Path) -> tuple[str, str] | None:
    try:
        return phash_pair(open_rgb(path))
    except Exception:  # any decoder/OS error means "no hash"; the caller records the row as unhashed
        return None


def parse_phashes(hex_strings: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """Parse hex pHashes without raising: (uint64 values, is_valid mask).

    An entry is valid when it is a string of exactly 16 hex digits (either case).
    Invalid entries (None, NaN, wrong length, non-hex) get value 0 and False.

    Example:
        >>> values, ok = parse_phashes(["00000000000000ff", None, "xyz"])
        >>> values.tolist(), ok.tolist()
        ([255, 0, 0], [True, False, False])
    """
    items = list(hex_strings) if not isinstance(hex_strings, np.ndarray) else hex_strings.ravel().tolist()
    if not items:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=bool)
    is_text = np.fromiter((isinstance(item, str) for item in items), dtype=bool, count=len(items))
    # One extra character reveals strings that are too long; non-strings become "".
    text = np.array([item if ok else "" for item, ok in zip(items, is_text)], dtype=f"U{HEX_DIGITS + 1}")
    codes = text.view(np.uint32).reshape(len(items), HEX_DIGITS + 1)
    digits = _HEX_VALUE[np.minimum(codes[:, :HEX_DIGITS], 127)]
    is_valid = is_text & (codes[:, HEX_DIGITS] == 0) & (digits >= 0).all(axis=1)  # non-ASCII maps to 127: invalid
    digits = np.where(is_valid[:, None], digits, 0).astype(np.uint64)
    values = np.bitwise_or.reduce(digits << _NIBBLE_SHIFTS, axis=1)
    return values, is_valid


def phash_to_uint64(hex_strings: Iterable[str]) -> np.ndarray:
    """16-hex-digit pHashes -> uint64 array; raises ValueError naming the first bad entry.

    Example:
        >>> phash_to_uint64(["8000000000000001", "FFFFFFFFFFFFFFFF"]).tolist()
        [9223372036854775809, 18446744073709551615]
    """
    items = list(hex_strings)
    values, is_valid = parse_phashes(items)
    if not is_valid.all():
        position = int(np.flatnonzero(~is_valid)[0])
        raise ValueError(f"not a {HEX_DIGITS}-hex-digit pHash at position {position}: {items[position]!r}")
    return values


def uint64_to_phash(values: np.ndarray) -> list[str]:
    """uint64 array -> 16-hex-digit strings (the inverse of `phash_to_uint64`).

    Example:
        >>> uint64_to_phash(np.array([255], dtype=np.uint64))
        ['00000000000000ff']
    """
    return [format(int(value), f"0{HEX_DIGITS}x") for value in np.asarray(values, dtype=np.uint64).ravel()]


def popcount64(values: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64 (as uint8, same shape).

    Uses `np.bitwise_count` (NumPy >= 2), else a byte lookup table.

    Example:
        >>> popcount64(np.array([0, 7, 2**64 - 1], dtype=np.uint64)).tolist()
        [0, 3, 64]
    """
    values = np.asarray(values, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    as_bytes = np.ascontiguousarray(values).view(np.uint8).reshape(values.shape + (8,))
    return _BYTE_POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)


def hamming_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between uint64 hashes, broadcasting like `a ^ b` (int64 result).

    Example:
        >>> hamming_distance(np.array([0b1011], dtype=np.uint64), np.array([0, 0b1000], dtype=np.uint64)).tolist()
        [3, 2]
    """
    return popcount64(np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))).astype(np.int64)
