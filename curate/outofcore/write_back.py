"""The out-of-core engine's write back: a stage's result written as the new catalog (atomic, in the
declared schema), and its stage report saved with the freshness fingerprints read in batches.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from curate import schema
from curate.outofcore.db import BATCH_ROWS, literal, quote, sql_type
from curate.workspace import catalog_file_sha256, swap_in_folder, temp_file_beside

if TYPE_CHECKING:
    from curate.outofcore.catalog_view import Catalog

ROW_GROUP = 65_536  # as curate.workspace.PARQUET_ROW_GROUP


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
