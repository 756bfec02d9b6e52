import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curate import workspace as ws_module
from curate.workspace import Workspace, atomic_write_bytes, read_catalog, resolve_workspace, write_catalog


def rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"photo_id": [f"t:{i}" for i in range(n)], "source": "t",
                         "source_id": [str(i) for i in range(n)], "status": "kept"})


def test_crash_during_write_leaves_previous_catalog_intact(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    write_catalog(ws, rows(3))
    before = ws.catalog_path.read_bytes()

    def write_half_then_die(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 partial")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(pq, "write_table", write_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_catalog(ws, rows(10))
    assert ws.catalog_path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.parquet"], "temp file left behind"
    monkeypatch.undo()
    assert len(read_catalog(ws)) == 3


def test_crash_before_rename_leaves_previous_catalog(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    write_catalog(ws, rows(2))

    def no_rename(src, dst):
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError):
        write_catalog(ws, rows(5))
    monkeypatch.undo()
    assert len(read_catalog(ws)) == 2
    assert len(list(tmp_path.iterdir())) == 1


def test_atomic_write_bytes_replaces_whole_file(tmp_path):
    target = tmp_path / "a" / "b.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert len(list(target.parent.iterdir())) == 1


def test_workspace_resolution_order(monkeypatch, tmp_path):
    monkeypatch.delenv(ws_module.WORKSPACE_ENV, raising=False)
    assert resolve_workspace(None).root.name == "workspace"
    monkeypatch.setenv(ws_module.WORKSPACE_ENV, str(tmp_path / "env"))
    assert resolve_workspace(None).root == tmp_path / "env"
    assert resolve_workspace(tmp_path / "flag").root == tmp_path / "flag"


def test_corrupt_catalog_is_a_clear_error(tmp_path):
    ws = Workspace(tmp_path)
    ws.catalog_path.write_bytes(b"not parquet at all")
    with pytest.raises(Exception, match="unreadable"):
        read_catalog(ws)
