"""The export plan: which photos go where, as a pure function of the catalog.

`plan_export(catalog, config, image_bytes)` picks the photos (kept with a split, or every
labelled one with ``labels="all"``), applies the split and licence filters, lists the photos
whose stored image is missing, gives every photo a file name that is safe on every file system
and unique, and says where it goes: a path inside the export folder for the folder formats, a
shard and member name for WebDataset. No file is read or written here; the sizes of the stored
images (``image_bytes``) come from the caller.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from curate import schema
from curate.catalog_batches import arrow_list_column
from curate.errors import DataContractError
from curate.export.config import SPLITS, UNSPLIT, ExportConfig
from curate.export.state import UPRIGHT
from curate.filters.collages import cross_label_collages
from curate.leakage import TOUCH_COLUMNS, HeldOutKeys, touching_reasons

DAMAGED_SIZE = -1.0  # an image size that says: the stored bytes no longer match their SHA-256 (curate.export.source)
DAMAGED_REASON = "stored image is damaged: its bytes no longer match the SHA-256 it was stored under"
NAME_CHARS = 80  # longest file name stem (before a uniqueness suffix): tar's ustar limit is 100
METADATA_COLUMNS = (schema.PHOTO_ID, "label", "split", "owner_id", "owner_name", "license", "page_url", "url",
                    "title", "lat", "lon", "taken_at", "tags", "sha256", "width", "height")


@dataclass
class PlanSummary:
    """What the files beside the images and the command's report need of the plan's rows, as
    counts (a few entries per split, label, licence and shard, never one per photo): photos,
    photos per (split, label), per licence ("unknown" for none), and per split its shards and
    their sample counts (empty for the folder formats)."""

    photos: int = 0
    split_label: dict[tuple[str, str], int] = field(default_factory=dict)
    licences: dict[str, int] = field(default_factory=dict)
    shards: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, rows: pd.DataFrame) -> None:
        """Count `rows` (columns split, label, license, shard) in."""
        self.photos += len(rows)
        if not len(rows):
            return
        for key, n in rows.groupby(["split", "label"], sort=False).size().items():
            self.split_label[key] = self.split_label.get(key, 0) + int(n)
        for licence, n in rows["license"].fillna("unknown").value_counts(sort=False).items():
            self.licences[licence] = self.licences.get(licence, 0) + int(n)
        if rows["shard"].notna().any():
            for (split, shard), n in rows.groupby(["split", "shard"], sort=False).size().items():
                per_split = self.shards.setdefault(split, {})
                per_split[shard] = per_split.get(shard, 0) + int(n)

    @property
    def per_split(self) -> dict[str, int]:
        """Photos per split, splits sorted by name."""
        counts: dict[str, int] = {}
        for (split, _), n in self.split_label.items():
            counts[split] = counts.get(split, 0) + n
        return dict(sorted(counts.items()))


@dataclass
class ExportPlan:
    """rows: one per exported photo, sorted by split then name, with the catalog's columns plus
    name, ext, class_index, target (path in the export folder, or member name in a shard),
    shard (WebDataset: the shard's file name), content_key (changes when the file must be
    written again) and bytes (the stored image's size). missing: photo_id, split, label,
    reason for photos that would be exported but have no stored image. excluded: photos left
    out, by reason. classes: the exported labels, sorted (class_index is a position here).

    A streamed plan (`curate.export.spill`) holds no row, nor anything else per photo:
    `chunks()` gives the full rows, in order, a bounded number at a time; `summary` has the
    counts the files beside the images and the command's report need. Its `rows` (split,
    label, license and shard of each photo, for tests) reads the chunks again, so it works only
    while the plan's folder is there (inside `export_workspace`, or for a plan a test built)."""

    frame: pd.DataFrame | None
    missing: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    stream: Callable[[], Iterator[pd.DataFrame]] | None = None
    counts: PlanSummary | None = None
    # exported photos a stage flagged but kept, by flag (`select_rows` counts them among `excluded`'s, under
    # FLAGGED: one dict summed batch by batch; moved here when the plan is made)
    flagged: dict[str, int] = field(default_factory=dict)
    # images exported under two or more labels (`label_conflicts`); their photos are counted in `flagged` too
    label_conflicts: dict[str, int] = field(default_factory=lambda: dict(NO_CONFLICTS))

    def __post_init__(self) -> None:
        for key in [key for key in self.excluded if key.startswith(FLAGGED)]:
            count = self.excluded.pop(key)
            if count:
                self.flagged[key[len(FLAGGED):]] = self.flagged.get(key[len(FLAGGED):], 0) + count
        if self.label_conflicts.get("photos"):
            self.flagged[CONFLICT_FLAG] = self.label_conflicts["photos"]

    @property
    def rows(self) -> pd.DataFrame:
        """The rows (a streamed plan: split, label, license and shard of each photo, read from its
        chunks now: one row per photo in memory, so never in the export itself)."""
        if self.frame is not None:
            return self.frame
        slim = ["split", "label", "license", "shard"]
        return pd.concat([chunk[slim] for chunk in self.chunks()], ignore_index=True)

    @property
    def summary(self) -> PlanSummary:
        """The plan's counts (see PlanSummary)."""
        if self.counts is None:
            self.counts = PlanSummary()
            self.counts.add(self.rows)
        return self.counts

    @property
    def photos(self) -> int:
        """How many photos are exported."""
        return self.summary.photos

    def chunks(self) -> Iterator[pd.DataFrame]:
        """The full rows in export order, in consecutive chunks (at least one, maybe empty)."""
        if self.stream is None:
            yield self.rows
        else:
            yield from self.stream()


