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
    Column("taken_at", pa.timestamp("us"), True, "When the photo was taken (naive: as the source gives it; a value "
           "with a zone is turned into UTC).", "ingest"),
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
    Column("phash_panels", _STR, True, "pHashes of a collage's two panels (two images side by side or stacked on a "
                                       "flat gutter) as two 16-hex-digit values, space-separated; null when it is no "
                                       "collage; cached.", "filter"),
    Column("phash_strips", _STR, True, "Strip hashes (32 vertical x 2 horizontal DCT signs) for portrait crops: "
                                       "'own:' and one 16-hex-digit value for an image of about 9:16, space-separated "
                                       "values of its full-height 9:16 windows along the width for one at least as "
                                       "wide as high, the same after 'in:' for a 4:5 or 2:3 portrait (its own "
                                       "9:16 windows); null otherwise; cached.", "filter"),
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
                                                "topic: at or above the threshold and the recovery floor (the tagged "
                                                "photos' 1st percentile).", "prefilter"),
    Column("topic_doubted", pa.bool_(), True, "Kept but doubted on topic: scored below the topic threshold while the "
           "prefilter held its drops (its report says why; --force drops them), or untagged and scored above the "
           "threshold but under the recovery floor (not recovered; its warning says so).", "prefilter"),
    Column("topic_rescued", pa.bool_(), True, "Scored below the topic threshold but kept by the prefilter: its pixels "
           "agree with its label (the label model's confident-learning class is its label); null when not judged.",
           "prefilter"),
    Column("label_quality", pa.float64(), True, "Out-of-fold probability of the given label "
                                                "(self-confidence).", "prefilter"),
    Column("is_label_issue", pa.bool_(), True, "Confident learning says the label is probably wrong, or the photo "
           "is unlike its label (label_fit).", "prefilter"),
    Column("label_fit", pa.float64(), True, "Robust z, within the label, of the photo's mean embedding similarity to "
           "its 10 nearest photos of the label by other photographers; under -3.5: unlike its label (a label "
           "issue) unless its label is what surrounds it (all of its 10 nearest photos of all labels by others, at "
           "a usual distance); null when not judged.", "prefilter"),
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


@dataclass(frozen=True)
class DropReason:
    name: str  # the value of drop_reason; a name ending in ":" is a family (quality:dark, quality:blurry...)
    stage: str  # the drop_stage that writes it
    meaning: str


