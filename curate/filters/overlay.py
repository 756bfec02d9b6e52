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


def overlay_sides(first: np.ndarray, second: np.ndarray) -> tuple[float, float, float]:
    """(residual, cover, moved): `overlay_score` and the mean difference the overlay's way."""
    from scipy import ndimage

    (height, width), (other_height, other_width) = first.shape, second.shape
    if abs(width / height - other_width / other_height) > OVERLAY_ASPECT * width / height:
        return float("inf"), 1.0, 0.0
    if second.shape != first.shape:
        second = np.asarray(Image.fromarray(second).resize((width, height), Image.BILINEAR), dtype=np.float32)
    difference = ndimage.gaussian_filter(second.astype(np.float32) - first.astype(np.float32), OVERLAY_SIGMA)
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


def overlay_links(evidence: Evidence, rule: LinkRule, first: np.ndarray, second: np.ndarray,
                  mirrored: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(which of the candidate pairs are overlaid copies, how many were matched, how many had an image that could
    not be read): the closest `rule.window_pairs` pairs by pHash distance `bits`, on their grey views
    (`evidence.read_grey`), the second mirrored where `mirrored`."""
    from curate.filters.pixel_links import _matched_on_pixels

    order = np.argsort(bits, kind="stable")[:rule.window_pairs]
    flips = mirrored[order]
    matched, unreadable = _matched_on_pixels(
        evidence, first[order], second[order],
        lambda one, other, k: overlaid(one, np.ascontiguousarray(other[:, ::-1]) if flips[k] else other))
    linked = np.zeros(len(first), bool)
    linked[order] = matched
    return linked, len(order), unreadable
