"""The overlay check: a pHash candidate that is its photo under a bright or a dark overlay (a watermark tiled over
the whole picture, a logo, a sticker), confirmed on the two stored images' grey views.

Rows of semi-transparent text over the whole picture move every whole-image measure: the 16x12 thumbnails' colours
(4.5-12.8 apart for audit DF's "© STOCKPIX" copies, against the limits 4 and 8) and tones (3.1-8.6, limit 5), and
the embedding (cosine 0.65-0.92, limit 0.85), while the pHash stays within 0-10 bits. But the overlay only ever
moves pixels one way: white text at any opacity makes every pixel it covers lighter and leaves the others as they
were, dark text makes them darker. So the difference of the copy's grey view and its original's (`overlay_score`;
blurred by OVERLAY_SIGMA px, as a copy also resized is decoded and resampled a little softer, which moves its edges
both ways) is one-sided: the mean of its other side (the *residual*: the darkening of a white overlay) stays at the
noise, however much of the picture the text covers: at most 0.44 grey levels for 110 real photos under tiled
watermarks of varied text, font, size, rows, angle, colour and opacity 60-140 (JPEG q 85), 0.85 (median) to 2.4
(the highest) for such copies also shrunk to 0.8. Two different photos differ both ways: among real photos' pHash
pairs within 12 bits (2,040 pairs of different photos of ../shared/realdata, some under one watermark) the residual
is 2.15 or more, except where one photo is lighter almost everywhere (a bright sky against a dark field: the
*cover*, the share of pixels moved more than OVERLAY_STEP the overlay's way, is 0.85-1.0 there; the copies' is at
most 0.43). So a pair is linked when its residual is at most OVERLAY_RESIDUAL, its cover at most OVERLAY_COVER, and
the difference the overlay's way at least OVERLAY_ONE_SIDED times the residual (an overlay is there: a plain
re-encoded copy's noise is as much one way as the other, and is the colour check's to judge)
(docs/benchmarks.md, "Tiled watermarks"; bench/tiled_watermark.py).

The check confirms pHash candidates (within near_dup_bits, either orientation) that the thumbnails' colour and tone
and the embedding left apart (`verify.link_pairs`), the closest `rule.window_pairs` first; it needs the stored
images (one decode of each image in such a pair). Not caught: an overlay that both lightens and darkens (light
grey text over a bright sky) beyond the residual, or a copy also recoloured or cropped.

Which side carries the overlay (`overlay_copy`, review DP F1: the keep rule kept the watermarked copy over its
original whenever its date or id sorted first): the difference alone cannot say (a lighter copy is the photo under
white text, or the original of a dark-text copy), but how it varies with the photo beneath can. Text of colour c at
opacity a moves a pixel of the original p by a * (c - p): white text adds less where the photo is already light, so
the difference *falls* as the darker view (the original) brightens; dark text takes more where the photo is light,
so it *rises* with the lighter view (the original) and with the darker one. The copy is the lighter side when the
difference's correlation with the darker view is negative, the darker side when it is positive, over the covered
pixels; undecided when its correlation with the lighter view is the stronger one and of the other sign. Judged only
where the difference is fine-grained, as text strokes are (at least OVERLAY_FINE of it above a FINE_SIGMA blur): a
solid sticker, a logo plate or a change of light is smooth, and there the correlations are the plate's edges', not
the photo's (docs/benchmarks.md, "Which copy is kept: overlaid copies"). Not judged either where the difference
follows the photo's own detail in both views (`_follows_edges`, review DX F1): a sharpened copy's halos are fine and
one-way too, but they are the photo's edges, where text follows the copy's detail and not the original's. And it
must cover enough of the picture, counted against the room the original leaves the text (audit DY F1): white text
of opacity a lifts a pixel p by a * (255 - p), so on a bright photo it moves fewer pixels OVERLAY_STEP; a pixel with
less room than OVERLAY_ROOM counts as covered when it moved the same share of its room (1/16), at least
OVERLAY_NOISE, where the absolute count falls short and the white-or-black text model fits firmly (OVERLAY_ROOM_FIT:
mid-grey text lightens and darkens, a solid sticker's correlations disagree); the same room scales the thumbnails'
colour difference from which a linked pair is judged at all (`verify.MARK_COLOUR_DIFF`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from curate.filters.verify import Evidence, LinkRule

OVERLAY_RESIDUAL = 1.5  # grey levels: the mean difference against the overlay's way (copies <= 0.44, shrunk ones
# 0.85 median, 1.39 at 90 %; different photos >= 2.15)
OVERLAY_COVER = 0.5  # the share of pixels the overlay may move (copies <= 0.43; a lighter photo ~0.85-1.0)
OVERLAY_SIGMA = 0.7  # px of the 128 px grey view: the difference is blurred this much (a Gaussian) before it is judged
OVERLAY_ONE_SIDED = 2.0  # the overlay's way moves at least this many times the residual: an overlay is there (a
# plain re-encoded copy's noise is two-sided, ratio 1.15 median; watermarked copies 35 median, 2.6 at 5 %)
OVERLAY_STEP = 8.0  # grey levels: a pixel moved more than this the overlay's way counts as covered
OVERLAY_ASPECT = 0.05  # views whose aspects differ more than this (relative) are not one picture overlaid
OVERLAY_FINE = 0.45  # the share of the difference above a FINE_SIGMA blur from which the copy's side is judged
# (tiled text 0.48-0.65, 0.55 at 10 %; stickers, logo plates and lamps 0.05-0.43, 0.26 median: review DP F3)
FINE_SIGMA = 2.0  # px of the grey view
OVERLAY_MARK_COVER = 0.05  # ... and from which at least this share of pixels moved more than their step (tiled
# text 0.017 and more, 0.07-0.13 at 10 %; a sharpened copy whose difference reads one-sided 0.011-0.043)
OVERLAY_MARK_RESIDUAL = 1.0  # ... and at most this residual (same-size copies <= 0.44; a 2 % crop resized 1.0-1.5)
OVERLAY_ROOM = 128.0  # grey levels: the room toward the overlay's colour under which the step shrinks with the room
# (a pixel counts as covered moved more than OVERLAY_STEP * room / OVERLAY_ROOM, 1/16 of its room, when it has less)
OVERLAY_NOISE = 2.0  # grey levels: ... but never moved less than this (JPEG noise after the blur: residual <= 0.44)
OVERLAY_ROOM_FIT = 0.5  # ... and only where the move's correlation with the darker view is at least this strong and
# of the lighter view's sign (audit DY's white text on bright photos 0.49-0.77; mid-grey text, which lightens and
# darkens, 0.02-0.46 where the room alone would have decided; a solid white sticker's correlations disagree)
OVERLAY_EDGE_FOLLOW = 0.1  # the difference's correlation with each view's own detail (the view less its EDGE_SIGMA
# blur) above which it is the photo's edges sharpened or softened, not text (tiled text <= 0.05 against the
# original's detail; unsharp-masked copies 0.19 and more: review DX F1)
EDGE_SIGMA = 1.0  # px of the grey view


def _aligned(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The two grey views as float32, the second resized to the first's size; None when their aspects differ by
    more than OVERLAY_ASPECT."""
    (height, width), (other_height, other_width) = first.shape, second.shape
    if abs(width / height - other_width / other_height) > OVERLAY_ASPECT * width / height:
        return None
    if second.shape != first.shape:
        second = np.asarray(Image.fromarray(second).resize((width, height), Image.BILINEAR), dtype=np.float32)
    return first.astype(np.float32), second.astype(np.float32)


