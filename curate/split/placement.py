"""The split's groups and their placement: which photos must stay together (owner ∪ near-duplicate cluster
∪ exact group ∪ walk ∪ a --by column) and which split each group goes to, filling per-label photo targets
(curate.split). The DuckDB engine builds the same groups in SQL and places them with `assign_groups`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate import schema
from curate.filters.owners import owner_keys
from curate.groups import SESSION_GAP_S, SESSION_KM, blank_as_missing, components, walk_km
from curate.split.config import SHORT_SPLIT, TOLERANCE


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


# Photos without an owner taken in one walk (each within SESSION_GAP_S seconds and SESSION_KM km of
# the one before, by time) are one group: one photographer's sequence or burst (curate.groups). Both engines.
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
                  seed: int, sweeps: int = 6, fixed: np.ndarray | None = None) -> np.ndarray:
    """Split index (0 train, 1 val, 2 test) per group, filling per-label photo targets. `fixed`: a split
    code per group that stays where it is (an earlier split's, `curate.split.earlier.group_splits`, which releases a
    group pinned to a split now asked to be empty), -1 for the groups placed here; the free groups fill the targets
    around the fixed ones.

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
    free = np.ones(n_groups, bool) if fixed is None else fixed < 0
    for g in np.flatnonzero(~free):
        assignment[g] = int(fixed[g])
        filled[assignment[g]] += share[g]
    order = order[free[order]]
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
        _test_before_val(assignment, counts, fractions, free)
    trained = counts[assignment == 0].sum(axis=0)
    for label in np.flatnonzero((photos >= 2) & (trained == 0)):  # no training photo: its largest group goes back
        if trained[label] == 0:  # (a free one where the label has one: a group of an earlier split stays put)
            largest = int(np.argmax(np.where(free, counts[:, label], -1) if free[counts[:, label] > 0].any()
                                    else counts[:, label]))
            assignment[largest] = 0
            trained += counts[largest]
    return assignment


def _test_before_val(assignment: np.ndarray, counts: np.ndarray, fractions: np.ndarray,
                     free: np.ndarray | None = None) -> None:
    """Give test, in place, one val group of each label left with val photos but no test photo although
    its own share asks for one (n × test share of at least one half), as long as val keeps at least
    `SHORT_SPLIT` of its requested share of the collection. Such a label's val photos only steer early
    stopping, while in test `classify evaluate` measures it (audit T: a tail label of 4 photos by 2
    photographers split 2/2/0, where 2/0/2 was in reach; the tail's shared val share had picked val). The
    label's smallest val group moves (the fewest photos taken from val), unless it holds another label's
    last val photos; smallest labels first. Only `free` groups move (not those an earlier split placed)."""
    free = np.ones(len(assignment), bool) if free is None else free
    total = counts.sum()
    floor = SHORT_SPLIT * fractions[1] * total
    photos = counts.sum(axis=0)
    for label in np.argsort(photos, kind="stable"):
        if photos[label] * fractions[2] < 0.5:
            continue
        in_val = np.flatnonzero((assignment == 1) & (counts[:, label] > 0) & free)
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
