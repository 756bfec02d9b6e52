"""Which near-duplicate candidates are linked: the evidence for each pair, and the rule.

Three signals per distinct image, each optional:

* pHash and the pHash of the left-right mirror (`curate.filters.phash.phash_pair`): pairs
  within `near_dup_bits` in either orientation are *candidates* (`neardup.mirror_pairs`). An image
  on a uniform border (a screenshot) also has the pHash of its content (`phash.trimmed_phash`,
  `Evidence.trimmed`), one more view: a pair's pHash distance is the smallest over the views, for
  the candidates and for the embedding link's `cosine_max_bits` gate alike.
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
(`curate.filters.calibration`): where the pHashes tell photos apart, the limits chosen on real
photos (colour 8, tone 5); where they do not (the demo), the strict ones (colour 4, tone off);
and embeddings that call far-apart photos alike are not used.

* the stored images' pixels, patch by patch (`curate.filters.patches`), when asked for: a pHash pair the
  evidence above leaves apart, or one up to PATCH_MARGIN_BITS beyond `near_dup_bits`, is linked when the detail
  of at least `near_dup_patch_share` of its 8x8 patches agrees over the best band of half its rows or more (a
  sticker, a logo, caption bands, a watermark over part of a copy; a sepia copy). Off by default: different
  photos in one frame, card or mockup template agree too.

An embedding link between images farther apart than `near_dup_bits` may also require colours
within `link_colour_diff` (off by default): that keeps neighbouring shots of one street apart at
a cost in crop and rotation recall (docs/benchmarks.md, "Held out").
The thresholds and their evidence are in docs/benchmarks.md ("Near duplicates on real photos").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from curate.store import map_images, open_rgb

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
DEFAULT_TONE_DIFF = None
NO_TIME = np.iinfo(np.int64).min  # Evidence.taken of an image without a taken_at
# The window match (curate.filters.windows) on candidate pairs the other links leave apart; chosen on real
# crops and 15-Scene look-alikes (bench/neardup.py windows; docs/benchmarks.md, "Window match").
DEFAULT_WINDOW_COSINE = 0.75
DEFAULT_WINDOW_SCORE = 0.90
DEFAULT_WINDOW_PAIRS = 4_000  # candidate pairs matched at most, closest first (~15 ms a pair on one core)
# ... and its overlap match (two crops of one picture, neither inside the other: windows.overlap_score), on pairs
# at least this close; chosen on real crops, Lund shots and 15-Scene look-alikes (bench/neardup.py overlaps;
# docs/benchmarks.md, "Overlap match").
DEFAULT_OVERLAP_COSINE = 0.80
DEFAULT_OVERLAP_SCORE = 0.90
DEFAULT_OVERLAP_PAIRS = 1_000  # overlap-only candidate pairs matched at most, closest first (~65 ms a pair)
# The patch match (curate.filters.patches): off unless asked for (a share, or auto: calibration's)
DEFAULT_PATCH_SHARE = None
EMBEDDING_BACKBONE = "efficientnet_lite0"  # the cosine thresholds were measured on this backbone's vectors
PAIR_BATCH = 16_384  # pairs (or images) whose thumbnails are in memory at once (the tone check: ~0.3 GB)


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
    trimmed: np.ndarray | None = None  # uint64 border-trimmed pHashes (the own hash where none), or None
    read_grey: Callable[[int], np.ndarray | None] | None = None  # position -> windows.grey_view, or None
    owners: np.ndarray | None = None  # int64 owner code per image (-1: none), for the calibration's sequences
    taken: np.ndarray | None = None  # int64 microseconds taken_at per image (NO_TIME: none)
    lat: np.ndarray | None = None  # float64 latitude per image (NaN: none), for owner-less walks
    lon: np.ndarray | None = None  # float64 longitude per image (NaN: none)
    turned: np.ndarray | None = None  # uint64 quarter-turn pHashes (`phash.quarter_turn_phash`), or None
    halfturned: np.ndarray | None = None  # uint64 half-turn pHashes (`phash.half_turn_phash`), or None

    def views(self) -> tuple[np.ndarray, np.ndarray]:
        """(mirror hashes, trimmed hashes), each the plain hashes where the evidence has none."""
        return (self.hashes if self.mirrors is None else self.mirrors,
                self.hashes if self.trimmed is None else self.trimmed)


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
    window_score: float | None = DEFAULT_WINDOW_SCORE  # an embedding pair left apart whose pixels match as a window
    window_cosine: float = DEFAULT_WINDOW_COSINE  # ... among pairs with at least this cosine
    window_pairs: int = DEFAULT_WINDOW_PAIRS  # ... the closest this many of them
    overlap_score: float | None = DEFAULT_OVERLAP_SCORE  # ... or whose pixels overlap as two crops of one picture
    overlap_cosine: float = DEFAULT_OVERLAP_COSINE  # ... among pairs with at least this cosine
    overlap_pairs: int = DEFAULT_OVERLAP_PAIRS  # ... the closest this many of those no window candidate
    patch_share: float | None = DEFAULT_PATCH_SHARE  # a pHash pair left apart whose patches agree this well


def link_pairs(evidence: Evidence, rule: LinkRule, workers: int = 1) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(first, second, counts): the linked index pairs and how many links each kind of evidence made.

    counts has keys hash_colour (hash candidate, colours agree), hash_tone (hash candidate,
    colours differ, tones agree: `tone_difference_of`), hash_unverified (no thumbnails),
    hash_embedding (hash candidate, colours and tones differ, embeddings agree) and
    embedding (cosine >= rule.cosine, pHashes within cosine_max_bits and, beyond max_bits,
    colours within link_colour_diff; not already a hash link); then, with evidence.read_grey and thumbnails,
    patch, patch_candidates, patch_matched and patch_unreadable (`_add_patch_links`: pHash pairs the links so
    far leave apart whose patches agree, `curate.filters.patches`, when rule.patch_share is set) with
    patch_crowded and patch_crowded_images; frame, frame_candidates and frame_unreadable (`_add_frame_links`:
    candidates that meet only through a border-trimmed view, confirmed with the borders cut off); turn,
    turn_candidates and turn_unreadable (`_add_turn_links`); then window (a pair left in different
    clusters by those links whose cosine is at least rule.window_cosine and whose pixels match as a
    window, or whose cosine is at least rule.overlap_cosine and whose pixels overlap as two crops of one
    picture, `curate.filters.windows`; only with evidence.read_grey), with window_overlap (the overlap
    links among them), window_candidates, window_matched (at most rule.window_pairs),
    overlap_candidates, overlap_matched (at most rule.overlap_pairs) and window_unreadable. `workers`:
    processes for the window match's scores (`windows.window_links`).
    """
    from curate.filters import embed_neighbours, neardup
    from curate.filters.patches import PATCH_MARGIN_BITS

    mirrors, trimmed = evidence.views()
    stored = np.ones(len(evidence.hashes), bool) if evidence.has_thumb is None else evidence.has_thumb
    patching = (evidence.thumbs is not None and evidence.read_grey is not None and rule.patch_share is not None
                and stored.sum() >= 2)
    # one search: the candidates within max_bits, and (patch match) the pairs up to PATCH_MARGIN_BITS beyond it
    # that the same search meets (0.89 of them, at no extra search cost)
    wide = neardup.mirror_pairs(evidence.hashes, mirrors, rule.max_bits + (PATCH_MARGIN_BITS if patching else 0),
                                trimmed=trimmed, search_bits=rule.max_bits)
    near = wide[2] <= rule.max_bits
    first, second, mirrored = wide[0][near], wide[1][near], wide[3][near]
    if rule.tone_diff is not None and evidence.thumbs is not None:
        first, second, mirrored = _add_tone_candidates(evidence, rule.max_bits, first, second, mirrored)
    counts = {"hash_colour": 0, "hash_tone": 0, "hash_unverified": 0, "hash_embedding": 0, "embedding": 0,
              "window": 0, "window_overlap": 0, "window_candidates": 0, "window_matched": 0, "window_unreadable": 0,
              "overlap_candidates": 0, "overlap_matched": 0}
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
        close_first, close_second = _embedding_links(evidence, rule)
        n = len(evidence.hashes)
        new = ~np.isin(close_first * n + close_second, first * n + second)
        counts["embedding"] = int(new.sum())
        first, second = np.concatenate([first, close_first[new]]), np.concatenate([second, close_second[new]])
    if patching:
        first, second = _add_patch_links(evidence, rule, first, second, wide, counts)
    if evidence.trimmed is not None and evidence.read_grey is not None and rule.window_score is not None:
        first, second = _add_frame_links(evidence, rule, first, second, wide, counts)
    if (evidence.turned is not None or evidence.halfturned is not None) and evidence.read_grey is not None \
            and rule.window_score is not None:
        first, second = _add_turn_links(evidence, rule, first, second, counts)
    if evidence.vectors is not None and evidence.read_grey is not None and rule.window_score is not None:
        first, second = _add_window_links(evidence, rule, first, second, counts, workers)
    return first, second, counts


