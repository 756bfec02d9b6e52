"""Collages that join different pictures (audit DQ 1): the rule that sets them aside, shared by both engines.

A collage of two photos is linked to each photo set in it (`pixel_links._add_panel_links`), rightly: it holds
both pictures' pixels, so it must share a side of the split with each. But a collage of two *different* pictures
then joins their two clusters into one, and collages of consecutive pictures (a feed's "1/2, 2/3, 3/4 ..." posts)
chain them all: audit DQ's collection of 342 photos had 30 such collages chain 30 different cars and their 202
copies into one cluster of 231 photos; joined with the owners, one split group of 298 photos, so the split put
329 in train, 0 in val and 13 in test, and `--dedupe-near` could not help (it keeps a collage's cluster whole).

So a collage whose panel links reach two or more clusters that the other links keep apart (a *bridge*) is dropped
as ``collage`` by default, with its own copies (`bridging_collages`), and the clusters are computed without its
panel links: each picture keeps its copies, and no train photo holds a test picture's pixels. A collage whose panel
links reach one cluster only (the other panel unlinked, or both panels of one picture) stays linked to it. As the
other drops whose number can mean a design rather than mistakes, the drop is held (`held`) when the bridges are
10 or more photos and over 10 % of the labelled photos or most of a label (`duplicates.conflicts_held`'s rule):
the collages are then kept, joined, with a warning naming ``--force-collages``. ``--collages keep`` keeps them
joined without a word (the chain's split is then the user's choice).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curate.filters import duplicates
from curate.groups import components_from_pairs

COLLAGE_CHOICES = ("drop", "keep")


@dataclass(frozen=True)
class Clusters:
    """The near-duplicate cluster of each distinct image, both ways (numbered by first position): `joined`, the
    components of every link; `apart`, without the panel links of the bridging collages, whose images `bridges`
    marks (each bridging collage and its copies then form a cluster of their own)."""

    joined: np.ndarray
    apart: np.ndarray
    bridges: np.ndarray
    pictures: int = 0  # the clusters of the other links that the bridging collages' panel links reach
    # the images the overlay check found under an overlay their linked original lacks (a tiled watermark:
    # `overlay.overlay_copy`), which the keep rule puts after it; None: none found
    overlaid: np.ndarray | None = None

    def labels(self, drop: bool) -> np.ndarray:
        """The clusters to use: `apart` when the bridges are dropped, else `joined`."""
        return self.apart if drop else self.joined


def bridging_collages(n: int, first: np.ndarray, second: np.ndarray, panel_at: int | None, panels: int,
                      kept: np.ndarray | None = None, panel_first: int | None = None) -> Clusters:
    """The clusters of `n` images linked by the pairs (first[k], second[k]), of which the `panels` from position
    `panel_at` on are panel links (collage first; the `panel_first` links of the collage's first panel before those
    of its second: `verify.link_pairs`' panel_at, panel and panel_first counts), and which images are bridging
    collages: the members of a cluster of the other links whose first panel's links and second panel's links reach
    different such clusters (without `panel_first`: whose panel links reach two or more). The images `kept` marks (a
    reviewer kept them) bridge nothing: their links stay. Without a bridging collage's links, the photos one of its
    panels links are still one cluster (each is that panel's picture): a copy the other links missed keeps its
    photo.

    >>> # 0-1 one picture and its copy, 2 another picture, 3 a collage of both (its first panel 0, second 2),
    >>> # 4 its repost, 5 another copy of 0 which only the collage's first panel found
    >>> first, second = np.array([0, 3, 3, 3, 3]), np.array([1, 4, 0, 5, 2])  # two links, then three panel links
    >>> c = bridging_collages(6, first, second, 2, 3, panel_first=2)
    >>> c.joined.tolist(), c.apart.tolist(), c.bridges.tolist(), c.pictures
    ([0, 0, 0, 0, 0, 0], [0, 0, 1, 2, 2, 0], [False, False, False, True, True, False], 2)
    >>> bridging_collages(6, first, second, 2, 3, kept=np.array([0, 0, 0, 0, 1, 0], bool)).bridges.tolist()
    [False, False, False, False, False, False]
    >>> bool(bridging_collages(6, first, second, 2, 3, panel_first=3).bridges.any())  # both panels: one picture
    False
    """
    first, second = np.asarray(first, np.int64), np.asarray(second, np.int64)
    joined = components_from_pairs(n, first, second)
    side = np.full(len(first), -1)
    if panel_at is not None and panels:
        side[panel_at:panel_at + panels] = 1 if panel_first is not None else 0
        side[panel_at:panel_at + (panel_first or 0)] = 0
    is_panel = side >= 0
    if not is_panel.any():
        return Clusters(joined, joined, np.zeros(n, bool))
    base = components_from_pairs(n, first[~is_panel], second[~is_panel])
    reach = pd.DataFrame({"collage": base[first[is_panel]], "side": side[is_panel], "photo": base[second[is_panel]]})
    reach = reach[reach["collage"] != reach["photo"]].drop_duplicates()
    if panel_first is None:  # no sides known: two clusters reached are two pictures
        counts = reach["collage"].value_counts()
        bridging = counts.index[counts >= 2].to_numpy()
    else:  # each panel reaches its own clusters, and none of one panel's is the other's
        sides = reach.groupby("collage")["side"].nunique()
        shared = reach.groupby(["collage", "photo"])["side"].nunique()
        both = shared[shared > 1].index.get_level_values("collage").unique()
        bridging = sides.index[(sides == 2) & ~sides.index.isin(both)].to_numpy()
    if kept is not None:  # a cluster holding a photo a reviewer kept keeps its links
        bridging = np.setdiff1d(bridging, base[kept])
    bridges = np.isin(base, bridging)
    if not bridges.any():
        return Clusters(joined, joined, bridges)
    cut = is_panel & np.isin(base[first], bridging)
    # what one panel of a bridging collage links is one picture: its photos stay together, without the collage
    links = pd.DataFrame({"collage": first[cut], "side": side[cut], "photo": second[cut]})
    links["next"] = links.groupby(["collage", "side"])["photo"].shift(-1)
    links = links.dropna(subset=["next"])
    apart = components_from_pairs(n, np.concatenate([first[~cut], links["photo"].to_numpy(np.int64)]),
                                  np.concatenate([second[~cut], links["next"].to_numpy(np.int64)]))
    return Clusters(joined, apart, bridges, len(np.unique(apart[second[cut]])))


def cross_label_collages(rows: pd.DataFrame) -> pd.Index:
    """The near-duplicate clusters of `rows` (near_dup_cluster, label, phash_panels) that a collage joins across
    labels: they hold a photo with `phash_panels`, and their photos without panels carry two labels or more (a
    two-panel photo reposted under another label beside no picture of its own is a copy under two labels like any
    other: review EE). What `curate split` and `curate export` both tell apart (audit DY F7).

    >>> rows = pd.DataFrame({"near_dup_cluster": ["k", "k", "k", "m", "m"], "label": ["a", "b", "a", "a", "b"],
    ...                      "phash_panels": [None, None, "0 0", None, "0 0"]})
    >>> cross_label_collages(rows).tolist()
    ['k']
    """
    if "phash_panels" not in rows.columns:
        return pd.Index([])
    rows = rows[rows["near_dup_cluster"].notna()]
    panels = rows["phash_panels"].notna()
    plain = rows.loc[~panels & rows["label"].notna()].groupby("near_dup_cluster")["label"].nunique()
    return pd.Index(rows.loc[panels, "near_dup_cluster"].unique()).intersection(plain.index[plain > 1])


def reviewed_ids(reviewed_kept: Collection[str], photo_ids: pd.Series) -> set[str]:
    """The photo ids of `photo_ids` a reviewer's keep (`reviewed_kept`, the journal's ids as written) names: each
    id, or its legacy float twin (`f:12.0` for `f:12`, either way round: `curate.review.apply.float_id_twins`),
    as the review's own decisions are applied (review DU 6: a keep journalled under a twin id kept the collage, but
    the filter still set it apart from its pictures). The DuckDB engine matches the same
    (`curate.outofcore.neardup`).

    >>> sorted(reviewed_ids(["f:12.0", "f:7"], pd.Series(["f:12", "f:7", "f:9"])))
    ['f:12', 'f:12.0', 'f:7']
    """
    from curate.review.apply import float_id_twins

    ids = set(reviewed_kept)
    return ids | set(float_id_twins(ids, photo_ids).values()) if ids else ids


def held(per_label: pd.DataFrame, force: bool) -> bool:
    """Whether dropping the bridging collages is held: `per_label` holds each label's kept labelled `photos` and
    the bridging collages among them (`conflicting`); held by `duplicates.conflicts_held`'s rule, unless
    `force`.

    >>> held(pd.DataFrame({"photos": [300, 42], "conflicting": [20, 10]}), False)
    False
    >>> held(pd.DataFrame({"photos": [100, 50], "conflicting": [10, 30]}), False), held(
    ...     pd.DataFrame({"photos": [100, 50], "conflicting": [10, 30]}), True)
    (True, False)
    """
    return not force and duplicates.conflicts_held(per_label)


@dataclass(frozen=True)
class Found:
    """What the bridging collages join on this collection (`found`), for `drop_note`: `collages` (distinct collage
    pictures, a collage's copies counted once), how many of them join pictures of two or more labels
    (`cross_label`: counted per chain, as a chain's pictures share one split group), the most pictures one chain
    of collages joins (`largest`: 2 when no collage chains others), and how many join pictures of no label
    (`unlabelled`: an unlabelled collection's are neither of one label nor of two; review EE)."""

    collages: int = 0
    cross_label: int = 0
    largest: int = 0
    unlabelled: int = 0


def found(clusters: Clusters, image_labels: pd.DataFrame) -> Found:
    """`Found` from the clusters and `image_labels`: the labels of the kept photos of each image (columns ``pos``,
    its position in the clusters' arrays, and ``label``; an image under two labels has two rows). Both engines.

    >>> # pictures 0, 1 (label a), 2 (label b); collages 3 (of 0 and 1) and 4 (of 1 and 2) chain all three
    >>> c = Clusters(np.zeros(5, np.int64), np.arange(5), np.array([False, False, False, True, True]))
    >>> found(c, pd.DataFrame({"pos": [0, 1, 2, 3], "label": ["a", "a", "b", "a"]}))
    Found(collages=2, cross_label=2, largest=3, unlabelled=0)
    """
    bridges = np.asarray(clusters.bridges, bool)
    if not bridges.any():
        return Found()
    chain_of = pd.Series(clusters.joined[bridges])  # each collage (its copies counted once: one `apart` cluster)
    collage_chain = chain_of.groupby(clusters.apart[bridges]).first()
    pictures = pd.DataFrame({"chain": clusters.joined[~bridges], "picture": clusters.apart[~bridges]})
    pictures = pictures[pictures["chain"].isin(collage_chain)]
    per_chain = pictures.groupby("chain")["picture"].nunique()
    labelled = image_labels[~bridges[image_labels["pos"].to_numpy(np.int64)]]
    labels = pd.DataFrame({"chain": clusters.joined[labelled["pos"].to_numpy(np.int64)],
                           "label": labelled["label"].to_numpy(object)}).groupby("chain")["label"].nunique()
    counts = collage_chain.map(labels).fillna(0)
    return Found(int(len(collage_chain)), int((counts >= 2).sum()), int(per_chain.max()) if len(per_chain) else 0,
                 int((counts == 0).sum()))


def drop_note(photos: int, pictures: int, what: Found | None = None) -> list[str]:
    """The note when `photos` bridging collages (and their copies) were dropped, which joined `pictures`
    clusters, saying `what` they join on this collection (shared by both engines).

    >>> note = drop_note(8, 16, Found(collages=8, cross_label=0, largest=2))[0]
    >>> note[:92]
    '8 photos dropped as collage (8 collages of photos of different pictures, and copies of them;'
    >>> note[93:126]
    'all 8 of pictures of one label): '
    >>> "each would join its own 2 pictures" in note and "no collage chains others here" in note
    True
    >>> drop_note(3, 6, Found(collages=3, largest=2, unlabelled=3))[0][28:123]  # review EE: not "of one label"
    '(3 collages of photos of different pictures, and copies of them; all 3 of unlabelled pictures):'
    """
    if not photos:
        return []
    what = what or Found()
    if what.collages:
        one = what.collages - what.cross_label - what.unlabelled
        kinds = [(what.cross_label, "of pictures of two or more labels"), (one, "of one label" if what.cross_label
                                                                            else "of pictures of one label"),
                 (what.unlabelled, "of unlabelled pictures")]
        kinds = [(n, text) for n, text in kinds if n]
        labels = f"all {kinds[0][0]:,} {kinds[0][1]}" if len(kinds) == 1 else \
            ", ".join(f"{n:,} {text}" for n, text in kinds)
        counted = (f"{what.collages:,} collage{'s' if what.collages != 1 else ''} of photos of different pictures, "
                   f"and copies of them; {labels}")
    else:
        counted = "collages of photos of different pictures, and copies of them"
    if what.largest > 2:
        joined = (f"kept, they would join their {pictures:,} pictures into clusters on one side of the split, the "
                  f"largest a chain of {what.largest:,} pictures (collages of consecutive pictures)")
    elif what.largest:
        joined = ("kept, each would join its own 2 pictures into one cluster, on one side of the split; no collage "
                  "chains others here")
    else:
        joined = f"kept, each would join its pictures ({pictures:,} in all) into one cluster, on one side of the split"
    return [f"{photos:,} photo{'s' if photos != 1 else ''} dropped as collage ({counted}): {joined}; "
            "`--collages keep` keeps them, joined; `curate review --queue duplicates` shows them"]


HELD_MARK = "are collages of photos of different pictures"  # in `held_warning`, how `held_in` finds it


def held_warning(photos: int, labelled: int, pictures: int) -> str:
    """The warning when dropping `photos` bridging collages is held (of `labelled` kept labelled photos)."""
    return (f"held: {photos:,} photos ({photos / max(labelled, 1):.0%} of the labelled ones) {HELD_MARK}, "
            f"joining {pictures:,} pictures into clusters that share one side of the split: "
            "that many looks like the collection's design, not reposts, so they are kept; --force-collages drops "
            "them as collage, `--collages keep` keeps them without this warning")


def held_in(warnings: list[str]) -> str | None:
    """The filter report's `held_warning` among its `warnings` (what `curate report` says of held collages), or None.

    >>> held_in(["other", held_warning(40, 100, 80)]).startswith("held: 40 photos (40% of the labelled ones)")
    True
    """
    return next((line for line in warnings if line.startswith("held: ") and HELD_MARK in line), None)


def drop_bridges(out: pd.DataFrame, images: pd.Series, clusters: Clusters, stage: str, drop: bool, force: bool,
                 notes: list[str], warnings: list[str]) -> tuple[pd.DataFrame, bool]:
    """(the catalog `out`, whether its kept photos of the bridging collages of `clusters` (whose images' sha256
    `images` holds, in the clusters' order) were dropped as collage by `stage`): when `drop`, unless held (`held`,
    unless `force`), with the note or the warning (the pandas engine's side)."""
    from curate import schema
    from curate.records import apply_drops

    sha256 = images.to_numpy(object)
    pictures = clusters.pictures
    kept = out["status"] == schema.KEPT
    bridge = kept & out["sha256"].isin(set(sha256[clusters.bridges]))
    if not drop or not bridge.any():
        return out, False
    labelled = kept & out["label"].notna()
    per_label = pd.DataFrame({"photos": out.loc[labelled, "label"].value_counts(),
                              "conflicting": out.loc[labelled & bridge, "label"].value_counts()}).fillna(0)
    if held(per_label, force):
        warnings.append(held_warning(int((labelled & bridge).sum()), int(labelled.sum()), pictures))
        return out, False
    position = pd.Series(np.arange(len(sha256)), index=sha256)
    labels = out.loc[labelled & out["sha256"].isin(position.index), ["sha256", "label"]].drop_duplicates()
    image_labels = pd.DataFrame({"pos": position.reindex(labels["sha256"]).to_numpy(np.int64),
                                 "label": labels["label"].to_numpy(object)})
    notes += drop_note(int(bridge.sum()), pictures, found(clusters, image_labels))
    return apply_drops(out, pd.Series(np.where(bridge, "collage", None), index=out.index), stage), True
