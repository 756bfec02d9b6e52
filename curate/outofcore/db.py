"""DuckDB connection, the catalog as a DuckDB source, and the out-of-core write back.

A connection works in a scratch folder inside the workspace (its database file and spill files),
removed on close, with `memory_limit` and `threads` set (MEMORY_LIMIT_ENV, THREADS_ENV override).
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

from curate import schema
from curate.errors import CATALOG_FIX, DataContractError
from curate.filters.owners import NO_OWNER_PREFIX
from curate.workspace import catalog_file_sha256, catalog_parts, swap_in_folder, temp_file_beside

MEMORY_LIMIT = "2GB"  # DuckDB's own buffers; it spills beyond (Python-side arrays come on top)
MEMORY_LIMIT_ENV = "CURATE_DUCKDB_MEMORY"
THREADS_ENV = "CURATE_DUCKDB_THREADS"
ROW_GROUP = 65_536  # as curate.workspace.PARQUET_ROW_GROUP
BATCH_ROWS = 65_536  # CatalogFile batches for the freshness fingerprints: one row group (2x faster than 8,192)


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a catalog: the file itself, or a folder's `*.parquet` parts (sorted)."""
    return catalog_parts(path)


def catalog_rows(path: Path) -> int:
    """Rows of the catalog (file or folder of parts), from the Parquet footers alone."""
    try:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in parquet_files(path))
    except (OSError, pa.ArrowException) as exc:
        raise DataContractError(f"catalog {path} is unreadable ({exc}); {CATALOG_FIX}") from exc


def present_columns(path: Path) -> set[str]:
    """Column names of the catalog's files (the union over parts)."""
    names: set[str] = set()
    for part in parquet_files(path):
        names |= set(pq.read_schema(part).names)
    return names


def sql_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type of a schema column.

    >>> sql_type(pa.list_(pa.string())), sql_type(pa.int8()), sql_type(pa.timestamp("us"))
    ('VARCHAR[]', 'TINYINT', 'TIMESTAMP')
    """
    if pa.types.is_list(arrow_type):
        return f"{sql_type(arrow_type.value_type)}[]"
    simple = {pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int8(): "TINYINT", pa.int32(): "INTEGER",
              pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN", pa.timestamp("us"): "TIMESTAMP"}
    return simple[arrow_type]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def owner_key_sql(table: str | None = None) -> str:
    """`curate.filters.owners.owner_keys` in SQL (over `table`'s columns when given).

    >>> owner_key_sql("w")
    "coalesce(w.owner_id, '(no owner) ' || w.photo_id)"
    """
    prefix = f"{table}." if table else ""
    return f"coalesce({prefix}owner_id, {literal(NO_OWNER_PREFIX)} || {prefix}photo_id)"


class Catalog:
    """The catalog as DuckDB sees it: `source` (a read_parquet call with the file row number as
    `rid`) and `column(name)` (the column, or a typed NULL / empty list when the file lacks it)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        files = parquet_files(self.path)
        if not files:
            raise DataContractError(f"catalog folder {self.path} holds no *.parquet part; "
                                    + CATALOG_FIX)
        self.files = files
        self.present = present_columns(self.path)

    @property
    def source(self) -> str:
        """A table expression: every column of the catalog plus `rid`, the row's position in it."""
        listed = ", ".join(literal(str(f)) for f in self.files)
        # file_row_number restarts in each part: the parts' row counts offset it
        if len(self.files) == 1:
            return (f"(SELECT * EXCLUDE (file_row_number), file_row_number AS rid "
                    f"FROM read_parquet([{listed}], file_row_number = true, union_by_name = true))")
        offsets, start = [], 0
        for part in self.files:
            offsets.append(f"({literal(str(part))}, {start})")
            start += pq.ParquetFile(part).metadata.num_rows
        return (f"(SELECT p.* EXCLUDE (file_row_number, filename), p.file_row_number + o.start AS rid "
                f"FROM read_parquet([{listed}], file_row_number = true, filename = true, union_by_name = true) p "
                f"JOIN (VALUES {', '.join(offsets)}) o(name, start) ON p.filename = o.name)")

    def column(self, name: str, alias: str | None = None, table: str | None = None) -> str:
        """`name` (of `table`, when given) as a select item (a typed null, or an empty list, when the
        file lacks it)."""
        spec = schema.COLUMN_BY_NAME[name]
        if name in self.present:
            expression = f"{table}.{quote(name)}" if table else quote(name)
        elif pa.types.is_list(spec.type) and not spec.nullable:
            expression = "[]::VARCHAR[]"
        else:
            expression = f"NULL::{sql_type(spec.type)}"
        return f"{expression} AS {quote(alias or name)}"


def arrow_query(con, query: str) -> pa.Table:
    """The result of `query` as an Arrow table (DuckDB 1.x and 2.x name the call differently)."""
    relation = con.sql(query)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


def record_batches(con, query: str, rows: int = BATCH_ROWS):
    """The rows of `query` as Arrow record batches of `rows`, read on a second cursor so that the
    caller may write while it reads (DuckDB 1.x and 2.x name the reader differently)."""
    cursor = con.cursor()
    try:
        relation = cursor.sql(query)
        yield from (getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader)(rows)
    finally:
        cursor.close()


class Connection:
    """A DuckDB connection whose register / create_function / executemany first finish the last
    statement's result (DuckDB 2 refuses them while a result is pending)."""

    _FLUSH_FIRST = frozenset({"register", "unregister", "create_function", "executemany", "close", "sql"})

    def __init__(self, con):
        self._con = con

    def __getattr__(self, name: str):
        if name in self._FLUSH_FIRST:
            self._con.execute("SELECT 1").fetchall()
        return getattr(self._con, name)


@contextmanager
def connect(scratch_parent: Path) -> Iterator:
    """A DuckDB connection on a database file in a scratch folder under `scratch_parent`."""
    import duckdb

    scratch = Path(tempfile.mkdtemp(prefix=".duckdb-", dir=scratch_parent))
    con = Connection(duckdb.connect(str(scratch / "work.duckdb")))
    try:
        threads = int(os.environ.get(THREADS_ENV) or min(os.cpu_count() or 1, 4))
        con.execute(f"SET memory_limit = {literal(os.environ.get(MEMORY_LIMIT_ENV) or MEMORY_LIMIT)}")
        con.execute(f"SET threads = {threads}")
        con.execute(f"SET temp_directory = {literal(str(scratch / 'spill'))}")
        con.execute("SET preserve_insertion_order = true")
        yield con
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)


