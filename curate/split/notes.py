"""The split report's notes and warnings on the split itself (curate.split; both engines, the DuckDB one from
its counts in SQL): shares off the requested ones, empty or short val and test splits, labels that cannot be
evaluated, photos without an owner, walks and undated clusters, and splitting before near-duplicates are known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate.groups import SESSION_GAP_S, SESSION_KM
from curate.schema import NO_LABEL, SPLITS
from curate.split.config import SHORT_SPLIT, TOLERANCE, SplitConfig, grouping
from curate.split.losses import MIN_LOST_LABEL
from curate.split.placement import too_small
from curate.stage_reports import names_text

# Photos without an owner or a time but with a position cannot be put in a walk; when at least
# UNDATED_CLUSTER of them share a cell of CELL_DEGREES (about 1 km), the split warns (both engines).
CELL_DEGREES = 0.01
UNDATED_CLUSTER = 3


def by_none_warnings(config: SplitConfig) -> list[str]:
    """`--by none` splits photos one by one, on purpose (both engines): say that it leaks."""
    if config.by != "none":
        return []
    return ["--by none is a plain stratified random split, to measure how much leakage inflates scores: "
            "photographers and copies cross splits on purpose, so `curate check-leakage` reports them and `classify "
            "train` refuses the split; split by owner (the default) to train"]


def empty_column_notes(by: str, empty: int, kept: int) -> list[str]:
    """A note when the `--by` column is empty (null or blank text) for most kept photos: it groups little
    beyond the owners."""
    if empty * 2 <= kept:
        return []
    return [f"--by {by}: empty for {empty:,} of {kept:,} kept photos, which are grouped by owner, walk and copies "
            "only"]


def undated_clusters(kept: pd.DataFrame) -> tuple[int, int]:
    """(photos, cells): kept photos without an owner or a time, with a position, in cells of
    CELL_DEGREES holding UNDATED_CLUSTER or more of them (a walk the split cannot see)."""
    undated = kept[kept["owner_id"].isna() & kept["taken_at"].isna() & kept["lat"].notna() & kept["lon"].notna()]
    cells = pd.DataFrame({"y": np.floor(undated["lat"].to_numpy(float) / CELL_DEGREES),
                          "x": np.floor(undated["lon"].to_numpy(float) / CELL_DEGREES)}).value_counts()
    crowded = cells[cells >= UNDATED_CLUSTER]
    return int(crowded.sum()), len(crowded)


def undated_cluster_warnings(photos: int, cells: int) -> list[str]:
    """The warning on `undated_clusters` (both engines)."""
    if not photos:
        return []
    return [f"{photos:,} photos without an owner or a time sit close together ({cells:,} spot"
            f"{'s' if cells != 1 else ''} of about 1 km holding {UNDATED_CLUSTER} or more): if they are one "
            "photographer's walk or burst, the split cannot tell (each is its own group) and check-leakage cannot "
            "either; give them an owner or a taken_at (a sidecar column) and split again"]


def no_owner_notes(no_owner: int, walk_photos: int, walks: int) -> list[str]:
    """The note on kept photos without an owner (both engines): each its own group, but for those
    taken in one walk (`sessions`), grouped as one photographer's."""
    if not no_owner:
        return []
    if not walks:
        return [f"{no_owner} kept photos have no owner: each is its own group"]
    return [f"{no_owner} kept photos have no owner: each is its own group, except {walk_photos:,} in {walks:,} "
            f"walk{'s' if walks != 1 else ''} (each photo taken within {SESSION_GAP_S // 60} minutes and "
            f"{SESSION_KM:g} km of the one before), grouped as one photographer's"]


def walk_heavy_notes(table: pd.DataFrame) -> list[str]:
    """A note naming the labels of MIN_LOST_LABEL photos or more that one walk holds most of (`table`: label,
    photos, top: the largest walk's kept photos of the label; both engines). A walk is one group, as a
    photographer is, but the filter's and the report's photographer counts do not see it (audit AM: a walk of
    29 frames was 78 % of its label; val and test held only the label's 8 other photos, and no line said so).

    >>> walk_heavy_notes(pd.DataFrame({"label": ["lund", "coast"], "photos": [37, 40], "top": [29, 3]}))[0][:44]
    '1 label is mostly one walk: lund 29 of 37 ph'
    """
    heavy = table[(table["photos"] >= MIN_LOST_LABEL) & (table["top"] > 0.5 * table["photos"])
                  & (table["label"] != NO_LABEL)].sort_values(["photos", "label"], ascending=[False, True])
    if heavy.empty:
        return []
    named = names_text([f"{row.label} {int(row.top):,} of {int(row.photos):,} photos" for row in heavy.itertuples()],
                       shown=6)
    return [f"{len(heavy)} label{' is' if len(heavy) == 1 else 's are'} mostly one walk: {named} (photos without an "
            f"owner, each taken within {SESSION_GAP_S // 60} minutes and {SESSION_KM:g} km of the one before: one "
            "group, as one photographer's photos are, so val and test hold none of them); add photos from other "
            "walks or photographers, or give the photos their owner"]


