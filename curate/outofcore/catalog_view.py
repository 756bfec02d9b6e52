"""The catalog as DuckDB sees it (`Catalog`): every schema column in its declared type, read from a
Parquet file or a folder of parts as `curate.workspace.read_catalog` reads it (the conversions of
curate.outofcore.type_conversions), with what `schema.conform` refuses refused before any work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from curate import schema
from curate.errors import CATALOG_FIX, DataContractError
from curate.outofcore.db import MEMORY_LIMIT, MEMORY_LIMIT_ENV, literal, quote, sql_type, thread_count
from curate.outofcore.type_conversions import conversion
from curate.workspace import PANDAS_INDEX_PREFIX, catalog_parts


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a catalog: the file itself, or a folder's `*.parquet` parts (sorted)."""
    return catalog_parts(path)


def catalog_rows(path: Path) -> int:
    """Rows of the catalog (file or folder of parts), from the Parquet footers alone."""
    try:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in parquet_files(path))
    except (OSError, pa.ArrowException) as exc:
        raise DataContractError(f"catalog {path} is unreadable ({exc}); {CATALOG_FIX}") from exc


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
        con.execute(f"SET threads = {thread_count()}")
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
