"""Running an ingest again: metadata of photos already in the catalog is updated (never their
images), and every ingest that reads a table says which columns it mapped, recognised and ignored."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from curate.cli.app import app
from curate.ingest import folder as folder_source
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.ingest.mapping import DEFAULT_ALIASES, column_usage
from curate.ingest.urls import UrlIngestOptions, ingest_urls
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import REALDATA, jpeg_bytes
from tests.httpfixtures import FakeServer, Response

README = Path(__file__).resolve().parents[1] / "docs" / "workspace.md"  # the column spellings table
FERRARI = REALDATA / "flickr-ferrari"
IMAGE_COLUMNS = ["sha256", "image_path", "width", "height", "image_format"]
SIDECAR = pd.DataFrame({
    "file": ["one.jpg", "two.jpg", "three.jpg"],
    "photo_id": ["1", "2", "3"],
    "owner_nsid": ["a@N01", "b@N02", "c@N03"],
    "tags": ["chicago skyline", "tokyo skyline", "london bridge"],
    "latitude": ["41.88", "", "51.5"],
    "longitude": ["-87.63", "", "-0.12"],
    "photopage": [f"https://www.flickr.com/photos/x/{i}/" for i in (1, 2, 3)],
    "camera": ["X100", "", "EOS"],
})


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, name in enumerate(SIDECAR["file"]):
        (folder / name).write_bytes(jpeg_bytes(color=(40 * index, 90, 160)))
    SIDECAR.to_csv(tmp_path / "meta.csv", index=False)
    return folder


@pytest.fixture
def fetches(monkeypatch):
    """Every file the folder source reads for the engine, by photo id."""
    calls: list[str] = []
    real = folder_source.make_fetch

    def counting(root):
        fetch = real(root)

        def wrapped(record):
            calls.append(record["photo_id"])
            return fetch(record)

        return wrapped

    monkeypatch.setattr(folder_source, "make_fetch", counting)
    return calls


def cli(*args: str):
    return CliRunner().invoke(app, ["ingest", *args])


def test_a_corrected_map_updates_page_url_without_reading_images_again(tmp_path, photos, fetches):
    ws = tmp_path / "ws"
    # a wrong map first (a folder's photopage is its page_url by default since audit AM)
    first = cli("folder", str(photos), "--metadata", str(tmp_path / "meta.csv"), "--map", "url=photopage",
                "-w", str(ws))
    assert first.exit_code == 0, first.output
    assert len(fetches) == 3
    before = read_catalog(Workspace(ws)).set_index("source_id")
    assert before["page_url"].isna().all()  # photopage went to url, as mapped
    second = cli("folder", str(photos), "--metadata", str(tmp_path / "meta.csv"), "--map", "page_url=photopage",
                 "-w", str(ws))
    assert second.exit_code == 0, second.output
    assert len(fetches) == 3, "a photo already in the catalog was read again"
    after = read_catalog(Workspace(ws)).set_index("source_id")
    assert after.loc[["1", "2", "3"], "page_url"].tolist() == SIDECAR["photopage"].tolist()
    pd.testing.assert_frame_equal(after[IMAGE_COLUMNS], before[IMAGE_COLUMNS])
    assert "metadata updated for 3 rows" in second.output
    assert re.search(r"page_url 3\b", second.output) and re.search(r"\burl 3\b", second.output)


def test_an_edited_sidecar_updates_tags_label_and_position_but_not_later_decisions(tmp_path, photos, fetches):
    ws = Workspace(tmp_path / "ws")
    options = FolderOptions(folder=photos, metadata=tmp_path / "meta.csv", recipe="skylines", workers=1)
    ingest_folder(ws, options)
    catalog = read_catalog(ws)
    later = catalog["source_id"] == "3"  # a later stage's decisions on one photo
    catalog.loc[later, ["status", "drop_reason", "drop_stage", "geo_distance_km"]] = [
        "dropped", "geo_outlier", "filter", 880.0]
    catalog.loc[~later, "split"] = "train"
    write_catalog(ws, catalog)
    before = read_catalog(ws).set_index("source_id")
    assert before.loc["1", "label"] == "chicago" and before.loc["2", "label"] == "tokyo"

    edited = SIDECAR.copy()
    edited.loc[0, ["tags", "latitude", "longitude"]] = ["tokyo skyline", "35.68", "139.76"]
    edited.loc[2, "tags"] = "london bridge thames"
    edited.to_csv(tmp_path / "meta.csv", index=False)
    report = ingest_folder(ws, options)
    assert len(fetches) == 3 and report.fetched == 0
    after = read_catalog(ws).set_index("source_id")
    assert list(after.loc["1", "tags"]) == ["tokyo", "skyline"] and after.loc["1", "label"] == "tokyo"
    assert (after.loc["1", "lat"], after.loc["1", "lon"]) == (35.68, 139.76)
    assert list(after.loc["3", "tags"]) == ["london", "bridge", "thames"]
    decisions = [*IMAGE_COLUMNS, "status", "drop_reason", "drop_stage", "geo_distance_km", "split"]
    pd.testing.assert_frame_equal(after[decisions], before[decisions])
    pd.testing.assert_series_equal(after.loc["2"], before.loc["2"])
    assert report.metadata_updated == 2
    assert report.changed_columns == {"tags": 2, "label": 1, "tag_labels": 1, "lat": 1, "lon": 1}


def test_the_folder_column_report_lists_mapped_recognised_and_ignored(tmp_path, photos):
    renamed = SIDECAR.rename(columns={"owner_nsid": "Photographer"})
    renamed.to_csv(tmp_path / "meta.csv", index=False)
    result = cli("folder", str(photos), "--metadata", str(tmp_path / "meta.csv"), "--map", "owner_id=Photographer",
                 "-w", str(tmp_path / "ws"), "--json")
    assert result.exit_code == 0, result.output
    columns = json.loads(result.stdout)["columns"]
    assert columns["mapped"] == {"owner_id": "Photographer"}
    assert columns["recognised"] == {"source_id": "photo_id", "file": "file", "tags": "tags", "lat": "latitude",
                                     "lon": "longitude", "page_url": "photopage"}  # photos on disk: a page
    assert columns["ignored"] == ["camera"]
    table = cli("folder", str(photos), "--metadata", str(tmp_path / "meta.csv"), "-w", str(tmp_path / "ws2"))
    assert table.exit_code == 0, table.output
    assert "columns mapped by --map: none" in table.output
    assert "owner_nsid" not in table.output and re.search(r"columns ignored: Photographer, camera", table.output)
    assert "photo_id → source_id" in table.output


def test_a_label_column_not_used_for_labels_is_reported_as_ignored():
    usage = column_usage(["file", "label", "notes"], {}, unused_fields=("label",))
    assert usage.recognised == {"file": "file"} and usage.ignored == ("label", "notes")
    usage = column_usage(["file", "Kind"], {"label": "kind"})
    assert usage.mapped == {"label": "Kind"} and usage.ignored == ()


def test_a_urls_re_ingest_updates_metadata_without_downloading_and_reports_columns(tmp_path):
    table = pd.DataFrame({"photoid": ["1", "2"], "usertags": ["paris", "rome"], "views": ["10", "20"]})
    with FakeServer() as server:
        for photo_id in table["photoid"]:
            server.route(f"/{photo_id}.jpg", Response(jpeg_bytes(color=(int(photo_id) * 50, 0, 0))))
        table["downloadurl"] = [server.url(f"/{photo_id}.jpg") for photo_id in table["photoid"]]
        table.to_csv(tmp_path / "list.csv", index=False)
        ws = Workspace(tmp_path / "ws")
        first = ingest_urls(ws, UrlIngestOptions(path=tmp_path / "list.csv"))
        assert first.stored == 2 and server.hit_count() == 2
        assert first.columns.recognised == {"source_id": "photoid", "tags": "usertags", "url": "downloadurl"}
        assert first.columns.mapped == {} and first.columns.ignored == ("views",)
        table.loc[1, "usertags"] = "roma, colosseum"
        table.to_csv(tmp_path / "list.csv", index=False)
        second = ingest_urls(ws, UrlIngestOptions(path=tmp_path / "list.csv", column_map={"title": "views"}))
        assert server.hit_count() == 2, "the second run downloaded images again"
    catalog = read_catalog(ws).set_index("source_id")
    assert list(catalog.loc["2", "tags"]) == ["roma", "colosseum"]
    assert catalog["title"].tolist() == ["10", "20"]
    assert second.metadata_updated == 2 and second.changed_columns == {"title": 2, "tags": 1}
    assert second.columns.mapped == {"title": "views"} and second.columns.ignored == ()


def test_a_urls_row_with_a_corrected_url_is_downloaded(tmp_path):
    with FakeServer() as server:
        server.route("/good.jpg", Response(jpeg_bytes()))
        (tmp_path / "list.csv").write_text(f"id,url\n7,{server.url('/typo.jpg')}\n")
        ws = Workspace(tmp_path / "ws")
        ingest_urls(ws, UrlIngestOptions(path=tmp_path / "list.csv"))
        assert read_catalog(ws).loc[0, "drop_reason"] == "http_404"
        (tmp_path / "list.csv").write_text(f"id,url\n7,{server.url('/good.jpg')}\n")
        ingest_urls(ws, UrlIngestOptions(path=tmp_path / "list.csv"))
        assert server.hit_count("/good.jpg") == 1
    row = read_catalog(ws).iloc[0]
    assert row["status"] == "kept" and row["url"].endswith("/good.jpg") and row["sha256"]


def test_readme_lists_the_recognised_column_spellings_of_the_code():
    text = README.read_text(encoding="utf-8")
    start = text.index("| field | column spellings recognised |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        field, spellings = (cell.strip() for cell in line.strip("|").split("|"))
        rows[field.strip("`")] = tuple(re.findall(r"`([^`]+)`", spellings))
    assert rows == DEFAULT_ALIASES, "docs/workspace.md's column spellings differ from curate/ingest/mapping.py"


def test_ferrari_re_ingest_with_a_corrected_map(tmp_path):
    """The real Flickr Ferrari collection: a first ingest told to read photopage as url; a re-run with
    --map page_url=photopage fixes page_url in place (a few photos per colour keep it fast). (With no --map
    at all, a folder's photopage is its page_url since audit AM.)"""
    if not (FERRARI / "metadata.csv").is_file():
        pytest.skip(f"real data not found at {FERRARI} (../shared/realdata is absent in this checkout)")
    metadata = pd.read_csv(FERRARI / "metadata.csv", dtype=str, keep_default_na=False)
    subset = metadata.groupby("color_class").head(3)
    copy = tmp_path / "ferrari"
    for relative in subset["file"]:
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        (copy / relative).write_bytes((FERRARI / relative).read_bytes())
    subset.to_csv(copy / "metadata.csv", index=False)
    ws = tmp_path / "ws"
    first = cli("folder", str(copy), "--metadata", str(copy / "metadata.csv"), "--map", "url=photopage",
                "--workers", "2", "-w", str(ws))
    assert first.exit_code == 0, first.output
    assert "columns ignored: color_class, owner_location, width, height, exif_gps" in first.output
    before = read_catalog(Workspace(ws)).set_index("source_id").loc[subset["photo_id"]]
    second = cli("folder", str(copy), "--metadata", str(copy / "metadata.csv"), "--map", "page_url=photopage",
                 "--workers", "2", "-w", str(ws))
    assert second.exit_code == 0, second.output
    assert "already in the catalog 12" in second.output and "metadata updated for 12 rows" in second.output
    after = read_catalog(Workspace(ws)).set_index("source_id").loc[subset["photo_id"]]
    assert after["page_url"].tolist() == subset["photopage"].tolist()
    assert before["page_url"].isna().all() and after["url"].isna().all()
    pd.testing.assert_frame_equal(after[IMAGE_COLUMNS], before[IMAGE_COLUMNS])
    assert after["label"].tolist() == subset["color_class"].tolist()  # labels still from the folders


def test_doctests_of_the_mapping_module():
    import doctest

    from curate.ingest import mapping

    assert doctest.testmod(mapping).failed == 0


def test_a_reviewers_relabel_survives_a_re_ingest_and_a_changed_source_label_goes_under_it(tmp_path):
    """Human decisions win (found by an audit of the review loop): re-ingesting the same folder put
    the source's label back over a reviewer's relabel, while `curate status` read every stage fresh."""
    from curate.freshness_workspace import workspace_states
    from curate.review.session import ReviewSession

    root = tmp_path / "photos"
    root.mkdir()
    labels = {"p0.jpg": "coast", "p1.jpg": "coast", "p2.jpg": "forest", "p3.jpg": "forest"}
    for i, name in enumerate(labels):
        (root / name).write_bytes(jpeg_bytes(color=(60 * i, 90, 200 - 40 * i)))
    sidecar = root / "metadata.csv"
    sidecar.write_text("file,label\n" + "".join(f"{name},{label}\n" for name, label in labels.items()))
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=root))
    assert CliRunner().invoke(app, ["filter", "-w", str(ws.root)]).exit_code == 0
    session = ReviewSession(ws, user="tester")
    session.decide(["folder:p0.jpg"], "relabel", "forest")
    session.close()
    assert read_catalog(ws).set_index("photo_id").loc["folder:p0.jpg", "label"] == "forest"
    before = {name: state.state for name, state in workspace_states(ws, read_catalog(ws)).items()}

    report = ingest_folder(ws, FolderOptions(folder=root))  # the same folder again
    after = read_catalog(ws).set_index("photo_id")
    assert after.loc["folder:p0.jpg", "label"] == "forest"  # the reviewer's label stands
    assert report.metadata_updated == 0
    assert {name: state.state for name, state in workspace_states(ws, read_catalog(ws)).items()} == before

    # the source relabels p0 and p1: under the decision only the automatic label follows; p1 takes it
    sidecar.write_text("file,label\np0.jpg,beach\np1.jpg,beach\np2.jpg,forest\np3.jpg,forest\n")
    report = ingest_folder(ws, FolderOptions(folder=root))
    moved = read_catalog(ws).set_index("photo_id")
    assert report.metadata_updated == 2
    assert moved.loc["folder:p0.jpg", "label"] == "forest"
    assert moved.loc["folder:p0.jpg", "label_before_review"] == "beach"
    assert moved.loc["folder:p1.jpg", "label"] == "beach"


