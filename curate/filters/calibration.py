"""Calibration on the collection itself: do its pHashes and its embeddings tell different photos apart?

`calibrate` measures it (`Crowding`); `calibrated_rule` turns the measurement into the collection's
`LinkRule` (curate.filters.verify): where the pHashes tell photos apart, the limits chosen on real
photos (colour 8, tone 5); where they do not (the demo), the strict ones (colour 4, tone off); and
embeddings that call far-apart photos alike are not used. The evidence is in docs/benchmarks.md
("Calibrated on the collection").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from curate.filters.verify import (
    DEFAULT_COLOUR_DIFF,
    DEFAULT_LINK_COLOUR_DIFF,
    DEFAULT_NEAR_DUP_COSINE,
    DEFAULT_OVERLAP_PAIRS,
    DEFAULT_OVERLAP_SCORE,
    DEFAULT_VERIFY_COSINE,
    DEFAULT_WINDOW_PAIRS,
    DEFAULT_WINDOW_SCORE,
    Evidence,
    LinkRule,
)
from curate.groups import SESSION_GAP_S, SESSION_KM, walk_km

# Calibration on the collection itself (`calibrate`): whether its pHashes and its embeddings tell
# different photos apart. Of random pairs of distinct images, 9-12 pHash bits apart (just beyond
# near_dup_bits 8, where few copies are): real photos 1.5e-5 (5,596 photos of ../shared/realdata),
# the procedural demo 2.3e-3 (its pictures are recoloured layouts). Cosine >= 0.90 and more than
# EMBEDDING_FAR_BITS apart (where copies seldom are): real 0 (ImageNet sample, Ferraris) to
# 1.3e-5 (the scenes scrape's look-alike 15-Scene photos), the demo 5.6e-4 (4.1e-4 less the pairs that look
# like one photo's copies, `_explained_by_copies`). CROWDED_SHARE sits
# between them (docs/benchmarks.md, "Calibrated on the collection").
CROWDED_SHARE = 2e-4
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
# One photographer's sequence: two images by one owner taken at most this many seconds apart, or two
# without an owner taken that close in time and within SESSION_KM km (a walk: the split's rule, curate.groups).
# Its frames are alike and often far apart in pHash, yet say nothing about whether the backbone or the
# hashes confuse *different* photos: a real 65-frame pan among 90 other real photos read "hashes crowded"
# (4.2e-3) and "embedding links off" (1.0e-2) until such pairs were set aside (docs/benchmarks.md, "One
# photographer's sequence set aside").
SEQUENCE_GAP_S = SESSION_GAP_S
AUTO = "auto"
# The hash limits for a collection whose pHashes tell photos apart, chosen on the fit half of real photos
# with real edits and held on the other half (bench/neardup_real.py): colour 8 (a pair of different
# 15-Scene Highway photos 8 bits apart differs by 9.4), tone 5 (that pair: 5.9).
COLOUR_DIFF_FOR_REAL_PHOTOS = 8.0
# The tone check (`near_dup_tone_diff`): on real photos 5.0 was chosen on the fit half of the
# real-edit set and held on the other (bench/neardup_real.py; docs/benchmarks.md, "Tone curves"):
# below a pair of different 15-Scene Highway photos 8 pHash bits apart (tone difference 5.9), above
# most gamma 1/2.5-2.5 copies. It is the `auto` value only where the pHashes tell photos apart
# (`calibrate`): the procedural demo draws different pictures as recoloured layouts that it joins
# (burst precision 0.99 -> 0.58 on the 3,000-photo demo at 5.0).
TONE_DIFF_FOR_REAL_PHOTOS = 5.0
# The patch match (`near_dup_patch_share`, curate.filters.patches), when asked for with `auto`: 0.80, above the
# highest score of any pair of different real photos 9-16 pHash bits apart (0.25; 9,770 pairs of
# ../shared/realdata) and below most of audit I's sticker and meme copies within 12 bits (0.81 and more). Only
# where the pHashes tell photos apart: the procedural demo's different pictures, recoloured layouts, agree patch
# for patch. Off unless asked for: different photos in one frame, card or mockup template agree too (audit L,
# docs/cleaning-duplicates.md "Stickers, logos, captions, sepia").
PATCH_SHARE_FOR_REAL_PHOTOS = 0.80
# ... and for a crowded one (or too few images to tell): the stricter limits the procedural demo needs,
# whose different pictures share pHashes within 2 bits (real photos are only stricter-checked by them).
COLOUR_DIFF_CROWDED = DEFAULT_COLOUR_DIFF
TONE_DIFF_CROWDED = None
OVERRIDE_HINT = "--near-dup-crowded-share off (a recipe's near_dup_crowded_share = \"off\")"


@dataclass(frozen=True)
class HashLimits:
    """The colour and tone limits a rule applied, and whether each was given (a flag or a recipe key) or
    chosen by the calibration (`auto`)."""

    colour_diff: float
    tone_diff: float | None
    colour_given: bool = False
    tone_given: bool = False

    def describe(self) -> str:
        """'colour <= 8 (given: --near-dup-colour-diff), tone check off (calibrated)', for a note."""
        colour = f"colour <= {self.colour_diff:g} ({_source(self.colour_given, 'colour')})"
        tone = "tone check off" if self.tone_diff is None else f"tone <= {self.tone_diff:g}"
        return f"{colour}, {tone} ({_source(self.tone_given, 'tone')})"


def _source(given: bool, name: str) -> str:
    return f"given: --near-dup-{name}-diff" if given else "calibrated"


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
    hash_sequence_share: float = 0.0  # band pairs set aside: one photographer's sequence (`one_sequence`)
    embedding_sequence_share: float = 0.0  # far alike pairs set aside: one photographer's sequence
    limits: HashLimits | None = None  # the limits applied (`calibrated_rule` fills it); None: as calibrated

    def notes(self, limit: float, hash_limits: bool = True) -> list[str]:
        """One line per measurement, for the filter's notes (hash_limits False: no thumbnails to apply them)."""
        lines = []
        if not hash_limits:
            pass
        elif self.hash_share is None:
            lines.append(f"near-duplicate hashes not calibrated ({self.images} distinct images are too few to "
                         f"calibrate on, at least {MIN_CALIBRATION_IMAGES}): {self._limits_text(True)}")
        else:
            verdict = (f"crowded (above {limit:g})" if self.hashes_crowded else "distinct")
            set_aside = (f", {self.hash_copies_share:.1e} more set aside as copies the embeddings confirm"
                         if self.hash_copies_share else "") + _sequence_text(self.hash_sequence_share)
            line = (f"near-duplicate hashes {verdict}: {self._limits_text(self.hashes_crowded)} ({self.hash_share:.1e} "
                    f"of random pairs of images within {CROWDING_MARGIN_BITS} bits beyond the limit{set_aside}; "
                    "real photos ~1.5e-5)")
            if self.hashes_crowded and not (self.limits and self.limits.colour_given and self.limits.tone_given):
                line += ("; many cropped or rotated copies of the same photos read like this too: if they are the "
                         f"cause, --near-dup-colour-diff {COLOUR_DIFF_FOR_REAL_PHOTOS:g} --near-dup-tone-diff "
                         f"{TONE_DIFF_FOR_REAL_PHOTOS:g} set the real-photo limits")
            lines.append(line)
        if self.embedding_share is not None and self.embeddings_crowded:
            set_aside = (f", {self.embedding_copies_share:.1e} more set aside as a photo's own copies"
                         if self.embedding_copies_share else "") + _sequence_text(self.embedding_sequence_share)
            lines.append(f"embedding links off: the embeddings call images alike that are not one photo's copies "
                         f"({self.embedding_share:.1e} of random pairs of images far apart in pHash are above the "
                         f"link cosine and alike to more than {MAX_COPIES} images or to none in common{set_aside}; "
                         f"limit {limit:g}, real photos 0-1.3e-5, the demo 4e-4); near-duplicates are linked on pHash "
                         f"and thumbnails only. If these are copies of the same photos after all (more than "
                         f"{MAX_COPIES} heavily cropped or rotated copies of each), {OVERRIDE_HINT} keeps the "
                         "embedding links on")
        return lines

    def _limits_text(self, strict: bool) -> str:
        """The limits applied, each with where it came from; the calibrated ones when `limits` is unset."""
        calibrated = _calibrated_limits(strict)
        applied = self.limits or calibrated
        kind = "strict" if strict else "real-photo"
        if not (applied.colour_given or applied.tone_given):
            return f"{kind} limits, {applied.describe()}"
        return (f"limits {applied.describe()}; calibration alone would use the {kind} ones, colour <= "
                f"{calibrated.colour_diff:g}, " + ("tone check off" if calibrated.tone_diff is None
                                                    else f"tone <= {calibrated.tone_diff:g}"))


