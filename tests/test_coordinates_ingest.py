"""Geotags as real sidecars write them (audit BP E1): a European spreadsheet's decimal comma and exiftool's
degrees, minutes and seconds were stored as "no position" without a word, and `--missing-geo drop` then
dropped those photos as having none."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import jpeg_bytes
from typer.testing import CliRunner

from curate.cli.app import app
from curate.coordinates import clean_coordinates, coordinate_numbers
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.workspace import Workspace, read_catalog


def _photos(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"p{index}.jpg").write_bytes(jpeg_bytes(color=(10 + 40 * index, 20, 30)))


def _ingest(tmp_path: Path, photos: Path, sidecar: Path, **column_map: str):
    ws = Workspace(tmp_path / "ws")
    report = ingest_folder(ws, FolderOptions(folder=photos, metadata=sidecar, column_map=column_map, workers=1))
    return report, read_catalog(ws).set_index("source_id").sort_index()


def test_a_european_sidecar_with_decimal_commas_keeps_its_geotags(tmp_path):
    photos = tmp_path / "photos"
    _photos(photos, 4)
    sidecar = tmp_path / "metadata.csv"
    sidecar.write_text("Datei;Breitengrad;Längengrad\n"
                       "p0.jpg;51,507400;-0,127800\n"
                       "p1.jpg;48,8566;2,3522\n"
                       "p2.jpg;n/a;n/a\n"
                       "p3.jpg;;\n", encoding="utf-8")
    report, catalog = _ingest(tmp_path, photos, sidecar, file="Datei", lat="Breitengrad", lon="Längengrad")
    assert catalog["lat"].round(4).tolist()[:2] == [51.5074, 48.8566]
    assert catalog["lon"].round(4).tolist()[:2] == [-0.1278, 2.3522]
    assert catalog["coord_issue"].fillna("-").tolist() == ["-", "-", "not_a_number", "missing"]
    unread = [line for line in report.warnings if "could not be read as coordinates" in line]
    # named as the file names them (audit CK 3: the --map hint for swapped columns needs the file's names)
    assert len(unread) == 2
    assert unread[0].startswith("1 Breitengrad value could not be read as coordinates (e.g. 'n/a')")
    assert unread[1].startswith("1 Längengrad value")


def test_an_exiftool_sidecar_is_read_with_its_file_column_named(tmp_path):
    """`exiftool -csv -GPSLatitude -GPSLongitude -Keywords DIR` without -n: positions in degrees, minutes and
    seconds with a hemisphere, the tags in Keywords, read without --map. SourceFile is not taken as the file
    column unasked (review BR 3: exiftool writes the path it was given, `photos/p0.jpg`, and every row was then
    a missing file where a refusal had named the fix): --map file=SourceFile."""
    photos = tmp_path / "photos"
    _photos(photos, 3)
    sidecar = tmp_path / "exiftool.csv"
    sidecar.write_text('SourceFile,GPSLatitude,GPSLongitude,Keywords\n'
                       'p0.jpg,"51 deg 30\' 26.64"" N","0 deg 7\' 40.08"" W",london\n'
                       'p1.jpg,"33 deg 51\' 54.00"" S","151 deg 12\' 36.00"" E",sydney\n'
                       'p2.jpg,"12 deg 0\' 0.00"" E","0 deg 0\' 1.00"" N",nowhere\n', encoding="utf-8")
    report, catalog = _ingest(tmp_path, photos, sidecar, file="SourceFile")
    assert catalog["lat"].round(4).tolist()[:2] == [51.5074, -33.865]
    assert catalog["lon"].round(4).tolist()[:2] == [-0.1278, 151.21]
    assert catalog.loc["p2.jpg", "coord_issue"] == "not_a_number"  # E for a latitude: the columns are swapped
    assert [tags[0] for tags in catalog["tags"]] == ["london", "sydney", "nowhere"]
    assert sum("could not be read as coordinates" in line for line in report.warnings) == 2


@pytest.mark.parametrize(("text", "axis", "expected"), [
    ("51°30'26.64\"N", "lat", 51.5074), ("N 51° 30.444'", "lat", 51.5074), ("51.5074 N", "lat", 51.5074),
    ("−0,1278", "lon", -0.1278), ("0°7′40.08″W", "lon", -0.1278), ("151.21E", "lon", 151.21),
    ("51 30", "lat", None), ("51 N 30", "lat", None), ("-51 S", "lat", None), ("N 51 S", "lat", None),
    ("51° 61'", "lat", None), ("51.5° 30'", "lat", None), ("1,2,3", "lat", None), ("51 N", "lon", None),
    # review BR 1, 2, 7: a hemisphere after bare seconds is no seconds mark; no degrees run into minutes
    ("33°51'54 S", "lat", -33.865), ("33 d 51 m 54 S", "lat", -33.865), ("33 deg 51' 54 S", "lat", -33.865),
    ("12 30 S", "lat", None), ("51'", "lat", None), ("51 m", "lat", None), ("60' S", "lat", None),
    ("33°51'54", "lat", None), ("−0.1278", "lon", -0.1278),
])
def test_written_coordinates(text, axis, expected):
    number = coordinate_numbers(pd.Series([text], dtype=object), axis).iloc[0]
    assert (pd.isna(number) if expected is None else round(number, 4) == expected), number


def test_text_that_reads_as_infinite_is_warned_of():
    from curate.coordinates import unreadable_warnings

    [line] = unreadable_warnings(pd.Series(["inf", "51.5"]), pd.Series(["0.1", "0.2"]))
    assert line.startswith("1 lat value could not be read as coordinates (e.g. 'inf')")


def test_numbers_and_their_placeholders_are_read_as_before():
    lat, lon, issue = clean_coordinates(pd.Series([41.9, "0", "95", True, " "]),
                                        pd.Series(["12.5", 0.0, "10", 1.0, None]))
    assert lat.tolist()[0] == 41.9 and lon.tolist()[0] == 12.5
    assert issue.fillna("-").tolist() == ["-", "zero_position", "out_of_range", "not_a_number", "missing"]


def test_a_sidecar_saved_in_windows_1252_is_refused_with_how_to_convert_it(tmp_path):
    photos = tmp_path / "photos"
    _photos(photos, 1)
    sidecar = tmp_path / "metadata.csv"
    sidecar.write_bytes("file;Schlagwörter\np0.jpg;München\n".encode("cp1252"))
    result = CliRunner().invoke(app, ["ingest", "folder", str(photos), "--metadata", str(sidecar),
                                      "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "is not UTF-8 text" in lines[0] and "iconv -f cp1252 -t utf-8" in lines[0]
    assert "Traceback" not in result.output


def test_a_placeholder_position_in_the_sidecar_does_not_hide_the_photos_own_gps(tmp_path):
    """Review BR 8: `n/a` (or 0/0) in the sidecar kept the photo's EXIF GPS out, while an empty cell let it in."""
    from tests.test_ingest_folder import exif_jpeg

    photos = tmp_path / "photos"
    photos.mkdir()
    gps = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 8.0)}
    for index in range(4):
        (photos / f"p{index}.jpg").write_bytes(exif_jpeg(gps=gps))
    sidecar = tmp_path / "metadata.csv"
    sidecar.write_text("file,lat,lon\np0.jpg,n/a,n/a\np1.jpg,0,0\np2.jpg,,\np3.jpg,51.5,-0.12\n", encoding="utf-8")
    report, catalog = _ingest(tmp_path, photos, sidecar)
    assert catalog["lat"].round(2).tolist() == [48.86, 48.86, 48.86, 51.5]  # the sidecar's own position wins
    assert catalog["coord_issue"].isna().all()
    assert not any("could not be read as coordinates" in line for line in report.warnings)
