"""What the earlier stages left the split to say (curate.split; both engines): labels that lost most of their
photos to the filter's and the prefilter's drops, and kept photos that are copies under two or more labels."""

from __future__ import annotations

import pandas as pd

from curate import schema
from curate.filters.collages import cross_label_collages
from curate.stage_reports import names_text

# Each stage holds drops that would take most of a label, but the drops of several stages add up (audit AC 9:
# half of a label to --drop-quality, then half of the rest to owner caps, and no line said so). The split, the
# last step before training, warns when a label of MIN_LOST_LABEL photos or more keeps under LOST_SHARE of them
# after the filter's and the prefilter's drops (a copy is not a loss: its picture stays; nor is a licence drop).
# A photo whose tags name two labels has no label to lose; an `ambiguous_label` drop with a label is a copy filed
# under two labels, every copy of it dropped (forced or not): a loss (audit AF 9). Both engines.
LOST_SHARE = 0.5
MIN_LOST_LABEL = 10  # the holds' size (curate.filters.quality.MIN_HELD_LABEL)
LOSS_STAGES = ("filter", "prefilter")
RELABELLED = "relabelled"  # `label_losses`' reason for a kept photo now under another label than it came with
# (a licence drop is the user's rule, named by the filter's licence note, and no review queue shows it: audit AI)
NOT_LOSSES = ("exact_duplicate", "near_duplicate", "licence")
REVIEW_QUEUES = {"off_topic": "off_topic", "label_issue": "label_issues", "geo_outlier": "geo", "owner_cap": "owners",
                 "quality": "quality", "ambiguous_label": "duplicates"}
# (drop_reason before its ':' -> the `curate review` queue that shows it; a labelled ambiguous_label drop is a
# copy filed under two labels, which the duplicates queue shows)


def label_losses(catalog: pd.DataFrame) -> pd.DataFrame:
    """(label, reason, photos) rows: per label it came with, its kept photos (reason null) and its photos the
    filter and the prefilter dropped, by reason (not copies or licence drops: `NOT_LOSSES`); what
    `lost_label_warnings` reads (the DuckDB engine counts the same in SQL)."""
    none = pd.Series(None, index=catalog.index, dtype=object)  # a frame of kept photos alone has no drop columns
    frame = pd.DataFrame({"label": schema.given_label(catalog), "status": catalog["status"],
                          "stage": catalog.get("drop_stage", none), "reason": catalog.get("drop_reason", none)})
    kept = frame["status"] == schema.KEPT
    lost = (frame["status"] == schema.DROPPED) & frame["stage"].isin(LOSS_STAGES) & ~frame["reason"].isin(NOT_LOSSES)
    # a kept photo now under another label (--relabel, a reviewer) trains as that label: lost to the one it came
    # with (audit BB: "Industrial keeps 23 of its 59" counted 4 photos training as Suburb, where the funnel and
    # the split's table said 19)
    moved = kept & catalog["label"].notna() & (catalog["label"] != frame["label"])
    frame.loc[moved, "reason"] = RELABELLED
    rows = frame[(kept | lost) & frame["label"].notna()]
    reason = rows["reason"].where((rows["status"] != schema.KEPT) | (rows["reason"] == RELABELLED))
    counts = rows.groupby([rows["label"], reason.fillna("")], sort=True).size()
    table = counts.rename("photos").reset_index()
    table.columns = ["label", "reason", "photos"]
    return table.assign(reason=table["reason"].replace("", None))