def walk_table(kept: pd.DataFrame, walks: pd.Series) -> pd.DataFrame:
    """(label, photos, top) for `walk_heavy_notes`: each label's kept photos and its largest walk's."""
    labels = kept["label"].astype(object).fillna(NO_LABEL)
    photos = labels.value_counts()
    walk = walks.reindex(kept.index)
    walked = walk.notna()
    top = (pd.DataFrame({"label": labels[walked], "walk": walk[walked]})
           .groupby(["label", "walk"]).size().groupby(level=0).max()) if walked.any() else pd.Series(dtype="int64")
    return pd.DataFrame({"label": photos.index, "photos": photos.to_numpy(),
                         "top": top.reindex(photos.index, fill_value=0).to_numpy()})


def off_share_notes(per_label: pd.DataFrame, config: SplitConfig) -> list[str]:
    """Notes on the labels whose achieved shares are off by more than TOLERANCE: those too small for
    a requested share to be met within it (a label of n photos moves a share in steps of 1/n: 15
    photos give val 6.7 % or 13.3 %, not 10 %), and the rest (a few groups too large to share out:
    one photographer holding much of the label)."""
    off = per_label[~per_label["within_tolerance"] & (per_label["photos"] >= 2)]  # one photo: the warnings name them
    small_ones = too_small(off["photos"].to_numpy(float), (config.val, config.test))
    small, large = off[small_ones], off[~small_ones]
    notes = []
    if len(small):
        notes.append(f"{len(small)} label(s) are too small to reach the requested shares within ±{TOLERANCE:.0%} (a "
                     f"label of n photos moves a share in steps of 1/n): {names_text(small['label'])} (their photos "
                     "are shared out with the collection's shares in view; see requested vs achieved)")
    if len(large):
        notes.append(f"{len(large)} label(s) could not reach the requested shares within ±{TOLERANCE:.0%}: "
                     f"{names_text(large['label'])} (dominant groups, photographers shared across labels, or "
                     "making up for labels that cannot share out; see requested vs achieved)")
    return notes


def empty_split_reasons(per_label: pd.DataFrame, config: SplitConfig) -> dict[str, str]:
    """{split: the warning that says why} for each requested split (val, test) that came out empty: the
    groups are too few or too large (say one photographer per label, or a --by column that follows the
    label) to share. One warning names every empty split; the report keeps it per split
    (`SplitReport.empty_splits`), where `classify evaluate` reads it."""
    empty = [name for name, share in (("val", config.val), ("test", config.test))
             if share > 0 and len(per_label) and int(per_label[f"{name}_photos"].sum()) == 0]
    if not empty:
        return {}
    why, fix = empty_split_cause(config.by)
    warning = (f"the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty although "
               f"{' and '.join(f'--{name} {getattr(config, name):g}' for name in empty)} asked for photos: {why}; "
               f"{fix}")
    return dict.fromkeys(empty, warning)


# What --dedupe-near cannot unchain (audit DQ: 30 collages of consecutive photos made one cluster of 231 photos, 298
# of 342 with their owners; val came out empty and this advice, followed, changed nothing). The filter now drops such
# collages (curate.filters.collages); those kept (--collages keep, a hold, a reviewer) still chain.
COLLAGE_CHAIN = ("but not a cluster holding a collage the filter kept (`--collages keep`, its hold, or a reviewer), "
                 "which it keeps whole, each photo being in it, and such collages of many different photos chain them; "
                 "`curate filter --collages drop --force-collages` drops those no reviewer kept")


def kept_collage_clusters(kept: pd.DataFrame) -> bool:
    """Whether a kept collage (a photo with `phash_panels`) shares its near-duplicate cluster with another kept
    photo, so that COLLAGE_CHAIN's advice can apply (pandas engine; the DuckDB engine asks the same in SQL).

    >>> kept = pd.DataFrame({"near_dup_cluster": ["a", "a", "b"], "phash_panels": [None, None, "0 0"]})
    >>> kept_collage_clusters(kept), kept_collage_clusters(kept.assign(near_dup_cluster=["a", "b", "b"]))
    (False, True)
    """
    if "phash_panels" not in kept.columns or "near_dup_cluster" not in kept.columns:
        return False
    clusters = kept["near_dup_cluster"]
    sizes = clusters.value_counts()
    collages = clusters[kept["phash_panels"].notna() & clusters.notna()]
    return bool((collages.map(sizes) >= 2).any())


