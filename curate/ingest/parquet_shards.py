"""Parquet files holding images, read in place by `curate ingest folder`.

Three writers keep one image per row in a binary column: img2dataset with `--output_format parquet` (a `jpg`
column beside `key`, `url`, `caption` and the carried columns), Hugging Face datasets' Parquet shards (an
`Image` feature: a struct of `bytes` and `path`, and `ClassLabel` columns whose names are in the file's
`huggingface` metadata), and `curate export --format hf-parquet`. Such a file is read as a folder named after
it: its images are `<file>/<key or row>.<ext>`, its other plain columns their metadata (a ClassLabel column
as its names). Only the footer and the metadata columns are read when the folder is scanned; an image's bytes
are read from its row group when it is fetched (the last row group read is kept per thread, so photos taken
in file order read each row group once per thread).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

IMAGE_COLUMNS = ("jpg", "jpeg", "png", "webp", "image", "img", "image_bytes")
MAX_ROW_GROUP_BYTES = 2 * 1024**3  # a row group is read whole per fetching thread: a larger one is refused
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".avif", ".heic", ".heif")
_cache = threading.local()
_SAFE_KEY = re.compile(r"[A-Za-z0-9._-]{1,200}")


@dataclass(frozen=True)
class ParquetImages:
    column: str  # the image column; "<column>.bytes" for a struct of bytes and path (Hugging Face's Image)
    names: list[str]  # one member name per row: `<key>.<ext>` or `<row>.<ext>`
    locations: list[tuple[int, int]]  # (row group, row within it) per row
    metadata: pd.DataFrame  # the plain columns, one row per image (ClassLabel columns as names)


def image_column(schema) -> str | None:
    """The image column of a Parquet schema ("<name>.bytes" for a struct with bytes), else None."""
    import pyarrow as pa

    for field in schema:
        binary = pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)
        if binary and field.name.lower() in IMAGE_COLUMNS:
            return field.name
        if pa.types.is_struct(field.type) and "bytes" in {child.name for child in field.type}:
            return f"{field.name}.bytes"
    return None


def read_parquet_images(path: os.PathLike) -> ParquetImages | None:
    """The images of the Parquet file at `path` and their metadata; None when it holds no image column.
    Raises OSError or pyarrow.ArrowException for a file that is not Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path)
    column = image_column(handle.schema_arrow)
    if column is None:
        return None
    largest = max((handle.metadata.row_group(g).total_byte_size for g in range(handle.num_row_groups)), default=0)
    if largest > MAX_ROW_GROUP_BYTES:  # each fetching thread holds one row group in memory
        raise ValueError(f"a row group of {largest:,} bytes, over the {MAX_ROW_GROUP_BYTES:,} a fetch may hold; "
                         "write it with smaller row groups")
    base = column.split(".", 1)[0]
    plain = [field.name for field in handle.schema_arrow if field.name != base and _plain(field.type, pa)]
    metadata = handle.read(columns=plain).to_pandas() if plain else pd.DataFrame(index=range(handle.metadata.num_rows))
    for name, names in _class_labels(handle.schema_arrow).items():
        if name in metadata:
            metadata[name] = metadata[name].map(lambda v, n=names: n[int(v)] if pd.notna(v) and 0 <= int(v) < len(n)
                                                else None)
    struct = handle.schema_arrow.field(base).type if column.endswith(".bytes") else None
    paths = None
    if struct is not None and "path" in {child.name for child in struct}:  # the paths alone, not the bytes
        paths = handle.read(columns=[f"{base}.path"]).column(base).to_pylist()
    locations = [(group, row) for group in range(handle.num_row_groups)
                 for row in range(handle.metadata.row_group(group).num_rows)]
    keys = metadata["key"].astype(str).tolist() if "key" in metadata and metadata["key"].is_unique else None
    if keys and not all(_SAFE_KEY.fullmatch(key) and key not in (".", "..") for key in keys):
        keys = None  # a key that is no plain file name (a slash, "..") would name a path: the row numbers do
    names = []
    for index in range(len(locations)):
        original = (paths[index] or {}).get("path") if paths else None
        suffix = PurePosixPath(original).suffix.lower() if original else ""
        stem = keys[index] if keys else f"{index:07d}"
        names.append(f"{stem}{suffix if suffix in IMAGE_SUFFIXES else '.jpg'}")
    return ParquetImages(column, names, locations, metadata.reset_index(drop=True))


def read_parquet_image(path: str, column: str, group: int, row: int) -> bytes:
    """The image bytes in `column` at (row group, row) of the Parquet file at `path`."""
    import pyarrow.parquet as pq

    key = (path, column, group)
    if getattr(_cache, "key", None) != key:
        base = column.split(".", 1)[0]
        values = pq.ParquetFile(path).read_row_group(group, columns=[base]).column(base).to_pylist()
        _cache.key, _cache.values = None, None  # a failed read leaves no stale group behind
        _cache.values = [value.get("bytes") if isinstance(value, dict) else value for value in values]
        _cache.key = key
    data = _cache.values[row]
    if data is None:
        raise NoImage("the Parquet row holds no image (img2dataset writes one for each failed download)")
    return bytes(data)


class NoImage(OSError):
    """A Parquet row without image bytes: a row of metadata alone."""


def _plain(kind, pa) -> bool:
    """A column type kept as metadata: text, numbers, booleans, times, and lists of text (tags)."""
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
            or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or pa.types.is_timestamp(kind)
            or pa.types.is_date(kind))


def _class_labels(schema) -> dict[str, list[str]]:
    """ClassLabel columns and their names, from a Hugging Face file's `huggingface` metadata."""
    raw = (schema.metadata or {}).get(b"huggingface")
    try:
        features = json.loads(raw)["info"]["features"] if raw else {}
    except (ValueError, KeyError, TypeError):
        return {}
    return {name: [str(n) for n in feature["names"]] for name, feature in features.items()
            if isinstance(feature, dict) and feature.get("_type") == "ClassLabel"
            and isinstance(feature.get("names"), list)}
