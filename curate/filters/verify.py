"""Which near-duplicate candidates are linked: the evidence for each pair, and the rule.

Three signals per distinct image, each optional:

* pHash and the pHash of the left-right mirror (`curate.filters.phash.phash_pair`): pairs
  within `near_dup_bits` in either orientation are *candidates* (`neardup.mirror_pairs`).
* a tiny 16x12 colour thumbnail: a candidate is linked when the mean absolute RGB
  difference of the two thumbnails (the second one mirrored when the mirrored hashes
  matched) is at most `near_dup_colour_diff` (0-255 scale).
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
one (cosine up to 0.99; the demo recipe turns the embedding links off), and on real photos
downscaled, JPEG and greyscale copies fall to cosine 0.40-0.77 that colour passes.

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
DEFAULT_COLOUR_DIFF = 4.0
# Chosen on real photos with real edits (bench/neardup.py real; docs/benchmarks.md) and confirmed on a
# held-out half of them (the half-set choice is the same 0.90 / 16 bits): 0.90 is above
# every different-photo pair of that set (max 0.867); 0.85 passes every brightness-edited copy
# among pHash candidates (min 0.936), where no different-photo pair exists; 16 bits keeps the
# scenes-scrape's look-alike 15-Scene photos apart (cosine >= 0.90 there: 18-36 bits apart).
DEFAULT_NEAR_DUP_COSINE = 0.90
DEFAULT_VERIFY_COSINE = 0.85
DEFAULT_COSINE_MAX_BITS = 16
DEFAULT_LINK_COLOUR_DIFF = None
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
    chroma = lambda x: (x.max(axis=2) - x.min(axis=2)).mean(axis=1)  # noqa: E731
    grey = (chroma(a) < GREY_CHROMA) | (chroma(b) < GREY_CHROMA)
    rgb = np.abs(a - b).mean(axis=(1, 2))
    luma = np.abs(a @ _LUMA - b @ _LUMA).mean(axis=1)
    return np.where(grey, luma, rgb)


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
    looked for). thumbs: (n, THUMB_BYTES) uint8, or None (candidates linked unverified);
    has_thumb says which rows are real. vectors: (n, d) embeddings, zero rows for images
    without one, or None.
    """

    hashes: np.ndarray
    mirrors: np.ndarray | None = None
    thumbs: np.ndarray | None = None
    has_thumb: np.ndarray | None = None
    vectors: np.ndarray | None = None


@dataclass(frozen=True)
class LinkRule:
    """Thresholds of the linking rule (see the module docstring); None turns an embedding rule off."""

    max_bits: int
    colour_diff: float = DEFAULT_COLOUR_DIFF
    cosine: float | None = DEFAULT_NEAR_DUP_COSINE
    verify_cosine: float | None = DEFAULT_VERIFY_COSINE
    cosine_max_bits: int | None = DEFAULT_COSINE_MAX_BITS  # an embedding link also needs pHashes this close
    link_colour_diff: float | None = DEFAULT_LINK_COLOUR_DIFF  # ... and, beyond max_bits, colours this close


def link_pairs(evidence: Evidence, rule: LinkRule) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(first, second, counts): the linked index pairs and how many links each kind of evidence made.

    counts has keys hash_colour (hash candidate, colours agree), hash_unverified (no
    thumbnails), hash_embedding (hash candidate, colours differ, embeddings agree) and
    embedding (cosine >= rule.cosine, pHashes within cosine_max_bits and, beyond max_bits,
    colours within link_colour_diff; not already a hash link).
    """
    from curate.filters import embed_neighbours, neardup

    mirrors = evidence.hashes if evidence.mirrors is None else evidence.mirrors
    first, second, _, mirrored = neardup.mirror_pairs(evidence.hashes, mirrors, rule.max_bits)
    counts = {"hash_colour": 0, "hash_unverified": 0, "hash_embedding": 0, "embedding": 0}
    if evidence.thumbs is None:
        linked = np.ones(len(first), dtype=bool)
        counts["hash_unverified"] = len(first)
    else:
        linked = _pair_colours(evidence, first, second, mirrored) <= rule.colour_diff
        counts["hash_colour"] = int(linked.sum())
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


def _pair_colours(evidence: Evidence, first: np.ndarray, second: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """Thumbnail difference of index pairs (the second mirrored where `mirrored`); inf without a thumbnail."""
    if evidence.thumbs is None:
        return np.full(len(first), np.inf)
    second_thumbs = np.where(mirrored[:, None], mirrored_thumbnails(evidence.thumbs[second]), evidence.thumbs[second])
    difference = colour_difference_of(evidence.thumbs[first], second_thumbs)
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
