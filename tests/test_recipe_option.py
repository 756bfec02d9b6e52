"""`--recipe` on the commands a user runs by hand after filter and prefilter (audit CG: `curate split --recipe
wild.toml` was "No such option", so a recipe's [split], [leakage], [report] and [export] sections applied only under
`curate run`). The recipe's section gives what no flag gives; a flag wins."""

from __future__ import annotations

import json

import pytest
from helpers import demo_workspace
from typer.testing import CliRunner

from curate.cli.app import app
from curate.workspace import read_catalog

runner = CliRunner()


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("recipe-option"), photos=120, seed=5,
                          commands=(("filter", "--recipe", "skylines"),))


def recipe(tmp_path, sections: str):
    path = tmp_path / "r.toml"
    path.write_text('name = "r"\n[[labels]]\nname = "chicago"\n' + sections)
    return str(path)


def test_split_reads_the_recipes_split_section_and_a_flag_wins(ws, tmp_path):
    assert runner.invoke(app, ["split", "-w", str(ws.root)]).exit_code == 0
    placed = read_catalog(ws)["split"].dropna()
    default_test, default_val = (placed == "test").mean(), (placed == "val").mean()
    assert default_val > 0
    given = recipe(tmp_path, "[split]\ntest = 0.4\nval = 0.0\n")
    result = runner.invoke(app, ["split", "-w", str(ws.root), "--recipe", given, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["config"]["test"], report["config"]["val"]) == (0.4, 0.0)
    placed = read_catalog(ws)["split"].dropna()
    assert not (placed == "val").any() and (placed == "test").mean() > default_test
    result = runner.invoke(app, ["split", "-w", str(ws.root), "--recipe", given, "--test", "0.2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"]["test"] == 0.2


def test_a_bad_setting_in_the_recipes_section_is_named_with_the_recipe(ws, tmp_path):
    given = recipe(tmp_path, "[split]\ntset = 0.4\n")
    result = runner.invoke(app, ["split", "-w", str(ws.root), "--recipe", given])
    assert result.exit_code == 2
    assert f"recipe {given} [split]: unknown setting 'tset'" in " ".join(result.output.split())


def test_report_and_export_read_their_sections(ws, tmp_path):
    assert runner.invoke(app, ["split", "-w", str(ws.root)]).exit_code == 0
    given = recipe(tmp_path, "[report]\nmax_gallery = 3\n[export]\nformat = \"csv\"\nresize = 32\n")
    result = runner.invoke(app, ["report", "-w", str(ws.root), "--recipe", given])
    assert result.exit_code == 0, result.output
    report = json.loads((ws.root / "report" / "report.json").read_text())
    assert report["limits"]["max_gallery"] == 3
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", "-w", str(ws.root), "--recipe", given, "--format", "imagefolder",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "export.json").read_text())["config"]
    assert config["format"] == "imagefolder" and config["resize"] == 32  # the flag wins; the recipe gives the rest


def test_export_without_out_writes_where_the_recipe_says_and_says_what_is_missing(ws, tmp_path):
    assert runner.invoke(app, ["split", "-w", str(ws.root)]).exit_code == 0
    given = recipe(tmp_path, "[export]\nformat = \"csv\"\nout = \"my-export\"\n")
    result = runner.invoke(app, ["export", "-w", str(ws.root), "--recipe", given])
    assert result.exit_code == 0, result.output
    meta = json.loads((ws.root / "my-export" / "export.json").read_text())
    assert meta["format"] == "csv" and meta["provenance"]["recipe"] == "r"
    for args, says in ((["--format", "csv"], "say where to export: --out FOLDER"),
                       (["--recipe", recipe(tmp_path, "[split]\ntest = 0.2\n")], "say which format: --format")):
        result = runner.invoke(app, ["export", "-w", str(ws.root), *args])
        assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output


def test_a_recipes_against_is_read_from_the_recipes_folder_and_out_defaults_to_export(ws, tmp_path, monkeypatch):
    """Review CO: `check-leakage --recipe sub/r.toml` read `[leakage] against = "../other"` from the working folder
    (curate run reads it from the recipe's), and `export --recipe` refused a recipe without `[export] out`, which
    curate run and docs/recipes.md default to `export` in the workspace."""
    from helpers import jpeg_bytes

    assert runner.invoke(app, ["split", "-w", str(ws.root)]).exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    for i, colour in enumerate(((200, 10, 10), (10, 200, 10))):
        (other / f"p{i}.jpg").write_bytes(jpeg_bytes(color=colour))
    (tmp_path / "sub").mkdir()
    given = tmp_path / "sub" / "r.toml"
    given.write_text('name = "r"\n[[labels]]\nname = "chicago"\n[leakage]\nagainst = "../other"\n'
                     '[export]\nformat = "csv"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["check-leakage", "-w", str(ws.root), "--recipe", str(given)])
    assert result.exit_code in (0, 3), result.output
    assert "neither a workspace nor a folder" not in result.output
    result = runner.invoke(app, ["export", "-w", str(ws.root), "--recipe", str(given)])
    assert result.exit_code == 0, result.output
    assert json.loads((ws.root / "export" / "export.json").read_text())["format"] == "csv"


def test_a_recipe_path_under_home_is_read_alike_by_run_and_by_hand(tmp_path, monkeypatch):
    """Review CT: `[leakage] against = "~/x"` was <recipe folder>/~/x under `curate run`, $HOME/x by hand."""
    from pathlib import Path

    from curate.pipeline.sources import recipe_relative
    from curate.recipes import load_recipe

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    given = tmp_path / "sub" / "r.toml"
    given.parent.mkdir()
    given.write_text('name = "r"\n[[labels]]\nname = "chicago"\n')
    loaded = load_recipe(str(given))
    assert recipe_relative(loaded, Path("~/other")) == tmp_path / "home" / "other"
    assert recipe_relative(loaded, Path("../other")) == tmp_path / "sub" / ".." / "other"


def test_a_topic_with_nothing_to_match_is_refused(ws):
    """Review CT: `--topic -` has no key (no letter, digit or symbol), and the DuckDB report counted every photo
    with an ordinary tag as tagged."""
    result = runner.invoke(app, ["prefilter", "-w", str(ws.root), "--topic", "-"])
    assert result.exit_code == 2 and "must name a tag with a letter, digit or symbol" in result.output
    assert "Traceback" not in result.output


def test_the_cli_starts_without_matplotlib():
    """Review CT: every command imported the report's plots (matplotlib, and its font lookup) at start."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import sys, curate.cli.app; print('matplotlib' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-500:]
