"""Cases from the audit on real collections (docs/audits/real-collections-2026-12-04.md): bad
arguments get one line and the right exit code, and nothing is left silently wrong."""

from __future__ import annotations

import json

import pytest
from helpers import jpeg_bytes
from typer.testing import CliRunner

from curate.cli.app import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def photo_folder(root, labels=("a", "b"), per_label=2):
    for i, label in enumerate(labels):
        (root / label).mkdir(parents=True, exist_ok=True)
        for k in range(per_label):
            (root / label / f"p{k}.jpg").write_bytes(jpeg_bytes(color=(40 * i + 10 * k, 90, 200 - 30 * k)))
    return root


@pytest.mark.parametrize("command", [
    ["ingest", "demo", "--photos", "10"],
    ["ingest", "folder", "PHOTOS"],
    ["ingest", "urls", "URLS"],
])
def test_ingest_into_a_file_as_workspace_is_one_line(tmp_path, command):
    photos = photo_folder(tmp_path / "photos")
    urls = tmp_path / "urls.csv"
    urls.write_text("url,label\nhttp://127.0.0.1:9/x.jpg,a\n")
    afile = tmp_path / "afile"
    afile.write_text("not a workspace")
    args = [{"PHOTOS": photos, "URLS": urls}.get(a, a) for a in command]
    result = invoke(*args, "-w", afile)
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.output
    assert "Traceback" not in result.output
    assert afile.read_text() == "not a workspace"


def ingest_folder_cli(folder, ws, *extra):
    return invoke("ingest", "folder", folder, "-w", ws, *extra)


