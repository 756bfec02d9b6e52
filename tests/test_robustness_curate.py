"""Bad input to `curate` commands: one clear line, the right exit code, no traceback, no data lost.

Each test here covers a case found by a robustness sweep of the CLI (bad numbers, corrupt
catalogs and side files, odd files in a photo folder).
"""

import os
import threading

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import jpeg_bytes
from typer.testing import CliRunner

from curate.cli.app import app
from curate.filters.run import ensure_thumbnails
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import FetchError, IngestJob
from curate.ingest.exif import read_exif_fields
from curate.ingest.folder import make_fetch
from curate.recipes import load_recipe
from curate.workspace import Workspace, read_catalog

runner = CliRunner()


def make_workspace(root, images: bool = False) -> Workspace:
    """A three-photo catalog (metadata only, or with stored JPEGs)."""
    ws = Workspace(root)
    records = pd.DataFrame({"source_id": ["1", "2", "3"], "owner_id": ["a", "b", "c"],
                            "tags": ["chicago skyline", "chicago", "paris skyline"]})
    colours = {"1": (200, 30, 30), "2": (30, 200, 30), "3": (30, 30, 200)}
    fetch = (lambda record: jpeg_bytes(color=colours[record["source_id"]])) if images else None
    run_ingest(ws, IngestJob("t", records, fetch, recipe=load_recipe("skylines")))
    return ws


def invoke(*args: str):
    return runner.invoke(app, [str(arg) for arg in args])


def assert_one_line_error(result, exit_code: int, *says: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for text in says:
        assert text in result.output


@pytest.mark.parametrize("args, says", [
    (["ingest", "demo", "--photos", "20", "--seed", "-1"], "--seed"),
    (["ingest", "demo", "--photos", "99999999999999999999"], "--photos"),
    (["split", "--seed", "-1"], "--seed"),
    (["filter", "--max-per-owner", "99999999999999999999"], "--max-per-owner"),  # audit AN: an OverflowError
    (["prefilter", "--topic", "skyline", "--seed", "-1"], "--seed"),
])
def test_out_of_range_seeds_and_sizes_are_usage_errors(tmp_path, args, says):
    make_workspace(tmp_path)
    assert_one_line_error(invoke(*args, "--workspace", tmp_path), 2, says)


@pytest.mark.parametrize("damage, says", [
    (lambda frame: frame.drop(columns=["status"]), "'status'"),
    (lambda frame: frame.assign(width="wide"), "does not match the schema"),
])
def test_a_catalog_with_a_missing_or_mistyped_column_is_exit_3_and_left_alone(tmp_path, damage, says):
    ws = make_workspace(tmp_path)
    damage(pd.read_parquet(ws.catalog_path)).to_parquet(ws.catalog_path)
    before = ws.catalog_path.read_bytes()
    for command in (["status"], ["filter"], ["split"]):
        assert_one_line_error(invoke(*command, "--workspace", tmp_path), 3, says, "catalog.parquet")
    assert ws.catalog_path.read_bytes() == before


def test_report_out_naming_a_file_is_a_usage_error(tmp_path):
    make_workspace(tmp_path / "ws")
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    assert_one_line_error(invoke("report", "--out", target, "--workspace", tmp_path / "ws"), 2, "--out")
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("args", [
    ["check-leakage", "--against", "s3://u:CSECRET01@bucket/x"],
    ["check-leakage", "--against", "https://127.0.0.1:8899/x?token=CSECRET02"],
    ["ingest", "folder", "s3://u:CSECRET05@bucket/x"],
    ["ingest", "urls", "http://u:CSECRET03@127.0.0.1:8899/urls.csv"],
    ["check-leakage", "--against", "s3://AKIA:wJal/CSECRET+x@bucket/x"],  # audit AO: a raw AWS secret holds "/"
    ["check-leakage", "--against", "s3://u:pa@CSECRET@bucket/x"],  # ... a password an "@"
    ["export", "-f", "csv", "--out", "s3://AKIA:wJal/CSECRET+x@bucket/x"],
])
def test_a_url_with_credentials_where_a_path_belongs_is_not_echoed(tmp_path, args):
    """Audit AN: a URL given where a local file or folder is expected came back in the error line in full, its
    password too (a Path collapses `s3://` to `s3:/`, which the URL redaction did not know)."""
    make_workspace(tmp_path / "ws")
    result = invoke(*args, "--workspace", tmp_path / "ws")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.startswith("error:") and "CSECRET" not in result.output, result.output


@pytest.mark.parametrize("content", [b"{\"truncated", b"[1, 2]", b"\xff\xfe junk"])
def test_a_corrupt_stage_report_names_the_file_and_the_command_that_rewrites_it(tmp_path, content):
    make_workspace(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "filter.json").write_bytes(content)
    assert_one_line_error(invoke("report", "--workspace", tmp_path), 3, "filter.json", "curate filter")


def test_a_corrupt_demo_truth_file_is_one_line(tmp_path):
    ws = make_workspace(tmp_path)
    ws.truth_path.write_bytes(b"not parquet")
    for command in ("score", "report"):
        assert_one_line_error(invoke(command, "--workspace", tmp_path), 2, "demo_truth.parquet")


def test_a_corrupt_embedding_cache_part_is_exit_3_naming_it(tmp_path):
    make_workspace(tmp_path)
    part = tmp_path / "cache" / "embeddings" / "efficientnet_lite0" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"PAR1 cut short by a full disk")
    result = invoke("prefilter", "--topic", "skyline", "--embeddings", "efficientnet_lite0", "--workspace", tmp_path)
    assert_one_line_error(result, 3, "part-00000.parquet", "curate embed")


