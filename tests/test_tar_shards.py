"""`curate ingest folder` reads WebDataset tar shards in place (img2dataset's `--output_format webdataset`):
each photo straight from its offset, its JSON member as its sidecar, the shard's name as a folder."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from helpers import jpeg_bytes, no_fsync
from PIL import Image

from curate.ingest.folder import FolderOptions, ingest_folder
from curate.objectstore import locate
from curate.workspace import Workspace, read_catalog


def write_tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def sample(key: str, color: tuple[int, int, int], **meta) -> dict[str, bytes]:
    """One img2dataset sample: the photo, its JSON and its caption."""
    caption = meta.get("caption", "")
    return {f"{key}.jpg": jpeg_bytes(color=color), f"{key}.txt": caption.encode(),
            f"{key}.json": json.dumps({"url": f"https://img.example.com/{key}.jpg", "key": key, "status": "success",
                                       **meta}).encode()}


def gps_jpeg(lat: float, lon: float) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (float(int(lat)), 30.0, 0.0), 3: "E", 4: (float(int(lon)), 0.0, 0.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


@pytest.fixture()
def download(tmp_path) -> Path:
    root = tmp_path / "download"
    root.mkdir()
    write_tar(root / "00000.tar", {**sample("000000000", (200, 10, 10), caption="Chicago at dusk", tags="chicago",
                                            owner="u1"),
                                   **sample("000000001", (10, 200, 10), caption="sandals", tags="chicago", owner="u2")})
    write_tar(root / "00001.tar", sample("000010000", (10, 10, 200), caption="Tokyo", tags="tokyo", owner="u1"))
    pd.DataFrame({"key": ["000000000"]}).to_parquet(root / "00000.parquet")
    (root / "00000_stats.json").write_text("{}")
    return root


def test_img2dataset_webdataset_shards_are_read_in_place(tmp_path, download):
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=download, workers=2))
    catalog = read_catalog(ws).set_index("source_id")
    assert sorted(catalog.index) == ["00000.tar/000000000.jpg", "00000.tar/000000001.jpg", "00001.tar/000010000.jpg"]
    assert (catalog["status"] == "kept").all()
    with tarfile.open(download / "00000.tar") as archive:
        original = archive.extractfile("000000000.jpg").read()
    row = catalog.loc["00000.tar/000000000.jpg"]
    assert row["sha256"] == hashlib.sha256(original).hexdigest()
    assert Path(locate(ws, row["image_path"])).read_bytes() == original  # stored byte for byte
    assert (row["title"], row["owner_id"], list(row["tags"])) == ("Chicago at dusk", "u1", ["chicago"])
    assert row["url"] == "https://img.example.com/000000000.jpg"
    assert catalog["label"].isna().all() and [w for w in report.warnings if "(00000.tar, 00001.tar)" in w]
    assert not [w for w in report.warnings if "not in a format" in w]  # the parquet and the stats are no photos
    assert "3 photos read from 2 tar shards in place (e.g. 00000.tar)" in report.notes

    with no_fsync():
        again = ingest_folder(ws, FolderOptions(folder=download, workers=2))
    assert (again.already_done, again.fetched) == (3, 0)  # nothing read twice


def test_one_tar_per_label_gives_its_name_and_exif_is_read_from_the_member(tmp_path):
    root = tmp_path / "classes"
    root.mkdir()
    write_tar(root / "cats.tar", {"c1.jpg": gps_jpeg(45.0, 9.0), "./c2.jpg": jpeg_bytes(color=(1, 2, 3))})
    write_tar(root / "dogs.tar", {"d1.jpg": jpeg_bytes(color=(3, 2, 1)), "../escape.jpg": jpeg_bytes(),
                                  "/abs.jpg": jpeg_bytes()})
    (root / "birds").mkdir()
    (root / "birds" / "b1.jpg").write_bytes(jpeg_bytes(color=(9, 9, 9)))
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=root, workers=1))
    catalog = read_catalog(ws).set_index("source_id")
    assert dict(catalog["label"]) == {"cats.tar/c1.jpg": "cats", "cats.tar/c2.jpg": "cats", "dogs.tar/d1.jpg": "dogs",
                                      "birds/b1.jpg": "birds"}  # names with .. or a leading / are never read
    assert catalog.loc["cats.tar/c1.jpg", "lat"] == pytest.approx(45.5) and \
        catalog.loc["cats.tar/c1.jpg", "lon"] == pytest.approx(9.0)


def test_a_member_named_in_another_encoding_is_read_and_kept_on_every_ingest(tmp_path):
    """Review BY F7: a member whose name is not UTF-8 (Latin-1 `café.jpg`, as old Windows tools write it) was
    dropped as missing_file: its record held the escaped name, the shard's index the surrogate-escaped one."""
    root = tmp_path / "shards"
    root.mkdir()
    latin = b"caf\xe9.jpg".decode("utf-8", "surrogateescape")
    write_tar(root / "beach.tar", {latin: jpeg_bytes(color=(200, 10, 10)), "plain.jpg": jpeg_bytes(color=(9, 9, 200))})
    ws = Workspace(tmp_path / "ws")
    for _ in range(2):  # the second ingest reconciles with the folder: the photo stays
        with no_fsync():
            ingest_folder(ws, FolderOptions(folder=root, workers=1))
        catalog = read_catalog(ws).set_index("source_id")
        assert dict(catalog["status"]) == {"beach.tar/caf\\xe9.jpg": "kept", "beach.tar/plain.jpg": "kept"}
    assert catalog["sha256"].nunique() == 2 and (catalog["label"] == "beach").all()


