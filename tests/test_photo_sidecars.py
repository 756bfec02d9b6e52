"""`curate ingest folder` reads one JSON sidecar per photo (img2dataset's `files` output, Google Takeout) and
does not take a download's shard folders, a camera's folders or Takeout's year folders as labels."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import jpeg_bytes, no_fsync
from PIL import Image
from typer.testing import CliRunner

from curate.cli.app import app
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.workspace import Workspace, read_catalog

EXIF_TEXT = json.dumps({"Image Make": "Canon", "EXIF DateTimeOriginal": "2016:07:04 18:30:00",
                        "GPS GPSLatitude": "[41, 52, 48]", "GPS GPSLatitudeRef": "N",
                        "GPS GPSLongitude": "[87, 37, 12]", "GPS GPSLongitudeRef": "W"})


def write_img2dataset(root: Path) -> None:
    """Two shards of img2dataset's `files` output, with the files it writes beside them."""
    samples = [
        ("00000", "000000000", {"caption": "Chicago from the lake", "tags": "chicago,skyline", "owner": "u1",
                                "exif": EXIF_TEXT}),
        ("00000", "000000001", {"caption": "my sandals", "tags": "chicago", "owner": "u2", "exif": "{}"}),
        ("00001", "000010000", {"caption": "Tokyo at night", "tags": "tokyo,skyline", "owner": "u1", "exif": None}),
    ]
    for shard, key, extra in samples:
        folder = root / shard
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{key}.jpg").write_bytes(jpeg_bytes(color=(int(key[-1]) * 60, 90, 40)))
        (folder / f"{key}.txt").write_text(extra["caption"])
        meta = {"url": f"https://img.example.com/{key}.jpg", "key": key, "status": "success", "error_message": None,
                "width": 64, "height": 48, "original_width": 1024, "original_height": 768, "sha256": "ab" * 32,
                **extra}
        (folder / f"{key}.json").write_text(json.dumps(meta, indent=4))
    pd.DataFrame({"key": ["000000000"], "status": ["success"]}).to_parquet(root / "00000.parquet")
    (root / "00000_stats.json").write_text(json.dumps({"count": 2, "successes": 2}))


def by_key(catalog: pd.DataFrame) -> pd.DataFrame:
    return catalog.assign(key=catalog["source_id"].str.rsplit("/", n=1).str[-1]).set_index("key")


def test_img2dataset_output_reads_each_photos_json_and_no_shard_becomes_a_label(tmp_path):
    write_img2dataset(tmp_path / "download")
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=tmp_path / "download", workers=1))
    catalog = by_key(read_catalog(ws))
    assert len(catalog) == 3 and (catalog["status"] == "kept").all()
    lake = catalog.loc["000000000.jpg"]
    assert lake["url"] == "https://img.example.com/000000000.jpg" and lake["title"] == "Chicago from the lake"
    assert list(lake["tags"]) == ["chicago", "skyline"] and lake["owner_id"] == "u1"
    assert str(lake["taken_at"]) == "2016-07-04 18:30:00"  # from img2dataset's exif text
    assert lake["lat"] == pytest.approx(41.88) and lake["lon"] == pytest.approx(-87.62)
    assert pd.isna(catalog.loc["000000001.jpg", "lat"]) and pd.isna(catalog.loc["000010000.jpg", "taken_at"])
    assert catalog["label"].isna().all()  # 00000/ and 00001/ are shards, not classes
    [shards] = [w for w in report.warnings if "shards" in w]
    assert "(00000, 00001)" in shards and "--label-from folder" in shards
    assert not [w for w in report.warnings if "not in a format" in w or "no label subfolders" in w]
    assert {"url": "url", "title": "caption", "tags": "tags", "owner_id": "owner"}.items() <= \
        report.columns.recognised.items()
    assert {"key", "status", "sha256"} <= set(report.columns.ignored)
    assert report.columns.recognised["taken_at"] == "exif"  # read, not ignored (audit G)
    assert report.notes == ["metadata from 3 per-photo JSON sidecars (e.g. 00000/000000000.json), as no metadata "
                            "file was given"]


