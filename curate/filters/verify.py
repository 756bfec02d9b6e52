"""Which near-duplicate candidates are linked: the evidence for each pair, and the rule.

Three signals per distinct image, each optional:

* pHash and the pHash of the left-right mirror (`curate.filters.phash.phash_pair`): pairs
  within `near_dup_bits` in either orientation are *candidates* (`neardup.mirror_pairs`).
* a tiny 16x12 colour thumbnail: a candidate is linked when the mean absolute RGB
  difference of the two thumbnails (the second one mirrored when the mirrored hashes
  matched) is at most `near_dup_colour_diff` (0-255 scale).
* the same thumbnails compared after a tone curve is taken out (`tone_difference_of`): a
  candidate is also linked when the thumbnails agree within `near_dup_tone_diff` once one is
  mapped onto the other's tones by rank (histogram matching). A gamma or brightness/contrast edit
  keeps the order of tones, so it passes however far its colours moved (gamma 0.5 / 2.0 copies
  are 40-60 apart in colour, 1-7 in tone); crops, rotations and different photos do not.
  With the tone check on, pairs whose *tone hashes* (`tone_hashes`: a pHash of the rank-transformed
  thumbnail, computed here from the cached thumbnails) are within `near_dup_bits` are candidates
  too: a gamma curve moves some pHashes beyond 8 bits (7 % of gamma 1.5-2.5 copies) but not
  their tone hash.
* the backbone embedding `curate embed` cached (EfficientNet-Lite0): a candidate whose
  colours differ more (a brightness edit, a greyscale copy, a crop) is still linked when
  the cosine of the two embeddings is at least `near_dup_verify_cosine`; and a pair with
  cosine at least `near_dup_cosine` whose pHashes are within 16 bits (either orientation)
  is linked too (`embed_neighbours.cosine_pairs` finds them): crops, rotations and burst
  frames move a pHash by 10-16 bits but barely move the embedding, while different shots
  of one street that the backbone finds alike (cosine 0.90-0.95) are 18+ bits apart.

Why the colour check stays: on real photos no two different photos came within 10 bits
(1.4 million pairs, bench/neardup.py real), so it only costs recall there, which embeddings
restore; but on the procedural demo different pictures share pHashes within 2 bits and only
colour tells them apart, and embeddings cannot replace it: the backbone sees those pictures as
one (cosine up to 0.99), and on real photos downscaled, JPEG and greyscale copies fall to
cosine 0.40-0.77 that colour passes. Which limits apply is measured on the collection itself
(`calibrate`, `calibrated_rule`): where the pHashes tell photos apart, the limits chosen on real
photos (colour 8, tone 5); where they do not (the demo), the strict ones (colour 4, tone off);
and embeddings that call far-apart photos alike are not used.

An embedding link between images farther apart than `near_dup_bits` may also require colours
within `link_colour_diff` (off by default): that keeps neighbouring shots of one street apart at
a cost in crop and rotation recall (docs/benchmarks.md, "Held out").
The thresholds and their evidence are in docs/benchmarks.md ("Near duplicates on real photos").
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from curate.store import open_rgb

THUMB_WIDTH, THUMB_HEIGHT = 16, 12
THUMB_BYTES = THUMB_WIDTH * THUMB_HEIGHT * 3
DEFAULT_COLOUR_DIFF = 4.0  # the strict limit (a crowded collection, or LinkRule's default)
# Chosen on real photos with real edits (bench/neardup.py real; docs/benchmarks.md) and confirmed on a
# held-out half of them (the half-set choice is the same 0.90 / 16 bits): 0.90 is above
# every different-photo pair of that set (max 0.867); 0.85 passes every brightness-edited copy
# among pHash candidates (min 0.936), where no different-photo pair exists; 16 bits keeps the
# scenes-scrape's look-alike 15-Scene photos apart (cosine >= 0.90 there: 18-36 bits apart).
DEFAULT_NEAR_DUP_COSINE = 0.90
DEFAULT_VERIFY_COSINE = 0.85
DEFAULT_COSINE_MAX_BITS = 16
DEFAULT_LINK_COLOUR_DIFF = None
# The tone check (`near_dup_tone_diff`): on real photos 5.0 was chosen on the fit half of the
# real-edit set and held on the other (bench/neardup_real.py; docs/benchmarks.md, "Tone curves"):
# below a pair of different 15-Scene Highway photos 8 pHash bits apart (tone difference 5.9), above
# most gamma 1/2.5-2.5 copies. It is the `auto` value only where the pHashes tell photos apart
# (`calibrate`): the procedural demo draws different pictures as recoloured layouts that it joins
# (burst precision 0.99 -> 0.58 on the 3,000-photo demo at 5.0).
TONE_DIFF_FOR_REAL_PHOTOS = 5.0
DEFAULT_TONE_DIFF = None
EMBEDDING_BACKBONE = "efficientnet_lite0"  # the cosine thresholds were measured on this backbone's vectors


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
    """Mean max(R,G,B) - min(R,G,B) of (n, pixels, 3) thumbnails."""
    return (pixels.max(axis=2) - pixels.min(axis=2)).mean(axis=1)


def _matched_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean |a - b histogram-matched onto a| of (n, pixels, 3) float arrays (ties kept in pixel order)."""
    ranks = np.argsort(np.argsort(b, axis=1, kind="stable"), axis=1, kind="stable")
    return np.abs(a - np.take_along_axis(np.sort(a, axis=1), ranks, axis=1)).mean(axis=(1, 2))


