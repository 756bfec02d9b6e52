"""Cases from the audit on real collections (docs/audits/real-collections-2026-12-04.md): bad
arguments get one line and the right exit code, and nothing is left silently wrong."""

from __future__ import annotations

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