def plan_columns(config: ExportConfig) -> list[str]:
    """The catalog columns `plan_export` reads for `config` (every column for the csv manifest)."""
    if config.format == "csv":
        return list(schema.NAMES)
    return list(dict.fromkeys([*METADATA_COLUMNS, "image_path", "status", "tag_labels", "is_label_issue",
                               "topic_doubted", "quality_issues", *CONFLICT_COLUMNS,
                               *(HELD_OUT_COLUMNS if config.labels == "all" else ())]))


def plan_export(catalog: pd.DataFrame, config: ExportConfig, image_bytes: pd.Series) -> ExportPlan:
    """The export plan of `catalog` (pure; the input is not changed), every row in memory
    (`curate.export.spill.plan_from_file` builds the same plan from the catalog file, streamed).

    image_bytes: size in bytes of each photo's stored image, indexed like `catalog`; NaN
    where the file is absent. Raises DataContractError when two labels would share a folder.
    """
    chosen, split, excluded, missing = select_rows(catalog, config, image_bytes, held_out_keys([catalog], config))
    # sort on the two keys alone, then take the rows once, in order: the plan is held while every
    # image is written, so it holds only the columns the files beside the images need (the csv
    # manifest has them all)
    positions = np.flatnonzero(chosen.to_numpy())
    keys = pd.DataFrame({"split": split[chosen].reset_index(drop=True),  # Arrow strings, not Python objects
                         "name": safe_names(catalog.loc[chosen, schema.PHOTO_ID]).reset_index(drop=True)})
    order = keys.sort_values(["split", "name"], kind="stable").index.to_numpy()
    keys = keys.iloc[order].reset_index(drop=True)
    columns = list(catalog.columns) if config.format == "csv" else [*METADATA_COLUMNS, "image_path"]
    rows = catalog[columns].iloc[positions[order]].reset_index(drop=True)
    rows = rows.assign(split=keys["split"], bytes=image_bytes.to_numpy()[positions[order]])
    if config.format != "csv":  # tags as one Arrow list column
        rows["tags"] = arrow_list_column(rows["tags"])
    classes = sorted(rows["label"].unique().tolist())
    shards = assign_shards(rows, config).astype("str") if not config.folder_format else None
    rows = place(rows, keys["name"], config, classes, shards)
    conflicts = label_conflicts(catalog.loc[chosen].reindex(columns=["label", *CONFLICT_COLUMNS]))
    return ExportPlan(rows, missing.sort_values(schema.PHOTO_ID).reset_index(drop=True),
                      {reason: count for reason, count in excluded.items() if count}, classes,
                      label_conflicts=conflicts)


