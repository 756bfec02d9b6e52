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

* the stored images' grey views, for a hash candidate the checks above left apart (`curate.filters.overlay`): linked
  when their difference is one-sided (a white or dark watermark tiled over the whole photo only ever lightens or
  darkens what it covers; two different photos differ both ways, under one watermark too).
* the stored images' pixels, patch by patch (`curate.filters.patches`), when asked for: a pHash pair the
  evidence above leaves apart, or one up to PATCH_MARGIN_BITS beyond `near_dup_bits`, is linked when the detail
  of at least `near_dup_patch_share` of its 8x8 patches agrees over the best band of half its rows or more (a
  sticker, a logo, caption bands, a watermark over part of a copy; a sepia copy). Off by default: different
  photos in one frame, card or mockup template agree too.

An embedding link between images farther apart than `near_dup_bits` may also require colours
within `link_colour_diff` (off by default): that keeps neighbouring shots of one street apart at
a cost in crop and rotation recall (docs/benchmarks.md, "Held out").
The thresholds and their evidence are in docs/benchmarks.md ("Near duplicates on real photos").
The thumbnails and their colour and tone measures are in curate.filters.thumbnails (their names stay
importable from here); the links confirmed on stored pixels in curate.filters.pixel_links.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from curate.filters.pixel_links import (
    _add_frame_links,
    _add_panel_links,
    _add_patch_links,
    _add_portrait_links,
    _add_turn_links,
    _add_window_links,
)
from curate.filters.thumbnails import (  # noqa: F401 (re-exported: verify.THUMB_BYTES and the rest are read widely)
    THUMB_BYTES,
    THUMB_HEIGHT,
    THUMB_WIDTH,
    colour_difference_of,
    compute_thumbnails,
    mirrored_thumbnails,
    thumbnail_bytes,
    tone_difference_of,
    tone_hashes,
)

if TYPE_CHECKING:
    from curate.filters.pair_scores import PairScores
    from curate.filters.portraits import StripHashes

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
# ... and its overlap match (two crops of one picture, neither inside the other: pixel_scores.overlap_score), on pairs
# at least this close; chosen on real crops, Lund shots and 15-Scene look-alikes (bench/neardup.py overlaps;
# docs/benchmarks.md, "Overlap match").
DEFAULT_OVERLAP_COSINE = 0.80
DEFAULT_OVERLAP_SCORE = 0.90
DEFAULT_OVERLAP_PAIRS = 1_000  # overlap-only candidate pairs matched at most, closest first (~65 ms a pair)
# The patch match (curate.filters.patches): off unless asked for (a share, or auto: calibration's)
DEFAULT_PATCH_SHARE = None
EMBEDDING_BACKBONE = "efficientnet_lite0"  # the cosine thresholds were measured on this backbone's vectors
PAIR_BATCH = 16_384  # pairs (or images) whose thumbnails are in memory at once (the tone check: ~0.3 GB)


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
    read_grey: Callable[[int], np.ndarray | None] | None = None  # position -> pixel_scores.grey_view, or None
    owners: np.ndarray | None = None  # int64 owner code per image (-1: none), for the calibration's sequences
    taken: np.ndarray | None = None  # int64 microseconds taken_at per image (NO_TIME: none)
    lat: np.ndarray | None = None  # float64 latitude per image (NaN: none), for owner-less walks
    lon: np.ndarray | None = None  # float64 longitude per image (NaN: none)
    turned: np.ndarray | None = None  # uint64 quarter-turn pHashes (`phash.quarter_turn_phash`), or None
    halfturned: np.ndarray | None = None  # uint64 half-turn pHashes (`phash.half_turn_phash`), or None
    # the window match's pair scores of earlier runs (curate.filters.pair_scores; new ones are added), with
    # image_keys (positions -> sha256, what they are kept by), or None: every pair scored on its pixels
    pair_scores: PairScores | None = None
    image_keys: Callable[[np.ndarray], Sequence[str | None]] | None = None
    # (n, 2) uint64 pHashes of each collage's two panels (`panels.panel_phashes`) and which rows have them, or None
    panels: np.ndarray | None = None
    has_panels: np.ndarray | None = None
    # strip hashes of portraits (9:16, or other portraits' own 9:16 windows) and of landscape photos' 9:16 windows
    # (`portraits.parse_strip_phashes`), or None
    strips: StripHashes | None = None

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


