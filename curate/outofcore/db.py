"""DuckDB connections for the out-of-core engine, and the SQL text its queries are built from.

A connection works in a scratch folder inside the workspace (its database file and spill files),
removed on close, with `memory_limit` and `threads` set (MEMORY_LIMIT_ENV, THREADS_ENV override).
The catalog as a DuckDB source is curate.outofcore.catalog_view; its write back, curate.outofcore.write_back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from curate.catalog_batches import scratch_folder
from curate.filters.owners import NO_OWNER_PREFIX

MEMORY_LIMIT = "2GB"  # DuckDB's own buffers; it spills beyond (Python-side arrays come on top)
MEMORY_LIMIT_ENV = "CURATE_DUCKDB_MEMORY"
THREADS_ENV = "CURATE_DUCKDB_THREADS"
BATCH_ROWS = 65_536  # CatalogFile batches for the freshness fingerprints: one row group (2x faster than 8,192)


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


def thread_count() -> int:
    """DuckDB's threads: THREADS_ENV, else the machine's cores, at most 4."""
    return int(os.environ.get(THREADS_ENV) or min(os.cpu_count() or 1, 4))


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

    with scratch_folder(Path(scratch_parent), ".duckdb-") as scratch:  # a killed command's is removed next time
        con = Connection(duckdb.connect(str(scratch / "work.duckdb")))
        try:
            yield _configured(con, scratch)
        finally:
            con.close()


def _configured(con, scratch: Path):
    """`con` with the memory limit, threads, spill folder, row order and time zone curate works with."""
    con.execute(f"SET memory_limit = {literal(os.environ.get(MEMORY_LIMIT_ENV) or MEMORY_LIMIT)}")
    con.execute(f"SET threads = {thread_count()}")
    con.execute(f"SET temp_directory = {literal(str(scratch / 'spill'))}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET TimeZone = 'UTC'")  # no timestamp of the catalog depends on the machine's zone
    return con


def drop_kept(con, stage: str, reason: str, where: str) -> None:
    """Flag the kept rows of table w matching `where` (SQL) as dropped by `stage` for `reason`."""
    con.execute(f"UPDATE w SET status = 'dropped', drop_reason = {literal(reason)}, drop_stage = {literal(stage)} "
                f"WHERE status = 'kept' AND ({where})")

