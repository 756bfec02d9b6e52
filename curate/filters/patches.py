"""The patch match: a copy with part of it covered (a sticker, a logo, caption bands) or recoloured as a whole.

Both grey views (`pixel_scores.grey_view`) are squashed to PATCH_SIDE px square, their shading taken out (minus a
Gaussian blur of PATCH_SIGMA px, so what is left is the detail), and cut into a PATCH_GRID x PATCH_GRID grid
of patches. A patch *agrees* when the zero-mean correlation of its detail in the two images is at least
PATCH_AGREE; a patch flat in one image and detailed in the other (a flat sticker over the photo) disagrees,
and one flat in both is not judged. The score is the share of judged patches that agree over the best band of
at least half the rows holding the two middle rows (the whole picture is one), and at most twice the share of
the two middle rows and of the central block (the middle half of the rows and columns). A sticker over 8 % of
a photo spoils the patches it covers and no others, and caption bands over the top and bottom of a meme spoil
rows the band leaves out, so such copies score 0.81-1.00 (audit I's, within 12 bits), while one measure over
the whole picture (the window match, the thumbnails' colours, the embedding) falls below its limit; a sepia
copy keeps its detail and scores 0.93-1.00. Two different photos seldom agree patch for patch: among every
pair of different real photos in ../shared/realdata whose pHashes are 9-16 bits apart (9,770 pairs) the
highest score is 0.25 (docs/benchmarks.md, "Patch match"). But two pictures that share most of their pixels
do, whatever differs: different photos in one app's interface, one frame, one greeting-card or mockup
template. The middle rows and the central block hold down those whose photos sit in the middle; not those
whose photo is off the middle or small (audit L). So the rule is off unless asked for
(`near_dup_patch_share`).

It is the last confirmation of a pHash pair (`verify.link_pairs`): candidates within near_dup_bits that no
other evidence confirmed, and pairs up to PATCH_MARGIN_BITS beyond it that the candidates' own search meets
(most: `neardup.near_duplicate_pairs`' search_bits), which is where 70 % of the sticker copies fall. It needs
the stored images (one decode of each image in such a pair).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

PATCH_SIDE = 128  # px: both views squashed to this square (the grey view's longer side)
PATCH_GRID = 8  # patches per side (16 px each)
PATCH_SIGMA = 3.0  # px: the blur taken out (the shading), leaving the detail
PATCH_AGREE = 0.8  # a patch agrees when its detail correlates this well in the two images
MIN_DETAILED = 8  # fewer judged patches (detail in either image) in a band: too little to judge it
MIN_BAND_ROWS = PATCH_GRID // 2  # the score is that of the best band of at least this many rows of patches
# The patch links alone joining more images than one photo and its copies (calibration.MAX_COPIES: 12) are not
# made: images that share most of their pixels without being one photo (screenshots of different photos in one
# app, whose interface covers most of the screen) agree patch for patch with many others, a photo's copies only
# with each other.
MAX_GROUP = 13
PATCH_MARGIN_BITS = 4  # pHash pairs this many bits beyond near_dup_bits are candidates too
FLAT_RMS = 0.5  # grey levels: a patch whose detail has a smaller root mean square is flat (JPEG noise is ~1)


def patch_view(grey: np.ndarray, flip: bool = False) -> np.ndarray:
    """(PATCH_GRID**2, (PATCH_SIDE // PATCH_GRID)**2) float32: each patch's zero-mean detail, row by row.
    `flip`: of the left-right mirror (a pair whose mirrored pHashes matched)."""
    from scipy import ndimage

    square = np.asarray(Image.fromarray(np.asarray(grey, np.float32)).resize((PATCH_SIDE, PATCH_SIDE),
                                                                              Image.BILINEAR), np.float32)
    if flip:
        square = square[:, ::-1]
    detail = square - ndimage.gaussian_filter(square, PATCH_SIGMA)
    side = PATCH_SIDE // PATCH_GRID
    patches = detail.reshape(PATCH_GRID, side, PATCH_GRID, side).transpose(0, 2, 1, 3).reshape(PATCH_GRID ** 2, -1)
    return patches - patches.mean(axis=1, keepdims=True)


def patch_share(first: np.ndarray, second: np.ndarray) -> float:
    """The share of patches (`patch_view`s of two images) whose detail correlates at least PATCH_AGREE, among
    those with detail in either (flat in both: not judged), over the best band of rows: at least half of them,
    one after another, across the whole width, holding the two middle rows (the whole picture is one such band);
    and at most twice the two middle rows' own share, and twice the central block's (the middle half of the rows
    and of the columns). A band is judged only when at least MIN_DETAILED of its
    patches are; 0 when none is.

    >>> rng = np.random.default_rng(0)
    >>> photo = np.asarray(Image.fromarray(rng.integers(0, 256, (48, 64), dtype=np.uint8)).resize((128, 96)),
    ...                    np.float32)
    >>> stickered = photo.copy(); stickered[10:40, 20:55] = 255  # a white box over 9 % of it
    >>> captioned = photo.copy(); captioned[:15] = captioned[-15:] = 255  # white bands over a third of it
    >>> other = np.asarray(Image.fromarray(rng.integers(0, 256, (48, 64), dtype=np.uint8)).resize((128, 96)),
    ...                    np.float32)
    >>> view = patch_view(photo)
    >>> [patch_share(view, patch_view(copy)) >= 0.8 for copy in (stickered, captioned)]
    [True, True]
    >>> patch_share(view, patch_view(other)) < 0.1
    True
    """
    energies = [np.einsum("ij,ij->i", view, view) for view in (first, second)]
    flat = FLAT_RMS ** 2 * first.shape[1]
    detailed = (energies[0] > flat) | (energies[1] > flat)  # flat in one only: a flat cover, it disagrees
    energy = energies[0] * energies[1]
    correlation = np.einsum("ij,ij->i", first, second) / np.sqrt(np.where(energy > 0, energy, 1.0))
    agree = ((correlation >= PATCH_AGREE) & detailed).reshape(PATCH_GRID, PATCH_GRID).sum(axis=1)
    judged = detailed.reshape(PATCH_GRID, PATCH_GRID).sum(axis=1)
    best = 0.0
    middle = PATCH_GRID // 2
    for top in range(middle):  # every band holds the two middle rows
        for bottom in range(max(top + MIN_BAND_ROWS, middle + 1), PATCH_GRID + 1):
            count = judged[top:bottom].sum()
            if count >= MIN_DETAILED:
                best = max(best, float(agree[top:bottom].sum() / count))
    centre = judged[middle - 1:middle + 1].sum()
    if centre:  # the middle rows agree at least half as well: what differs is not the middle of the picture
        best = min(best, 2 * float(agree[middle - 1:middle + 1].sum() / centre))
    quarter = slice(PATCH_GRID // 4, PATCH_GRID - PATCH_GRID // 4)  # the central block, a quarter of the picture
    block = detailed.reshape(PATCH_GRID, PATCH_GRID)[quarter, quarter].sum()
    if block:  # ... and so does the central block: not a different photo in one frame or card
        agreeing = ((correlation >= PATCH_AGREE) & detailed).reshape(PATCH_GRID, PATCH_GRID)[quarter, quarter].sum()
        best = min(best, 2 * float(agreeing / block))
    return best