def mirrored_thumbnails(thumbs: np.ndarray) -> np.ndarray:
    """The 16x12 RGB thumbnails (rows of THUMB_BYTES) flipped left-right.

    >>> t = np.arange(THUMB_BYTES, dtype=np.uint8)[None] % 251
    >>> bool((mirrored_thumbnails(mirrored_thumbnails(t)) == t).all()), int(mirrored_thumbnails(t)[0, 0])
    (True, 45)
    """
    grid = thumbs.reshape(len(thumbs), THUMB_HEIGHT, THUMB_WIDTH, 3)
    return np.ascontiguousarray(grid[:, :, ::-1]).reshape(len(thumbs), THUMB_BYTES)


@dataclass(frozen=True)
class Evidence:
    """Per distinct image, aligned by position: what the linking rule can look at.

    hashes: uint64 pHashes. mirrors: uint64 mirror pHashes, or None (then flips are not
    looked for). thumbs: (n, THUMB_BYTES) uint8, or None (candidates linked unverified); it may
    be a memory map (the DuckDB engine's): rows are read PAIR_BATCH pairs at a time;
    has_thumb says which rows are real. vectors: (n, d) embeddings, zero rows for images
    without one, or None.
    """

    hashes: np.ndarray
    mirrors: np.ndarray | None = None
    thumbs: np.ndarray | None = None
    has_thumb: np.ndarray | None = None
    vectors: np.ndarray | None = None


# Calibration on the collection itself (`calibrate`): whether its pHashes and its embeddings tell
# different photos apart. Of random pairs of distinct images, 9-12 pHash bits apart (just beyond
# near_dup_bits 8, where few copies are): real photos 1.5e-5 (5,596 photos of ../shared/realdata),
# the procedural demo 2.3e-3 (its pictures are recoloured layouts). Cosine >= 0.90 and more than
# EMBEDDING_FAR_BITS apart (where copies seldom are): real 0 (ImageNet sample, Ferraris) to
# 1.3e-5 (the scenes scrape's look-alike 15-Scene photos), the demo 5.6e-4 (4.1e-4 less the pairs that look
# like one photo's copies, `_explained_by_copies`). CROWDED_SHARE sits
# between them (docs/benchmarks.md, "Calibrated on the collection").
CROWDED_SHARE = 2e-4
PAIR_BATCH = 16_384  # pairs (or images) whose thumbnails are in memory at once (the tone check: ~0.3 GB)
# 8 of the 7,723 copies with cosine >= 0.90 in the real edit set are farther apart (147 beyond 16 bits:
# rotations, crops); but a 10 %-per-side crop is 16-30 bits from its original (the 2026-12-04 audit's
# copy-heavy set: 73 such pairs, every one a copy), hence `_explained_by_copies`.
EMBEDDING_FAR_BITS = 20
CROWDING_MARGIN_BITS = 4
CROWDING_PAIRS = 200_000  # random pairs looked at (all pairs when there are fewer); ~1 s at a million images
MIN_CALIBRATION_IMAGES = 100  # fewer distinct images: too few pairs to tell, the strict hash limits apply
# A photo and its copies: an image alike (cosine >= the link cosine) to at most this many images of the
# collection may be one of a photo's copies (the audit's set: 7 edits of each original; the real edit
# set: 11). Where a backbone calls different photos alike, some images are alike to many (the 1,000-photo
# demo: hit pairs' images have a median of 79 alike images), which no photo's own copies explain.
MAX_COPIES = 12
COPY_CHECK_PAIRS = 64  # alike far pairs whose images are compared with the whole collection (at most)
AUTO = "auto"
# The hash limits for a collection whose pHashes tell photos apart, chosen on the fit half of real photos
# with real edits and held on the other half (bench/neardup_real.py): colour 8 (a pair of different
# 15-Scene Highway photos 8 bits apart differs by 9.4), tone 5 (that pair: 5.9).
COLOUR_DIFF_FOR_REAL_PHOTOS = 8.0
# ... and for a crowded one (or too few images to tell): the stricter limits the procedural demo needs,
# whose different pictures share pHashes within 2 bits (real photos are only stricter-checked by them).
COLOUR_DIFF_CROWDED = DEFAULT_COLOUR_DIFF
TONE_DIFF_CROWDED = None
OVERRIDE_HINT = "--near-dup-crowded-share off (a recipe's near_dup_crowded_share = \"off\")"


