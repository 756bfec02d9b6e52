"""A split placed again keeps what an earlier split placed (curate.split; both engines): each group goes where
most of its photos of the earlier split are, and new photos fill the shares around them; unless `--reshuffle`,
or the settings that place photos changed. The report says how many photos stayed and which moved where.

Audit BV (2026-12-07): a collection of 3,242 real photos grown to 5,505 and split again as `curate status` asked
moved 232 of its 431 test photos into train, without a word: a model of the first version evaluated against
the second's test photos, or the other way round, had trained on some of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate import schema


def codes(split: pd.Series) -> np.ndarray:
    """Per photo, the split code (0 train, 1 val, 2 test) an earlier split gave it; -1 for none."""
    return split.map({name: code for code, name in enumerate(schema.SPLITS)}).fillna(-1).to_numpy(np.int64)


def group_splits(group: np.ndarray, earlier: np.ndarray, fractions=None) -> np.ndarray:
    """Per group, the split code most of its photos of an earlier split had (`codes`), -1 for a group
    of new photos only, or one whose split is now asked to be empty (`fractions`: train, val and test shares,
    0 for none; review BY: `--val 0` kept val photos). Ties go to test, then val: a photo held out stays held out
    where one of two must move (a new photo by a photographer of each, or a new copy, joined two earlier groups).

    >>> group_splits(np.array([0, 0, 0, 1, 1, 2]), np.array([0, 0, 2, 1, 2, -1])).tolist()
    [0, 2, -1]
    >>> group_splits(np.array([0, 1, 2]), np.array([0, 1, 2]), fractions=np.array([0.8, 0.0, 0.2])).tolist()
    [0, -1, 2]
    """
    n_groups = int(group.max()) + 1 if len(group) else 0
    counts = np.zeros((n_groups, len(schema.SPLITS)))
    had = earlier >= 0
    np.add.at(counts, (group[had], earlier[had]), 1)
    most = len(schema.SPLITS) - 1 - np.argmax(counts[:, ::-1], axis=1)  # the last split among the most photos
    asked = np.ones(len(schema.SPLITS), bool) if fractions is None else np.asarray(fractions) > 0
    return np.where((counts.sum(axis=1) > 0) & asked[most], most, -1)


def moves(earlier: np.ndarray, now: np.ndarray, dropped: int = 0, pinned: np.ndarray | None = None) -> dict:
    """What became of the photos an earlier split placed (`codes` of the kept photos; `now`: this split's codes
    of the same photos; `dropped`: photos it placed that are dropped since; `pinned`: per photo, the split its
    group was kept in, `group_splits` of its group, when the earlier split was kept): {"earlier": kept photos it
    placed, "stayed": still there, "new": photos it had not placed, "moved": {"test → train": photos, ...}
    (non-zero only), "dropped": dropped since, "why": {cause: photos moved} (non-zero only)}.

    The causes of a move where the earlier split was kept (review BY F5: the warning named copies and
    `--dedupe-near` when a label's need of a training photo had moved them): "joined", a photo whose group now
    holds photos of another split, which holds more of them; "training", a group kept in val or test and moved
    to train because a label had no training photo; "emptied", a group kept in a split now asked to be empty.

    >>> moves(np.array([0, 2, 2, -1]), np.array([0, 0, 2, 1]))
    {'earlier': 3, 'stayed': 2, 'new': 1, 'moved': {'test → train': 1}, 'dropped': 0, 'why': {}}
    >>> moves(np.array([0, 2, 1, 1]), np.array([0, 0, 0, 1]), pinned=np.array([0, 0, 1, 1]))["why"]
    {'joined': 1, 'training': 1}
    """
    had = earlier >= 0
    moved = {}
    for before, name_before in enumerate(schema.SPLITS):
        for after, name_after in enumerate(schema.SPLITS):
            count = int((had & (earlier == before) & (now == after)).sum()) if before != after else 0
            if count:
                moved[f"{name_before} → {name_after}"] = count
    why = {}
    if pinned is not None:
        shifted = had & (earlier != now)
        causes = {"joined": shifted & (pinned >= 0) & (earlier != pinned),
                  "training": shifted & (earlier == pinned),  # only a label's need moves a kept group
                  "emptied": shifted & (pinned < 0)}  # a group of earlier photos is unpinned only for that
        why = {cause: int(mask.sum()) for cause, mask in causes.items() if mask.any()}
    return {"earlier": int(had.sum()), "stayed": int((had & (earlier == now)).sum()), "new": int((~had).sum()),
            "moved": moved, "dropped": int(dropped), "why": why}


CAUSES = {"joined": "{n} joined by a new photo, a new copy or a changed owner to a group held mostly on the other "
                    "side (a group sits on one side; `curate filter --dedupe-near` keeps one photo of each copy set, "
                    "so copies posted by other photographers stop joining theirs)",
          "training": "{n} in a group moved to train because its label had no other training photo",
          "emptied": "{n} in a split now asked to be empty"}


def lines(summary: dict, kept_earlier: bool, changed: list[str]) -> tuple[list[str], list[str]]:
    """(notes, warnings) on `moves`' summary: a note on what stayed, a warning where photos crossed between
    train and the held-out splits (a model of one split evaluated on the other's test photos has seen them)."""
    if not summary.get("earlier"):
        return [], []
    moved = summary["moved"]
    each = ", ".join(f"{way} {count:,}" for way, count in moved.items())
    gone = (f" ({summary['dropped']:,} more of its photos are dropped since and leave it)"
            if summary.get("dropped") else "")  # review BY: "kept 45 of the 45" where it had held 50
    if kept_earlier:
        notes = [f"kept {summary['stayed']:,} of the {summary['earlier']:,} photos of the earlier split where they "
                 f"were{gone}; {summary['new']:,} new to the split placed around them (--reshuffle places every "
                 "photo afresh)"]
        causes = summary.get("why") or {}
        why = "; ".join(CAUSES[cause].format(n=f"{n:,}") for cause, n in causes.items()) or "placed around new photos"
    else:
        notes = [f"every photo placed afresh ({'; '.join(changed) if changed else '--reshuffle'}): "
                 f"{summary['stayed']:,} of the {summary['earlier']:,} photos of the earlier split stayed where they "
                 f"were{gone}"]
        why = "placed afresh"
    crossed = sum(count for way, count in moved.items() if "train" in way)
    warnings = [f"{crossed:,} photos of the earlier split crossed between train and val/test ({each}; {why}): a "
                "model trained on either split and evaluated on the other's val or test photos has seen them"] \
        if crossed else []
    if moved and not crossed:
        notes.append(f"photos of the earlier split that changed sides: {each} ({why})")
    return notes, warnings


# a requested split holding under this share of its photos, of what it asks and of what a fresh placement gives it,
# is short because of the earlier sides (audit DY: val at 38 photos where --reshuffle gave 71, 0.54)
HELD_SHORT = 2 / 3


def held_empty_warnings(group: np.ndarray, label_codes: np.ndarray, n_labels: int, fractions: np.ndarray, seed: int,
                        fixed: np.ndarray | None, assignment: np.ndarray) -> list[str]:
    """The warnings when a requested split (val, test) is empty, or short (under HELD_SHORT of its share and of what a
    fresh placement gives it), only because the groups keep the sides an earlier split gave them (`fixed`,
    `group_splits`; `assignment`: the split code per group placed around them): placed afresh
    (`placement.assign_groups` without them), it would hold (more) photos. Review DU of audit DQ 1: a workspace whose
    collages had chained most photos into one group kept its split of 300 / 0 / 13 after the filter set the collages
    apart, and the advice named --dedupe-near, which had nothing left to do; --reshuffle gave 242 / 20 / 52. Audit
    DY: after --dedupe-near unchained a group, val kept 38 photos where --reshuffle gave it 71."""
    from curate.split.placement import assign_groups

    if fixed is None or not (fixed >= 0).any():
        return []
    sizes = np.bincount(group, minlength=len(assignment))
    held = {code: int(sizes[assignment == code].sum()) for code in (1, 2)}
    asked = [code for code in (1, 2) if fractions[code] > 0 and held[code] < HELD_SHORT * fractions[code] * sizes.sum()]
    if not asked:
        return []
    fresh = assign_groups(group, label_codes, n_labels, fractions, seed)
    placed = {code: int(sizes[fresh == code].sum()) for code in asked}
    filled = [schema.SPLITS[code] for code in asked if not held[code] and placed[code]]
    warnings = []
    if filled:
        names = " and ".join(filled)
        warnings.append(f"the {names} split{'s are' if len(filled) > 1 else ' is'} empty only because the photos of "
                        f"the earlier split keep their sides ({int((fixed == 0).sum()):,} of its groups stay in "
                        f"train): `curate split --reshuffle` places every group afresh and fills "
                        f"{'them' if len(filled) > 1 else 'it'} (photos of the earlier split then change sides, so a "
                        "model trained on it must not be evaluated on the new held-out photos)")
    for code in asked:
        if held[code] and held[code] < HELD_SHORT * placed[code]:
            warnings.append(f"the {schema.SPLITS[code]} split holds {held[code]:,} photos "
                            f"({held[code] / sizes.sum():.0%}, {fractions[code]:.0%} asked) where a fresh placement "
                            f"gives it {placed[code]:,}, because the photos of the earlier split keep their sides: "
                            "`curate split --reshuffle` places every group afresh (photos of the earlier split then "
                            "change sides, so a model trained on it must not be evaluated on the new held-out photos)")
    return warnings
