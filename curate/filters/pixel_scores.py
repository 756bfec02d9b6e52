"""The window match's pixel scores: how well two photos' grey views agree once one is scaled and placed on
the other. `window_score`: one is a window of the other (a crop of it, or held inside it as a screenshot holds
its photo); `overlap_score`: two crops of one picture, neither inside the other. Which pairs are scored, and
what their scores link, is curate.filters.windows.

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

`SCORE_VERSION` names this scoring code in the cache of pair scores (curate.filters.pair_scores).
Thresholds and their evidence: docs/benchmarks.md ("Window match", "Overlap match").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from PIL import Image

VIEW_SIDE = 128  # the grey view's longer side (px): real crops score >= 0.91, different photos <= 0.82 (bench)
COARSE_SIDE = 64
LOWEST_SHARE = 0.60  # the inner photo spans at least this share of the outer's limiting side (a 40 % crop)
COARSE_STEP, FINE_STEP = 0.02, 0.005
_RIM = 2  # px of the scaled inner view left out (the band-pass filter's edge)
_FINE_SIGMA, _COARSE_SIGMA = 0.7, 3.0  # difference of Gaussians at VIEW_SIDE (scaled with the view)
_MIN_SIDE = 12  # a scaled inner view smaller than this is not matched


def grey_view(image: Image.Image, side: int = VIEW_SIDE) -> np.ndarray:
    """The image in grey (ITU-R 601 luma), its longer side `side` px (box filter), as float32."""
    grey = image.convert("L")
    width, height = grey.size
    scale = side / max(width, height)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    return np.asarray(grey.resize(size, Image.BOX), dtype=np.float32)


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


# The version of the scores, kept with each cached pair score (curate.filters.pair_scores): a cache written by
# other scoring code is ignored. The leading number is bumped when the scores change in a way the constants
# after it do not show (the grey view's decode, the band-pass, the correlation).
SCORE_VERSION = (f"1:{VIEW_SIDE}:{COARSE_SIDE}:{LOWEST_SHARE}:{COARSE_STEP}:{FINE_STEP}:{_RIM}:{_FINE_SIGMA}:"
                 f"{_COARSE_SIGMA}:{_MIN_SIDE}:{OVERLAP_LOWEST_SHARE}:{OVERLAP_MIN_AREA}:{_OVERLAP_COARSE_STEP}:"
                 f"{_OVERLAP_FINE_STEP}")
