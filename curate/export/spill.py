"""The export plan built from the catalog file with memory flat in the number of photos.

`plan_from_file(catalog, config, sizes, folder)` gives the same plan as
`plan_export(catalog.read(...), ...)` (the same rows in the same order, byte for byte) without
holding the catalog's rows: a first pass over the file in batches keeps, per exported photo,
only its sort keys and a few small codes (position, split, label, licence, file name, image
size: ~40 bytes); the sort gives each photo its rank. A second pass sends every batch's
exported rows to the bucket of `BUCKET_ROWS` consecutive ranks they fall in, a pickle file
under `folder` (the export's own temporary folder); `ExportPlan.chunks()` then reads one
bucket at a time, puts it in order and adds the export columns (`plan.place`).

From `EXTERNAL_ROWS` catalog rows on, nothing is held per photo (`_plan_on_disk`): the first
pass writes the keys to a Parquet file in `folder`, DuckDB (`curate.external_sort`, a small
memory limit, spilling to disk) gives the names and sorts them, a pass over the sorted keys
assigns the shards and counts what the files beside the images need (`PlanSummary`), and the
second catalog pass reads each row's rank from a file in catalog order.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate import external_sort, schema
from curate.catalog_batches import CatalogFile, arrow_list_column
from curate.export.config import ExportConfig
from curate.export.plan import (
    CONFLICT_COLUMNS,
    HELD_OUT_COLUMNS,
    METADATA_COLUMNS,
    ExportPlan,
    HeldOut,
    PlanSummary,
    ShardCounter,
    assign_shards,
    held_out_keys,
    label_conflicts,
    name_stems,
    place,
    plan_columns,
    safe_names,
    select_rows,
)

BUCKET_ROWS = 16_384  # photos read back at a time: what the writers hold of the plan
EXTERNAL_ROWS = external_sort.EXTERNAL_ROWS  # catalog rows from which the keys are sorted on disk
KEY_COLUMNS = [schema.PHOTO_ID, "label", "split", "status", "license", "image_path", "tag_labels", "is_label_issue",
               "topic_doubted", "quality_issues",  # the flags of the photos exported
               "original_label", "review_status",  # what settled a flag (plan.flagged_counts)
               *CONFLICT_COLUMNS]  # images under two labels (plan.label_conflicts)
Sizes = Callable[[pd.DataFrame], pd.Series]  # image bytes of a batch's rows (NaN: no stored image)


def plan_from_file(catalog: CatalogFile, config: ExportConfig, sizes: Sizes, folder: Path) -> ExportPlan:
    """The export plan of the catalog file, streamed (see the module); `folder` must exist and
    stay until the plan's chunks have been read. DataContractError as `plan_export`."""
    held_out = held_out_keys(catalog.batches(["status", "split", *HELD_OUT_COLUMNS]), config)  # --labels all
    if catalog.num_rows >= EXTERNAL_ROWS:
        return _plan_on_disk(catalog, config, sizes, folder, held_out)
    keys, excluded, missing = _keys(catalog, config, sizes, held_out)
    conflicts = label_conflicts(keys.select(["label", *CONFLICT_COLUMNS]).to_pandas())
    keys = keys.drop_columns(list(CONFLICT_COLUMNS))
    names = safe_names(pd.Series(pd.arrays.ArrowExtensionArray(keys.column(schema.PHOTO_ID))))
    keys = keys.drop_columns([schema.PHOTO_ID]).append_column(
        "name", pa.array(names.to_numpy(dtype=object), pa.string()))
    order = pc.sort_indices(keys, [("split", "ascending"), ("name", "ascending")]).to_numpy()
    keys = keys.take(order)
    slim = pd.DataFrame({name: _text(keys.column(name)) for name in ("split", "label", "license")})
    slim["bytes"] = keys.column("bytes").to_numpy()
    classes = sorted(slim["label"].unique().tolist())
    shards = assign_shards(slim, config) if not config.folder_format else None
    slim = slim.drop(columns="bytes").assign(shard=shards)
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    positions = keys.column("position").to_numpy()[np.argsort(order)]
    buckets, template = _spill(catalog, config, _lookup(positions, ranks), len(ranks), folder)
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
    return ExportPlan(slim, missing, excluded, classes, stream, label_conflicts=conflicts)


def _text(column: pa.ChunkedArray) -> pd.Series:
    """An Arrow string column as a pandas `str` column."""
    return pd.Series(pd.arrays.ArrowExtensionArray(column)).astype("str")


