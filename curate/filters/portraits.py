"""Portrait crops: a 9:16 crop of a landscape photo (a Stories or wallpaper repost: full height, 32-56 % of the
width, anywhere along it), linked to its photo (audit DF 4: 6 of 30, the window match's 60 % share and the overlap
match's cosine miss most of them), and a full-height 4:5 or 2:3 crop (Instagram's portrait post, a 35 mm frame:
37-60 % of the width of a 16:9 to a 4:3 photo).

The decode pass stores `phash_strips`: for an image of about 9:16 (`PORTRAIT_ASPECT`) its own strip hash, for a
portrait of about 4:5 or 2:3 (`INNER_ASPECTS`) the strip hashes of its own full-height 9:16 windows
("in:", `INNER_PREFIX`), for an image at least as wide as high the strip hashes of its full-height 9:16 windows
spaced along the width (`strip_phashes`). A strip hash (`strip_hash`) keeps many vertical frequencies and few
horizontal ones: the crop is full height, so it lines up with a window row for row, and only its place along the
width is unknown (a plain pHash moves 8 bits for a shift of 3 % of the window's width, a strip hash for one of 12 %,
so `WINDOW_STEP` can be wide). A 4:5 crop's own windows are full-height 9:16 windows of its photo too, at places
along the width that the photo's windows are at most 7.5 % of a window's width from, so the same windows serve
every portrait shape, and a landscape photo's stored values need not change.
A portrait's strip hash near one of a landscape photo's is a candidate, confirmed on pixels by the window match's
score (curate.filters.pixel_links `_add_portrait_links`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
from PIL import Image
from scipy.fftpack import dct

# A portrait image: height / width within PORTRAIT_ASPECT (9:16 = 1.78, give or take rounding and a trimmed
# edge); a landscape (or square) image, width >= height, gets windows of height * 9 / 16 px, at most WINDOW_STEP
# of a window's width apart (a crop is then at most 7.5 % of its width from the nearest: strip hashes within 10 bits
# for 0.98 of real crops 8 % off), between 2 and MAX_WINDOWS of them (a panorama's are spread wider). A window (or a
# portrait) whose grey values span under FLAT_RANGE levels is not hashed: flat skies and walls would all agree.
PORTRAIT_ASPECT = (1.70, 1.86)
WINDOW_ASPECT = 9 / 16
WINDOW_STEP = 0.15
MAX_WINDOWS = 16
FLAT_RANGE = 16
OWN_PREFIX = "own:"  # a portrait's own strip hash in `phash_strips`; a landscape's windows have none
# a portrait of another shape: its own windows' strip hashes (a value of its own, so that `OWN_PREFIX` still names a
# 9:16 image: the keep rule, curate.filters.duplicates.representative_order, puts those after other copies)
INNER_PREFIX = "in:"
# The portraits that get their own windows' strip hashes, height / width: 4:5 (Instagram's portrait post) and 2:3 (a
# 35 mm frame), give or take rounding. Not 3:4, a phone camera's own portrait shape: every phone portrait would look
# among every landscape photo's windows (each look a few false candidates, which crowd the closest
# `near_dup_window_pairs` the pixel check reads), for crops seldom cut to it.
INNER_ASPECTS = ((1.20, 1.30), (1.45, 1.55))
# The search radius for a portrait's strip hash near a window's (bits of 64): real crops 8 % of a window's width off
# it are within 10 bits for 0.98 of them, different real photos 18 or more apart (docs/benchmarks.md, "Portrait
# crops": 1,872 of 1,876 held-out crops a candidate).
STRIP_MAX_BITS = 10


class StripHashes(NamedTuple):
    """The strip hashes of a catalog's images, flattened: one entry per hash, `owners` its image's position,
    `portrait` whether it is a portrait's own hash (else a landscape's window)."""

    hashes: np.ndarray  # uint64
    owners: np.ndarray  # int64
    portrait: np.ndarray  # bool


def _bits(blocks: np.ndarray) -> list[int]:
    """The strip hash of each 32 x 32 grey block of `blocks` (k, 32, 32): the signs (above the median) of its lowest
    32 vertical x 2 horizontal DCT frequencies, as 64-bit values."""
    basis = _DCT_BASIS
    low = np.einsum("fi,kij,gj->kfg", basis, blocks.astype(np.float64), basis[:2]).reshape(len(blocks), -1)
    signs = low > np.median(low, axis=1, keepdims=True)
    return [int(value) for value in np.packbits(signs, axis=1).view(">u8").ravel()]


_DCT_BASIS = dct(np.eye(32), axis=0, norm="ortho")  # basis @ x: the orthonormal DCT-II of x (32 values)


def strip_hash(grey: Image.Image) -> int:
    """64 bits of a grey picture's shape: the signs (above the median) of the lowest 32 vertical x 2 horizontal
    DCT frequencies of it resized to 32 x 32 (a pHash keeps 8 x 8), so a shift across keeps it.

    Example:
        >>> picture = Image.effect_mandelbrot((144, 256), (-2, -0.9, 1, 1.3), 60)
        >>> bin(strip_hash(picture) ^ strip_hash(picture.resize((72, 128)))).count("1") <= 2
        True
    """
    pixels = np.asarray((grey if grey.mode == "L" else grey.convert("L")).resize((32, 32), Image.LANCZOS),
                        dtype=np.float64)
    return _bits(pixels[None])[0]


def _flat(grey: Image.Image) -> bool:
    low, high = grey.getextrema()
    return high - low < FLAT_RANGE


def window_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The full-height 9:16 windows (left, top, right, bottom) spaced along a `width` x `height` image (at least 9:16
    wide): the first at the left edge, the last at the right, at most WINDOW_STEP of a window's width apart.

    Example:
        >>> [box[0] for box in window_boxes(341, 256)]
        [0, 20, 39, 59, 79, 98, 118, 138, 158, 177, 197]
    """
    span = max(1, round(height * WINDOW_ASPECT))
    room = width - span
    count = min(MAX_WINDOWS, max(2, int(np.ceil(room / (WINDOW_STEP * span))) + 1))
    return [(left, 0, left + span, height) for left in np.round(np.linspace(0, room, count)).astype(int).tolist()]