@dataclass(frozen=True)
class Crowding:
    """What `calibrate` measured: shares of random pairs of different images (None: not measured).

    The shares are those left once a collection's own copies are set aside; the `*_copies` fields say how
    much was set aside (the hash band's pairs the embeddings confirm; far alike pairs that look like one
    photo's copies), so a note can tell copies from look-alikes."""

    images: int
    hash_share: float | None  # more than max_bits and at most max_bits + CROWDING_MARGIN_BITS apart
    hashes_crowded: bool  # also True when there were too few images to measure
    embedded: int = 0
    embedding_share: float | None = None  # cosine >= the link cosine while pHashes are beyond EMBEDDING_FAR_BITS
    embeddings_crowded: bool = False
    hash_copies_share: float = 0.0  # band pairs set aside: the (trusted) embeddings confirm them as copies
    embedding_copies_share: float = 0.0  # far alike pairs set aside: `_explained_by_copies`

    def notes(self, limit: float, hash_limits: bool = True) -> list[str]:
        """One line per measurement, for the filter's notes (hash_limits False: no thumbnails to apply them)."""
        lines = []
        if not hash_limits:
            pass
        elif self.hash_share is None:
            lines.append(f"near-duplicate hash limits: strict (colour <= {COLOUR_DIFF_CROWDED:g}, tone check off): "
                         f"{self.images} distinct images are too few to calibrate on (at least "
                         f"{MIN_CALIBRATION_IMAGES})")
        else:
            verdict = (f"crowded (above {limit:g}): strict limits, colour <= {COLOUR_DIFF_CROWDED:g}, tone check off"
                       if self.hashes_crowded else
                       f"distinct: real-photo limits, colour <= {COLOUR_DIFF_FOR_REAL_PHOTOS:g}, "
                       f"tone <= {TONE_DIFF_FOR_REAL_PHOTOS:g}")
            set_aside = (f", {self.hash_copies_share:.1e} more set aside as copies the embeddings confirm"
                         if self.hash_copies_share else "")
            line = (f"near-duplicate hashes {verdict} ({self.hash_share:.1e} of random pairs of images within "
                    f"{CROWDING_MARGIN_BITS} bits beyond the limit{set_aside}; real photos ~1.5e-5)")
            if self.hashes_crowded:
                line += ("; many cropped or rotated copies of the same photos read like this too: if they are the "
                         f"cause, --near-dup-colour-diff {COLOUR_DIFF_FOR_REAL_PHOTOS:g} --near-dup-tone-diff "
                         f"{TONE_DIFF_FOR_REAL_PHOTOS:g} set the real-photo limits")
            lines.append(line)
        if self.embedding_share is not None and self.embeddings_crowded:
            set_aside = (f", {self.embedding_copies_share:.1e} more set aside as a photo's own copies"
                         if self.embedding_copies_share else "")
            lines.append(f"embedding links off: the embeddings call images alike that are not one photo's copies "
                         f"({self.embedding_share:.1e} of random pairs of images far apart in pHash are above the "
                         f"link cosine and alike to more than {MAX_COPIES} images or to none in common{set_aside}; "
                         f"limit {limit:g}, real photos 0-1.3e-5, the demo 4e-4); near-duplicates are linked on pHash "
                         f"and thumbnails only. If these are copies of the same photos after all (more than "
                         f"{MAX_COPIES} heavily cropped or rotated copies of each), {OVERRIDE_HINT} keeps the "
                         "embedding links on")
        return lines


