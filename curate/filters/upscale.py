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

A soft photo breaks the ratio's premise (detail alike at every scale): its own top band is weak while its
downscale's is full, so 5-12 % of 15-Scene photos (256 px, soft, grainy) scored 0.57-0.70 beside their 60 % or
75 % Lanczos copy (audit DY F4: the 153 px copy kept over its 256 px original, 2 of 10). So a score in the doubtful
band [STRONG_UPSCALE, UPSCALE_SCORE) needs evidence from the smaller copy itself: the larger one's loss through
the smaller's size is at most BAND_EVIDENCE times the loss of the smaller copy `enlarged` to the larger's size and
saved at JPEG q60, about what interpolation and a lossy save put in that band (`band_ratio`). Chosen on 62 real
photos (15-Scene, ImageNet sample, OpenSfM Lund, Flickr Ferraris) with 15 kinds of pairs: originals over their
downscale (0.6 or 0.75 at q92, web, sharpened hard, noisy, at q20; the original at q30 or q40) read 1.40-4.1
(audit DY's two 1.37 and 1.39), upscales (2x plain, sharpened, at q40 or q60; 1.5x at q40) 0.46-1.24, blurred q40
ones up to 1.54 (the ingest statistic catches most). Only one original scored under STRONG_UPSCALE (0.49, beside
a copy sharpened hard), where the score alone decides. `bench/keep_rule.py --soft` measures the keep rule with
and without the band test on photos that chose nothing.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections.abc import Callable

import numpy as np
from PIL import Image

UPSCALE_SCORE = 0.7  # under it, the larger copy is an upscale of the smaller (see STRONG_UPSCALE)
STRONG_UPSCALE = 0.5  # under it, an upscale on the score alone; from it to UPSCALE_SCORE only with BAND_EVIDENCE
BAND_EVIDENCE = 1.3  # most `band_ratio` of an upscale whose score is in the doubtful band
BAND_QUALITY = 60  # the JPEG quality the enlarged smaller copy is saved at for `band_ratio`'s reference
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
    the pair cannot be judged (`judging_side`) or either is flat. A score in the doubtful band (from
    STRONG_UPSCALE to UPSCALE_SCORE) whose `band_ratio` is over BAND_EVIDENCE (more detail above S's size than
    enlarging S puts there: a soft original) reads UPSCALE_SCORE: no upscale."""
    return _score_sized(large, small.size, lambda short: trip_loss(small, short),
                        lambda size: trip_loss(enlarged(small, size), min(small.size)))


def enlarged(small: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`small` enlarged (Lanczos) to `size` and saved at JPEG quality BAND_QUALITY: about what an upscale of it
    holds above its own resolution (interpolation, then a lossy save's blocks and ringing)."""
    buffer = io.BytesIO()
    small.convert("RGB").resize(size, Image.LANCZOS).save(buffer, "JPEG", quality=BAND_QUALITY)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def band_ratio(large: Image.Image, small: Image.Image) -> float:
    """`large`'s loss through `small`'s size (at the short side it is judged at) over that of `small` `enlarged` to
    the same size: at most about 1.25 for an upscale of `small`, 1.4 or more for a photo over its own downscale
    (module docstring); NaN when the pair cannot be judged."""
    side = judging_side(large.size, small.size)
    if side is None:
        return float("nan")
    judged = _resized(large, side) if min(large.size) != side else large
    reference = trip_loss(enlarged(small, judged.size), min(small.size))
    return trip_loss(judged, min(small.size)) / reference if reference > 0 else float("nan")


def _score_sized(large: Image.Image, small_size: tuple[int, int], own_loss: Callable[[int], float],
                 enlarged_loss: Callable[[tuple[int, int]], float]) -> float:
    """`upscale_score` with the smaller image given by its size, `own_loss(short)`, its `trip_loss` through
    a short side of `short` px, and `enlarged_loss(size)`, the `trip_loss` through its own short side of it
    `enlarged` to `size`."""
    side = judging_side(large.size, small_size)
    if side is None:
        return float("nan")
    judged = _resized(large, side) if min(large.size) != side else large
    small_short = min(small_size)
    ratio = side / small_short
    if small_short / ratio < MIN_SIDE / 2:
        return float("nan")
    own = own_loss(max(1, round(small_short / ratio)))
    loss = trip_loss(judged, small_short)
    score = loss / own if own > 0 else float("nan")
    if STRONG_UPSCALE <= score < UPSCALE_SCORE:
        reference = enlarged_loss(judged.size)
        if not reference > 0 or loss > BAND_EVIDENCE * reference:  # no evidence of an upscale: a soft original
            return UPSCALE_SCORE
    return score


Image_ = tuple[str, tuple[int, int], bool]  # (key, (width, height), framed) of one image
Level = list[Image_]  # a group's images with one pixel count, the most detailed first
Pair = tuple[Image_, Image_]  # (the smaller image, the larger one judged against it)


def upscales(groups: list[list[Level]], open_image: Callable[[str, int], Image.Image | None],
             workers: int = 1) -> set[str]:
    """The keys of the images that are upscales, per group (its levels from the fewest pixels up): an image is
    one when judged an upscale of any smaller image of its group not judged one itself (the nearest
    MAX_SOURCES such images the pair can be judged for, unframed ones first: a letterboxed copy's short side
    is not its picture's; so a 2x upscale beside a 1.5x one is judged against the photo both came from);
    `open_image(key, min_side)` opens one (None, or an error: unreadable, the pair not judged).

    The pairs are scored in rounds, each round's pairs in parallel (`workers` threads), so that one large
    cluster is not one serial task: a round scores every pair whose turn has come in the serial order (the
    smaller image judged no upscale and the image's nearer candidates judged, so its verdict cannot spare it),
    so the pairs scored, and the verdicts, are those of judging each group's images one after the other."""
    from curate.store import map_images

    score = _Scorer(open_image)
    scores: dict[Pair, float] = {}
    judges = [_Judge(levels) for levels in groups]
    waiting = judges
    while True:
        wanted = [pair for judge in waiting for pair in judge.next_pairs(scores)]
        if not wanted:
            return {key for judge in judges for key in judge.found()}
        waiting = [judge for judge in waiting if judge.pending]
        scores.update(zip(wanted, map_images(lambda pair: score(*pair), wanted, workers)))


class _Judge:
    """One group's verdicts, each image's made as the serial order would make it, as the scores come in: it walks
    the smaller images in the order it is judged against them (nearest first, unframed ones first), skipping
    those the pair cannot be judged for and those judged upscales, and waits on one not judged yet."""

    def __init__(self, levels: list[Level]):
        self.images = [image for level in levels for image in level]
        self.level = [index for index, level in enumerate(levels) for _ in level]
        # the images nearest first (the latest level first, each in its order), unframed then framed: the
        # smaller images of an image at level L are the ones of levels under L, in this order
        nearest = sorted(range(len(self.images)), key=lambda i: (-self.level[i], i))
        unframed = [i for i in nearest if not self.images[i][2]]
        self.order = unframed + [i for i in nearest if self.images[i][2]]
        self.unframed = len(unframed)
        depth = [-self.level[i] for i in self.order]  # ascending in each of the two parts
        # where an image's smaller images start in each part (the images of its level and above come first)
        self.starts = [(bisect_right(depth, -self.level[i], 0, self.unframed),
                        bisect_right(depth, -self.level[i], self.unframed)) for i in range(len(self.images))]
        self.verdict: list[bool | None] = [None] * len(self.images)  # True: an upscale
        self.cursor = [start for start, _ in self.starts]  # the next position in `order` to look at
        self.judged = [0] * len(self.images)  # how many smaller images judged it no upscale (or could not)
        self.pending = list(range(len(self.images)))  # the images without a verdict, smallest first

    def next_pairs(self, scores: dict[Pair, float]) -> list[Pair]:
        """Make the verdicts the scores allow (smaller images first: one made serves the larger ones at once),
        then the pairs to score next, at most one per image."""
        wanted, pending = [], []
        for index in self.pending:
            pair = self._advance(index, scores)
            if pair is not None:
                wanted.append(pair)
            if self.verdict[index] is None:
                pending.append(index)
        self.pending = pending
        return wanted

    def _advance(self, index: int, scores: dict[Pair, float]) -> Pair | None:
        image, order = self.images[index], self.order
        while self.verdict[index] is None:
            if self.judged[index] == MAX_SOURCES or self.cursor[index] == len(order):
                self.verdict[index] = False
                break
            if self.cursor[index] == self.unframed != self.starts[index][1]:  # on to the framed ones
                self.cursor[index] = self.starts[index][1]
                continue
            source = order[self.cursor[index]]
            if judging_side(image[1], self.images[source][1]) is None or self.verdict[source]:
                # too close in size (or too small), or an upscale: not a source
                self.cursor[index] += 1
                continue
            if self.verdict[source] is None:
                return None  # wait for its verdict
            pair = (self.images[source], image)
            if pair not in scores:
                return pair
            if scores[pair] < UPSCALE_SCORE:  # NaN (not judged) is no upscale
                self.verdict[index] = True
            else:
                self.judged[index] += 1
                self.cursor[index] += 1
        return None

    def found(self) -> list[str]:
        return [image[0] for image, upscaled in zip(self.images, self.verdict) if upscaled]


class _Scorer:
    """`upscale_score` of a (smaller, larger) pair of images by key, NaN when it cannot be judged (an image
    unreadable, or the measure failed). The smaller image's own round trip is kept per size: an image is the
    smaller one of many pairs, often at one ratio (the same result as measuring it again)."""

    def __init__(self, open_image: Callable[[str, int], Image.Image | None]):
        self.open_image = open_image
        self.sizes: dict[Image_, tuple[int, int] | None] = {}  # the smaller image as opened (None: unreadable)
        self.own: dict[tuple[Image_, int], float] = {}  # (smaller image, trip's short side) -> its trip_loss
        self.enlarged: dict[tuple[Image_, tuple[int, int]], float] = {}  # (smaller image, size) -> `band_ratio`'s
        # reference: its trip_loss enlarged to that size

    def __call__(self, small: Image_, large: Image_) -> float:
        side = judging_side(large[1], small[1])
        if side is None:
            return float("nan")
        try:
            big = self.open_image(large[0], side)
            if big is None:
                return float("nan")
            little = None
            if small not in self.sizes:
                little = self._open_small(small)
            if self.sizes[small] is None:
                return float("nan")

            def measured(cache: dict, key, measure: Callable[[Image.Image], float]) -> float:
                nonlocal little
                if key not in cache:
                    little = self._open_small(small) if little is None else little
                    if little is None:
                        return float("nan")
                    try:
                        cache[key] = measure(little)
                    except Exception:  # noqa: BLE001 - as below: the pair is not judged
                        cache[key] = float("nan")
                return cache[key]

            def own_loss(short: int) -> float:
                return measured(self.own, (small, short), lambda image: trip_loss(image, short))

            def enlarged_loss(size: tuple[int, int]) -> float:
                return measured(self.enlarged, (small, size),
                                lambda image: trip_loss(enlarged(image, size), min(image.size)))

            return _score_sized(big, self.sizes[small], own_loss, enlarged_loss)
        except Exception:  # noqa: BLE001 - an unreadable image (or a failed measure) leaves the pair unjudged, as
            return float("nan")  # the statistic does: the keep rule never stops a filter run

    def _open_small(self, small: Image_) -> Image.Image | None:
        try:
            image = self.open_image(small[0], min(small[1]))
        except Exception:  # noqa: BLE001 - unreadable: no pair with it is judged
            image = None
        self.sizes[small] = None if image is None else image.size
        return image
