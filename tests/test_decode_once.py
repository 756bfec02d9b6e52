"""Decode once: ingest measures every pixel-level feature in its validation decode, the filter
decodes nothing for such images, computes the same features itself for older ones, and an
interrupted ingest resumes with its features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from curate.filters.quality import STATISTICS
from curate.filters.run import run_filter
from curate.filters.stage import FilterConfig
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import IngestJob
from curate.ingest.engine_journal import Journal
from curate.vision import features
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import jpeg_bytes, no_fsync


def photo_bytes(index: int) -> bytes:
    """A distinct textured JPEG per index (sizes vary, some portrait)."""
    import io

    rng = np.random.default_rng(index)
    width, height = (300, 200) if index % 3 else (180, 320)
    array = rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8)
    image = Image.fromarray(array).resize((width, height), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


class Fetch:
    def __init__(self, die_after: int | None = None):
        self.calls = 0
        self.die_after = die_after

    def __call__(self, record: dict) -> bytes:
        self.calls += 1
        if self.die_after is not None and self.calls > self.die_after:
            raise KeyboardInterrupt("killed")
        return photo_bytes(int(record["source_id"]))


def records(n: int) -> pd.DataFrame:
    return pd.DataFrame({"source_id": [str(i) for i in range(n)], "owner_id": ["o"] * n, "tags": [["x"]] * n})


@pytest.fixture
def decodes(monkeypatch):
    """Counts pixel decodes: ImageFile.load calls that have tiles to decode."""
    counter = {"n": 0}
    original = ImageFile.ImageFile.load

    def counting_load(self):
        if getattr(self, "tile", None):
            counter["n"] += 1
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    return counter


def test_ingest_then_filter_decodes_each_image_once(tmp_path, decodes):
    ws = Workspace(tmp_path)
    with no_fsync():
        run_ingest(ws, IngestJob("t", records(6), Fetch(), workers=1))
    assert decodes["n"] == 6
    catalog = read_catalog(ws)
    assert catalog[list(features.required_columns())].notna().all().all()
    assert set(features.read_thumbnail_cache(ws.root)) == set(catalog["sha256"])
    with no_fsync():
        run_filter(ws, FilterConfig(max_km="off"))
    assert decodes["n"] == 6, "the filter decoded images that ingest had measured"
    filtered = read_catalog(ws)
    assert filtered["blurry_score"].notna().all()


def test_features_from_ingest_equal_what_the_filter_computes_itself(tmp_path):
    ws = Workspace(tmp_path)
    with no_fsync():
        run_ingest(ws, IngestJob("t", records(5), Fetch(), workers=2))
    at_ingest = read_catalog(ws)
    thumbs_at_ingest = features.read_thumbnail_cache(ws.root)
    # the same images as an older ingest left them: no features, no thumbnail cache
    old = at_ingest.copy()
    for name in features.feature_columns():
        old[name] = None
    write_catalog(ws, old)
    (ws.root / features.THUMBNAIL_CACHE).unlink()
    with no_fsync():
        run_filter(ws, FilterConfig(max_km="off"))
    by_filter = read_catalog(ws)
    columns = list(features.feature_columns())
    pd.testing.assert_frame_equal(by_filter[columns], at_ingest[columns])
    assert features.read_thumbnail_cache(ws.root) == thumbs_at_ingest
    assert all(len(data) == 16 * 12 * 3 for data in thumbs_at_ingest.values())


def test_interrupted_ingest_resumes_with_features(tmp_path):
    ws = Workspace(tmp_path)
    with no_fsync(), pytest.raises(KeyboardInterrupt):
        run_ingest(ws, IngestJob("t", records(10), Fetch(die_after=4), workers=1, checkpoint_seconds=0))
    journal = Journal(ws, "t").load()
    assert len(journal) >= 4
    assert all(outcome["phash"] and outcome[features.THUMBNAIL_KEY] for outcome in journal.values())
    again = Fetch()
    with no_fsync():
        run_ingest(ws, IngestJob("t", records(10), again, workers=1))
    assert again.calls == 10 - len(journal)  # journaled photos were not fetched again ...
    catalog = read_catalog(ws)
    assert catalog[list(features.required_columns())].notna().all().all()  # ... and kept their features
    assert set(features.read_thumbnail_cache(ws.root)) == set(catalog["sha256"])


def test_a_bad_image_has_no_features_and_a_tiny_one_is_still_measured(tmp_path):
    ws = Workspace(tmp_path)

    def fetch(record):
        return b"not an image" if record["source_id"] == "0" else jpeg_bytes(40, 36)

    with no_fsync():
        run_ingest(ws, IngestJob("t", records(2), fetch, workers=1))
    catalog = read_catalog(ws).set_index("source_id")
    assert catalog.loc["0", "drop_reason"] == "not_an_image" and pd.isna(catalog.loc["0", "phash"])
    assert catalog.loc["1", list(STATISTICS)].notna().all()
