"""The CLI skin: status tables, JSON, workspace resolution and one-line errors."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from classify.cli import app as classify_app
from curate.cli.app import app
from curate.cli.common import run_app
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import IngestJob
from curate.recipes import load_recipe
from curate.workspace import Workspace

runner = CliRunner()


def make_catalog(root) -> None:
    records = pd.DataFrame({
        "source_id": ["1", "2", "3", "4", "1"],
        "owner_id": ["a", "a", "b", None, "c"],
        "tags": ["chicago skyline", "chicago", "nyc", "chicago nyc", "tokyo"],
        "lat": [41.8, 41.9, None, 40.7, 35.6],
        "lon": [-87.6, -87.7, None, -74.0, 139.7],
    })
    run_ingest(Workspace(root), IngestJob("t", records, None, recipe=load_recipe("skylines")))


def test_status_json_counts_labels_and_reasons(tmp_path):
    make_catalog(tmp_path)
    result = runner.invoke(app, ["status", "--workspace", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["photos"] == 5 and facts["kept"] == 4 and facts["dropped"] == 1
    by_label = {row["label"]: row for row in facts["by_label"]}
    assert by_label["chicago"]["total"] == 2
    assert by_label["(no label)"]["total"] == 1 and by_label["(no label)"]["kept"] == 1  # chicago + nyc: ambiguous
    assert by_label["tokyo"]["duplicate_photo_id"] == 1 and by_label["tokyo"]["kept"] == 0  # repeated id "1"
    assert by_label["(all)"]["total"] == 5 and by_label["(all)"]["duplicate_photo_id"] == 1


def test_status_table_and_env_workspace(tmp_path, monkeypatch):
    make_catalog(tmp_path)
    monkeypatch.setenv("CURATE_WORKSPACE", str(tmp_path))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "chicago" in result.stdout and "5 photos" in result.stdout


def test_missing_catalog_is_one_line_exit_2(tmp_path):
    result = runner.invoke(app, ["status", "--workspace", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no catalog" in result.output and "curate ingest" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_classify_devices_reports_what_auto_will_use():
    import torch

    result = runner.invoke(classify_app, ["devices", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["torch"] == torch.__version__
    expected = "cuda" if torch.cuda.is_available() else "mps" if facts["mps"] else "cpu"
    assert facts["auto"].startswith(expected)
    assert (facts["cuda_devices"] != []) == torch.cuda.is_available()


def test_asking_for_a_missing_device_is_a_usage_error():
    import pytest
    import torch

    from classify.devices import pick_device
    from curate.errors import UsageError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UsageError, match="not available"):
        pick_device("cuda")
    with pytest.raises(UsageError, match="must be one of"):
        pick_device("tpu")


def _run(application, prog: str, args: list[str], capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the installed entry point's way of running the app."""
    with pytest.raises(SystemExit) as stopped:
        run_app(application, prog, args)
    out = capsys.readouterr()
    return stopped.value.code, out.out, out.err


@pytest.mark.parametrize("prog, args, says", [
    ("curate", ["filter", "--no-such-flag"], "--no-such-flag"),
    ("curate", ["ingest", "urls", "list.csv", "--workers", "two"], "--workers"),
    ("curate", ["ingest", "demo", "--photos", "many"], "--photos"),
    ("curate", ["ingest", "flickr"], "--tags"),
    ("classify", ["evaluate"], "run"),
    ("curate", ["filter", "--drop-quality"], "--drop-quality"),  # audit AL: named `curate --help`
    ("curate", ["ingest", "folder", "x", "--map"], "--map"),
    ("classify", ["train", "--lr"], "--lr"),
])
def test_parser_errors_are_one_line_exit_2_naming_the_help(prog, args, says, capsys):
    code, out, err = _run(app if prog == "curate" else classify_app, prog, args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "--help" in lines[0], err
    # the command's own help, not the top level's
    command = " ".join([prog, *[a for a in args[:2] if not a.startswith("-") and a not in ("x", "list.csv")]])
    assert f"(see `{command} --help`)" in lines[0], err
    assert "Traceback" not in err and not out


def test_a_refused_setting_value_is_one_line_exit_2_naming_the_flag(capsys):
    """A value of the right type that the setting's check refuses (not the parser)."""
    code, out, err = _run(app, "curate", ["ingest", "urls", "list.csv", "--workers", "0"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--workers" in err and "got 0" in err, err
    assert "Traceback" not in err and not out


def test_the_entry_point_keeps_exit_codes_help_and_command_errors(tmp_path, capsys):
    code, out, _ = _run(app, "curate", ["status", "--help"], capsys)
    assert code == 0 and "Usage" in out
    code, _, err = _run(app, "curate", ["status", "--workspace", str(tmp_path / "none")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no catalog" in err
    make_catalog(tmp_path)
    code, out, _ = _run(app, "curate", ["status", "--workspace", str(tmp_path), "--json"], capsys)
    assert code == 0 and json.loads(out)["photos"] == 5
    code, out, _ = _run(classify_app, "classify", [], capsys)  # a bare group shows its commands
    assert code == 2 and "train" in out
