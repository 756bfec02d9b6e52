"""`classify predict` on Parquet files names each row by its own name too (audit AZ F5): a `source_name`
column holding the row's photo_id, else its image's `path`, else its key, unique within the file, while
`path` keeps ingest's row-number member name (part of existing catalogs' photo ids)."""

import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from classify.cli import app
from curate.ingest.parquet_shards import read_parquet_images, row_names
from tests.helpers import smooth_photo as photo
from tests.helpers import untrained_run

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return untrained_run(tmp_path_factory.mktemp("run"), ["harbour", "skyline", "tower"])


def predictions(run_dir, folder, out):
    result = runner.invoke(app, ["predict", str(run_dir), str(folder), "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        return list(csv.DictReader(handle))


def image_table(paths, **columns):
    cells = [{"bytes": photo(30 + i, 96, 72, "JPEG"), "path": path} for i, path in enumerate(paths)]
    return pa.table({"image": pa.array(cells, pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                     **columns})


def test_hugging_face_rows_carry_their_image_path_and_duplicates_their_row(tmp_path, run_dir):
    folder = tmp_path / "hf"
    folder.mkdir()
    paths = ["cat_01.jpg", "same.jpg", "dog_07.jpg", "same.jpg", None]
    pq.write_table(image_table(paths), folder / "train-00000.parquet", row_group_size=2)  # rows across groups
    (folder / "loose.jpg").write_bytes(photo(9, 96, 72, "JPEG"))
    rows = predictions(run_dir, folder, tmp_path / "preds.csv")
    table = folder / "train-00000.parquet"
    by_path = {row["path"]: row["source_name"] for row in rows}
    # the path stays the row number (ingest's name); the row's own name is beside it
    assert by_path == {str(folder / "loose.jpg"): "", f"{table}/0000000.jpg": "cat_01.jpg",
                       f"{table}/0000001.jpg": "same.jpg#1", f"{table}/0000002.jpg": "dog_07.jpg",
                       f"{table}/0000003.jpg": "same.jpg#3", f"{table}/0000004.jpg": ""}
    assert list(rows[0])[:2] == ["path", "source_name"] and all(row["error"] == "" for row in rows)


def test_a_photo_id_column_names_the_row_before_its_image_path(tmp_path, run_dir):
    folder = tmp_path / "export"
    folder.mkdir()
    table = image_table(["a_jpg.jpg", "b_jpg.jpg", "c_jpg.jpg"], photo_id=["folder/a.jpg", None, "folder/c.jpg"])
    pq.write_table(table, folder / "test-000000.parquet")
    rows = predictions(run_dir, folder, tmp_path / "preds.csv")
    assert [row["source_name"] for row in rows] == ["folder/a.jpg", "b_jpg.jpg", "folder/c.jpg"]


def test_plain_files_alone_get_no_source_name_column(tmp_path, run_dir):
    (tmp_path / "a.jpg").write_bytes(photo(3, 96, 72, "JPEG"))
    rows = predictions(run_dir, tmp_path / "a.jpg", tmp_path / "preds.csv")
    assert "source_name" not in rows[0]


def test_row_names_leave_ingests_member_names_alone(tmp_path):
    """The member names are in the photo ids of catalogs ingested from the file: still row numbers."""
    pq.write_table(image_table(["x.png", "y.png"], key=["k/0", "k/1"]), tmp_path / "t.parquet")
    assert read_parquet_images(tmp_path / "t.parquet").names == ["0000000.png", "0000001.png"]
    assert row_names(tmp_path / "t.parquet") == {(0, 0): "x.png", (0, 1): "y.png"}


def test_predict_on_a_curate_hf_parquet_export_gives_its_photo_ids(tmp_path, run_dir):
    """The audit's case end to end: every predicted row of an export joins back to one exported photo."""
    from curate.cli.app import app as curate_app
    from curate.workspace import read_catalog
    from tests.helpers import demo_workspace

    ws = demo_workspace(tmp_path / "ws", photos=40)
    result = runner.invoke(curate_app, ["export", "--format", "hf-parquet", "--out", str(tmp_path / "hf"),
                                        "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    rows = predictions(run_dir, tmp_path / "hf", tmp_path / "preds.csv")
    catalog = read_catalog(ws)
    exported = catalog[(catalog["status"] == "kept") & catalog["split"].notna()]
    assert sorted(row["source_name"] for row in rows) == sorted(exported["photo_id"])