AMBIGUOUS = "kept without a label, tags name two or more labels"  # an `excluded` reason of its own
FLAGGED = "flagged: "  # `select_rows` counts exported photos still flagged under this prefix (ExportPlan.flagged)
# flag -> the review queue that lists it (curate.review.queues.QUEUES)
FLAG_QUEUES = {"label issue": "label_issues", "doubted off topic": "off_topic", "quality issue": "quality"}


def flagged_counts(catalog: pd.DataFrame, exported: pd.Series) -> dict[str, int]:
    """How many `exported` rows a stage flagged and kept and nobody has settled since, by flag (FLAG_QUEUES' keys):
    a label issue (`is_label_issue`), a photo the prefilter doubted but kept (`topic_doubted`: its cut was held, or
    untagged under the recovery floor), a quality check failed but not dropped (`quality_issues`). A catalog without
    a column counts none of that flag.
    Settled: a photo a reviewer decided on (`review_status`), and a label issue the prefilter relabelled
    (`original_label`: it trains under the suggested label). Audit BB: "29 label issues … drop or relabel what is
    wrong" counted 10 photos the prefilter had relabelled already.

    >>> rows = pd.DataFrame({"is_label_issue": [True, None, True, True], "topic_doubted": [None, True, None, None],
    ...                      "quality_issues": [["blurry"], [], None, None], "original_label": [None, None, None, "b"]})
    >>> flagged_counts(rows, pd.Series([True, True, False, True]))
    {'label issue': 1, 'doubted off topic': 1, 'quality issue': 1}
    """
    open_rows = exported.copy()
    if "review_status" in catalog:
        open_rows &= catalog["review_status"].isna()
    counts = {}
    for flag, column in (("label issue", "is_label_issue"), ("doubted off topic", "topic_doubted")):
        if column in catalog:
            flagged = open_rows & (catalog[column] == True)  # noqa: E712  (None: not judged)
            if column == "is_label_issue" and "original_label" in catalog:
                flagged &= catalog["original_label"].isna()
            counts[flag] = int(flagged.sum())
    if "quality_issues" in catalog and open_rows.any():
        listed = catalog.loc[open_rows, "quality_issues"].map(
            lambda cell: cell is not None and not isinstance(cell, float) and len(cell) > 0)
        counts["quality issue"] = int(listed.astype(bool).sum())
    return counts


# `--labels all`: the splits whose photos an unsplit photo must not touch (curate.leakage.touching_reasons), test
# first (a photo touching both is counted as touching test). Val too: it picks the epoch and the settings
# (`classify train`'s early stopping, `classify tune`), so an unsplit photo by a val photographer or a copy of a
# val photo, trained on beside train, would make val read better than the model is.
HELD_OUT_SPLITS = ("test", "val")
HELD_OUT_COLUMNS = tuple(dict.fromkeys(column for columns in TOUCH_COLUMNS.values() for column in columns))
TOUCHES = "unsplit, touches {split}: "  # `excluded` reasons: TOUCHES + TOUCH_WORDS[reason]
TOUCH_WORDS = {"in_clean_test": "a {split} photo", "clean_test_owner": "by a photographer with {split} photos",
               "clean_test_duplicate": "a copy of a {split} photo (same image or near-duplicate cluster)"}
HeldOut = dict[str, HeldOutKeys]  # split -> the keys of its kept photos