def _selected(catalog: CatalogFile, config: ExportConfig, sizes: Sizes, excluded: dict, missing: list,
              held_out: HeldOut | None) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray, pd.Series]]:
    """First pass over the catalog: per batch, the exported rows (photo_id, label, license, sha256,
    near_dup_cluster), their positions in the catalog, image sizes and splits; photos left out are counted by
    reason into `excluded`, and those without a stored image appended to `missing`. `held_out`: the whole
    catalog's (`held_out_keys`)."""
    offset = 0
    # --labels all: what an unsplit photo may share with a test or val photo (plan.leave_out_touching)
    for batch in catalog.batches([*KEY_COLUMNS, *(HELD_OUT_COLUMNS if held_out is not None else ())]):
        image_bytes = sizes(batch)
        chosen, split, left_out, absent = select_rows(batch, config, image_bytes, held_out)
        for reason, count in left_out.items():
            excluded[reason] = excluded.get(reason, 0) + count
        if len(absent) or not missing:  # (an empty frame per batch would be a few kB per 8,192 photos)
            missing.append(absent)
        picked = chosen.to_numpy(dtype=bool)
        yield (batch[[schema.PHOTO_ID, "label", "license", *CONFLICT_COLUMNS]][picked], np.flatnonzero(picked) + offset,
               image_bytes.to_numpy(dtype=np.float64)[picked], split[picked])
        offset += len(batch)


def _strings(values: pd.Series) -> pa.Array:
    return pa.array(values.to_numpy(dtype=object), pa.string(), from_pandas=True)


def _keys(catalog: CatalogFile, config: ExportConfig, sizes: Sizes,
          held_out: HeldOut | None) -> tuple[pa.Table, dict, pd.DataFrame]:
    """First pass: (position, photo_id, split, label, license, bytes, sha256, near_dup_cluster of every
    exported photo as an Arrow table, photos left out by reason, photos without a stored image)."""
    parts, missing, excluded = [], [], {}
    for rows, positions, image_bytes, split in _selected(catalog, config, sizes, excluded, missing, held_out):
        parts.append(pa.table({"position": pa.array(positions, pa.int64()),
                               schema.PHOTO_ID: _strings(rows[schema.PHOTO_ID]), "split": _strings(split),
                               "label": _strings(rows["label"]), "license": _strings(rows["license"]),
                               "bytes": pa.array(image_bytes, pa.float64()),
                               **{name: _strings(rows[name]) for name in CONFLICT_COLUMNS}}))
    keys = pa.concat_tables(parts).combine_chunks()
    missing_frame = pd.concat(missing).sort_values(schema.PHOTO_ID).reset_index(drop=True)
    return keys, excluded, missing_frame


Lookup = Callable[[int, int], tuple[np.ndarray, np.ndarray]]  # (start, stop) -> positions in it, their ranks


