"""Which photos `classify evaluate` scores: the kept photos of a split whose label the model knows
(`select_photos`), less those the run learned from or that touch them (`leave_out_trained_on`), and the
sandals test's off-topic photos (`off_topic_photos_of`); `empty_split_error` says why a split is empty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import DataContractError, UsageError
from curate.schema import NO_LABEL, SPLITS
from curate.split import empty_split_cause, without_collage_advice
from curate.split.notes import COLLAGE_CHAIN

OFF_TOPIC = "off_topic"  # curate prefilter's drop_reason for a photo that does not show the topic


def select_photos(catalog: pd.DataFrame, classes: list[str], split: str,
                  split_report: dict | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """(kept photos of `split` whose label is one of `classes`, {other label: photos}).

    Raises UsageError when the catalog has no split, the split is empty (`empty_split_error`,
    with the reason `split_report`, the workspace's reports/split.json, gives), or no photo's
    label is one the model knows.
    """
    if split not in SPLITS:
        raise UsageError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if catalog["split"].isna().all():
        raise UsageError("the catalog has no split yet; run `curate split` first")
    in_split = catalog[(catalog["status"] == schema.KEPT) & (catalog["split"] == split)]
    if in_split.empty:
        raise UsageError(empty_split_error(split, split_report))
    known = in_split["label"].isin(classes).to_numpy(dtype=bool)
    others = in_split.loc[~known, "label"].astype(object).fillna(NO_LABEL)
    unknown = {str(label): int(count) for label, count in others.value_counts().items()}
    if not known.any():
        raise UsageError(f"none of the {len(in_split)} {split} photos has a label this model knows "
                         f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}); "
                         "evaluate a run trained on this workspace, or pass its --workspace")
    photos = in_split.loc[known, [schema.PHOTO_ID, "owner_id", "label", "image_path"]].reset_index(drop=True)
    return photos, unknown


def leave_out_trained_on(run_dir: Path, catalog: pd.DataFrame, photos: pd.DataFrame, split: str,
                         by: str | None = None) -> tuple[pd.DataFrame, int, int]:
    """(`photos` less those the run in `run_dir` learned from; how many were its own photos; how many more
    touch them). A split made after training can hold them: scored, they would flatter the model.

    A run's own photos (trained on, or its epoch chosen on) are those trained_on.parquet lists, known by photo
    id or image. With `by` (the workspace split's grouping: "owner", a column, or "none"), a photo also touches
    them when `curate split` would have kept it in their split: `split_groups` over them and the photos (a
    photographer, a walk, a near-duplicate cluster or exact copy, the `by` column; with "none", the copies
    alone). Audit AZ: after a re-split, four "held-out" photos were copies of training photos or by a
    photographer whose 14 other photos trained the model, and were scored as held out. `by` None (a variant
    catalog with its own split, as the random-split comparison's, which measures that very leak) leaves the
    run's own photos out and nothing else. A run from before that file is taken as it is (the catalog-changed
    note stays its only warning). DataContractError when every photo of the split is left out.
    """
    from classify.run_files import TRAINED_ON

    path = Path(run_dir) / TRAINED_ON
    if not path.exists():
        return photos, 0, 0
    try:
        trained = pd.read_parquet(path, columns=[schema.PHOTO_ID, "sha256"])
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a damaged file
        raise DataContractError(f"{path} is unreadable ({type(exc).__name__}); it lists the photos the run learned "
                                "from, without which its test figures cannot be trusted: train the run again") from None
    rows = catalog.drop_duplicates(schema.PHOTO_ID).set_index(schema.PHOTO_ID)
    trained_ids, trained_shas = set(trained[schema.PHOTO_ID]), set(trained["sha256"].dropna())
    shas = rows["sha256"].reindex(photos[schema.PHOTO_ID].to_numpy()).to_numpy()
    seen = photos[schema.PHOTO_ID].isin(trained_ids).to_numpy() | pd.Series(shas).isin(trained_shas).to_numpy()
    touching = np.zeros(len(photos), dtype=bool)
    if by is not None and not seen.all():
        touching[~seen] = touches_learned(rows, photos[schema.PHOTO_ID].to_numpy()[~seen], trained_ids,
                                          trained_shas, by)
    left_out = seen | touching
    if left_out.all():
        raise DataContractError(f"every one of the {len(photos):,} {split} photos was this run's training or "
                                "validation photo, or a copy or a photographer's photo of one (the split changed "
                                "since it was trained, or this workspace is another collection holding the same "
                                "images): evaluate a run trained on this split")
    return photos[~left_out].reset_index(drop=True), int(seen.sum()), int(touching.sum())


def touches_learned(rows: pd.DataFrame, ids: np.ndarray, trained_ids: set, trained_shas: set, by: str) -> np.ndarray:
    """Which of the photos `ids` (of the catalog `rows`, indexed by photo id) `curate split` grouping `by` would
    have put with a photo the run learned from (by id or image), found in `rows`.

    >>> rows = pd.DataFrame({"photo_id": list("abcde"), "sha256": list("12345"), "owner_id": ["o", "o", "p", "q", "q"],
    ...                      "near_dup_cluster": [None, None, None, "k", None], "exact_dup_group": None,
    ...                      "taken_at": pd.NaT, "lat": None, "lon": None, "status": "kept"}).set_index("photo_id")
    >>> rows.loc["c", "near_dup_cluster"] = "k"  # c is a copy of d; a and c were learned from
    >>> touches_learned(rows, np.array(["b", "d", "e"]), {"a", "c"}, set(), "owner").tolist()
    [True, True, True]
    >>> touches_learned(rows, np.array(["b", "d", "e"]), {"a", "c"}, set(), "none").tolist()
    [False, True, False]
    >>> rows.loc["e", ["sha256", "status"]] = ["1", "dropped"]  # e: a dropped re-upload of a's image by q
    >>> touches_learned(rows, np.array(["b", "d"]), {"a"}, {"1"}, "owner").tolist()  # d: q's, not learned's
    [True, False]
    """
    from curate.groups import components
    from curate.split import split_groups

    # a photo the run learned from, by id; by image only while kept (review BC: a re-upload by another
    # photographer, dropped as an exact duplicate, pulled that photographer's test photos in, though the split
    # groups kept photos alone and rightly put them in test)
    kept = (rows["status"] == schema.KEPT).to_numpy() if "status" in rows else np.ones(len(rows), dtype=bool)
    learned = rows.index.isin(trained_ids) | (rows["sha256"].isin(trained_shas).to_numpy() & kept)
    frame = pd.concat([rows[learned], rows.reindex(pd.Index(ids)).loc[lambda f: ~f.index.isin(rows.index[learned])]])
    frame = frame.rename_axis(schema.PHOTO_ID).reset_index()
    is_learned = np.zeros(len(frame), dtype=bool)
    is_learned[:int(learned.sum())] = True
    if by == "none":  # no grouping asked for: a copy still shows the model its photo
        group = components(frame["near_dup_cluster"], frame["exact_dup_group"], frame["sha256"])
    else:
        group = split_groups(frame, by)
    hit = pd.Series(group).isin(set(group[is_learned])).to_numpy()
    return pd.Series(hit, index=frame[schema.PHOTO_ID]).groupby(level=0).any().reindex(ids).fillna(False).to_numpy(
        dtype=bool)


def empty_split_error(split: str, split_report: dict | None) -> str:
    """One line for an empty `split`: what is wrong, why (from `curate split`'s own report when
    there is one: the share it was asked for, why the split could not fill it, or photos it gave the
    split that were dropped since) and how to fix it, as "what; why; fix". The audit's
    one-photographer run asked for --test 0.2 and was told to run `curate split` with --test above 0;
    a re-check found the split's whole warning (naming val too) pasted after a colon, hard to read.

    >>> line = empty_split_error("test", {"config": {"test": 0.0}})
    >>> "ran with --test 0;" in line and "run `curate split --test 0.2`" in line
    True
    >>> empty_split_error("test", {"config": {"test": 0.2, "by": "owner"}, "empty_splits": {"test": "…"}})[:75]
    "nothing to evaluate: the 'test' split is empty; --test 0.2 asked for photos"
    """
    wrong = f"nothing to evaluate: the {split!r} split is empty"
    report = split_report or {}
    asked = (report.get("config") or {}).get(split)
    given = sum(int(row.get(f"{split}_photos") or 0) for row in report.get("per_label") or [])
    said = (report.get("empty_splits") or {}).get(split)  # the split could not fill it (reports since 2026-12-05)
    if asked is not None and float(asked) == 0:
        return (f"{wrong} because `curate split` ran with --{split} 0; run `curate split --{split} 0.2` (or another "
                "share above 0), then evaluate again")
    if said:  # why in the split's own words, once (not its whole warning, which may name val too)
        why, fix = empty_split_cause(str((report.get("config") or {}).get("by") or "owner"))
        if COLLAGE_CHAIN not in said:  # the split left out the advice on kept collages (none was kept, joined)
            fix = without_collage_advice(fix)
        asked_for = f"--{split} {float(asked):g} asked for photos, but " if asked is not None else ""
        return f"{wrong}; {asked_for}{why}; {fix}, then split, train and evaluate again"
    if given:
        return (f"{wrong}; `curate split` put {given:,} photos in it, but none is kept now (a later filter or review "
                "dropped them); run `curate split` again, then train and evaluate again")
    if asked is not None:  # a report from before empty_splits: its warnings (reports/split.json) say why
        return (f"{wrong} although --{split} {float(asked):g} asked for photos; the warning in reports/split.json "
                "says why (e.g. one photographer per label, or labels too small to share out); run `curate split` "
                "again to see it here")
    return (f"{wrong}; run `curate split` (with --{split} above 0), whose warning says why a split stays empty, "
            "e.g. one photographer per label, or labels too small to share out")


def off_topic_photos_of(catalog: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """The sandals test's photos: dropped as off-topic (drop_reason "off_topic"), with a stored image, by a
    photographer who has kept photos in `split`; columns photo_id, owner_id, image_path. Neither model
    trained on them: curation dropped them, `--uncurated` leaves out every photo of a test photographer."""
    owners = catalog.loc[(catalog["status"] == schema.KEPT) & (catalog["split"] == split), "owner_id"].dropna()
    chosen = ((catalog["status"] == schema.DROPPED) & (catalog["drop_reason"] == OFF_TOPIC)
              & catalog["owner_id"].isin(set(owners)) & catalog["image_path"].notna())
    return catalog.loc[chosen, [schema.PHOTO_ID, "owner_id", "image_path"]].reset_index(drop=True)


def off_topic_counts(catalog: pd.DataFrame, split: str = "test") -> dict[str, int]:
    """{"off_topic_dropped": photos the prefilter dropped as off topic, "off_topic_elsewhere": of them, those whose
    photographer has no kept photo in `split`}: why the sandals test has no photo to score when it has none (audit EG
    F6: a photographer of only off-topic photos is in no split, so his photos are never scored).

    >>> catalog = pd.DataFrame({"owner_id": ["a", "a", "b", "c"], "status": ["dropped", "kept", "dropped", "kept"],
    ...                         "drop_reason": ["off_topic", None, "off_topic", None], "split": [None, "test", None,
    ...                         "train"]})
    >>> off_topic_counts(catalog)
    {'off_topic_dropped': 2, 'off_topic_elsewhere': 1}
    """
    owners = set(catalog.loc[(catalog["status"] == schema.KEPT) & (catalog["split"] == split), "owner_id"].dropna())
    dropped = (catalog["status"] == schema.DROPPED) & (catalog["drop_reason"] == OFF_TOPIC)
    return {"off_topic_dropped": int(dropped.sum()),
            "off_topic_elsewhere": int((dropped & ~catalog["owner_id"].isin(owners)).sum())}


MOSTLY_TAKEN = 0.5  # a label the prefilter dropped more of than this as off topic: its photos may not be sandals


def labels_mostly_taken(catalog: pd.DataFrame, photos: pd.DataFrame) -> dict[str, int]:
    """{label: the sandals test's `photos` filed under it} for the labels whose photos the prefilter dropped as
    off topic for more than MOSTLY_TAKEN of those it judged (kept, or dropped as off topic): a label the topic
    does not describe rather than one photographer's off-topic photos (audit CD: with `--force`, 13 of 17
    "off-topic" photos were vehicles, a label of the collection, and the line called refusing them a success).

    >>> catalog = pd.DataFrame({"photo_id": list("abcdef"), "label": ["car", "car", "car", "dog", "dog", "dog"],
    ...                         "status": ["dropped", "dropped", "kept", "dropped", "kept", "kept"],
    ...                         "drop_reason": ["off_topic", "off_topic", None, "off_topic", None, None]})
    >>> labels_mostly_taken(catalog, catalog.loc[catalog["drop_reason"] == "off_topic", ["photo_id"]])
    {'car': 2}
    """
    judged = catalog[(catalog["status"] == schema.KEPT) | (catalog["drop_reason"] == OFF_TOPIC)]
    taken = (judged["drop_reason"] == OFF_TOPIC).groupby(judged["label"]).mean()
    labels = set(taken.index[taken > MOSTLY_TAKEN])
    filed = catalog.loc[catalog[schema.PHOTO_ID].isin(photos[schema.PHOTO_ID]), "label"]
    counts = filed[filed.isin(labels)].value_counts()
    return {str(label): int(n) for label, n in sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))}
