"""The catalog schema, declared once.

`catalog.parquet` holds one row per photo. Every column any stage reads or writes is
declared here, with its Arrow type, whether it may be null, what it means and which
stage writes it. Nothing else in the code base defines column names: the ``COLUMNS`` table
is the list (``NAMES``, ``COLUMN_BY_NAME``); code spells a column by its name, as a string
(``schema.PHOTO_ID`` is the one constant), and ``conform`` refuses a catalog write holding a
column not declared here. A misspelt *read* is not caught here: the tests that read each
stage's output are.

Rows are never deleted: a stage that rejects a photo sets ``status='dropped'``,
``drop_reason`` and ``drop_stage`` and keeps the row.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from curate.errors import DataContractError


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool
    meaning: str
    stage: str


_STR = pa.string()
_TAGS = pa.list_(pa.string())
_F64 = pa.float64()

COLUMNS: tuple[Column, ...] = (
    Column("photo_id", _STR, False, "Unique id: '<source>:<source_id>'.", "ingest"),
    Column("source", _STR, False, "Where the photo came from: demo, scrape, folder, urls, flickr, commons.", "ingest"),
    Column("source_id", _STR, False, "The photo's id at its source (file path for folders).", "ingest"),
    Column("owner_id", _STR, True, "Photographer / uploader id (Flickr NSID, author...).", "ingest"),
    Column("owner_name", _STR, True, "Photographer's display name.", "ingest"),
    Column("title", _STR, True, "Photo title.", "ingest"),
    Column("tags", _TAGS, False, "Normalised tags: lower case, NFC, trimmed, no empties, no repeats.", "ingest"),
    Column("label", _STR, True, "Class label; null when unknown or ambiguous.", "ingest"),
    Column("tag_labels", _TAGS, False, "Recipe labels named by the tags (2+ means ambiguous).", "ingest"),
    Column("lat", pa.float64(), True, "Latitude in degrees; null when missing or invalid.", "ingest"),
    Column("lon", pa.float64(), True, "Longitude in degrees; null when missing or invalid.", "ingest"),
    Column("coord_issue", _STR, True, "Why lat/lon are null: missing, not_a_number, out_of_range, "
           "zero_position (0, 0), zero_accuracy (accuracy 0: Flickr's no position).", "ingest"),
    Column("geo_accuracy", pa.int8(), True, "Position accuracy as the source gives it (Flickr: 1 world ... 16 street); "
           "null when unknown.", "ingest"),
    Column("taken_at", pa.timestamp("us"), True, "When the photo was taken (naive, as the source gives it).", "ingest"),
    Column("license", _STR, True, "Licence: canonical short name when recognised (curate/licences.py: cc-by-2.0, "
           "cc-by-sa-4.0, cc0-1.0, all-rights-reserved...), else as the source gave it.", "ingest"),
    Column("url", _STR, True, "Where the image or its page can be found.", "ingest"),
    Column("page_url", _STR, True, "The photo's page at its source, for attribution (Flickr photo page, Commons file "
                                   "page).", "ingest"),
    Column("sha256", _STR, True, "SHA-256 of the stored image bytes.", "ingest"),
    Column("width", pa.int32(), True, "Width in pixels after EXIF orientation.", "ingest"),
    Column("height", pa.int32(), True, "Height in pixels after EXIF orientation.", "ingest"),
    Column("image_format", _STR, True, "Decoded format (JPEG, PNG, ...).", "ingest"),
    Column("image_path", _STR, True, "Stored image's key, images/ab/<sha256>.<ext>: in the workspace, or under its "
                                     "--store (scale.md).", "ingest"),
    Column("status", _STR, False, "kept or dropped.", "every stage"),
    Column("drop_reason", _STR, True, "Why the photo was dropped (first reason wins).", "every stage"),
    Column("drop_stage", _STR, True, "Which stage dropped it.", "every stage"),
    Column("error_detail", _STR, True, "Free-text detail for an ingest failure (HTTP status, decoder "
                                       "message).", "ingest"),
    Column("geo_distance_km", pa.float64(), True, "Distance from the label's centre in km; null without coordinates or "
                                                  "centre.", "filter"),
    Column("exact_dup_group", _STR, True, "For byte-identical photos: photo_id of the copy that is kept.", "filter"),
    Column("phash", _STR, True, "64-bit perceptual hash (imagehash pHash) as 16 hex digits; cached.", "filter"),
    Column("phash_mirror", _STR, True, "pHash of the left-right mirrored image (flip-invariant matching); "
                                       "cached.", "filter"),
    Column("phash_trimmed", _STR, True, "pHash of the image with its uniform border (screenshot frame, letterbox) cut "
                                        "off; null when it has none; cached.", "filter"),
    Column("phash_rot90", _STR, True, "pHash of the image turned a quarter turn clockwise (a copy whose EXIF "
                                      "orientation was lost or applied twice); cached.", "filter"),
    Column("phash_rot180", _STR, True, "pHash of the image turned a half turn (a copy of a photo taken upside down "
                                       "whose EXIF orientation was lost); cached.", "filter"),
    Column("near_dup_cluster", _STR, True, "Near-duplicate cluster: photo_id of its representative (own id when "
                                           "alone).", "filter"),
    # raw image statistics of the single decode pass (curate/vision/features.py), measured on the
    # upright image shrunk to a 256 px short side; the quality checks score them (curate/filters/quality.py)
    Column("laplacian_var", _F64, True, "Variance of the grey Laplacian at 256 px short side (sharpness); "
                                        "cached.", "filter"),
    Column("brightness_p05", _F64, True, "5th percentile of grey brightness (0-255); cached.", "filter"),
    Column("brightness_p50", _F64, True, "Median grey brightness (0-255); cached.", "filter"),
    Column("brightness_p95", _F64, True, "95th percentile of grey brightness (0-255); cached.", "filter"),
    Column("white_clipped_share", _F64, True, "Share of pixels at grey brightness >= 250 (clipped highlights); "
                                              "cached.", "filter"),
    Column("centre_clipped_share", _F64, True, "Clipping of the central half: mean per-pixel weight of channels >= 250 "
                                               "(one 1/4, two 1/2, three 1); cached.", "filter"),
    Column("entropy_bits", _F64, True, "Entropy of the 256-bin grey histogram in bits (0-8); cached.", "filter"),
    Column("chroma_mean", _F64, True, "Mean of max(R,G,B) - min(R,G,B) per pixel (0-255; ~0 for greyscale); "
                                      "cached.", "filter"),
    Column("blurry_score", _F64, True, "Blurry (little fine detail) score in [0, 1], 1 = worst; each <check>_score is "
                                       "0.5 at its threshold.", "filter"),
    Column("dark_score", _F64, True, "Too-dark score in [0, 1] (1 = worst).", "filter"),
    Column("bright_score", _F64, True, "Over-exposed score in [0, 1] (1 = worst).", "filter"),
    Column("low_information_score", _F64, True, "Near-uniform (low entropy) score in [0, 1] (1 = worst).", "filter"),
    Column("odd_aspect_score", _F64, True, "Odd aspect ratio score in [0, 1] (1 = worst).", "filter"),
    Column("greyscale_score", _F64, True, "Greyscale score in [0, 1]; 0 for all when the collection is mostly "
                                          "greyscale.", "filter"),
    Column("tiny_score", _F64, True, "Tiny image score in [0, 1] (1 = worst).", "filter"),
    Column("quality_issues", _TAGS, True, "Quality checks the image fails (blurry, dark, bright, low_information, "
           "odd_aspect, greyscale, tiny); flagged, dropped only with --drop-quality; null until filtered.", "filter"),
    Column("topic_score", pa.float64(), True, "Out-of-fold probability that the photo shows the topic "
                                              "(pre-classifier).", "prefilter"),
    Column("topic_recovered", pa.bool_(), True, "Untagged photo kept because the pre-classifier scored it on "
                                                "topic.", "prefilter"),
    Column("topic_doubted", pa.bool_(), True, "Scored below the topic threshold but kept: the prefilter held its drops "
           "(its report says why; --force drops them).", "prefilter"),
    Column("topic_rescued", pa.bool_(), True, "Scored below the topic threshold but kept by the prefilter: its pixels "
           "agree with its label (the label model's confident-learning class is its label); null when not judged.",
           "prefilter"),
    Column("label_quality", pa.float64(), True, "Out-of-fold probability of the given label "
                                                "(self-confidence).", "prefilter"),
    Column("is_label_issue", pa.bool_(), True, "Confident learning says the label is probably wrong, or the photo "
           "is unlike its label (label_fit).", "prefilter"),
    Column("label_fit", pa.float64(), True, "Robust z, within the label, of the photo's mean embedding similarity to "
           "its 10 nearest photos of the label by other photographers; under -3.5: unlike its label (a label "
           "issue); null when not judged.", "prefilter"),
    Column("suggested_label", _STR, True, "The label the out-of-fold model believes most.", "prefilter"),
    Column("geo_rescued", pa.bool_(), True, "Geo outlier kept by the prefilter: its pixels agree with its label "
                                            "(out-of-fold "
           "probability of the label above its class's confident-learning threshold) and it is on topic.", "prefilter"),
    Column("original_label", _STR, True, "The label before `curate prefilter --relabel` replaced it with "
                                         "suggested_label; "
           "null when the label was not changed.", "prefilter"),
    Column("split", _STR, True, "train / val / test; null until split, and for dropped photos.", "split"),
    # human decisions (curate review, curate/review/apply.py); they win over every automatic stage on re-runs
    Column("review_status", _STR, True, "A reviewer's decision: kept or dropped; null when no one decided.", "review"),
    Column("review_label", _STR, True, "The label a reviewer gave; null when not relabelled.", "review"),
    Column("label_before_review", _STR, True, "The label before the reviewer's relabel.", "review"),
    Column("review_overrode_stage", _STR, True, "The stage whose drop a reviewer's keep overrode.", "review"),
    Column("review_overrode_reason", _STR, True, "The drop reason a reviewer's keep overrode.", "review"),
)

COLUMN_BY_NAME = {c.name: c for c in COLUMNS}
NAMES = tuple(c.name for c in COLUMNS)

PHOTO_ID = "photo_id"
KEPT = "kept"
DROPPED = "dropped"
SPLITS = ("train", "val", "test")  # the values of the split column, in order
NO_LABEL = "(no label)"  # how tables and reports name a missing label
# The label a photo came with, before `curate prefilter --relabel` and a reviewer's relabel (`given_label`)
GIVEN_LABEL_SQL = "coalesce(original_label, label_before_review, label)"


def given_label(frame: pd.DataFrame) -> pd.Series:
    """The label each photo came with (`GIVEN_LABEL_SQL`; a frame without the relabel columns: `label`).

    >>> given_label(pd.DataFrame({"label": ["b", "c"], "original_label": ["a", None]})).tolist()
    ['a', 'c']
    """
    given = frame["label"].astype(object)
    for name in ("label_before_review", "original_label"):  # the earlier relabel wins
        if name in frame:
            given = frame[name].astype(object).where(frame[name].notna(), given)
    return given


def arrow_schema() -> pa.Schema:
    """The Arrow schema the catalog is written with."""
    return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in COLUMNS])


@functools.cache
def pandas_metadata() -> bytes:
    """The `pandas` key of the catalog's Parquet metadata, as the pandas path writes it for the
    declared types: a writer that does not go through pandas (the DuckDB engine) attaches it, so
    that a plain `pd.read_parquet` of either engine's catalog gives the same dtypes (nullable
    integers stay Int32, not float64)."""
    table = pa.Table.from_pandas(to_pandas(arrow_schema().empty_table()), schema=arrow_schema(), preserve_index=False)
    return table.schema.metadata[b"pandas"]


def empty_catalog() -> pd.DataFrame:
    """A catalog with every column and no rows."""
    return arrow_schema().empty_table().to_pandas()


def conform(frame: pd.DataFrame) -> pa.Table:
    """Turn a DataFrame into an Arrow table with exactly the declared schema.

    Missing nullable columns are added as nulls (and missing list columns as empty
    lists); an undeclared column, a missing or null non-nullable column or a repeated
    photo_id raises DataContractError.
    """
    unknown = [name for name in frame.columns if name not in COLUMN_BY_NAME]
    if unknown:
        raise DataContractError(f"catalog has columns this version of curate does not know ({', '.join(unknown)}): "
                                "it was written by another version or tool, so use that version (a developer "
                                "adding a column declares it in curate/schema.py)")
    frame = frame.copy()
    for column in COLUMNS:
        if not column.nullable and column.name in frame.columns and frame[column.name].isna().any():
            raise DataContractError(f"catalog column {column.name!r} must not be null")
        if column.name not in frame.columns:
            if not column.nullable and not pa.types.is_list(column.type):
                raise DataContractError(f"catalog has no {column.name!r} column, which every row needs")
            empty = [[] for _ in range(len(frame))] if pa.types.is_list(column.type) else [None] * len(frame)
            frame[column.name] = pd.Series(empty, index=frame.index, dtype=object)  # object even with no rows
        elif pa.types.is_list(column.type) and column.nullable:
            # NaN where a concat met rows that lack the column (pandas fills floats) is a null list
            values = frame[column.name].to_numpy(dtype=object).copy()
            values[pd.isna(values)] = None
            frame[column.name] = pd.Series(values, index=frame.index, dtype=object)
    table = pa.Table.from_pandas(frame[list(NAMES)], schema=arrow_schema(), preserve_index=False, safe=False)
    validate(table)
    return table


def validate(table: pa.Table) -> None:
    """Check nullability, status values and photo_id uniqueness."""
    for column in COLUMNS:
        if not column.nullable and table.column(column.name).null_count:
            raise DataContractError(f"catalog column {column.name!r} must not be null")
    ids = table.column(PHOTO_ID)
    if len(ids) and pc.count_distinct(ids).as_py() != len(ids):
        raise DataContractError("catalog has repeated photo_id values")
    statuses = set(pc.unique(table.column("status")).to_pylist())
    if not statuses <= {KEPT, DROPPED}:
        raise DataContractError(f"catalog status must be kept or dropped, found {sorted(statuses - {KEPT, DROPPED})}")


def pandas_type(arrow_type: pa.DataType):
    """Nullable integer columns stay integers in pandas (not floats with NaN)."""
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype() if arrow_type.bit_width == 64 else pd.Int32Dtype()
    return None


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow catalog -> DataFrame (list columns hold NumPy arrays of str)."""
    return table.to_pandas(types_mapper=pandas_type)


def markdown_table() -> str:
    """The schema as a Markdown table (pasted into docs/workspace.md; a test keeps them equal)."""
    lines = ["| column | type | nullable | written by | meaning |", "|---|---|---|---|---|"]
    for c in COLUMNS:
        lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.stage} | {c.meaning} |")
    return "\n".join(lines)