def _sequence_text(share: float) -> str:
    return (f", {share:.1e} more set aside as one photographer's sequences (one owner, within "
            f"{SEQUENCE_GAP_S // 60} minutes)" if share else "")


def one_sequence(evidence: Evidence, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Which index pairs are one photographer's sequence: both taken_at known and at most SEQUENCE_GAP_S
    apart, and one owner; or no owner for either and both positions within SESSION_KM km (a walk, as the
    split groups them). All False without owners or times.

    >>> e = Evidence(np.zeros(6, np.uint64), owners=np.array([0, 0, 0, -1, -1, -1]),
    ...              taken=np.array([0, 30, 7200, 10, 40, 50], np.int64) * 1_000_000,  # microseconds
    ...              lat=np.array([55.7, 55.7, 55.7, 55.7, 55.701, 56.0]), lon=np.full(6, 13.19))
    >>> one_sequence(e, np.array([0, 0, 0, 3, 3]), np.array([1, 2, 3, 4, 5])).tolist()  # 5 is 33 km away
    [True, False, False, True, False]
    """
    from curate.filters.verify import NO_TIME

    if evidence.owners is None or evidence.taken is None:
        return np.zeros(len(first), bool)
    owner, taken, gap = evidence.owners, evidence.taken, SEQUENCE_GAP_S * 1_000_000
    dated = (taken[first] != NO_TIME) & (taken[second] != NO_TIME)
    close = np.abs(np.where(dated, taken[first] - taken[second], gap + 1)) <= gap
    owned = (owner[first] >= 0) & (owner[first] == owner[second])
    walk = np.zeros(len(first), bool)
    if evidence.lat is not None and evidence.lon is not None:
        ownerless = (owner[first] < 0) & (owner[second] < 0) & dated & close
        at = np.flatnonzero(ownerless)
        lat, lon = evidence.lat, evidence.lon
        km = walk_km(lat[first[at]], lon[first[at]], lat[second[at]], lon[second[at]])
        walk[at] = np.nan_to_num(km, nan=np.inf) <= SESSION_KM  # a missing position is no walk
    return (owned | walk) & dated & close


def _calibrated_limits(strict: bool) -> HashLimits:
    """The `auto` limits: the strict ones for a crowded (or uncalibrated) collection, else the real-photo ones."""
    if strict:
        return HashLimits(COLOUR_DIFF_CROWDED, TONE_DIFF_CROWDED)
    return HashLimits(COLOUR_DIFF_FOR_REAL_PHOTOS, TONE_DIFF_FOR_REAL_PHOTOS)


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
                        seed: int) -> tuple[int, float | None, float, np.ndarray | None, float]:
    """(embedded images, share of random pairs alike and far apart less those of one photographer's sequence
    and those explained by copies, the share set aside as copies, norms or None when too few are embedded,
    the share set aside as sequences)."""
    from curate.filters import embed_neighbours

    norms = embed_neighbours.row_norms(evidence.vectors)  # no unit copy of every vector: only the pairs' rows
    rows = np.flatnonzero(np.isfinite(norms) & (norms > 0))
    if len(rows) < MIN_CALIBRATION_IMAGES:
        return len(rows), None, 0.0, None, 0.0
    first, second = (rows[side] for side in _random_pairs(len(rows), pairs, seed + 1))
    vectors = np.asarray(evidence.vectors)
    hits = np.flatnonzero((_pair_bits(evidence, first, second) > far_bits)
                          & _pair_alike(vectors, norms, first, second, cosine))
    sequence = one_sequence(evidence, first[hits], second[hits])
    sequences = float(sequence.sum() / len(first))
    hits = hits[~sequence]
    raw = len(hits) / len(first)
    if raw <= limit:  # below the limit with copies counted as look-alikes: nothing to set aside (real photos)
        return len(rows), raw, 0.0, norms, sequences
    rng = np.random.default_rng(seed + 2)
    checked = hits if len(hits) <= COPY_CHECK_PAIRS else rng.choice(hits, COPY_CHECK_PAIRS, replace=False)
    copies = _explained_by_copies(vectors, norms, rows, first[checked], second[checked], cosine).mean()
    return len(rows), float(raw * (1 - copies)), float(raw * copies), norms, sequences


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
    colour-edited copies. In both, pairs of one photographer's sequence (`one_sequence`: a burst, a pan)
    are set aside first when the evidence has owners and times. Measured in docs/benchmarks.md,
    "Calibrated on the collection".

    >>> rng = np.random.default_rng(0)
    >>> spread = Evidence(rng.integers(0, 2**63, 300, dtype=np.uint64))
    >>> calibrate(spread, 8, None).hashes_crowded, calibrate(Evidence(spread.hashes[:50]), 8, None).hashes_crowded
    (False, True)
    >>> calibrate(Evidence(spread.hashes % 1024), 8, None).hashes_crowded  # every pair within 10 bits
    True
    """
    n = len(evidence.hashes)
    embedded, embedding_share, embedding_copies, norms, embedding_sequences = 0, None, 0.0, None, 0.0
    if evidence.vectors is not None and cosine is not None:
        embedded, embedding_share, embedding_copies, norms, embedding_sequences = _embedding_crowding(
            evidence, cosine, limit, far_bits, pairs, seed)
    embeddings_crowded = bool(embedding_share is not None and embedding_share > limit)
    hash_share, hashes_crowded, hash_copies, hash_sequences = None, True, 0.0, 0.0
    if n >= MIN_CALIBRATION_IMAGES:
        first, second = _random_pairs(n, pairs, seed)
        bits = _pair_bits(evidence, first, second)
        band = (bits > max_bits) & (bits <= max_bits + CROWDING_MARGIN_BITS)
        at = np.flatnonzero(band)
        sequence = one_sequence(evidence, first[at], second[at])  # burst frames: not different photos alike
        hash_sequences = float(sequence.sum() / len(first))
        band[at[sequence]] = False
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
                    hash_copies, embedding_copies, hash_sequences, embedding_sequences)


