"""Collage panels: two photos set side by side (or stacked) on a flat gutter, each panel hashed as a view of
the image (`phash_panels`), so that a collage is linked to the photos in it (curate.filters.pixel_links
`_add_panel_links`; audit DF 2: collages were linked 1 and 2 of 30, and crossed the split unseen).

The gutter is found with the border rule's flat-line test (curate.filters.phash `_flat`), each panel is cut to its
own border (`content_box`) and pHashed; `view_panels` and `panel_agreement` confirm a candidate on pixels.
"""

from __future__ import annotations

from collections.abc import Iterable

import imagehash
import numpy as np
from PIL import Image

from curate.filters.phash import GreyPlanes, _content_box, _flat, as_grey, content_box, grey_planes, parse_phashes

# The collage rule (`panel_boxes`; audit DF 2: two photos side by side on a 20 px white gutter, 600 px high, linked
# 1 and 2 of 30): an image at least PANEL_MIN_ASPECT times as wide as high (or as high as wide) is a collage of two
# panels when a run of flat lines (`_flat`, the border rule's test) across its short side lies within the middle
# PANEL_GUTTER_SPAN of its long side and leaves two panels of at least PANEL_MIN_SHARE of it, neither with more than
# PANEL_MAX_FLAT of its own lines flat (a sky, a wall: not a photo). The run must be at least PANEL_MIN_GUTTER of
# the long side, and two lines (at the decode pass's 256 px short side: one flat line in a photo is no gutter).
PANEL_MIN_ASPECT = 1.5
PANEL_GUTTER_SPAN = (0.25, 0.75)
PANEL_MIN_SHARE = 0.25
PANEL_MAX_FLAT = 0.5
PANEL_MIN_GUTTER = 0.004


def panel_boxes(grey: np.ndarray) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None:
    """The two panels of a collage, each as (top, bottom, left, right) with its own uniform border cut off
    (`content_box`), or None when `grey` is no collage by the rule above.

    Example:
        >>> pattern = np.add.outer(np.arange(60.0), np.arange(58.0)) % 37 * 6
        >>> collage = np.full((60, 126), 255.0)
        >>> collage[:, :58], collage[:, 68:] = pattern, pattern[:, ::-1]  # a 10 px white gutter
        >>> panel_boxes(collage)
        ((0, 60, 0, 58), (0, 60, 68, 126))
        >>> panel_boxes(np.add.outer(np.arange(60.0), np.arange(126.0)) % 37) is None  # no gutter
        True
    """
    codes = grey if isinstance(grey, np.ndarray) and grey.dtype == np.uint8 else None
    return _panel_boxes(np.asarray(grey, dtype=np.float32), codes)