def overlay_sides(first: np.ndarray, second: np.ndarray) -> tuple[float, float, float]:
    """(residual, cover, moved): `overlay_score` and the mean difference the overlay's way."""
    from scipy import ndimage

    views = _aligned(first, second)
    if views is None:
        return float("inf"), 1.0, 0.0
    first, second = views
    difference = ndimage.gaussian_filter(second - first, OVERLAY_SIGMA)
    lighter, darker = float(np.maximum(difference, 0).mean()), float(np.maximum(-difference, 0).mean())
    if lighter >= darker:
        return darker, float((difference > OVERLAY_STEP).mean()), lighter
    return lighter, float((difference < -OVERLAY_STEP).mean()), darker


def overlay_score(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    """(residual, cover) of two grey views (`pixel_scores.grey_view`) of one aspect, the second resized to the
    first's size: of their difference, blurred by OVERLAY_SIGMA, the mean against the way the second moved most
    (lighter or darker), and the share of pixels moved more than OVERLAY_STEP that way. (inf, 1.0) when their
    aspects differ by more than OVERLAY_ASPECT.

    >>> photo = np.random.default_rng(0).uniform(0, 200, (96, 128)).astype(np.float32)
    >>> marked = photo.copy(); marked[::16] += 50  # light rows of text over a sixteenth of the picture
    >>> [round(v, 3) for v in overlay_score(photo, marked)]
    [0.0, 0.177]
    >>> other = np.random.default_rng(1).uniform(0, 200, (96, 128)).astype(np.float32)
    >>> overlay_score(photo, other)[0] > 10
    True
    """
    residual, cover, _ = overlay_sides(first, second)
    return residual, cover


def overlaid(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether the second grey view is the first under an overlay of one polarity (`overlay_score`; either may be
    the one overlaid: the score is symmetric in which side moved)."""
    residual, cover, moved = overlay_sides(first, second)
    return residual <= OVERLAY_RESIDUAL and cover <= OVERLAY_COVER and moved >= OVERLAY_ONE_SIDED * residual


def overlay_copy(first: np.ndarray, second: np.ndarray) -> int | None:
    """Which of two overlaid grey views (`overlaid`) carries the overlay: 0 the first, 1 the second, None when
    the difference is not fine-grained like text (under OVERLAY_FINE of it above a FINE_SIGMA blur), follows the
    photo's own detail in both views (a sharpened copy: `_follows_edges`), covers under OVERLAY_MARK_COVER of the
    picture (a pixel counted against the original's room toward the text's colour), leaves a residual over
    OVERLAY_MARK_RESIDUAL, or its correlations with the two views disagree (see the module docstring).

    >>> photo = np.tile(np.linspace(20, 220, 128, dtype=np.float32), (96, 1))  # dark on the left, light on the right
    >>> text = np.zeros((96, 128), np.float32); text[::6, ::3] = text[1::6, 1::3] = 0.4  # a stroke pattern
    >>> white = photo + text * (255 - photo); dark = photo - text * photo  # the same text, white and dark
    >>> overlay_copy(photo, white), overlay_copy(white, photo), overlay_copy(photo, dark), overlay_copy(dark, photo)
    (1, 0, 1, 0)
    >>> overlay_copy(photo, photo + 40 * (photo > 120)) is None  # a smooth plate: not judged
    True
    """
    from scipy import ndimage

    residual, cover, _ = overlay_sides(first, second)
    views = _aligned(first, second)
    if views is None or residual > OVERLAY_MARK_RESIDUAL:
        return None
    first, second = (ndimage.gaussian_filter(view, OVERLAY_SIGMA) for view in views)
    difference = second - first
    size = float(np.abs(difference).mean())
    if size == 0 or np.abs(difference - ndimage.gaussian_filter(difference, FINE_SIGMA)).mean() < OVERLAY_FINE * size:
        return None
    if _follows_edges(difference, views):
        return None
    second_lighter = np.maximum(difference, 0).mean() >= np.maximum(-difference, 0).mean()
    light, dark = (second, first) if second_lighter else (first, second)
    moved = np.abs(difference)
    covered = moved > OVERLAY_STEP
    if covered.sum() < 3 or np.ptp(moved[covered]) == 0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        with_dark, with_light = (float(np.nan_to_num(np.corrcoef(moved[covered], view[covered])[0, 1]))
                                 for view in (dark, light))
    if with_dark == 0 or (abs(with_light) > abs(with_dark) and np.sign(with_light) != np.sign(with_dark)):
        return None
    lighter_is_copy = with_dark < 0  # white text adds less where the original is light; dark text takes more
    if cover < OVERLAY_MARK_COVER:
        # the original's room toward the text's colour: white text can only lighten what is darker than it, dark
        # text only darken what is lighter; a pixel with less room than OVERLAY_ROOM moves less, so its step shrinks
        # with it. Only where the white (or black) text model fits firmly: both views' correlations of its sign, the
        # darker one's at least OVERLAY_ROOM_FIT (mid-grey text, a solid sticker: weaker or mixed)
        if np.sign(with_light) != np.sign(with_dark) or abs(with_dark) < OVERLAY_ROOM_FIT:
            return None
        room = 255 - dark if lighter_is_copy else light
        step = np.maximum(OVERLAY_STEP * np.minimum(1, room / OVERLAY_ROOM), OVERLAY_NOISE)
        if ((difference if second_lighter else -difference) > step).mean() < OVERLAY_MARK_COVER:  # the overlay's way
            return None
    return int(lighter_is_copy == second_lighter)


def _follows_edges(difference: np.ndarray, views: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether the difference follows the photo's own detail in both views: its correlations with each view less
    its EDGE_SIGMA blur are of one sign and both beyond OVERLAY_EDGE_FOLLOW. A sharpened copy's difference is the
    photo's own edges (k times its detail, the copy's detail 1 + k times it: one sign), a softened copy's the same
    with the other sign; text strokes follow the copy's detail but not the original's."""
    from scipy import ndimage

    flat = difference.ravel()
    if np.ptp(flat) == 0:
        return False
    correlations = []
    for view in views:
        detail = (view - ndimage.gaussian_filter(view, EDGE_SIGMA)).ravel()
        if np.ptp(detail) == 0:
            return False
        correlations.append(float(np.corrcoef(flat, detail)[0, 1]))
    return correlations[0] * correlations[1] > 0 and min(map(abs, correlations)) > OVERLAY_EDGE_FOLLOW


def overlay_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                  mirrored: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(which of the candidate pairs are overlaid copies, which side of each carries the overlay (`overlay_copy`:
    0 the first, 1 the second, -1 not linked or undecided), how many were matched, how many had an image that
    could not be read): the closest `rule.window_pairs` pairs by pHash distance `bits`, on their grey views
    (`evidence.read_grey`), the second mirrored where `mirrored`."""
    from curate.filters.pixel_links import _matched_on_pixels

    order = np.argsort(bits, kind="stable")[:rule.window_pairs]
    flips = mirrored[order]
    sides = np.full(len(order), -1, np.int8)

    def matches(one: np.ndarray, other: np.ndarray, k: int) -> bool:
        other = np.ascontiguousarray(other[:, ::-1]) if flips[k] else other
        if not overlaid(one, other):
            return False
        side = overlay_copy(one, other)
        sides[k] = -1 if side is None else side
        return True

    matched, unreadable = _matched_on_pixels(evidence, first[order], second[order], matches)
    linked, copy_side = np.zeros(len(first), bool), np.full(len(first), -1, np.int8)
    linked[order], copy_side[order] = matched, sides
    return linked, copy_side, len(order), unreadable