def test_an_unreadable_thumbnail_cache_is_computed_again(tmp_path):
    ws = make_workspace(tmp_path, images=True)
    catalog = read_catalog(ws)
    cache = tmp_path / "cache" / "thumbnails.parquet"
    cache.parent.mkdir(parents=True, exist_ok=True)  # ingest already caches thumbnails
    cache.write_bytes(b"garbage")
    thumbnails = ensure_thumbnails(ws, catalog, workers=1)
    assert set(thumbnails) == set(catalog["sha256"])
    assert pq.read_table(cache).num_rows == 3  # rewritten as a readable cache


def test_a_named_pipe_in_a_photo_folder_is_dropped_not_waited_on(tmp_path):
    pipe = tmp_path / "chicago" / "pipe.jpg"
    pipe.parent.mkdir()
    os.mkfifo(pipe)
    outcome = {}

    def read_it():
        outcome["exif"] = read_exif_fields(pipe)
        try:
            make_fetch(tmp_path.resolve())({"abs_path": str(pipe), "file": "chicago/pipe.jpg"})
        except FetchError as exc:
            outcome["reason"] = exc.reason

    reader = threading.Thread(target=read_it, daemon=True)
    reader.start()
    reader.join(timeout=5)
    if reader.is_alive():  # unblock the stuck reader before failing
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
    assert not reader.is_alive(), "reading a named pipe blocked"
    assert outcome == {"exif": {}, "reason": "unreadable_file"}


def test_an_unreadable_catalog_says_how_to_get_past_it_and_that_works(tmp_path):
    """Audit AN: a truncated catalog.parquet said "restore it or re-run ingest" to every command, ingest
    included, which refuses it too. The line says to move it aside and ingest again, and that does rebuild it."""
    from helpers import jpeg_bytes as make_jpeg

    photos = tmp_path / "photos" / "Street"
    photos.mkdir(parents=True)
    for i in range(3):
        (photos / f"{i}.jpg").write_bytes(make_jpeg(color=(40 * i, 90, 200 - 40 * i)))
    ws = tmp_path / "ws"
    assert invoke("ingest", "folder", tmp_path / "photos", "--workspace", ws).exit_code == 0
    catalog = ws / "catalog.parquet"
    catalog.write_bytes(catalog.read_bytes()[:100])
    fix = "move it aside (mv catalog.parquet catalog.parquet.bad) and run the ingest again"
    assert_one_line_error(invoke("status", "--workspace", ws), 3, fix)
    refused = invoke("ingest", "folder", tmp_path / "photos", "--workspace", ws)  # (after its EXIF progress lines)
    assert refused.exit_code == 3 and refused.output.strip().splitlines()[-1].startswith("error:")
    assert fix in refused.output and "Traceback" not in refused.output
    catalog.rename(ws / "catalog.parquet.bad")
    again = invoke("ingest", "folder", tmp_path / "photos", "--workspace", ws)
    assert again.exit_code == 0, again.output
    assert len(read_catalog(Workspace(ws))) == 3 and read_catalog(Workspace(ws))["sha256"].notna().all()


def test_a_report_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    """Audit AN: `curate report` on a read-only workspace (report/ already there) died with a PermissionError
    traceback at its first plot; every other command refuses such a workspace in one line. (As root a chmod
    cannot deny a write, so the folder's write is made to fail as a read-only one does.)"""
    import tempfile

    make_workspace(tmp_path / "ws")
    (tmp_path / "ws" / "report").mkdir()

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    assert_one_line_error(invoke("report", "--workspace", tmp_path / "ws"), 2, "cannot write the report to",
                          "Permission denied", "--out")