def without_collage_advice(text: str) -> str:
    """`text` without COLLAGE_CHAIN's advice, for a collection where no kept collage is in a cluster with other
    photos (review DU 9: every empty or short split warning named `--collages drop --force-collages` on collections
    without a collage).

    >>> without_collage_advice(f"unchains them ({COLLAGE_CHAIN}); then") + " / " + without_collage_advice(
    ...     f"unchains them; {COLLAGE_CHAIN})") + " / " + without_collage_advice(f"them ({COLLAGE_CHAIN}; a --by)")
    'unchains them; then / unchains them) / them (a --by)'
    """
    return text.replace(f" ({COLLAGE_CHAIN})", "").replace(f"; {COLLAGE_CHAIN})", ")").replace(f"{COLLAGE_CHAIN}; ", "")


def empty_split_cause(by: str) -> tuple[str, str]:
    """(why, how to fix it) for a requested split that came out empty, grouping by `by`: the split's
    warning and `classify evaluate`'s error for an empty split say the same."""
    return (f"no group ({grouping(by)}) could go there without taking most of a label out of train, or the few "
            "that could went to another split",
            "add photos from more photographers, or, where copies posted by other accounts (reposts, screenshots) "
            "chain the photographers into a few groups, `curate filter --dedupe-near` keeps one photo of each "
            f"cluster and label and unchains them ({COLLAGE_CHAIN}; a --by column only joins groups; --by none splits "
            "photo by photo but leaks)")


def largest_group(group: np.ndarray, owners: pd.Series) -> tuple[int, int]:
    """(photos, photographers: distinct known owners) of the largest split group (`owners`: owner_id per row)."""
    if not len(group):
        return 0, 0
    largest = int(np.bincount(group).argmax())
    mine = group == largest
    return int(mine.sum()), int(owners[mine].nunique())


def dominant_group(largest: tuple[int, int], total: int, config: SplitConfig) -> bool:
    """Whether the largest split group (`largest`: photos, photographers) is a chain that no placement can share
    out: it joins two photographers or more and alone holds more of the `total` kept photos than the largest share
    asked (the train share, 70 % by default). A group sits on one side, so wherever it goes that side takes more
    than asked and the others cannot reach their shares: in train, val and test together hold under 1 - its part
    (audit DY: 601 of 756 photos, 37 photographers chained by 42 reposts; val 5.3 % and test 15.2 % of 10 % and
    20 %, no warning, as neither was under half its share). On a collection of many photographers no group comes
    near it; a single photographer's group is no chain (the per-label warnings name the labels it holds).

    >>> dominant_group((601, 37), 756, SplitConfig()), dominant_group((500, 37), 756, SplitConfig())
    (True, False)
    """
    photos, photographers = largest
    return bool(total) and photographers >= 2 and photos > float(config.fractions.max()) * total


def _chain_text(photographers: int, config: SplitConfig) -> str:
    """What `short_split_warnings` and `dominant_group_warnings` say of the largest group after its size: the
    photographers it chains, and what unchains them."""
    by = "" if config.by == "owner" else f" or their --by {config.by} values (a --by column only joins groups)"
    return (f"{photographers:,} photographers joined by the copies they share{by} (a group sits on one side, so it "
            "stays in train); `curate filter --dedupe-near` keeps one photo of each cluster and label and unchains "
            f"them, where more photos would join more of them ({COLLAGE_CHAIN}); then `curate split --reshuffle` "
            "places every group afresh (a split keeps the sides of the one before)")


