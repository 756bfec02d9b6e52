"""Exact duplicates (same bytes) and the choice of which copy stays.

Rule, shared with near-duplicate clusters: among the group's rows that are still kept (labelled
before unlabelled), the representative is the best view of the picture: not an upscaled copy
(`upscaled_copies`: more pixels than a copy of its picture but less fine detail; a cluster a kept collage joins
holds several pictures, and each is judged within its own copies: `Clusters.apart`), not framed
(a uniform border: letterboxed, padded, a screenshot), not a 9:16 portrait (a Stories crop), not greyscale, then
the one with the
most pixels, not a copy under a tiled watermark (`Clusters.overlaid`: the side of an overlay link that carries
the text; it breaks ties of size only, so a wrong mark cannot put an original after a smaller copy), the earliest
`taken_at` (photos without a date last), the smallest `photo_id` (among copies of one file, one with an
`owner_id` before it: the attribution). If
no row of the group is kept, the same rule picks among all of them (so every row still gets a
group id). A repost keeps what it can of the original, so the catalog's other signals (owner,
date) tell them apart less well than the pixels do (audit AV1: the most pixels alone kept an
upscaled, blurred JPEG q40 repost in 12 of 12 clusters and a letterboxed copy in 30 of 30).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from curate import schema
from curate.filters.quality import CHECK_BY_NAME, STAT_SIDE

if TYPE_CHECKING:
    from PIL import Image

# A copy with more pixels than another of its group has less fine detail than it (Laplacian variance, both
# measured at STAT_SIDE px at ingest) by more than this factor: an upscale, whatever its pixels say. Audit AX:
# at 0.8 (chosen on 256 px photos) a photo beside its own downscale to 256 px or sharpened for the web read as
# the upscale (a resampling filter sharpens more than the statistic's own shrink): 28 % of 30 real photos
# under 0.5 beside their Lanczos downscale to 256 px, none under 0.3; blurred upscales read 0.03-0.3
# (bench/keep_rule.py). The pixels (`curate.filters.upscale`) judge the rest when the images can be read.
UPSCALED_DETAIL = 0.3
GREY_CHROMA = -CHECK_BY_NAME["greyscale"].threshold  # the greyscale check's colour limit (1.6 of 255)


def _column(catalog: pd.DataFrame, name: str) -> pd.Series:
    return catalog[name] if name in catalog.columns else pd.Series(np.nan, index=catalog.index)


ImageOpener = Callable[[str, int], "Image.Image | None"]  # (sha256, least short side) -> the upright RGB image


def upscaled_copies(catalog: pd.DataFrame, group_key: pd.Series, open_image: ImageOpener | None = None,
                    workers: int = 1) -> np.ndarray:
    """Rows with more pixels than another row of their group (`group_key`) that are upscales of it: their
    `laplacian_var` under UPSCALED_DETAIL times the most detailed copy with fewer pixels (images at least
    STAT_SIDE px on the short side, both measured at that scale), or, when `open_image` reads the images,
    their pixels judged against the nearest smaller copies of the group that are no upscales themselves
    (`curate.filters.upscale.upscales`: an `upscale_score` under UPSCALE_SCORE against any of them).

    >>> rows = pd.DataFrame({"width": [500, 750, 300, 1000], "height": [400, 600, 260, 800],
    ...                      "laplacian_var": [900.0, 120.0, 800.0, 880.0]})
    >>> upscaled_copies(rows, pd.Series(["a", "a", "b", "b"])).tolist()
    [False, True, False, False]
    """
    soft = _detail_upscaled(catalog, group_key)
    if open_image is not None:
        soft |= _pixel_upscaled(catalog, group_key, open_image, workers)
    return soft


def _detail_upscaled(catalog: pd.DataFrame, group_key: pd.Series) -> np.ndarray:
    """`upscaled_copies` by the ingest statistic alone."""
    pixels = (_column(catalog, "width").astype("Float64") * _column(catalog, "height").astype("Float64"))
    short = np.minimum(_column(catalog, "width").astype("Float64"), _column(catalog, "height").astype("Float64"))
    detail = _column(catalog, "laplacian_var").astype("Float64")
    eligible = (group_key.notna() & detail.notna() & pixels.notna() & (short >= STAT_SIDE)).fillna(False)
    if not eligible.any():
        return np.zeros(len(catalog), bool)
    rows = pd.DataFrame({"key": group_key[eligible].astype(str), "pixels": pixels[eligible].astype("float64"),
                         "detail": detail[eligible].astype("float64")})
    levels = rows.groupby(["key", "pixels"], sort=True)["detail"].max().reset_index()
    # the most detail among the group's copies with strictly fewer pixels (the levels before this one)
    levels["before"] = levels.groupby("key")["detail"].cummax().groupby(levels["key"]).shift(1)
    before = rows.merge(levels[["key", "pixels", "before"]], on=["key", "pixels"], how="left")["before"]
    soft = np.zeros(len(catalog), bool)
    soft[np.flatnonzero(eligible.to_numpy())] = (rows["detail"].to_numpy() < UPSCALED_DETAIL * before.to_numpy())
    return soft


def upscale_groups(catalog: pd.DataFrame, group_key: pd.Series) -> list[list[list[tuple[str, tuple[int, int], bool]]]]:
    """The groups (`group_key`) whose distinct images (by sha256) differ in pixel count, each as its levels from
    the fewest pixels up, a level's images (sha256, (width, height), framed: `phash_trimmed` set) the most
    detailed (`laplacian_var`) first, then by sha256: what `curate.filters.upscale.upscales` judges.

    >>> rows = pd.DataFrame({"sha256": ["a", "b", "c", "d", "e"], "width": [400, 800, 800, 200, 90],
    ...                      "height": [300, 600, 600, 150, 90], "laplacian_var": [50.0, 40.0, 40.0, 60.0, 1.0]})
    >>> upscale_groups(rows, pd.Series(["k", "k", None, "k", "m"]))
    [[[('d', (200, 150), False)], [('a', (400, 300), False)], [('b', (800, 600), False)]]]
    """
    width, height = _column(catalog, "width").astype("Float64"), _column(catalog, "height").astype("Float64")
    usable = (group_key.notna() & catalog["sha256"].notna() & width.notna() & height.notna()).fillna(False)
    images = pd.DataFrame({"key": group_key[usable].astype(str), "sha": catalog.loc[usable, "sha256"].astype(str),
                           "w": width[usable].astype("int64"), "h": height[usable].astype("int64"),
                           "detail": _column(catalog, "laplacian_var")[usable].astype("float64"),
                           "framed": _column(catalog, "phash_trimmed")[usable].notna()})
    images = images.drop_duplicates(["key", "sha"]).assign(pixels=lambda f: f["w"] * f["h"])
    images = images[images.groupby("key")["pixels"].transform("nunique") > 1]
    images = images.sort_values(["key", "pixels", "detail", "sha"], ascending=[True, True, False, True],
                                na_position="last", kind="stable")
    groups = []
    for _, group in images.groupby("key", sort=True):
        groups.append([[(sha, (int(w), int(h)), bool(framed))
                        for sha, w, h, framed in zip(level["sha"], level["w"], level["h"], level["framed"])]
                       for _, level in group.groupby("pixels", sort=True)])
    return groups


def _pixel_upscaled(catalog: pd.DataFrame, group_key: pd.Series, open_image: ImageOpener,
                    workers: int) -> np.ndarray:
    """Rows whose image the pixels judge an upscale of a smaller image of its group (`upscale_groups`)."""
    from curate.filters.upscale import upscales
    from curate.progress import working

    groups = upscale_groups(catalog, group_key)
    if not groups:
        return np.zeros(len(catalog), bool)
    with working(f"keep rule: the pixels of {len(groups):,} clusters whose copies differ in size"):
        found = upscales(groups, open_image, workers)
    return (catalog["sha256"].isin(found) & group_key.notna()).to_numpy(bool)


def representative_order(catalog: pd.DataFrame, upscaled: np.ndarray | None = None,
                         overlaid: np.ndarray | None = None, attributed: bool = False) -> np.ndarray:
    """Row positions sorted by the keep rule (best candidate first): kept before dropped, then labelled before
    unlabelled (a copy filed in a label folder and in a year or camera folder keeps its label), then not an
    upscaled copy (`upscaled`: `upscaled_copies` within each picture's copies; none when None), not framed
    (`phash_trimmed` set), not a 9:16 portrait (its own strip hash in `phash_strips`: a Stories crop keeps a third
    to a half of its photo, whatever its pixels; review DP F2: a crop cut from the full-size file was kept over its
    480 px landscape photo, 3 of 3), not greyscale, then the most pixels, then not under an overlay (`overlaid`: the
    side of an overlay link found to carry a tiled watermark, `Clusters.overlaid`; none when None; review DP F1: a
    same-size watermarked copy was kept over its original 2 of 2; after the pixels, not before: review DX saw a
    strongly sharpened copy mark its original for 4 of 85 real photos, which would then lose to every smaller
    copy), the earliest taken, with `attributed` (copies of one file) one with an owner (audit DY: an exact copy
    with its owner was dropped for its owner-less original, so the kept row lost the only attribution; not for near
    duplicates, whose owner says nothing of which copy is the original), the smallest photo_id."""
    pixels = (catalog["width"].astype("Float64") * catalog["height"].astype("Float64")).fillna(0).to_numpy("float64")
    taken = catalog["taken_at"].to_numpy("datetime64[us]").astype("int64")
    taken = np.where(catalog["taken_at"].isna().to_numpy(), np.iinfo("int64").max, taken)
    kept_first = (catalog["status"] != schema.KEPT).to_numpy()
    labelled_first = catalog["label"].isna().to_numpy()
    soft = np.zeros(len(catalog), bool) if upscaled is None else np.asarray(upscaled, bool)
    marked = np.zeros(len(catalog), bool) if overlaid is None else np.asarray(overlaid, bool)
    framed = _column(catalog, "phash_trimmed").notna().to_numpy()
    portrait = _column(catalog, "phash_strips").map(lambda value: isinstance(value, str)
                                                    and value.startswith("own:")).to_numpy(bool)
    grey = (_column(catalog, "chroma_mean").astype("Float64") < GREY_CHROMA).fillna(False).to_numpy(bool)
    ids = catalog[schema.PHOTO_ID].to_numpy(str)
    anonymous = _column(catalog, "owner_id").isna().to_numpy(bool) if attributed else np.zeros(len(catalog), bool)
    return np.lexsort((ids, anonymous, taken, marked, -pixels, grey, portrait, framed, soft, labelled_first,
                       kept_first))


def group_representatives(catalog: pd.DataFrame, group_key: pd.Series, upscaled: np.ndarray | None = None,
                          overlaid: np.ndarray | None = None, attributed: bool = False) -> pd.Series:
    """photo_id of each row's group representative; null where `group_key` is null (`upscaled`, `overlaid`,
    `attributed`: see `representative_order`)."""
    order = representative_order(catalog, upscaled, overlaid, attributed)
    keys = group_key.to_numpy(object)[order]
    ids = catalog[schema.PHOTO_ID].to_numpy(object)[order]
    has_key = pd.notna(keys)
    first = pd.Series(ids[has_key], index=pd.Index(keys[has_key])).groupby(level=0, sort=False).first()
    return group_key.map(first).where(group_key.notna(), None)


def exact_duplicates(catalog: pd.DataFrame, per_label: bool = False) -> tuple[pd.Series, pd.Series]:
    """(exact_dup_group, is_duplicate): rows sharing a sha256, and which are redundant copies.

    `exact_dup_group` is the representative's photo_id on every row with an image;
    `is_duplicate` is True for kept rows that are not their group's representative. With
    `per_label` (copies under different labels held, `conflicts_held`), each label keeps its own
    copy: a copy is redundant only beside a better one of the same label (the group stays one, so
    the split still keeps every copy on one side).
    """
    group = group_representatives(catalog, catalog["sha256"], attributed=True)
    keeper = group
    if per_label:
        key = catalog["sha256"].astype(object) + "\x00" + catalog["label"].astype(object).fillna("")
        keeper = group_representatives(catalog, key.where(catalog["sha256"].notna(), None), attributed=True)
    is_duplicate = keeper.notna() & (keeper != catalog[schema.PHOTO_ID]) & (catalog["status"] == schema.KEPT)
    return group, is_duplicate


# Copies of one image filed under different labels are dropped as ambiguous_label (a label
# conflict), unless they look like the collection's design: nested label folders (city ⊃ street)
# or a multi-label export that copies a photo into each of its labels. Then at least MIN_HELD photos
# are such copies, and they are more than MAX_CONFLICT_SHARE of the labelled photos or over half of
# a label (of MIN_HELD photos or more): the drops are held (kept, one copy per label, with a warning).
MAX_CONFLICT_SHARE = 0.1
MIN_HELD = 10


def conflicts_held(per_label: pd.DataFrame) -> bool:
    """Whether the label conflicts of a collection look like its design rather than mistakes, from
    its kept labelled `photos` and the `conflicting` ones among them, per label (both engines).

    >>> conflicts_held(pd.DataFrame({"photos": [60, 30], "conflicting": [30, 30]}))
    True
    >>> conflicts_held(pd.DataFrame({"photos": [500, 400], "conflicting": [1, 1]}))
    False
    """
    photos, conflicting = per_label["photos"].sum(), per_label["conflicting"].sum()
    if conflicting < MIN_HELD:  # a few copies under two labels: mistakes, whatever their share
        return False
    most = (per_label["photos"] >= MIN_HELD) & (per_label["conflicting"] > 0.5 * per_label["photos"])
    return bool(conflicting > MAX_CONFLICT_SHARE * photos or most.any())


def label_conflicts(catalog: pd.DataFrame, key: pd.Series) -> tuple[pd.Series, list[tuple[str, ...]]]:
    """Kept rows whose `key` (sha256, or a near-duplicate cluster) is shared by kept rows carrying two
    or more different labels: copies of one picture that disagree on what it shows.

    Returns (a mask of those rows, one sorted tuple of labels per conflicting key, the keys in
    sorted order). Unlabelled copies of a conflicting key are in the mask too.

    >>> frame = pd.DataFrame({"status": ["kept"] * 4, "label": ["a", "b", "a", None]})
    >>> mask, labels = label_conflicts(frame, pd.Series(["x", "x", "y", "x"]))
    >>> mask.tolist(), labels
    ([True, True, False, True], [('a', 'b')])
    """
    kept = (catalog["status"] == schema.KEPT) & key.notna()
    labelled = kept & catalog["label"].notna()
    names = catalog.loc[labelled, "label"].groupby(key[labelled]).agg(lambda values: tuple(sorted(set(values))))
    names = names[names.map(len) >= 2].sort_index()
    return kept & key.isin(names.index), names.tolist()


def conflict_examples(labels: list[tuple[str, ...]], shown: int = 3) -> str:
    """The first `shown` distinct label sets of the conflicts, as a note shows them, each once with
    how many conflicts carry it: 'a' / 'b' (x3), 'c' / 'd' …

    >>> conflict_examples([("a", "b"), ("a", "b"), ("c", "d"), ("a", "b")])
    "'a' / 'b' (x3), 'c' / 'd'"
    """
    counts: dict[tuple[str, ...], int] = {}
    for names in labels:
        counts[names] = counts.get(names, 0) + 1
    text = ", ".join(" / ".join(repr(name) for name in names) + (f" (x{n})" if n > 1 else "")
                     for names, n in list(counts.items())[:shown])
    return text + (" …" if len(counts) > shown else "")