def test_img2dataset_labels_from_the_tags_with_a_recipe_or_from_the_shards_when_asked(tmp_path):
    write_img2dataset(tmp_path / "download")
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=tmp_path / "download", workers=1, label_source="tags",
                                                 recipe="skylines"))
    catalog = by_key(read_catalog(ws))
    assert catalog.loc["000000000.jpg", "label"] == "chicago" and catalog.loc["000010000.jpg", "label"] == "tokyo"
    assert not [w for w in report.warnings if "shards" in w]  # the label source was given: nothing to say

    with no_fsync():
        report = ingest_folder(Workspace(tmp_path / "ws2"), FolderOptions(folder=tmp_path / "download", workers=1,
                                                                          label_source="folder"))
    catalog = by_key(read_catalog(Workspace(tmp_path / "ws2")))
    assert sorted(catalog["label"]) == ["00000", "00000", "00001"] and not [w for w in report.warnings if "shards" in w]


def takeout_sidecar(taken: int, geo: tuple[float, float], geo_exif: tuple[float, float] | None = None) -> str:
    data = {"title": "IMG.jpg", "description": "", "imageViews": "3",
            "photoTakenTime": {"timestamp": str(taken), "formatted": "…"},
            "geoData": {"latitude": geo[0], "longitude": geo[1], "altitude": 0.0},
            "url": "https://photos.google.com/photo/AF1Qip"}
    if geo_exif:
        data["geoDataExif"] = {"latitude": geo_exif[0], "longitude": geo_exif[1], "altitude": 0.0}
    return json.dumps(data)


def gps_jpeg(lat: float, lon: float) -> bytes:
    """A JPEG whose own EXIF holds a position (degrees, minutes, seconds)."""
    import io

    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (float(int(lat)), float(int(lat % 1 * 60)), 0.0), 3: "E",
                4: (float(int(lon)), float(int(lon % 1 * 60)), 0.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_google_takeout_sidecars_give_time_and_place_and_a_bad_one_loses_nothing(tmp_path):
    year = tmp_path / "Takeout" / "Google Photos" / "Photos from 2015"
    year.mkdir(parents=True)
    (year / "IMG_1.jpg").write_bytes(jpeg_bytes(color=(200, 10, 10)))
    (year / "IMG_1.jpg.json").write_text(takeout_sidecar(1449001234, (0.0, 0.0), (48.8584, 2.2945)))
    (year / "IMG_2.jpg").write_bytes(jpeg_bytes(color=(10, 200, 10)))
    (year / "IMG_2.jpg.supplemental-metadata.json").write_text(takeout_sidecar(1449001300, (41.9, 12.5)))
    (year / "IMG_3.jpg").write_bytes(jpeg_bytes(color=(10, 10, 200)))
    (year / "IMG_3.jpg.json").write_text("{not json")
    (year / "IMG_4.jpg").write_bytes(gps_jpeg(45.5, 9.5))  # no sidecar: its own EXIF gives the position
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=tmp_path / "Takeout" / "Google Photos", workers=1))
    catalog = by_key(read_catalog(ws))
    assert (catalog["status"] == "kept").all() and len(catalog) == 4
    first, second = catalog.loc["IMG_1.jpg"], catalog.loc["IMG_2.jpg"]
    assert str(first["taken_at"]) == "2015-12-01 20:20:34"  # photoTakenTime, UTC
    assert (first["lat"], first["lon"]) == (48.8584, 2.2945)  # geoData's (0, 0) means none: geoDataExif
    assert (second["lat"], second["lon"]) == (41.9, 12.5) and second["page_url"].startswith("https://photos.google")
    assert pd.isna(first["url"])  # a Google Photos page is not the image's source
    assert pd.isna(catalog.loc["IMG_3.jpg", "lat"])
    fourth = catalog.loc["IMG_4.jpg"]
    assert fourth["lat"] == pytest.approx(45.5) and fourth["lon"] == pytest.approx(9.5)
    [bad] = [w for w in report.warnings if "sidecar" in w]
    assert "1 per-photo JSON sidecar could not be read" in bad and "IMG_3.jpg.json" in bad
    assert catalog["label"].isna().all() and [w for w in report.warnings if "Photos from 2015" in w]
    # the column report names the fields read under other names as read, not ignored (audit G)
    assert report.columns.recognised["taken_at"] == "photoTakenTime.timestamp"
    assert report.columns.recognised["lat"] == "geoData.latitude, geoDataExif.latitude"
    assert not {"photoTakenTime.timestamp", "geoData.latitude", "geoDataExif.longitude"} & set(report.columns.ignored)


