"""DuckDB connection, the catalog as a DuckDB source, and the out-of-core write back.

A connection works in a scratch folder inside the workspace (its database file and spill files),
removed on close, with `memory_limit` and `threads` set (MEMORY_LIMIT_ENV, THREADS_ENV override).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from curate import schema
from curate.catalog_batches import scratch_folder
from curate.errors import CATALOG_FIX, DataContractError
from curate.filters.owners import NO_OWNER_PREFIX
from curate.workspace import PANDAS_INDEX_PREFIX, catalog_file_sha256, catalog_parts, swap_in_folder, temp_file_beside

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


class _Footer(NamedTuple):
    """What the view needs of one part's footer, read once: its Arrow schema, its row count, and a key equal
    for parts DuckDB reads alike (the Parquet schema, physical and logical types, with the Arrow schema)."""
    arrow: pa.Schema
    rows: int
    key: str


def _read_footers(files: list[Path]) -> list[_Footer]:
    """Each part's `_Footer` (one footer read a part; DataContractError for a part that is not Parquet)."""
    footers = []
    for part in files:
        try:
            meta = pq.read_metadata(part)
            arrow = meta.schema.to_arrow_schema()
        except (OSError, pa.ArrowException) as exc:
            raise DataContractError(f"catalog part {part} is unreadable ({exc}); {CATALOG_FIX}") from exc
        columns = "".join(repr(meta.schema.column(i)) for i in range(len(meta.schema)))
        types = arrow.to_string(show_field_metadata=False, show_schema_metadata=False)  # not pandas' index range
        footers.append(_Footer(arrow, meta.num_rows, f"{columns}\n{types}"))
    return footers


class Catalog:
    """The catalog as DuckDB sees it: `source`, a view of every schema column in its declared type
    plus `rid` (the row's position in the catalog), and `column(name)`, a select item of it.

    The view reads each file column as `read_catalog` does (curate.schema.conform's conversions):
    float NaN is NULL, a tz-aware timestamp is its UTC wall clock, BINARY text is decoded, a
    number written as text is parsed, a column the file lacks is a typed NULL (an empty list for
    the non-null list columns); a file column in a type conform does not convert is refused
    (DataContractError). With `checked` (every stage's I/O edge), what conform refuses is refused
    on construction, before any work, with the same one line (`check`); without (the export's
    key checks, which read photo_id and status only), the caller checks what it reads
    (docs/scale-catalog.md, "Catalogs from other Parquet writers")."""

    def __init__(self, path: Path, checked: bool = False):
        self.path = Path(path)
        files = parquet_files(self.path)
        if not files:
            raise DataContractError(f"catalog folder {self.path} holds no *.parquet part; "
                                    + CATALOG_FIX)
        self.files = files
        self._footers = _read_footers(files)
        self.present = {name for footer in self._footers for name in footer.arrow.names}
        self._pieces = _read_pieces(self)  # the parts grouped by schema, each read in its own types
        # each file column's DuckDB type (the first part's, where parts differ: each piece converts its own)
        self.types = {name: found for piece in reversed(self._pieces) for name, found in piece.types.items()}
        if checked:
            self.check()

    def check(self) -> None:
        """The checks `schema.conform` makes (DataContractError, worded as read_catalog words them): a
        column the schema does not declare (writing the catalog back would drop it), a non-null
        column missing or holding a null, a value that does not convert to its declared type. One
        scan of the columns that need it; none for a catalog curate wrote (its types are the
        declared ones, its non-null columns required in the Parquet schema)."""
        try:
            schema.check_known_columns(name for name in self.types if not name.startswith(PANDAS_INDEX_PREFIX))
        except DataContractError as exc:
            raise DataContractError(f"{self.path}: {exc}; {CATALOG_FIX}") from exc
        for column in schema.COLUMNS:
            if column.name not in self.types and not column.nullable and not pa.types.is_list(column.type):
                raise DataContractError(f"{self.path}: {schema.missing_message(column.name)}; {CATALOG_FIX}")
        for piece in self._pieces:
            if piece.checks:
                _refuse_bad_rows(self, piece)

    @property
    def source(self) -> str:
        """A table expression: every schema column, in its declared type, plus `rid`."""
        selects = [f"SELECT {', '.join(f'{piece.typed[name]} AS {quote(name)}' for name in schema.NAMES)}, rid "
                   f"FROM {piece.raw}" for piece in self._pieces]
        if len(selects) == 1:
            return f"({selects[0]})"
        # parts of other schemas, each converted in its own types as pandas converts each part (review BG: a float
        # part's 640.0 beside a text part was unified to the text '640.0', which the integer rule refused)
        return f"(SELECT * FROM ({' UNION ALL '.join(selects)}) ORDER BY rid)"

    def column(self, name: str, alias: str | None = None, table: str | None = None) -> str:
        """`name` of the source (or of `table`, an alias of it) as a select item."""
        schema.COLUMN_BY_NAME[name]  # a KeyError for a name the schema does not declare
        expression = f"{table}.{quote(name)}" if table else quote(name)
        return f"{expression} AS {quote(alias or name)}"


_INTEGERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                       "UBIGINT", "UHUGEINT"})
_FLOATS = frozenset({"FLOAT", "DOUBLE"})
_TIMESTAMPS = frozenset({"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"})


def _no_nan(expression: str) -> str:
    """`expression` (a DOUBLE) with NaN as NULL. Not `nullif(x, 'NaN')` nor a plain `isnan(x)`:
    DuckDB folds those away by the Parquet min/max statistics, which leave NaN out (DuckDB 2.0:
    the NaN rows then stayed NaN); `try(x)` carries no statistics (tests/test_foreign_catalogs.py
    reads NaN from a file with statistics)."""
    return f"CASE WHEN isnan(try({expression})) THEN NULL ELSE {expression} END"


def conversion(declared: str, found: str, x: str) -> tuple[str, str | None] | None:
    """(SQL turning column `x`, of DuckDB type `found` in the files, into the `declared` type as
    schema.conform converts it; a condition true on a row whose value does not convert, or None
    when every value does), or None when conform refuses the type itself.

    >>> conversion("DOUBLE", "DOUBLE", "lat")
    ('CASE WHEN isnan(try(lat)) THEN NULL ELSE lat END', None)
    >>> conversion("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "t")
    ("timezone('UTC', t)", None)
    >>> conversion("VARCHAR", "BIGINT", "label") is None
    True
    """
    def parsed(expression: str, strict_text: bool = False, pattern: str | None = None,
               options: str = "i") -> tuple[str, str]:
        # pyarrow parses numbers without surrounding blanks; DuckDB would trim them. `pattern`: the text pyarrow
        # parses as that type (DuckDB also takes "640.0" for an integer, "yes" or "on" for a boolean: review BC;
        # tabs around a number, "1_000.5", a time with a zone's name or "24:00:00": review BG)
        blank = f" OR {x} <> trim({x})" if strict_text else ""
        shape = f" OR NOT regexp_matches({x}, {literal(pattern)}, {literal(options)})" if pattern else ""
        return expression, f"{x} IS NOT NULL AND (try({expression}) IS NULL{blank}{shape})"

    if declared == found:
        return (_no_nan(x) if declared == "DOUBLE" else x), None
    if found.replace('"', "") in ("NULL", "NULL[]"):  # pyarrow's null type: a column (or lists) of nulls only
        return f"CAST({x} AS {declared})", None
    text = found == "VARCHAR"
    if declared == "VARCHAR" and found == "BLOB":
        return parsed(f"decode({x})")
    if declared == "VARCHAR[]" and found == "BLOB[]":
        return parsed(f"list_transform({x}, lambda v: decode(v))")
    if declared == "DOUBLE" and (found in _FLOATS or found in _INTEGERS):
        return _no_nan(f"CAST({x} AS DOUBLE)"), None
    if declared == "DOUBLE" and text:
        expression, bad = parsed(f"CAST({x} AS DOUBLE)", strict_text=True, pattern=_DOUBLE_TEXT)
        return _no_nan(expression), bad
    if declared in ("INTEGER", "TINYINT") and found in _FLOATS:  # pyarrow (safe=False) truncates, NaN is null
        expression = f"CAST(trunc({_no_nan(x)}) AS {declared})"
        return expression, f"{_no_nan(x)} IS NOT NULL AND try({expression}) IS NULL"
    if declared in ("INTEGER", "TINYINT") and (found in _INTEGERS or text):
        # out of range: refused, as pyarrow
        return parsed(f"CAST({x} AS {declared})", strict_text=text, pattern=_INTEGER_TEXT if text else None)
    if declared == "BOOLEAN" and (found in _INTEGERS or text):
        return parsed(f"CAST({x} AS BOOLEAN)", strict_text=text, pattern=_BOOLEAN_TEXT if text else None)
    if declared == "BOOLEAN" and found in _FLOATS:  # a pandas writer's bools with NaN: not zero is true, as pyarrow
        return f"CASE WHEN isnan(try({x})) THEN NULL ELSE {x} <> 0 END", None
    if declared == "TIMESTAMP" and found in ("TIMESTAMP_NS", "TIMESTAMPTZ_NS"):
        # truncated to the microsecond toward zero, as pyarrow (not rounded, nor floored before 1970); a zone's
        # as its UTC wall clock (TIMESTAMPTZ_NS: pandas' own tz-aware Parquet, review BG)
        ns = f"timezone('UTC', {x})" if found == "TIMESTAMPTZ_NS" else x
        return f"make_timestamp(epoch_ns({ns}) // 1000)", None
    if declared == "TIMESTAMP" and found in _TIMESTAMPS:
        return f"CAST({x} AS TIMESTAMP)", None
    if declared == "TIMESTAMP" and found == "TIMESTAMP WITH TIME ZONE":
        # the UTC wall clock, as pandas reads it, whatever the connection's (the machine's) time zone
        return f"timezone('UTC', {x})", None
    if declared == "TIMESTAMP" and text:
        # only the shapes pyarrow parses: DuckDB would drop a zone offset (review BC) or a zone's name, "BC" or
        # "AD" (review BG) and keep a wall clock that is not UTC, and take a day's 24:00:00 as the next day's 0:00
        return parsed(f"CAST({x} AS TIMESTAMP)", pattern=_TIME_TEXT, options="")
    return None