def lost_label_warnings(losses: pd.DataFrame) -> list[str]:
    """One warning naming the labels of MIN_LOST_LABEL photos or more that keep under LOST_SHARE of them after
    the filter's and the prefilter's drops added up (`label_losses` rows; both engines): each with what took
    them and the review queues that show them.

    >>> losses = pd.DataFrame({"label": ["a", "a", "a", "b", "b"], "reason": [None, "quality:dark", "owner_cap",
    ...                        None, "owner_cap"], "photos": [40, 35, 25, 90, 10]})
    >>> lost_label_warnings(losses)[0][:74]
    'a keeps 40 of its 100 photos after the filter and the prefilter (dropped: '
    """
    if losses.empty:
        return []
    kept = losses[losses["reason"].isna()].groupby("label")["photos"].sum()
    dropped = losses[losses["reason"].notna()]
    lost = dropped.groupby("label")["photos"].sum()
    total = kept.add(lost, fill_value=0).astype("int64")
    kept = kept.reindex(total.index, fill_value=0).astype("int64")
    short = total[(total >= MIN_LOST_LABEL) & (kept < LOST_SHARE * total)].index
    if not len(short):
        return []
    order = sorted(short, key=lambda label: (kept[label] / total[label], str(label)))
    named, queues, relabelled = [], set(), False
    for label in order:
        mine = dropped[dropped["label"] == label].sort_values(["photos", "reason"], ascending=[False, True])
        moved = int(mine.loc[mine["reason"] == RELABELLED, "photos"].sum())
        relabelled |= moved > 0
        mine = mine[mine["reason"] != RELABELLED]
        said = [f"dropped: {', '.join(f'{r.reason} {r.photos:,}' for r in mine.itertuples())}"] if len(mine) else []
        said += [f"relabelled to other labels: {moved:,}"] if moved else []
        named.append(f"{label} keeps {kept[label]:,} of its {total[label]:,} photos after the filter and the "
                     f"prefilter ({'; '.join(said)})")
        queues.update(REVIEW_QUEUES[r.split(":")[0]] for r in mine["reason"] if r.split(":")[0] in REVIEW_QUEUES)
    look = f"`curate review` ({'queues' if len(queues) > 1 else 'queue'} {' and '.join(sorted(queues))})" \
        if queues else "`curate status`"
    whose = "these labels'" if len(order) > 1 else "the label's"
    # relabelled photos are not dropped, and a reviewer keeps nothing back from a relabel (review BC)
    moved = (" or relabelled to other labels (`curate review --queue label_issues` shows what `--relabel` "
             "moved)") if relabelled else ""
    return [f"{names_text(named, shown=6)}: most of {whose} photos are dropped{moved}, counting every stage; before "
            f"training, look at what was dropped in {look} and keep back what is good"]


def cross_label_copy_warnings(images: int, photos: int, clusters: int = 0, cluster_photos: int = 0,
                              collages: int = 0, collage_photos: int = 0) -> list[str]:
    """A warning on kept photos that are copies under two or more labels (both engines): `images` byte-identical
    images (`photos` photos) and `clusters` near-duplicate clusters not counted among them (`cluster_photos`: the
    photos of every cluster under two or more labels that `photos` leaves out). The filter drops such copies
    (ambiguous_label) unless it holds those drops (so many) or a reviewer keeps or relabels them, and then one
    picture trains two labels (audit AL: nothing said so at the split or the export; audit AZ: near-duplicates a
    reviewer relabelled apart were said nowhere).

    Audit CD: near-duplicate clusters under two labels were said to be there because "the filter held their
    drops, or a reviewer kept or relabelled them", where the filter keeps them by design; each kind now has its
    own cause.

    >>> print(cross_label_copy_warnings(0, 0, 1, 2)[0])  # doctest: +NORMALIZE_WHITESPACE
    1 picture is kept under two or more labels (2 photos: a near-duplicate cluster, which the filter keeps under
    each label): one picture trains more than one label; keep the copy whose label is right (`curate review
    --queue duplicates`)

    Audit DY F7: `collages` of those clusters hold a collage (a photo with `phash_panels`: two pictures side by side,
    kept by `--collages keep`, the filter's hold or a reviewer; `collage_photos` their photos, left out of
    `clusters` and `cluster_photos`). Such a cluster is the collage and two *different* pictures, each maybe rightly
    labelled, so "keep the copy whose label is right" is wrong advice: their own line says the collage is the photo
    to drop.

    >>> print(cross_label_copy_warnings(0, 0, 0, 0, 4, 12)[0])  # doctest: +NORMALIZE_WHITESPACE
    4 near-duplicate clusters under two or more labels hold a collage (12 photos): a collage sets different
    pictures side by side and joins their photos in one cluster, so each picture may be rightly labelled; the
    collage is the photo to drop (`curate filter --collages drop`, with --force-collages where its drop is held, or
    `curate review --queue duplicates` for one a reviewer kept)
    """
    warnings = []
    if images or clusters:
        total = images + clusters
        kinds = [f"{n:,} {kind}{'s' if n != 1 else ''}{why}" if n != 1 or (images and clusters) else f"a {kind}{why}"
                 for kind, n, why in (
                     ("byte-identical image", images, ", whose drops as ambiguous_label the filter held or a reviewer "
                                                      "kept or relabelled"),
                     ("near-duplicate cluster", clusters, ", which the filter keeps under each label")) if n]
        warnings.append(f"{total:,} picture{'s are' if total != 1 else ' is'} kept under two or more labels "
                        f"({photos + cluster_photos:,} photos: {'; '.join(kinds)}): one picture trains more than one "
                        "label; keep the copy whose label is right (`curate review --queue duplicates`)")
    if collages:
        warnings.append(f"{collages:,} near-duplicate cluster{'s' if collages != 1 else ''} under two or more labels "
                        f"hold{'s' if collages == 1 else ''} a collage ({collage_photos:,} photos): a collage sets "
                        "different pictures side by side and joins their photos in one cluster, so each picture may "
                        "be rightly labelled; the collage is the photo to drop (`curate filter --collages drop`, with "
                        "--force-collages where its drop is held, or `curate review --queue duplicates` for one a "
                        "reviewer kept)")
    return warnings


