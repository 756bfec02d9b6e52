"""Catalog-level stages over the Parquet catalog in bounded memory (DuckDB), for catalogs too
large for one in-memory pandas frame.

The pandas path reads the whole catalog into one DataFrame (≈ 3.3 KB a row once list columns are
Python objects: ~35 GB at 10M rows). The DuckDB path here runs the same stages as SQL over
`read_parquet`, spilling to a temporary folder beyond `memory_limit`, and writes the catalog back
with `COPY ... TO` (a temp file, then an atomic rename), row order and schema kept:

- filter's stages (`curate.outofcore.filter`): licence, ambiguous labels, geo outliers (per-label
  median centre, distances, the labels-not-places refusal, missing geo), exact duplicates (same
  keep rule), near duplicates (`curate.outofcore.neardup`: the same linking over per-image arrays
  and memory-mapped thumbnails; no image is decoded), the image-quality checks on the stored statistics (Arrow batches
  through the same scoring), owner caps, the funnel;
- split's group table and assignment (`curate.outofcore.split`): the same groups and the same
  `assign_groups` call as pandas, so the same split for the same seed;
- the leakage check and the status counts (`curate.outofcore.queries`);
- every aggregate of `curate report` and the few rows its galleries show
  (`curate.outofcore.report`).

`engine` (every I/O edge that reads the catalog takes one): "pandas", "duckdb" or "auto" (DuckDB
when the catalog has more than AUTO_ROWS rows, or is a folder of Parquet parts).
`CURATE_CATALOG_ENGINE` sets the default.

    >>> choose_engine("pandas", None)
    'pandas'
"""

from __future__ import annotations

import os
from pathlib import Path

from curate.errors import UsageError

ENGINES = ("auto", "pandas", "duckdb")
ENGINE_ENV = "CURATE_CATALOG_ENGINE"
# auto: DuckDB above this many rows. The pandas path measured 1M rows in 3.3 GB RSS (issue Q), so
# 2M rows is about where a 8 GB machine stops coping; below it pandas is as fast and also runs the
# pixel pass (hashes, thumbnails) for images ingested without it (see docs/scale-catalog.md).
AUTO_ROWS = 2_000_000


def engine_default() -> str:
    """The engine asked for by CURATE_CATALOG_ENGINE, else "auto"."""
    return os.environ.get(ENGINE_ENV, "").strip().lower() or "auto"


def choose_engine(engine: str | None, catalog_path: Path | None) -> str:
    """"pandas" or "duckdb" for `engine` ("auto", "pandas", "duckdb"; None: the environment's
    default) and the catalog at `catalog_path` (a file or a folder of Parquet parts)."""
    engine = (engine_default() if engine is None else engine).strip().lower()
    if engine not in ENGINES:
        source = f"{ENGINE_ENV}={engine}" if os.environ.get(ENGINE_ENV) else f"engine {engine!r}"
        raise UsageError(f"{source} is not a catalog engine; use one of {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    if catalog_path is None or not Path(catalog_path).exists():
        return "pandas"
    if Path(catalog_path).is_dir():  # a folder of Parquet parts: only DuckDB writes one back
        return "duckdb"
    from curate.outofcore.catalog_view import catalog_rows

    return "duckdb" if catalog_rows(Path(catalog_path)) > AUTO_ROWS else "pandas"
