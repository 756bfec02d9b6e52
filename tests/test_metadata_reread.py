"""Re-reading metadata after the spreadsheet/pandas reading changed (review CO): a workspace ingested before ids
were read as integers keeps its photos, a deleted byte-identical copy is gone (not renamed), the "columns swapped"
hint never misplaces the rows that read right, and an empty download column never makes a web page the image."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from curate.coordinates import coordinate_warnings
from curate.ingest import mapping
from curate.ingest.urls import UrlIngestOptions, ingest_urls, url_records
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import jpeg_bytes
from tests.httpfixtures import FakeServer, Response
from tests.test_ingest_urls import fast
from tests.test_spreadsheet_metadata import _ingest, _photos

FLOAT_IDS = [f"53012340{n:02d}.0" for n in range(3)]  # as pandas writes an id column that has an empty cell


def _as_before(monkeypatch) -> None:
    """Read ids as the ingest before `whole_ids` did: as written."""
    monkeypatch.setattr(mapping, "whole_ids", lambda values: (values, 0, None))


def _float_id_sidecar(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "meta.csv"
    path.write_text("file,photo_id,owner,tags\n" + "".join(
        f"{name},{photo_id},{1000 + n}.0,street\n" for n, (name, photo_id) in enumerate(zip(names, FLOAT_IDS))),
        encoding="utf-8")
    return path


# --- H1: a workspace ingested before ids were read as integers keeps its photos


def test_a_workspace_ingested_before_ids_were_read_as_integers_keeps_its_photos(tmp_path, monkeypatch):
    names = _photos(tmp_path / "photos", 3)
    sidecar = _float_id_sidecar(tmp_path, names)
    with monkeypatch.context() as before:
        _as_before(before)
        _, old = _ingest(tmp_path, sidecar)
    assert sorted(old["source_id"]) == FLOAT_IDS and set(old["owner_id"]) == {"1000.0", "1001.0", "1002.0"}
    ws = Workspace(tmp_path / "ws")
    decided = old.assign(split="train", review_status="kept")  # what later stages wrote on those rows
    write_catalog(ws, decided)

    report, catalog = _ingest(tmp_path, sidecar)
    assert len(catalog) == 3 and sorted(catalog["photo_id"]) == sorted(old["photo_id"])  # no new photo, none dropped
    assert set(catalog["status"]) == {"kept"} and set(catalog["split"]) == {"train"}
    assert set(catalog["review_status"]) == {"kept"}
    assert not [line for line in report.warnings if "another id" in line or "no longer in it" in line]
    assert "missing_file" not in report.dropped_by_reason
    kept = [note for note in report.notes if "kept as given" in note]
    assert len(kept) == 1 and "the workspace holds its photos under such ids" in kept[0] and "'53012340" in kept[0]
    assert not [note for note in report.notes if "source_id values written as a whole number" in note]
    # the owner is no photo's id: it is read as the integer, a metadata update of the same photos
    by_id = catalog.set_index("source_id").loc[FLOAT_IDS]
    assert by_id["owner_id"].tolist() == ["1000", "1001", "1002"]
    assert report.changed_columns.get("owner_id") == 3
    assert any("owner_id values written as a whole number" in note for note in report.notes)

    # a new workspace reads the same file's ids as integers
    report, fresh = _ingest(tmp_path, sidecar, ws_name="new")
    assert sorted(fresh["source_id"]) == [photo_id[:-2] for photo_id in FLOAT_IDS]
    assert any("source_id values written as a whole number" in note for note in report.notes)


def test_a_url_list_ingested_before_ids_were_read_as_integers_is_not_downloaded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8,localhost")
    with FakeServer() as server:
        for index in range(3):
            server.route(f"/p{index}.jpg", Response(jpeg_bytes(color=(60 * index, 90, 20))))
        (tmp_path / "list.csv").write_text("url,photoid,owner\n" + "".join(
            f"{server.url(f'/p{n}.jpg')},{photo_id},{7 + n}.0\n" for n, photo_id in enumerate(FLOAT_IDS)),
            encoding="utf-8")
        ws = Workspace(tmp_path / "ws")
        with monkeypatch.context() as before:
            _as_before(before)
            ingest_urls(ws, UrlIngestOptions(path=tmp_path / "list.csv", download=fast()))
        old = read_catalog(ws)
        report = ingest_urls(ws, UrlIngestOptions(path=tmp_path / "list.csv", download=fast()))
    catalog = read_catalog(ws)
    assert sorted(catalog["photo_id"]) == sorted(old["photo_id"]) and sorted(catalog["source_id"]) == FLOAT_IDS
    assert report.fetched == 0 and report.already_done == 3
    assert sorted(catalog["owner_id"]) == ["7", "8", "9"]
    assert any("kept as given" in note for note in report.notes)


def test_the_renamed_warning_says_when_the_ids_lost_their_point_zero(tmp_path):
    """A file written again with whole numbers (pandas once no cell is empty, a spreadsheet): the old rows are
    dropped, and the warning says why, not that another id column was chosen."""
    names = _photos(tmp_path / "photos", 2)
    (tmp_path / "meta.csv").write_text(f"file,photo_id\n{names[0]},11.0\n{names[1]},12.5\n", encoding="utf-8")
    _ingest(tmp_path, tmp_path / "meta.csv")  # mixed: kept as written
    (tmp_path / "meta.csv").write_text(f"file,photo_id\n{names[0]},11\n{names[1]},12.5\n", encoding="utf-8")
    report, _ = _ingest(tmp_path, tmp_path / "meta.csv")
    moved = [line for line in report.warnings if "another id now" in line]
    assert len(moved) == 1 and "(e.g. 11.0 is now 11)" in moved[0]
    assert "without their '.0'" in moved[0] and "--map source_id" not in moved[0]


# --- M1: a deleted byte-identical copy is gone, not renamed


def _with_copy(tmp_path: Path) -> list[str]:
    names = _photos(tmp_path / "photos", 3)
    (tmp_path / "photos" / "dup.jpg").write_bytes((tmp_path / "photos" / names[0]).read_bytes())
    return [*names, "dup.jpg"]


def test_deleting_one_of_two_byte_identical_copies_is_said_as_gone(tmp_path):
    names = _with_copy(tmp_path)
    ids = ["5301234000", "5301234001", "5301234002", "5301234999"]
    rows = "".join(f"{name},{photo_id}\n" for name, photo_id in zip(names, ids))
    (tmp_path / "meta.csv").write_text("file,photo_id\n" + rows, encoding="utf-8")
    _ingest(tmp_path, tmp_path / "meta.csv")
    (tmp_path / "photos" / "dup.jpg").unlink()
    (tmp_path / "meta.csv").write_text("file,photo_id\n" + rows.rsplit("dup.jpg", 1)[0], encoding="utf-8")
    report, catalog = _ingest(tmp_path, tmp_path / "meta.csv")
    assert not [line for line in report.warnings if "another id" in line]
    gone = [line for line in report.warnings if "no longer in it" in line]
    assert len(gone) == 1 and gone[0].startswith("1 photo ingested from this folder before is no longer in it "
                                                 "(e.g. 5301234999)")
    stored = catalog.set_index("source_id")
    assert stored.loc["5301234999", "error_detail"] == "no longer in the folder"
    assert (stored.loc[ids[:3], "status"] == "kept").all()


def test_renamed_copies_name_the_ids_their_file_has_now(tmp_path):
    names = _with_copy(tmp_path)
    (tmp_path / "meta.csv").write_text("file,old_id,photo_id\n" + "".join(
        f"{name},old{n},{100 + n}\n" for n, name in enumerate(names)), encoding="utf-8")
    _ingest(tmp_path, tmp_path / "meta.csv", source_id="old_id")
    report, catalog = _ingest(tmp_path, tmp_path / "meta.csv")  # photo_id is the id now
    moved = [line for line in report.warnings if "another id now" in line]
    assert len(moved) == 1 and moved[0].startswith("4 photos ingested from this folder before have another id now "
                                                   "(e.g. old0 is now 100)")
    detail = catalog.set_index("source_id")["error_detail"]
    # old0 and old3 hold the same bytes, now under 100 and 103: either may be its file
    assert detail["old0"] == detail["old3"] == "its file is in the folder under the ids 100, 103"
    assert detail["old1"] == "its file is in the folder under the id 101"


# --- M2: the "columns swapped" hint


def _merged_positions() -> pd.DataFrame:
    """7 Paris rows right, 3 Sydney rows written with lat and lon swapped (a file merged from two sources)."""
    return pd.DataFrame({"source_id": [f"p{n}" for n in range(10)], "lat": ["48.86"] * 7 + ["151.21"] * 3,
                         "lon": ["2.35"] * 7 + ["-33.87"] * 3})


def test_some_swapped_rows_are_named_as_rows_to_fix_not_a_column_swap(tmp_path):
    line, = coordinate_warnings(_merged_positions(), ("GPS Latitude", "GPS Longitude"))
    assert "3 of them (photo p7: GPS Latitude '151.21', GPS Longitude '-33.87')" in line
    assert "swap the two values in those rows of the file" in line
    assert "read the right way round too" not in line and "If so, ingest again" not in line
    # the column swap is given only as right when every row is swapped, the 7 others with them
    assert "is right only if every row has them swapped, the 7 other positions too" in line
    assert "--map 'lat=GPS Longitude' --map 'lon=GPS Latitude'" in line  # quoted for the shell


def test_a_swapped_file_is_told_to_swap_its_columns_and_what_else_swaps(tmp_path):
    positions = _merged_positions()
    positions["lat"], positions["lon"] = ["151.21"] * 7 + ["48.86"] * 3, ["-33.87"] * 7 + ["2.35"] * 3
    line, = coordinate_warnings(positions, ("GPS Latitude", "GPS Longitude"))
    assert "are the columns swapped? If so, ingest again with --map 'lat=GPS Longitude' --map 'lon=GPS Latitude'" \
        in line
    assert "the 3 other photos with a position, whose values fit either way, are then read swapped too" in line


# --- L3: an empty download column never makes the page the image


def test_an_empty_url_column_beside_a_photo_page_is_no_download_of_the_page(tmp_path):
    pages = [f"https://www.flickr.com/photos/x/{n}/" for n in range(2)]
    table = pd.DataFrame({"url": ["", ""], "photopage": pages, "photoid": ["1", "2"]})
    records = url_records(table, {})
    assert records["url"].isna().all() and records["page_url"].tolist() == pages
    assert set(records["drop_reason"]) == {"bad_url"}
    table.to_csv(tmp_path / "list.csv", index=False)
    ws = Workspace(tmp_path / "ws")
    report = ingest_urls(ws, UrlIngestOptions(path=tmp_path / "list.csv", download=fast()))
    assert report.fetched == 0 and report.dropped_by_reason == {"bad_url": 2}
    empty = [line for line in report.warnings if "is empty in every row" in line]
    assert len(empty) == 1 and "'url'" in empty[0] and "'photopage'" in empty[0] and "--map url=" in empty[0]
    assert read_catalog(ws)["page_url"].tolist() == pages


@pytest.mark.parametrize(("columns", "url"), [(["url", "photopage", "image_url"], "image_url"),
                                              (["photopage"], "photopage"), (["lat", "Latitude"], None)])
def test_the_blank_column_preference_stays_for_other_columns(columns, url):
    """An empty url gives way to another download column; a page alone is still the URL (as before); other
    fields keep their preference for a filled column."""
    resolved = mapping.resolve_columns(columns, {}, blank={"url", "lat"})
    assert resolved.get("url") == url
    if "Latitude" in columns:
        assert resolved["lat"] == "Latitude"