def test_a_folder_metadata_file_wins_and_map_reads_a_nested_field(tmp_path):
    photos = tmp_path / "photos" / "harbour"
    photos.mkdir(parents=True)
    (photos / "a.jpg").write_bytes(jpeg_bytes(color=(1, 2, 3)))
    (photos / "a.json").write_text(json.dumps({"author": {"id": "u7", "name": "Ann"}, "tags": ["boats"]}))
    (photos / "b.jpg").write_bytes(jpeg_bytes(color=(3, 2, 1)))
    result = CliRunner().invoke(app, ["ingest", "folder", str(tmp_path / "photos"), "-w", str(tmp_path / "ws"),
                                      "--map", "owner_id=author.id", "--map", "owner_name=author.name"])
    assert result.exit_code == 0, result.output
    catalog = by_key(read_catalog(Workspace(tmp_path / "ws")))
    assert catalog.loc["a.jpg", "owner_id"] == "u7" and catalog.loc["a.jpg", "owner_name"] == "Ann"
    assert list(catalog.loc["a.jpg", "tags"]) == ["boats"] and catalog.loc["a.jpg", "label"] == "harbour"
    assert pd.isna(catalog.loc["b.jpg", "owner_id"])

    (tmp_path / "photos" / "metadata.csv").write_text("file,owner\nharbour/b.jpg,u9\n")  # a folder sidecar table
    with no_fsync():
        ingest_folder(Workspace(tmp_path / "ws3"), FolderOptions(folder=tmp_path / "photos", workers=1))
    catalog = by_key(read_catalog(Workspace(tmp_path / "ws3")))
    assert catalog.loc["b.jpg", "owner_id"] == "u9" and pd.isna(catalog.loc["a.jpg", "owner_id"])  # a.json unread


def test_takeout_albums_name_labels_and_a_photo_in_both_keeps_its_albums_label(tmp_path):
    """Takeout files a photo in its year folder and again in each album: the year folders name no class, the
    albums do, and the filter's exact-duplicate rule keeps the labelled copy (before: photo_id order decided,
    and `Photos from 2015/…` sorts first, so the album's label was dropped with its copy)."""
    from curate.filters.config import FilterConfig
    from curate.filters.run import run_filter

    root = tmp_path / "Google Photos"
    year, album = root / "Photos from 2015", root / "Walk by the harbour"  # sorts after the year
    year.mkdir(parents=True)
    album.mkdir()
    shared = jpeg_bytes(color=(200, 120, 40))
    (year / "IMG_1.jpg").write_bytes(shared)
    (album / "IMG_1.jpg").write_bytes(shared)
    (year / "IMG_2.jpg").write_bytes(jpeg_bytes(color=(20, 120, 240)))
    (album / "IMG_3.jpg").write_bytes(jpeg_bytes(color=(120, 20, 240)))
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=root, workers=1))
        catalog = read_catalog(ws).set_index("source_id")
        assert dict(catalog["label"].dropna()) == {"Walk by the harbour/IMG_1.jpg": "Walk by the harbour",
                                                   "Walk by the harbour/IMG_3.jpg": "Walk by the harbour"}
        [warning] = [w for w in report.warnings if "Photos from 2015" in w]
        assert "their 2 photos get no label" in warning and "--label-from folder" in warning
        run_filter(ws, FilterConfig(max_km="off"))
    catalog = read_catalog(ws).set_index("source_id")
    assert catalog.loc["Walk by the harbour/IMG_1.jpg", "status"] == "kept"
    assert catalog.loc["Photos from 2015/IMG_1.jpg", "drop_reason"] == "exact_duplicate"


