"""Sorting more rows than memory should hold: DuckDB over Parquet spill files, with a small
memory limit (it spills to disk beyond it), for `curate export` (its plan, its export state
and the freshness fingerprints of the catalog file).

`connect(folder)` opens an in-memory DuckDB whose spill files go to a folder inside `folder`
(removed on close); `write_parquet(con, query, path)` writes a query's rows in order;
`exact_batches(path, rows)` reads a Parquet file back `rows` rows at a time (the last batch
may be shorter), whatever its row groups. `EXTERNAL_ROWS`: below it, callers sort in memory
(DuckDB costs a fixed ~0.1-0.3 s a query, more than a small sort).

    >>> import tempfile, pyarrow as pa, pyarrow.parquet as pq
    >>> folder = Path(tempfile.mkdtemp())
    >>> pq.write_table(pa.table({"k": ["b", "a", "c"]}), folder / "in.parquet")
    >>> with connect(folder) as con:
    ...     write_parquet(con, f"SELECT k FROM read_parquet({literal(str(folder / 'in.parquet'))}) ORDER BY k",
    ...                   folder / "out.parquet")
    >>> [batch.column("k").to_pylist() for batch in exact_batches(folder / "out.parquet", 2)]
    [['a', 'b'], ['c']]
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MEMORY_LIMIT = "32MB"  # DuckDB's buffers while sorting; it spills to disk beyond (16MB runs out)
MEMORY_LIMIT_MAX_MB = 1024  # a query that runs out of memory is retried with twice the limit, up to this
ROW_GROUP = 16_384  # rows per row group of the files written (what DuckDB buffers per writing thread)
MEMORY_LIMIT_ENV = "CURATE_SORT_MEMORY"
EXTERNAL_ROWS = 50_000  # rows from which the callers sort on disk rather than in memory
# One thread: DuckDB's memory beyond its limit (per-thread sort and scan state) then stays flat
# in the number of rows (~100 MB from 300,000 to 3,000,000 rows sorted); with two it grew from
# ~100 MB to ~170 MB over that range, for ~15% less time.
THREADS = 1


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


@contextmanager
def connect(folder: Path) -> Iterator:
    """An in-memory DuckDB connection (memory_limit MEMORY_LIMIT, THREADS threads) spilling
    to a temporary folder inside `folder`."""
    import duckdb

    scratch = Path(tempfile.mkdtemp(prefix=".sort-", dir=folder))
    give_back_memory()  # what the steps before freed, before DuckDB adds its own
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit = {literal(os.environ.get(MEMORY_LIMIT_ENV) or MEMORY_LIMIT)}")
        con.execute(f"SET threads = {THREADS}")
        con.execute(f"SET temp_directory = {literal(str(scratch))}")
        con.execute("SET preserve_insertion_order = true")
        yield con
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)


def give_back_memory() -> None:
    """Return the memory Arrow's pool and the C heap hold freed to the system (they keep it for
    reuse otherwise, so that the resident size after a step depends on the steps before)."""
    pa.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def write_parquet(con, query: str, path: Path) -> None:
    """Write the rows of `query`, in its order, to the Parquet file `path`. Should DuckDB run
    out of memory (it needs a few blocks pinned per thread whatever the data), the query runs
    again with twice the memory limit, up to MEMORY_LIMIT_MAX_MB."""
    import duckdb

    while True:
        try:
            con.execute(f"COPY ({query}) TO {literal(str(path))} (FORMAT parquet, COMPRESSION zstd, "
                        f"ROW_GROUP_SIZE {ROW_GROUP})")
            return
        except duckdb.OutOfMemoryException:
            limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            megabytes = _megabytes(limit)
            if megabytes * 2 > MEMORY_LIMIT_MAX_MB:
                raise
            con.execute(f"SET memory_limit = '{megabytes * 2}MB'")


def _megabytes(setting: str) -> int:
    """DuckDB's memory_limit setting ('30.5 MiB', '1.0 GiB') in whole MB (at least 1).

    >>> _megabytes("30.5 MiB"), _megabytes("1.0 GiB")
    (32, 1074)
    """
    number, unit = setting.split()
    scale = {"KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}
    return max(1, round(float(number) * scale.get(unit, 1) / 1000 ** 2))


def parquet_file(path: Path) -> pq.ParquetFile:
    """`path` opened for reading in batches with memory bounded by one row group: without
    `pre_buffer=False`, Arrow keeps every row group's bytes it has read until the reader is
    closed (apache/arrow#39808), so a pass over a file holds the whole file by its end."""
    return pq.ParquetFile(path, pre_buffer=False)


def exact_batches(path: Path, rows: int, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The file's rows (only `columns`, or all) as tables of exactly `rows` rows, the last one
    shorter; nothing for an empty file."""
    pending: list[pa.Table] = []
    held = 0
    for batch in parquet_file(path).iter_batches(batch_size=rows, columns=columns, use_threads=False):
        pending.append(pa.Table.from_batches([batch]))
        held += batch.num_rows
        while held >= rows:
            table = pa.concat_tables(pending)
            yield table.slice(0, rows).combine_chunks()
            rest = table.slice(rows)
            pending, held = ([rest] if rest.num_rows else []), rest.num_rows
    if held:
        yield pa.concat_tables(pending).combine_chunks()