def test_rows_fetched_after_a_resume_get_the_same_list_columns_as_the_rest():
    """The engine audit: after a killed ingest was resumed, the rows fetched by the second run had
    quality_issues null while an uninterrupted ingest gives [] (the earlier rows had the column from
    the checkpoint, the new ones lacked it, and a concat filled NaN)."""
    from curate import schema
    from curate.ingest.engine_merge import merge_outcomes
    from curate.records import records_to_rows

    records = pd.DataFrame({"source_id": ["a", "b", "c"], "url": ["https://x/a", "https://x/b", "https://x/c"]})
    rows = records_to_rows(records, "urls")
    done = {"urls:a": {"photo_id": "urls:a", "sha256": "1" * 64}}
    checkpoint = schema.to_pandas(schema.conform(merge_outcomes(schema.empty_catalog(), rows, done, set())))
    assert checkpoint["quality_issues"].map(len).tolist() == [0]  # what a catalog without the column reads as
    fetched = {**done, "urls:b": {"photo_id": "urls:b", "sha256": "2" * 64},
               "urls:c": {"photo_id": "urls:c", "sha256": "3" * 64}}
    resumed = schema.to_pandas(schema.conform(merge_outcomes(checkpoint, rows, fetched, set())))
    fresh = schema.to_pandas(schema.conform(merge_outcomes(schema.empty_catalog(), rows, fetched, set())))
    assert resumed["quality_issues"].map(lambda v: None if v is None else list(v)).tolist() == [[], [], []]
    assert fresh["quality_issues"].map(list).tolist() == [[], [], []]