def calibrated_rule(evidence: Evidence, max_bits: int, *, colour_diff: float | str = AUTO,
                    tone_diff: float | str | None = AUTO, cosine: float | None = DEFAULT_NEAR_DUP_COSINE,
                    verify_cosine: float | None = DEFAULT_VERIFY_COSINE,
                    link_colour_diff: float | None = DEFAULT_LINK_COLOUR_DIFF,
                    crowded_share: float | None = CROWDED_SHARE,
                    window_score: float | None = DEFAULT_WINDOW_SCORE,
                    window_pairs: int = DEFAULT_WINDOW_PAIRS,
                    overlap_score: float | None = DEFAULT_OVERLAP_SCORE,
                    overlap_pairs: int = DEFAULT_OVERLAP_PAIRS,
                    patch_share: float | str | None = None) -> tuple[LinkRule, Crowding | None]:
    """The LinkRule for this collection: `AUTO` limits resolved by `calibrate`, and the embedding rules
    turned off when the embeddings are crowded. crowded_share None: no calibration (AUTO limits take
    the strict values, embeddings stay as given). patch_share: the patch match's cut, None (off) or `AUTO`
    (PATCH_SHARE_FOR_REAL_PHOTOS where the pHashes tell photos apart, else off)."""
    crowding = None
    if crowded_share is not None:
        crowding = calibrate(evidence, max_bits, cosine if cosine is not None else verify_cosine, limit=crowded_share,
                             confirm_cosine=verify_cosine if verify_cosine is not None else cosine)
    strict = crowding is None or crowding.hashes_crowded
    calibrated = _calibrated_limits(strict)
    limits = HashLimits(calibrated.colour_diff if colour_diff == AUTO else float(colour_diff),
                        calibrated.tone_diff if tone_diff == AUTO else tone_diff,
                        colour_given=colour_diff != AUTO, tone_given=tone_diff != AUTO)
    if crowding is not None:
        crowding = replace(crowding, limits=limits)
    if crowding is not None and crowding.embeddings_crowded:
        cosine = verify_cosine = window_score = overlap_score = None  # the window match's candidates: embeddings
    if patch_share == AUTO:
        patch_share = None if strict else PATCH_SHARE_FOR_REAL_PHOTOS
    return LinkRule(max_bits, limits.colour_diff, cosine, verify_cosine, link_colour_diff=link_colour_diff,
                    tone_diff=limits.tone_diff, window_score=window_score, window_pairs=window_pairs,
                    overlap_score=overlap_score if window_score is not None else None,
                    overlap_pairs=overlap_pairs, patch_share=patch_share), crowding