# the text pyarrow reads as an integer, and as a boolean (any case)
_INTEGER_TEXT = r"^-?([0-9]+|0x[0-9a-f]+)$"
_BOOLEAN_TEXT = r"^(true|false|1|0)$"
# the text pyarrow reads as a float (any case), and as a naive time (to the microsecond; it also reads an hour
# alone, "2020-01-01 10", which DuckDB refuses: refused on both sides of that, the safe one)
_DOUBLE_TEXT = r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|nan|inf|infinity)$"
_TIME_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)?$"


class _Piece(NamedTuple):
    """Parts of a catalog written alike (`_Footer.key`), read together: their rows with `rid` (`raw`), each file
    column's DuckDB type in them, each schema column's SQL (`conversion` of that type) and the row checks."""
    files: list[Path]
    raw: str
    types: dict[str, str]
    typed: dict[str, str]
    checks: list[tuple[str, object]]


def _read_pieces(catalog: Catalog) -> list[_Piece]:
    """The catalog's parts grouped by schema, in order of their first part, each described once (a folder of a
    thousand parts from one writer took 1.5 s when each was) and typed in its own types: DuckDB unifies a
    column's types across the parts it reads together, which hid a part's own (review BC: one part's owner_id
    as BIGINT, taken_at as DATE or lat as DECIMAL was cast and accepted; pandas, part by part, refuses it) and
    turned a float part's values into text the text rules refused (review BG)."""
    import duckdb

    alike: dict[str, list[int]] = {}
    for index, footer in enumerate(catalog._footers):
        alike.setdefault(footer.key, []).append(index)
    offsets, start = [], 0
    for footer in catalog._footers:
        offsets.append(start)
        start += footer.rows
    pieces = []
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for indexes in alike.values():
            files = [catalog.files[i] for i in indexes]
            raw = _piece_source(files, [offsets[i] for i in indexes], single=len(catalog.files) == 1)
            try:
                rows = con.execute(f"DESCRIBE SELECT * FROM {raw}").fetchall()
            except duckdb.Error as exc:
                raise DataContractError(f"catalog {catalog.path} does not match the schema ({exc}); "
                                        + CATALOG_FIX) from exc
            types = {row[0]: row[1] for row in rows if row[0] != "rid"}
            typed, checks = _typed_columns(catalog, files, raw, types, con)
            pieces.append(_Piece(files, raw, types, typed, checks))
    return pieces


def _piece_source(files: list[Path], starts: list[int], single: bool) -> str:
    """`files` as DuckDB reads them, plus `rid` (the row's position in the whole catalog: file_row_number
    restarts in each part, so the parts' row counts before it offset it)."""
    listed = ", ".join(literal(str(f)) for f in files)
    if single:
        return (f"(SELECT * EXCLUDE (file_row_number), file_row_number AS rid "
                f"FROM read_parquet([{listed}], file_row_number = true))")
    offsets = ", ".join(f"({literal(str(part))}, {start})" for part, start in zip(files, starts))
    return (f"(SELECT p.* EXCLUDE (file_row_number, filename), p.file_row_number + o.start AS rid "
            f"FROM read_parquet([{listed}], file_row_number = true, filename = true, union_by_name = true) p "
            f"JOIN (VALUES {offsets}) o(name, start) ON p.filename = o.name)")


