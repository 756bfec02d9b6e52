"""Fingerprints of the catalog: what a stage read and what it wrote, for `curate.freshness`.

A fingerprint is a hash of column values sorted by photo_id, vectorised with
`pandas.util.hash_pandas_object` (about a second per million rows and column). `input_fingerprint` covers the
columns a stage reads (its INPUTS) over the rows the stages before it kept; `output_fingerprint` the columns it
writes and its own drops. A CatalogFile is read in batches (the same digests, memory flat in its size) and its
fingerprints are kept on disk between commands (`curate.fingerprint_cache`). `_same_as_recorded` compares a
report's recorded fingerprint with today's over the columns it covered.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from curate import schema
from curate.catalog_batches import CatalogFile, sorted_digest_bounded
from curate.fingerprint_cache import lasting
from curate.records import DROPPING_STAGES, prefilter_repaired, recomputed_stages, undo_prefilter_repairs
from curate.review.apply import REVIEW_COLUMNS, before_review

PIPELINE = ("ingest", "embed", "filter", "prefilter", "split")
_OWN_COLUMNS = {stage: tuple(c.name for c in schema.COLUMNS if c.stage == stage) for stage in PIPELINE}
INPUTS = {
    "filter": _OWN_COLUMNS["ingest"],
    "embed": ("sha256", "image_path"),
    "prefilter": ("tags", "label", "tag_labels", "owner_id", "sha256", "image_path"),
    "split": ("label", "owner_id", "near_dup_cluster", "exact_dup_group"),
}


def fingerprint(frame: pd.DataFrame) -> str:
    """16 hex digits over a frame's columns (names and values) in row order; list cells are joined."""
    digest = hashlib.sha256(str(len(frame)).encode())
    for name in frame.columns:
        digest.update(name.encode() + b"\x00")
        digest.update(column_hashes(name, frame[name]).tobytes())
    return digest.hexdigest()[:16]


def column_hashes(name: str, values: pd.Series) -> np.ndarray:
    """One uint64 per value of catalog column `name` (list cells joined first); row-wise, so a
    column hashed in batches gives the same numbers as hashed whole."""
    column = schema.COLUMN_BY_NAME.get(name)
    if column is not None and pa.types.is_list(column.type):
        values = values.map(lambda cell: "\x00" if cell is None else "\x1f".join(map(str, cell)))
    return pd.util.hash_pandas_object(values, index=False).to_numpy()


def kept_before(catalog: pd.DataFrame, stage: str) -> pd.Series:
    """Rows the stages before `stage` kept: `stage` and later dropping stages' drops count as kept."""
    later = recomputed_stages(stage) or tuple(s for s in DROPPING_STAGES if PIPELINE.index(s) > PIPELINE.index(stage))
    return (catalog["status"] == schema.KEPT) | catalog["drop_stage"].isin(later)