def _lookup(positions: np.ndarray, ranks: np.ndarray) -> Lookup:
    """The exported positions in [start, stop) and their ranks (`positions` ascending)."""
    def lookup(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        first, last = np.searchsorted(positions, [start, stop])
        return positions[first:last], ranks[first:last]
    return lookup


def _spill(catalog: CatalogFile, config: ExportConfig, lookup: Lookup, photos: int,
           folder: Path) -> tuple[int, pd.DataFrame]:
    """Second pass: every exported row (its plan columns and rank) appended to the pickle file of
    its bucket of ranks; `lookup` gives the exported positions of a span of rows and their
    ranks, asked for spans in order. Returns (the number of buckets, an empty frame of the plan
    columns)."""
    buckets = -(-photos // BUCKET_ROWS)
    offset, template = 0, None
    for batch in catalog.batches(plan_columns(config)):
        if template is None:
            template = batch.iloc[:0]
        positions, rank = lookup(offset, offset + len(batch))
        rows = batch.iloc[positions - offset]
        rows = rows.assign(_rank=rank)
        for number in np.unique(rank // BUCKET_ROWS):
            # opened for each batch, not held: one open file (and its buffer) whatever the number of buckets
            with open(folder / f"bucket-{number:06d}.pkl", "ab") as handle:
                pickle.dump(rows[rank // BUCKET_ROWS == number], handle, protocol=pickle.HIGHEST_PROTOCOL)
        offset += len(batch)
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


KEYS_SCHEMA = pa.schema([("position", pa.int64()), (schema.PHOTO_ID, pa.string()), ("stem", pa.string()),
                         ("split", pa.string()), ("label", pa.string()), ("license", pa.string()),
                         ("bytes", pa.float64()), *((name, pa.string()) for name in CONFLICT_COLUMNS)])
RANKED_SCHEMA = pa.schema([("name", pa.string()), ("split", pa.string()), ("bytes", pa.float64()),
                           ("shard", pa.string())])


def _plan_on_disk(catalog: CatalogFile, config: ExportConfig, sizes: Sizes, folder: Path,
                  held_out: HeldOut | None) -> ExportPlan:
    """`plan_from_file` with nothing held per photo (see the module; but `held_out`, 8 bytes a key of each
    test and val photo with `--labels all`): the keys, their sorted order and each row's rank are files in
    `folder`."""
    excluded, missing = _keys_to_file(catalog, config, sizes, folder / "keys.parquet", held_out)
    source = f"read_parquet({external_sort.literal(str(folder / 'keys.parquet'))})"
    with external_sort.connect(folder) as con:
        conflicts = conflicts_on_disk(con, source)
        # safe_names' rule: the stem, and a hash of the id where two stems differ only in case
        external_sort.write_parquet(con, f"""
            WITH clash AS (SELECT lower(stem) AS low FROM {source} GROUP BY 1 HAVING count(*) > 1)
            SELECT k.position, k.split, k.label, k.license, k.bytes,
                   CASE WHEN c.low IS NULL THEN k.stem ELSE k.stem || '-' || left(sha1(k.photo_id), 10) END AS name
            FROM {source} k LEFT JOIN clash c ON lower(k.stem) = c.low
            ORDER BY k.split, name, k.position""", folder / "sorted.parquet")
        (folder / "keys.parquet").unlink()
        summary, classes = _rank(config, folder)
        sorted_file = external_sort.literal(str(folder / "sorted.parquet"))
        external_sort.write_parquet(con, f"""
            SELECT position, file_row_number AS rank FROM read_parquet({sorted_file}, file_row_number = true)
            ORDER BY position""", folder / "ranks.parquet")
    (folder / "sorted.parquet").unlink()
    buckets, template = _spill(catalog, config, _RankCursor(folder / "ranks.parquet"), summary.photos, folder)
    (folder / "ranks.parquet").unlink()
    columns = list(template.columns) if config.format == "csv" else [*METADATA_COLUMNS, "image_path"]

    def stream() -> Iterator[pd.DataFrame]:
        ranked = external_sort.parquet_file(folder / "ranked.parquet") if buckets else None
        for number in range(max(buckets, 1)):
            if number < buckets:
                chunk, keys = _read_bucket(folder, number)[columns], ranked.read_row_group(number)
            else:
                chunk, keys = template[columns], RANKED_SCHEMA.empty_table()
            chunk = chunk.assign(split=_text(keys.column("split")).to_numpy(), bytes=keys.column("bytes").to_numpy())
            chunk.index = pd.RangeIndex(number * BUCKET_ROWS, number * BUCKET_ROWS + len(chunk))
            if config.format != "csv":  # tags as one Arrow list column
                chunk["tags"] = arrow_list_column(chunk["tags"])
            names = _text(keys.column("name"))
            names.index = chunk.index
            shards = None if config.folder_format else _text(keys.column("shard"))
            yield place(chunk, names, config, classes, shards)

    excluded = {reason: count for reason, count in excluded.items() if count}
    return ExportPlan(None, missing, excluded, classes, stream, summary, label_conflicts=conflicts)


def conflicts_on_disk(con, source: str) -> dict[str, int]:
    """`plan.label_conflicts` of the exported photos' keys in `source` (a DuckDB table expression with label,
    sha256, near_dup_cluster and phash_panels), grouped by DuckDB: the same counts."""
    exact, near, photos, collages, collage_photos = con.execute(f"""
        WITH k AS (SELECT label, sha256, near_dup_cluster AS cluster, phash_panels FROM {source}
                   WHERE label IS NOT NULL),
        exact AS (SELECT sha256 FROM k WHERE sha256 IS NOT NULL GROUP BY 1 HAVING count(DISTINCT label) > 1),
        near AS (SELECT cluster FROM k WHERE cluster IS NOT NULL GROUP BY 1 HAVING count(DISTINCT label) > 1),
        near_only AS (SELECT cluster FROM near EXCEPT
                      SELECT cluster FROM k WHERE cluster IS NOT NULL AND sha256 IN (SELECT sha256 FROM exact)),
        collage AS (SELECT cluster FROM near_only INTERSECT
                    SELECT cluster FROM k WHERE cluster IS NOT NULL AND phash_panels IS NOT NULL INTERSECT
                    SELECT cluster FROM k WHERE cluster IS NOT NULL AND phash_panels IS NULL
                    GROUP BY 1 HAVING count(DISTINCT label) > 1)
        SELECT (SELECT count(*) FROM exact), (SELECT count(*) FROM near_only),
               (SELECT count(*) FROM k WHERE sha256 IN (SELECT sha256 FROM exact)
                                          OR cluster IN (SELECT cluster FROM near)),
               (SELECT count(*) FROM collage),
               (SELECT count(*) FROM k WHERE cluster IN (SELECT cluster FROM collage)
                                          AND (sha256 IS NULL OR sha256 NOT IN (SELECT sha256 FROM exact)))
        """).fetchone()
    return {"images": int(exact + near - collages), "exact_copies": int(exact),
            "near_duplicate_clusters": int(near - collages), "photos": int(photos),
            "collage_clusters": int(collages), "collage_photos": int(collage_photos)}


def _keys_to_file(catalog: CatalogFile, config: ExportConfig, sizes: Sizes, path: Path,
                  held_out: HeldOut | None) -> tuple[dict, pd.DataFrame]:
    """First pass, on disk: the keys of every exported photo (KEYS_SCHEMA) written to `path`;
    returns (photos left out by reason, photos without a stored image)."""
    missing, excluded = [], {}
    with pq.ParquetWriter(path, KEYS_SCHEMA, compression="zstd") as writer:
        for rows, positions, image_bytes, split in _selected(catalog, config, sizes, excluded, missing, held_out):
            ids = rows[schema.PHOTO_ID]
            writer.write_table(pa.table({
                "position": pa.array(positions, pa.int64()), schema.PHOTO_ID: _strings(ids),
                "stem": _strings(name_stems(ids)), "split": _strings(split), "label": _strings(rows["label"]),
                "license": _strings(rows["license"]), "bytes": pa.array(image_bytes, pa.float64()),
                **{name: _strings(rows[name]) for name in CONFLICT_COLUMNS}}, schema=KEYS_SCHEMA))
    return excluded, pd.concat(missing).sort_values(schema.PHOTO_ID).reset_index(drop=True)


def _rank(config: ExportConfig, folder: Path) -> tuple[PlanSummary, list[str]]:
    """A pass over the sorted keys: each bucket's names, splits, sizes and shards as one row
    group of `ranked.parquet`, their counts and the classes."""
    summary, labels, counter = PlanSummary(), set(), ShardCounter(config)
    with pq.ParquetWriter(folder / "ranked.parquet", RANKED_SCHEMA, compression="zstd") as ranked:
        for keys in external_sort.exact_batches(folder / "sorted.parquet", BUCKET_ROWS):
            slim = pd.DataFrame({name: _text(keys.column(name)) for name in ("split", "label", "license")})
            sizes = pd.Series(keys.column("bytes").to_numpy())
            shard = counter.names(slim["split"], sizes) if not config.folder_format else pd.Series([None] * len(slim))
            slim["shard"] = shard.to_numpy()
            summary.add(slim)
            labels.update(slim["label"].unique().tolist())
            shard_column = pa.array(shard.to_numpy(dtype=object), pa.string())
            ranked.write_table(pa.table([keys.column("name"), keys.column("split"), keys.column("bytes"), shard_column],
                                        schema=RANKED_SCHEMA), row_group_size=BUCKET_ROWS)
    return summary, sorted(labels)


class _RankCursor:
    """`Lookup` over `ranks.parquet` (position, rank; positions ascending), read in batches."""

    def __init__(self, path: Path):
        self._batches = external_sort.parquet_file(path).iter_batches(batch_size=65_536, use_threads=False)
        self._positions, self._ranks = np.zeros(0, np.int64), np.zeros(0, np.int64)
        self._done = False

    def __call__(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        while not self._done and (not len(self._positions) or self._positions[-1] < stop):
            batch = next(self._batches, None)
            if batch is None:
                self._done = True
                break
            self._positions = np.concatenate([self._positions, batch.column(0).to_numpy()])
            self._ranks = np.concatenate([self._ranks, batch.column(1).to_numpy()])
        first, last = np.searchsorted(self._positions, [start, stop])
        found = self._positions[first:last], self._ranks[first:last]
        self._positions, self._ranks = self._positions[last:], self._ranks[last:]
        return found