def test_a_sidecars_own_position_and_time_win_over_what_its_exif_text_says():
    from curate.ingest.photo_sidecars import normalise

    exif_only = normalise({"exif": EXIF_TEXT})
    assert (exif_only["lat"], exif_only["taken_at"]) == (pytest.approx(41.88), "2016-07-04 18:30:00")
    own = normalise({"exif": EXIF_TEXT, "latitude": 48.85, "longitude": 2.35, "date_taken": "2019-01-02 03:04:05"})
    assert "lat" not in own and "lon" not in own and "taken_at" not in own  # read from its own columns


FERRARI = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "flickr-ferrari"
FLICKR_LICENCE_NAMES = {"4": "Attribution License", "5": "Attribution-ShareAlike License"}


def write_flickr_export(root: Path, rows: pd.DataFrame) -> None:
    """Real Flickr photos laid out as Flickr's account export lays them out: originals named
    `<title>_<id>_o.jpg` (or `<id>_<secret>_o.jpg`) in data-download-1/ and -2/, and photo_<id>.json in the
    account data folder, with the export's fields (geo in millionths of a degree, tags as objects, the
    licence's name, an EXIF copy, comments, a private `original` link)."""
    meta = root / "72157722185468047_06fxe76mos37_part1"
    meta.mkdir(parents=True)
    for number, row in enumerate(rows.itertuples()):
        folder = root / f"data-download-{1 + number % 2}"
        folder.mkdir(exist_ok=True)
        secret = row.file.rsplit("/", 1)[-1].split("_")[1]
        slug = "".join(ch if ch.isalnum() else "-" for ch in str(row.title).lower()).strip("-") or str(row.photo_id)
        name = f"{slug}_{row.photo_id}_o.jpg" if number % 3 else f"{row.photo_id}_{secret}_o.jpg"
        (folder / name).write_bytes((FERRARI / row.file).read_bytes())
        geo = ({"latitude": str(round(row.latitude * 1e6)), "longitude": str(round(row.longitude * 1e6)),
                "accuracy": "16"} if pd.notna(row.latitude) else [])
        (meta / f"photo_{row.photo_id}.json").write_text(json.dumps({
            "id": str(row.photo_id), "name": "" if pd.isna(row.title) else row.title, "description": "",
            "count_views": "53",
            "date_taken": row.date_taken, "date_imported": row.date_taken,
            "photopage": row.photopage.replace("http://", "https://"),
            "original": f"https://live.staticflickr.com/1/{row.photo_id}_{secret}_o.jpg",
            "license": FLICKR_LICENCE_NAMES[str(row.license)], "geo": geo,
            "exif": {"IFD0:Make": {"full": "IFD0:Make", "label": "Make", "value": "Canon", "raw_value": "Canon"}},
            "groups": [], "albums": [{"id": "721", "title": row.color_class}],
            "tags": [{"tag": tag, "user": row.photopage.rsplit("/", 2)[0] + "/", "date_create": row.date_taken}
                     for tag in str(row.tags).split()],
            "people": [], "notes": [], "privacy": "public", "comments": [{"comment": "nice"}]}, indent=4))
    (meta / "account_profile.json").write_text(json.dumps({"real_name": "someone", "email": "x@example.com"}))


