"""Window match: is one photo a window of the other (a crop of it, or held inside it as a screenshot
holds its photo)? Pixel evidence for pairs the hashes and the embedding link leave apart.

A crop of 12-18 % off one side moves a pHash 17-24 bits, beyond the embedding link's 16-bit gate,
and no rule over pHashes, embeddings and 16x12 thumbnails separates such crops from real look-alikes
(the next frame of a highway drive, a second shot of one sea: docs/benchmarks.md, "Crops off one side
and screenshot frames"). The pixels do: a crop is the same picture, so once it is scaled and placed
inside its original, their fine detail agrees everywhere, where two different shots disagree as
soon as anything moved (parallax, waves, clouds, people).

The match: both photos as grey views of `VIEW_SIDE` px on their longer side; the smaller-looking one
(each way round) is scaled so that its limiting side spans a share of the other's between
`LOWEST_SHARE` and 1 (same aspect: a crop keeps its pixel scale), band-passed (difference of
Gaussians: fine detail, no shading) and slid over the other's band-passed view; the score is the
best zero-mean normalised cross-correlation (1: the same detail). A coarse pass at `COARSE_SIDE` px
finds the share each way round, a fine pass around it scores the better way. Brightness and contrast
do not matter (normalised);
rotation and mirroring are not looked for (the other rules find them).

Only candidate pairs are matched: pairs whose embeddings have at least the window cosine, that no
other link joined, and whose 16x12 thumbnails agree once one is placed as a window of the other
(`aligned_difference`, a pre-gate that decodes nothing), at most `max_pairs` of them, closest first
(`window_links`). An image is decoded once (its grey view is kept while pairs need it). The scores are kept
between filter runs by the two images' sha256 (curate.filters.pair_scores): a pair scored before is decided
again from its scores, at whatever thresholds, without decoding.
Thresholds and their evidence: docs/benchmarks.md ("Window match").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from curate.progress import progress_bar, working

if TYPE_CHECKING:
    from curate.filters.pair_scores import PairScores

VIEW_SIDE = 128  # the grey view's longer side (px): real crops score >= 0.91, different photos <= 0.82 (bench)
COARSE_SIDE = 64
LOWEST_SHARE = 0.60  # the inner photo spans at least this share of the outer's limiting side (a 40 % crop)
COARSE_STEP, FINE_STEP = 0.02, 0.005
_RIM = 2  # px of the scaled inner view left out (the band-pass filter's edge)
_FINE_SIGMA, _COARSE_SIGMA = 0.7, 3.0  # difference of Gaussians at VIEW_SIDE (scaled with the view)
_MIN_SIDE = 12  # a scaled inner view smaller than this is not matched

# The thumbnail pre-gate (`aligned_difference`): a candidate is matched on its pixels only when one 16x12
# thumbnail agrees with a window of the other within PRE_GATE (mean absolute luma difference, 0-255).
PRE_SHARES = np.round(np.arange(LOWEST_SHARE, 1.0 + 1e-9, 0.05), 2)  # window side / thumbnail side, per axis
PRE_OFFSETS = (0.0, 0.5, 1.0)  # the window's place along the slack: an edge, the middle, the other edge
PRE_GATE = 14.0

GreyReader = Callable[[int], "np.ndarray | None"]  # image position -> grey view (None: unreadable)


def grey_view(image: Image.Image, side: int = VIEW_SIDE) -> np.ndarray:
    """The image in grey (ITU-R 601 luma), its longer side `side` px (box filter), as float32."""
    grey = image.convert("L")
    width, height = grey.size
    scale = side / max(width, height)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    return np.asarray(grey.resize(size, Image.BOX), dtype=np.float32)


def stored_grey_view(location) -> np.ndarray | None:
    """The grey view of a stored image (a local path or an object-store URL, `curate.objectstore.locate`),
    decoded at a reduced scale where the format allows; None when it cannot be read (the filter's note
    counts those). What both engines' readers give the window match."""
    from curate.store import open_rgb

    try:
        return grey_view(open_rgb(location, min_side=VIEW_SIDE))
    except Exception:  # an unreadable file is not matched
        return None


