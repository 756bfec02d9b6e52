"""How the DuckDB view of the catalog (curate.outofcore.catalog_view) turns each file column into its
declared type as `schema.conform` does (`conversion`): the same values converted, the same refused.
"""

from __future__ import annotations

from curate.outofcore.db import literal

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