def cross_label_copies(kept: pd.DataFrame) -> tuple[int, int, int, int, int, int]:
    """(images, photos, clusters, cluster photos, collage clusters, collage photos) of `cross_label_copy_warnings`
    among kept photos: byte-identical images (sha256) under two or more labels, then near-duplicate clusters under
    two or more labels that hold no such image (none in a frame without images). `cluster photos` are the photos of
    every cluster under two or more labels not counted in `photos`, so the two (with `collage photos`) add up to the
    photos `curate export` counts (`curate.export.plan.label_conflicts`): a near copy of a byte-identical pair under
    two labels is one of them. Of those clusters, the ones holding a collage (`phash_panels`, as `curate filter
    --dedupe-near` tells them: curate.filters.stage) whose other photos carry two labels or more are counted apart,
    with their photos: a two-panel photo reposted under another label, with no picture of its own beside it, is a
    copy under two labels like any other (review EE: `--collages drop`, the advice, leaves it as it is).

    >>> kept = pd.DataFrame({"sha256": ["a", "a", "b", "c", "d"], "label": ["x", "y", "x", "y", "x"],
    ...                      "near_dup_cluster": ["k", "k", "m", "m", None]})
    >>> cross_label_copies(kept)
    (1, 2, 1, 2, 0, 0)
    >>> cross_label_copies(pd.DataFrame({"sha256": ["a", "a", "e"], "label": ["x", "y", "x"],
    ...                                  "near_dup_cluster": ["k", "k", "k"]}))
    (1, 2, 0, 1, 0, 0)
    >>> cross_label_copies(kept.assign(phash_panels=[None, None, None, None, "0 0"]).assign(near_dup_cluster=[
    ...     "k", "k", "m", "m", "m"]))
    (1, 2, 0, 0, 1, 3)
    >>> cross_label_copies(kept.assign(phash_panels=[None, None, None, "0 0", "0 0"]).assign(near_dup_cluster=[
    ...     "k", "k", "m", "m", "m"]))  # m: b (x) beside two-panel photos only: a copy under two labels
    (1, 2, 1, 3, 0, 0)
    """
    if "sha256" not in kept.columns:
        return 0, 0, 0, 0, 0, 0
    frame = kept.loc[kept["sha256"].notna() & kept["label"].notna()]
    if frame.empty:
        return 0, 0, 0, 0, 0, 0
    labels = frame.groupby("sha256")["label"].nunique()
    shared = labels.index[labels > 1]
    exact = frame["sha256"].isin(shared)
    clusters = frame.loc[frame["near_dup_cluster"].notna()] if "near_dup_cluster" in frame.columns else frame[:0]
    spread = clusters.groupby("near_dup_cluster")["label"].nunique()
    counted = set(clusters.loc[exact.reindex(clusters.index), "near_dup_cluster"])  # an exact conflict said it
    near = spread.index[(spread > 1) & ~spread.index.isin(counted)]
    collage = near.intersection(cross_label_collages(clusters))
    in_spread = clusters["near_dup_cluster"].isin(spread.index[spread > 1]) & ~exact.reindex(clusters.index)
    in_collage = clusters["near_dup_cluster"].isin(collage) & ~exact.reindex(clusters.index)
    return (len(shared), int(exact.sum()), len(near) - len(collage), int((in_spread & ~in_collage).sum()),
            len(collage), int(in_collage.sum()))