def _random_pairs(n: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j: all of them when there are at most `count`, else `count` drawn at random (seeded)."""
    if n * (n - 1) // 2 <= count:
        return np.triu_indices(n, 1)
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, n, count), rng.integers(0, n, count)
    keep = first != second
    return np.minimum(first, second)[keep], np.maximum(first, second)[keep]


def _pair_bits(evidence: Evidence, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """pHash distance of index pairs, the smaller of plain and mirrored."""
    from curate.filters.phash import hamming_distance

    bits = hamming_distance(evidence.hashes[first], evidence.hashes[second])
    if evidence.mirrors is not None:
        bits = np.minimum(bits, hamming_distance(evidence.hashes[first], evidence.mirrors[second]))
    return bits


def _pair_alike(vectors: np.ndarray, norms: np.ndarray, first: np.ndarray, second: np.ndarray,
                cosine: float) -> np.ndarray:
    """Whether the embeddings of index pairs have cosine >= `cosine` (8,192 pairs of vectors in memory at a time)."""
    alike = np.zeros(len(first), bool)
    for start in range(0, len(first), 8192):
        a, b = first[start:start + 8192], second[start:start + 8192]
        dots = np.einsum("ij,ij->i", vectors[a].astype(np.float32), vectors[b].astype(np.float32))
        alike[start:start + 8192] = dots >= cosine * norms[a] * norms[b]
    return alike


def _explained_by_copies(vectors: np.ndarray, norms: np.ndarray, rows: np.ndarray, first: np.ndarray,
                         second: np.ndarray, cosine: float, max_copies: int = MAX_COPIES) -> np.ndarray:
    """Which alike index pairs look like copies of one photo: both images are alike (cosine >= `cosine`) to at
    most `max_copies` images of `rows`, and to one in common (an original, a lighter copy) unless each is alike
    only to the other. A photo's copies form a small group of images alike to each other, whatever the
    collection's size; a backbone that calls different photos alike makes images alike to many (a share of
    the collection) or to scattered ones. Cost: the pairs' images against every row, in chunks.

    >>> v = np.array([[1, 0], [1, .1], [1, -.1], [0, 1], [.1, 1], [-1, 0]], np.float32)
    >>> n = np.linalg.norm(v, axis=1)
    >>> _explained_by_copies(v, n, np.arange(6), np.array([1, 3]), np.array([2, 4]), 0.95, max_copies=2).tolist()
    [True, True]
    >>> _explained_by_copies(v, n, np.arange(6), np.array([1]), np.array([2]), 0.95, max_copies=1).tolist()
    [False]
    """
    members, inverse = np.unique(np.concatenate([first, second]), return_inverse=True)
    query = vectors[members].astype(np.float32)
    degree = np.zeros(len(members), np.int64)
    found_rows, found_members = [], []
    for start in range(0, len(rows), 4096):  # 4,096 rows x at most 128 images of cosines at a time
        chunk = rows[start:start + 4096]
        alike = query @ vectors[chunk].astype(np.float32).T >= cosine * norms[members][:, None] * norms[chunk][None, :]
        alike &= members[:, None] != chunk[None, :]
        degree += alike.sum(axis=1)
        alike &= (degree <= max_copies)[:, None]  # only small neighbourhoods are kept (bounded memory)
        member, column = np.nonzero(alike)
        found_members.append(member)
        found_rows.append(chunk[column])
    member, row = np.concatenate(found_members), np.concatenate(found_rows)
    small = degree <= max_copies
    a, b = inverse[:len(first)], inverse[len(first):]
    neighbours = [set() for _ in members]
    for m, r in zip(member[small[member]].tolist(), row[small[member]].tolist()):
        neighbours[m].add(r)
    shared = np.array([bool(neighbours[x] & neighbours[y]) for x, y in zip(a.tolist(), b.tolist())], bool)
    alone = (degree[a] == 1) & (degree[b] == 1)
    return small[a] & small[b] & (shared | alone)


def _embedding_crowding(evidence: Evidence, cosine: float, limit: float, far_bits: int, pairs: int,
                        seed: int) -> tuple[int, float | None, float, np.ndarray | None]:
    """(embedded images, share of random pairs alike and far apart less those explained by copies, the share
    set aside as copies, norms or None when too few are embedded)."""
    from curate.filters import embed_neighbours

    norms = embed_neighbours.row_norms(evidence.vectors)  # no unit copy of every vector: only the pairs' rows
    rows = np.flatnonzero(np.isfinite(norms) & (norms > 0))
    if len(rows) < MIN_CALIBRATION_IMAGES:
        return len(rows), None, 0.0, None
    first, second = (rows[side] for side in _random_pairs(len(rows), pairs, seed + 1))
    vectors = np.asarray(evidence.vectors)
    hits = np.flatnonzero((_pair_bits(evidence, first, second) > far_bits)
                          & _pair_alike(vectors, norms, first, second, cosine))
    raw = len(hits) / len(first)
    if raw <= limit:  # below the limit with copies counted as look-alikes: nothing to set aside (real photos)
        return len(rows), raw, 0.0, norms
    rng = np.random.default_rng(seed + 2)
    checked = hits if len(hits) <= COPY_CHECK_PAIRS else rng.choice(hits, COPY_CHECK_PAIRS, replace=False)
    copies = _explained_by_copies(vectors, norms, rows, first[checked], second[checked], cosine).mean()
    return len(rows), float(raw * (1 - copies)), float(raw * copies), norms


def calibrate(evidence: Evidence, max_bits: int, cosine: float | None, *, limit: float = CROWDED_SHARE,
              far_bits: int = EMBEDDING_FAR_BITS, pairs: int = CROWDING_PAIRS, seed: int = 0,
              confirm_cosine: float | None = DEFAULT_VERIFY_COSINE) -> Crowding:
    """Does this collection's evidence tell different photos apart? (see `Crowding`)

    Embeddings (when given, with `cosine`): the share of random pairs at cosine >= `cosine` whose pHashes
    are more than `far_bits` apart, less the pairs that look like one photo's copies (`_explained_by_copies`:
    heavy crops and rotations are that far from their original, and a collection full of them must not read
    as one whose backbone calls different photos alike). Hashes: the share of random pairs of distinct images
    more than max_bits and at most max_bits + CROWDING_MARGIN_BITS apart: just beyond the candidates, where a
    collection whose different photos share pHashes has many pairs. Cropped, rotated and burst copies fall
    there about half the time, so where the embeddings are trusted, pairs they confirm as copies (cosine >=
    `confirm_cosine`, the rule's `near_dup_verify_cosine`; None: none set aside) do not count. Without
    embeddings a collection full of such copies reads crowded: the strict side, which costs only tone- and
    colour-edited copies. Measured in docs/benchmarks.md, "Calibrated on the collection".

    >>> rng = np.random.default_rng(0)
    >>> spread = Evidence(rng.integers(0, 2**63, 300, dtype=np.uint64))
    >>> calibrate(spread, 8, None).hashes_crowded, calibrate(Evidence(spread.hashes[:50]), 8, None).hashes_crowded
    (False, True)
    >>> calibrate(Evidence(spread.hashes % 1024), 8, None).hashes_crowded  # every pair within 10 bits
    True
    """
    n = len(evidence.hashes)
    embedded, embedding_share, embedding_copies, norms = 0, None, 0.0, None
    if evidence.vectors is not None and cosine is not None:
        embedded, embedding_share, embedding_copies, norms = _embedding_crowding(
            evidence, cosine, limit, far_bits, pairs, seed)
    embeddings_crowded = bool(embedding_share is not None and embedding_share > limit)
    hash_share, hashes_crowded, hash_copies = None, True, 0.0
    if n >= MIN_CALIBRATION_IMAGES:
        first, second = _random_pairs(n, pairs, seed)
        bits = _pair_bits(evidence, first, second)
        band = (bits > max_bits) & (bits <= max_bits + CROWDING_MARGIN_BITS)
        if confirm_cosine is not None and norms is not None and not embeddings_crowded and band.any():
            at = np.flatnonzero(band)  # the embeddings the rule trusts confirm these as copies
            confirmed = (norms[first[at]] > 0) & (norms[second[at]] > 0)
            confirmed[confirmed] = _pair_alike(np.asarray(evidence.vectors), norms, first[at][confirmed],
                                               second[at][confirmed], confirm_cosine)
            hash_copies = float(confirmed.sum() / len(first))
            band[at[confirmed]] = False
        hash_share = float(band.mean())
        hashes_crowded = hash_share > limit
    return Crowding(n, hash_share, hashes_crowded, embedded, embedding_share, embeddings_crowded,
                    hash_copies, embedding_copies)


def calibrated_rule(evidence: Evidence, max_bits: int, *, colour_diff: float | str = AUTO,
                    tone_diff: float | str | None = AUTO, cosine: float | None = DEFAULT_NEAR_DUP_COSINE,
                    verify_cosine: float | None = DEFAULT_VERIFY_COSINE,
                    link_colour_diff: float | None = DEFAULT_LINK_COLOUR_DIFF,
                    crowded_share: float | None = CROWDED_SHARE) -> tuple[LinkRule, Crowding | None]:
    """The LinkRule for this collection: `AUTO` limits resolved by `calibrate`, and the embedding rules
    turned off when the embeddings are crowded. crowded_share None: no calibration (AUTO limits take
    the strict values, embeddings stay as given)."""
    crowding = None
    if crowded_share is not None:
        crowding = calibrate(evidence, max_bits, cosine if cosine is not None else verify_cosine, limit=crowded_share,
                             confirm_cosine=verify_cosine if verify_cosine is not None else cosine)
    strict = crowding is None or crowding.hashes_crowded
    if colour_diff == AUTO:
        colour_diff = COLOUR_DIFF_CROWDED if strict else COLOUR_DIFF_FOR_REAL_PHOTOS
    if tone_diff == AUTO:
        tone_diff = TONE_DIFF_CROWDED if strict else TONE_DIFF_FOR_REAL_PHOTOS
    if crowding is not None and crowding.embeddings_crowded:
        cosine = verify_cosine = None
    return LinkRule(max_bits, float(colour_diff), cosine, verify_cosine, link_colour_diff=link_colour_diff,
                    tone_diff=tone_diff), crowding


@dataclass(frozen=True)
class LinkRule:
    """Thresholds of the linking rule (see the module docstring); None turns an embedding rule off."""

    max_bits: int
    colour_diff: float = DEFAULT_COLOUR_DIFF
    cosine: float | None = DEFAULT_NEAR_DUP_COSINE
    verify_cosine: float | None = DEFAULT_VERIFY_COSINE
    cosine_max_bits: int | None = DEFAULT_COSINE_MAX_BITS  # an embedding link also needs pHashes this close
    link_colour_diff: float | None = DEFAULT_LINK_COLOUR_DIFF  # ... and, beyond max_bits, colours this close
    tone_diff: float | None = DEFAULT_TONE_DIFF  # a hash candidate whose tones agree this well is linked


def link_pairs(evidence: Evidence, rule: LinkRule) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(first, second, counts): the linked index pairs and how many links each kind of evidence made.

    counts has keys hash_colour (hash candidate, colours agree), hash_tone (hash candidate,
    colours differ, tones agree: `tone_difference_of`), hash_unverified (no thumbnails),
    hash_embedding (hash candidate, colours and tones differ, embeddings agree) and
    embedding (cosine >= rule.cosine, pHashes within cosine_max_bits and, beyond max_bits,
    colours within link_colour_diff; not already a hash link).
    """
    from curate.filters import embed_neighbours, neardup

    mirrors = evidence.hashes if evidence.mirrors is None else evidence.mirrors
    first, second, _, mirrored = neardup.mirror_pairs(evidence.hashes, mirrors, rule.max_bits)
    if rule.tone_diff is not None and evidence.thumbs is not None:
        first, second, mirrored = _add_tone_candidates(evidence, rule.max_bits, first, second, mirrored)
    counts = {"hash_colour": 0, "hash_tone": 0, "hash_unverified": 0, "hash_embedding": 0, "embedding": 0}
    if evidence.thumbs is None:
        linked = np.ones(len(first), dtype=bool)
        counts["hash_unverified"] = len(first)
    else:
        linked = _pair_colours(evidence, first, second, mirrored) <= rule.colour_diff
        counts["hash_colour"] = int(linked.sum())
        if rule.tone_diff is not None:
            tones = ~linked
            tones[tones] = _pair_colours(evidence, first[tones], second[tones], mirrored[tones],
                                         tone_difference_of) <= rule.tone_diff
            counts["hash_tone"] = int(tones.sum())
            linked |= tones
        if evidence.vectors is not None and rule.verify_cosine is not None:
            unit, usable = embed_neighbours.normalised(evidence.vectors)
            cosine = np.einsum("ij,ij->i", unit[first], unit[second])
            agree = ~linked & usable[first] & usable[second] & (cosine >= rule.verify_cosine)
            counts["hash_embedding"] = int(agree.sum())
            linked |= agree
    first, second = first[linked], second[linked]
    if evidence.vectors is not None and rule.cosine is not None:
        close_first, close_second = _embedding_links(evidence, mirrors, rule)
        n = len(evidence.hashes)
        new = ~np.isin(close_first * n + close_second, first * n + second)
        counts["embedding"] = int(new.sum())
        first, second = np.concatenate([first, close_first[new]]), np.concatenate([second, close_second[new]])
    return first, second, counts


def _add_tone_candidates(evidence: Evidence, max_bits: int, first: np.ndarray, second: np.ndarray,
                         mirrored: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pHash candidates plus pairs whose `tone_hashes` are within max_bits (unmirrored), each once."""
    from curate.filters import neardup

    n = len(evidence.hashes)
    real = np.ones(n, bool) if evidence.has_thumb is None else evidence.has_thumb
    rows = np.flatnonzero(real)  # a missing thumbnail is zeros: it would pair with every flat image
    tones = np.empty(len(rows), dtype=np.uint64)
    for start in range(0, len(rows), PAIR_BATCH):  # thumbs may be memory-mapped: a batch in memory at a time
        tones[start:start + PAIR_BATCH] = tone_hashes(evidence.thumbs[rows[start:start + PAIR_BATCH]])
    tone_first, tone_second = (rows[side] for side in neardup.near_duplicate_pairs(tones, max_bits))
    new = ~np.isin(tone_first * n + tone_second, first * n + second)
    order = np.argsort(np.concatenate([first * n + second, tone_first[new] * n + tone_second[new]]), kind="stable")
    return (np.concatenate([first, tone_first[new]])[order], np.concatenate([second, tone_second[new]])[order],
            np.concatenate([mirrored, np.zeros(int(new.sum()), bool)])[order])


def _pair_colours(evidence: Evidence, first: np.ndarray, second: np.ndarray, mirrored: np.ndarray,
                  measure=colour_difference_of) -> np.ndarray:
    """Thumbnail difference (`measure`: colour or tone) of index pairs, the second mirrored where
    `mirrored`; inf without a thumbnail."""
    if evidence.thumbs is None:
        return np.full(len(first), np.inf)
    difference = np.empty(len(first), dtype=np.float64)
    for start in range(0, len(first), PAIR_BATCH):  # bounded memory: thumbnails of a batch of pairs at a time
        batch = slice(start, start + PAIR_BATCH)
        seconds = evidence.thumbs[second[batch]]
        seconds = np.where(mirrored[batch, None], mirrored_thumbnails(seconds), seconds)
        difference[batch] = measure(evidence.thumbs[first[batch]], seconds)
    has_thumb = np.ones(len(evidence.hashes), bool) if evidence.has_thumb is None else evidence.has_thumb
    return np.where(has_thumb[first] & has_thumb[second], difference, np.inf)


def _embedding_links(evidence: Evidence, mirrors: np.ndarray, rule: LinkRule) -> tuple[np.ndarray, np.ndarray]:
    """Pairs with cosine >= rule.cosine whose pHashes are within cosine_max_bits (either orientation)
    and, when farther apart than max_bits, whose colours are within link_colour_diff."""
    from curate.filters import embed_neighbours, neardup

    first, second, _ = embed_neighbours.cosine_pairs(evidence.vectors, rule.cosine)
    plain = neardup.hamming_distance(evidence.hashes[first], evidence.hashes[second])
    flipped = np.minimum(neardup.hamming_distance(evidence.hashes[first], mirrors[second]),
                         neardup.hamming_distance(mirrors[first], evidence.hashes[second]))
    bits = np.minimum(plain, flipped)
    keep = np.ones(len(first), bool) if rule.cosine_max_bits is None else bits <= rule.cosine_max_bits
    if rule.link_colour_diff is not None and evidence.thumbs is not None:
        far = keep & (bits > rule.max_bits)
        colours = _pair_colours(evidence, first[far], second[far], (flipped < plain)[far])
        keep[far] = colours <= rule.link_colour_diff
    return first[keep], second[keep]
