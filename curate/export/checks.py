"""The checks `curate export` makes before it writes anything, with memory flat in the size of
the catalog: the catalog's keys (`CatalogFile.validate_keys`: photo_id present, never null and
unique; status kept or dropped) and the split's leakage (`curate.leakage.find_leakage`).

Below `EXTERNAL_ROWS` catalog rows they run as they are (in batches, holding 8 to 16 bytes a
photo per check); from it on, DuckDB groups the rows on disk (`curate.external_sort.connect`:
a 32 MB memory limit, one thread, spilling beyond), so that nothing is held per photo. Both
paths accept and refuse the same catalogs with the same messages.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from curate import external_sort, schema
from curate.catalog_batches import CatalogFile
from curate.errors import CATALOG_FIX, DataContractError

EXTERNAL_ROWS = external_sort.EXTERNAL_ROWS


def validate_keys(catalog: CatalogFile) -> None:
    """`catalog.validate_keys()`, grouped on disk from EXTERNAL_ROWS rows (DataContractError)."""
    if catalog.num_rows < EXTERNAL_ROWS:
        catalog.validate_keys()
        return
    from curate.outofcore.catalog_view import Catalog

    source = Catalog(catalog.path)
    if schema.PHOTO_ID not in source.present or "status" not in source.present:
        raise DataContractError(f"catalog {catalog.path} has no photo_id or status column; "
                                + CATALOG_FIX)
    keys = f"(SELECT {source.column(schema.PHOTO_ID)}, {source.column('status')} FROM {source.source})"
    with _connection(catalog.path) as con:
        nulls, odd = con.execute(f"""
            SELECT count(*) FILTER (WHERE photo_id IS NULL OR status IS NULL),
                   count(*) FILTER (WHERE status NOT IN ({external_sort.literal(schema.KEPT)},
                                                          {external_sort.literal(schema.DROPPED)}))
            FROM {keys}""").fetchone()
        repeated = 0 if nulls or odd else con.execute(
            f"SELECT count(*) FROM (SELECT photo_id FROM {keys} GROUP BY photo_id HAVING count(*) > 1)").fetchone()[0]
    problem = ("photo_id and status must not be null" if nulls else "catalog status must be kept or dropped" if odd
               else "catalog has repeated photo_id values" if repeated else None)
    if problem:
        raise DataContractError(f"{catalog.path}: {problem}; {CATALOG_FIX}")


def find_leakage(catalog: CatalogFile) -> pd.DataFrame:
    """`curate.leakage.find_leakage(catalog)` (the same rows), grouped on disk from EXTERNAL_ROWS
    rows by `curate.outofcore`'s query of it."""
    if catalog.num_rows < EXTERNAL_ROWS:
        from curate.leakage import find_leakage as in_batches

        return in_batches(catalog)
    from curate.outofcore.catalog_view import Catalog
    from curate.outofcore.queries import find_leakage as grouped

    with _connection(catalog.path) as con:
        return grouped(con, Catalog(catalog.path))


@contextmanager
def _connection(catalog_path: Path) -> Iterator:
    """`external_sort.connect` in a temporary folder beside the catalog (the system's temporary
    folder when the workspace is read-only), removed on exit."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=".export-check-", dir=Path(catalog_path).parent))
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="curate-export-check-"))
    try:
        with external_sort.connect(folder) as con:
            yield con
    finally:
        shutil.rmtree(folder, ignore_errors=True)
