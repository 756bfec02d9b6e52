"""`curate export`'s memory does not grow with the collection: checked by structure, not by
measuring RSS (bench/export.py measures it): files are read a row group at a time, the large
catalog's checks group on disk, a plan sorted on disk holds nothing per photo, and tidying
the export folder never lists a folder's files."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import external_sort
from curate.catalog_batches import CatalogFile
from curate.errors import DataContractError
from curate.export import checks
from curate.export.config import ExportConfig
from curate.export.spill import plan_from_file
from curate.export.targets import remove_empty_folders
from curate.leakage import find_leakage

ROW_GROUPS, GROUP_ROWS = 40, 2_000


def random_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Ids of 100 random hex characters (incompressible: a row group's bytes are its size on disk)."""
    return [f"src:{bytes(row).hex()}" for row in rng.integers(0, 256, (n, 48), dtype=np.uint8)]


def many_row_groups(path: Path) -> int:
    """A catalog of ROW_GROUPS row groups of random ids; returns the bytes of one row group."""
    rng = np.random.default_rng(0)
    arrow = pa.schema([("photo_id", pa.string()), ("status", pa.string())])
    with pq.ParquetWriter(path, arrow, compression="zstd") as writer:
        for _ in range(ROW_GROUPS):
            writer.write_table(pa.table([random_ids(rng, GROUP_ROWS), ["kept"] * GROUP_ROWS], schema=arrow))
    return pq.ParquetFile(path).metadata.row_group(0).total_byte_size


def most_allocated(batches) -> int:
    """The most bytes Arrow held above the start while `batches` was read through."""
    start, most = pa.total_allocated_bytes(), 0
    for _ in batches:
        most = max(most, pa.total_allocated_bytes() - start)
    return most


def test_a_pass_over_a_file_holds_about_one_row_group(tmp_path):
    # Arrow's pre-buffering keeps every row group it has read until the reader closes
    # (apache/arrow#39808): by the end of a pass it would hold the whole file, ROW_GROUPS times this
    group = many_row_groups(tmp_path / "catalog.parquet")
    catalog = CatalogFile(tmp_path / "catalog.parquet", batch_rows=500)
    assert most_allocated(catalog.batches(["photo_id", "status"])) < 6 * group
    assert most_allocated(external_sort.exact_batches(tmp_path / "catalog.parquet", 500)) < 6 * group


def catalog_file(path: Path, frame: pd.DataFrame) -> CatalogFile:
    frame.to_parquet(path)
    return CatalogFile(path)


def leaky_frame(photos: int = 400, seed: int = 0) -> pd.DataFrame:
    """Kept and dropped photos, split, with a few owners, clusters and hashes in 2+ splits."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "photo_id": [f"p{i}" for i in range(photos)],
        "status": rng.choice(["kept", "kept", "dropped"], photos),
        "split": rng.choice(["train", "val", "test", None], photos),
        "owner_id": [f"o{i // 4}" if i % 50 else f"o{i // 4 + 1}" for i in range(photos)],
        "near_dup_cluster": rng.choice([None, "c1", "c2", "c3"], photos),
        "sha256": [f"{i % (photos - 7):064x}" for i in range(photos)],
    })


def test_the_checks_of_a_large_catalog_group_on_disk_with_the_same_verdicts(tmp_path, monkeypatch):
    frame = leaky_frame()
    catalog = catalog_file(tmp_path / "catalog.parquet", frame)
    in_batches = find_leakage(catalog).sort_values(["kind", "key"]).reset_index(drop=True)
    assert set(in_batches["kind"]) == {"owner", "near_dup_cluster", "exact_hash"}
    monkeypatch.setattr(checks, "EXTERNAL_ROWS", 0)

    def held_per_photo(*args, **kwargs):
        raise AssertionError("a check held a hash per photo")

    monkeypatch.setattr(CatalogFile, "validate_keys", held_per_photo)
    monkeypatch.setattr("curate.leakage.find_leakage_in_batches", held_per_photo)
    grouped = checks.find_leakage(catalog).sort_values(["kind", "key"]).reset_index(drop=True)
    assert grouped.equals(in_batches)
    checks.validate_keys(catalog)  # no problem: no error
    assert not list(tmp_path.glob(".export-check-*"))  # DuckDB's scratch folder is gone


@pytest.mark.parametrize("damage", ["repeated id", "null status", "odd status", "no status column"])
def test_a_large_catalogs_bad_keys_are_refused_as_in_batches(tmp_path, monkeypatch, damage):
    frame = leaky_frame(photos=50)
    if damage == "repeated id":
        frame.loc[7, "photo_id"] = frame.loc[30, "photo_id"]
    elif damage == "null status":
        frame.loc[9, "status"] = None
    elif damage == "odd status":
        frame.loc[9, "status"] = "maybe"
    else:
        frame = frame.drop(columns="status")
    catalog = catalog_file(tmp_path / "catalog.parquet", frame)
    with pytest.raises(DataContractError) as in_batches:
        catalog.validate_keys()
    monkeypatch.setattr(checks, "EXTERNAL_ROWS", 0)
    with pytest.raises(DataContractError) as grouped:
        checks.validate_keys(catalog)
    assert str(grouped.value) == str(in_batches.value)


def plan_catalog(path: Path, photos: int) -> CatalogFile:
    labels = np.array(["harbour", "bridge", "tower"])[np.arange(photos) % 3]
    frame = pd.DataFrame({"photo_id": [f"src:{i:06d}" for i in range(photos)], "status": "kept", "label": labels,
                          "split": np.array(["train", "val", "test"])[np.arange(photos) * 7 % 3],
                          "license": "cc0-1.0", "image_path": [f"images/{i}.jpg" for i in range(photos)],
                          "sha256": [f"{i:064x}" for i in range(photos)]})
    return catalog_file(path, frame)


@pytest.mark.parametrize("fmt", ["imagefolder", "webdataset"])
def test_a_plan_sorted_on_disk_is_the_same_size_for_ten_times_the_photos(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr("curate.export.spill.EXTERNAL_ROWS", 0)
    monkeypatch.setattr("curate.export.spill.BUCKET_ROWS", 64)
    config = ExportConfig(fmt, shard_samples=10_000)  # one shard per split, whatever the size
    sizes = []
    for photos in (300, 3_000):
        folder = tmp_path / f"plan-{photos}"
        folder.mkdir()
        plan = plan_from_file(plan_catalog(tmp_path / f"catalog-{photos}.parquet", photos), config,
                              lambda batch: pd.Series(100.0, index=batch.index), folder)
        assert plan.frame is None and plan.photos == photos
        assert sum(len(chunk) for chunk in plan.chunks()) == photos  # the rows are in the folder's files
        sizes.append(len(pickle.dumps(replace(plan, stream=None))))  # what the plan holds besides them
    assert abs(sizes[1] - sizes[0]) < 64, sizes  # a few wider counts, nothing per photo


def test_empty_folders_go_without_a_folders_files_being_listed(tmp_path, monkeypatch):
    for folder in ("a/b/c", "a/d", "e", "f/g/h"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "a" / "d" / "kept.jpg").write_bytes(b"x")
    (tmp_path / "top.json").write_text("{}")
    os.symlink(tmp_path / "a", tmp_path / "f" / "link")

    def listed(*args, **kwargs):
        raise AssertionError("listed a folder whole")

    monkeypatch.setattr(os, "walk", listed)
    monkeypatch.setattr(os, "listdir", listed)
    remove_empty_folders(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == ["a", "a/d", "a/d/kept.jpg", "f", "f/link", "top.json"]