def create_output_table(con, name: str = "final") -> None:
    """An empty table with the catalog's declared columns, types and NOT NULL constraints (COPY
    writes them as the Parquet schema: required columns stay required)."""
    columns = ", ".join(f"{quote(c.name)} {sql_type(c.type)}{'' if c.nullable else ' NOT NULL'}"
                        for c in schema.COLUMNS)
    con.execute(f"CREATE OR REPLACE TABLE {name} ({columns})")


def write_catalog(con, catalog: Catalog, query: str) -> None:
    """Write `query` (every schema column, in schema order, already ordered by rid) as the new
    catalog: into a NOT NULL-constrained table, then `COPY ... TO` a temp file in the catalog's
    folder and an atomic rename (a folder catalog: a temp folder swapped in for the old one)."""
    create_output_table(con)
    con.execute(f"INSERT INTO final {query}")
    target = catalog.path
    folder = target.is_dir()
    fd, tmp_name = temp_file_beside(target)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if folder:
            tmp.unlink()
            tmp.mkdir()
            out = tmp / "part-00000.parquet"
        else:
            out = tmp
        pandas = literal(schema.pandas_metadata().decode("utf-8"))  # pd.read_parquet's dtypes, as pandas writes
        con.execute(f"COPY final TO {literal(str(out))} (FORMAT parquet, COMPRESSION zstd, "
                    f"ROW_GROUP_SIZE {ROW_GROUP}, KV_METADATA {{pandas: {pandas}}})")
        with open(out, "rb") as handle:
            os.fsync(handle.fileno())
        if folder:
            swap_in_folder(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS final")


def catalog_sha256(path: Path) -> str:
    """curate.workspace.catalog_sha256 for a file or a folder of parts (hashed in name order)."""
    return catalog_file_sha256(path)


def save_stage_report(ws, stage: str, input_hash: str, report: dict, started: float | None = None) -> None:
    """curate.stage_reports.save_stage_report with the freshness fingerprints read in batches
    (`CatalogFile`), so that memory stays flat in the catalog's size."""
    from curate.stage_reports import save_stage_report as save

    save(ws, stage, input_hash, report, started, batch_rows=BATCH_ROWS)


def drop_kept(con, stage: str, reason: str, where: str) -> None:
    """Flag the kept rows of table w matching `where` (SQL) as dropped by `stage` for `reason`."""
    con.execute(f"UPDATE w SET status = 'dropped', drop_reason = {literal(reason)}, drop_stage = {literal(stage)} "
                f"WHERE status = 'kept' AND ({where})")
