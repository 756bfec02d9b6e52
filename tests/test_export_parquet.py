"""`curate export --format hf-parquet`: Parquet shards with the images embedded, read back by
Hugging Face `datasets.load_dataset("parquet", ...)` with label names and metadata."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
import pytest
from helpers import demo_workspace
from test_export import expected, one_line_error, tree

from curate.export import ExportConfig, export_workspace
from curate.workspace import Workspace

SPLIT_NAMES = {"train": "train", "test": "test", "val": "validation"}


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Workspace:
    return demo_workspace(tmp_path_factory.mktemp("export-pq-ws"), photos=80, seed=4)


def hf_datasets():
    datasets = pytest.importorskip("datasets")
    if not hasattr(datasets, "load_dataset"):  # the repository's datasets/ recipes folder, not Hugging Face's
        pytest.skip("Hugging Face datasets is not installed (a test-only dependency)")
    return datasets


def test_hf_parquet_loads_with_datasets_with_images_labels_and_metadata(demo_ws, tmp_path):
    datasets = hf_datasets()
    want = expected(demo_ws)  # indexed by sha256
    out = tmp_path / "pq"
    export_workspace(demo_ws, out, ExportConfig("hf-parquet", shard_samples=9))
    loaded = datasets.load_dataset("parquet", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {SPLIT_NAMES[s] for s in want["split"].unique()}
    for split, rows in want.groupby("split"):
        part = loaded[SPLIT_NAMES[split]]
        assert sorted(part["photo_id"]) == sorted(rows["photo_id"])
        labels = part.features["label"]
        assert isinstance(labels, datasets.ClassLabel)
        assert {pid: labels.int2str(i) for pid, i in zip(part["photo_id"], part["label"])} == \
            dict(zip(rows["photo_id"], rows["label"]))
        first = part[0]
        image = first["image"]  # decoded by the Image feature
        assert image.size == (int(first["width"]), int(first["height"]))
        raw = part.cast_column("image", datasets.Image(decode=False))
        assert {hashlib.sha256(cell["bytes"]).hexdigest() for cell in raw["image"]} == set(rows.index)
        assert {"owner_id", "license", "lat", "lon", "tags", "page_url"} <= set(part.column_names)
    assert len(list((out / "data").glob("train-*.parquet"))) == -(-int((want["split"] == "train").sum()) // 9)


def test_hf_parquet_exports_are_byte_identical_and_a_re_export_writes_nothing(demo_ws, tmp_path):
    first = export_workspace(demo_ws, tmp_path / "a", ExportConfig("hf-parquet", shard_samples=7))
    export_workspace(demo_ws, tmp_path / "b", ExportConfig("hf-parquet", shard_samples=7))
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    again = export_workspace(demo_ws, tmp_path / "a", ExportConfig("hf-parquet", shard_samples=7))
    assert first.written > 1 and again.written == 0 and again.reused == first.written


def test_hf_parquet_resize_shrinks_the_embedded_images(demo_ws, tmp_path):
    from io import BytesIO

    from PIL import Image

    export_workspace(demo_ws, tmp_path / "pq", ExportConfig("hf-parquet", resize=32))
    shard = sorted((tmp_path / "pq" / "data").glob("*.parquet"))[0]
    table = pq.read_table(shard)
    sizes = {Image.open(BytesIO(cell["bytes"])).size for cell in table.column("image").to_pylist()}
    assert sizes and all(max(size) == 32 for size in sizes)
    assert table.column("label").type == "int64" and b"huggingface" in table.schema.metadata


def test_hf_parquet_refuses_a_link_mode(demo_ws, tmp_path, capsys):
    one_line_error(["export", "-w", demo_ws.root, "--format", "hf-parquet", "--out", tmp_path / "x",
                    "--link", "hardlink"], capsys, 2, "leave --link out")
