"""A catalog that is a folder of Parquet parts (docs/scale-catalog.md) works with every command,
not only the DuckDB engine: the pandas reader reads the parts in name order and the writer writes
them back as one part (the engine audit found prefilter, export, ingest and the pandas path of
filter and split dying with an IsADirectoryError traceback)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import smooth_photo
from typer.testing import CliRunner

from curate.cli.app import app
from curate.workspace import Workspace, catalog_sha256, read_catalog

runner = CliRunner()


def photo_folder(root: Path) -> Path:
    for number in range(12):
        path = root / ("harbour" if number % 2 else "tower") / f"{number}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(smooth_photo(number + 1, 80, 60, "JPEG"))
    (root / "tower" / "copy.jpg").write_bytes((root / "tower" / "0.jpg").read_bytes())
    return root


def as_parts(ws: Workspace, sizes: tuple[int, ...]) -> None:
    """Rewrite the workspace's catalog file as a folder of parts of these many rows."""
    table = pq.read_table(ws.catalog_path)
    ws.catalog_path.unlink()
    ws.catalog_path.mkdir()
    start = 0
    for number, size in enumerate(sizes):
        pq.write_table(table.slice(start, size), ws.catalog_path / f"part-{number:05d}.parquet")
        start += size
    assert start == table.num_rows


def invoke(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return photo_folder(tmp_path_factory.mktemp("parts-src"))


def test_every_command_reads_and_writes_a_folder_catalog(folder, tmp_path):
    single, parts = Workspace(tmp_path / "single"), Workspace(tmp_path / "parts")
    for ws in (single, parts):
        invoke("ingest", "folder", folder, "-w", ws.root)
    as_parts(parts, (5, 4, 4))
    pd.testing.assert_frame_equal(read_catalog(parts), read_catalog(single))
    hashed = catalog_sha256(parts)
    for ws in (single, parts):
        invoke("ingest", "folder", folder, "-w", ws.root)  # a re-ingest writes the catalog back
        invoke("filter", "-w", ws.root, "--catalog-engine", "pandas")
        invoke("split", "-w", ws.root, "--catalog-engine", "pandas", "--val", "0.2", "--test", "0.2")
        invoke("check-leakage", "-w", ws.root)
        invoke("export", "-w", ws.root, "-f", "csv", "-o", ws.root.parent / f"out-{ws.root.name}")
    assert parts.catalog_path.is_dir() and [p.name for p in parts.catalog_path.iterdir()] == ["part-00000.parquet"]
    # the folder written back keeps the umask's mode (the helper's re-check: it came back 0700)
    umask = os.umask(0)
    os.umask(umask)
    assert parts.catalog_path.stat().st_mode & 0o777 == 0o777 & ~umask
    assert catalog_sha256(parts) != hashed  # (the hash follows the parts)
    pd.testing.assert_frame_equal(read_catalog(parts), read_catalog(single))
    assert read_catalog(parts)["drop_reason"].eq("exact_duplicate").sum() == 1
    manifests = [pd.read_csv(tmp_path / f"out-{name}" / "manifest.csv") for name in ("single", "parts")]
    pd.testing.assert_frame_equal(*manifests)


def test_an_empty_parts_folder_reads_as_an_empty_catalog(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.ensure()
    ws.catalog_path.mkdir()
    assert read_catalog(ws).empty


def test_a_crash_while_the_folder_is_swapped_keeps_the_old_parts(folder, tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "ws")
    invoke("ingest", "folder", folder, "-w", ws.root)
    as_parts(ws, (7, 6))
    before = read_catalog(ws)
    calls = []

    def replace_then_fail(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:  # the new folder is about to be swapped in
            raise OSError("disk gone")
        return real_replace(src, dst)

    import os

    real_replace = os.replace
    monkeypatch.setattr("curate.workspace.os.replace", replace_then_fail)
    from curate.workspace import write_catalog

    with pytest.raises(OSError):
        write_catalog(ws, before.assign(title="changed"))
    monkeypatch.setattr("curate.workspace.os.replace", real_replace)
    aside = ws.root / ".catalog.parquet.old"
    assert aside.is_dir() and sorted(p.name for p in aside.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    assert not [p for p in ws.root.iterdir() if p.name.endswith(".tmp")]  # the new folder is removed
    # the next reader takes the lock and puts the old parts back: the catalog written last, whole
    pd.testing.assert_frame_equal(read_catalog(ws), before)
    assert ws.catalog_path.is_dir() and not aside.exists()


def test_after_an_interrupted_swap_the_next_command_starts_from_the_old_parts(folder, tmp_path):
    """An ingest reads the catalog as optional: before, it found none after a crash mid-swap and
    wrote a catalog of only the folder's photos, the earlier rows left in `.catalog.parquet.old`."""
    ws = Workspace(tmp_path / "ws")
    invoke("ingest", "folder", folder, "-w", ws.root)
    extra = tmp_path / "extra" / "harbour"
    extra.mkdir(parents=True)
    (extra / "new.jpg").write_bytes(smooth_photo(99, 80, 60, "JPEG"))
    invoke("ingest", "folder", extra.parent, "-w", ws.root)
    as_parts(ws, (8, 6))
    before = read_catalog(ws)
    os.replace(ws.catalog_path, ws.root / ".catalog.parquet.old")  # the state a crash mid-swap leaves
    invoke("ingest", "folder", folder, "-w", ws.root)  # re-ingests the first folder only
    after = read_catalog(ws)
    assert len(after) == len(before) == 14
    assert set(after["sha256"]) == set(before["sha256"])
    assert not (ws.root / ".catalog.parquet.old").exists()