def held_out_keys(batches: Iterable[pd.DataFrame], config: ExportConfig) -> HeldOut | None:
    """The keys of the kept photos of each of HELD_OUT_SPLITS, over every batch of the catalog (None unless
    `config.labels == "all"`: nothing else exports a photo outside the split)."""
    if config.labels != "all":
        return None
    held_out = {split: HeldOutKeys() for split in HELD_OUT_SPLITS}
    for batch in batches:
        kept = batch["status"] == schema.KEPT
        for split, keys in held_out.items():
            keys.add(batch.loc[kept & (batch["split"] == split)])
    return held_out


def leave_out_touching(rows: pd.DataFrame, unsplit: pd.Series, held_out: HeldOut,
                       excluded: dict[str, int]) -> pd.Series:
    """The `unsplit` rows that touch no held-out split's photo; those that do are counted into `excluded`
    by split and reason (TOUCHES). Training on train + unsplit must not train on a test or val photo through
    a copy or its photographer, which the split keeps on one side (audit AZ F3: unsplit held 3 byte-identical
    copies of test photos and 24 photos by test photographers, under a card saying no image spans two splits)."""
    left = unsplit.copy()
    for split, keys in held_out.items():
        reason = touching_reasons(rows.loc[left], keys)
        for name, words in TOUCH_WORDS.items():
            excluded[TOUCHES.format(split=split) + words.format(split=split)] = int((reason == name).sum())
        left[left] = reason.isna().to_numpy()
    return left


# what `label_conflicts` reads of the exported photos beside their label: their bytes and near-duplicate cluster
# (`exact_dup_group` is the photo_id of its sha256 group's representative: the same groups as sha256)
# and whether it is a collage (`phash_panels`: a cluster under two labels holding one is no copy to relabel)
CONFLICT_COLUMNS = ("sha256", "near_dup_cluster", "phash_panels")
CONFLICT_FLAG = "image under two or more labels"  # the `flagged` name of the photos `label_conflicts` counts
NO_CONFLICTS = {"images": 0, "exact_copies": 0, "near_duplicate_clusters": 0, "photos": 0, "collage_clusters": 0,
                "collage_photos": 0}


def label_conflicts(rows: pd.DataFrame) -> dict[str, int]:
    """Among the exported photos `rows` (label, sha256, near_dup_cluster, phash_panels): the images exported under
    two or more labels. `exact_copies`: sha256 values whose photos carry two or more labels;
    `near_duplicate_clusters`: near-duplicate clusters whose photos carry two or more labels and that hold none of
    those exact copies (an image is counted once) nor a collage; `images` their sum; `photos`: the photos of every
    conflict, collage clusters' included (audit AZ F2: a reviewer's keep of both copies of a cross-label pair, or a
    relabel of one near copy, trained one picture as two classes and the export said nothing).
    `collage_clusters`: the clusters under two or more labels that hold a collage (a photo with `phash_panels`,
    kept by `--collages keep`, the filter's hold or a reviewer) whose other photos carry two labels or more, with
    their `collage_photos` not among the exact copies' (audit DY F7, as `curate split` says: their pictures
    differ, the collage is the photo to drop).
    `curate.export.spill` counts the same on disk (`conflicts_on_disk`).

    >>> label_conflicts(pd.DataFrame({"label": ["a", "b", "a", "a", "c", "c"], "sha256": ["x", "x", "y", "z", "w", "v"],
    ...                               "near_dup_cluster": ["1", "1", "2", "2", "2", "3"]}))
    ... # doctest: +NORMALIZE_WHITESPACE
    {'images': 2, 'exact_copies': 1, 'near_duplicate_clusters': 1, 'photos': 5, 'collage_clusters': 0,
     'collage_photos': 0}
    >>> label_conflicts(pd.DataFrame({"label": ["a", "b", "b"], "sha256": ["x", "y", "z"],
    ...                               "near_dup_cluster": ["1", "1", "1"], "phash_panels": [None, None, "0 0"]}))
    ... # doctest: +NORMALIZE_WHITESPACE
    {'images': 0, 'exact_copies': 0, 'near_duplicate_clusters': 0, 'photos': 3, 'collage_clusters': 1,
     'collage_photos': 3}
    """
    rows = rows[rows["label"].notna()]

    def spread(column: str) -> pd.Index:
        pairs = rows[[column, "label"]].dropna()
        labels = pairs.groupby(column, sort=False)["label"].nunique()
        return labels.index[labels > 1]

    exact, near = spread("sha256"), spread("near_dup_cluster")
    in_exact, in_near = rows["sha256"].isin(exact), rows["near_dup_cluster"].isin(near)
    near_only = near.difference(pd.Index(rows.loc[in_exact, "near_dup_cluster"].dropna().unique()))
    collage = near_only.intersection(cross_label_collages(rows))
    in_collage = rows["near_dup_cluster"].isin(collage) & ~in_exact
    return {"images": len(exact) + len(near_only) - len(collage), "exact_copies": len(exact),
            "near_duplicate_clusters": len(near_only) - len(collage), "photos": int((in_exact | in_near).sum()),
            "collage_clusters": len(collage), "collage_photos": int(in_collage.sum())}