@pytest.mark.skipif(not FERRARI.is_dir(), reason="needs ../shared/realdata/flickr-ferrari")
def test_a_flickr_account_export_reads_each_photos_json_by_its_id(tmp_path):
    """Flickr's export names each original after its title and id and keeps its metadata apart, in
    photo_<id>.json: ingest pairs them by the id and reads the owner (from the photo page), time, position (the
    export's millionths of a degree), tags, title and licence; data-download-N/ are not labels, and the
    original file's link (which opens a private photo without signing in) is not stored."""
    rows = pd.read_csv(FERRARI / "metadata.csv", dtype={"photo_id": str}).sort_values("file").iloc[::8]
    assert rows["latitude"].notna().any() and rows["latitude"].isna().any()
    write_flickr_export(tmp_path / "export", rows)
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=tmp_path / "export", workers=1))
    catalog = read_catalog(ws).set_index("source_id")
    assert len(catalog) == len(rows) and (catalog["status"] == "kept").all()
    assert set(catalog.index) == set(rows["photo_id"])  # the export's ids, paired with the right photos
    truth = rows.set_index("photo_id")
    for photo_id, row in catalog.iterrows():
        expected = truth.loc[photo_id]
        assert row["owner_id"] == expected["photopage"].rstrip("/").rsplit("/", 2)[-2]
        assert ("" if pd.isna(row["title"]) else row["title"]) == ("" if pd.isna(expected["title"]) else
                                                                    expected["title"])
        assert str(row["taken_at"]) == expected["date_taken"]
        assert list(row["tags"]) == list(dict.fromkeys(str(expected["tags"]).split()))
        assert row["license"] == {"4": "cc-by-2.0", "5": "cc-by-sa-2.0"}[str(expected["license"])]
        assert row["page_url"].rstrip("/").endswith(photo_id) and pd.isna(row["url"])
        if pd.notna(expected["latitude"]):
            assert row["lat"] == pytest.approx(expected["latitude"], abs=1e-6)
            assert row["lon"] == pytest.approx(expected["longitude"], abs=1e-6)
        else:
            assert pd.isna(row["lat"]) and pd.isna(row["lon"])
    assert catalog["label"].isna().all()  # data-download-1/ and -2/ store photos, they name no class
    assert any("data-download-1" in warning and "--label-from folder" in warning for warning in report.warnings)
    assert any("per-photo JSON sidecars" in note for note in report.notes)
    assert "staticflickr" not in read_catalog(ws).to_csv()  # the `original` link is nowhere
    assert "staticflickr" not in ws.catalog_path.read_bytes().decode("latin-1")


def test_takeout_sidecars_with_names_cut_short_are_found_unless_two_photos_share_one(tmp_path):
    """Takeout cuts a long sidecar name (photo name + ".supplemental-metadata", then ".json") short. Such a
    sidecar is found by the start of the photo's name; one whose cut name fits two photos is nobody's: which of
    them it describes cannot be told, so neither takes its time and place."""
    album = tmp_path / "Google Photos" / "Trip"
    album.mkdir(parents=True)

    def cut(name: str, keep: int = 46) -> str:
        return (name + ".supplemental-metadata")[:keep] + ".json"

    photos = {"IMG_20250801_120808_LongEventTitleAtMuseumPalace.jpg": (1754050088, (48.86, 2.33), 46),
              "0d7b086cdcb68a4b6279fabaa0928e90.jpg": (1754050188, (41.9, 12.5), 46),
              "PXL_20240704_183000123_a_rather_long_name_of_a_photo.jpg": (1720117800, (40.7, -74.0), 44)}
    for number, (name, (taken, geo, keep)) in enumerate(photos.items()):
        (album / name).write_bytes(jpeg_bytes(color=(40 * number, 90, 200)))
        (album / cut(name, keep)).write_text(takeout_sidecar(taken, geo))
    twins = ["Screenshot_20250801_120808_com.example.longapp_one.png",
             "Screenshot_20250801_120808_com.example.longapp_two.png"]
    for number, name in enumerate(twins):
        Image.new("RGB", (64, 48), (200, 30 * number, 30)).save(album / name)
    (album / cut(twins[0])).write_text(takeout_sidecar(1754050000, (35.7, 139.7)))
    assert cut(twins[0]) == cut(twins[1])
    (album / "IMG_1.jpg").write_bytes(jpeg_bytes(color=(10, 200, 10)))
    (album / "IMG_1.jpg.supplemental-metadata.json").write_text(takeout_sidecar(1449001300, (45.4, 9.2)))
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=tmp_path / "Google Photos", workers=1))
    catalog = by_key(read_catalog(ws))
    assert len(catalog) == 6 and (catalog["status"] == "kept").all()
    for name, (taken, geo, _) in photos.items():
        row = catalog.loc[name]
        assert (row["lat"], row["lon"]) == geo
        assert row["taken_at"] == pd.Timestamp(taken, unit="s")
    assert catalog.loc["IMG_1.jpg", "lat"] == 45.4
    assert catalog.loc[twins, "lat"].isna().all() and catalog.loc[twins, "taken_at"].isna().all()


