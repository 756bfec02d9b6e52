"""`curate export` with the plan, the export state and the freshness fingerprints sorted on disk
(DuckDB, `curate.external_sort`): the same bytes as the in-memory paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import demo_workspace, some_slow

from curate.catalog_batches import CatalogFile
from curate.export import ExportConfig, export_workspace
from curate.export.plan import plan_columns, plan_export, safe_names
from curate.export.run import image_sizes
from curate.export.spill import plan_from_file
from curate.workspace import Workspace, read_catalog


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Workspace:
    return demo_workspace(tmp_path_factory.mktemp("export-external-ws"), photos=80, seed=4)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def on_disk(patch: pytest.MonkeyPatch, bucket_rows: int = 9, batch_rows: int = 13) -> None:
    """Every external path on, with small buckets and batches so that they straddle each other."""
    patch.setattr("curate.export.spill.EXTERNAL_ROWS", 0)
    patch.setattr("curate.export.checks.EXTERNAL_ROWS", 0)  # the key and leakage checks, grouped by DuckDB
    patch.setattr("curate.catalog_batches.EXTERNAL_DIGEST_ROWS", 0)  # the split's freshness check
    patch.setattr("curate.export.spill.BUCKET_ROWS", bucket_rows)
    patch.setattr("curate.export.run.CatalogFile", lambda path: CatalogFile(path, batch_rows=batch_rows))


# (hf, hf-parquet: the same paths)
@pytest.mark.parametrize("fmt", some_slow(["webdataset", "imagefolder", "csv"], fast=("webdataset",)))
def test_the_plan_sorted_on_disk_exports_the_same_bytes(demo_ws, tmp_path, fmt):
    export_workspace(demo_ws, tmp_path / "memory", ExportConfig(fmt, shard_samples=7))
    with pytest.MonkeyPatch.context() as patch:
        on_disk(patch)
        result = export_workspace(demo_ws, tmp_path / "disk", ExportConfig(fmt, shard_samples=7))
    memory, disk = tree(tmp_path / "memory"), tree(tmp_path / "disk")
    assert memory == disk and len(memory) > 5
    assert result.plan.frame is None  # the streamed plan held no row


def test_the_plan_sorted_on_disk_holds_the_in_memory_plans_rows(demo_ws, tmp_path):
    config = ExportConfig("webdataset", shard_samples=5)
    catalog = read_catalog(demo_ws)
    memory = plan_export(catalog[plan_columns(config)], config, image_sizes(demo_ws, catalog))
    with pytest.MonkeyPatch.context() as patch:
        on_disk(patch, bucket_rows=11)
        streamed = plan_from_file(CatalogFile(demo_ws.catalog_path, batch_rows=17), config,
                                  lambda batch: image_sizes(demo_ws, batch), tmp_path)
        chunks = list(streamed.chunks())
    assert len(chunks) > 2 and all(len(chunk) <= 11 for chunk in chunks)
    columns = ["photo_id", "split", "label", "name", "target", "shard", "content_key", "class_index", "bytes"]
    assert pd.concat(chunks)[columns].reset_index(drop=True).equals(memory.rows[columns].reset_index(drop=True))
    assert streamed.classes == memory.classes and streamed.excluded == memory.excluded
    slim = ["split", "label", "license", "shard"]
    assert streamed.rows[slim].astype(object).equals(memory.rows[slim].astype(object))
    assert streamed.summary == memory.summary and streamed.photos == len(memory.rows)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file() and not p.name.startswith("bucket-")) \
        == ["ranked.parquet"]  # the keys, their sorted order and the ranks are gone


def clashing_catalog(path: Path, seed: int, photos: int = 300) -> pd.DataFrame:
    """Ids that squash to the same stem, differ only in case, or are longer than a name may be."""
    rng = np.random.default_rng(seed)
    stems = ["a/b", "A.B", "a_b", "x y", "X_Y", "élan", "ÉLAN", "q" * 90, "Q" * 95, "k"]
    ids = list(dict.fromkeys(f"src:{stems[rng.integers(len(stems))]}{rng.choice(['', '.', '/', '-', 'Z', 'z'])}"
                             f"{rng.integers(40)}" for _ in range(photos)))
    frame = pd.DataFrame({"photo_id": ids, "status": "kept", "label": rng.choice(["b", "a", "c"], len(ids)),
                          "split": rng.choice(["train", "val", "test"], len(ids)),
                          "license": rng.choice(["cc0-1.0", None], len(ids)),
                          "image_path": [f"images/{i}.jpg" for i in range(len(ids))],
                          "sha256": [f"{i:064x}" for i in range(len(ids))]})
    frame.to_parquet(path)
    return frame


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_names_and_order_sorted_on_disk_match_safe_names(tmp_path, seed):
    clashing_catalog(tmp_path / "catalog.parquet", seed)
    catalog = CatalogFile(tmp_path / "catalog.parquet", batch_rows=50)
    config = ExportConfig("webdataset", shard_samples=4)

    def sizes(batch: pd.DataFrame) -> pd.Series:
        number = batch["image_path"].str.extract(r"(\d+)", expand=False).astype(int).to_numpy()
        return pd.Series(np.where(number % 7 == 0, np.nan, 100.0 + number % 5), index=batch.index)

    whole = catalog.read(plan_columns(config))
    memory = plan_export(whole, config, sizes(whole))
    assert safe_names(whole["photo_id"]).str.contains("-").any()  # clashes were made
    (tmp_path / "plan").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        on_disk(patch, bucket_rows=32)
        streamed = plan_from_file(catalog, config, sizes, tmp_path / "plan")
        rows = pd.concat(list(streamed.chunks()))
    columns = ["photo_id", "name", "split", "shard", "target", "bytes"]
    assert rows[columns].reset_index(drop=True).equals(memory.rows[columns].reset_index(drop=True))
    assert streamed.missing.equals(memory.missing) and streamed.excluded == memory.excluded


@pytest.mark.slow
def test_an_empty_plan_sorted_on_disk_is_refused_and_the_earlier_export_stays(demo_ws, tmp_path):
    """Audit AL: an export whose --licences matched no photo exited 0 with "0 photos" and removed every file of
    the export already in that folder. It is refused in one line naming what left the photos out, before a
    file is written or removed."""
    from curate.errors import UsageError

    with pytest.MonkeyPatch.context() as patch:
        on_disk(patch)
        with pytest.raises(UsageError, match=r"nothing to export: every photo is left out \(.*licence not allowed "
                                             r"[0-9,]+.*\); widen --licences"):
            export_workspace(demo_ws, tmp_path / "new", ExportConfig("webdataset", licences=["gfdl"]))
        assert not (tmp_path / "new").exists()  # nothing left behind
        first = export_workspace(demo_ws, tmp_path / "out", ExportConfig("webdataset"))
        before = {path: path.stat().st_mtime_ns for path in (tmp_path / "out").rglob("*")}
        with pytest.raises(UsageError, match="nothing to export"):
            export_workspace(demo_ws, tmp_path / "out", ExportConfig("webdataset", licences=["gfdl"]))
    assert first.plan.photos > 0 and list((tmp_path / "out").glob("*.tar"))
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "out").rglob("*")} == before
    shutil.rmtree(tmp_path / "out")


@pytest.fixture(scope="module")
def first_exports(demo_ws, tmp_path_factory) -> dict[str, Path]:
    """The full imagefolder export each scenario of `change_and_export` starts from, made once: with the
    in-memory paths ("memory") and with every external path on ("disk")."""
    root = tmp_path_factory.mktemp("first-exports")
    export_workspace(demo_ws, root / "memory", ExportConfig("imagefolder"))
    with pytest.MonkeyPatch.context() as patch:
        on_disk(patch)
        export_workspace(demo_ws, root / "disk", ExportConfig("imagefolder"))
    return {"memory": root / "memory", "disk": root / "disk"}


def change_and_export(ws: Workspace, out: Path, scenario: str, first: Path) -> tuple[int, int, int]:
    """A full imagefolder export into `out` (a copy of `first`, that export made once), then `scenario`, then
    another export: its (written, reused, removed)."""
    shutil.copytree(first, out)
    config = ExportConfig("imagefolder")
    if scenario == "fewer splits, overwrite":  # the test split's files leave, and a stray file
        (out / "train" / "stray.txt").write_text("not ours")
        config = ExportConfig("imagefolder", splits=("train", "val"), overwrite=True)
    elif scenario == "interrupted":  # the state of an export that stopped after a few files, and one file lost
        state = pd.read_parquet(out / ".export-state.parquet")
        (out / ".export-state.parquet").unlink()
        lines = [f"{t}\t{k}\n" for t, k in zip(state["target"], state["content_key"]) if t.startswith("train/")]
        (out / ".export-journal.tsv").write_text("".join(lines[:7]) + "train/x/stale.jpg\told\n", encoding="utf-8")
        (out / lines[0].split("\t")[0]).unlink()
    result = export_workspace(ws, out, config)
    return result.written, result.reused, result.removed


@pytest.mark.parametrize("scenario", ["fewer splits, overwrite", "interrupted"])
def test_the_export_state_on_disk_rewrites_and_removes_what_the_dict_does(demo_ws, first_exports, tmp_path, scenario):
    memory = change_and_export(demo_ws, tmp_path / "memory", scenario, first_exports["memory"])
    with pytest.MonkeyPatch.context() as patch:
        on_disk(patch)
        disk = change_and_export(demo_ws, tmp_path / "disk", scenario, first_exports["disk"])
    assert disk == memory
    assert tree(tmp_path / "disk") == tree(tmp_path / "memory")
    if scenario != "interrupted":
        assert memory[2] > 1 and not (tmp_path / "disk" / "test").exists()  # the test split and the stray
    else:
        assert memory[1] == 6  # the journal's 7 files were reused but the lost one


def test_a_sort_that_runs_out_of_memory_runs_again_with_more(tmp_path, monkeypatch):
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate import external_sort

    keys = [f"{i:09d}" for i in range(300_000)]
    pq.write_table(pa.table({"k": keys[::-1]}), tmp_path / "in.parquet")
    query = f"SELECT k FROM read_parquet({external_sort.literal(str(tmp_path / 'in.parquet'))}) ORDER BY k"
    monkeypatch.setenv("CURATE_SORT_MEMORY", "2MB")
    monkeypatch.setattr("curate.external_sort.MEMORY_LIMIT_MAX_MB", 3)
    with external_sort.connect(tmp_path) as con, pytest.raises(duckdb.OutOfMemoryException):
        external_sort.write_parquet(con, query, tmp_path / "out.parquet")  # 2 MB is too little
    monkeypatch.undo()
    monkeypatch.setenv("CURATE_SORT_MEMORY", "2MB")
    with external_sort.connect(tmp_path) as con:
        external_sort.write_parquet(con, query, tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").column("k").to_pylist() == keys
