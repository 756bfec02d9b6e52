"""The export plan built from the catalog file with memory flat in the number of photos.

`plan_from_file(catalog, config, sizes, folder)` gives the same plan as
`plan_export(catalog.read(...), ...)` (the same rows in the same order, byte for byte) without
holding the catalog's rows: a first pass over the file in batches keeps, per exported photo,
only its sort keys and a few small codes (position, split, label, licence, file name, image
size: ~40 bytes); the sort gives each photo its rank. A second pass sends every batch's
exported rows to the bucket of `BUCKET_ROWS` consecutive ranks they fall in, a pickle file
under `folder` (the export's own temporary folder); `ExportPlan.chunks()` then reads one
bucket at a time, puts it in order and adds the export columns (`plan.place`).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from curate.catalog_batches import CatalogFile, arrow_list_column
from curate.export.config import ExportConfig
from curate.export.plan import METADATA_COLUMNS, ExportPlan, assign_shards, place, plan_columns, safe_names, select_rows

BUCKET_ROWS = 16_384  # photos read back at a time: what the writers hold of the plan
KEY_COLUMNS = ["photo_id", "label", "split", "status", "license", "image_path"]
Sizes = Callable[[pd.DataFrame], pd.Series]  # image bytes of a batch's rows (NaN: no stored image)


def plan_from_file(catalog: CatalogFile, config: ExportConfig, sizes: Sizes, folder: Path) -> ExportPlan:
    """The export plan of the catalog file, streamed (see the module); `folder` must exist and
    stay until the plan's chunks have been read. DataContractError as `plan_export`."""
    keys, excluded, missing = _keys(catalog, config, sizes)
    names = safe_names(pd.Series(pd.arrays.ArrowExtensionArray(keys.column("photo_id"))))
    keys = keys.drop_columns(["photo_id"]).append_column("name", pa.array(names.to_numpy(dtype=object), pa.string()))
    order = pc.sort_indices(keys, [("split", "ascending"), ("name", "ascending")]).to_numpy()
    keys = keys.take(order)
    slim = pd.DataFrame({name: _text(keys.column(name)) for name in ("split", "label", "license")})
    slim["bytes"] = keys.column("bytes").to_numpy()
    classes = sorted(slim["label"].unique().tolist())
    shards = assign_shards(slim, config) if not config.folder_format else None
    slim = slim.drop(columns="bytes").assign(shard=shards)
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    buckets, template = _spill(catalog, config, keys.column("position").to_numpy()[np.argsort(order)], ranks, folder)
    names, sizes_sorted = _text(keys.column("name")), keys.column("bytes").to_numpy()
    del keys
    columns = list(template.columns) if config.format == "csv" else [*METADATA_COLUMNS, "image_path"]

    def stream() -> Iterator[pd.DataFrame]:
        for number in range(max(buckets, 1)):
            chunk = (_read_bucket(folder, number) if number < buckets else template)[columns]
            span = slice(number * BUCKET_ROWS, number * BUCKET_ROWS + len(chunk))
            chunk = chunk.assign(split=slim["split"].to_numpy()[span], bytes=sizes_sorted[span])
            chunk.index = pd.RangeIndex(span.start, span.stop)
            if config.format != "csv":  # tags as one Arrow list column
                chunk["tags"] = arrow_list_column(chunk["tags"])
            yield place(chunk, names.iloc[span], config, classes, None if shards is None else shards.iloc[span])

    excluded = {reason: count for reason, count in excluded.items() if count}
    return ExportPlan(slim, missing, excluded, classes, stream)


def _text(column: pa.ChunkedArray) -> pd.Series:
    """An Arrow string column as a pandas `str` column."""
    return pd.Series(pd.arrays.ArrowExtensionArray(column)).astype("str")


def _keys(catalog: CatalogFile, config: ExportConfig, sizes: Sizes) -> tuple[pa.Table, dict, pd.DataFrame]:
    """First pass: (position, photo_id, split, label, license, bytes of every exported photo as
    an Arrow table, photos left out by reason, photos without a stored image)."""
    parts, missing, excluded, offset = [], [], {}, 0
    for batch in catalog.batches(KEY_COLUMNS):
        image_bytes = sizes(batch)
        chosen, split, left_out, absent = select_rows(batch, config, image_bytes)
        for reason, count in left_out.items():
            excluded[reason] = excluded.get(reason, 0) + count
        missing.append(absent)
        picked = chosen.to_numpy(dtype=bool)
        text = {"photo_id": batch["photo_id"], "split": split, "label": batch["label"], "license": batch["license"]}
        parts.append(pa.table({"position": pa.array(np.flatnonzero(picked) + offset, pa.int64()),
                               **{name: pa.array(values.to_numpy(dtype=object)[picked], pa.string())
                                  for name, values in text.items()},
                               "bytes": pa.array(image_bytes.to_numpy(dtype=np.float64)[picked], pa.float64())}))
        offset += len(batch)
    keys = pa.concat_tables(parts).combine_chunks()
    missing_frame = pd.concat(missing).sort_values("photo_id").reset_index(drop=True)
    return keys, excluded, missing_frame


def _spill(catalog: CatalogFile, config: ExportConfig, positions: np.ndarray, ranks: np.ndarray,
           folder: Path) -> tuple[int, pd.DataFrame]:
    """Second pass: every exported row (its plan columns and rank) appended to the pickle file of
    its bucket of ranks; `positions` ascending, `ranks` aligned with them. Returns (the number
    of buckets, an empty frame of the plan columns)."""
    buckets = -(-len(ranks) // BUCKET_ROWS)
    handles = [open(folder / f"bucket-{number:06d}.pkl", "wb") for number in range(buckets)]
    offset, template = 0, None
    try:
        for batch in catalog.batches(plan_columns(config)):
            if template is None:
                template = batch.iloc[:0]
            start, stop = np.searchsorted(positions, [offset, offset + len(batch)])
            rows = batch.iloc[positions[start:stop] - offset]
            rank = ranks[start:stop]
            rows = rows.assign(_rank=rank)
            for number in np.unique(rank // BUCKET_ROWS):
                pickle.dump(rows[rank // BUCKET_ROWS == number], handles[number], protocol=pickle.HIGHEST_PROTOCOL)
            offset += len(batch)
    finally:
        for handle in handles:
            handle.close()
    return buckets, template


def _read_bucket(folder: Path, number: int) -> pd.DataFrame:
    """One bucket's rows in rank order, without the rank."""
    path = folder / f"bucket-{number:06d}.pkl"
    parts = []
    with open(path, "rb") as handle:
        while True:
            try:
                parts.append(pickle.load(handle))  # noqa: S301 - written by this process, in its own folder
            except EOFError:
                break
    rows = pd.concat(parts).sort_values("_rank")
    return rows.drop(columns="_rank")