def short_split_warnings(per_label: pd.DataFrame, config: SplitConfig, empty: dict[str, str],
                         largest: tuple[int, int] = (0, 0)) -> list[str]:
    """A warning when val or test holds under half the share asked of the whole collection (both engines):
    labels whose photographers' groups are too large to share out cannot give their part, and the others
    no longer make up for them at the cost of their own shares (audit S: 8 of 216 photos in val at --val
    0.2). A split left empty is `empty_split_reasons`' to name. `largest`: (photos, photographers) of the
    largest group; where it holds most of the collection (or `dominant_group`) and joins photographers, copies
    shared between them chain them, and more photos make it worse (audit BV: 77 % of 2,635 photos in one group of
    52 photographers, 88 % of 4,454 and 91 photographers once the collection grew; val fell from 164 to 50).
    Where no split is that short but the group is `dominant_group`, one warning names it
    (`dominant_group_warnings`).

    >>> table = pd.DataFrame({"photos": [100, 100], "val_photos": [2, 1], "test_photos": [20, 20]})
    >>> short_split_warnings(table, SplitConfig(), {})[0][:58]
    'val holds 3 of 200 photos (1.5%), under half the --val 0.1'
    >>> short_split_warnings(table, SplitConfig(), {}, (150, 12))[0].split("asked: ")[1][:62]
    'one group holds 150 of the 200 photos (75%): 12 photographers '
    """
    total = int(per_label["photos"].sum()) if len(per_label) else 0
    photos, photographers = largest
    if total and photographers >= 2 and (photos * 2 > total or dominant_group(largest, total, config)):
        why = f"one group holds {photos:,} of the {total:,} photos ({photos / total:.0%}): " + \
            _chain_text(photographers, config)
    else:
        why = ("labels too small to give it a photo, or a photographer (or copies) holding most of a label, which "
               "stays in train; the per-label table shows which. More photos from more photographers fix it")
    warnings = []
    for name in ("val", "test"):
        asked = getattr(config, name)
        held = int(per_label[f"{name}_photos"].sum()) if total else 0
        if asked > 0 and name not in empty and total and held / total < asked * SHORT_SPLIT:
            warnings.append(f"{name} holds {held:,} of {total:,} photos ({held / total:.1%}), under half the --{name} "
                            f"{asked:g} asked: {why}; a larger --{name} takes from the other splits")
    return warnings or dominant_group_warnings(per_label, config, largest)


def dominant_group_warnings(per_label: pd.DataFrame, config: SplitConfig, largest: tuple[int, int]) -> list[str]:
    """The warning on a `dominant_group` where no split is short enough for `short_split_warnings` (audit DY: val
    at 53 % of its share, test at 76 %, and no line named the group of 79 % of the photos or --dedupe-near, which
    doubled val). One line, whatever the split it leaves short (both engines).

    >>> table = pd.DataFrame({"photos": [756], "train_photos": [601], "val_photos": [40], "test_photos": [115]})
    >>> dominant_group_warnings(table, SplitConfig(), (601, 37))[0][:80]
    'one group holds 601 of the 756 photos (79%), more than the 70% train share asked'
    """
    total = int(per_label["photos"].sum()) if len(per_label) else 0
    if not dominant_group(largest, total, config):
        return []
    share = int(config.fractions.argmax())
    held = "; ".join(f"{name} holds {int(per_label[f'{name}_photos'].sum()) / total:.1%} of the "
                     f"{getattr(config, name):.0%} asked" for name in ("val", "test") if getattr(config, name) > 0)
    return [f"one group holds {largest[0]:,} of the {total:,} photos ({largest[0] / total:.0%}), more than the "
            f"{config.fractions[share]:.0%} {SPLITS[share]} share asked, so the splits cannot reach their shares "
            f"wherever it goes ({held}): {_chain_text(largest[1], config)}"]


def empty_split_warnings(reasons: dict[str, str]) -> list[str]:
    """The warnings of `empty_split_reasons`, each once."""
    return list(dict.fromkeys(reasons.values()))