def test_a_tar_that_is_not_one_or_is_cut_short_loses_no_photo_silently(tmp_path, download):
    members = sample("000020000", (50, 50, 50)) | sample("000020001", (60, 60, 60))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    whole = buffer.getvalue()
    with tarfile.open(fileobj=io.BytesIO(whole)) as archive:
        last = archive.getmember("000020001.jpg")
    (download / "00002.tar").write_bytes(whole[: last.offset_data + last.size // 2])  # cut inside the last photo
    (download / "00003.tar").write_bytes(gzip.compress(whole))  # compressed: not a shard we read in place
    (download / "00004.tar").write_bytes(b"not a tar at all" * 100)
    (download / "00002a.tar.gz").write_bytes(gzip.compress(whole))  # a WebDataset download as it is often saved
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=download, workers=2))
    catalog = read_catalog(ws).set_index("source_id")
    assert catalog.loc["00002.tar/000020000.jpg", "status"] == "kept"
    cut = catalog.loc["00002.tar/000020001.jpg"]
    assert (cut["status"], cut["drop_reason"]) == ("dropped", "unreadable_file") and "tar ends" in cut["error_detail"]
    [warning] = [w for w in report.warnings if "tar shard" in w]
    assert warning.startswith("4 tar shards could not be read in full") and "unpack or re-pack" in warning
    assert "00002a.tar.gz (compressed or not a tar archive)" in warning  # was "(.gz 1) … convert them to JPEG"
    assert not [w for w in report.warnings if "not in a format" in w]
    # the note counts, and names, only shards that gave photos (audit G: "from 6 tar shards (e.g. 00003.tar)")
    assert "5 photos read from 3 tar shards in place (e.g. 00000.tar)" in report.notes
    assert "00002.tar (unexpected end of data; its first 4 members were read)" in warning
    assert "00003.tar (compressed or not a tar archive)" in warning  # 00004.tar: the fourth, past the 3 named
    assert (catalog["status"] == "kept").sum() == 4


def test_a_moved_folder_of_shards_is_recognised_by_its_members_bytes(tmp_path, download):
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=download, workers=1))
        moved = download.rename(tmp_path / "moved")
        again = ingest_folder(ws, FolderOptions(folder=moved, workers=1))
    assert (again.already_done, again.fetched) == (3, 0)  # the same photos, not a second namespace
    assert len(read_catalog(ws)) == 3