def test_a_re_ingest_counts_its_own_drops_and_what_it_read(tmp_path):
    """An audit's re-ingest said `203 rows: 203 images stored, 3 dropped (3 quality:dark)` when 5 images were new
    and the 3 drops were the filter's: the line counts ingest's own drops and, on a re-run, what it read."""
    from helpers import jpeg_bytes, jpeg_folder, no_fsync

    from curate.workspace import Workspace, read_catalog, write_catalog

    folder = jpeg_folder(tmp_path / "photos" / "cats", 3)
    ws = Workspace(tmp_path / "ws")
    with no_fsync():
        first = ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))
    assert first.summary() == "3 rows: 3 images stored, 0 dropped"
    catalog = read_catalog(ws)
    catalog.loc[0, ["status", "drop_reason", "drop_stage"]] = ["dropped", "quality:dark", "filter"]
    write_catalog(ws, catalog)
    (folder / "3.jpg").write_bytes(jpeg_bytes(color=(250, 250, 250)))
    with no_fsync():
        again = ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))
    assert again.dropped_by_reason == {}
    assert again.summary() == "4 rows: 4 images stored (1 read this run), 0 dropped"


def test_the_ingest_line_says_when_byte_identical_copies_share_a_stored_file(tmp_path):
    """Audit BB: "270 images stored" counted rows while 266 files were stored (byte-identical copies share one) and
    `curate embed` then said 266 stored images. The line gives both."""
    from helpers import jpeg_folder, no_fsync

    from curate.workspace import Workspace

    folder = jpeg_folder(tmp_path / "photos" / "cats", 3)
    (folder / "copy of 0.jpg").write_bytes((folder / "0.jpg").read_bytes())
    with no_fsync():
        report = ingest_folder(Workspace(tmp_path / "ws"), FolderOptions(folder=tmp_path / "photos", workers=1))
    assert report.summary() == "4 rows: 4 images stored (3 distinct: byte-identical copies share one file), 0 dropped"