def unevaluated_label_warnings(per_label: pd.DataFrame, config: SplitConfig, empty: dict[str, str]) -> list[str]:
    """A warning naming the labels with no photo in any requested evaluation split (val, test): neither
    early stopping nor `classify evaluate` sees them, so the model's figures say nothing about them
    (both engines). Left out when every requested split is empty as a whole: `empty_split_reasons`
    names that. Unlabelled photos are not evaluated anyway.

    >>> table = pd.DataFrame({"label": ["a", "b"], "photos": [40, 9], "train_owners": [30, 1], "val_owners": [3, 0],
    ...                       "test_owners": [6, 0],
    ...                       "train_photos": [28, 9], "val_photos": [4, 0], "test_photos": [8, 0]})
    >>> unevaluated_label_warnings(table, SplitConfig(), {})[0][:67]
    '1 label cannot be evaluated, no photo in val or test: b (9 photos, '

    A label with val photos but none in test is named on a second line: early stopping sees it, `classify
    evaluate` does not (the long-tail audit's split named 2 of the 5 labels evaluate could not measure).

    >>> table.loc[1, "val_photos"] = 2
    >>> unevaluated_label_warnings(table, SplitConfig(), {})[0][:60]
    '1 label has val photos but no test photo, so `classify evalu'
    """
    requested = [name for name, share in (("val", config.val), ("test", config.test)) if share > 0]
    if not requested or set(requested) <= set(empty):
        return []
    labelled = per_label["label"] != NO_LABEL
    unseen = (per_label[[f"{name}_photos" for name in requested]].sum(axis=1) == 0) & labelled
    single = unseen & (per_label["photos"] == 1)  # in train: no group or share would help (assign_groups)
    none = unseen & ~single
    gone = labelled & (per_label["photos"] == 1) & (per_label["train_photos"] == 0)  # went with its photographer
    warnings = []
    where = " or ".join(requested)
    if none.any():
        shares = ", ".join(f"--{name}" for name in requested)
        warnings.append(f"{_count(per_label[none])} cannot be evaluated, no photo in {where}: "
                        f"{_named(per_label[none], config)}; {_too_few_groups(config, int(none.sum()))}; add photos "
                        f"(from more photographers) to them, or, where no photographer holds most of a label, ask for "
                        f"larger shares ({shares})")
    if single.any():
        warnings.append(f"{_count(per_label[single])} of one photo cannot be evaluated, no photo in {where}: "
                        f"{names_text(per_label.loc[single, 'label'], shown=8)}; the one photo is in train with its "
                        "photographer's other photos; add photos to them to measure them, or merge or drop those "
                        "labels")
    if gone.any():
        warnings.append(f"{_count(per_label[gone])} of one photo went to val or test with their photographers' "
                        f"other photos, so the model cannot learn {'it' if gone.sum() == 1 else 'them'}: "
                        f"{names_text(per_label.loc[gone, 'label'], shown=8)}; add photos to them, or merge or drop "
                        "those labels")
    # a label with val photos but no test photo: early stopping sees it, `classify evaluate` does not
    untested = labelled & ~unseen & ~gone & (per_label["test_photos"] == 0) \
        if "test" in requested and "test" not in empty else pd.Series(False, index=per_label.index)
    if untested.any():
        verb = "has" if untested.sum() == 1 else "have"
        warnings.append(f"{_count(per_label[untested])} {verb} val photos but no test photo, so "
                        f"`classify evaluate` will not measure {'it' if untested.sum() == 1 else 'them'} (its "
                        f"accuracy and macro F1 are over the other labels): {_named(per_label[untested], config)}; "
                        f"{_too_few_groups(config, int(untested.sum()))}; add photos (from more photographers), or "
                        "ask for a larger --test share")
    return warnings


def _too_few_groups(config: SplitConfig, labels: int = 1) -> str:
    """Why a label's photos could not be shared out: too few groups, and what makes a group. The audit of all
    5,614 real photos read "too few photos or photographers" for Highway's 260 photos by 6 photographers,
    whom near-duplicate frames by different photographers had chained into one group."""
    its = "its" if labels == 1 else "their"
    if config.by == "none":
        return f"{its} photos are too few, or near-duplicate or exact copies join them into too few groups"
    by = "" if config.by == "owner" else f" or one {config.by} value's"
    return (f"{its} photos are too few, or form too few groups, to share out (a group: one owner's photos{by}, or one "
            "walk of photos without an owner, and every photo joined "
            "to them by a near-duplicate or exact copy, so copies by different photographers chain them into one; "
            "`curate filter --dedupe-near` keeps one photo of each cluster and label and unchains them; "
            f"{COLLAGE_CHAIN})")


def _count(rows: pd.DataFrame) -> str:
    return f"{len(rows)} label{'s' if len(rows) != 1 else ''}"


def _named(rows: pd.DataFrame, config: SplitConfig) -> str:
    return names_text([f"{row.label} ({row.photos:,} photo{'s' if row.photos != 1 else ''}"
                       + (f", {_owners(row):,} photographer{'s' if _owners(row) != 1 else ''})"
                          if config.by != "none" else ")") for row in rows.itertuples()], shown=8)


def _owners(row) -> int:
    """A label's photographers: each is in one split, unless the split is by none (then not named)."""
    return int(row.train_owners + row.val_owners + row.test_owners)


def ungrouped_duplicates_warning(kept: pd.DataFrame | None, config: SplitConfig) -> list[str]:
    """A warning when no kept photo has a near-duplicate cluster yet (`curate filter` has not
    clustered them): the split then keeps only owners and exact images together. `kept`: the kept
    photos, or None when the caller found none clustered (the DuckDB engine)."""
    if config.by == "none" or (kept is not None and kept["near_dup_cluster"].notna().any()):
        return []
    by = "owner" if config.by == "owner" else f"owner, {config.by}"
    return [f"near-duplicate clusters are not known yet, so this split groups by {by} and exact image only "
            "(near-duplicates from different owners may land in two splits); run `curate filter`, then "
            "`curate split` again"]