def inner_portrait(width: float | np.ndarray, height: float | np.ndarray, slack: float = 0.0) -> bool | np.ndarray:
    """Whether an image of `width` x `height` (numbers or numpy arrays) is a portrait of one of INNER_ASPECTS (4:5,
    2:3), whose strip hashes are its own windows' ("in:"); `slack`: each range narrowed by that much at both ends
    (the catalog's width and height against the grey view's, rounded at 256 px: curate.filters.run
    .portraits_without_strips)."""
    ratio = np.asarray(height, dtype=np.float64) / np.maximum(np.asarray(width, dtype=np.float64), 1)
    found = np.zeros(ratio.shape, bool)
    for low, high in INNER_ASPECTS:
        found |= (low + slack <= ratio) & (ratio <= high - slack)
    return found if found.ndim else bool(found)


def strip_phashes(grey: Image.Image) -> str | None:
    """`phash_strips` of one image (the decode pass's grey view, 256 px short side): "own:hex16" for a portrait of
    about 9:16, "hex16 hex16 ..." (its windows', each distinct hash once) for an image at least as wide as high,
    "in:hex16 hex16 ..." (the same, of its own 9:16 windows) for a portrait of about 4:5 or 2:3 (`inner_portrait`; a
    flat or tiny one "in:" alone, so that a null value there marks a value measured before the rule:
    curate.filters.run.ensure_features measures it again), None for other portraits and other flat pictures.
    The image is resized once so that a window is 32 px wide and high, and the windows are cut from that (each within
    half a pixel of its box).

    Example:
        >>> photo = Image.effect_mandelbrot((342, 256), (-2, -0.9, 1, 1.3), 60)
        >>> windows = strip_phashes(photo).split()
        >>> crop = photo.crop(window_boxes(342, 256)[3])
        >>> own = int(strip_phashes(crop).removeprefix(OWN_PREFIX), 16)
        >>> min(bin(own ^ int(window, 16)).count("1") for window in windows) <= 4, len(windows) > 5
        (True, True)
        >>> strip_phashes(photo.crop((100, 0, 305, 256))).startswith(INNER_PREFIX)  # a 4:5 crop
        True
    """
    grey = grey if grey.mode == "L" else grey.convert("L")  # (convert would copy an image in mode L)
    width, height = grey.size
    if min(width, height) < 8:
        return INNER_PREFIX if inner_portrait(width, height) else None
    if PORTRAIT_ASPECT[0] <= height / width <= PORTRAIT_ASPECT[1]:
        return None if _flat(grey) else f"{OWN_PREFIX}{strip_hash(grey):016x}"
    if width < height and not inner_portrait(width, height):
        return None
    prefix = INNER_PREFIX if width < height else ""
    boxes = window_boxes(width, height)
    scale = 32 / (boxes[0][2] - boxes[0][0])
    small = np.asarray(grey.resize((max(32, round(width * scale)), 32), Image.LANCZOS), dtype=np.float64)
    starts = np.clip(np.round(np.array([box[0] for box in boxes]) * scale).astype(int), 0, small.shape[1] - 32)
    blocks = np.stack([small[:, start:start + 32] for start in starts.tolist()])
    varied = np.ptp(blocks, axis=(1, 2)) >= FLAT_RANGE
    if not varied.any():
        return prefix or None
    found = dict.fromkeys(f"{value:016x}" for value in _bits(blocks[varied]))  # each distinct hash once, in order
    return prefix + " ".join(found)