def test_a_folder_of_split_folders_is_ingested_with_a_warning(tmp_path):
    """scenes15/{train,test}/<class>/: the first-level folders become the labels train and test, which
    is almost never meant (audit finding 9)."""
    root = tmp_path / "dataset"
    for split in ("train", "test"):
        photo_folder(root / split, labels=("coast", "forest"))
    result = ingest_folder_cli(root, tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert "warning: the labels are the first-level folders (test, train)" in result.output
    assert "coast, forest" in result.output and "curate ingest folder DIR/test" in result.output
    # label folders that are the classes: no such warning, even with subfolders of their own
    classes = tmp_path / "classes"
    photo_folder(classes / "coast", labels=("2019", "2020"))
    photo_folder(classes / "forest", labels=("2019", "2020"))
    result = ingest_folder_cli(classes, tmp_path / "ws2")
    assert result.exit_code == 0 and "warning" not in result.output, result.output


def test_scrape_refuses_a_folder_of_split_folders(tmp_path):
    root = tmp_path / "dataset"
    for split in ("train", "test"):
        photo_folder(root / split, labels=("coast", "forest"), per_label=3)
    off = photo_folder(tmp_path / "off", labels=("x",), per_label=3)
    result = invoke("ingest", "scrape", root, "--topic", "urban", "--offtopic", off / "x", "--photos", "10",
                    "-w", tmp_path / "ws")
    assert result.exit_code == 2, result.output
    assert "split folders (test, train)" in result.output and str(root / "test") in result.output
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


def test_photos_without_any_label_are_a_warning(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for k in range(3):
        (flat / f"p{k}.jpg").write_bytes(jpeg_bytes(color=(30 * k, 60, 90)))
    result = ingest_folder_cli(flat, tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert "warning: no photo has a label" in result.output
    # asked for: no warning
    result = ingest_folder_cli(flat, tmp_path / "ws2", "--label-from", "none")
    assert result.exit_code == 0 and "warning" not in result.output, result.output


def test_a_photo_beside_the_label_folders_is_named(tmp_path):
    root = photo_folder(tmp_path / "photos")
    (root / "loose.jpg").write_bytes(jpeg_bytes(color=(1, 2, 3)))
    result = ingest_folder_cli(root, tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert "warning: 1 photo sits beside the label folders (e.g. loose.jpg) and gets no label" in result.output


def test_a_sidecar_label_that_disagrees_with_the_folder_is_a_warning(tmp_path):
    root = photo_folder(tmp_path / "photos", labels=("fish", "birds"))
    (root / "metadata.csv").write_text("file,label,owner\nfish/p0.jpg,birds,ann\nfish/p1.jpg,fish,bob\n"
                                       "birds/p0.jpg,birds,cy\n")
    result = ingest_folder_cli(root, tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert "disagrees with the label folder for 1 photo " in result.output
    assert "fish/p0.jpg: folder fish, column birds" in result.output


def test_export_names_kept_photos_left_out_for_want_of_a_label(tmp_path):
    root = photo_folder(tmp_path / "photos", per_label=4)
    (root / "loose.jpg").write_bytes(jpeg_bytes(color=(250, 250, 10)))
    ws = tmp_path / "ws"
    assert ingest_folder_cli(root, ws).exit_code == 0
    assert invoke("split", "-w", ws).exit_code == 0
    result = invoke("export", "-f", "imagefolder", "-o", tmp_path / "out", "-w", ws)
    assert result.exit_code == 0, result.output
    assert "warning: 1 kept photo has no label and was not exported" in result.output
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert manifest["excluded"]["kept without a label"] == 1
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 8


def test_workspace_files_follow_the_umask_not_0600(tmp_path):
    """The catalog, stored images and report are for teammates and web servers too (audit 11c)."""
    import os
    import stat

    umask = os.umask(0o022)
    os.umask(umask)
    root = photo_folder(tmp_path / "photos")
    ws = tmp_path / "ws"
    assert ingest_folder_cli(root, ws).exit_code == 0
    assert invoke("report", "-w", ws).exit_code == 0
    files = [ws / "catalog.parquet", *(ws / "images").rglob("*.jpg"), *(ws / "report").rglob("*.html")]
    assert len(files) >= 6
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_a_spreadsheet_csv_with_semicolons_is_read(tmp_path):
    """Excel in many locales saves 'CSV' with ';' (audit 11d): read it rather than refuse it."""
    root = tmp_path / "flat"
    root.mkdir()
    for k in range(2):
        (root / f"p{k}.jpg").write_bytes(jpeg_bytes(color=(80 * k, 40, 90)))
    (root / "meta.csv").write_text("file;label;owner;tags\np0.jpg;coast;ann;sea, sand\np1.jpg;forest;bob;trees\n")
    result = ingest_folder_cli(root, tmp_path / "ws", "--metadata", root / "meta.csv")
    assert result.exit_code == 0, result.output
    import pandas as pd

    catalog = pd.read_parquet(tmp_path / "ws" / "catalog.parquet").set_index("source_id")
    assert catalog.loc["p0.jpg", "label"] == "coast" and catalog.loc["p1.jpg", "owner_id"] == "bob"
    # a broken file still gets one line that says how to fix it
    (root / "bad.csv").write_text('file,label\np0.jpg,coast,extra,more\np1.jpg,"forest\n')
    result = ingest_folder_cli(root, tmp_path / "ws2", "--metadata", root / "bad.csv")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "separated by commas, tabs or semicolons" in result.output


def test_a_url_list_with_semicolons_is_read(tmp_path):
    from curate.ingest.urls import read_url_table

    path = tmp_path / "urls.csv"
    path.write_text("photo_id;url;tags\n1;http://example.org/a.jpg?x=1,2;a,b\n")
    table = read_url_table(path)
    assert list(table.columns) == ["photo_id", "url", "tags"]
    assert table.loc[0, "url"] == "http://example.org/a.jpg?x=1,2"


def test_ctrl_c_while_the_command_line_is_imported_is_one_line(tmp_path, monkeypatch, capsys):
    """Importing the CLI takes seconds (pandas, torch, matplotlib): a Ctrl-C then printed a traceback
    from inside an import. The console scripts start in curate_entry, which catches it."""
    import sys

    import curate_entry

    (tmp_path / "slow_cli_for_test.py").write_text("raise KeyboardInterrupt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        curate_entry._start("slow_cli_for_test")
    assert stopped.value.code == 130
    err = capsys.readouterr().err
    assert err.strip() == curate_entry.INTERRUPTED and "Traceback" not in err
    sys.modules.pop("slow_cli_for_test", None)
    # the real entry points reach the real command lines
    (tmp_path / "fine_cli_for_test.py").write_text("def main():\n    print('ran')\n")
    curate_entry._start("fine_cli_for_test")
    assert capsys.readouterr().out == "ran\n"


def test_the_console_scripts_point_at_curate_entry():
    import tomllib
    from pathlib import Path

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"curate": "curate_entry:curate", "classify": "curate_entry:classify"}


def test_export_counts_held_ambiguous_photos_apart_and_names_the_review_queue(tmp_path):
    """Audit AC 6: photos the filter held as ambiguous (kept, no label, tags naming two labels) were counted as
    plain unlabelled photos, with advice to label folders; export now counts them apart and names the queue
    that gives each its label, in memory and streamed alike."""
    import pandas as pd

    from curate.workspace import Workspace, read_catalog, write_catalog

    root = photo_folder(tmp_path / "photos", per_label=4)
    (root / "loose.jpg").write_bytes(jpeg_bytes(color=(250, 250, 10)))
    (root / "torn.jpg").write_bytes(jpeg_bytes(color=(10, 250, 250)))
    ws = tmp_path / "ws"
    assert ingest_folder_cli(root, ws).exit_code == 0
    catalog = read_catalog(Workspace(ws))  # as the filter leaves a held ambiguous photo
    torn = catalog["source_id"].str.endswith("torn.jpg")
    catalog["tag_labels"] = pd.Series([["a", "b"] if flag else [] for flag in torn], index=catalog.index, dtype=object)
    write_catalog(Workspace(ws), catalog)
    assert invoke("split", "-w", ws).exit_code == 0
    result = invoke("export", "-f", "imagefolder", "-o", tmp_path / "out", "-w", ws)
    assert result.exit_code == 0, result.output
    assert ("warning: 1 kept photo has tags naming two or more labels (the filter held its drops as ambiguous) and "
            "was not exported; `curate review --queue ambiguous` gives each its label") in result.output
    assert "warning: 1 kept photo has no label and was not exported" in result.output
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert manifest["excluded"]["kept without a label"] == 1
    assert manifest["excluded"]["kept without a label, tags name two or more labels"] == 1