GREY_CACHE = 512  # grey views (128 px, ~64 KB each) kept while one rule matches its pairs: ~32 MB


def _matched_on_pixels(evidence: Evidence, a: np.ndarray, b: np.ndarray,
                       matches: Callable[[np.ndarray, np.ndarray, int], bool]) -> tuple[np.ndarray, int]:
    """(which pairs (a[k], b[k]) `matches(grey_a, grey_b, k)` on their grey views, how many pairs had an image
    that could not be read). The pairs come closest first, so an image often recurs: the last GREY_CACHE views
    read are kept, each image decoded once while it is among them."""
    from collections import OrderedDict

    cache: OrderedDict[int, np.ndarray | None] = OrderedDict()

    def grey(position: int) -> np.ndarray | None:
        if position in cache:
            cache.move_to_end(position)
        else:
            cache[position] = evidence.read_grey(position)
            if len(cache) > GREY_CACHE:
                cache.popitem(last=False)
        return cache[position]

    linked, unreadable = np.zeros(len(a), bool), 0
    for k, (i, j) in enumerate(zip(a.tolist(), b.tolist())):
        one, other = grey(i), grey(j)
        if one is None or other is None:
            unreadable += 1
            continue
        linked[k] = matches(one, other, k)
    return linked, unreadable