def link_pairs(evidence: Evidence, rule: LinkRule, workers: int = 1,
               overlaid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(first, second, counts): the linked index pairs and how many links each kind of evidence made.

    counts has keys hash_colour (hash candidate, colours agree), hash_tone (hash candidate,
    colours differ, tones agree: `tone_difference_of`), hash_unverified (no thumbnails),
    hash_embedding (hash candidate, colours and tones differ, embeddings agree) and
    embedding (cosine >= rule.cosine, pHashes within cosine_max_bits and, beyond max_bits,
    colours within link_colour_diff; not already a hash link); with evidence.read_grey, thumbnails and
    rule.window_score set, hash_overlay, overlay_candidates, overlay_matched and overlay_unreadable (`_overlay_links`:
    hash candidates none of those confirmed whose grey views differ one way only); then, with evidence.read_grey and
    thumbnails,
    patch, patch_candidates, patch_matched and patch_unreadable (`_add_patch_links`: pHash pairs the links so
    far leave apart whose patches agree, `curate.filters.patches`, when rule.patch_share is set) with
    patch_crowded and patch_crowded_images; frame, frame_candidates and frame_unreadable (`_add_frame_links`:
    candidates that meet only through a border-trimmed view, confirmed with the borders cut off); turn,
    turn_candidates and turn_unreadable (`_add_turn_links`); panel, panel_candidates and panel_unreadable
    (`_add_panel_links`: a collage and a photo set in it, with `Evidence.panels`; panel_at, the position of the
    first of them in first/second, the others following it, collage first, the panel_first links of its first panel
    before those of its second); portrait, portrait_candidates and
    portrait_unreadable (`_add_portrait_links`: a 9:16, 4:5 or 2:3 crop of a landscape photo, with
    `Evidence.strips`), with portrait_panel and portrait_panel_first (those that fall in one panel of a collage,
    moved among that panel's links: `_sided_portrait_links`; portrait still counts them, panel does not); then
    window (a pair left in different
    clusters by those links whose cosine is at least rule.window_cosine and whose pixels match as a
    window, or whose cosine is at least rule.overlap_cosine and whose pixels overlap as two crops of one
    picture, `curate.filters.windows`; only with evidence.read_grey), with window_overlap (the overlap
    links among them), window_candidates, window_matched (at most rule.window_pairs),
    overlap_candidates, overlap_matched (at most rule.overlap_pairs) and window_unreadable. `workers`:
    processes for the window match's scores (`windows.window_links`). `overlaid` (a bool array, one per image):
    set where the overlay check found an image to be the side of its link that carries the overlay
    (`overlay.overlay_copy`), what the keep rule puts after its original.
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
        if evidence.read_grey is not None and rule.window_score is not None:
            confirmed = linked.copy()
            linked |= _overlay_links(evidence, rule, first, second, mirrored, linked, counts, overlaid)
            if overlaid is not None:
                _mark_overlaid(evidence, rule, first[confirmed], second[confirmed], mirrored[confirmed], overlaid)
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
    if evidence.panels is not None and evidence.has_panels is not None and evidence.has_panels.any() \
            and evidence.read_grey is not None and rule.window_score is not None:
        counts["panel_at"] = len(first)  # the panel links come next, consecutive (`collages.bridging_collages`)
        first, second = _add_panel_links(evidence, rule, first, second, counts)
    if evidence.strips is not None and evidence.read_grey is not None and rule.window_score is not None:
        first, second, sides = _add_portrait_links(evidence, rule, first, second, counts)
        first, second = _sided_portrait_links(first, second, sides, counts)
    if evidence.vectors is not None and evidence.read_grey is not None and rule.window_score is not None:
        first, second = _add_window_links(evidence, rule, first, second, counts, workers)
    return first, second, counts


def _sided_portrait_links(first: np.ndarray, second: np.ndarray, sides: np.ndarray, counts: dict[str, int]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The links with the portrait links (the last len(sides)) that fall in one panel of a collage (`sides` 0 or 1,
    `_add_portrait_links`) moved among the panel links, as the collage's (collage first) on that panel's side: the
    first panel's after its panel links, the second's after those; counts gains portrait_panel and
    portrait_panel_first (how many, and how many of the first panel: `collages.bridging_collages` reads the panel
    links as panel + portrait_panel from panel_at, the panel_first + portrait_panel_first of the first panel
    first). Review DU 4: a crop linked only to a collage's window shared the collage's cluster, so it was dropped
    with the collage as one, and a reviewer's keep of the crop kept the collage, joined to both its pictures; as a
    panel's link it is a copy of that panel's picture.

    >>> counts = {"panel_at": 1, "panel": 2, "panel_first": 1}
    >>> # link 0-1; panel links 5-2 (first panel), 5-3 (second); portrait links 4-5 (second panel), 6-7 (no collage)
    >>> first, second = _sided_portrait_links(np.array([0, 5, 5, 4, 6]), np.array([1, 2, 3, 5, 7]), np.array([1, -1]),
    ...                                       counts)
    >>> list(zip(first.tolist(), second.tolist())), counts["portrait_panel"], counts["portrait_panel_first"]
    ([(0, 1), (5, 2), (5, 3), (5, 4), (6, 7)], 1, 0)
    """
    sided = sides >= 0
    if "panel_at" not in counts or not sided.any():
        counts.update(portrait_panel=0, portrait_panel_first=0)
        return first, second
    at, panels, on_first = counts["panel_at"], counts["panel"], counts["panel_first"]
    start = len(first) - len(sides)
    portrait, landscape = first[start:], second[start:]
    block_first = [first[:at], first[at:at + on_first], landscape[sides == 0], first[at + on_first:at + panels],
                   landscape[sides == 1], first[at + panels:start], portrait[~sided]]
    block_second = [second[:at], second[at:at + on_first], portrait[sides == 0], second[at + on_first:at + panels],
                    portrait[sides == 1], second[at + panels:start], landscape[~sided]]
    counts.update(portrait_panel=int(sided.sum()), portrait_panel_first=int((sides == 0).sum()))
    return np.concatenate(block_first), np.concatenate(block_second)


def _overlay_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray, mirrored: np.ndarray,
                   linked: np.ndarray, counts: dict[str, int], overlaid: np.ndarray | None = None) -> np.ndarray:
    """Which hash candidates the checks so far left apart are a photo under a bright or dark overlay (a tiled
    watermark), confirmed on their grey views (`curate.filters.overlay`); counts gains hash_overlay (links),
    overlay_candidates, overlay_matched and overlay_unreadable; `overlaid` (when given) is set at the images
    found to carry the overlay."""
    from curate.filters import neardup, overlay

    mirrors, _ = evidence.views()
    apart = ~linked
    a, b, flips = first[apart], second[apart], mirrored[apart]
    bits = np.where(flips, neardup.hamming_distance(evidence.hashes[a], mirrors[b]),
                    neardup.hamming_distance(evidence.hashes[a], evidence.hashes[b]))
    found, side, matched, unreadable = overlay.overlay_links(evidence, rule, a, b, flips, bits)
    if overlaid is not None:
        overlaid[a[side == 0]] = True
        overlaid[b[side == 1]] = True
    counts.update(hash_overlay=int(found.sum()), overlay_candidates=len(a), overlay_matched=matched,
                  overlay_unreadable=unreadable)
    out = np.zeros(len(first), bool)
    out[np.flatnonzero(apart)[found]] = True
    return out


# Thumbnail colours (`colour_difference_of`) at least this far apart: a pair the colour, tone or embedding check
# linked is also judged by the overlay check, for the keep rule only (`_mark_overlaid`): real photos under the
# audit's white watermark or a dark one read 1.55-9.9 (a light one passes the colour check), their re-encodes at
# JPEG q60 at most 0.75 and their downscales 0.3 (40 real photos, review DT). Scaled by the room the pair leaves an
# overlay as the overlay check's step is (`_mark_colour_limits`): white text on a bright photo moves its thumbnails
# less (audit DY F1: 0.72 and 0.84 at grey means 191 and 162)
MARK_COLOUR_DIFF = 1.0


def _mark_overlaid(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray, mirrored: np.ndarray,
                   overlaid: np.ndarray) -> None:
    """Set `overlaid` at the images of hash links that another check made (colours, tones, embeddings) that carry
    an overlay their linked image lacks (`overlay.overlay_copy`): a light watermark often leaves the thumbnails
    within the colour limit. Only pairs whose thumbnails differ by MARK_COLOUR_DIFF or more are read (a plain
    re-encode or resize is not), the closest rule.window_pairs of them."""
    from curate.filters import neardup, overlay

    if not len(first):
        return
    judged = _pair_colours(evidence, first, second, mirrored) >= _mark_colour_limits(evidence, first, second)
    a, b, flips = first[judged], second[judged], mirrored[judged]
    mirrors, _ = evidence.views()
    bits = np.where(flips, neardup.hamming_distance(evidence.hashes[a], mirrors[b]),
                    neardup.hamming_distance(evidence.hashes[a], evidence.hashes[b]))
    _, side, _, _ = overlay.overlay_links(evidence, rule, a, b, flips, bits)
    overlaid[a[side == 0]] = True
    overlaid[b[side == 1]] = True


def _mark_colour_limits(evidence: Evidence, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """MARK_COLOUR_DIFF for each index pair, scaled by the room its thumbnails leave an overlay as the overlay
    check's step is (`overlay.OVERLAY_ROOM`, at least `OVERLAY_NOISE / OVERLAY_STEP` of it): the smaller of the
    darker thumbnail's mean room under white (255 less its mean) and the lighter one's above black (its mean).

    >>> from curate.filters.thumbnails import THUMB_HEIGHT, THUMB_WIDTH
    >>> grey = lambda level: np.full((1, THUMB_WIDTH * THUMB_HEIGHT * 3), level, np.uint8)
    >>> evidence = Evidence(np.zeros(6, np.uint64), np.zeros(6, np.uint64),
    ...                     np.concatenate([grey(level) for level in (120, 130, 190, 200, 250, 252)]))
    >>> [round(float(limit), 2) for limit in _mark_colour_limits(evidence, np.array([0, 2, 4]), np.array([1, 3, 5]))]
    [1.0, 0.51, 0.25]
    """
    from curate.filters import overlay

    if evidence.thumbs is None:
        return np.full(len(first), MARK_COLOUR_DIFF)
    room = np.empty(len(first), dtype=np.float64)
    for start in range(0, len(first), PAIR_BATCH):  # bounded memory, as `_pair_colours`
        batch = slice(start, start + PAIR_BATCH)
        one, other = (evidence.thumbs[rows[batch]].mean(axis=1) for rows in (first, second))
        room[batch] = np.minimum(255 - np.minimum(one, other), np.maximum(one, other))
    scale = np.clip(room / overlay.OVERLAY_ROOM, overlay.OVERLAY_NOISE / overlay.OVERLAY_STEP, 1)
    return MARK_COLOUR_DIFF * scale


def _add_tone_candidates(evidence: Evidence, max_bits: int, first: np.ndarray, second: np.ndarray,
                         mirrored: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pHash candidates plus pairs whose `tone_hashes` are within max_bits (unmirrored), each once; not two
    framed images (both with a trimmed hash) unless their pHashes are all but the same (neardup.mirror_pairs: one
    app's frame makes the thumbnails of two different photos' screenshots agree, audit DF 5)."""
    from curate.filters import neardup

    n = len(evidence.hashes)
    real = np.ones(n, bool) if evidence.has_thumb is None else evidence.has_thumb
    rows = np.flatnonzero(real)  # a missing thumbnail is zeros: it would pair with every flat image
    tones = np.empty(len(rows), dtype=np.uint64)
    for start in range(0, len(rows), PAIR_BATCH):  # thumbs may be memory-mapped: a batch in memory at a time
        tones[start:start + PAIR_BATCH] = tone_hashes(evidence.thumbs[rows[start:start + PAIR_BATCH]])
    tone_first, tone_second = (rows[side] for side in neardup.near_duplicate_pairs(tones, max_bits))
    hashes, (_, trimmed) = np.asarray(evidence.hashes, dtype=np.uint64), evidence.views()
    framed = np.asarray(trimmed, dtype=np.uint64) != hashes  # two framed images: their thumbnails are most frame
    apart = neardup.hamming_distance(hashes[tone_first], hashes[tone_second]) > neardup.FRAMED_WHOLE_BITS
    new = ~np.isin(tone_first * n + tone_second, first * n + second) & ~(framed[tone_first] & framed[tone_second]
                                                                           & apart)
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