def test_curate_exports_webdataset_shards_ingest_back_with_their_labels(tmp_path):
    """`curate export --format webdataset` writes `<split>-%06d.tar` with a JSON per photo: ingesting the
    export takes the labels from the JSON's `label`, not from the shard names."""
    from helpers import demo_workspace
    from typer.testing import CliRunner

    from curate.cli.app import app

    ws = demo_workspace(tmp_path / "ws")
    result = CliRunner().invoke(app, ["export", "--format", "webdataset", "--out", str(tmp_path / "wds"),
                                      "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "wds" / "train-000000.tar").is_file()
    with no_fsync():
        report = ingest_folder(Workspace(tmp_path / "back"), FolderOptions(folder=tmp_path / "wds", workers=2))
    back = read_catalog(Workspace(tmp_path / "back"))
    exported = read_catalog(ws)
    exported = exported[(exported["status"] == "kept") & exported["split"].notna()]
    assert len(back) == len(exported) and (back["status"] == "kept").all()
    assert dict(zip(back["sha256"], back["label"])) == dict(zip(exported["sha256"], exported["label"]))
    assert set(back["source_id"]) == set(exported["photo_id"])  # the JSON's photo_id is the source id
    assert report.columns.recognised["label"] == "label"
    assert [w for w in report.warnings if "train-000000.tar" in w and "not taken as labels" in w]


def test_img2dataset_parquet_output_is_read_in_place(tmp_path):
    """img2dataset's `--output_format parquet` keeps each image in a `jpg` column beside its metadata, and a row
    without bytes for each failed download."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "as-parquet"
    folder.mkdir()
    images = [jpeg_bytes(color=(200, 10, 10)), None, jpeg_bytes(color=(10, 200, 10))]
    pq.write_table(pa.table({"key": ["000000000", "000000001", "000000002"], "jpg": images,
                             "url": [f"https://img.example.com/{i}.jpg" for i in range(3)],
                             "caption": ["Chicago at dusk", None, "Tokyo"], "tags": ["chicago", None, "tokyo"],
                             "status": ["success", "failed_to_download", "success"]}),
                   folder / "00000.parquet", row_group_size=2)
    (folder / "junk.parquet").write_bytes(b"not parquet" * 20)
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=folder, workers=2, label_source="tags", recipe="skylines"))
    catalog = read_catalog(ws).set_index("source_id")
    assert sorted(catalog.index) == ["00000.parquet/000000000.jpg", "00000.parquet/000000001.jpg",
                                     "00000.parquet/000000002.jpg"]
    first, failed, third = (catalog.loc[f"00000.parquet/00000000{i}.jpg"] for i in range(3))
    assert first["sha256"] == hashlib.sha256(images[0]).hexdigest() and third["status"] == "kept"
    assert (first["label"], first["title"], first["url"]) == ("chicago", "Chicago at dusk",
                                                             "https://img.example.com/0.jpg")
    assert third["label"] == "tokyo"  # in the second row group
    assert (failed["status"], failed["drop_reason"]) == ("dropped", "missing_file")
    assert "3 image rows read from 1 Parquet file in place (e.g. 00000.parquet)" in report.notes
    [warning] = [w for w in report.warnings if "Parquet" in w]
    assert warning.startswith("1 Parquet file could not be read: junk.parquet")
    with no_fsync():
        again = ingest_folder(ws, FolderOptions(folder=folder, workers=2, label_source="tags", recipe="skylines"))
    assert again.fetched == 1 and again.already_done == 2  # the failed row is tried again, nothing else


def test_curate_exports_hf_parquet_ingest_back_with_their_class_labels(tmp_path):
    """`curate export --format hf-parquet` writes `data/<split>-%06d.parquet`: an Image struct and a ClassLabel
    `label`. Ingested back, the labels are the class names, not the folder `data`."""
    from helpers import demo_workspace
    from typer.testing import CliRunner

    from curate.cli.app import app

    ws = demo_workspace(tmp_path / "ws")
    result = CliRunner().invoke(app, ["export", "--format", "hf-parquet", "--out", str(tmp_path / "hf"),
                                      "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    with no_fsync():
        ingest_folder(Workspace(tmp_path / "back"), FolderOptions(folder=tmp_path / "hf", workers=2))
    back = read_catalog(Workspace(tmp_path / "back"))
    exported = read_catalog(ws)
    exported = exported[(exported["status"] == "kept") & exported["split"].notna()]
    assert len(back) == len(exported) and (back["status"] == "kept").all()
    assert dict(zip(back["sha256"], back["label"])) == dict(zip(exported["sha256"], exported["label"]))
    assert set(back["source_id"]) == set(exported["photo_id"])


def test_a_moved_folder_of_parquet_images_keeps_its_namespace(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "p"
    folder.mkdir()
    pq.write_table(pa.table({"image": [{"bytes": jpeg_bytes(color=(i, 9, 9)), "path": f"{i}.png"} for i in range(3)]}),
                   folder / "train-00000-of-00001.parquet")
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=folder, workers=1))
        again = ingest_folder(ws, FolderOptions(folder=folder.rename(tmp_path / "moved"), workers=1))
    assert (again.already_done, again.fetched) == (3, 0) and len(read_catalog(ws)) == 3
    assert sorted(read_catalog(ws)["source_id"]) == [f"train-00000-of-00001.parquet/000000{i}.png" for i in range(3)]


def test_a_parquet_with_row_groups_too_large_to_hold_is_named_not_read(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import curate.ingest.parquet_shards as parquet_shards

    folder = tmp_path / "p"
    folder.mkdir()
    pq.write_table(pa.table({"jpg": [jpeg_bytes(color=(i, 1, 1)) for i in range(4)]}), folder / "big.parquet")
    (folder / "a.jpg").write_bytes(jpeg_bytes(color=(9, 9, 9)))
    monkeypatch.setattr(parquet_shards, "MAX_ROW_GROUP_BYTES", 1000)  # the file's one row group is larger
    with no_fsync():
        report = ingest_folder(Workspace(tmp_path / "ws"), FolderOptions(folder=folder, workers=1))
    [warning] = [w for w in report.warnings if "Parquet" in w]
    assert "big.parquet (a row group of" in warning and "smaller row groups" in warning
    assert len(read_catalog(Workspace(tmp_path / "ws"))) == 1


def test_parquet_keys_that_are_no_file_names_give_way_to_row_numbers(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "p"
    folder.mkdir()
    pq.write_table(pa.table({"key": ["../escape", "a/b"], "jpg": [jpeg_bytes(color=(1, 1, 1)), jpeg_bytes()]}),
                   folder / "00000.parquet")
    with no_fsync():
        ingest_folder(Workspace(tmp_path / "ws"), FolderOptions(folder=folder, workers=1))
    catalog = read_catalog(Workspace(tmp_path / "ws"))
    assert sorted(catalog["source_id"]) == ["00000.parquet/0000000.jpg", "00000.parquet/0000001.jpg"]
    assert (catalog["status"] == "kept").all()


def test_img2dataset_parquet_names_no_label_and_its_exif_text_gives_time_and_place(tmp_path):
    """Left to choose the labels, ingest took `00000.parquet` for a class (every photo labelled so), and the
    Parquet output's `exif` column was ignored where the same download's JSON sidecars give time and place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "as-parquet"
    folder.mkdir()
    exif = ('{"EXIF DateTimeOriginal": "2015:12:01 20:20:34", "GPS GPSLatitude": "[41, 53, 2463/100]", '
            '"GPS GPSLatitudeRef": "N", "GPS GPSLongitude": "[87, 37, 48]", "GPS GPSLongitudeRef": "W"}')
    for number in range(2):
        pq.write_table(pa.table({"key": [f"0000{number}0000", f"0000{number}0001"],
                                 "jpg": [jpeg_bytes(color=(200, 10, 10 + number)), jpeg_bytes(color=(10, 200, number))],
                                 "exif": [exif, None], "status": ["success", "success"]}),
                       folder / f"0000{number}.parquet")
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=folder, workers=2))
    catalog = read_catalog(ws).set_index("source_id")
    assert len(catalog) == 4 and catalog["label"].isna().all()
    assert any("00000.parquet, 00001.parquet" in w and "not taken as labels" in w for w in report.warnings)
    with_exif = catalog.loc["00000.parquet/000000000.jpg"]
    assert str(with_exif["taken_at"]) == "2015-12-01 20:20:34"
    assert (with_exif["lat"], with_exif["lon"]) == (pytest.approx(41.890175), pytest.approx(-87.63))
    assert pd.isna(catalog.loc["00000.parquet/000000001.jpg", "lat"])


