"""Issue L (reliability), items 11-15: bad input gives one line or a row with a reason, never
a traceback, a hang or a write outside the workspace."""

import contextlib
import csv
import io
import json
import os
import shutil
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.model import RunMeta, build_classifier, save_model
from curate.cli.app import app as curate_app
from curate.errors import UsageError
from curate.stage_reports import save_stage_report
from curate.workspace import Workspace, write_catalog

runner = CliRunner()
CLASSES = ["harbour", "skyline", "tower"]


def one_line_error(result, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


# ---- 12: special files given to classify predict -------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.manual_seed(0)
    model, preprocess = build_classifier("efficientnet_lite0", len(CLASSES), pretrained=False, image_size=64)
    run = tmp_path_factory.mktemp("run")
    save_model(run, model, RunMeta(classes=CLASSES, backbone="efficientnet_lite0", preprocess=preprocess.to_dict()))
    return run


def png_bytes(width: int = 80, height: int = 60) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def predict_rows(run_dir, out, *paths) -> tuple[object, dict]:
    result = runner.invoke(classify_app, ["predict", str(run_dir), *map(str, paths), "--out", str(out),
                                          "--device", "cpu"])
    rows = {}
    if out.exists():
        with out.open(newline="", encoding="utf-8") as handle:
            rows = {row["path"]: row for row in csv.DictReader(handle)}
    return result, rows


@contextlib.contextmanager
def unblocking(fifo):
    """While inside, a reader that blocks on `fifo` is fed a few junk bytes and an end of file."""
    stop = threading.Event()

    def feed():
        while not stop.wait(0.2):
            try:
                descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while nobody reads
            except OSError:
                continue
            try:
                os.write(descriptor, b"junk, not an image")
            except OSError:
                pass
            finally:
                os.close(descriptor)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_predict_gives_a_fifo_a_row_instead_of_hanging(tmp_path, run_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "good.png").write_bytes(png_bytes())
    os.mkfifo(photos / "pipe.jpg")  # nobody writes: reading it would block forever
    with unblocking(photos / "pipe.jpg"):  # so a regression fails instead of hanging the suite
        result, rows = predict_rows(run_dir, tmp_path / "p.csv", photos)
    assert result.exit_code == 0, result.output
    assert rows[str(photos / "good.png")]["error"] == ""
    error = rows[str(photos / "pipe.jpg")]["error"]
    assert error.startswith("unreadable_file") and "regular file" in error


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_predict_refuses_an_endless_device_as_a_row(tmp_path, run_dir):
    (tmp_path / "good.png").write_bytes(png_bytes())
    result, rows = predict_rows(run_dir, tmp_path / "p.csv", "/dev/zero", tmp_path / "good.png")
    assert result.exit_code == 0, result.output
    assert rows["/dev/zero"]["error"].startswith("unreadable_file")
    assert rows["/dev/zero"]["label_1"] == ""


def test_predict_refuses_a_file_over_the_size_limit(tmp_path, run_dir, monkeypatch):
    import classify.decode

    big = tmp_path / "big.png"
    big.write_bytes(png_bytes(400, 400) + b"\0" * 5000)
    monkeypatch.setattr(classify.decode, "MAX_FILE_BYTES", 2000)
    monkeypatch.setattr(classify.decode.read_regular_file, "__defaults__", (2000,))
    result, rows = predict_rows(run_dir, tmp_path / "p.csv", big)
    assert result.exit_code == 3, result.output  # no file could be read: the reasons are in the CSV
    assert rows[str(big)]["error"].startswith("file_too_large")


# ---- 13: names and catalog columns that would become paths outside the workspace -----------------

DEMO_RECIPE = '''
labels_from = "skylines"
[[sources]]
kind = "demo"
photos = 40
image_width = 64
image_height = 48
'''


def write_recipe(folder, text: str, name: str = "r.toml"):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs", "a/b", "..", ".hidden", "", "x" * 65, "bad\nname"])
def test_unsafe_recipe_names_are_refused_before_anything_is_written(tmp_path, name):
    recipe = write_recipe(tmp_path, f"name = {json.dumps(name)}\n" + DEMO_RECIPE)
    ws = tmp_path / "inner" / "ws"
    result = runner.invoke(curate_app, ["run", str(recipe), "--workspace", str(ws)])
    line = one_line_error(result, 2)
    assert "safe name" in line
    assert not (tmp_path / "inner").exists() and not (tmp_path / "escape").exists()


def test_a_recipe_built_in_code_cannot_name_a_journal_outside(tmp_path):
    from curate.pipeline import state_path
    from curate.recipes import Recipe
    from curate.workspace import Workspace

    with pytest.raises(UsageError, match="safe name"):
        state_path(Workspace(tmp_path / "ws"), Recipe(name="../../x", labels=()))


def test_recipe_names_shipped_in_datasets_are_safe():
    from curate.recipes import DATASETS_DIR, load_recipe

    for path in DATASETS_DIR.glob("*.toml"):
        load_recipe(str(path))  # raises on an unsafe name


@pytest.mark.parametrize("column, value", [("sha256", "../../../../outside"), ("sha256", "ab" * 31 + "/x"),
                                           ("image_path", "../../secret.jpg"), ("image_path", "/etc/passwd")])
def test_hand_edited_image_columns_stop_training_before_any_file_is_touched(tmp_path, column, value):
    from tests.test_report import make_catalog

    ws = Workspace(tmp_path / "ws")
    catalog = make_catalog()
    kept = catalog.index[catalog["status"] == "kept"][0]
    catalog.loc[kept, column] = value
    write_catalog(ws, catalog)
    result = runner.invoke(classify_app, ["train", "--workspace", str(ws.root), "--device", "cpu",
                                          "--out", str(tmp_path / "run")])
    line = one_line_error(result, 3)
    assert "outside the workspace" in line and value in line
    assert not (ws.root / "cache").exists() and not (tmp_path / "run").exists()


# ---- 14: one line instead of a traceback ---------------------------------------------------------

def test_labels_from_cycle_is_one_line(tmp_path):
    write_recipe(tmp_path, 'name = "a"\nlabels_from = "b"\n', "a.toml")
    write_recipe(tmp_path, 'name = "b"\nlabels_from = "a"\n', "b.toml")
    result = runner.invoke(curate_app, ["run", str(tmp_path / "a.toml"), "--workspace", str(tmp_path / "ws")])
    line = one_line_error(result, 2)
    assert "circle" in line and "a -> b -> a" in line


def test_a_flickr_licence_id_that_is_not_a_number_is_exit_4(tmp_path, monkeypatch):
    from tests.fake_flickr import FakeFlickr, make_photos

    with FakeFlickr(make_photos(10)) as fake:
        fake._licences["licenses"]["license"].append(
            {"id": "abc", "name": "Odd", "url": "https://creativecommons.org/licenses/by/2.0/"})
        monkeypatch.setenv("FLICKR_API_KEY", fake.api_key)
        result = runner.invoke(curate_app, ["ingest", "flickr", "--tags", "chicago", "--endpoint", fake.endpoint,
                                            "--workspace", str(tmp_path / "ws")])
    line = one_line_error(result, 4)
    assert "licence" in line and "'abc'" in line


@pytest.fixture(scope="module")
def reported_workspace(tmp_path_factory):
    """The report tests' catalog and stage reports, written once for the module."""
    from tests.test_report import ALL_REPORTS, make_catalog

    ws = Workspace(tmp_path_factory.mktemp("report-ws") / "ws")
    write_catalog(ws, make_catalog())
    for stage, report in ALL_REPORTS.items():
        save_stage_report(ws, stage, "0" * 64, report)
    return ws


@pytest.fixture
def report_workspace(reported_workspace, tmp_path):
    """A private copy of it for each test (tests write runs and reports into it)."""
    shutil.copytree(reported_workspace.root, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


@pytest.mark.parametrize("content", ['{"accuracy": 0.5, "per_owner": [', "[1, 2]", '"text"',
                                     '{"per_owner": [1, 2]}', '{"top_losses": {"a": 1}}',
                                     '{"comparisons": [1]}', '{"accuracy": "high"}',
                                     '{"per_owner": [{"accuracy": "x", "photos": 1}, {"accuracy": 1, "photos": 2}]}',
                                     b"\xff\xfe{}"])
def test_a_broken_evaluation_json_is_one_line(report_workspace, content):
    folder = report_workspace.root / "runs" / "r1" / "evaluation"
    folder.mkdir(parents=True)
    path = folder / "evaluation.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = runner.invoke(curate_app, ["report", "--workspace", str(report_workspace.root)])
    line = one_line_error(result, 2)
    assert "evaluation.json" in line and "classify evaluate" in line


# ---- 11 and 15: what the report writes -----------------------------------------------------------

def test_a_tex_label_does_not_crash_the_report(tmp_path):
    from tests.test_report import ALL_REPORTS, make_catalog

    label = r"Tower $x^$ at $\frac{$"  # an even number of $: matplotlib would parse TeX and raise
    catalog = make_catalog()
    catalog["label"] = catalog["label"].replace("a", label)
    reports = json.loads(json.dumps(ALL_REPORTS))
    reports["filter"]["geo"][0]["label"] = label
    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, catalog)
    for stage, report in reports.items():
        save_stage_report(ws, stage, "0" * 64, report)
    result = runner.invoke(curate_app, ["report", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert len(list((ws.root / "report" / "plots").glob("*.png"))) >= 2


def test_plot_titles_show_dollar_signs_literally():
    from curate.report.plots import plain

    text = plain(r"$x^2$ and $\nosuch$")
    assert "$" not in text.replace(r"\$", "")  # every dollar escaped: no mathtext


def test_formula_cells_in_attribution_csv_are_quoted(report_workspace):
    from curate.workspace import read_catalog

    catalog = read_catalog(report_workspace)
    kept = catalog.index[catalog["status"] == "kept"]
    hostile = {kept[0]: '=HYPERLINK("http://evil","x")', kept[1]: "+1+2", kept[2]: "-3", kept[3]: "@SUM(A1)"}
    for row, text in hostile.items():
        catalog.loc[row, "owner_name"] = text
    catalog.loc[kept[4], "owner_name"] = "Ann = Bob"  # only a first character is dangerous
    write_catalog(report_workspace, catalog)
    result = runner.invoke(curate_app, ["report", "--workspace", str(report_workspace.root)])
    assert result.exit_code == 0, result.output
    with (report_workspace.root / "report" / "attribution.csv").open(newline="", encoding="utf-8") as handle:
        owners = {row["photo_id"]: row["owner"] for row in csv.DictReader(handle)}
    for row, text in hostile.items():
        assert owners[catalog.loc[row, "photo_id"]] == "'" + text
    assert owners[catalog.loc[kept[4], "photo_id"]] == "Ann = Bob"
    assert not any(owner[:1] in "=+-@" for owner in owners.values() if owner)


# ---- 15: the Flickr key in any spelling, settings checked before the first step, control chars ----

def test_every_copy_of_the_flickr_key_is_scrubbed():
    from urllib.parse import quote

    from curate.ingest.flickr.api import FlickrClient

    key = "fk3y0123456789abcdef0123456789ab"
    fully_encoded = "".join(f"%{byte:02x}" for byte in key.encode())
    with FlickrClient(key) as client:
        for leak in (key, key.upper(), key[:12], key[-9:], quote(key), fully_encoded, f"key={key[:20]}…"):
            scrubbed = client.scrub(f"GET failed near {leak} (see log)")
            assert "<api key>" in scrubbed, leak
            assert leak not in scrubbed and key[:8].lower() not in scrubbed.lower()
        assert client.scrub("photo 0123 by fk3y") == "photo 0123 by fk3y"  # short pieces are left alone


@pytest.mark.parametrize("section, expected", [
    ('[embed]\ndevice = "cuda:99"\n', "[embed] device = 'cuda:99'"),
    ('[report]\nmax_gallery = -1\n', "[report]: max_gallery must be a whole number, 0 or more"),
    ('[report]\nowner_alarm = 2.0\n', "[report]: owner_alarm must be a share"),
])
def test_recipe_settings_are_refused_before_the_first_step(tmp_path, section, expected):
    recipe = write_recipe(tmp_path, 'name = "early"\n' + DEMO_RECIPE + section)
    ws = tmp_path / "ws"
    result = runner.invoke(curate_app, ["run", str(recipe), "--workspace", str(ws)])
    line = one_line_error(result, 2)
    assert expected in line
    assert not (ws / "catalog.parquet").exists()  # ingest never ran


@pytest.mark.skipif(torch.cuda.is_available(), reason="cuda is available here")
def test_a_recipe_asking_for_a_missing_gpu_is_refused_before_the_first_step(tmp_path):
    recipe = write_recipe(tmp_path, 'name = "gpu"\n' + DEMO_RECIPE + '[embed]\ndevice = "cuda"\n')
    result = runner.invoke(curate_app, ["run", str(recipe), "--workspace", str(tmp_path / "ws")])
    assert "[embed] device = 'cuda'" in one_line_error(result, 2)
    assert not (tmp_path / "ws" / "catalog.parquet").exists()


def test_report_cli_and_recipe_share_one_message(report_workspace):
    result = runner.invoke(curate_app, ["report", "--workspace", str(report_workspace.root), "--max-gallery", "-1"])
    assert "error: --max-gallery must be a whole number, 0 or more" in one_line_error(result, 2)


def test_status_strips_terminal_escapes_from_catalog_text(report_workspace):
    from curate.workspace import read_catalog

    catalog = read_catalog(report_workspace)
    catalog["label"] = catalog["label"].replace("a", "chi\x1b]0;pwned\x07cago\x1b[2J")
    catalog["tags"] = catalog["tags"].map(lambda tags: [*tags, "tag\x9b31m\u202eevil"])
    catalog["source"] = "src\x1b[31m"
    write_catalog(report_workspace, catalog)
    result = runner.invoke(curate_app, ["status", "--workspace", str(report_workspace.root)])
    assert result.exit_code == 0, result.output
    for control in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert control not in result.output
    assert "chi" in result.output and "cago" in result.output


@pytest.mark.parametrize("command", [["status"], ["split", "--seed", "1"], ["filter", "--max-km", "off"]])
def test_labels_that_look_like_rich_markup_print_as_they_are(report_workspace, command, monkeypatch):
    """Audit AW1: rich read catalog text as markup: a folder label `[old] photos` printed as ` photos` in every
    table, and a label `[/x] bad` raised MarkupError (a traceback, after the stage had written its catalog)."""
    from curate.console import console
    from curate.workspace import read_catalog

    monkeypatch.setattr(console, "width", 300)  # no cell wrapped, whatever the terminal
    catalog = read_catalog(report_workspace)
    first, second = sorted(catalog["label"].dropna().unique())[:2]
    catalog["label"] = catalog["label"].replace({first: "[old]pics", second: "[/x]bad"})  # no space: no wrap
    write_catalog(report_workspace, catalog)
    result = runner.invoke(curate_app, [*command, "--workspace", str(report_workspace.root)])
    assert result.exit_code == 0, result.output
    assert "[old]pics" in result.output and "[/x]bad" in result.output


def test_classify_evaluate_plots_draw_labels_that_look_like_tex(tmp_path):
    """A class named like TeX math used to make matplotlib raise while drawing the plots."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    from classify.evaluate_figures import plot_confusion, plot_top_losses

    classes = ["$5 $x^$", "plain"]
    assert plot_confusion(np.array([[3, 1], [0, 2]]), classes).startswith(b"\x89PNG")
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "a.jpg")
    losses = pd.DataFrame({"predicted": ["$x^$"], "actual": ["plain"], "loss": [2.0], "p_predicted": [0.9]})
    assert plot_top_losses(losses, [tmp_path / "a.jpg"]).startswith(b"\x89PNG")