@pytest.mark.skipif(not FERRARI.is_dir(), reason="needs ../shared/realdata/flickr-ferrari")
def test_a_flickr_exports_albums_name_labels_and_a_photo_in_two_gets_none(tmp_path):
    """`--label-column albums`: a photo in one album takes its title as its label (a list of one), a photo in
    two gets none and a warning says so, where the list used to become the label text "['red']"."""
    rows = pd.read_csv(FERRARI / "metadata.csv", dtype={"photo_id": str}).sort_values("file").iloc[::10]
    write_flickr_export(tmp_path / "export", rows)
    meta = next((tmp_path / "export").glob("*_part1"))
    both = rows.iloc[0]
    sidecar = meta / f"photo_{both.photo_id}.json"
    data = json.loads(sidecar.read_text())
    data["albums"].append({"id": "722", "title": "favourites"})
    sidecar.write_text(json.dumps(data))
    loose = rows.iloc[1]  # in no album
    sidecar = meta / f"photo_{loose.photo_id}.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "albums": []}))
    ws = Workspace(tmp_path / "ws")
    result = CliRunner().invoke(app, ["ingest", "folder", str(tmp_path / "export"), "--label-column", "albums",
                                      "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    catalog = read_catalog(ws).set_index("source_id")
    truth = rows.set_index("photo_id")["color_class"]
    others = ~catalog.index.isin([both.photo_id, loose.photo_id])
    assert (catalog.loc[others, "label"] == truth[catalog.index[others]]).all()
    assert catalog.loc[[both.photo_id, loose.photo_id], "label"].isna().all()
    output = " ".join(result.output.split())
    assert "1 photo names several labels in the metadata's label column" in output
    assert f"1 of {len(rows)} photos have no label in the metadata's label column" in output
    assert "not taken as labels" not in output  # the labels were asked of a column: the folders need no word
    assert not catalog["label"].dropna().str.startswith("[").any()


def test_takeout_2024_numbered_edited_and_cut_names_each_find_their_own_sidecar(tmp_path):
    """Takeout's newer names: `IMG(1).jpg` has `IMG.jpg.supplemental-metadata(1).json`; a long name's sidecar is
    cut short, its `(1)` duplicate's cut and then `(1)`; an edited copy of a long-named photo shares its
    original's cut-short sidecar. Each used to leave photos without time and place, without a word; a sidecar
    left over is now named in a note, an album's own metadata.json no longer stops the ingest, and a caption
    the user wrote (`description`) is the title, not the file's name."""
    album = tmp_path / "Rome trip"
    album.mkdir()
    long = "IMG_20190815_090000_Birthday_Party_At_The_Lake_House"
    other = "IMG_20190816_090000_Another_Very_Long_File_Name_X"

    def cut(name: str) -> str:
        return (name + ".supplemental-metadata")[:46]

    photos = {"IMG_2.jpg": ("IMG_2.jpg.supplemental-metadata.json", 1560000003, (12.0, 22.0)),
              "IMG_2(1).jpg": ("IMG_2.jpg.supplemental-metadata(1).json", 1560000004, (13.0, 23.0)),
              f"{long}.jpg": (cut(f"{long}.jpg") + ".json", 1562000000, (35.0, 45.0)),
              f"{other}.jpg": (cut(f"{other}.jpg") + ".json", 1562100000, (36.0, 46.0)),
              f"{other}(1).jpg": (cut(f"{other}.jpg") + "(1).json", 1562100001, (37.0, 47.0))}
    for number, (name, (sidecar, taken, geo)) in enumerate(photos.items()):
        (album / name).write_bytes(jpeg_bytes(color=(30 * number, 100, 60)))
        (album / sidecar).write_text(takeout_sidecar(taken, geo))
    (album / f"{long}-edited.jpg").write_bytes(jpeg_bytes(color=(250, 250, 10)))
    data = json.loads((album / "IMG_2.jpg.supplemental-metadata.json").read_text())
    (album / "IMG_2.jpg.supplemental-metadata.json").write_text(json.dumps({**data, "description": "Trevi at noon"}))
    (album / "IMG_9.jpg.supplemental-metadata.json").write_text(takeout_sidecar(1560000009, (1.0, 2.0)))  # no photo
    (album / "metadata.json").write_text(json.dumps({"title": "Rome trip", "description": "", "access": "protected",
                                                     "date": {"timestamp": "1562000000"}}))
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=album, workers=1))
    catalog = read_catalog(ws).set_index("source_id")
    assert len(catalog) == 6 and (catalog["status"] == "kept").all()
    for name, (_, taken, geo) in photos.items():
        assert catalog.loc[name, "taken_at"] == pd.Timestamp(taken, unit="s"), name
        assert (catalog.loc[name, "lat"], catalog.loc[name, "lon"]) == geo, name
    edited = catalog.loc[f"{long}-edited.jpg"]
    assert (edited["lat"], edited["lon"]) == (35.0, 45.0)  # its original's sidecar
    assert catalog.loc["IMG_2.jpg", "title"] == "Trevi at noon"
    assert any("metadata.json is one JSON object" in note for note in report.notes)
    assert any("1 per-photo JSON sidecar named after a photo matches no photo" in note
               and "IMG_9.jpg.supplemental-metadata.json" in note for note in report.notes)