def _add_frame_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                     wide: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                     counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The links plus pHash candidates that meet only through a border-trimmed view (`Evidence.trimmed`: a photo
    padded onto a square, a screenshot's frame), not linked yet, whose grey views with their borders cut off
    (`phash.content_box`) agree: 16x12 grey thumbnails within `rule.colour_diff` (the colour check, on what the
    pHash compared), or one a window of the other at `rule.window_score`. The thumbnails and the embedding
    compare the whole padded picture, which the border spoils (audit L: white-bordered squares 0.00 without
    embeddings, 0.47 with them). The closest `rule.window_pairs` are matched. counts gains frame (links),
    frame_candidates and frame_unreadable."""
    from curate.filters import neardup, windows
    from curate.filters.phash import content_box
    from curate.groups import components_from_pairs

    def trimmed_view(grey: np.ndarray) -> np.ndarray:
        box = content_box(grey)
        return grey if box is None else np.ascontiguousarray(grey[box[0]:box[1], box[2]:box[3]])

    def thumbnail(grey: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(grey).resize((THUMB_WIDTH, THUMB_HEIGHT), Image.BOX), np.float32)

    a, b, bits, _ = wide
    near = bits <= rule.max_bits
    a, b, bits = a[near], b[near], bits[near]
    hashes, (mirrors, trimmed) = evidence.hashes, evidence.views()
    plain = np.minimum(neardup.hamming_distance(hashes[a], hashes[b]),
                       np.minimum(neardup.hamming_distance(hashes[a], mirrors[b]),
                                  neardup.hamming_distance(mirrors[a], hashes[b])))
    framed = neardup.trimmed_distance(hashes, trimmed, a, b) < plain  # met through a trimmed view only
    labels = components_from_pairs(len(hashes), first, second)
    keep = framed & (labels[a] != labels[b])
    order = np.argsort(bits[keep], kind="stable")[:rule.window_pairs]
    a, b = a[keep][order], b[keep][order]

    def agree(one: np.ndarray, other: np.ndarray, _: int) -> bool:
        one, other = trimmed_view(one), trimmed_view(other)
        return (float(np.abs(thumbnail(one) - thumbnail(other)).mean()) <= rule.colour_diff
                or windows.window_score(one, other) >= rule.window_score)

    linked, unreadable = _matched_on_pixels(evidence, a, b, agree)
    counts.update(frame=int(linked.sum()), frame_candidates=int(keep.sum()), frame_unreadable=unreadable)
    return np.concatenate([first, a[linked]]), np.concatenate([second, b[linked]])


def _add_turn_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                    counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The links plus pairs that are one photo turned a quarter turn: one's pHash within `rule.max_bits` of the
    other's quarter-turn pHash (`Evidence.turned`), not linked yet, whose grey views, one turned either way,
    match as a window at `rule.window_score` (`windows.window_score`; the same bar as a crop's). A quarter turn
    moves a pHash a median 26 bits and the embedding to a cosine of about 0.55 (audit I): no other rule sees it.
    The same for a half turn (`Evidence.halfturned`, one view turned upside down: audit AS). counts gains turn
    (links), turn_candidates and turn_unreadable, and half_turn, half_turn_candidates and half_turn_unreadable."""
    from curate.filters import neardup, windows

    n = len(evidence.hashes)
    for kind, turned, turns in (("turn", evidence.turned, (1, -1)), ("half_turn", evidence.halfturned, (2,))):
        if turned is None:
            continue
        a, b, bits, by_turn = neardup.mirror_pairs(evidence.hashes, turned, rule.max_bits)
        a, b, bits = a[by_turn], b[by_turn], bits[by_turn]
        new = ~np.isin(a * n + b, np.concatenate([first * n + second, second * n + first]))
        order = np.argsort(bits[new], kind="stable")[:rule.window_pairs]  # the closest, as many as the window's
        a, b = a[new][order], b[new][order]
        linked, unreadable = _matched_on_pixels(
            evidence, a, b, lambda one, other, _, turns=turns: max(
                windows.window_score(np.ascontiguousarray(np.rot90(one, k=turn)), other) for turn in turns)
            >= rule.window_score)
        counts.update({kind: int(linked.sum()), f"{kind}_candidates": int(new.sum()), f"{kind}_unreadable": unreadable})
        first, second = np.concatenate([first, a[linked]]), np.concatenate([second, b[linked]])
    return first, second


def _add_patch_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                     wide: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                     counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The links plus pHash pairs within `rule.max_bits` + PATCH_MARGIN_BITS (any view: plain, mirrored,
    border-trimmed; `wide`, `neardup.mirror_pairs`' search for them) between images with a thumbnail, in
    different clusters of the links so far, whose patches agree (`patches.patch_share` at least `rule.patch_share`, the
    second view mirrored where the mirrored hashes matched): a copy with a sticker, a logo or caption bands over part of
    it, or recoloured as a whole (sepia), which the thumbnails and the embeddings leave apart. The closest
    `rule.window_pairs` pairs are matched (`_matched_on_pixels`). Patch links that alone would join more than
    `patches.MAX_GROUP` images are not made. counts gains patch (links), patch_candidates, patch_matched,
    patch_unreadable, patch_crowded (links not made) and patch_crowded_images."""
    from curate.filters import patches
    from curate.groups import components_from_pairs

    a, b, bits, mirrored = wide
    labels = components_from_pairs(len(evidence.hashes), first, second)
    stored = np.ones(len(evidence.hashes), bool) if evidence.has_thumb is None else evidence.has_thumb
    apart = (labels[a] != labels[b]) & stored[a] & stored[b]  # no thumbnail: not stored, or unreadable
    order = np.argsort(bits[apart], kind="stable")[:rule.window_pairs]  # the closest, as many as the window match's
    a, b, mirrored = a[apart][order], b[apart][order], mirrored[apart][order]
    linked, unreadable = _matched_on_pixels(
        evidence, a, b, lambda one, other, k: patches.patch_share(
            patches.patch_view(one), patches.patch_view(other, bool(mirrored[k]))) >= rule.patch_share)
    counts.update(patch_candidates=int(apart.sum()), patch_matched=len(a), patch_unreadable=unreadable)
    groups = components_from_pairs(len(evidence.hashes), a[linked], b[linked])
    sizes = np.bincount(groups)
    crowded = linked & (sizes[groups[a]] > patches.MAX_GROUP)  # not one photo's copies: see MAX_GROUP
    counts.update(patch=int((linked & ~crowded).sum()), patch_crowded=int(crowded.sum()),
                  patch_crowded_images=int((sizes > patches.MAX_GROUP).astype(np.int64) @ sizes))
    linked &= ~crowded
    return np.concatenate([first, a[linked]]), np.concatenate([second, b[linked]])


def _add_window_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                      counts: dict[str, int], workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The links plus the window matches (`windows.window_links`) between the clusters they make; counts
    gains window (links), window_overlap, window_candidates, window_matched, window_unreadable,
    overlap_candidates and overlap_matched."""
    from curate.filters import windows
    from curate.groups import components_from_pairs

    labels = components_from_pairs(len(evidence.hashes), first, second)
    found = windows.window_links(evidence.vectors, labels, evidence.read_grey, cosine=rule.window_cosine,
                                 min_score=rule.window_score, max_pairs=rule.window_pairs, thumbs=evidence.thumbs,
                                 has_thumb=evidence.has_thumb, workers=workers, overlap_cosine=rule.overlap_cosine,
                                 overlap_min=rule.overlap_score, overlap_pairs=rule.overlap_pairs)
    counts.update(window=len(found.first), window_overlap=found.overlaps, window_candidates=found.candidates,
                  window_matched=found.matched, window_unreadable=found.unreadable,
                  overlap_candidates=found.overlap_candidates, overlap_matched=found.overlap_matched)
    return np.concatenate([first, found.first]), np.concatenate([second, found.second])


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


def _embedding_links(evidence: Evidence, rule: LinkRule) -> tuple[np.ndarray, np.ndarray]:
    """Pairs with cosine >= rule.cosine whose pHashes are within cosine_max_bits (either orientation,
    or a border-trimmed view) and, when farther apart than max_bits, whose colours are within link_colour_diff."""
    from curate.filters import embed_neighbours, neardup

    mirrors, trimmed = evidence.views()
    first, second, _ = embed_neighbours.cosine_pairs(evidence.vectors, rule.cosine)
    plain = np.minimum(neardup.hamming_distance(evidence.hashes[first], evidence.hashes[second]),
                       neardup.trimmed_distance(evidence.hashes, trimmed, first, second))
    flipped = np.minimum(neardup.hamming_distance(evidence.hashes[first], mirrors[second]),
                         neardup.hamming_distance(mirrors[first], evidence.hashes[second]))
    bits = np.minimum(plain, flipped)
    keep = np.ones(len(first), bool) if rule.cosine_max_bits is None else bits <= rule.cosine_max_bits
    if rule.link_colour_diff is not None and evidence.thumbs is not None:
        far = keep & (bits > rule.max_bits)
        colours = _pair_colours(evidence, first[far], second[far], (flipped < plain)[far])
        keep[far] = colours <= rule.link_colour_diff
    return first[keep], second[keep]
