"""`curate ingest folder`: layouts, sidecars, EXIF fallback, idempotence, the real Ferrari photos."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from helpers import REALDATA, jpeg_bytes, no_fsync, png_bytes
from PIL import Image
from typer.testing import CliRunner

from curate.cli.app import app
from curate.ingest.exif import dms_to_degrees, exif_fields
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.workspace import Workspace, read_catalog, write_catalog

FERRARI = REALDATA / "flickr-ferrari"
STORE_PATH = re.compile(r"^images/([0-9a-f]{2})/([0-9a-f]{64})\.(jpg|png)$")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def ingest(tmp_path: Path, folder: Path, **options):
    ws = Workspace(tmp_path / "ws")
    report = ingest_folder(ws, FolderOptions(folder=folder, workers=2, **options))
    return ws, report, read_catalog(ws).set_index("photo_id")


def stored_files(ws: Workspace) -> dict[str, float]:
    return {str(p.relative_to(ws.root)): p.stat().st_mtime_ns for p in ws.images_dir.rglob("*") if p.is_file()}


def exif_jpeg(artist: str | None = None, gps: dict | None = None, taken: str | None = None) -> bytes:
    exif = Image.Exif()
    if artist:
        exif[0x013B] = artist
    if gps:
        exif.get_ifd(0x8825).update(gps)
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 90, 10)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_label_subfolders_give_labels_and_content_addressed_store(tmp_path):
    photos = tmp_path / "photos"
    files = {"cats/a.jpg": jpeg_bytes(color=(1, 2, 3)), "cats/b.png": png_bytes(color=(4, 5, 6)),
             "dogs/c.jpg": jpeg_bytes(color=(200, 2, 3)), "dogs/deeper/d.jpg": jpeg_bytes(color=(9, 200, 3))}
    for relative, data in files.items():
        write(photos / relative, data)
    write(photos / "dogs" / "notes.txt", b"not a photo, not ingested")
    ws, report, catalog = ingest(tmp_path, photos)
    assert report.records == len(files) and report.stored == len(files)
    assert sorted(catalog["source_id"]) == sorted(files)
    for relative, data in files.items():
        row = catalog.loc[f"folder:{relative}"]
        assert row["label"] == relative.split("/")[0]
        assert row["status"] == "kept" and pd.isna(row["drop_reason"])
        digest = hashlib.sha256(data).hexdigest()
        match = STORE_PATH.match(row["image_path"])
        assert match and match.group(1) == digest[:2] and match.group(2) == digest == row["sha256"]
        assert match.group(3) == ("png" if relative.endswith(".png") else "jpg")
        assert (ws.root / row["image_path"]).read_bytes() == data


def _sidecar_rows() -> list[dict]:
    return [
        {"FileName": "one.jpg", "pid": "101", "who": "alice@N01", "nick": "Alice", "LAT": "48.8566",
         "LON": "2.3522", "tags": "paris, Eiffel Tower", "license": "4", "shot": "2015-06-01 10:00:00",
         "kind": "tower"},
        {"FileName": "sub/two.jpg", "pid": "102", "who": "bob@N02", "nick": "", "LAT": "", "LON": "",
         "tags": "", "license": "5", "shot": "", "kind": "bridge"},
    ]


def _check_sidecar_catalog(catalog: pd.DataFrame) -> None:
    one, two = catalog.loc["folder:101"], catalog.loc["folder:102"]
    # Flickr licence id "4" is stored by its canonical name (curate.licences)
    assert (one["owner_id"], one["owner_name"], one["license"]) == ("alice@N01", "Alice", "cc-by-2.0")
    assert one["lat"] == pytest.approx(48.8566) and one["lon"] == pytest.approx(2.3522)
    assert list(one["tags"]) == ["paris", "eiffel tower"]
    assert one["taken_at"] == pd.Timestamp("2015-06-01 10:00:00")
    assert (one["label"], two["label"]) == ("tower", "bridge")
    assert two["owner_id"] == "bob@N02" and pd.isna(two["owner_name"]) and pd.isna(two["lat"])
    assert two["coord_issue"] == "missing" and list(two["tags"]) == []
    # An image without a metadata row is still ingested, under its relative path.
    loose = catalog.loc["folder:loose.jpg"]
    assert loose["status"] == "kept" and pd.isna(loose["owner_id"]) and pd.isna(loose["label"])
    assert set(catalog["status"]) == {"kept"} and len(catalog) == 3


@pytest.fixture
def flat_folder(tmp_path):
    photos = tmp_path / "flat"
    write(photos / "one.jpg", jpeg_bytes(color=(10, 20, 30)))
    write(photos / "sub" / "two.jpg", jpeg_bytes(color=(40, 50, 60)))
    write(photos / "loose.jpg", jpeg_bytes(color=(70, 80, 90)))
    return photos


COLUMN_MAP = {"file": "FileName", "source_id": "pid", "owner_id": "who", "owner_name": "nick", "lat": "LAT",
              "lon": "LON", "taken_at": "shot", "label": "kind"}


def test_flat_folder_with_csv_sidecar_and_column_map(tmp_path, flat_folder):
    sidecar = tmp_path / "meta.csv"
    with sidecar.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(_sidecar_rows()[0]))
        writer.writeheader()
        writer.writerows(_sidecar_rows())
    _, report, catalog = ingest(tmp_path, flat_folder, metadata=sidecar, column_map=COLUMN_MAP)
    assert report.stored == 3
    _check_sidecar_catalog(catalog)


@pytest.mark.parametrize("style", ["list", "lines"])
def test_flat_folder_with_json_sidecar(tmp_path, flat_folder, style):
    rows = _sidecar_rows()
    rows[0]["tags"] = ["Paris", "Eiffel Tower", "paris"]  # JSON may carry a real list
    rows[0]["LAT"], rows[0]["LON"] = 48.8566, 2.3522  # ... and real numbers
    sidecar = tmp_path / ("meta.json" if style == "list" else "meta.jsonl")
    text = json.dumps(rows) if style == "list" else "\n".join(json.dumps(r) for r in rows) + "\n"
    sidecar.write_text(text, encoding="utf-8")
    _, _, catalog = ingest(tmp_path, flat_folder, metadata=sidecar, column_map=COLUMN_MAP)
    _check_sidecar_catalog(catalog)


def test_json_lines_edge_cases(tmp_path, flat_folder):
    """One photo per line, even a single line, and U+2028 inside a string is not a line break."""
    sidecar = tmp_path / "one.jsonl"
    sidecar.write_text(json.dumps({"file": "one.jpg", "id": "7", "title": "a\u2028b"}, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    _, _, catalog = ingest(tmp_path, flat_folder, metadata=sidecar)
    assert catalog.loc["folder:7", "title"] == "a\u2028b" and catalog.loc["folder:7", "status"] == "kept"
    two = tmp_path / "two.jsonl"
    two.write_text("\n".join(json.dumps({"file": f, "id": i, "title": "x\u2028y"}, ensure_ascii=False)
                             for f, i in (("one.jpg", "8"), ("loose.jpg", "9"))), encoding="utf-8")
    _, _, catalog = ingest(tmp_path / "second", flat_folder, metadata=two)
    assert {"folder:8", "folder:9", "folder:sub/two.jpg"} == set(catalog.index)


def test_label_column_via_cli_and_default_sidecar_name(tmp_path, flat_folder):
    (flat_folder / "metadata.csv").write_text("file,id,colour\none.jpg,1,red\nsub/two.jpg,2,blue\n")
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["ingest", "folder", str(flat_folder), "--label-column", "colour",
                                      "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    assert "3 rows" in result.output
    catalog = read_catalog(Workspace(ws)).set_index("photo_id")
    assert catalog.loc["folder:1", "label"] == "red" and catalog.loc["folder:2", "label"] == "blue"
    assert pd.isna(catalog.loc["folder:loose.jpg", "label"])


def test_exif_fallback_fills_position_time_and_owner(tmp_path):
    photos = tmp_path / "exif"
    gps = {1: "S", 2: (33.0, 51.0, 54.0), 3: "W", 4: (70.0, 30.0, 0.0)}
    write(photos / "gps.jpg", exif_jpeg(artist="Jane Doe", gps=gps, taken="2019:07:04 18:30:00"))
    write(photos / "partial.jpg", exif_jpeg(artist="Exif Person", gps=gps))
    write(photos / "bare.jpg", jpeg_bytes())
    # The sidecar gives partial.jpg an owner and a position: those win over EXIF.
    (tmp_path / "m.csv").write_text("file,owner,lat,lon\npartial.jpg,meta_owner,1.5,2.5\n")
    _, _, catalog = ingest(tmp_path, photos, metadata=tmp_path / "m.csv")
    row = catalog.loc["folder:gps.jpg"]
    assert row["lat"] == pytest.approx(-(33 + 51 / 60 + 54 / 3600))
    assert row["lon"] == pytest.approx(-70.5)
    assert pd.isna(row["coord_issue"])
    assert row["taken_at"] == pd.Timestamp("2019-07-04 18:30:00")
    assert row["owner_name"] == row["owner_id"] == "Jane Doe"
    partial = catalog.loc["folder:partial.jpg"]
    assert (partial["lat"], partial["lon"], partial["owner_id"]) == (1.5, 2.5, "meta_owner")
    assert partial["owner_name"] == "Exif Person"  # the sidecar left it empty
    bare = catalog.loc["folder:bare.jpg"]
    assert pd.isna(bare["lat"]) and bare["coord_issue"] == "missing" and pd.isna(bare["owner_id"])


@pytest.mark.parametrize("dms, ref, expected", [
    ((10, 30, 0), "N", 10.5), ((10, 30, 0), "S", -10.5), ((0, 0, 36), b"W\x00", -0.01),
    ((151, 12, 36), "E", 151.21), ((1, 2), "N", None), (None, "N", None), ((1, float("nan"), 0), "N", None),
])
def test_dms_to_degrees(dms, ref, expected):
    result = dms_to_degrees(dms, ref)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_exif_fields_ignores_half_a_position():
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (10.0, 0.0, 0.0)})  # latitude only
    assert "lat" not in exif_fields(exif) and "lon" not in exif_fields(exif)


def test_ingest_twice_gives_same_catalog_and_stores_nothing_new(tmp_path):
    photos = tmp_path / "photos"
    for index in range(4):
        write(photos / ("a" if index % 2 else "b") / f"{index}.jpg", jpeg_bytes(color=(index * 40, 10, 10)))
    write(photos / "a" / "broken.jpg", b"definitely not a jpeg")
    write(photos / "a" / "copy.jpg", jpeg_bytes(color=(0, 10, 10)))  # same bytes as b/0.jpg
    ws = Workspace(tmp_path / "ws")
    options = FolderOptions(folder=photos, workers=2)
    ingest_folder(ws, options)
    first, files = read_catalog(ws), stored_files(ws)
    assert len(files) == 4  # five valid photos, two with the same bytes
    second_report = ingest_folder(ws, options)
    assert second_report.fetched == 0 and second_report.already_done == 6
    pd.testing.assert_frame_equal(read_catalog(ws), first)
    assert stored_files(ws) == files


def test_retry_picks_up_a_file_fixed_since_the_last_run(tmp_path):
    photos = tmp_path / "photos"
    write(photos / "here.jpg", jpeg_bytes())
    (tmp_path / "m.csv").write_text("file,id\nhere.jpg,1\nlater.jpg,2\n")
    ws = Workspace(tmp_path / "ws")
    options = FolderOptions(folder=photos, metadata=tmp_path / "m.csv", workers=1)
    ingest_folder(ws, options)
    assert read_catalog(ws).set_index("photo_id").loc["folder:2", "drop_reason"] == "missing_file"
    write(photos / "later.jpg", jpeg_bytes(color=(1, 1, 1)))
    ingest_folder(ws, options)
    catalog = read_catalog(ws).set_index("photo_id")
    assert catalog.loc["folder:2", "status"] == "kept" and len(catalog) == 2


# ---- the real Ferrari photos --------------------------------------------------------------------

@pytest.fixture(scope="module")
def ferrari(tmp_path_factory):
    if not (FERRARI / "metadata.csv").is_file():
        pytest.skip(f"real data not found at {FERRARI} (../shared/realdata is absent in this checkout)")
    ws = Workspace(tmp_path_factory.mktemp("ferrari") / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=FERRARI, metadata=FERRARI / "metadata.csv", workers=2))
    metadata = pd.read_csv(FERRARI / "metadata.csv", dtype=str, keep_default_na=False)
    return ws, report, read_catalog(ws), metadata


def test_ferrari_rows_and_folder_labels(ferrari):
    _, report, catalog, metadata = ferrari
    jpegs = sorted(FERRARI.glob("*/*.jpg"))
    assert len(catalog) == len(jpegs) == len(metadata) == 100
    assert (catalog["status"] == "kept").all() and report.stored == 100
    expected = pd.Series([p.parent.name for p in jpegs]).value_counts().sort_index()
    assert sorted(expected.tolist()) == [18, 19, 26, 37]  # per the data set's PROVENANCE.md
    assert catalog["label"].value_counts().sort_index().to_dict() == expected.to_dict()
    assert (catalog["image_format"] == "JPEG").all()


def test_ferrari_owners_licences_tags_and_geotags(ferrari):
    _, _, catalog, metadata = ferrari
    rows = catalog.set_index("source_id").loc[metadata["photo_id"]]
    assert catalog["owner_id"].nunique() == metadata["owner_nsid"].nunique() == 20
    assert rows["owner_id"].tolist() == metadata["owner_nsid"].tolist()
    assert rows["owner_name"].tolist() == metadata["username"].tolist()
    flickr_ids = {"4": "cc-by-2.0", "5": "cc-by-sa-2.0"}  # the Flickr licence ids this folder uses
    assert set(metadata["license"]) == set(flickr_ids)
    assert rows["license"].tolist() == metadata["license"].map(flickr_ids).tolist()
    assert [set(tags) for tags in rows["tags"]] == [set(t.lower().split()) for t in metadata["tags"]]
    geotagged = metadata["latitude"] != ""
    assert geotagged.sum() == 40 and rows["lat"].notna().sum() == 40
    pd.testing.assert_series_equal(rows.loc[geotagged.to_numpy(), "lat"].reset_index(drop=True),
                                   metadata.loc[geotagged, "latitude"].astype(float).reset_index(drop=True),
                                   check_names=False)
    pd.testing.assert_series_equal(rows.loc[geotagged.to_numpy(), "lon"].reset_index(drop=True),
                                   metadata.loc[geotagged, "longitude"].astype(float).reset_index(drop=True),
                                   check_names=False)


def test_ferrari_labels_from_column_via_cli(ferrari, tmp_path):
    """--label-column on real metadata; a few photos per colour keep the suite fast (one full run above)."""
    _, _, _, metadata = ferrari
    subset = metadata.groupby("color_class").head(3)
    copy = tmp_path / "ferrari"
    for relative in subset["file"]:
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        (copy / relative).write_bytes((FERRARI / relative).read_bytes())
    subset.to_csv(copy / "metadata.csv", index=False)
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["ingest", "folder", str(copy), "--metadata", str(copy / "metadata.csv"),
                                      "--label-column", "color_class", "--workers", "2", "-w", str(ws)])
    assert result.exit_code == 0, result.output
    catalog = read_catalog(Workspace(ws)).set_index("source_id").loc[subset["photo_id"]]
    assert (catalog["status"] == "kept").all()
    assert catalog["label"].tolist() == subset["color_class"].tolist()


@pytest.mark.parametrize("label_from, expected", [
    ("folder", {"city/one.jpg": "city", "city/two.jpg": "city"}),
    ("tags", {"city/one.jpg": "chicago", "city/two.jpg": None}),  # two.jpg names two cities: ambiguous
    ("none", {"city/one.jpg": None, "city/two.jpg": None}),
])
def test_label_sources_with_a_recipe(tmp_path, label_from, expected):
    photos = tmp_path / "photos"
    write(photos / "city" / "one.jpg", jpeg_bytes(color=(1, 1, 1)))
    write(photos / "city" / "two.jpg", jpeg_bytes(color=(2, 2, 2)))
    (photos / "metadata.csv").write_text("file,tags\ncity/one.jpg,chicago skyline\ncity/two.jpg,\"tokyo, london\"\n")
    _, _, catalog = ingest(tmp_path, photos, recipe="skylines", label_source=label_from)
    labels = {source_id: (None if pd.isna(label) else label)
              for source_id, label in zip(catalog["source_id"], catalog["label"])}
    assert labels == expected
    tag_labels = {source_id: sorted(found) for source_id, found in zip(catalog["source_id"], catalog["tag_labels"])}
    assert tag_labels == ({"city/one.jpg": [], "city/two.jpg": []} if label_from == "none"
                          else {"city/one.jpg": ["chicago"], "city/two.jpg": ["london", "tokyo"]})


def test_a_recipe_without_labels_leaves_the_folder_labels_as_they_are(tmp_path):
    """Audit F-7: a recipe may leave [[labels]] out when its folder source labels the photos. The folder names
    are then the labels as given, no spelling is called undeclared, no tag names a label; and a folder with
    nothing to label its photos by (no label subfolders, no label column) is one line, not unlabelled photos."""
    from curate.errors import UsageError
    from curate.recipes import Recipe

    plain = Recipe("plain", ())
    photos = tmp_path / "photos"
    write(photos / "Coast" / "one.jpg", jpeg_bytes(color=(1, 1, 1)))
    write(photos / "coast" / "two.jpg", jpeg_bytes(color=(2, 2, 2)))
    write(photos / "Forest" / "three.jpg", jpeg_bytes(color=(3, 3, 3)))
    (photos / "metadata.csv").write_text("file,tags\nCoast/one.jpg,forest coast\n")
    _, report, catalog = ingest(tmp_path, photos, recipe=plain)
    assert dict(zip(catalog["source_id"], catalog["label"])) == {"Coast/one.jpg": "Coast", "coast/two.jpg": "coast",
                                                                 "Forest/three.jpg": "Forest"}
    assert catalog["tag_labels"].map(len).eq(0).all()
    assert not [w for w in report.warnings if "not among recipe" in w], report.warnings
    [apart] = [w for w in report.warnings if "are separate classes" in w]
    assert "list the label in recipe plain's [[labels]]" in apart and "--recipe NAME" not in apart
    flat = tmp_path / "flat"
    write(flat / "a.jpg", jpeg_bytes(color=(4, 4, 4)))
    with pytest.raises(UsageError, match="no label subfolders and no label column, and recipe plain lists no"):
        ingest(tmp_path / "x", flat, recipe=plain)
    with pytest.raises(UsageError, match="--label-from tags needs a recipe with"):
        ingest(tmp_path / "y", photos, recipe=plain, label_source="tags")
    _, _, catalog = ingest(tmp_path / "z", flat, recipe=plain, label_source="none")
    assert catalog["label"].isna().all()


def test_a_clock_at_zero_or_a_future_date_is_no_time():
    """Audit AS 9: 1970-01-01 (a camera whose clock was never set) and 2099 were taken at face value; the
    split would join every owner-less photo carrying one such date near one place into one walk."""
    from curate.ingest.exif import taken_at

    for stamp in ("1970:01:01 00:00:00", "1970:01:01 00:04:31", "1980:01:01 00:00:07", "2099:01:01 00:00:00"):
        exif = Image.Exif()
        exif.get_ifd(0x8769).update({0x9003: stamp})
        assert taken_at(exif) is None, stamp
        exif.get_ifd(0x8825).update({29: "2014:06:07", 7: (8.0, 24.0, 5.0)})  # the next source: the GPS clock
        assert taken_at(exif) == "2014-06-07 08:24:05", stamp
    scanned = Image.Exif()
    scanned.get_ifd(0x8769).update({0x9003: "1970:01:02 14:05:00"})  # a scan's real date the day after: kept
    assert taken_at(scanned) == "1970-01-02 14:05:00"


def test_taken_at_falls_back_past_a_blank_original_date():
    """Cameras write '0000:00:00 00:00:00' when their clock was unset; scanners and some phones write
    only DateTimeDigitized or the GPS clock. The next usable source gives the time; DateTime (the file's
    last change, e.g. an edit) is never read as the time the photo was taken."""
    from curate.ingest.exif import taken_at

    exif = Image.Exif()
    exif.get_ifd(0x8769).update({0x9003: "0000:00:00 00:00:00", 0x9004: "2021:05:01 09:15:00"})
    assert taken_at(exif) == "2021-05-01 09:15:00"
    gps_only = Image.Exif()
    gps_only.get_ifd(0x8825).update({29: "2014:06:07", 7: (8.0, 24.0, 5.0)})
    assert taken_at(gps_only) == "2014-06-07 08:24:05"
    edited = Image.Exif()
    edited[0x0132] = "2024:01:01 12:00:00"  # DateTime alone: not when the photo was taken
    assert taken_at(edited) is None
    broken = Image.Exif()
    broken.get_ifd(0x8769)[0x9003] = "2019:13:45 25:00:00"
    broken.get_ifd(0x8825).update({29: "2019:02:30", 7: (1.0, 2.0, 3.0)})  # no 30 February either
    assert taken_at(broken) is None


def test_taken_at_reads_mapillarys_capture_time_and_nothing_else_of_it():
    from curate.ingest.exif import exif_fields

    exif = Image.Exif()
    exif[0x010E] = json.dumps({"MAPCaptureTime": "2014_06_07_10_24_05_656", "MAPSettingsEmail": "someone@example.com",
                               "MAPDeviceName": "Someone's"})
    fields = exif_fields(exif)
    assert fields == {"taken_at": "2014-06-07 10:24:05.656"}
    for junk in ("a plain caption", "{not json", json.dumps(["MAPCaptureTime"]),
                 json.dumps({"MAPCaptureTime": "2014_06_31_10_24_05"}), json.dumps({"MAPCaptureTime": 3})):
        exif[0x010E] = junk
        assert "taken_at" not in exif_fields(exif), junk


LUND = REALDATA / "opensfm-lund"


@pytest.mark.skipif(not LUND.is_dir(), reason="needs ../shared/realdata/opensfm-lund")
def test_real_mapillary_walk_is_dated_and_split_as_one_group(tmp_path):
    """The 29 real Lund frames carry GPS and no owner; their only time is Mapillary's. Dated, they are one
    walk, so the split keeps them together (they split 22/1/6 undated) and no 'undated' warning is left."""
    from curate.split import SplitConfig, split_catalog

    photos = tmp_path / "photos"
    for frame in sorted(LUND.glob("*.jpg")):
        write(photos / "lund" / frame.name, frame.read_bytes())
    for index, source in enumerate(sorted(FERRARI.rglob("*.jpg"))[:30]):
        write(photos / "ferrari" / f"f{index:02d}.jpg", source.read_bytes())
    _, _, catalog = ingest(tmp_path, photos)
    lund = catalog[catalog["label"] == "lund"]
    assert len(lund) == 29 and lund["taken_at"].notna().all() and lund["owner_id"].isna().all()
    assert lund["taken_at"].min() == pd.Timestamp("2014-06-07 10:24:05.656")
    split, report = split_catalog(catalog.reset_index(), SplitConfig())
    assert split.loc[split["label"] == "lund", "split"].nunique() == 1
    assert not any("undated" in warning or "taken_at" in warning for warning in report.warnings)


def test_a_photo_whose_file_was_replaced_since_it_was_stored_is_named(tmp_path):
    """Audit AN: a source photo edited or replaced after ingest was ignored without a word (an ingest never
    replaces a stored image), while `curate run` re-ran every step because the folder changed. A re-run names
    the photos whose file no longer has its stored image's size, and keeps the stored copy."""
    folder = tmp_path / "photos"
    for name, colour in (("cats/a.jpg", (200, 10, 10)), ("cats/b.jpg", (10, 200, 10))):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(jpeg_bytes(color=colour))
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        first = ingest_folder(ws, FolderOptions(folder=folder, workers=1))
        stored = read_catalog(ws).set_index("source_id").loc["cats/b.jpg", "sha256"]
        (folder / "cats" / "b.jpg").write_bytes(jpeg_bytes(96, 80, color=(10, 200, 10)))
        report = ingest_folder(ws, FolderOptions(folder=folder, workers=1))
    assert not [w for w in first.warnings if "another size" in w]
    [warning] = [w for w in report.warnings if "another size" in w]
    assert warning.startswith("1 photo of this folder has a file of another size than the image stored from it (e.g. ")
    assert "cats/b.jpg" in warning and "give it a new name" in warning
    assert read_catalog(ws).set_index("source_id").loc["cats/b.jpg", "sha256"] == stored  # the stored copy stays