def _names_two(cell) -> bool:
    return cell is not None and not isinstance(cell, float) and len(cell) >= 2


def select_rows(catalog: pd.DataFrame, config: ExportConfig, image_bytes: pd.Series,
                held_out: HeldOut | None = None) -> tuple[pd.Series, pd.Series, dict[str, int], pd.DataFrame]:
    """(chosen, split, excluded, missing) of `catalog` (row-wise, so a batch gives its own rows'
    share): which rows are exported, each row's export split, counts of rows left out by
    reason (zeros included; and, under FLAGGED, of exported rows still flagged: `flagged_counts`),
    and the rows that would be exported but have no stored image. `held_out` (`labels="all"`): the
    keys of the whole catalog's test and val photos (`held_out_keys`; None: those of `catalog`)."""
    kept = catalog["status"] == schema.KEPT
    labelled = catalog["label"].notna()
    in_split = kept & catalog["split"].notna() & labelled
    split = catalog["split"].where(in_split, UNSPLIT if config.labels == "all" else None)
    chosen = in_split if config.labels == "kept" else labelled
    if config.labels == "kept":
        # held by the filter as ambiguous (curate.filters.ambiguous): counted apart, as `curate review --queue
        # ambiguous` can give each its label (audit AC 6: they read as untagged photos)
        ambiguous = kept & ~labelled
        if "tag_labels" in catalog and ambiguous.any():  # a Python call per unlabelled kept photo only
            ambiguous[ambiguous] = catalog.loc[ambiguous, "tag_labels"].map(_names_two).astype(bool)
        else:
            ambiguous[:] = False
        excluded = {"not kept": int((~kept).sum()),
                    "kept without a label": int((kept & ~labelled & ~ambiguous).sum()),
                    AMBIGUOUS: int(ambiguous.sum()),
                    "kept without a split": int((kept & labelled & catalog["split"].isna()).sum())}
    else:
        excluded = {"without a label": int((~labelled).sum())}
    wanted = config.splits or (*SPLITS, *((UNSPLIT,) if config.labels == "all" else ()))
    excluded["split not exported"] = int((chosen & ~split.isin(wanted)).sum())
    chosen &= split.isin(wanted)
    if config.labels == "all":
        held_out = held_out if held_out is not None else held_out_keys([catalog], config)
        unsplit = chosen & (split == UNSPLIT)
        chosen &= ~unsplit | leave_out_touching(catalog, unsplit, held_out, excluded)
    if config.licences is not None:
        from curate.licences import licence_allowed

        allowed = licence_allowed(catalog["license"], config.licences)
        excluded["licence not allowed"] = int((chosen & ~allowed).sum())
        chosen &= allowed
    damaged = chosen & (image_bytes == DAMAGED_SIZE)
    absent = chosen & image_bytes.isna() | damaged
    missing = pd.DataFrame({schema.PHOTO_ID: catalog.loc[absent, schema.PHOTO_ID], "split": split[absent],
                            "label": catalog.loc[absent, "label"],
                            "reason": np.select([catalog.loc[absent, "image_path"].isna(), damaged[absent]],
                                                ["no stored image (dropped at ingest?)", DAMAGED_REASON],
                                                "stored image file is missing from the image store")})
    excluded["no stored image"] = int((absent & ~damaged).sum())
    excluded["damaged stored image"] = int(damaged.sum())
    chosen = chosen & ~absent
    excluded.update({FLAGGED + flag: count for flag, count in flagged_counts(catalog, chosen).items()})
    return chosen, split, excluded, missing


