"""Metadata files as Excel, LibreOffice, pandas and Flickr users write them (audit CK): each test writes a file the
way such a tool does, ingests it, and reads the values back from the catalog against what the file said."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from curate.cli.app import app
from curate.errors import UsageError
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.ingest.folder_metadata import read_metadata
from curate.ingest.mapping import parse_map_options
from curate.ingest.urls import UrlIngestOptions, ingest_urls, read_url_table
from curate.licences import FLICKR_LICENCE_IDS, canonical_licence
from curate.workspace import Workspace, read_catalog
from tests.helpers import jpeg_bytes
from tests.httpfixtures import FakeServer, Response
from tests.test_ingest_urls import fast


def _photos(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"p{index}.jpg" for index in range(count)]
    for index, name in enumerate(names):
        (folder / name).write_bytes(jpeg_bytes(color=(10 + 9 * index, 200 - 7 * index, 30 + 5 * index)))
    return names


def _ingest(tmp_path: Path, sidecar: Path, ws_name: str = "ws", **column_map: str):
    ws = Workspace(tmp_path / ws_name)
    report = ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", metadata=sidecar, column_map=column_map,
                                             label_source="none", workers=1))
    return report, read_catalog(ws)


def _values(values: pd.Series) -> list:
    """The values with every null (None, NaN, NA) as None."""
    return [None if pd.isna(value) else value for value in values]


def _by_file(catalog: pd.DataFrame, table: pd.DataFrame, key: str = "file") -> pd.DataFrame:
    """The catalog's rows in the order of the file's rows (joined on the photo's stored source_id)."""
    return catalog.set_index("source_id").loc[table[key].astype(str)]


# --- HIGH 2: licence numbers as pandas (4.0) and spreadsheets (04) write them


@pytest.mark.parametrize(("text", "number"), [("4.0", "4"), ("04", "4"), ("0.0", "0"), ("5.0", "5"), ("9.00", "9"),
                                              ("010", "10"), ("16.0", "16"), (11.0, "11"), (" 0 ", "0")])
def test_flickr_licence_numbers_written_as_floats_or_zero_padded(text, number):
    assert canonical_licence(text) == FLICKR_LICENCE_IDS[number]


@pytest.mark.parametrize("text", ["4.5", "100", "17.0", "4.1"])
def test_other_numbers_are_no_flickr_licence(text):
    assert canonical_licence(text) is None


def test_a_pandas_written_licence_column_with_an_empty_cell_is_read(tmp_path):
    """`DataFrame.to_csv` and `to_json` write an int column that has an empty cell as floats (4.0)."""
    names = _photos(tmp_path / "photos", 5)
    table = pd.DataFrame({"file": names, "license": [4, 0, 5, None, 9]})
    assert table["license"].dtype == float  # what pandas makes of it
    for writer, name in ((lambda df, p: df.to_csv(p, index=False), "meta.csv"),
                         (lambda df, p: df.to_json(p, orient="records"), "meta.json")):
        writer(table, tmp_path / name)
        _, catalog = _ingest(tmp_path, tmp_path / name, ws_name=f"ws-{name}")
        stored = _by_file(catalog, table)["license"]
        expected = [FLICKR_LICENCE_IDS[str(int(n))] if n == n else None for n in table["license"]]
        assert _values(stored) == expected, name


# --- HIGH 3: out-of-range geotags are never nulled without a word; swapped columns are named


def test_swapped_lat_and_lon_columns_are_warned_of_with_the_map_that_fixes_them(tmp_path):
    # real places (lat, lon), written under swapped headers: the longitude under `Breite`
    places = [(-33.8688, 151.2093), (35.6762, 139.6503), (40.7128, -74.0060), (-22.9068, -43.1729),
              (48.8566, 2.3522), (55.7558, 37.6173)]
    names = _photos(tmp_path / "photos", len(places))
    table = pd.DataFrame({"file": names, "Breite": [lon for _, lon in places],
                          "Laenge": [lat for lat, _ in places]})
    table.to_csv(tmp_path / "meta.csv", index=False)
    report, catalog = _ingest(tmp_path, tmp_path / "meta.csv", lat="Breite", lon="Laenge")
    off = int((catalog["coord_issue"] == "out_of_range").sum())
    assert off == sum(abs(lon) > 90 for _, lon in places)  # the others are stored swapped: nothing tells them
    lines = [line for line in report.warnings if "off the globe" in line]
    assert len(lines) == 1 and lines[0].startswith(f"{off} photos have a position off the globe")
    assert "swapped" in lines[0] and "--map lat=Laenge --map lon=Breite" in lines[0]
    # asked the other way round, as the warning says, every position is read, and none is swapped unasked
    again, fixed = _ingest(tmp_path, tmp_path / "meta.csv", ws_name="ws2", lat="Laenge", lon="Breite")
    fixed = _by_file(fixed, table)
    assert fixed["lat"].round(4).tolist() == [lat for lat, _ in places]
    assert fixed["lon"].round(4).tolist() == [lon for _, lon in places]
    assert not [line for line in again.warnings if "off the globe" in line]


def test_a_latitude_over_90_is_warned_of_without_a_swap_hint(tmp_path):
    """One mistyped latitude among many photos is no sign of swapped columns."""
    names = _photos(tmp_path / "photos", 20)
    (tmp_path / "meta.csv").write_text(f"file,lat,lon\n{names[0]},91.5,2.35\n{names[1]},48.85,2.35\n"
                                       f"{names[2]},48.85,\n" + "".join(f"{name},48.8{n},2.3{n}\n"
                                                                      for n, name in enumerate(names[3:])),
                                       encoding="utf-8")
    report, catalog = _ingest(tmp_path, tmp_path / "meta.csv")
    catalog = catalog.set_index("source_id")
    assert catalog.loc[names[0], "coord_issue"] == "out_of_range"
    off = [line for line in report.warnings if "off the globe" in line]
    assert len(off) == 1 and off[0].startswith("1 photo has a position off the globe") and "'91.5'" in off[0]
    assert "swapped" not in off[0]
    # a half pair is stored without a position too, and said
    assert catalog.loc[names[2], "coord_issue"] == "not_a_number"
    assert any(line.startswith("1 photo gives only one of lat and lon") for line in report.warnings)


# --- MED 4: spreadsheet-style headers


def _flickr_rows(names: list[str]) -> dict[str, list]:
    count = len(names)
    return {"ids": [str(53012345678 + n) for n in range(count)],
            "owners": [f"{1000 + n}@N0{n % 3}" for n in range(count)],
            "dates": [f"2008-08-{12 + n:02d} 12:01:24" for n in range(count)]}


@pytest.mark.parametrize("header", [
    ("File", "Photo ID", "Owner ID", "Date Taken", "Latitude", "Longitude"),
    ("FileName", "PhotoId", "OwnerId", "DateTaken", "Lat", "Lng"),
    ("file ", " photo_id", "owner_nsid ", "date_taken ", "LATITUDE ", "Longitude"),
    ("File", "Photo-ID", "Owner_Id", "date taken", "GPS Latitude", "GPS Longitude"),
])
def test_spreadsheet_headers_are_read(tmp_path, header):
    names = _photos(tmp_path / "photos", 3)
    rows = _flickr_rows(names)
    table = pd.DataFrame(dict(zip(header, [names, rows["ids"], rows["owners"], rows["dates"],
                                           [48.85, 40.71, -33.87], [2.35, -74.0, 151.2]])))
    table.to_csv(tmp_path / "meta.csv", index=False)
    report, catalog = _ingest(tmp_path, tmp_path / "meta.csv")
    stored = _by_file(catalog, table, key=header[1])
    assert stored["owner_id"].tolist() == rows["owners"]
    assert stored["taken_at"].astype(str).tolist() == rows["dates"]
    assert stored["lat"].tolist() == [48.85, 40.71, -33.87] and stored["lon"].tolist() == [2.35, -74.0, 151.2]
    assert report.columns.ignored == ()


def test_a_header_with_blanks_around_it_can_be_named_by_map(tmp_path):
    names = _photos(tmp_path / "photos", 2)
    (tmp_path / "meta.csv").write_text(f"Bild ,Fotograf \n{names[0]},anna\n{names[1]},bob\n", encoding="utf-8")
    mapping = parse_map_options(["file=Bild ", "owner_id=Fotograf"])  # as a shell passes `--map "file=Bild "`
    _, catalog = _ingest(tmp_path, tmp_path / "meta.csv", **mapping)
    assert catalog.set_index("source_id").loc[names, "owner_id"].tolist() == ["anna", "bob"]


# --- MED 5: ids and owners that pandas wrote as floats


def _pandas_ids(names: list[str]) -> pd.DataFrame:
    table = pd.DataFrame({"file": names, "photo_id": [53012345678, 9007199254740992, 42, None],
                          "owner": [12345678, 67890, None, 12345678]})
    assert table["photo_id"].dtype == float and table["owner"].dtype == float  # what pandas makes of them
    return table


@pytest.mark.parametrize("form", ["csv", "json"])
def test_ids_and_owners_pandas_wrote_as_floats_are_read_as_integers(tmp_path, form):
    names = _photos(tmp_path / "photos", 4)
    table = _pandas_ids(names)
    path = tmp_path / f"meta.{form}"
    table.to_csv(path, index=False) if form == "csv" else table.to_json(path, orient="records")
    report, catalog = _ingest(tmp_path, path)
    ids = ["53012345678", "9007199254740992", "42", names[3]]  # an empty id falls back to the file name
    stored = catalog.set_index("source_id").loc[ids]
    assert _values(stored["owner_id"]) == ["12345678", "67890", None, "12345678"]
    assert any("source_id values written as a whole number with '.0'" in note for note in report.notes)
    assert any("owner_id values written as a whole number with '.0'" in note for note in report.notes)


def test_ids_written_as_text_are_kept_as_given(tmp_path):
    """Only a column pandas wrote as floats is read back as integers: `4.0` beside `007123` is what a user
    typed, and `1.5` is no whole number."""
    names = _photos(tmp_path / "photos", 3)
    (tmp_path / "meta.csv").write_text(f"file,photo_id,owner\n{names[0]},4.0,1.5\n{names[1]},007123,2.0\n"
                                       f"{names[2]},1e5,3.0\n", encoding="utf-8")
    report, catalog = _ingest(tmp_path, tmp_path / "meta.csv")
    stored = catalog.set_index("source_id").loc[["4.0", "007123", "1e5"]]
    assert stored["owner_id"].tolist() == ["1.5", "2.0", "3.0"]
    assert not [note for note in report.notes if "whole number" in note]


def test_a_pandas_parquet_url_list_keeps_its_owners_ids_and_licences():
    with FakeServer() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("NO_PROXY", "127.0.0.0/8,localhost")
        _parquet_url_list(server)


def _parquet_url_list(server) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for index in range(3):
            server.route(f"/p{index}.jpg", Response(jpeg_bytes(color=(50 * index, 90, 20))))
        table = pd.DataFrame({"url": [server.url(f"/p{index}.jpg") for index in range(3)],
                              "photoid": [53012345678.0, 42.0, 7.0], "owner": [12345678.0, np.nan, 67890.0],
                              "license": [4.0, 0.0, np.nan]})
        table.to_parquet(tmp / "list.parquet")
        ws = Workspace(tmp / "ws")
        report = ingest_urls(ws, UrlIngestOptions(path=tmp / "list.parquet", download=fast()))
        stored = read_catalog(ws).set_index("source_id").loc[["53012345678", "42", "7"]]
        assert _values(stored["owner_id"]) == ["12345678", None, "67890"]
        assert _values(stored["license"]) == ["cc-by-2.0", "all-rights-reserved", None]
        assert any("owner_id values written as a whole number" in note for note in report.notes)


# --- MED 7: a re-ingest that changes only the ids


def test_a_reingest_that_only_changes_the_ids_says_so(tmp_path):
    names = _photos(tmp_path / "photos", 3)
    (tmp_path / "meta.csv").write_text("file,old_id,photo_id\n" + "".join(
        f"{name},old{n},{100 + n}\n" for n, name in enumerate(names)), encoding="utf-8")
    _ingest(tmp_path, tmp_path / "meta.csv", source_id="old_id")
    report, catalog = _ingest(tmp_path, tmp_path / "meta.csv")  # photo_id is the id now
    assert not [line for line in report.warnings if "no longer in it" in line]
    moved = [line for line in report.warnings if "another id now" in line]
    assert len(moved) == 1 and moved[0].startswith("3 photos ingested from this folder before have another id now")
    assert "e.g. old0 is now 100" in moved[0]
    old = catalog.set_index("source_id").loc[["old0", "old1", "old2"]]
    assert set(old["drop_reason"]) == {"missing_file"}
    assert old["error_detail"].tolist() == [f"its file is in the folder under the id {100 + n}" for n in range(3)]
    # a photo really gone from the folder is still said to be gone
    (tmp_path / "photos" / names[0]).unlink()
    report, _ = _ingest(tmp_path, tmp_path / "meta.csv")
    assert [line for line in report.warnings if line.startswith("1 photo ingested from this folder before is no "
                                                                "longer in it (e.g. 100)")]


# --- MED 8: Excel's `sep=` line and UTF-16 files


def _excel_rows(names: list[str]) -> list[list[str]]:
    return [["file", "photo_id", "title", "lat", "lon"], *[[name, f"00{n}", f"Zürich {n}", f"48,8{n}", f"2,3{n}"]
                                                            for n, name in enumerate(names)]]


def test_an_excel_csv_with_a_sep_line_is_read(tmp_path):
    names = _photos(tmp_path / "photos", 3)
    rows = _excel_rows(names)
    (tmp_path / "meta.csv").write_bytes(("sep=;\r\n" + "".join(";".join(r) + "\r\n" for r in rows)).encode("utf-8-sig"))
    _, catalog = _ingest(tmp_path, tmp_path / "meta.csv")
    stored = catalog.set_index("source_id").loc[[r[1] for r in rows[1:]]]
    assert stored["title"].tolist() == [r[2] for r in rows[1:]]
    assert stored["lat"].tolist() == [float(r[3].replace(",", ".")) for r in rows[1:]]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_table_with_its_byte_order_mark_is_read(tmp_path, encoding):
    """Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-separated."""
    names = _photos(tmp_path / "photos", 3)
    rows = _excel_rows(names)
    text = "".join("\t".join(r) + "\r\n" for r in rows)
    data = text.encode("utf-16") if encoding == "utf-16" else b"\xfe\xff" + text.encode("utf-16-be")
    (tmp_path / "meta.txt").write_bytes(data)
    _, catalog = _ingest(tmp_path, tmp_path / "meta.txt")
    assert catalog.set_index("source_id").loc[[r[1] for r in rows[1:]], "title"].tolist() == [r[2] for r in rows[1:]]


def test_a_utf16_file_without_a_mark_is_refused_with_how_to_convert_it(tmp_path):
    _photos(tmp_path / "photos", 1)
    (tmp_path / "meta.csv").write_bytes("file\tlat\r\np0.jpg\t1\r\n".encode("utf-16-le"))
    with pytest.raises(UsageError) as refused:
        read_metadata(tmp_path / "meta.csv")
    assert "UTF-16" in str(refused.value) and "iconv -f UTF-16LE -t UTF-8" in str(refused.value)
    assert "cp1252" not in str(refused.value)
    result = CliRunner().invoke(app, ["ingest", "folder", str(tmp_path / "photos"), "-w", str(tmp_path / "ws"),
                                      "--metadata", str(tmp_path / "meta.csv")])
    assert result.exit_code == 2 and "UTF-16" in result.output and "Traceback" not in result.output


def test_a_url_list_with_a_sep_line_or_in_utf16_is_read(tmp_path):
    rows = [["url", "photoid", "title"], ["http://example.invalid/a.jpg", "0012", "São Paulo"],
            ["http://example.invalid/b.jpg", "0013", "Łódź"]]
    (tmp_path / "sep.csv").write_text("sep=;\n" + "".join(";".join(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "u16.txt").write_bytes("".join("\t".join(r) + "\r\n" for r in rows).encode("utf-16"))
    for name in ("sep.csv", "u16.txt"):
        table = read_url_table(tmp_path / name)
        assert table.values.tolist() == rows[1:] and list(table.columns) == rows[0], name


# --- LOW: two columns for one field, and a trailing empty column


def test_an_empty_lat_column_beside_a_filled_latitude_column(tmp_path):
    names = _photos(tmp_path / "photos", 2)
    (tmp_path / "meta.csv").write_text(f"file;lat;lon;Latitude;Longitude;\n{names[0]};;;48,85;2,35;\n"
                                       f"{names[1]};;;-33,87;151,2;\n", encoding="utf-8")
    report, catalog = _ingest(tmp_path, tmp_path / "meta.csv")
    stored = catalog.set_index("source_id").loc[names]
    assert stored["lat"].tolist() == [48.85, -33.87] and stored["lon"].tolist() == [2.35, 151.2]
    assert any(note.startswith("lat was read from the column 'Latitude', as 'lat' is empty in every row")
               for note in report.notes)
    assert report.columns.recognised["lat"] == "Latitude"
    # the trailing `;` makes a column with no header and no value: not listed under a name the file lacks
    assert set(report.columns.ignored) == {"lat", "lon"}