def _optional_columns(catalog: Catalog, files: list[Path]) -> set[str]:
    """The columns of `files` that may hold a null: optional in some part's Parquet schema (curate's writers mark
    the non-null columns required)."""
    chosen = set(files)
    schemas = [footer.arrow for part, footer in zip(catalog.files, catalog._footers) if part in chosen]
    return {name for fields in schemas for name in fields.names if fields.field(name).nullable}


def _typed_columns(catalog: Catalog, files: list[Path], raw: str, types: dict[str, str],
                   con) -> tuple[dict[str, str], list[tuple[str, object]]]:
    """(each schema column's SQL in the piece `raw` of `files`: `conversion` of its file column, a typed NULL or
    an empty list when the files lack it; the row checks conform would make: a select item and what it finds).
    A file column in a type conform does not convert is refused here (DataContractError, naming the part of a
    folder that holds a value), unless it holds no value: then nulls, as pandas reads it (review BG: an all-null
    DATE part, or a part with no rows, was refused)."""
    typed, checks, optional = {}, [], _optional_columns(catalog, files)
    for column in schema.COLUMNS:
        declared, x = sql_type(column.type), quote(column.name)
        if column.name not in types:
            typed[column.name] = "[]::VARCHAR[]" if pa.types.is_list(column.type) and not column.nullable \
                else f"NULL::{declared}"
            if not column.nullable and not pa.types.is_list(column.type) and column.name in catalog.present:
                # other parts have it: these rows hold a null there, as pandas concatenates them
                checks.append(("count(*) > 0", schema.null_message(column.name)))
            continue
        converted = conversion(declared, types[column.name], x)
        if converted is None:
            valued = con.execute(f"SELECT {'filename' if len(catalog.files) > 1 else 'NULL'} FROM read_parquet("
                                 f"[{', '.join(literal(str(f)) for f in files)}], filename = true) "
                                 f"WHERE {x} IS NOT NULL LIMIT 1").fetchall()
            if not valued and column.nullable:
                typed[column.name] = f"NULL::{declared}"
                continue
            where = f"in {Path(valued[0][0]).name}" if valued and valued[0][0] else "in the file"
            raise DataContractError(f"catalog {catalog.path} does not match the schema (column {column.name!r} is "
                                    f"{types[column.name]} {where}; the schema declares {column.type}); "
                                    + CATALOG_FIX)
        typed[column.name], bad = converted
        if not column.nullable and column.name in optional:
            checks.append((f"count(*) FILTER (WHERE {x} IS NULL) > 0", schema.null_message(column.name)))
        if bad:
            checks.append((f"any_value(CAST({x} AS VARCHAR)) FILTER (WHERE {bad})", column))
    return typed, checks


def _refuse_bad_rows(catalog: Catalog, piece: _Piece) -> None:
    """Run the piece's row checks in one scan; the first failing one (null checks in schema order, then
    values that do not convert) is raised as DataContractError."""
    checks = piece.checks
    import duckdb

    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = {literal(os.environ.get(MEMORY_LIMIT_ENV) or MEMORY_LIMIT)}")
        con.execute(f"SET threads = {_threads()}")
        try:
            found = con.execute(f"SELECT {', '.join(sql for sql, _ in checks)} FROM {piece.raw}").fetchone()
        except duckdb.Error as exc:
            raise DataContractError(f"catalog {catalog.path} does not match the schema ({exc}); "
                                    + CATALOG_FIX) from exc
    for (_, what), value in sorted(zip(checks, found), key=lambda pair: not isinstance(pair[0][1], str)):
        if isinstance(what, str) and value:
            raise DataContractError(f"{catalog.path}: {what}; {CATALOG_FIX}")
        if not isinstance(what, str) and value is not None:
            raise DataContractError(f"catalog {catalog.path} does not match the schema (column {what.name!r} holds "
                                    f"{value[:80]!r}, which is not a {what.type}); {CATALOG_FIX}")


def _threads() -> int:
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
    con.execute(f"SET threads = {_threads()}")
    con.execute(f"SET temp_directory = {literal(str(scratch / 'spill'))}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET TimeZone = 'UTC'")  # no timestamp of the catalog depends on the machine's zone
    return con


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