def place(rows: pd.DataFrame, names: pd.Series, config: ExportConfig, classes: list[str],
          shards: pd.Series | None) -> pd.DataFrame:
    """Add name, ext, class_index, target, shard (given: `assign_shards`, None for the folder
    formats) and content_key to rows sorted by split, name."""
    # the text after the last dot (all of it without one), lower case; a regex on Arrow strings
    # rather than str.rsplit, which builds a Python list per row
    ext = rows["image_path"].str.replace(r"^.*\.", "", regex=True).str.lower()
    rows = rows.assign(name=names.astype("str"), ext="jpg" if config.resize else ext,
                       class_index=rows["label"].map({label: i for i, label in enumerate(classes)}).astype(int))
    folders = rows["label"].map(label_folders(classes))
    files = rows["name"] + "." + rows["ext"]
    if config.format in ("imagefolder", "hf"):
        rows["target"] = rows["split"] + "/" + folders + "/" + files
    elif config.format == "csv":
        rows["target"] = "images/" + rows["split"] + "/" + folders + "/" + files
    else:
        rows["target"] = files
    rows["ext"] = rows["ext"].astype("str")
    rows["shard"] = None if shards is None else shards.to_numpy()
    rows["content_key"] = (rows["sha256"].astype(str) + ":" + rows["ext"] + ":"
                           + str(config.resize or 0) + ":" + config.link + UPRIGHT)  # reencode.upright_copy's
    # pixels (since 2026-12-06): an export made before holds its files under keys without it (state.same_content)
    return rows


def safe_names(photo_ids: pd.Series) -> pd.Series:
    """A file name stem per photo: letters, digits, `_` and `-` only (no dots, which WebDataset
    reads as the start of the extension), at most ~90 characters, unique even where two ids
    squash to the same text or differ only in case (a hash of the id is appended there).

    >>> safe_names(pd.Series(["demo:1", "folder:a/b.jpg"])).tolist()
    ['demo_1', 'folder_a_b_jpg']
    """
    names = name_stems(photo_ids)
    clash = names.str.lower().duplicated(keep=False)
    if clash.any():
        digest = photo_ids[clash].map(lambda text: hashlib.sha1(text.encode()).hexdigest()[:10])
        names = names.where(~clash, names + "-" + digest)
    return names


def name_stems(photo_ids: pd.Series) -> pd.Series:
    """`safe_names` before the uniqueness suffix (row-wise: a batch gives its own rows' stems)."""
    return photo_ids.str.replace(r"[^A-Za-z0-9_-]+", "_", regex=True).str.slice(0, NAME_CHARS)


# A file name is at most 255 bytes on common file systems: a longer label's folder is cut (on a character) and
# given a hash of the whole label, so that two long labels sharing a start stay two folders (audit H: a label of
# 300 characters stopped the export with "File name too long" after writing part of it)
MAX_FOLDER_BYTES = 120


