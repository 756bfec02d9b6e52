"""The filter's note on missing embeddings names those the workspace holds at another input size (audit BB: after
`curate embed --image-size 160`, "no efficientnet_lite0 embeddings … run `curate embed` first", and a re-run changed
nothing)."""

from __future__ import annotations

import pytest
from helpers import jpeg_folder, no_fsync

from curate.filters.clusters import NO_EMBEDDINGS_NOTE
from curate.filters.config import FilterConfig
from curate.filters.run import run_filter
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.workspace import Workspace


@pytest.fixture
def ws(tmp_path) -> Workspace:
    jpeg_folder(tmp_path / "photos" / "cats", 4)
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))
    return ws


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_embeddings_at_another_size_are_named_in_the_note(ws, engine):
    report = run_filter(ws, FilterConfig(), engine=engine)
    assert NO_EMBEDDINGS_NOTE in report.notes  # nothing embedded: the note as it was
    other = ws.cache_dir / "embeddings" / "efficientnet_lite0-160px"
    other.mkdir(parents=True)
    (other / "part-000000.parquet").write_bytes(b"vectors at 160 px")
    report = run_filter(ws, FilterConfig(), engine=engine)
    [note] = [note for note in report.notes if note.startswith("near duplicates found by pHash alone")]
    assert "embeddings this workspace holds are at 160 px" in note and "reads them only at 224 px" in note
    assert "run `curate embed` without --image-size" in note
