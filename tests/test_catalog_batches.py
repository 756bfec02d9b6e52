"""The catalog is written in row groups, and reading it in batches across them changes nothing."""

import pandas as pd
import pyarrow.parquet as pq

from curate import workspace as ws_module
from curate.catalog_batches import CatalogFile
from curate.workspace import Workspace, read_catalog, write_catalog


def catalog(n: int) -> pd.DataFrame:
    return pd.DataFrame({"photo_id": [f"t:{i:03d}" for i in range(n)], "source": "t",
                         "source_id": [str(i) for i in range(n)], "status": ["kept", "dropped"] * (n // 2),
                         "tags": [["a", f"t{i}"] for i in range(n)], "lat": [float(i) if i % 3 else None
                                                                             for i in range(n)]})


def test_the_catalog_is_written_in_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(ws_module, "PARQUET_ROW_GROUP", 16)
    ws = Workspace(tmp_path)
    write_catalog(ws, catalog(40))
    meta = pq.ParquetFile(ws.catalog_path).metadata
    assert meta.num_row_groups == 3 and meta.row_group(0).num_rows == 16


def test_batches_across_row_groups_read_as_the_whole_catalog(tmp_path, monkeypatch):
    monkeypatch.setattr(ws_module, "PARQUET_ROW_GROUP", 16)
    ws = Workspace(tmp_path)
    write_catalog(ws, catalog(40))
    whole = read_catalog(ws)
    columns = ["photo_id", "status", "tags", "lat"]
    batched = pd.concat(list(CatalogFile(ws.catalog_path, batch_rows=7).batches(columns)), ignore_index=True)
    pd.testing.assert_frame_equal(batched, whole[columns])