def input_columns(stage: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The catalog columns `input_fingerprint` covers: photo_id, the stage's INPUTS and `extra`."""
    return [schema.PHOTO_ID, *dict.fromkeys(c for c in (*INPUTS[stage], *extra) if c != schema.PHOTO_ID)]


def output_columns(stage: str) -> list[str]:
    """The catalog columns `output_fingerprint` covers (besides the stage's own drops): photo_id and its own."""
    return [schema.PHOTO_ID, *(c for c in _OWN_COLUMNS[stage] if c != schema.PHOTO_ID)]


def input_fingerprint(catalog: pd.DataFrame | CatalogFile, stage: str, extra: tuple[str, ...] = (),
                      columns: list[str] | None = None) -> str:
    """What `stage` reads: its INPUTS (and `extra` catalog columns) over the rows kept before it; `columns`:
    these instead (those an earlier run's report covered, `_same_as_recorded`).
    `catalog`: the catalog, or a CatalogFile to read in batches (the same fingerprint)."""
    columns = list(columns) if columns is not None else input_columns(stage, extra)
    return _fingerprint_of(catalog, _input_key(stage, extra, columns), columns, _input_view(stage, columns))


def _input_key(stage: str, extra: tuple[str, ...], columns: list[str]) -> tuple:
    return ("inputs", stage, tuple(extra), tuple(columns))


def _input_view(stage: str, columns: list[str]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def view(frame: pd.DataFrame) -> pd.DataFrame:
        if stage != "split":  # the stages before review read the catalog without its decisions
            frame = before_review(frame)
        if stage != "split" and prefilter_repaired(frame):  # the labels and drops before the prefilter repaired them
            frame = undo_prefilter_repairs(frame)
        rows = kept_before(frame, stage)
        if stage == "embed":  # every stored image ingest kept: the rows of curate.embed.embeddable_images
            rows &= frame["image_path"].notna()
        return frame.loc[rows, columns]

    return view


def output_fingerprint(catalog: pd.DataFrame | CatalogFile, stage: str, cache_key: str | None = None,
                       columns: list[str] | None = None) -> str:
    """What `stage` wrote: its own columns and its own drops (embed: its cache key and inputs); `columns`: these
    instead of its own (those an earlier run's report covered, `_same_as_recorded`).
    `catalog`: the catalog, or a CatalogFile to read in batches (the same fingerprint)."""
    if stage == "embed":
        return hashlib.sha256(f"{cache_key}:{input_fingerprint(catalog, stage)}".encode()).hexdigest()[:16]
    columns = list(columns) if columns is not None else output_columns(stage)
    return _fingerprint_of(catalog, _output_key(stage, columns), columns, _output_view(stage, columns))


def _output_key(stage: str, columns: list[str]) -> tuple:
    return ("output", stage, tuple(columns))


def _output_view(stage: str, columns: list[str]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def view(frame: pd.DataFrame) -> pd.DataFrame:
        frame = before_review(frame)  # a reviewer's keep, drop or relabel is no stage's output
        if stage in ("ingest", "filter") and prefilter_repaired(frame):  # a relabel or a geo rescue is the
            frame = undo_prefilter_repairs(frame)                          # prefilter's output, not theirs
        own = frame[columns].copy()
        own["own_drop"] = frame["drop_reason"].where(frame["drop_stage"] == stage)
        return own

    return view


# Columns added to the schema after stages first recorded their freshness (2026-12-02, 5b9c388) and before their
# reports named the columns each fingerprint covered (2026-12-07): a report of that time covered some of them, as
# the version that wrote it had them. Frozen: a later column is named by the reports that cover it.
ADDED_BEFORE_RECORDED = frozenset((
    "blurry_score", "bright_score", "brightness_p05", "brightness_p50", "brightness_p95", "centre_clipped_share",
    "chroma_mean", "dark_score", "entropy_bits", "geo_rescued", "greyscale_score", "label_before_review", "label_fit",
    "laplacian_var", "low_information_score", "odd_aspect_score", "original_label", "phash_mirror", "phash_rot180",
    "phash_rot90", "phash_trimmed", "quality_issues", "review_label", "review_overrode_reason",
    "review_overrode_stage", "review_status", "tiny_score", "topic_doubted", "topic_rescued", "white_clipped_share"))
MAX_UNNAMED_GUESSES = 16  # column sets tried for such a report beyond all its empty added columns left out


def _same_as_recorded(record: dict, kind: str, catalog: pd.DataFrame | CatalogFile, default: list[str],
                      fingerprint_of: Callable[[list[str]], str], stored: frozenset[str] | None = None) -> bool:
    """Whether the `kind` ("inputs", "output") fingerprint a stage report recorded is the catalog's now, over the
    columns that fingerprint covered: those the report names (`columns`, recorded since 2026-12-07); for an older
    report, today's `default` columns, or those the catalog file holds (`stored`: a file the older version wrote
    lacks the columns added since), or today's less some of ADDED_BEFORE_RECORDED that are all empty in the catalog
    (one a later command wrote holds them as nulls). Audit DA: every upgraded workspace read its filter and prefilter
    as "changed or reset" for the pHash and label-fit columns added since. A match over fewer columns is a match of
    those columns' values (a hash), nothing looser."""
    recorded = record.get(kind)
    named = record.get("columns", {}).get(kind) if isinstance(record.get("columns"), dict) else None
    if isinstance(named, list) and named and all(isinstance(c, str) and c in schema.COLUMN_BY_NAME for c in named):
        return recorded == fingerprint_of(named)
    if recorded == fingerprint_of(default):
        return True
    if stored is not None and not set(default) <= stored and recorded == fingerprint_of(
            [c for c in default if c in stored]):
        return True
    added = [c for c in default if c in ADDED_BEFORE_RECORDED]
    empty = sorted(_empty_columns(catalog, tuple(added))) if added else []
    if not empty:
        return False
    # first all of them left out (the version that wrote the report had none of them), then, for a few, each
    # smaller set (review DB: every subset of up to 6 cost ~100 fingerprints, 149 s at 1M rows, on every status)
    if recorded == fingerprint_of([c for c in default if c not in empty]):
        return True
    if 2 ** len(empty) > MAX_UNNAMED_GUESSES:
        return False
    for size in range(1, len(empty)):
        for left_out in itertools.combinations(empty, size):
            if recorded == fingerprint_of([c for c in default if c not in left_out]):
                return True
    return False


def output_as_recorded(record: dict, catalog: pd.DataFrame | CatalogFile, stage: str,
                       stored: frozenset[str] | None = None) -> bool:
    """Whether the output fingerprint of `stage` that `record` holds (a stage report's freshness, or an upstream
    identity a stage recorded of ingest) is the catalog's now (`_same_as_recorded`)."""
    default = output_columns(stage)
    return _same_as_recorded(record, "output", catalog, default, _composed(
        catalog, default, _output_view, lambda columns: output_fingerprint(catalog, stage, None, columns), stage),
        stored)


def inputs_as_recorded(record: dict, catalog: pd.DataFrame | CatalogFile, stage: str, extra: tuple[str, ...] = (),
                       stored: frozenset[str] | None = None) -> bool:
    """Whether the input fingerprint a stage report's freshness holds is the catalog's now (`_same_as_recorded`)."""
    default = input_columns(stage, extra)
    return _same_as_recorded(record, "inputs", catalog, default, _composed(
        catalog, default, _input_view, lambda columns: input_fingerprint(catalog, stage, extra, columns), stage),
        stored)


def _composed(catalog: pd.DataFrame | CatalogFile, default: list[str], view_for, direct: Callable[[list[str]], str],
              stage: str) -> Callable[[list[str]], str]:
    """A `fingerprint_of(columns)` for `_same_as_recorded`: over a subset of `default` (in its order) a catalog in
    memory is viewed and sorted once and each column hashed once, and each subset's fingerprint composed from those
    hashes (`fingerprint` of the view's columns less the others left out: the same digest); any other set, and a
    catalog read in batches (whose fingerprints are kept on disk), go to `direct`. Review DB MED-3: an older report
    that really changed computed up to ~100 fingerprints, 149 s at 1M rows for one `curate status`."""
    if isinstance(catalog, CatalogFile):
        return direct
    full: list[pd.DataFrame] = []
    hashed: dict[str, bytes] = {}

    def fingerprint_of(columns: list[str]) -> str:
        if not set(columns) <= set(default) or [c for c in default if c in columns] != list(columns):
            return direct(columns)
        if not full:
            full.append(view_for(stage, default)(catalog).sort_values(schema.PHOTO_ID, kind="stable"))
        frame = full[0]
        digest = hashlib.sha256(str(len(frame)).encode())
        for name in (c for c in frame.columns if c in columns or c not in default):  # and what the view adds
            if name not in hashed:
                hashed[name] = column_hashes(name, frame[name]).tobytes()
            digest.update(name.encode() + b"\x00")
            digest.update(hashed[name])
        return digest.hexdigest()[:16]

    return fingerprint_of


def _no_value(value: object) -> bool:
    """None, NaN, or an empty list.

    >>> [_no_value(v) for v in (None, float("nan"), [], np.array([]), "", ["a"], 0)]
    [True, True, True, True, False, False, False]
    """
    if isinstance(value, (list, tuple, np.ndarray)):
        return len(value) == 0
    return value is None or (isinstance(value, float) and bool(np.isnan(value))) or value is pd.NA


def _empty_columns(catalog: pd.DataFrame | CatalogFile, columns: tuple[str, ...]) -> set[str]:
    """Those of `columns` whose every value is null or an empty list."""
    def empty(values: pd.Series) -> bool:
        return bool(values.map(_no_value).all()) if values.dtype == object else bool(values.isna().all())

    def compute() -> set[str]:
        left = set(columns)
        for frame in _frames(catalog, list(columns)):
            left = {c for c in left if empty(frame[c])}
            if not left:
                break
        return left

    return catalog.memo(("empty", columns), compute) if isinstance(catalog, CatalogFile) else compute()


# what the views above read besides the fingerprinted columns: rows kept, review and repair columns
_VIEW_NEEDS = (schema.PHOTO_ID, "status", "drop_reason", "drop_stage", "label", "split", "image_path",
               "original_label", "geo_rescued", *REVIEW_COLUMNS)


def _fingerprint_of(catalog: pd.DataFrame | CatalogFile, key: tuple, columns: list[str], view) -> str:
    """`fingerprint` of `view(catalog)` sorted by photo_id; a CatalogFile is read in batches."""
    if isinstance(catalog, CatalogFile):
        needs = list(dict.fromkeys([*_VIEW_NEEDS, *columns]))
        if catalog.num_rows <= catalog.batch_rows:  # small: read once for every fingerprint (the same bytes)
            whole = catalog.memo("every column", lambda: catalog.read(list(schema.COLUMN_BY_NAME)))
            return catalog.memo(key, lambda: _fingerprint_of(whole[needs], key, columns, view))
        return catalog.memo(key, lambda: lasting(  # kept on disk from one command to the next
            catalog.path, catalog.identity, catalog.num_rows, repr((key, tuple(columns))),
            lambda: sorted_digest_bounded(catalog, needs, view, schema.PHOTO_ID, column_hashes).hexdigest()[:16]))
    return fingerprint(view(catalog).sort_values(schema.PHOTO_ID, kind="stable"))


def _frames(catalog: pd.DataFrame | CatalogFile, columns: list[str]):
    """The catalog as frames holding `columns`: a CatalogFile's batches, or the frame itself."""
    return catalog.batches(columns) if isinstance(catalog, CatalogFile) else [catalog]