def test_a_folder_of_one_label_in_a_wrapper_is_advised_by_its_deepest_folder(tmp_path):
    """A Takeout beside class folders: the advice used to name `DIR/Takeout`, which labels every photo
    `Google Photos`; it names the folder whose subfolders are the albums."""
    for label in ("Coast", "Forest"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        (tmp_path / "photos" / label / "a.jpg").write_bytes(jpeg_bytes(color=(len(label) * 20, 90, 90)))
    for album in ("Rome trip", "Paris"):
        folder = tmp_path / "photos" / "Takeout" / "Google Photos" / album
        folder.mkdir(parents=True)
        (folder / "b.jpg").write_bytes(jpeg_bytes(color=(len(album) * 15, 30, 200)))
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))
    [advice] = [w for w in report.warnings if "label Takeout" in w]
    assert "`curate ingest folder DIR/Takeout/Google Photos`" in advice


def test_json_nested_too_deeply_is_an_unreadable_sidecar_or_one_line_not_a_traceback(tmp_path):
    """Audit H: a sidecar nesting about a thousand levels (10 KB) stopped the whole ingest with a RecursionError
    traceback, in a per-photo sidecar, a tar member and a top-level metadata.json alike."""
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(jpeg_bytes(color=(200, 10, 10)))
    (photos / "a.jpg.json").write_text(deep)
    (photos / "b.jpg").write_bytes(jpeg_bytes(color=(10, 200, 10)))
    (photos / "b.jpg.json").write_text(json.dumps({"title": "fine"}))
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        report = ingest_folder(ws, FolderOptions(folder=photos, workers=1))
    [bad] = [w for w in report.warnings if "sidecar" in w]
    assert "1 per-photo JSON sidecar could not be read" in bad and "a.jpg.json" in bad
    assert (read_catalog(ws)["status"] == "kept").all()  # both photos ingested, a.jpg without its metadata

    table = tmp_path / "table"
    table.mkdir()
    (table / "a.jpg").write_bytes(jpeg_bytes())
    (table / "metadata.json").write_text('[{"file": "a.jpg", "x": ' + "[" * 5000 + "]" * 5000 + "}]")
    result = CliRunner().invoke(app, ["ingest", "folder", str(table), "-w", str(tmp_path / "ws2")])
    assert result.exit_code == 2 and "nests JSON too deeply" in result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output