def label_folders(labels: list[str]) -> dict[str, str]:
    """Each label's folder name: the label itself in Unicode NFC, with path separators and control characters
    replaced, and cut to MAX_FOLDER_BYTES with a hash when longer; DataContractError when two labels
    would share a folder, on a file system that ignores case or Unicode normalisation too (macOS, Windows: audit
    CG, "São Paulo" in NFC and NFD made two folders that are one there).

    >>> folders = label_folders(["x" * 300, "x" * 299 + "y"])
    >>> [len(folder.encode()) for folder in folders.values()], len(set(folders.values()))
    ([120, 120], 2)
    >>> label_folders(["AC/DC", "Sa\u0303o"]) == {"AC/DC": "AC_DC", "Sa\u0303o": "S\u00e3o"}
    True
    """
    folders = {}
    for label in labels:
        folder = unicodedata.normalize("NFC", label)
        folder = "".join("_" if ch in "/\\" or ord(ch) < 32 else ch for ch in folder).strip()
        folder = folder if folder.strip(".") else f"_{folder}"
        if len(folder.encode("utf-8")) > MAX_FOLDER_BYTES:
            digest = hashlib.sha1(label.encode("utf-8")).hexdigest()[:8]
            head = folder.encode("utf-8")[:MAX_FOLDER_BYTES - 9].decode("utf-8", "ignore").rstrip(". ")
            folder = f"{head}-{digest}"
        folders[label] = folder
    seen: dict[str, str] = {}
    for label, folder in folders.items():
        other = seen.setdefault(folder.casefold(), label)  # (NFC above: a folder name is NFC already)
        if other != label:
            raise DataContractError(f"labels {other!r} and {label!r} would share the export folder {folder!r}; "
                                    "rename one where the labels come from (the recipe's label names, the label "
                                    "column or folders), or relabel its photos with `curate review`")
    return folders


def assign_shards(rows: pd.DataFrame, config: ExportConfig) -> pd.Series:
    """`<split>-%06d.tar` (hf-parquet: `data/<split>-%06d.parquet`, the names Hugging Face's
    Parquet loader maps to splits) per row: consecutive rows of a split, at most `shard_samples`
    samples and about `shard_bytes` bytes (a shard holds at least one sample) per shard."""
    return ShardCounter(config).names(rows["split"], rows["bytes"])


class ShardCounter:
    """`assign_shards` over consecutive chunks of the sorted rows: the count goes on from one
    chunk to the next."""

    def __init__(self, config: ExportConfig):
        self.samples, self.bytes = config.shard_samples, config.shard_bytes
        self.prefix, self.suffix = ("data/", "parquet") if config.format == "hf-parquet" else ("", "tar")
        self.split, self.shard, self.count, self.total = None, 0, 0, 0.0

    def names(self, split: pd.Series, sizes: pd.Series) -> pd.Series:
        """The shard of each row of the next chunk (split and image size of each row, sorted)."""
        numbers = np.zeros(len(split), dtype=np.int64)
        values = split.to_numpy(dtype=object)
        for i, size in enumerate(sizes.to_numpy(dtype=np.float64).tolist()):  # ~50 ms for 100,000 rows
            if values[i] != self.split:
                self.split, self.shard, self.count, self.total = values[i], 0, 0, 0.0
            elif self.count and (self.count >= self.samples or self.total + size > self.bytes):
                self.shard, self.count, self.total = self.shard + 1, 0, 0.0
            numbers[i] = self.shard
            self.count, self.total = self.count + 1, self.total + size
        # rows are sorted by split and numbered in order, so a shard is a run of equal (split, number):
        # one name per shard, then one code per row (not a Python string per row)
        starts = np.ones(len(split), dtype=bool)
        starts[1:] = (numbers[1:] != numbers[:-1]) | (values[1:] != values[:-1])
        names = [f"{self.prefix}{values[i]}-{numbers[i]:06d}.{self.suffix}" for i in np.flatnonzero(starts)]
        codes = np.cumsum(starts) - 1
        return pd.Series(pd.Categorical.from_codes(codes, categories=names), index=split.index).astype("str")


def metadata_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The per-photo metadata written beside each image (JSON, metadata.jsonl, the CSV); list
    cells as plain Python lists."""
    frame = rows[list(METADATA_COLUMNS)]
    if isinstance(frame["tags"].dtype, pd.ArrowDtype):
        frame = frame.assign(tags=pd.Series(frame["tags"].tolist(), index=frame.index, dtype=object))
    return frame
