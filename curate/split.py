"""`curate split`: train / val / test without a photographer or a near-duplicate on two sides.

Groups are connected components of: same owner ∪ same near-duplicate cluster ∪ same
exact-duplicate group (or another column with `by`). Unlike scikit-learn's
GroupShuffleSplit, whose sizes count groups, sizes here count photos, per label:
groups are placed largest first (ties in seeded random order), each into the split
whose per-label photo deficit it fills best. A label whose photos sit in one or two
huge groups cannot hit the target; the report says so (requested vs achieved).
`by="none"` gives a plain stratified random split, to measure leakage inflation.
Only kept photos get a split; dropped photos keep `split` null. Split before `curate filter`
has found near-duplicate clusters, it groups by owner (and exact image) only: the report's
`warnings` say so. A stage that re-runs after the split (a filter that drops other photos, or
reinstates the prefilter's drops) leaves the split *stale* (see curate.freshness): `classify
train` and `curate check-leakage` refuse it until `curate split` runs again.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from curate import schema
from curate.errors import UsageError
from curate.filters.owners import owner_keys
from curate.groups import SESSION_GAP_S, SESSION_KM, blank_as_missing, components, walk_km
from curate.schema import NO_LABEL, SPLITS
from curate.settings_fields import SettingError, setting
from curate.stage_reports import names_text
from curate.workspace import changes_workspace

TOLERANCE = 0.02  # ±2 percentage points of a label's photos
SHORT_SPLIT = 0.5  # val or test under this part of its requested share of the collection is warned about
# Photos without an owner taken in one walk (each within SESSION_GAP_S seconds and SESSION_KM km of
# the one before, by time) are one group: one photographer's sequence or burst (curate.groups). Both engines.
# Photos without an owner or a time but with a position cannot be put in a walk; when at least
# UNDATED_CLUSTER of them share a cell of CELL_DEGREES (about 1 km), the split warns (both engines).
CELL_DEGREES = 0.01
UNDATED_CLUSTER = 3
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


@dataclass(frozen=True)
class SplitConfig:
    """`curate split`'s flags and a recipe's [split] keys, one field each (curate.settings_fields)."""

    val: float = setting(0.1, help="Share of each label's photos for validation.")
    test: float = setting(0.2, help="Share of each label's photos for test.")
    by: str = setting("owner", help="Group by owner (default), by none, or by owner and another column too.")
    seed: int = setting(0, help="Random seed (same seed, same split).")

    def __post_init__(self):
        for name, value in (("val", self.val), ("test", self.test)):
            if not np.isfinite(value) or value < 0:
                raise SettingError(f"{{{name}}} must be a fraction >= 0, got {value}", name)
        if self.val + self.test >= 1:
            raise SettingError(f"{{val}} + {{test}} must leave photos for training (sum < 1), got "
                               f"{self.val + self.test:g}", "val", "test")
        if self.by != "none" and self.by != "owner" and self.by not in schema.COLUMN_BY_NAME:
            raise SettingError(f"{{by}} must be owner, none or a catalog column, got {self.by!r}", "by")
        if reason := by_refusal(self.by):
            raise SettingError(f"{{by}} cannot be {self.by}: {reason}; use owner (default), none or another column "
                               "with one value per photo (e.g. source)", "by")
        if self.seed < 0:
            raise SettingError(f"{{seed}} must be 0 or more, got {self.seed}", "seed")

    @property
    def fractions(self) -> np.ndarray:
        return np.array([1 - self.val - self.test, self.val, self.test])


def by_refusal(by: str) -> str | None:
    """Why a column can neither group the split nor be checked for leaks by `curate check-leakage --by`
    (both refuse it, in one line each), or None."""
    if by in schema.COLUMN_BY_NAME and pa.types.is_list(schema.COLUMN_BY_NAME[by].type):
        return "it holds a list per photo, not one group"
    return {"label": "the split is stratified by label, so each label belongs in every split (grouping by it "
                     "would put each label whole into one split and leave val and test empty)",
            "split": "it is what the split writes",
            "status": "every photo split is kept"}.get(by)


@dataclass
class SplitReport:
    config: dict
    per_label: pd.DataFrame
    groups: int
    photos_without_owner: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    empty_splits: dict[str, str] = field(default_factory=dict)  # requested split left empty -> its warning

    def to_dict(self) -> dict:
        return {"config": self.config, "groups": self.groups, "photos_without_owner": self.photos_without_owner,
                "notes": self.notes, "warnings": self.warnings, "empty_splits": self.empty_splits,
                "per_label": self.per_label.replace({np.nan: None}).to_dict("records")}

    def summary(self) -> str:
        """One line for `curate split` and `curate run`: the groups and the photos per split (each command
        prints the warnings on lines of their own)."""
        photos = "/".join(f"{int(self.per_label[f'{name}_photos'].sum()):,}" if len(self.per_label) else "0"
                          for name in ("train", "val", "test"))
        return (f"{self.groups:,} group{'s' if self.groups != 1 else ''} ({grouping(self.config.get('by', 'owner'))}); "
                f"train/val/test photos {photos}")


def one_group_by_column(config: SplitConfig, group: np.ndarray, by_owner) -> bool:
    """Whether a --by column alone put every kept photo into one group while val or test was asked for
    (`by_owner()`: the groups without the column); both engines (audit AN: `--by source` with one source gave
    train/val/test 68/0/0, exit 0, and training went on without a val split)."""
    if config.by in ("owner", "none") or not (config.val or config.test) or len(group) < 2 or group.max() > 0:
        return False
    return bool(np.asarray(by_owner()).max() > 0)


def one_group_error(by: str) -> str:
    """The refusal of `one_group_by_column`, naming the way out."""
    return (f"--by {by} joins every kept photo into one group (its values link them all, with the photographers and "
            f"copies they share), so nothing could go to val or test; split by owner (the default; recipe [split] by), "
            "or by a column whose values mark separate groups of photos")


def grouping(by: str) -> str:
    """What a group is, for the split's summary line and its warnings (both engines).

    >>> grouping("taken_at")
    'by owner (or walk) ∪ taken_at ∪ near-duplicate cluster ∪ exact duplicate'
    """
    if by == "none":
        return "none: each photo on its own, so photographers and copies cross splits"
    return f"by owner (or walk){'' if by == 'owner' else ' ∪ ' + by} ∪ near-duplicate cluster ∪ exact duplicate"


def split_groups(kept: pd.DataFrame, by: str, walks: pd.Series | None = None) -> np.ndarray:
    """Group id per kept row: components of owner ∪ near-dup cluster ∪ exact group ∪ walk (photos
    without an owner taken in one walk; `walks`: `sessions(kept)`, computed here unless the caller has
    it), and ∪ the `by` column's values when `by` names one. A column adds to the owners rather than
    replacing them: until audit P (2026-12-05) `--by taken_at` split photographers across splits
    without a word, and `curate check-leakage` and `classify train`, which always check owners, then
    refused the split."""
    if by == "none":
        return np.arange(len(kept))
    if walks is None:
        walks = sessions(kept)
    keys = [owner_keys(kept), kept["near_dup_cluster"], kept["exact_dup_group"], walks]
    if by != "owner":
        keys.append(blank_as_missing(kept[by]))
    return components(*(key.reset_index(drop=True) for key in keys))


def copy_owner_groups(kept: pd.DataFrame, walks: pd.Series | None = None) -> np.ndarray:
    """Group id per kept row without chaining photographers through copies: each copy set (near-dup
    cluster ∪ exact group) goes whole to the photographer holding most of it (ties: the one with more
    photos in all, then the first by name), and every other photo stays with its own photographer (owner,
    else walk, else alone). Copies stay together and each photographer nearly so, but two photographers
    who share a copy are no longer one group, as `split_groups` makes them (the label model's folds,
    `curate.prefilter.repair`; the split itself keeps the chains).

    >>> kept = pd.DataFrame({"photo_id": list("abcde"), "owner_id": ["o", "o", "p", "p", "p"],
    ...                      "near_dup_cluster": [None, "x", "x", None, None], "exact_dup_group": None,
    ...                      "taken_at": pd.NaT, "lat": None, "lon": None})
    >>> copy_owner_groups(kept).tolist(), split_groups(kept, "owner").tolist()
    ([0, 1, 1, 1, 1], [0, 0, 0, 0, 0])
    """
    if walks is None:
        walks = sessions(kept)
    owner = owner_keys(kept).where(kept["owner_id"].notna() | walks.isna(), walks).to_numpy(dtype=object)
    copies = components(kept["near_dup_cluster"].reset_index(drop=True), kept["exact_dup_group"].reset_index(drop=True))
    frame = pd.DataFrame({"copies": copies, "owner": owner})
    total = frame["owner"].map(frame["owner"].value_counts())
    frame["in_set"] = frame.groupby(["copies", "owner"])["owner"].transform("size")
    frame["total"] = total.to_numpy()
    main = (frame.sort_values(["copies", "in_set", "total", "owner"], ascending=[True, False, False, True])
            .groupby("copies")["owner"].first())
    return pd.factorize(frame["copies"].map(main))[0]


def sessions(catalog: pd.DataFrame) -> pd.Series:
    """A key per photo without an owner taken in a walk of two or more such photos (null for the rest):
    sorted by taken_at (then photo_id), each photo with a time and a position joins the walk of the
    one before when it was taken within SESSION_GAP_S seconds and SESSION_KM km of it.

    >>> frame = pd.DataFrame({"photo_id": list("abcd"), "owner_id": [None, None, None, "o"],
    ...                       "taken_at": pd.to_datetime(["2020-01-01 10:00", "2020-01-01 10:05",
    ...                                                   "2020-01-01 12:00", "2020-01-01 10:06"]),
    ...                       "lat": [55.7, 55.701, 55.7, 55.7], "lon": [13.19, 13.19, 13.19, 13.19]})
    >>> sessions(frame).tolist()
    ['session a', 'session a', None, None]
    """
    out = pd.Series([None] * len(catalog), index=catalog.index, dtype=object)
    located = catalog["lat"].notna() & catalog["lon"].notna()
    eligible = catalog["owner_id"].isna() & catalog["taken_at"].notna() & located
    if eligible.sum() < 2:
        return out
    rows = catalog.loc[eligible, [schema.PHOTO_ID, "taken_at", "lat", "lon"]].sort_values(["taken_at", schema.PHOTO_ID])
    seconds = rows["taken_at"].astype("datetime64[us]").astype("int64").to_numpy() / 1e6
    lat, lon = rows["lat"].to_numpy(float), rows["lon"].to_numpy(float)
    joins = np.zeros(len(rows), dtype=bool)
    joins[1:] = (np.diff(seconds) <= SESSION_GAP_S) & (walk_km(lat[:-1], lon[:-1], lat[1:], lon[1:]) <= SESSION_KM)
    number = np.cumsum(~joins)
    first = pd.Series(rows[schema.PHOTO_ID].to_numpy(), index=number).groupby(level=0).transform("first").to_numpy()
    size = pd.Series(number).map(pd.Series(number).value_counts()).to_numpy()
    out.loc[rows.index] = np.where(size >= 2, "session " + first.astype(str), None)
    return out


def assign_groups(group: np.ndarray, label_codes: np.ndarray, n_labels: int, fractions: np.ndarray,
                  seed: int, sweeps: int = 6) -> np.ndarray:
    """Split index (0 train, 1 val, 2 test) per group, filling per-label photo targets.

    The error is the sum over splits and labels of the squared gap between achieved and requested
    share of the label's photos, plus the same gap for two sets of labels taken together, each
    weighted by its number of labels (a set counts as much as all its labels together):
    - the *tail*, labels too small to give every requested split a photo at their own share (n × share
      under one half: 2–4 photos at val 0.1). Alone, each decides for itself (two photos: the second
      costs the same in train as in test), so 60 labels of 2 photos split 60/0/60 instead of 88/4/28;
      together they share out near the requested shares among themselves.
    - the *body*, the other labels, so that a label that can take more val or test photos makes up
      for one whose photographers' groups are too lumpy to meet its shares.
    Until audit P (2026-12-05) the two were one set, so a long tail pushed the large labels off their
    shares to make up for it: beside 80 labels of 3 photos, three labels of 40 split 28/12/0 or, with
    each small label one photographer's, 8/12/20. Labels that cannot be shared out at all (one photo, or
    every photo in one group: one photographer's) stay out of both, as they cannot help meet the shares:
    counted in, they made the others make up for them (audit M: 80 one-photo labels pushed three labels
    of 40 photos to 20/7/13; ten one-photographer labels of 20 photos pushed a label of 40 by ten
    photographers to 16/8/16).

    A group holding most of a label's photos (of two or more) stays in train, and a label of two or
    more photos left with no training photo gets its largest group back in train: a class with no
    training photo cannot be learnt, and every one of its test photos is scored wrong (audit S: a label
    of 64 photos, 62 of them one photographer's, beside 30 labels of one photographer and a stray photo
    each, split 0/2/62 to make up the others' val and test; now 62/0/2). A label of one photo weighs
    nothing: it can be neither shared out nor evaluated, and it goes where its photographer's other
    photos go (in train when it is a group of its own). Until audit T (2026-12-05) each held its
    photographer's whole group in train: 8 one-photo labels by a collection's 8 busiest photographers
    took 88 of 100 photos of four real labels with them, and val and test fell from 9 and 21 photos to
    2 and 10. Largest groups are placed first (seeded random order among equal sizes), each where it
    lowers the error most; then single-group moves that lower the error are made until none helps (at
    most `sweeps` passes). Last, a label left with val photos but no test photo gives its val groups to
    test while val can spare them (`_test_before_val`).
    """
    n_groups = int(group.max()) + 1 if len(group) else 0
    counts = np.zeros((n_groups, n_labels))
    np.add.at(counts, (group, label_codes), 1)
    photos = counts.sum(axis=0)
    share = counts / np.maximum(photos, 1.0)[None, :]  # each group's share of each label
    present = photos > 0
    target = fractions[:, None] * present[None, :]  # (splits, labels) in shares
    share[:, photos == 1] = 0  # a label of one photo weighs nothing: it goes with its photographer's photos
    target[:, photos == 1] = 0
    pinned = (share > 0.5).any(axis=1)  # holds most of a label's photos: train only
    shareable = (photos >= 2) & ((counts > 0).sum(axis=0) >= 2)  # not one photo, not one group
    tail = shareable & (photos[:, None] * fractions[None, 1:][:, fractions[1:] > 0] < 0.5).any(axis=1)
    for labels in (tail, shareable & ~tail):  # each set as one more column, its squared error as much as its labels'
        if labels.any():
            weight = np.sqrt(int(labels.sum()))
            share = np.hstack([share, weight * counts[:, labels].sum(axis=1, keepdims=True) / photos[labels].sum()])
            target = np.hstack([target, weight * fractions[:, None]])
    filled = np.zeros_like(target)
    allowed = fractions > 0
    allowed_for = np.where(pinned[:, None], np.array([True, False, False]) & allowed, allowed)  # per group
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n_groups), -counts.sum(axis=1)))
    assignment = np.empty(n_groups, dtype=np.int64)
    for g in order:
        gain = _placement_costs(filled, target, share[g], allowed_for[g])
        assignment[g] = int(np.argmin(gain))
        filled[assignment[g]] += share[g]
    for _ in range(sweeps):
        moved = False
        for g in order:
            current = assignment[g]
            filled[current] -= share[g]
            best = int(np.argmin(_placement_costs(filled, target, share[g], allowed_for[g])))
            filled[best] += share[g]
            if best != current:
                assignment[g], moved = best, True
        if not moved:
            break
    if allowed[1] and allowed[2]:
        _test_before_val(assignment, counts, fractions)
    trained = counts[assignment == 0].sum(axis=0)
    for label in np.flatnonzero((photos >= 2) & (trained == 0)):  # no training photo: its largest group goes back
        if trained[label] == 0:
            largest = int(np.argmax(counts[:, label]))
            assignment[largest] = 0
            trained += counts[largest]
    return assignment


def _test_before_val(assignment: np.ndarray, counts: np.ndarray, fractions: np.ndarray) -> None:
    """Give test, in place, one val group of each label left with val photos but no test photo although
    its own share asks for one (n × test share of at least one half), as long as val keeps at least
    `SHORT_SPLIT` of its requested share of the collection. Such a label's val photos only steer early
    stopping, while in test `classify evaluate` measures it (audit T: a tail label of 4 photos by 2
    photographers split 2/2/0, where 2/0/2 was in reach; the tail's shared val share had picked val). The
    label's smallest val group moves (the fewest photos taken from val), unless it holds another label's
    last val photos; smallest labels first."""
    total = counts.sum()
    floor = SHORT_SPLIT * fractions[1] * total
    photos = counts.sum(axis=0)
    for label in np.argsort(photos, kind="stable"):
        if photos[label] * fractions[2] < 0.5:
            continue
        in_val = np.flatnonzero((assignment == 1) & (counts[:, label] > 0))
        if not len(in_val) or counts[assignment == 2, label].sum() > 0:
            continue
        val = counts[assignment == 1].sum(axis=0)
        # a group whose move would leave another label without a val photo stays (audit Z8: a photographer
        # of several labels took the only val photos of others with them, 44 lost for 18 fixed)
        movable = [g for g in in_val if not ((counts[g] > 0) & (val - counts[g] == 0)
                                             & (np.arange(len(val)) != label)).any()]
        if not movable:
            continue
        smallest = movable[int(np.argmin(counts[movable].sum(axis=1)))]
        if val.sum() - counts[smallest].sum() < floor:
            continue
        assignment[smallest] = 2


def too_small(photos: np.ndarray, shares) -> np.ndarray:
    """Per label of `photos` photos: whether one of the requested `shares` (val, test; 0: not asked for)
    cannot be met within TOLERANCE (a label of n photos moves a share in steps of 1/n: 15 photos give
    val 6.7 % or 13.3 %, not 10 %)."""
    photos = np.asarray(photos, dtype=float)
    small = np.zeros(photos.shape, dtype=bool)
    for share in (float(value) for value in shares if value > 0):
        nearest = np.round(share * photos) / np.maximum(photos, 1)
        small |= np.abs(nearest - share) > TOLERANCE + 1e-9
    return small


def _placement_costs(filled: np.ndarray, target: np.ndarray, share: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Increase in squared share error for putting a group (its `share` per label) in each split."""
    before = (filled - target) ** 2
    after = (filled + share[None, :] - target) ** 2
    cost = (after - before).sum(axis=1)
    cost[~allowed] = np.inf
    return cost


def split_catalog(catalog: pd.DataFrame, config: SplitConfig) -> tuple[pd.DataFrame, SplitReport]:
    """Assign `split` to every kept photo (null for dropped ones); returns (catalog, report)."""
    out = catalog.copy()
    out["split"] = None
    kept_mask = (out["status"] == schema.KEPT).to_numpy()
    if not kept_mask.any():
        raise UsageError("the catalog has no kept photos to split; check `curate status` (everything was dropped)")
    kept = out[kept_mask]
    walks = sessions(kept) if config.by != "none" else pd.Series(dtype=object)  # once: the groups and the note
    group = split_groups(kept, config.by, walks)
    if one_group_by_column(config, group, lambda: split_groups(kept, "owner", walks)):
        raise UsageError(one_group_error(config.by))
    label_codes, label_names = pd.factorize(kept["label"].fillna(NO_LABEL), sort=True)
    assignment = assign_groups(group, label_codes, len(label_names), config.fractions, config.seed)
    out.loc[kept_mask, "split"] = np.array(SPLITS, dtype=object)[assignment[group]]
    no_owner = int(kept["owner_id"].isna().sum()) if config.by != "none" else 0
    notes = no_owner_notes(no_owner, int(walks.notna().sum()), int(walks.nunique()))
    if config.by != "none" and walks.notna().any():
        notes += walk_heavy_notes(walk_table(kept, walks))
    if config.by not in ("owner", "none"):
        notes += empty_column_notes(config.by, int(blank_as_missing(kept[config.by]).isna().sum()), len(kept))
    per_label = split_table(out[kept_mask], group, config)
    notes += off_share_notes(per_label, config)
    empty = empty_split_reasons(per_label, config)
    warnings = by_none_warnings(config) + ungrouped_duplicates_warning(kept, config) + empty_split_warnings(empty)
    warnings += short_split_warnings(per_label, config, empty)
    warnings += unevaluated_label_warnings(per_label, config, empty)
    if config.by != "none":
        warnings += undated_cluster_warnings(*undated_clusters(kept))
    warnings += lost_label_warnings(label_losses(catalog))
    warnings += cross_label_copy_warnings(*cross_label_copies(kept))
    return out, SplitReport(asdict(config), per_label, int(group.max()) + 1, no_owner, notes, warnings, empty)


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


def cross_label_copy_warnings(images: int, photos: int, clusters: int = 0, cluster_photos: int = 0) -> list[str]:
    """A warning on kept photos that are copies under two or more labels (both engines): `images` byte-identical
    images (`photos` photos) and `clusters` near-duplicate clusters not counted among them (`cluster_photos`: the
    photos of every cluster under two or more labels that `photos` leaves out). The filter drops such copies
    (ambiguous_label) unless it holds those drops (so many) or a reviewer keeps or relabels them, and then one
    picture trains two labels (audit AL: nothing said so at the split or the export; audit AZ: near-duplicates a
    reviewer relabelled apart were said nowhere).

    >>> cross_label_copy_warnings(0, 0, 1, 2)[0][:92]
    '1 image is kept under two or more labels (2 photos, near-duplicates: the filter held their d'
    """
    if not images and not clusters:
        return []
    total = images + clusters
    kinds = " and ".join(kind for kind, n in (("byte-identical copies", images), ("near-duplicates", clusters)) if n)
    counts = (f"{images:,} byte-identical, {clusters:,} near-duplicate clusters; " if images and clusters else "")
    return [f"{total:,} image{'s are' if total != 1 else ' is'} kept under two or more labels ({counts}"
            f"{photos + cluster_photos:,} photos, {kinds}: the filter held their drops, or a reviewer kept or "
            "relabelled them): one picture trains more than one label; keep the copy whose label is right "
            "(`curate review --queue duplicates`)"]


def cross_label_copies(kept: pd.DataFrame) -> tuple[int, int, int, int]:
    """(images, photos, clusters, cluster photos) of `cross_label_copy_warnings` among kept photos: byte-identical
    images (sha256) under two or more labels, then near-duplicate clusters under two or more labels that hold no
    such image (none in a frame without images). `cluster photos` are the photos of every cluster under two or
    more labels not counted in `photos`, so the two add up to the photos `curate export` counts
    (`curate.export.plan.label_conflicts`): a near copy of a byte-identical pair under two labels is one of them.

    >>> kept = pd.DataFrame({"sha256": ["a", "a", "b", "c", "d"], "label": ["x", "y", "x", "y", "x"],
    ...                      "near_dup_cluster": ["k", "k", "m", "m", None]})
    >>> cross_label_copies(kept)
    (1, 2, 1, 2)
    >>> cross_label_copies(pd.DataFrame({"sha256": ["a", "a", "e"], "label": ["x", "y", "x"],
    ...                                  "near_dup_cluster": ["k", "k", "k"]}))
    (1, 2, 0, 1)
    """
    if "sha256" not in kept.columns:
        return 0, 0, 0, 0
    frame = kept.loc[kept["sha256"].notna() & kept["label"].notna()]
    if frame.empty:
        return 0, 0, 0, 0
    labels = frame.groupby("sha256")["label"].nunique()
    shared = labels.index[labels > 1]
    exact = frame["sha256"].isin(shared)
    clusters = frame.loc[frame["near_dup_cluster"].notna()] if "near_dup_cluster" in frame.columns else frame[:0]
    spread = clusters.groupby("near_dup_cluster")["label"].nunique()
    counted = set(clusters.loc[exact.reindex(clusters.index), "near_dup_cluster"])  # an exact conflict said it
    near = spread.index[(spread > 1) & ~spread.index.isin(counted)]
    in_spread = clusters["near_dup_cluster"].isin(spread.index[spread > 1]) & ~exact.reindex(clusters.index)
    return len(shared), int(exact.sum()), len(near), int(in_spread.sum())


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


def empty_split_cause(by: str) -> tuple[str, str]:
    """(why, how to fix it) for a requested split that came out empty, grouping by `by`: the split's
    warning and `classify evaluate`'s error for an empty split say the same."""
    return (f"no group ({grouping(by)}) could go there without taking most of a label out of train, or the few "
            "that could went to another split",
            "add photos from more photographers (a --by column only joins groups; --by none splits photo by photo "
            "but leaks)")


def short_split_warnings(per_label: pd.DataFrame, config: SplitConfig, empty: dict[str, str]) -> list[str]:
    """A warning when val or test holds under half the share asked of the whole collection (both engines):
    labels whose photographers' groups are too large to share out cannot give their part, and the others
    no longer make up for them at the cost of their own shares (audit S: 8 of 216 photos in val at --val
    0.2). A split left empty is `empty_split_reasons`' to name.

    >>> table = pd.DataFrame({"photos": [100, 100], "val_photos": [2, 1], "test_photos": [20, 20]})
    >>> short_split_warnings(table, SplitConfig(), {})[0][:58]
    'val holds 3 of 200 photos (1.5%), under half the --val 0.1'
    """
    total = int(per_label["photos"].sum()) if len(per_label) else 0
    warnings = []
    for name in ("val", "test"):
        asked = getattr(config, name)
        held = int(per_label[f"{name}_photos"].sum()) if total else 0
        if asked > 0 and name not in empty and total and held / total < asked * SHORT_SPLIT:
            warnings.append(f"{name} holds {held:,} of {total:,} photos ({held / total:.1%}), under half the --{name} "
                            f"{asked:g} asked: labels too small to give it a photo, or a photographer (or copies) "
                            "holding most of a label, which stays in train; the per-label table shows which. More "
                            f"photos from more photographers fix it; a larger --{name} takes from the other splits")
    return warnings


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
            "`curate filter --dedupe-near` keeps one photo of each cluster and label and unchains them)")


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


def split_table(kept: pd.DataFrame, group: np.ndarray, config: SplitConfig) -> pd.DataFrame:
    """Per label: photos and photographers in each split (`<split>_owners`: distinct known owners, as
    curate.filters.owners counts them; each photo without an owner is a group of its own but no
    photographer, counted in `no_owner`), requested vs achieved val/test shares."""
    frame = kept.assign(label=kept["label"].fillna(NO_LABEL), group=group)
    photos = pd.crosstab(frame["label"], frame["split"]).reindex(columns=list(SPLITS), fill_value=0)
    owners = frame.groupby(["label", "split"])["owner_id"].nunique().unstack(fill_value=0)
    owners = owners.reindex(columns=list(SPLITS), fill_value=0)
    return shares_table(photos, owners, frame["owner_id"].isna().groupby(frame["label"]).sum(), config)


def shares_table(photos: pd.DataFrame, owners: pd.DataFrame, no_owner: pd.Series, config: SplitConfig) -> pd.DataFrame:
    """`split_table` from photos and distinct known owners per label (rows) x split (columns) and the
    photos without an owner per label, counted in memory or in SQL."""
    table = pd.DataFrame({"label": photos.index, "photos": photos.sum(axis=1).to_numpy()})
    table["no_owner"] = no_owner.reindex(photos.index, fill_value=0).astype("int64").to_numpy()
    for name in SPLITS:
        table[f"{name}_photos"] = photos[name].to_numpy()
        table[f"{name}_owners"] = owners[name].reindex(photos.index, fill_value=0).to_numpy()
    table["val_requested"], table["test_requested"] = config.val, config.test
    table["val_achieved"] = table["val_photos"] / table["photos"]
    table["test_achieved"] = table["test_photos"] / table["photos"]
    table["within_tolerance"] = ((table["val_achieved"] - config.val).abs() <= TOLERANCE + 1e-9) & \
        ((table["test_achieved"] - config.test).abs() <= TOLERANCE + 1e-9)
    return table.reset_index(drop=True)


@changes_workspace
def run_split(ws, config: SplitConfig, engine: str | None = None) -> SplitReport:
    """The I/O edge of `curate split`: read the catalog, split it, write it and reports/split.json.

    `engine`: "pandas", "duckdb" (out of core, the same split: curate.outofcore.split) or "auto"
    (DuckDB above curate.outofcore.AUTO_ROWS rows); None: $CURATE_CATALOG_ENGINE, else auto."""
    from curate import freshness
    from curate.catalog_batches import CatalogFile
    from curate.outofcore import choose_engine
    from curate.stage_reports import mark_writing, save_stage_report

    started = time.monotonic()
    if choose_engine(engine, ws.catalog_path if ws.catalog_path.exists() else None) == "duckdb":
        from curate.outofcore.run import run_split_duckdb

        # judged in batches, as the split reads it
        reset = freshness.reset_before(CatalogFile(ws.catalog_path), freshness.load_reports(ws), "split",
                                       freshness.workspace_flag(ws)) if ws.catalog_path.exists() else []
        return run_split_duckdb(ws, config, reset, started)
    from curate.workspace import catalog_sha256, read_catalog, write_catalog

    catalog = read_catalog(ws)
    input_hash = catalog_sha256(ws)
    result, report = split_catalog(catalog, config)
    report.warnings[:0] = freshness.reset_before(catalog, freshness.load_reports(ws), "split",
                                                 freshness.workspace_flag(ws))
    mark_writing(ws, "split")
    write_catalog(ws, result)
    save_stage_report(ws, "split", input_hash, report.to_dict(), started)
    return report
