"""Which copy of a near-duplicate cluster is an upscale of a smaller one, from their pixels.

An upscale has more pixels than the copy it was made from but no finer detail: the band of spatial
frequencies above the smaller copy's resolution is empty (interpolation, then sharpening or a JPEG
save, puts only little there). A photo beside its own downscale carries real detail in that band. So
the larger copy L is sent on a round trip through the smaller copy S's size (shrunk to it and enlarged
back), and the share of L's fine detail (Laplacian energy) the trip loses is compared with the share S
loses on the same relative trip through a size as much smaller than its own: the ratio (`upscale_score`)
is about 1 for an original over its downscale, however sharpened, and about 0.3 for an upscale.

Chosen on 80 real photos and measured on 208 others (ImageNet sample, Flickr Ferraris; `bench/keep_rule.py`,
docs/benchmarks.md): originals over their downscale (x0.7 q60, x0.6 sharpened for the web, to 256 px) score
0.73-1.79, 5th percentiles 0.83-0.94; upscales (x1.25, x2, x2 sharpened, x2 JPEG q40) 0.14-0.78, 95th
percentiles 0.34-0.59, blurred ones saved at q40 up to 1.18 (the blur and the JPEG blocks fill the band the
trip measures). `UPSCALE_SCORE` 0.7 demoted no original there and caught every unblurred upscale; the
statistic measured at ingest (`duplicates.UPSCALED_DETAIL`) catches most blurred ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

UPSCALE_SCORE = 0.7  # under it, the larger copy is an upscale of the smaller
MIN_RATIO = 1.2  # short sides closer than this: too little band between them to judge
MAX_SIDE = 2048  # the larger copy is judged at most at this short side (and at twice the smaller's)
MIN_SIDE = 32
MAX_SOURCES = 3  # an image is judged against at most this many smaller copies


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), np.float32)


def _laplacian(pixels: np.ndarray) -> np.ndarray:
    return 4 * pixels[1:-1, 1:-1] - pixels[:-2, 1:-1] - pixels[2:, 1:-1] - pixels[1:-1, :-2] - pixels[1:-1, 2:]


def _resized(image: Image.Image, short: int) -> Image.Image:
    width, height = image.size
    scale = short / min(width, height)
    return image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.LANCZOS)


def trip_loss(image: Image.Image, short: int) -> float:
    """The share of `image`'s fine detail (Laplacian energy) lost by shrinking it to a short side of `short`
    px and enlarging it back (NaN for a flat image).

    >>> flat = Image.new("RGB", (64, 48), (90, 90, 90))
    >>> import math; math.isnan(trip_loss(flat, 24))
    True
    """
    back = _resized(image, short).resize(image.size, Image.BICUBIC)
    pixels = _grey(image)
    energy = float(_laplacian(pixels).var())
    if energy <= 1e-6:
        return float("nan")
    return float(_laplacian(pixels - _grey(back)).var()) / energy


def judging_side(large: tuple[int, int], small: tuple[int, int]) -> int | None:
    """The short side the larger copy is judged at, or None when the pair cannot be judged (sides too
    close or too small).

    >>> [judging_side(*pair) for pair in (((1024, 768), (512, 384)), ((4000, 3000), (500, 375)),
    ...                                   ((600, 400), (560, 380)))]
    [768, 750, None]
    """
    large_short, small_short = min(large), min(small)
    side = min(large_short, 2 * small_short, MAX_SIDE)
    if small_short < MIN_SIDE or side < MIN_RATIO * small_short:
        return None
    return side


def upscale_score(large: Image.Image, small: Image.Image) -> float:
    """L's loss through S's size over S's loss through a size as much smaller (module docstring): about 1
    when `large` carries detail `small` does not, well under `UPSCALE_SCORE` for an upscale of it; NaN when
    the pair cannot be judged (`judging_side`) or either is flat."""
    side = judging_side(large.size, small.size)
    if side is None:
        return float("nan")
    judged = _resized(large, side) if min(large.size) != side else large
    small_short = min(small.size)
    ratio = side / small_short
    if small_short / ratio < MIN_SIDE / 2:
        return float("nan")
    own = trip_loss(small, max(1, round(small_short / ratio)))
    return trip_loss(judged, small_short) / own if own > 0 else float("nan")


Image_ = tuple[str, tuple[int, int], bool]  # (key, (width, height), framed) of one image
Level = list[Image_]  # a group's images with one pixel count, the most detailed first


def upscales(groups: list[list[Level]], open_image: Callable[[str, int], Image.Image | None],
             workers: int = 1) -> set[str]:
    """The keys of the images that are upscales, per group (its levels from the fewest pixels up): an image is
    one when judged an upscale of any smaller image of its group not judged one itself (the nearest
    MAX_SOURCES such images the pair can be judged for, unframed ones first: a letterboxed copy's short side
    is not its picture's; so a 2x upscale beside a 1.5x one is judged against the photo both came from);
    `open_image(key, min_side)` opens one (None, or an error: unreadable, the pair not judged)."""
    from curate.store import map_images

    def judge(levels: list[Level]) -> list[str]:
        found, sources = [], []  # sources: the images not judged upscales so far, nearest (most pixels) first
        for level in levels:
            fine = []
            for image in level:
                judged = [source for source in sorted(sources, key=lambda source: source[2])  # unframed first
                          if judging_side(image[1], source[1]) is not None][:MAX_SOURCES]
                if any(_score(source, image, open_image) < UPSCALE_SCORE for source in judged):
                    found.append(image[0])
                else:
                    fine.append(image)
            sources = fine + sources
        return found

    return {key for found in map_images(judge, groups, workers) for key in found}


def _score(small: Image_, large: Image_, open_image: Callable[[str, int], Image.Image | None]) -> float:
    side = judging_side(large[1], small[1])
    if side is None:
        return float("nan")
    try:
        big, little = open_image(large[0], side), open_image(small[0], min(small[1]))
        return float("nan") if big is None or little is None else upscale_score(big, little)
    except Exception:  # noqa: BLE001 - an unreadable image (or a failed measure) leaves the pair unjudged, as
        return float("nan")  # the statistic does: the keep rule never stops a filter run