def _hf_parquet(path, images, label, labels) -> None:
    """A Parquet file as Hugging Face datasets 5 writes one: an Image struct, a ClassLabel `label` and a
    `labels` column of lists of ClassLabels (a multi-label feature), their names in the `huggingface` metadata."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    features = {"image": {"_type": "Image"}, "label": {"names": ["cat", "dog"], "_type": "ClassLabel"},
                "labels": {"feature": {"names": ["indoor", "outdoor", "night"], "_type": "ClassLabel"},
                           "_type": "List"}}
    table = pa.table({"image": [{"bytes": data, "path": f"{i}.jpg"} for i, data in enumerate(images)],
                      "label": pa.array(label, pa.int64()), "labels": pa.array(labels, pa.list_(pa.int64()))})
    pq.write_table(table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})}),
                   path)


def test_a_multi_label_classlabel_list_is_read_as_names(tmp_path):
    """A Hugging Face multi-label column (`Sequence(ClassLabel)`, a list of class indices) is read as the class
    names: as tags with --map tags=labels, or as the label with --map label=labels (one name: the label; several:
    no label and the several-labels warning), not dropped as a list of numbers."""
    folder = tmp_path / "hf"
    folder.mkdir()
    _hf_parquet(folder / "train-00000-of-00001.parquet", [jpeg_bytes(color=(40 * i, 9, 9)) for i in range(4)],
                [0, 1, -1, 1], [[1, 2], [0], [], None])
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=folder, workers=1, column_map={"tags": "labels"}))
    catalog = read_catalog(ws).sort_values("source_id").reset_index(drop=True)
    assert catalog["label"].tolist()[:2] == ["cat", "dog"] and pd.isna(catalog["label"][2])  # -1: no label
    assert [list(tags) for tags in catalog["tags"][:3]] == [["outdoor", "night"], ["indoor"], []]
    with no_fsync():
        report = ingest_folder(Workspace(tmp_path / "ws2"), FolderOptions(folder=folder, workers=1,
                                                                           column_map={"label": "labels"}))
    catalog = read_catalog(Workspace(tmp_path / "ws2")).sort_values("source_id").reset_index(drop=True)
    assert catalog["label"][1] == "indoor" and catalog["label"].iloc[[0, 2, 3]].isna().all()
    assert any("several labels" in warning for warning in report.warnings)
