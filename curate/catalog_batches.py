"""The catalog read a few columns and a batch of rows at a time, for work whose memory must not
grow with the collection (`curate export`'s freshness and leakage checks and its plan).

`CatalogFile(path)` reads `catalog.parquet` with `pyarrow.parquet.ParquetFile.iter_batches`,
only the columns asked for, and hands each batch over as the DataFrame `read_catalog` would
give for those rows (the same dtypes, missing columns filled as `schema.conform` fills them),
so code written for the whole catalog runs unchanged on one batch. `sorted_digest` hashes a
per-row view of the catalog in a global order (sorted by one column) while holding only one
sort key and a few 8-byte hashes per row. An out-of-core engine (DuckDB, Arrow datasets) can
stand behind the same two calls later.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "catalog.parquet"
    >>> pd.DataFrame({"photo_id": ["a", "b", "c"], "status": ["kept", "dropped", "kept"]}).to_parquet(path)
    >>> catalog = CatalogFile(path)
    >>> sum(int((batch["status"] == "kept").sum()) for batch in catalog.batches(["status"]))
    2
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

try:
    import fcntl
except ImportError:  # Windows: no lock, and no stale folder is removed
    fcntl = None

from curate import schema
from curate.errors import CATALOG_FIX, DataContractError
from curate.fingerprint_cache import file_identity

BATCH_ROWS = 8_192
HASHES_PER_PASS = 8  # columns hashed per pass over the file: 8 bytes a row each are held until sorted


class CatalogFile:
    """A catalog.parquet (a file, or a folder of `*.parquet` parts read in name order) read in
    batches of `batch_rows` rows, only the columns asked for.

    Raises DataContractError (exit 3) when the file cannot be read as Parquet. Results of
    `memo(key, compute)` are kept for the life of the object (the file is assumed unchanged).
    """

    def __init__(self, path: Path | str, batch_rows: int = BATCH_ROWS):
        self.path = Path(path)
        self.batch_rows = batch_rows
        opened = file_identity(self.path)
        try:
            self._file = _Parts(self.path) if self.path.is_dir() else pq.ParquetFile(self.path, pre_buffer=False)
        except (OSError, pa.ArrowException) as exc:
            raise DataContractError(f"catalog {self.path} is unreadable ({exc}); {CATALOG_FIX}") from exc
        # the file read (`curate.fingerprint_cache`): None when it was replaced while being opened
        self.identity = opened if opened is not None and file_identity(self.path) == opened else None
        self.num_rows = self._file.metadata.num_rows
        self._present = set(self._file.schema_arrow.names)
        self._memo: dict = {}
        self._nullable_bools: set[str] | None = None

    @property
    def stored_columns(self) -> frozenset[str]:
        """The columns the file itself holds (`read_catalog` adds the schema's missing ones as nulls)."""
        return frozenset(self._present)

    @property
    def empty(self) -> bool:
        """Whether the catalog holds no photo (as `DataFrame.empty`)."""
        return self.num_rows == 0

    def __len__(self) -> int:
        return self.num_rows

    def batches(self, columns: list[str] | tuple[str, ...]) -> Iterator[pd.DataFrame]:
        """The catalog's `columns` (schema names), `batch_rows` rows at a time, as `read_catalog`
        gives them (schema dtypes; a column the file lacks is null, a list column empty lists).
        An empty catalog gives one empty frame."""
        names = list(dict.fromkeys(columns))
        unknown = [name for name in names if name not in schema.COLUMN_BY_NAME]
        if unknown:
            raise ValueError(f"not catalog columns: {unknown}")
        present = [name for name in names if name in self._present]
        arrow = pa.schema([pa.field(n, schema.COLUMN_BY_NAME[n].type, schema.COLUMN_BY_NAME[n].nullable)
                           for n in names])
        seen, as_object = False, self._bools_with_nulls(present)
        try:
            for batch in self._file.iter_batches(batch_size=self.batch_rows, columns=present, use_threads=False):
                seen = True
                frame = _conform(batch.to_pandas(types_mapper=schema.pandas_type), names, arrow)
                yield frame.astype({name: object for name in as_object}) if as_object else frame
        except (OSError, pa.ArrowException) as exc:
            raise DataContractError(f"catalog {self.path} is unreadable ({exc}); {CATALOG_FIX}") from exc
        if not seen:
            yield schema.to_pandas(arrow.empty_table())

    def _bools_with_nulls(self, present: list[str]) -> list[str]:
        """The boolean columns among `present` that hold a null anywhere in the file: pandas reads
        them as object (True/False/None) then, as bool otherwise, and a batch must match."""
        bools = [n for n in present if pa.types.is_boolean(schema.COLUMN_BY_NAME[n].type)]
        if self._nullable_bools is None and bools:
            every = [n for n in self._present if n in schema.COLUMN_BY_NAME
                     and pa.types.is_boolean(schema.COLUMN_BY_NAME[n].type)]
            table = self._file.read(columns=every, use_threads=False)  # a bit a row each
            self._nullable_bools = {n for n in every if table.column(n).null_count}
        return [n for n in bools if n in (self._nullable_bools or ())]

    def read(self, columns: list[str] | tuple[str, ...], arrow_lists: bool = False) -> pd.DataFrame:
        """`columns` of every row in one DataFrame (for a few narrow columns only). With
        `arrow_lists`, list columns are Arrow list columns (`pd.ArrowDtype`: a few bytes a cell
        instead of a NumPy array of Python strings)."""
        frames = []
        for frame in self.batches(columns):
            if arrow_lists:
                lists = [n for n in frame.columns if pa.types.is_list(schema.COLUMN_BY_NAME[n].type)]
                frame = frame.assign(**{n: arrow_list_column(frame[n]) for n in lists})
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def validate_keys(self) -> None:
        """The row checks `read_catalog` makes that batches alone cannot: photo_id present,
        never null and unique, status only kept or dropped (DataContractError otherwise).
        Read in batches, holding a 64-bit hash per photo; ids whose hashes meet are compared
        exactly in a second pass (a hash collision alone is never called a repeat)."""
        if schema.PHOTO_ID not in self._present or "status" not in self._present:
            raise DataContractError(f"catalog {self.path} has no photo_id or status column; "
                                    + CATALOG_FIX)
        hashes, problem = [], None
        for batch in self._file.iter_batches(batch_size=self.batch_rows, columns=[schema.PHOTO_ID, "status"],
                                             use_threads=False):
            ids, statuses = batch.column(schema.PHOTO_ID), batch.column("status")
            if ids.null_count or statuses.null_count:
                problem = "photo_id and status must not be null"
                break
            if not set(pc.unique(statuses).to_pylist()) <= {schema.KEPT, schema.DROPPED}:
                problem = "catalog status must be kept or dropped"
                break
            hashes.append(pd.util.hash_array(ids.to_numpy(zero_copy_only=False)))
        if problem is None and hashes:
            joined = np.sort(np.concatenate(hashes))
            del hashes
            met = np.unique(joined[1:][joined[1:] == joined[:-1]])
            if met.size and self._ids_repeat(met):
                problem = "catalog has repeated photo_id values"
        if problem:
            raise DataContractError(f"{self.path}: {problem}; {CATALOG_FIX}")

    def _ids_repeat(self, met: np.ndarray) -> bool:
        """Whether two rows share a photo_id among those whose hash is in `met` (sorted)."""
        candidates = []
        for batch in self._file.iter_batches(batch_size=self.batch_rows, columns=[schema.PHOTO_ID],
                                             use_threads=False):
            ids = batch.column(schema.PHOTO_ID).to_numpy(zero_copy_only=False)
            candidates.extend(ids[np.isin(pd.util.hash_array(ids), met)].tolist())
        return len(candidates) != len(set(candidates))

    def value_counts(self, column: str) -> pd.Series:
        """Counts of each non-null value of `column` over the whole catalog, sorted by value."""
        counts: dict = {}
        for batch in self.batches([column]):
            for value, n in batch[column].value_counts().items():
                counts[value] = counts.get(value, 0) + int(n)
        return pd.Series(counts, dtype="int64").sort_index()

    def memo(self, key, compute: Callable[[], object]):
        """compute() once per key (a fingerprint is asked for by several stages' judgements)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


class _Parts:
    """A folder of Parquet parts (`*.parquet`, in name order) read as one file: the few calls of
    `pq.ParquetFile` that CatalogFile makes. A column a part lacks is left out of its batches
    (CatalogFile fills it as null)."""

    def __init__(self, folder: Path):
        self.files = [pq.ParquetFile(part, pre_buffer=False)  # arrow#39808: else a pass holds every row group
                      for part in sorted(folder.glob("*.parquet")) if part.is_file()]
        if not self.files:
            raise OSError(f"folder {folder} holds no *.parquet part")
        names = dict.fromkeys(name for part in self.files for name in part.schema_arrow.names)
        self.schema_arrow = pa.schema([pa.field(name, pa.null()) for name in names])
        self.metadata = type("Metadata", (), {"num_rows": sum(part.metadata.num_rows for part in self.files)})()

    def iter_batches(self, batch_size: int, columns: list[str], use_threads: bool = False):
        for part in self.files:
            present = [name for name in columns if name in part.schema_arrow.names]
            yield from part.iter_batches(batch_size=batch_size, columns=present, use_threads=use_threads)

    def read(self, columns: list[str], use_threads: bool = False) -> pa.Table:
        tables = [part.read(columns=[n for n in columns if n in part.schema_arrow.names], use_threads=use_threads)
                  for part in self.files]
        return pa.concat_tables(tables, promote_options="default")


def arrow_list_column(cells: pd.Series) -> pd.Series:
    """A column of list cells (NumPy arrays of str, ~100 bytes each and more) as one Arrow
    list<string> column; `.tolist()` gives plain lists back."""
    if isinstance(cells.dtype, pd.ArrowDtype):
        return cells
    values = [None if cell is None else list(cell) for cell in cells.to_numpy(dtype=object)]
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, pa.list_(pa.string()))), index=cells.index)


def _conform(frame: pd.DataFrame, names: list[str], arrow: pa.Schema) -> pd.DataFrame:
    """`frame` with exactly `names`, cast to the schema and back as `read_catalog` does."""
    for name in names:
        if name not in frame.columns:
            column = schema.COLUMN_BY_NAME[name]
            cells = [[] for _ in range(len(frame))] if pa.types.is_list(column.type) else [None] * len(frame)
            frame[name] = pd.Series(cells, index=frame.index, dtype=object)
    try:
        table = pa.Table.from_pandas(frame[names], schema=arrow, preserve_index=False, safe=False)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise DataContractError(f"the catalog does not match the schema ({exc}); {CATALOG_FIX}") from exc
    return schema.to_pandas(table.replace_schema_metadata(None))  # the declared dtypes, as read_catalog


def sorted_digest(catalog: CatalogFile, needs: list[str], view: Callable[[pd.DataFrame], pd.DataFrame],
                  sort_by: str, hash_column: Callable[[str, pd.Series], np.ndarray]) -> hashlib._Hash:
    """SHA-256 of the view's row count (as decimal text), then, for each column of the view in
    order, its name + NUL and the bytes of `hash_column(name, values)` over the view's rows
    sorted by `sort_by` (a unique column, e.g. photo_id).

    `view(batch)` maps a batch of the `needs` columns to the rows and columns to hash (row-wise:
    it must give the same rows for a batch as for the whole catalog). The file is read once for
    the sort order and once per `HASHES_PER_PASS` columns; held per row: the sort key while
    sorting, then one 8-byte hash per column of a pass.
    """
    keys = [pa.array(view(batch)[sort_by].to_numpy(dtype=object), pa.string()) for batch in catalog.batches(needs)]
    order = pc.sort_indices(pa.chunked_array(keys, pa.string())).to_numpy()
    del keys
    digest = hashlib.sha256(str(order.size).encode())
    first = view(next(iter(catalog.batches(needs))).iloc[:0])
    columns = list(first.columns)
    for start in range(0, len(columns), HASHES_PER_PASS):
        group = columns[start:start + HASHES_PER_PASS]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in group}
        for batch in catalog.batches(needs):
            rows = view(batch)
            for name in group:
                parts[name].append(np.asarray(hash_column(name, rows[name]), dtype=np.uint64))
        for name in group:
            hashes = np.concatenate(parts.pop(name)) if order.size else np.zeros(0, np.uint64)
            digest.update(name.encode() + b"\x00")
            digest.update(hashes[order].tobytes())
    return digest



EXTERNAL_DIGEST_ROWS = 50_000  # catalog rows from which `sorted_digest_bounded` sorts on disk


def sorted_digest_bounded(catalog: CatalogFile, needs: list[str], view: Callable[[pd.DataFrame], pd.DataFrame],
                          sort_by: str, hash_column: Callable[[str, pd.Series], np.ndarray]) -> hashlib._Hash:
    """`sorted_digest` (the same bytes) holding nothing per row from `EXTERNAL_DIGEST_ROWS` rows
    on: one pass writes each row's sort key and column hashes to a Parquet file in a temporary
    folder beside the catalog, DuckDB sorts it on disk (`curate.external_sort`), and the digest
    reads the sorted hashes back one column and one batch at a time."""
    if catalog.num_rows < EXTERNAL_DIGEST_ROWS:
        return sorted_digest(catalog, needs, view, sort_by, hash_column)
    with ExitStack() as stack:
        try:
            folder = stack.enter_context(scratch_folder(catalog.path.parent, ".digest-"))
        except OSError:  # a read-only workspace
            folder = stack.enter_context(scratch_folder(Path(tempfile.gettempdir()), "curate-digest-"))
        return _digest_on_disk(catalog, needs, view, sort_by, hash_column, folder)


SCRATCH_LOCK = ".in-use"  # in each scratch folder: locked (flock) while a process works in the folder
SCRATCH_GRACE_S = 120  # a folder without its lock file is judged stale from this age (it may be being created)


@contextmanager
def scratch_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new folder `<parent>/<prefix>XXXXXXXX` for the block's temporary files, removed after it;
    first, the `<prefix>*` folders of earlier commands that were killed (SIGKILL, a power cut:
    no `finally` ran) are removed (`remove_stale_scratch`).

    The folder holds a file, `SCRATCH_LOCK`, locked with `flock` for the block's life (it is put in
    place already locked). The OS releases the lock when the process ends, however it ends, so a
    folder whose lock can be taken is one no process works in, and another command (a concurrent
    `curate status`, which takes no workspace lock) never removes a folder in use. `flock`, not
    `lockf`: two threads of one process hold separate locks."""
    remove_stale_scratch(parent, prefix)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    handle = None
    try:
        handle = open(folder / f"{SCRATCH_LOCK}.new", "w")
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        os.replace(folder / f"{SCRATCH_LOCK}.new", folder / SCRATCH_LOCK)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if handle is not None:
            handle.close()  # after the removal: the folder is never unlocked while it exists


def remove_stale_scratch(parent: Path, prefix: str, grace_s: float = SCRATCH_GRACE_S) -> list[Path]:
    """Remove the `<prefix>*` folders in `parent` that no live process works in: those whose lock
    file no process holds, and those without one older than `grace_s` (a folder from before curate
    locked them, or from a process killed before it locked its folder). Returns the folders removed."""
    removed: list[Path] = []
    try:
        candidates = [entry for entry in os.scandir(parent) if entry.name.startswith(prefix)]
    except OSError:
        return removed
    for entry in candidates if fcntl is not None else ():
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            try:
                handle = open(Path(entry.path) / SCRATCH_LOCK)
            except FileNotFoundError:
                if time.time() - entry.stat().st_mtime >= grace_s:
                    shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with handle:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: in use
                    shutil.rmtree(entry.path, ignore_errors=True)  # while locked: no one else removes it meanwhile
        except OSError:  # in use, vanished meanwhile, or not ours to remove (a read-only workspace)
            continue
        if not os.path.exists(entry.path):
            removed.append(Path(entry.path))
    return removed


def _digest_on_disk(catalog: CatalogFile, needs: list[str], view: Callable[[pd.DataFrame], pd.DataFrame],
                    sort_by: str, hash_column: Callable[[str, pd.Series], np.ndarray], folder: Path) -> hashlib._Hash:
    from curate import external_sort

    columns: list[str] | None = None
    rows_seen, writer = 0, None
    try:
        for batch in catalog.batches(needs):
            rows = view(batch)
            if columns is None:
                columns = list(rows.columns)
                arrow = pa.schema([("key", pa.string()), *((f"h{i}", pa.uint64()) for i in range(len(columns)))])
                writer = pq.ParquetWriter(folder / "hashes.parquet", arrow, compression="zstd")
            hashes = [pa.array(np.asarray(hash_column(name, rows[name]), dtype=np.uint64)) for name in columns]
            keys = pa.array(rows[sort_by].to_numpy(dtype=object), pa.string(), from_pandas=True)
            writer.write_table(pa.table([keys, *hashes], schema=arrow))
            rows_seen += len(rows)
    finally:
        if writer is not None:
            writer.close()
    digest = hashlib.sha256(str(rows_seen).encode())
    if rows_seen:
        with external_sort.connect(folder) as con:
            source = external_sort.literal(str(folder / "hashes.parquet"))
            external_sort.write_parquet(con, f"SELECT * EXCLUDE (key) FROM read_parquet({source}) ORDER BY key",
                                        folder / "sorted.parquet")
        (folder / "hashes.parquet").unlink()
    for i, name in enumerate(columns or []):
        digest.update(name.encode() + b"\x00")
        if rows_seen:
            hashes = pq.ParquetFile(folder / "sorted.parquet", pre_buffer=False)
            for part in hashes.iter_batches(columns=[f"h{i}"], use_threads=False):
                digest.update(part.column(0).to_numpy().astype(np.uint64, copy=False).tobytes())
    return digest