# A `phash_strips` value as the decode pass writes it: parsed a whole column at a time (`parse_strip_phashes`); any
# other string goes through the per-value parse (`_parse_one`)
_CANONICAL = f"^({OWN_PREFIX}[0-9a-fA-F]{{16}}|({INNER_PREFIX})?[0-9a-fA-F]{{16}}( [0-9a-fA-F]{{16}})*)$"


def parse_strip_phashes(values: Iterable) -> StripHashes:
    """`phash_strips` values, one per image in position order -> their hashes flattened (`StripHashes`); a null or
    malformed value gives none. `values`: any iterable, or a pyarrow string array read as it is (no Python strings:
    what `curate.outofcore.neardup` reads).

    Values as the decode pass writes them ("own:" and 16 hex digits, or 16-digit groups one space apart, after "in:"
    for a portrait's own windows, which count as the portrait's) are parsed
    over the whole column at once (a regular expression, then the hex digits of all of them as one string);
    any other string value one at a time, as before (a million images' values, 10 million hashes, on the 2-core VM:
    1.5 s from Python strings, 1.0 s from an Arrow column, against 3.2-3.7 s one value at a time).

    Example:
        >>> found = parse_strip_phashes(["own:00000000000000ff", None, "0000000000000001 0000000000000002", "x",
        ...                              "in:0000000000000003 0000000000000004"])
        >>> found.hashes.tolist(), found.owners.tolist(), found.portrait.tolist()
        ([255, 1, 2, 3, 4], [0, 2, 2, 4, 4], [True, False, False, True, True])
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array) and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
                                         or pa.types.is_string_view(values.type)):
        column = values.cast(pa.large_string()) if pa.types.is_string_view(values.type) else values
    else:
        column = pa.array([value if isinstance(value, str) else None for value in values], type=pa.string())
    canonical = pc.fill_null(pc.match_substring_regex(column, _CANONICAL), False).to_numpy(zero_copy_only=False)
    fast = np.flatnonzero(canonical)
    # the chosen values end to end, each "own:" and "in:" blanked: hex digit pairs and spaces, which bytes.fromhex
    # skips
    text, starts = _joined_bytes(column if len(fast) == len(column) else column.take(pa.array(fast, type=pa.int64())))
    own = text[starts[:-1]] == ord(OWN_PREFIX[0]) if len(text) else np.zeros(len(fast), bool)
    inner = text[starts[:-1]] == ord(INNER_PREFIX[0]) if len(text) else np.zeros(len(fast), bool)
    text[(starts[:-1][own, None] + np.arange(len(OWN_PREFIX))).ravel()] = ord(" ")
    text[(starts[:-1][inner, None] + np.arange(len(INNER_PREFIX))).ravel()] = ord(" ")
    prefixes = np.where(own, len(OWN_PREFIX), np.where(inner, len(INNER_PREFIX), 0))
    counts = (np.diff(starts) - prefixes + 1) // 17  # "hex16" and " hex16" for each more
    own |= inner
    hashes = np.frombuffer(bytes.fromhex(text.tobytes().decode("ascii")), dtype=">u8").astype(np.uint64)
    parts = [StripHashes(hashes, np.repeat(fast.astype(np.int64), counts), np.repeat(own, counts))]
    rest = np.flatnonzero(~canonical & column.is_valid().to_numpy(zero_copy_only=False).astype(bool))
    if len(rest):
        slow = [_parse_one(value) for value in column.take(pa.array(rest, type=pa.int64())).to_pylist()]
        counts = np.array([len(found) for found, _ in slow], dtype=np.int64)
        parts.append(StripHashes(np.array([value for found, _ in slow for value in found], dtype=np.uint64),
                                 np.repeat(rest.astype(np.int64), counts),
                                 np.repeat(np.array([own for _, own in slow], dtype=bool), counts)))
        order = np.argsort(np.concatenate([part.owners for part in parts]), kind="stable")
        return StripHashes(*(np.concatenate(values)[order] for values in zip(*parts)))
    return parts[0]


def _joined_bytes(strings) -> tuple[np.ndarray, np.ndarray]:
    """(a writable copy of the UTF-8 bytes of a pyarrow string or large_string array without nulls, end to end;
    where each string starts in them, and their end)."""
    import pyarrow as pa

    if not len(strings) or strings.buffers()[2] is None:
        return np.zeros(0, np.uint8), np.zeros(len(strings) + 1, np.int64)
    wide = pa.types.is_large_string(strings.type)
    offsets = np.frombuffer(strings.buffers()[1], np.int64 if wide else np.int32)
    offsets = offsets[strings.offset:strings.offset + len(strings) + 1].astype(np.int64)
    data = strings.buffers()[2]
    return np.frombuffer(data, np.uint8)[offsets[0]:offsets[-1]].copy(), offsets - offsets[0]


def _parse_one(value: str) -> tuple[list[int], bool]:
    """(hashes, a portrait's own) of one `phash_strips` value the column-wide parse does not read: none when it is
    malformed."""
    own, inner = value.startswith(OWN_PREFIX), value.startswith(INNER_PREFIX)
    tokens = [value[len(OWN_PREFIX):]] if own else value.removeprefix(INNER_PREFIX).split()
    own |= inner
    try:
        parsed = [int(token, 16) for token in tokens if len(token) == 16]
    except ValueError:
        return [], own
    if len(parsed) != len(tokens) or not all(0 <= value < 1 << 64 for value in parsed):
        return [], own
    return parsed, own


def portrait_candidates(strips: StripHashes, max_bits: int = STRIP_MAX_BITS, *, blocks: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(portrait, landscape, bits): the image pairs whose portrait's own strip hash is within `max_bits` of one of
    the other's windows, each pair once at its closest window, closest first (then by portrait, then landscape).

    Only the windows are indexed and only the portraits look (`hash_query.query_pairs`): a landscape photo's
    neighbouring windows are mostly within 10 bits of each other, and a search over all the strip hashes at once
    would find (and throw away) millions of such pairs at a million images. `blocks`: as
    `neardup.near_duplicate_pairs`'s (None: a cost model chooses; any count gives the same pairs).

    Example:
        >>> strips = parse_strip_phashes(["own:00000000000000ff", "00000000000000fe 0f0f0f0f0f0f0f0f", None])
        >>> [values.tolist() for values in portrait_candidates(strips, 2)]
        [[0], [1], [1]]
    """
    from curate.filters import neardup
    from curate.filters.hash_query import query_pairs

    empty = np.zeros(0, np.int64)
    max_bits = neardup._check_max_bits(max_bits)
    if not strips.portrait.any() or strips.portrait.all():
        return empty, empty, empty
    queries, windows = np.flatnonzero(strips.portrait), np.flatnonzero(~strips.portrait)
    x, y = query_pairs(strips.hashes[queries], strips.hashes[windows], max_bits, blocks)
    x, y = queries[x], windows[y]  # (portrait entry, window entry)
    portrait, landscape = strips.owners[x], strips.owners[y]
    bits = neardup.hamming_distance(strips.hashes[x], strips.hashes[y]).astype(np.int64)
    keep = portrait != landscape  # never so: an image's value is its own hash or its windows, not both
    portrait, landscape, bits = portrait[keep], landscape[keep], bits[keep]
    order = np.lexsort((bits, landscape, portrait))
    portrait, landscape, bits = portrait[order], landscape[order], bits[order]
    once = np.ones(len(portrait), bool)  # the closest window of each pair of images
    once[1:] = (portrait[1:] != portrait[:-1]) | (landscape[1:] != landscape[:-1])
    portrait, landscape, bits = portrait[once], landscape[once], bits[once]
    order = np.argsort(bits, kind="stable")
    return portrait[order], landscape[order], bits[order]