def _band(grey: np.ndarray, scale: float) -> np.ndarray:
    """Difference of Gaussians (σ _FINE_SIGMA and _COARSE_SIGMA, times `scale`): scipy's gaussian_filter,
    its kernels made once (they were a third of the match's time)."""
    from scipy import ndimage

    out = []
    for sigma in (_FINE_SIGMA * scale, _COARSE_SIGMA * scale):
        kernel = _gaussian_kernel(round(sigma, 6))
        out.append(ndimage.correlate1d(ndimage.correlate1d(grey, kernel, axis=0, mode="reflect"), kernel, axis=1,
                                       mode="reflect"))
    return out[0] - out[1]


@lru_cache(maxsize=8)
def _gaussian_kernel(sigma: float) -> np.ndarray:
    """The 1-D kernel `scipy.ndimage.gaussian_filter` uses for `sigma` (truncated at 4 σ)."""
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 / (sigma * sigma) * x * x)
    return kernel / kernel.sum()


def _resized(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(Image.fromarray(grey).resize((width, height), Image.BILINEAR), dtype=np.float32)


class _Outer:
    """A band-passed view with what template matching needs: its FFT and running sums."""

    def __init__(self, grey: np.ndarray, scale: float):
        self.band = _band(grey, scale)
        self.spectrum = np.fft.rfft2(self.band)  # circular correlation: the placements inside do not wrap
        self.sums = np.pad(self.band, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
        self.squares = np.pad(self.band * self.band, ((1, 0), (1, 0))).cumsum(0).cumsum(1)

    def best_correlation(self, template: np.ndarray) -> float:
        """The highest zero-mean normalised cross-correlation of `template` over every placement."""
        height, width = self.band.shape
        h, w = template.shape
        if h > height or w > width:
            return -1.0
        template = template - template.mean()
        norm = float(np.sqrt((template * template).sum()))
        if norm < 1e-6:
            return -1.0
        padded = np.zeros_like(self.band)
        padded[:h, :w] = template
        product = np.fft.irfft2(self.spectrum * np.conj(np.fft.rfft2(padded)), self.band.shape)
        product = product[:height - h + 1, :width - w + 1]
        s, q = self.sums, self.squares
        total = s[h:, w:] - s[:-h, w:] - s[h:, :-w] + s[:-h, :-w]
        squares = q[h:, w:] - q[:-h, w:] - q[h:, :-w] + q[:-h, :-w]
        variance = squares - total * total / (h * w)
        textured = variance > 1e-3 * norm * norm  # a flat window cannot hold a textured picture
        if not textured.any():
            return -1.0
        return float((product[textured] / (norm * np.sqrt(variance[textured]))).max())


def _region(inner: tuple[int, int], outer: tuple[int, int], share: float) -> tuple[int, int]:
    """(height, width) in the outer view of an inner picture whose limiting side spans `share` of the outer's."""
    aspect = inner[1] / inner[0]
    width, height = outer[1] * share, outer[1] * share / aspect
    if height > outer[0]:
        height, width = outer[0] * share, outer[0] * share * aspect
    return int(round(height)), int(round(width))


def _best_share(inner: np.ndarray, outer: _Outer, shares: np.ndarray, scale: float) -> tuple[float, float | None]:
    best = (-1.0, None)
    for share in shares:
        height, width = _region(inner.shape, outer.band.shape, float(share))
        if min(height, width) < _MIN_SIDE:
            continue
        template = _band(_resized(inner, height, width), scale)[_RIM:-_RIM, _RIM:-_RIM]
        score = outer.best_correlation(template)
        if score > best[0]:
            best = (score, float(share))
    return best


def window_score(first: np.ndarray, second: np.ndarray) -> float:
    """How well one grey view (`grey_view`) matches a window of the other, either way round: the best
    normalised cross-correlation of their band-passed detail, in [-1, 1] (1: one is a crop of the other).

    >>> rng = np.random.default_rng(0)
    >>> photo = Image.fromarray(rng.integers(0, 256, (75, 100), dtype=np.uint8)).resize((400, 300), Image.BICUBIC)
    >>> crop = photo.crop((60, 0, 400, 300))  # 15 % off the left
    >>> other = Image.fromarray(rng.integers(0, 256, (300, 400), dtype=np.uint8))
    >>> view = grey_view(photo)
    >>> round(window_score(view, grey_view(crop)), 1), window_score(view, grey_view(other)) < 0.3
    (1.0, True)
    """
    return _coarse_then_fine(first, second, lambda inner, outer, shares, scale: _best_share(
        inner, _Outer(outer, scale), shares, scale), (LOWEST_SHARE, 1.0), COARSE_STEP, FINE_STEP, COARSE_STEP)


ShareScorer = Callable[[np.ndarray, np.ndarray, np.ndarray, float], "tuple[float, float | None]"]


def _coarse_then_fine(first: np.ndarray, second: np.ndarray, score_at: ShareScorer, shares: tuple[float, float | None],
                      coarse_step: float, fine_step: float, reach: float) -> float:
    """The best score of `score_at(inner, outer, shares, scale)` -> (score, share): a coarse pass at
    COARSE_SIDE px over shares from shares[0] to 1 in `coarse_step`s each way round, then a fine pass at
    VIEW_SIDE px, the better way round, within `reach` of its share in `fine_step`s (clipped to `shares`;
    an upper bound None lets it pass 1). -1 when no share fits."""
    lowest, highest = shares
    coarse_shares = np.round(np.arange(lowest, 1.0 + 1e-9, coarse_step), 4)
    coarse_scale = COARSE_SIDE / VIEW_SIDE
    coarse = []  # (coarse score, share, inner, outer) each way round; the better way is scored fine
    for inner, outer in ((first, second), (second, first)):
        score, share = score_at(_shrunk(inner), _shrunk(outer), coarse_shares, coarse_scale)
        if share is not None:
            coarse.append((score, share, inner, outer))
    if not coarse:
        return -1.0
    _, share, inner, outer = max(coarse, key=lambda found: found[0])
    fine = np.clip(np.arange(share - reach, share + reach + 1e-9, fine_step), lowest, highest)
    return score_at(inner, outer, np.unique(np.round(fine, 4)), 1.0)[0]


def _shrunk(grey: np.ndarray) -> np.ndarray:
    height, width = grey.shape
    scale = COARSE_SIDE / max(height, width)
    return np.asarray(Image.fromarray(grey).resize((max(8, round(width * scale)), max(8, round(height * scale))),
                                                   Image.BOX), dtype=np.float32)


# The overlap match: two crops of one picture, neither inside the other (15-Scene holds such pairs: one
# photo cut twice, or zoomed 1.5x and more). Both views are scaled so that one's longer side spans a share
# of the other's between OVERLAP_LOWEST_SHARE and 1, band-passed like the window match, and every placement
# where they share at least OVERLAP_MIN_AREA of the smaller picture is scored (zero-mean normalised
# cross-correlation over the shared part only). More placements than the window match's, so chance scores run
# higher: its candidates need a closer cosine and its own score (verify.DEFAULT_OVERLAP_*; bench/neardup.py
# overlaps, docs/benchmarks.md "Overlap match").
OVERLAP_LOWEST_SHARE = 0.40  # a zoom of up to 2.5x
OVERLAP_MIN_AREA = 0.50  # the shared part covers at least half of the smaller picture
_OVERLAP_COARSE_STEP, _OVERLAP_FINE_STEP = 0.025, 0.01


def _box_sums(cumulative: np.ndarray, rows: tuple[np.ndarray, np.ndarray], cols: tuple[np.ndarray, np.ndarray]):
    """Sums over the rectangles [rows[0], rows[1]) x [cols[0], cols[1]) of the array whose padded 2-D
    cumulative sum is `cumulative`, every row range against every column range."""
    (r0, r1), (c0, c1) = rows, cols
    strips = cumulative[r1] - cumulative[r0]  # each row range's column sums so far (whole rows: cheap)
    return np.take(strips, c1, axis=1) - np.take(strips, c0, axis=1)


def _cumulative(band: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D cumulative sums of `band` and of its square, with a leading row and column of zeros."""
    out = []
    for values in (band, band * band):
        padded = np.zeros((values.shape[0] + 1, values.shape[1] + 1), np.float64)
        np.cumsum(values, axis=0, out=padded[1:, 1:])
        np.cumsum(padded[1:, 1:], axis=1, out=padded[1:, 1:])
        out.append(padded)
    return out[0], out[1]


def _overlap_ranges(fixed: int, moving: int, least: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray],
                                                                     tuple[np.ndarray, np.ndarray]]:
    """The shifts d of a moving axis of `moving` px over a fixed one of `fixed` px (the moving start in
    fixed coordinates) whose shared span is at least `least` px: (their index into the full correlation,
    the span in fixed coordinates, the span in moving coordinates)."""
    shift = np.arange(-(moving - 1), fixed)
    start, stop = np.maximum(shift, 0), np.minimum(shift + moving, fixed)
    keep = stop - start >= least
    shift, start, stop = shift[keep], start[keep], stop[keep]
    return shift + moving - 1, (start, stop), (start - shift, stop - shift)


def _best_overlap(fixed: np.ndarray, fixed_sums: tuple[np.ndarray, np.ndarray], moving: np.ndarray) -> float:
    """The best zero-mean normalised cross-correlation of two band-passed views over every relative shift
    whose shared part covers at least OVERLAP_MIN_AREA of the smaller view (`fixed_sums`: `_cumulative` of
    `fixed`); -1 when none does, or the shared part is flat."""
    height, width = fixed.shape
    h, w = moving.shape
    need = OVERLAP_MIN_AREA * min(height * width, h * w)
    # a shared part of `need` px needs at least need / (the longest shared span the other way) px each way
    rows, fixed_rows, moving_rows = _overlap_ranges(height, h, int(np.ceil(need / min(width, w))))
    cols, fixed_cols, moving_cols = _overlap_ranges(width, w, int(np.ceil(need / min(height, h))))
    area = (fixed_rows[1] - fixed_rows[0])[:, None] * (fixed_cols[1] - fixed_cols[0])[None, :]
    enough = area >= need
    if not enough.any():
        return -1.0
    from scipy import fft

    size = (fft.next_fast_len(height + h - 1, real=True), fft.next_fast_len(width + w - 1, real=True))
    product = fft.irfft2(fft.rfft2(fixed, size) * fft.rfft2(moving[::-1, ::-1], size), size)
    product = product[rows[:, None], cols[None, :]]
    moving_sums = _cumulative(moving)
    sf, sff = (_box_sums(cumulative, fixed_rows, fixed_cols) for cumulative in fixed_sums)
    sm, smm = (_box_sums(cumulative, moving_rows, moving_cols) for cumulative in moving_sums)
    fixed_var, moving_var = sff - sf * sf / area, smm - sm * sm / area
    floor = 1e-3 * min(float((fixed * fixed).mean()), float((moving * moving).mean()))
    usable = enough & (fixed_var > floor * area) & (moving_var > floor * area)  # a flat shared part proves nothing
    if not usable.any():
        return -1.0
    score = (product - sf * sm / area)[usable] / np.sqrt(fixed_var[usable] * moving_var[usable])
    return float(score.max())


def _overlap_at(inner: np.ndarray, outer: np.ndarray, shares: np.ndarray, scale: float) -> tuple[float, float | None]:
    """(best score, its share) of `inner` scaled so that its longer side spans each share of `outer`'s."""
    fixed = _band(outer, scale)[_RIM:-_RIM, _RIM:-_RIM]
    fixed_sums = _cumulative(fixed)
    best = (-1.0, None)
    for share in shares:
        factor = float(share) * max(outer.shape) / max(inner.shape)
        height, width = round(inner.shape[0] * factor), round(inner.shape[1] * factor)
        if min(height, width) < _MIN_SIDE + 2 * _RIM:
            continue
        moving = _band(_resized(inner, height, width), scale)[_RIM:-_RIM, _RIM:-_RIM]
        score = _best_overlap(fixed, fixed_sums, moving)
        if score > best[0]:
            best = (score, float(share))
    return best


def overlap_score(first: np.ndarray, second: np.ndarray) -> float:
    """How well two grey views (`grey_view`) agree where they overlap once one is scaled (its longer side
    OVERLAP_LOWEST_SHARE to 1 of the other's) and shifted, the shared part covering at least OVERLAP_MIN_AREA
    of the smaller: the best normalised cross-correlation of their band-passed detail there, in [-1, 1] (1: two
    crops of one picture). A coarse pass at COARSE_SIDE px finds the share each way round, a fine pass around
    it scores the better way.

    >>> rng = np.random.default_rng(0)
    >>> photo = Image.fromarray(rng.integers(0, 256, (90, 120), dtype=np.uint8)).resize((480, 360), Image.BICUBIC)
    >>> left, right = photo.crop((0, 0, 300, 300)), photo.crop((150, 40, 330, 220)).resize((300, 300))
    >>> other = Image.fromarray(rng.integers(0, 256, (300, 300), dtype=np.uint8))
    >>> view = grey_view(left)
    >>> round(overlap_score(view, grey_view(right)), 1), overlap_score(view, grey_view(other)) < 0.3
    (1.0, True)
    """
    # the fine pass may pass 1: a best share at 1 one way round may be just past it the other way
    return _coarse_then_fine(first, second, _overlap_at, (OVERLAP_LOWEST_SHARE, None), _OVERLAP_COARSE_STEP,
                             _OVERLAP_FINE_STEP, 4 * _OVERLAP_FINE_STEP)


@lru_cache(maxsize=4)
def _axis_windows(pixels: int) -> np.ndarray:
    """(windows, pixels, pixels) bilinear resampling matrices: row i of window k samples the axis at pixel
    i of a window of PRE_SHARES x pixels placed at PRE_OFFSETS of the slack (each distinct window once)."""
    windows = sorted({(float(share), round(float(offset) * (1 - float(share)), 6))
                      for share in PRE_SHARES for offset in PRE_OFFSETS})
    out = np.zeros((len(windows), pixels, pixels), dtype=np.float32)
    for k, (share, start) in enumerate(windows):
        position = np.clip((start + share * (np.arange(pixels) + 0.5) / pixels) * pixels - 0.5, 0, pixels - 1)
        low = np.minimum(position.astype(int), pixels - 2)
        weight = position - low
        out[k, np.arange(pixels), low] = 1 - weight
        out[k, np.arange(pixels), low + 1] += weight
    return out


def aligned_difference(first: np.ndarray, second: np.ndarray, batch: int = 128) -> np.ndarray:
    """Mean absolute luma difference (0-255) of paired 16x12 RGB thumbnail rows (verify.THUMB_BYTES each)
    once one is placed as a window of the other: every window of PRE_SHARES of each side at PRE_OFFSETS,
    resampled bilinearly, both ways round; the smallest. Cheap (no decode): the pre-gate of `window_links`.

    >>> rng = np.random.default_rng(0)
    >>> photo = rng.integers(0, 256, (1, 12, 16, 3)).astype(np.uint8)
    >>> other = rng.integers(0, 256, photo.shape).astype(np.uint8)
    >>> flat = lambda t: t.reshape(1, -1)
    >>> same, apart = (float(aligned_difference(flat(photo), flat(t))[0]) for t in (photo, other))
    >>> round(same), apart > 30
    (0, True)
    """
    from curate.filters import verify

    height, width = verify.THUMB_HEIGHT, verify.THUMB_WIDTH
    rows, cols = _axis_windows(height), _axis_windows(width)
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    out = np.full(len(first), np.inf, dtype=np.float64)
    for start in range(0, len(first), batch):
        part = slice(start, start + batch)
        a = first[part].reshape(-1, height, width, 3).astype(np.float32) @ luma
        b = second[part].reshape(-1, height, width, 3).astype(np.float32) @ luma
        for inner, outer in ((a, b), (b, a)):
            n = len(outer)  # two large matrix products: every vertical window, then every horizontal one of it
            tall = (rows.reshape(-1, height) @ outer.transpose(1, 0, 2).reshape(height, -1))
            tall = tall.reshape(len(rows), height, n, width).transpose(2, 0, 1, 3).reshape(-1, width)
            windows = (tall @ cols.reshape(-1, width).T).reshape(n, len(rows), height, len(cols), width)
            difference = np.abs(windows - inner[:, None, :, None, :]).mean(axis=(2, 4))
            out[part] = np.minimum(out[part], difference.reshape(n, -1).min(axis=1))
    return out


@dataclass(frozen=True)
class WindowResult:
    """The window links (index pairs); how many window candidate pairs there were and how many were matched
    (at most the limit); how many images were unreadable; how many links the overlap match made (the rest:
    one photo a window of the other); how many overlap-only candidates there were and were matched."""

    first: np.ndarray
    second: np.ndarray
    candidates: int
    matched: int
    unreadable: int
    overlaps: int = 0
    overlap_candidates: int = 0
    overlap_matched: int = 0


PARALLEL_MIN_PAIRS = 256  # fewer pairs are matched in this process (a worker process takes ~0.5 s to start)
_CHUNK = 32  # pairs sent to a worker process at a time
_WINDOW, _OVERLAP = 1, 2  # what linked a pair (`_verdicts`)
# The version of the scores, kept with each cached pair score (curate.filters.pair_scores): a cache written by
# other scoring code is ignored. The leading number is bumped when the scores change in a way the constants
# after it do not show (the grey view's decode, the band-pass, the correlation).
SCORE_VERSION = (f"1:{VIEW_SIDE}:{COARSE_SIDE}:{LOWEST_SHARE}:{COARSE_STEP}:{FINE_STEP}:{_RIM}:{_FINE_SIGMA}:"
                 f"{_COARSE_SIGMA}:{_MIN_SIDE}:{OVERLAP_LOWEST_SHARE}:{OVERLAP_MIN_AREA}:{_OVERLAP_COARSE_STEP}:"
                 f"{_OVERLAP_FINE_STEP}")

ImageKeys = Callable[[np.ndarray], "Sequence[str | None]"]  # image positions -> their sha256 (None: none)


def window_links(vectors: np.ndarray, labels: np.ndarray, read: GreyReader, *, cosine: float, min_score: float,
                 max_pairs: int, thumbs: np.ndarray | None = None, has_thumb: np.ndarray | None = None,
                 workers: int = 1, overlap_cosine: float | None = None, overlap_min: float | None = None,
                 overlap_pairs: int | None = None, scores: PairScores | None = None,
                 keys: ImageKeys | None = None) -> WindowResult:
    """Pairs of images in different clusters (`labels`) whose pixels show one picture: either their
    embeddings have at least `cosine`, their 16x12 thumbnails pass the pre-gate (`aligned_difference` <=
    PRE_GATE; pairs lacking one skip it) and one is a window of the other (`window_score` >= min_score); or
    (with `overlap_min`) their embeddings have at least `overlap_cosine` and they overlap as two crops of one
    picture (`overlap_score` >= overlap_min; no pre-gate: a thumbnail cannot show a partial overlap). The
    closest `max_pairs` window candidates (by cosine; those at `overlap_cosine` are also overlap-matched when
    not a window) and the closest `overlap_pairs` of the others (overlap only, about 4x the cost a pair;
    None: all of them) are matched. `read(position)` gives an image's grey view or None; each image is read
    once, in this process, and kept only until its last pair. With `workers` > 1 and at
    least PARALLEL_MIN_PAIRS pairs, the scores are computed by that many worker processes (the work holds the
    GIL, so threads would not help); the result is the same.

    `scores` (with `keys`, image positions -> sha256): the pair scores of earlier runs
    (curate.filters.pair_scores). A pair whose scores the verdict needs are there is decided from them, its
    images not read; the others are scored as above and their scores added to `scores`. The links are the
    same with or without it."""
    from curate.filters import embed_neighbours

    overlapping = overlap_min is not None and overlap_cosine is not None
    lowest = min(cosine, overlap_cosine) if overlapping else cosine
    search = ("every pair compared: the time grows with the square of the images"
              if len(vectors) <= embed_neighbours.EXACT_LIMIT else "an approximate index")
    with working(f"near-duplicate candidates for the pixel match among {len(vectors):,} images (embedding cosine "
                 f">= {lowest:g}; {search})"):
        first, second, cosines = embed_neighbours.cosine_pairs(vectors, lowest)
        apart = labels[first] != labels[second]
        window = apart & (cosines >= cosine)
        if thumbs is not None and window.any():
            real = np.ones(len(labels), bool) if has_thumb is None else has_thumb
            both = window & real[first] & real[second]
            gated = np.flatnonzero(both)
            for start in range(0, len(gated), 65536):  # thumbs may be memory-mapped: a batch in memory at a time
                part = gated[start:start + 65536]
                window[part] = aligned_difference(thumbs[first[part]], thumbs[second[part]]) <= PRE_GATE
    overlap = apart & (cosines >= overlap_cosine) if overlapping else np.zeros(len(first), bool)
    only = overlap & ~window
    closest = [np.flatnonzero(mask)[np.argsort(-cosines[mask], kind="stable")][:limit]
               for mask, limit in ((window, max_pairs), (only, overlap_pairs))]
    counts = int(window.sum()), int(only.sum())
    order = np.concatenate(closest)
    order = order[np.argsort(-cosines[order], kind="stable")]  # closest first, as the images are read
    first, second, window, overlap = first[order], second[order], window[order], overlap[order]
    tests = (min_score, overlap_min if overlapping else None)
    known = np.full((len(first), 2), np.nan)  # (window, overlap) scores of earlier runs
    pair_keys = _pair_keys(first, second, keys) if scores is not None and keys is not None else None
    if pair_keys is not None:
        for k, key in enumerate(pair_keys):
            cached = None if key is None else scores.get(key)
            if cached is not None:
                known[k] = cached
    found = _verdicts(known[:, 0], known[:, 1], window, overlap, tests)
    todo = np.flatnonzero(~_decided(known[:, 0], known[:, 1], window, overlap, tests))
    found[todo] = 0  # decided below, on their pixels (a pair with an unreadable image: not linked)
    unreadable: set[int] = set()
    chunks = _view_chunks(first[todo].tolist(), second[todo].tolist(), read, unreadable)
    jobs = ((todo[pairs], [(a, b, bool(window[k]), bool(overlap[k]), float(known[k, 0]))
                           for k, (a, b) in zip(todo[pairs].tolist(), views)]) for pairs, views in chunks)
    if workers > 1 and len(todo) >= PARALLEL_MIN_PAIRS:
        scored = _scores_in_processes(jobs, workers, tests)
    else:
        scored = ((pairs, _scores(views, tests)) for pairs, views in jobs)
    with progress_bar("near-duplicate pairs matched on their pixels", len(first)) as advance:
        advance(len(first) - len(todo))  # decided from the scores of earlier runs
        for start, (pairs, raw) in zip(range(0, len(todo), _CHUNK), scored):  # a chunk each _CHUNK pairs
            if len(pairs):
                got = np.array(raw, dtype=np.float64).reshape(-1, 2)
                found[pairs] = _verdicts(got[:, 0], got[:, 1], window[pairs], overlap[pairs], tests)
                if pair_keys is not None:
                    for k, (w, o) in zip(pairs.tolist(), raw):
                        if pair_keys[k] is not None:
                            scores.put(pair_keys[k], w, o)
            advance(min(_CHUNK, len(todo) - start))
    linked = found > 0
    return WindowResult(first[linked], second[linked], counts[0], len(closest[0]), len(unreadable),
                        int((found == _OVERLAP).sum()), counts[1], len(closest[1]))


def _pair_keys(first: np.ndarray, second: np.ndarray, keys: ImageKeys) -> list[tuple[str, str] | None]:
    """(sha256, sha256) of each pair, in its order (None where an image has none)."""
    if not len(first):
        return []
    positions = np.unique(np.concatenate([first, second]))
    sha = dict(zip(positions.tolist(), keys(positions)))
    return [(sha[a], sha[b]) if sha[a] is not None and sha[b] is not None else None
            for a, b in zip(first.tolist(), second.tolist())]


def _verdicts(window_scores: np.ndarray, overlap_scores: np.ndarray, window: np.ndarray, overlap: np.ndarray,
              tests: tuple[float, float | None]) -> np.ndarray:
    """What links each pair, from its scores (NaN: not computed) and what it is a candidate for: _WINDOW when
    one is a window of the other (a window candidate, window score >= tests[0]), else _OVERLAP when they overlap
    as two crops of one picture (an overlap candidate, overlap score >= tests[1]), else 0."""
    min_score, overlap_min = tests
    out = np.zeros(len(window), np.int8)
    by_window = window & (window_scores >= min_score)
    out[by_window] = _WINDOW
    if overlap_min is not None:
        out[~by_window & overlap & (overlap_scores >= overlap_min)] = _OVERLAP
    return out


def _decided(window_scores: np.ndarray, overlap_scores: np.ndarray, window: np.ndarray, overlap: np.ndarray,
             tests: tuple[float, float | None]) -> np.ndarray:
    """Which pairs have every score `_verdicts` needs (those `_scores` would compute)."""
    min_score, overlap_min = tests
    needs_window = window & np.isnan(window_scores)
    by_window = window & (window_scores >= min_score)
    needs_overlap = (overlap & ~by_window & np.isnan(overlap_scores) if overlap_min is not None
                     else np.zeros(len(window), bool))
    return ~needs_window & ~needs_overlap


def _view_chunks(first: list[int], second: list[int], read: GreyReader, unreadable: set[int]):
    """(pair numbers, their view pairs) _CHUNK pairs at a time, for the pairs whose images both read: each
    image read once and let go after its last pair (bounded memory); unreadable positions are added to
    `unreadable`."""
    last_use = {}
    for k, (a, b) in enumerate(zip(first, second)):
        last_use[a] = last_use[b] = k
    views: dict[int, np.ndarray | None] = {}
    for start in range(0, len(first), _CHUNK):
        pairs, pair_views = [], []
        for k in range(start, min(start + _CHUNK, len(first))):
            a, b = first[k], second[k]
            for i in (a, b):
                if i not in views:
                    views[i] = read(i)
                    if views[i] is None:
                        unreadable.add(i)
            if views[a] is not None and views[b] is not None:
                pairs.append(k)
                pair_views.append((views[a], views[b]))
            for i in (a, b):
                if last_use[i] == k:
                    del views[i]
        yield pairs, pair_views


def _scores(jobs: list[tuple[np.ndarray, np.ndarray, bool, bool, float]],
            tests: tuple[float, float | None]) -> list[tuple[float, float]]:
    """The raw scores of each (view, view, window candidate, overlap candidate, window score of an earlier run
    or NaN): (window score, overlap score), NaN where not computed. The window score of a window candidate
    (unless known); the overlap score of an overlap candidate (with tests[1] set) that is not linked as a window
    (window score < tests[0]): what `_verdicts` needs, no more."""
    min_score, overlap_min = tests
    out = []
    for a, b, window, overlap, known in jobs:
        score = known if not np.isnan(known) else window_score(a, b) if window else np.nan
        if overlap and overlap_min is not None and not (window and score >= min_score):
            out.append((score, overlap_score(a, b)))
        else:
            out.append((score, np.nan))
    return out


def _scores_in_processes(chunks, workers: int, tests: tuple[float, float | None]):
    """(pair numbers, `_scores`) of each chunk, in order, scored by `workers` processes (forkserver where the
    platform has it: no copy of this process's threads or locks), at most two chunks a worker in flight."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        flight: deque = deque()
        for pairs, views in chunks:
            flight.append((pairs, pool.submit(_scores, views, tests)))
            if len(flight) >= 2 * workers:
                done_pairs, future = flight.popleft()
                yield done_pairs, future.result()
        while flight:
            done_pairs, future = flight.popleft()
            yield done_pairs, future.result()