def _panel_boxes(grey: np.ndarray, codes: np.ndarray | None
                 ) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None:
    """`panel_boxes` of float32 `grey`; `codes`: the same pixels as uint8, or None (curate.filters.phash `_flat`).
    The middle span's lines are tested first: without a flat one there, there is no gutter (most photos)."""
    height, width = grey.shape
    if min(height, width) < 8 or max(height, width) < PANEL_MIN_ASPECT * min(height, width):
        return None
    wide = width >= height
    lines = grey.T if wide else grey  # a wide image's columns, a tall one's rows
    coded = None if codes is None else (codes.T if wide else codes)
    count = len(lines)
    low, high = int(PANEL_GUTTER_SPAN[0] * count), int(np.ceil(PANEL_GUTTER_SPAN[1] * count))
    if not _flat(lines[low:high], None if coded is None else coded[low:high])[0].any():
        return None
    flat, _ = _flat(lines, coded)
    edges = np.diff(np.concatenate([[0], flat[low:high].astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1) + low, np.flatnonzero(edges == -1) + low
    if not len(starts):
        return None
    longest = int(np.argmax(ends - starts))
    start, end = int(starts[longest]), int(ends[longest])
    while start > 0 and flat[start - 1]:  # the whole run of flat lines, past the middle span
        start -= 1
    while end < count and flat[end]:
        end += 1
    if end - start < max(2, round(PANEL_MIN_GUTTER * count)) \
            or min(start, count - end) < PANEL_MIN_SHARE * count:
        return None
    boxes = []
    for first, last in ((0, start), (end, count)):
        if flat[first:last].mean() > PANEL_MAX_FLAT:
            return None
        box = (0, height, first, last) if wide else (first, last, 0, width)
        inner = _content_box(grey[box[0]:box[1], box[2]:box[3]],
                             None if codes is None else codes[box[0]:box[1], box[2]:box[3]])
        if inner is not None:
            box = (box[0] + inner[0], box[0] + inner[1], box[2] + inner[2], box[2] + inner[3])
        boxes.append(box)
    return boxes[0], boxes[1]


def panel_phashes(image: Image.Image, planes: GreyPlanes | None = None) -> str | None:
    """The pHashes of a collage's two panels (`panel_boxes`) as "hex16 hex16", or None when it is no collage.

    Computed by the decode pass on the image shrunk to a 256 px short side: a photo set in a collage has a panel hash
    within a few bits of its own `phash`. `planes`: `phash.grey_planes` of `image` when the caller has them.

    Example:
        >>> photo = Image.linear_gradient("L").resize((96, 64)).rotate(30)
        >>> panel_phashes(photo) is None
        True
    """
    grey = as_grey(image)
    boxes = _panel_boxes(*(planes or grey_planes(grey)))
    if boxes is None:
        return None
    return " ".join(str(imagehash.phash(grey.crop((left, top, right, bottom)))) for top, bottom, left, right in boxes)


def parse_panel_phashes(values: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """("hex16 hex16" strings of `panel_phashes` -> (n, 2) uint64 panel hashes, whether each row has both).

    Example:
        >>> hashes, ok = parse_panel_phashes(["00000000000000ff 0000000000000001", None, "bad"])
        >>> hashes[0].tolist(), ok.tolist()
        ([255, 1], [True, False, False])
    """
    items = list(values)
    parts = [item.split() if isinstance(item, str) else [] for item in items]
    halves = [[p[k] if len(p) == 2 else None for p in parts] for k in (0, 1)]
    (first, first_ok), (second, second_ok) = parse_phashes(halves[0]), parse_phashes(halves[1])
    if not items:
        return np.empty((0, 2), dtype=np.uint64), np.empty(0, dtype=bool)
    return np.stack([first, second], axis=1), first_ok & second_ok


def view_panels(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The two panels of a collage's small grey view (`pixel_scores.grey_view`, 128 px long side), each with its own
    border cut off (`content_box`), for an image the decode pass found a collage (`panel_phashes`): `panel_boxes`
    where it finds the gutter, else a cut at the flattest line of the middle span (a 20 px gutter of a 1,700 px wide
    collage is under two lines at that size, blurred into its neighbours); None for a view too square or small.

    Example:
        >>> pattern = np.add.outer(np.arange(40.0), np.arange(60.0)) % 37 * 6
        >>> collage = np.concatenate([pattern, np.full((40, 1), 200.0), pattern[:, ::-1]], axis=1)
        >>> [panel.shape for panel in view_panels(collage)]
        [(40, 60), (40, 60)]
    """
    grey = np.asarray(grey, dtype=np.float32)
    height, width = grey.shape
    if min(height, width) < 8 or max(height, width) < PANEL_MIN_ASPECT * min(height, width):
        return None
    boxes = panel_boxes(grey)
    if boxes is None:
        lines = grey.T if width >= height else grey
        count = len(lines)
        low, high = int(PANEL_GUTTER_SPAN[0] * count), int(np.ceil(PANEL_GUTTER_SPAN[1] * count))
        cut = low + int(np.argmin(lines[low:high].std(axis=1)))
        boxes = []
        for first, last in ((0, cut), (cut + 1, count)):
            box = (0, height, first, last) if width >= height else (first, last, 0, width)
            inner = content_box(grey[box[0]:box[1], box[2]:box[3]])
            if inner is not None:
                box = (box[0] + inner[0], box[0] + inner[1], box[2] + inner[2], box[2] + inner[3])
            boxes.append(box)
    return tuple(np.ascontiguousarray(grey[top:bottom, left:right]) for top, bottom, left, right in boxes)


def panel_agreement(panel: np.ndarray, other: np.ndarray) -> float:
    """How well a collage's panel (`view_panels`) and another image's grey view agree: the correlation of their grey
    values once the other is resized to the panel (1: the same picture; real collage pairs >= 0.95, different real
    photos <= 0.76: docs/benchmarks.md, "Collage panels").

    Example:
        >>> ramp = np.add.outer(np.arange(30.0), np.arange(40.0))
        >>> round(panel_agreement(ramp, ramp), 3), panel_agreement(ramp, ramp[::-1, ::-1]) < 0
        (1.0, True)
    """
    panel = np.asarray(panel, dtype=np.float32)
    resized = np.asarray(Image.fromarray(np.asarray(other, dtype=np.float32)).resize(
        (panel.shape[1], panel.shape[0]), Image.BOX), dtype=np.float32)
    one, two = panel - panel.mean(), resized - resized.mean()
    scale = float(np.sqrt((one * one).sum() * (two * two).sum()))
    return float((one * two).sum() / scale) if scale > 0 else -1.0