# Every value `drop_reason` takes, declared once: the answer to "why was this photo dropped?" (a test checks that
# every reason the code writes or compares with is here, and that docs/workspace.md shows this table).
DROP_REASONS = (
    DropReason("empty_file", "ingest", "zero bytes"),
    DropReason("not_an_image", "ingest", "bytes no decoder recognises (e.g. HTML saved as `.jpg`)"),
    DropReason("truncated_image", "ingest", "the file starts like an image (its format's signature) but its header "
               "or pixel data is cut short or corrupt"),
    DropReason("too_small", "ingest", "shorter side under 32 px (after EXIF orientation)"),
    DropReason("decompression_bomb", "ingest", "more pixels claimed than the format allows: 250 megapixels for a "
               "JPEG (a 108 or 200 MP phone photo is kept; it decodes at 1/2, 1/4 or 1/8 scale, never above 80 MP), "
               "80 megapixels for any other format"),
    DropReason("animated", "ingest", "an animated GIF, WebP, PNG (APNG) or AVIF (not a photo); the extra pages of a "
               "TIFF, an MPO or a HEIF are not an animation: their first page is the photo"),
    DropReason("unsupported_format", "ingest", "a HEIC/HEIF photo (a phone's) while pillow-heif is not installed, or "
               "AVIF on a Pillow without its decoder; `error_detail` says what to install. `curate ingest folder` "
               "tries these again on its next run"),
    DropReason("duplicate_photo_id", "ingest", "the source listed the same id twice; the later rows are kept as "
               "`<id>#2`, `#3`… (a suffix the source already uses as an id is skipped). When only a later row has "
               "an image URL, that row keeps the id and the earlier one is the repeat"),
    DropReason("unsafe_path", "ingest", "a file outside the folder (`../`, an absolute path, a symlink out of the "
               "folder, whether its target exists or not); never read. `error_detail` says which, and names a "
               "symlink's target"),
    DropReason("missing_file", "ingest", "metadata names a file that is absent; or a photo's file left the folder "
               "since an earlier ingest"),
    DropReason("unreadable_file", "ingest", "a file that cannot be read (permissions, a named pipe or device, a "
               "container that cannot be opened)"),
    DropReason("file_too_large", "ingest", "a local file over 256 MB (no photo is this big); never read into memory"),
    DropReason("bad_url", "ingest", "not an http(s) URL with a host"),
    DropReason("http_404", "ingest", "the server says the image is gone"),
    DropReason("http_4xx", "ingest", "another refusal by the server (401, 403, 410...)"),
    DropReason("http_3xx", "ingest", "a 3xx answer that could not be followed"),
    DropReason("http_5xx", "ingest", "a server error (transient: the next run tries again)"),
    DropReason("http_429", "ingest", "too many requests, still refused after the retries (transient)"),
    DropReason("timeout", "ingest", "the connection, the answer or the download took too long (transient)"),
    DropReason("connection_error", "ingest", "the server could not be reached or cut the download (transient)"),
    DropReason("too_large", "ingest", "a download over the size limit (`Content-Length` or the bytes received)"),
    DropReason("too_many_redirects", "ingest", "a redirect loop or chain"),
    DropReason("no_image_url", "ingest", "Flickr listed the photo without any of url_l / url_c / url_z / url_m"),
    DropReason("unsupported_mime", "ingest", "Commons or Flickr: not a photo (a video, PDF, SVG, DjVu…); nothing "
               "downloaded"),
    DropReason("malformed_metadata", "ingest", "Commons: unusable image info; nothing downloaded"),
    DropReason("ingest_error", "ingest", "an unexpected local error for this one photo (a bug, a failed write); the "
               "detail is in `error_detail`, and the next run tries it again"),
    DropReason("licence", "filter", "a licence the recipe or `--licences` does not allow"),
    DropReason("ambiguous_label", "filter", "tags naming two or more labels, or byte-identical copies carrying "
               "different labels"),
    DropReason("exact_duplicate", "filter", "byte-identical to a kept photo (`exact_dup_group` names it)"),
    DropReason("geo_outlier", "filter", "farther than `--max-km` from its label's centre (labels that are places)"),
    DropReason("missing_geo", "filter", "no coordinates, with `missing_geo = \"drop\"` in the recipe"),
    DropReason("owner_cap", "filter", "over `--max-per-owner` / `--max-owner-share` for its label"),
    DropReason("quality:", "filter", "`quality:<check>` (`quality:dark`, `quality:blurry`…): failed a quality check "
               "that `--drop-quality` names"),
    DropReason("near_duplicate", "filter", "a near copy of the photo its cluster keeps (`--dedupe-near`)"),
    DropReason("collage", "filter", "a collage whose panels are copies of different pictures: it would join them "
               "on one side of the split (`--collages keep` keeps it)"),
    DropReason("unreadable_image", "prefilter", "its stored image could not be read to embed it"),
    DropReason("off_topic", "prefilter", "the pre-classifier's topic score is under the cut (`--topic`)"),
    DropReason("label_issue", "prefilter", "the label model is confident the label is wrong "
               "(`--drop-label-issues`)"),
    DropReason("reviewed", "review", "dropped by a reviewer (`curate review`)"),
    # the uncurated baseline `classify evaluate --uncurated` trains on (built in memory, never in the catalog)
    DropReason("no_stored_image", "compare", "uncurated baseline: the photo has no stored image"),
    DropReason("in_clean_test", "compare", "uncurated baseline: the photo is in the clean test set"),
    DropReason("clean_test_owner", "compare", "uncurated baseline: its photographer has a photo in the clean test "
               "set"),
    DropReason("clean_test_duplicate", "compare", "uncurated baseline: a copy (bytes or near duplicate) of a clean "
               "test photo"),
)
DROP_REASON_BY_NAME = {reason.name: reason for reason in DROP_REASONS}


def is_drop_reason(value: str) -> bool:
    """Whether `value` is a declared drop reason (a family's member included).

    >>> [is_drop_reason(v) for v in ("geo_outlier", "quality:dark", "quality:", "geo-outlier")]
    [True, True, False, False]
    """
    family, colon, member = value.partition(":")
    return value in DROP_REASON_BY_NAME if not colon else bool(member) and f"{family}:" in DROP_REASON_BY_NAME


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
    check_known_columns(frame.columns)
    frame = frame.copy()
    for column in COLUMNS:
        if not column.nullable and column.name in frame.columns and frame[column.name].isna().any():
            raise DataContractError(null_message(column.name))
        if column.name not in frame.columns:
            if not column.nullable and not pa.types.is_list(column.type):
                raise DataContractError(missing_message(column.name))
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


def null_message(name: str) -> str:
    """What a catalog with a null in non-null column `name` is refused with (both engines)."""
    return f"catalog column {name!r} must not be null"


def missing_message(name: str) -> str:
    """What a catalog lacking non-null column `name` is refused with (both engines)."""
    return f"catalog has no {name!r} column, which every row needs"


def check_known_columns(names) -> None:
    """DataContractError when `names` hold a column the schema does not declare (both catalog
    engines refuse such a catalog: writing it back would drop the column).

    >>> check_known_columns(["photo_id", "label"])
    """
    unknown = [str(name) for name in names if name not in COLUMN_BY_NAME]
    if unknown:
        raise DataContractError(f"catalog has columns this version of curate does not know ({', '.join(unknown)}): "
                                "it was written by another version or tool, so use that version (a developer "
                                "adding a column declares it in curate/schema.py)")


def validate(table: pa.Table) -> None:
    """Check nullability, status values and photo_id uniqueness."""
    for column in COLUMNS:
        if not column.nullable and table.column(column.name).null_count:
            raise DataContractError(null_message(column.name))
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


def drop_reasons_table() -> str:
    """The drop reasons as a Markdown table (pasted into docs/workspace.md; a test keeps them equal)."""
    lines = ["| drop_reason | stage | meaning |", "|---|---|---|"]
    for reason in DROP_REASONS:
        name = f"{reason.name}<check>" if reason.name.endswith(":") else reason.name
        lines.append(f"| `{name}` | {reason.stage} | {reason.meaning} |")
    return "\n".join(lines)