def test_a_first_ingest_with_a_repeated_photo_id_calls_nothing_replaced(tmp_path):
    """Audit AQ: on a first ingest, a sidecar row whose photo_id repeats another's (dropped as
    duplicate_photo_id) was called "a file of another size than the image stored from it"."""
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg_bytes(color=(200, 10, 10)))
    (folder / "b.jpg").write_bytes(jpeg_bytes(96, 80, color=(10, 200, 10)))
    (tmp_path / "meta.csv").write_text("file,photo_id,label\na.jpg,42,cats\nb.jpg,42,cats\n", encoding="utf-8")
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=folder, metadata=tmp_path / "meta.csv", workers=1))
    assert not [w for w in report.warnings if "another size" in w], report.warnings


def test_a_photo_deleted_from_the_folder_is_dropped_and_comes_back_with_its_file(tmp_path):
    """An audit deleted photos from its folder and re-ran: they stayed kept and in their splits, so they were
    trained and tested on. A photo of this folder whose file is gone is dropped as missing_file (a warning names
    it); its row and stored image stay, and it is kept again when the file is back. Another folder's photos are
    not touched."""
    folder, other = tmp_path / "photos", tmp_path / "other"
    for name, colour in (("cats/a.jpg", (200, 10, 10)), ("cats/b.jpg", (10, 200, 10)), ("dogs/c.jpg", (10, 10, 200))):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(jpeg_bytes(color=colour))
    (other / "birds").mkdir(parents=True)
    (other / "birds" / "d.jpg").write_bytes(jpeg_bytes(color=(90, 90, 20)))
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=folder, workers=1))
        ingest_folder(ws, FolderOptions(folder=other, workers=1))
        kept_bytes = (folder / "cats" / "b.jpg").read_bytes()
        (folder / "cats" / "b.jpg").unlink()
        report = ingest_folder(ws, FolderOptions(folder=folder, workers=1))
    catalog = read_catalog(ws).set_index("source_id")
    gone = catalog.loc["cats/b.jpg"]
    assert (gone["status"], gone["drop_reason"], gone["drop_stage"]) == ("dropped", "missing_file", "ingest")
    assert gone["sha256"] and gone["label"] == "cats"  # the row and its image stay
    assert (catalog.drop(index="cats/b.jpg")["status"] == "kept").all()  # the other folder's photo too
    [warning] = [w for w in report.warnings if "no longer in it" in w]
    assert warning.startswith("1 photo ingested from this folder before is no longer in it (e.g. cats/b.jpg)")
    with no_fsync():
        (folder / "cats" / "b.jpg").write_bytes(kept_bytes)
        back = ingest_folder(ws, FolderOptions(folder=folder, workers=1))
    assert read_catalog(ws).set_index("source_id").loc["cats/b.jpg", "status"] == "kept"
    assert not [w for w in back.warnings if "no longer in it" in w]