def test_the_columns_ignored_line_is_capped(tmp_path):
    """Audit H: a Takeout sidecar with 20,000 keys printed a `columns ignored:` line of 149,063 characters."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(jpeg_bytes())
    (photos / "a.jpg.json").write_text(json.dumps({f"key{i}": i for i in range(500)}))
    result = CliRunner().invoke(app, ["ingest", "folder", str(photos), "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("columns ignored:")]
    assert "… and 480 more" in line and len(line) < 400


def test_a_csv_label_cell_holding_a_json_list_is_read_as_the_list_not_its_text(tmp_path):
    """Audit H: a CSV `--label-column` cell `["cat","dog"]` became the label text '["cat","dog"]' (and `[]` the
    label '[]'), each a class of its own, while the tags column of the same file was read as a list; a JSON
    object label became its Python repr."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        (photos / f"p{i}.jpg").write_bytes(jpeg_bytes(color=(40 * i, 90, 200)))
    (photos / "metadata.csv").write_text('file,label,tags\np0.jpg,"[""cat"",""dog""]","[""a""]"\n'
                                         'p1.jpg,"[""dog""]",b\np2.jpg,[],c\np3.jpg,cat,d\n')
    result = CliRunner().invoke(app, ["ingest", "folder", str(photos), "--label-column", "label",
                                      "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    labels = read_catalog(Workspace(tmp_path / "ws")).set_index("source_id")["label"]
    assert labels["p1.jpg"] == "dog" and labels["p3.jpg"] == "cat"
    assert labels[["p0.jpg", "p2.jpg"]].isna().all()
    output = " ".join(result.output.split())
    assert "1 photo names several labels in the metadata's label column (e.g. p0.jpg: cat, dog)" in output

    (photos / "metadata.csv").unlink()
    (photos / "metadata.json").write_text(json.dumps([{"file": "p0.jpg", "label": {"x": 1}},
                                                      {"file": "p1.jpg", "label": "dog"}]))
    result = CliRunner().invoke(app, ["ingest", "folder", str(photos), "--label-column", "label",
                                      "-w", str(tmp_path / "ws2")])
    labels = read_catalog(Workspace(tmp_path / "ws2")).set_index("source_id")["label"]
    assert pd.isna(labels["p0.jpg"]) and labels["p1.jpg"] == "dog"


def test_a_column_named_twice_in_the_header_is_said(tmp_path):
    """Audit H: `file,label,label,tags` read the first label silently and listed `label.1`, a name the file does
    not hold, among the columns ignored."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "p0.jpg").write_bytes(jpeg_bytes())
    (photos / "metadata.csv").write_text("file,label,label,tags\np0.jpg,cat,dog,x\n")
    result = CliRunner().invoke(app, ["ingest", "folder", str(photos), "--label-column", "label",
                                      "-w", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "the metadata names the column 'label' twice; the first is read" in " ".join(result.output.split())
    assert "label.1" not in result.output  # the reader's name for the second, not the file's (audit J)
    assert read_catalog(Workspace(tmp_path / "ws"))["label"].tolist() == ["cat"]
    (photos / "metadata.csv").write_text("file,label\np0.jpg,tab\there\n")  # audit H: a TAB kept in the label
    CliRunner().invoke(app, ["ingest", "folder", str(photos), "--label-column", "label", "-w", str(tmp_path / "ws2")])
    assert read_catalog(Workspace(tmp_path / "ws2"))["label"].tolist() == ["tab here"]


def test_a_tags_cell_nested_too_deeply_is_text_not_a_traceback():
    """Audit J: a CSV tags cell nesting ~5,000 levels stopped the ingest with RecursionError (parse_tags)."""
    from curate.tags import parse_tags

    tags = parse_tags("[" * 5000 + "]" * 5000)
    assert isinstance(tags, list)
