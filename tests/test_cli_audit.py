"""Bad input the CLI audit found handled badly: numeric settings where NaN, inf and negatives gave
tracebacks (demo owner counts, Flickr/Commons API retries) or were accepted and misbehaved later
(demo radius, Commons page size), and one-line errors that named the wrong problem. Each is one
line now, exit 2, naming what to fix, before anything is written or fetched."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.records import records_to_rows
from curate.workspace import Workspace, write_catalog

runner = CliRunner()

CASES = [
    (["ingest", "demo", "--photos", "20", "--owner-median-photos", "nan"], "--owner-median-photos"),
    (["ingest", "demo", "--photos", "20", "--owner-median-photos", "inf"], "--owner-median-photos"),
    (["ingest", "demo", "--photos", "20", "--owner-sigma", "nan"], "--owner-sigma"),
    (["ingest", "demo", "--photos", "20", "--sandals-max", "-1"], "--sandals-max"),
    (["ingest", "demo", "--photos", "20", "--city-radius-km", "0"], "--city-radius-km"),
    (["ingest", "demo", "--photos", "20", "--city-radius-km", "nan"], "--city-radius-km"),
    (["ingest", "flickr", "--tags", "chicago", "--api-retries", "-1"], "--api-retries"),
    (["ingest", "flickr", "--tags", "chicago", "--api-backoff-max-s", "nan"], "--api-backoff-max-s"),
    (["ingest", "flickr", "--tags", "chicago", "--cap", "0"], "--cap"),
    (["ingest", "commons", "--category", "Skylines", "--api-retries", "-1"], "--api-retries"),
    (["ingest", "commons", "--category", "Skylines", "--page-size", "0"], "--page-size"),
    (["ingest", "commons", "--category", "Skylines", "--page-size", "100000"], "--page-size"),
    (["ingest", "commons", "--category", "Skylines", "--maxlag-s", "-1"], "--maxlag-s"),
    (["ingest", "commons", "--category", "Skylines", "--api-backoff-s", "-1"], "--api-backoff-s"),
    (["ingest", "commons", "--category", "Skylines", "--radius-m", "500"], "--radius-m"),  # (applies to --near)
    (["filter", "--workers", "0"], "--workers"),
    (["prefilter", "--topic", "x", "--batch-size", "-1"], "--batch-size"),  # (a --mode finetune flag)
    (["prefilter", "--topic", "x", "--image-size", "-1"], "--image-size"),
]


@pytest.mark.parametrize("args, names", CASES, ids=[" ".join(a[1:2] + a[-2:]) for a, _ in CASES])
def test_a_bad_number_is_one_line_exit_2(args, names, tmp_path, monkeypatch):
    monkeypatch.setenv("FLICKR_API_KEY", "not-a-real-key")
    result = runner.invoke(app, [*args, "-w", str(tmp_path / "ws")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and names in lines[0] and "Traceback" not in result.output, result.output
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


# -- messages that name the real problem (same audit) --------------------------------------------

def one_line(args: list, code: int = 2) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    lines = result.output.strip().splitlines()
    assert result.exit_code == code and len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_a_store_that_is_a_file_is_refused_before_anything_is_stored(tmp_path):
    afile = tmp_path / "photo.jpg"
    afile.write_bytes(b"x")
    said = one_line(["ingest", "demo", "--photos", "20", "-w", tmp_path / "ws", "--store", afile])
    assert "is a file, not a folder" in said
    assert not (tmp_path / "ws" / "store.json").exists() and not (tmp_path / "ws" / "catalog.parquet").exists()


@pytest.mark.parametrize("command", [["status"], ["check-leakage"], ["report"], ["export", "-f", "csv", "-o", "OUT"]])
def test_a_workspace_that_is_a_file_is_named_as_such(tmp_path, command):
    afile = tmp_path / "photo.jpg"
    afile.write_bytes(b"x")
    args = [tmp_path / "out" if a == "OUT" else a for a in command]
    assert "is a file, not a folder" in one_line([*args, "-w", afile])


def test_prefilter_names_a_missing_catalog_and_an_unknown_embedding_cache(tmp_path):
    assert "no catalog" in one_line(["prefilter", "--topic", "x", "-w", tmp_path / "nothing"])
    ws = Workspace(tmp_path / "ws")
    ws.ensure()
    write_catalog(ws, schema.to_pandas(schema.conform(records_to_rows(
        pd.DataFrame({"source_id": ["a"], "label": ["x"]}), "t"))))
    said = one_line(["prefilter", "--topic", "x", "-w", ws.root, "--embeddings", "bogus"])
    assert "no such embedding cache" in said and "bogus" in said


def test_folders_given_where_files_are_expected_are_named_as_folders(tmp_path):
    assert "is a folder" in one_line(["filter", "-w", tmp_path / "ws", "--recipe", tmp_path])


def test_label_column_with_label_from_folder_is_refused(tmp_path):
    """The audit: the column was never read and only a warning said so."""
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "meta.csv").write_text("file,lab\na/x.jpg,b\n", encoding="utf-8")
    said = one_line(["ingest", "folder", tmp_path / "src", "-w", tmp_path / "ws", "--metadata", tmp_path / "meta.csv",
                     "--label-column", "lab", "--label-from", "folder"])
    assert "--label-column" in said and "--label-from folder" in said


def test_a_sidecar_with_a_header_and_no_rows_is_not_a_traceback(tmp_path):
    """Found while checking the above: an empty sidecar with --label-column was a KeyError traceback."""
    from helpers import smooth_photo

    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "a" / "x.jpg").write_bytes(smooth_photo(1, 80, 60, "JPEG"))
    (tmp_path / "meta.csv").write_text("file,lab\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", "folder", str(tmp_path / "src"), "-w", str(tmp_path / "ws"),
                                 "--metadata", str(tmp_path / "meta.csv"), "--label-column", "lab"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "label column is empty for every photo" in " ".join(result.output.split())


@pytest.mark.parametrize("args", [["status", "-w", ""], ["report", "-w", "WS", "--out", ""],
                                  ["ingest", "demo", "--photos", "20", "-w", " "],
                                  ["filter", "-w", "WS", "--recipe", ""], ["prefilter", "-w", "WS", "--recipe", " "],
                                  ["ingest", "scrape", "WS", "-w", "WS", "--recipe", ""]])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(args, tmp_path, monkeypatch, capsys):
    """The audit: `-w ''` and `report --out ''` meant the current folder (an ingest would fill it).
    A parser error: run as the console script runs it (run_app makes click's box one line)."""
    from curate.cli.common import run_app

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        run_app(app, "curate", [str(tmp_path / "ws") if a == "WS" else a for a in args])
    lines = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(lines) == 1 and "is empty" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["filter", "split", "check-leakage", "status"])
def test_an_empty_catalog_engine_is_refused_not_read_as_auto(command, tmp_path):
    """`--catalog-engine ''` (a script's unset variable) ran the default engine without a word."""
    ws = Workspace(tmp_path / "ws").ensure()
    write_catalog(ws, schema.empty_catalog())
    result = runner.invoke(app, [command, "-w", str(ws.root), "--catalog-engine", ""])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "engine '' is not a catalog engine; use one of auto, pandas, duckdb" in " ".join(result.output.split())


def test_scrape_names_a_missing_folder_before_any_setting_rule(tmp_path):
    """Audit row 5c: with the default off-topic rate and no --offtopic, a missing FOLDER was
    reported as 'needs off-topic pixels' - true, but not what was wrong."""
    for args, named in ([str(tmp_path / "nope")], f"FOLDER {tmp_path / 'nope'} is not a folder"), \
            ([str(tmp_path), "--offtopic", str(tmp_path / "gone")], f"--offtopic {tmp_path / 'gone'} is not a folder"):
        result = runner.invoke(app, ["ingest", "scrape", *args, "--topic", "urban", "-w", str(tmp_path / "ws")])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert named in " ".join(result.output.split())
        assert not (tmp_path / "ws").exists()