def test_a_deleted_photo_whose_sidecar_row_stays_is_dropped_too_and_so_is_a_later_stages_drop(tmp_path):
    """Audit BV F-3: a scraper's metadata.csv keeps its rows while bad photos are deleted in a file browser.
    The reconcile compared the catalog with the rows this ingest listed, so a photo whose row stayed kept its
    split and was exported from the stored copy; one a later stage had dropped kept that drop, reinstated by
    the next filter. Both are now missing_file at ingest; a photo ingest itself dropped keeps its reason."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, colour in (("a.jpg", (200, 10, 10)), ("b.jpg", (10, 200, 10)), ("c.jpg", (10, 10, 200)),
                         ("d.jpg", (90, 90, 20))):
        (folder / name).write_bytes(jpeg_bytes(color=colour))
    meta = tmp_path / "meta.csv"
    meta.write_text("file,label\na.jpg,x\nb.jpg,x\nc.jpg,y\nd.jpg,y\nnever.jpg,y\n", encoding="utf-8")
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=folder, metadata=meta, workers=1))
        catalog = read_catalog(ws)
        later = catalog["source_id"] == "c.jpg"  # as if the prefilter had dropped it
        catalog.loc[later, ["status", "drop_reason", "drop_stage"]] = ["dropped", "off_topic", "prefilter"]
        write_catalog(ws, catalog)
        (folder / "b.jpg").unlink()
        (folder / "c.jpg").unlink()
        report = ingest_folder(ws, FolderOptions(folder=folder, metadata=meta, workers=1))
    rows = read_catalog(ws).set_index("source_id")
    for gone in ("b.jpg", "c.jpg"):
        assert tuple(rows.loc[gone, ["status", "drop_reason", "drop_stage"]]) == ("dropped", "missing_file", "ingest")
    assert tuple(rows.loc["never.jpg", ["drop_reason", "error_detail"]]) != ("missing_file", "no longer in the folder")
    assert (rows.loc[["a.jpg", "d.jpg"], "status"] == "kept").all()
    [warning] = [w for w in report.warnings if "no longer in it" in w]
    assert warning.startswith("2 photos ingested from this folder before are no longer in it")


def test_photos_the_scan_passes_over_but_the_sidecar_names_stay_kept(tmp_path):
    """Review BY: deciding "gone" by the scan's names alone dropped present photos on their first ingest: a
    sidecar row naming a file without an image extension, a hidden file or one through a linked folder inside
    the folder, and a loose file whose name is not UTF-8. Deleting such a file still drops it."""
    import os

    folder = tmp_path / "photos"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    (folder / "a" / "noext_photo").write_bytes(jpeg_bytes(color=(200, 10, 10)))
    (folder / "a" / ".hidden.jpg").write_bytes(jpeg_bytes(color=(10, 200, 10)))
    (folder / "b" / "real.jpg").write_bytes(jpeg_bytes(color=(10, 10, 200)))
    (folder / "alias").symlink_to("b")
    with open(os.path.join(os.fsencode(folder), b"a", b"caf\xe9.jpg"), "wb") as handle:
        handle.write(jpeg_bytes(color=(90, 90, 20)))
    meta = tmp_path / "meta.csv"
    meta.write_text("file,owner_id\na/noext_photo,o1\na/.hidden.jpg,o2\nalias/real.jpg,o3\n", encoding="utf-8")
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        for _ in range(2):  # the first ingest and a re-run
            report = ingest_folder(ws, FolderOptions(folder=folder, metadata=meta, workers=1))
            assert not [w for w in report.warnings if "no longer in it" in w], report.warnings
            rows = read_catalog(ws).set_index("source_id")
            named = ["a/noext_photo", "a/.hidden.jpg", "alias/real.jpg"]
            assert (rows.loc[named, "status"] == "kept").all(), rows[["status", "drop_reason"]]
            assert (rows["drop_reason"] != "missing_file").all(), rows[["status", "drop_reason"]]
        (folder / "a" / "noext_photo").unlink()
        report = ingest_folder(ws, FolderOptions(folder=folder, metadata=meta, workers=1))
    assert read_catalog(ws).set_index("source_id").loc["a/noext_photo", "drop_reason"] == "missing_file"
    [warning] = [w for w in report.warnings if "no longer in it" in w]
    assert warning.startswith("1 photo ingested from this folder before is no longer in it (e.g. a/noext_photo)")


def test_a_hidden_photo_is_counted_in_a_warning_and_os_clutter_is_not(tmp_path):
    """Audit AS 8: `.hidden_real_photo.jpg` vanished without a trace, while other files left out were
    counted. macOS's `._` copies, `.DS_Store` and hidden folders stay silent: they are never photos."""
    photos = tmp_path / "photos"
    (photos / "a" / ".thumbnails").mkdir(parents=True)
    (photos / "a" / "one.jpg").write_bytes(jpeg_bytes())
    (photos / "a" / ".two.jpg").write_bytes(jpeg_bytes(color=(9, 9, 200)))
    (photos / "a" / "._one.jpg").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble
    (photos / "a" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (photos / "a" / ".thumbnails" / "one.jpg").write_bytes(jpeg_bytes())
    report = ingest_folder(Workspace(tmp_path / "ws"), FolderOptions(folder=photos, workers=1))
    hidden = [warning for warning in report.warnings if "hidden" in warning]
    assert len(hidden) == 1 and hidden[0].startswith("1 hidden photo file") and "a/.two.jpg" in hidden[0]
    assert len(read_catalog(Workspace(tmp_path / "ws"))) == 1


def test_dates_as_exiftool_writes_them_are_read_and_unreadable_ones_are_counted(tmp_path):
    """Audit AV2: `exiftool -csv` writes `2022:06:05 09:00:00`, and pandas read it as year 1 (the time kept),
    so 30 photos a month apart became one walk and the split put them all in train. Day/month dates are read
    in the one order the column allows (13/01 says day first), and what could not be read is counted."""
    photos = tmp_path / "photos"
    for index in range(5):
        write(photos / f"p{index}.jpg", jpeg_bytes(color=(10 + 40 * index, 20, 30)))
    sidecar = tmp_path / "exiftool.csv"
    sidecar.write_text("SourceFile,DateTimeOriginal,Created\n"
                       "p0.jpg,2022:06:05 09:00:00,13/01/2022\n"
                       "p1.jpg,2022:06:06 09:02:00,12/01/2022 08:30\n"
                       "p2.jpg,2022:07:01,0001-01-01\n"
                       "p3.jpg,soon,\n"
                       "p4.jpg,,\n", encoding="utf-8")
    for column, expected in (("DateTimeOriginal", ["2022-06-05 09:00:00", "2022-06-06 09:02:00", "2022-07-01",
                                                   None, None]),
                             ("Created", ["2022-01-13", "2022-01-12 08:30:00", None, None, None])):
        ws, report, catalog = ingest(tmp_path / column, photos, metadata=sidecar,
                                     column_map={"file": "SourceFile", "taken_at": column})
        taken = catalog.sort_values("source_id")["taken_at"].tolist()
        assert [str(t) for t in taken] == [str(pd.Timestamp(value)) if value else "NaT" for value in expected]
        lines = [line for line in report.warnings if "taken_at value" in line]
        if column == "DateTimeOriginal":
            assert lines == ["1 taken_at value could not be read as a date (e.g. 'soon') and was left empty: write "
                             "dates as 2022-06-05 09:00:00"]
        else:
            assert lines == ["1 taken_at value before 1826, in the future or on a camera clock never set (1970-01-01, "
                             "1980-01-01; e.g. '0001-01-01') was left empty"]


def test_a_sidecar_date_no_reader_can_use_gives_way_to_the_photos_exif_time(tmp_path):
    """Audit AX: `0000:00:00 00:00:00` (EXIF's own "unknown"), epoch seconds or a time alone in the metadata hid
    the photo's EXIF time (an empty cell did not), so a phone's walk was split over train, val and test; a time
    alone was dated today and a clock at zero (1970-01-01) kept, where EXIF's own are dropped."""
    photos = tmp_path / "photos"
    cells = {"zero": "0000:00:00 00:00:00", "epoch": "1402129445", "clock": "10:24:05", "unix": "1970-01-01 00:04:31",
             "blank": "", "given": "2021-03-04 05:06:07"}
    for name in cells:
        write(photos / f"{name}.jpg", exif_jpeg(taken="2019:07:04 18:30:00"))
        write(photos / f"{name}_noexif.jpg", jpeg_bytes(color=(len(name) * 20, 40, 60)))
    rows = [f"{name}{suffix}.jpg,{cell}" for name, cell in cells.items() for suffix in ("", "_noexif")]
    (tmp_path / "m.csv").write_text("file,taken_at\n" + "\n".join(rows) + "\n")
    _, report, catalog = ingest(tmp_path, photos, metadata=tmp_path / "m.csv")
    taken = catalog.set_index("source_id")["taken_at"]
    for name in ("zero", "epoch", "clock", "unix", "blank"):
        assert taken[f"{name}.jpg"] == pd.Timestamp("2019-07-04 18:30:00"), name  # the photo's own time
        assert pd.isna(taken[f"{name}_noexif.jpg"]), name  # not today, not 1970
    assert taken["given.jpg"] == taken["given_noexif.jpg"] == pd.Timestamp("2021-03-04 05:06:07")  # the sidecar wins
    lines = [line for line in report.warnings if "taken_at value" in line]
    # only the cells nothing replaced are counted: 3 unreadable, 1 on a clock at zero
    assert any(line.startswith("3 taken_at values could not be read") for line in lines), lines
    assert any(line.startswith("1 taken_at value before 1826, in the future or on a camera clock") for line in lines)


def test_a_row_naming_a_file_in_another_case_joins_it_and_rowless_photos_are_noted(tmp_path):
    """Audit CK 9: a row naming `a_b.JPG` for the folder's `a_B.JPG` was dropped as missing_file while the photo
    came in again without its metadata, and photos without a row were ingested without a word."""
    folder = tmp_path / "photos"
    write(folder / "Sunset_B.JPG", jpeg_bytes(color=(200, 90, 10)))
    write(folder / "exact.jpg", jpeg_bytes(color=(10, 90, 200)))
    write(folder / "no_row.jpg", jpeg_bytes(color=(90, 200, 10)))
    (folder / "metadata.csv").write_text("file,owner_id,tags\nsunset_b.jpg,12@N01,beach\nexact.jpg,34@N02,city\n")
    ws, report, catalog = ingest(tmp_path, folder)
    by_owner = catalog.set_index("owner_id", drop=False)
    assert len(catalog) == 3 and (catalog["status"] == "kept").all()
    sunset = catalog[catalog["owner_id"] == "12@N01"].iloc[0]
    assert sunset["source_id"] == "sunset_b.jpg" and list(sunset["tags"]) == ["beach"]  # the id as the row gives it
    assert by_owner.loc["34@N02", "source_id"] == "exact.jpg"
    assert catalog["owner_id"].isna().sum() == 1  # only no_row.jpg lacks metadata
    said = " ".join(report.notes)
    assert "differs in case from the one in the folder (e.g. sunset_b.jpg is Sunset_B.JPG)" in said
    assert "1 photo in the folder has no row in the metadata (e.g. no_row.jpg)" in said


def test_a_rowless_photo_whose_file_a_row_now_names_is_not_said_to_be_gone(tmp_path):
    """Audit CU: a photo ingested without a metadata row (its row named the file in another place or case) was
    said to be "no longer in" the folder once a later ingest joined its file to the row, though the file was
    there; it is the same file under the row's id now."""
    folder = tmp_path / "photos"
    write(folder / "elsewhere" / "Sunset_B.JPG", jpeg_bytes(color=(200, 90, 10)))
    write(folder / "exact.jpg", jpeg_bytes(color=(10, 90, 200)))
    (folder / "metadata.csv").write_text("file,owner_id\nsunset_b.jpg,12@N01\nexact.jpg,34@N02\n")
    ingest(tmp_path, folder)  # the row's file is missing; the photo comes in without its row
    (folder / "elsewhere" / "Sunset_B.JPG").rename(folder / "Sunset_B.JPG")
    ws, report, catalog = ingest(tmp_path, folder)  # the row joins the file now (case aside)
    said = " ".join(report.warnings)
    assert "no longer in it" not in said
    assert "another id now" in said and "sunset_b.jpg" in said
    row = catalog[catalog["source_id"] == "sunset_b.jpg"].iloc[0]
    assert row["status"] == "kept" and row["owner_id"] == "12@N01"
