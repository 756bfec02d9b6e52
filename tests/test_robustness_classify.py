"""`classify` under bad input and interruptions: a damaged run directory or checkpoint, numbers
out of range (infinite, NaN, negative seeds), output paths that cannot be folders or files, a
port in use, and a comparison sub-run killed before its first checkpoint. Each is one line on
stderr with exit code 2 (no traceback), and nothing already on disk is changed."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.model import META, WEIGHTS, RunMeta, build_classifier, save_model
from classify.run_files import load_checkpoint_state, resumed_config
from classify.train import CHECKPOINT, TrainConfig
from classify.trainer import Trainer
from curate.errors import UsageError
from curate.workspace import read_catalog
from tests.helpers import demo_workspace, jpeg_bytes

runner = CliRunner()
CLASSES = ["amsterdam", "chicago", "tokyo"]
TINY = dict(image_size=48, cache_side=56, batch_size=16, workers=0, head_epochs=1, epochs=1, device="cpu")


def one_line_error(result, exit_code: int = 2) -> str:
    """The single line a refused command printed (asserting the exit code and no traceback)."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """An untrained but complete run directory (model.safetensors + model.json)."""
    model, preprocess = build_classifier("efficientnet_lite0", len(CLASSES), pretrained=False, image_size=48)
    run = tmp_path_factory.mktemp("run")
    save_model(run, model, RunMeta(classes=CLASSES, backbone="efficientnet_lite0", preprocess=preprocess.to_dict()))
    return run


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "a.jpg"
    path.write_bytes(jpeg_bytes(96, 72))
    return path


def _meta(run: Path) -> dict:
    return json.loads((run / META).read_text())


def _without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


DAMAGES = {  # name -> (file, new content from the run's files)
    "weights truncated": (WEIGHTS, lambda run: (run / WEIGHTS).read_bytes()[:1000]),
    "weights empty": (WEIGHTS, lambda run: b""),
    "weights random bytes": (WEIGHTS, lambda run: bytes(range(256)) * 64),
    "meta truncated": (META, lambda run: (run / META).read_bytes()[:60]),
    "meta not utf-8": (META, lambda run: b"\xff\xfe{" + bytes(range(128, 256))),
    "meta a list": (META, lambda run: b"[1, 2]"),
    "meta without classes": (META, lambda run: json.dumps(_without(_meta(run), "classes")).encode()),
    "meta without size": (META, lambda run: json.dumps({**_meta(run), "preprocess": {"mean": [0] * 3}}).encode()),
    "meta with fewer classes than the weights": (
        META, lambda run: json.dumps({**_meta(run), "classes": CLASSES[:2]}).encode()),
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("command", ["predict", "serve"])
def test_a_damaged_run_is_one_line_and_stays_as_it_was(run_dir, photo, tmp_path, damage, command):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    name, content = DAMAGES[damage]
    (run / name).write_bytes(content(run))
    before = {path.name: path.read_bytes() for path in run.iterdir()}
    args = [str(photo), "--out", str(tmp_path / "p.csv")] if command == "predict" else ["--port", "0"]
    line = one_line_error(runner.invoke(classify_app, [command, str(run), *args, "--device", "cpu"]))
    assert str(run) in line and ("restore it" in line or "same run" in line)
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("content", [
    pytest.param(lambda good: good[:2000], id="truncated"),
    pytest.param(lambda good: b"not a pickle" * 100, id="random bytes"),
    pytest.param(lambda good: _saved({"a": 1}), id="another dict"),
])
def test_resuming_from_a_damaged_checkpoint_is_one_line(tmp_path, content):
    good = _saved({"config": {}, "classes": CLASSES, "model": {"w": torch.zeros(100)}})
    run = tmp_path / "run"
    run.mkdir()
    (run / CHECKPOINT).write_bytes(content(good))
    with pytest.raises(UsageError, match="damaged"):
        load_checkpoint_state(run)
    result = runner.invoke(classify_app, ["train", "--workspace", str(tmp_path / "ws"), "--out", str(run),
                                          "--resume"])
    assert "delete it" in one_line_error(result)


def _saved(state: dict) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_resume_names_a_changed_setting_even_when_it_breaks_another_rule():
    state = {"config": TrainConfig(**{**TINY, "image_size": 48, "cache_side": 56}).__dict__}
    with pytest.raises(UsageError, match="differ: \\['image_size'\\]"):
        resumed_config(state, {"image_size": 64})  # 64 > cache side 56 would be the other rule
    assert resumed_config(state, {"workers": 2, "device": "cpu"}).workers == 2


@pytest.mark.parametrize("args, flag", [
    (["train", "--lr", "inf"], "--lr"),
    (["train", "--weight-decay", "nan"], "--weight-decay"),
    (["train", "--weight-decay", "inf"], "--weight-decay"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--cache-side", "100000"], "--cache-side"),  # would copy the photos at full size
    (["tune", "--lr-max", "inf"], "--lr-max"),
    (["tune", "--wd-max", "inf"], "--wd-max"),
    (["tune", "--seed", "-1"], "--seed"),
    (["lr-find", "--end-lr", "inf"], "--end-lr"),
    (["lr-find", "--seed", "-1"], "--seed"),
    (["serve", "RUN", "--max-upload-mb", "nan"], "--max-upload-mb"),
    (["serve", "RUN", "--max-upload-mb", "inf"], "--max-upload-mb"),
    (["serve", "RUN", "--max-upload-mb", "1e-9"], "--max-upload-mb"),  # would refuse every upload
    (["tune", "--trials", "100000000", "--mode", "grid"], "--trials"),  # would fill memory with trials
])
def test_non_finite_and_negative_numbers_are_one_line(run_dir, tmp_path, args, flag):
    args = [str(run_dir) if arg == "RUN" else arg for arg in args]
    workspace = [] if args[0] == "serve" else ["--workspace", str(tmp_path)]
    line = one_line_error(runner.invoke(classify_app, [*args, *workspace]))
    assert flag in line


@pytest.fixture(scope="module")
def split_ws(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("robust"))


@pytest.mark.parametrize("command", [
    ["train", *(f"--{k.replace('_', '-')}={v}" for k, v in TINY.items())],
    ["tune", "--trials", "1", "--max-epochs", "1", "--image-size", "48", "--cache-side", "56", "--workers", "0"],
    ["lr-find", "--steps", "10", "--image-size", "48", "--cache-side", "56", "--workers", "0", "--device", "cpu"],
])
def test_an_output_folder_that_is_a_file_is_refused_before_any_work(split_ws, tmp_path, command):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    for out in (a_file, a_file / "run"):
        line = one_line_error(runner.invoke(classify_app, [*command, "--workspace", str(split_ws.root),
                                                           "--out", str(out)]))
        assert "is a file" in line and "--out" in line
    assert a_file.read_text() == "keep me"


@pytest.mark.parametrize("command", [
    ["train", *(f"--{k.replace('_', '-')}={v}" for k, v in TINY.items())],
    ["tune", "--trials", "1", "--max-epochs", "1", "--image-size", "48", "--cache-side", "56", "--workers", "0"],
    ["lr-find", "--steps", "10", "--image-size", "48", "--cache-side", "56", "--workers", "0", "--device", "cpu"],
])
def test_an_output_url_is_refused_without_its_credentials(split_ws, tmp_path, monkeypatch, command):
    """Audit AN: `classify train --out s3://u:SECRET@b/x` trained into a local folder `s3:/u:SECRET@b/x`, exit 0,
    and printed it. A URL --out is refused in one line that does not repeat the credential, and nothing is made."""
    monkeypatch.chdir(tmp_path)
    line = one_line_error(runner.invoke(classify_app, [*command, "--workspace", str(split_ws.root),
                                                       "--out", "s3://u:CSECRET09@bucket/x?token=TSECRET"]))
    assert "--out s3://bucket/x?token=REDACTED is a URL; give a local folder" in line, line
    line = one_line_error(runner.invoke(classify_app, [*command, "--workspace", str(split_ws.root),
                                                       "--out", "s3://AKIA:wJal/CSECRET+x@bucket/x"]))
    assert "--out s3://bucket/x is a URL" in line and "CSECRET" not in line, line
    assert "CSECRET09" not in line and "TSECRET" not in line and not (tmp_path / "s3:").exists()


def test_predict_refuses_an_out_file_it_cannot_write_before_predicting(run_dir, photo, tmp_path, monkeypatch):
    from classify import model

    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    monkeypatch.setattr(model.Predictor, "__init__", lambda *a: pytest.fail("loaded the model first"))
    line = one_line_error(runner.invoke(classify_app, ["predict", str(run_dir), str(photo),
                                                       "--out", str(a_file / "p.csv")]))
    assert "cannot be written" in line and a_file.read_text() == "keep me"


def test_serve_on_a_port_in_use_is_one_line_exit_2(run_dir, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("started uvicorn on a busy port"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_line_error(runner.invoke(classify_app, ["serve", str(run_dir), "--port", str(port),
                                                           "--device", "cpu"]))
    assert f"127.0.0.1:{port}" in line and "--port" in line


@pytest.mark.slow
def test_a_comparison_sub_run_killed_before_its_first_checkpoint_is_trained_again(split_ws, tmp_path,
                                                                                  monkeypatch):
    from classify.compare import train_or_reuse

    config = TrainConfig(**{**TINY, "image_size": 32, "cache_side": 32, "batch_size": 32})
    catalog, sub_run = read_catalog(split_ws), tmp_path / "uncurated"

    def killed(self):  # the process dies after epoch 1's model.safetensors, before checkpoint.pt
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "save_checkpoint", killed)
        with pytest.raises(KeyboardInterrupt):
            train_or_reuse(split_ws, sub_run, config, catalog)
    assert (sub_run / WEIGHTS).is_file() and not (sub_run / CHECKPOINT).exists()
    assert train_or_reuse(split_ws, sub_run, config, catalog) == "trained"
    assert len(pd.read_csv(sub_run / "metrics.csv")) == config.total_epochs
    assert train_or_reuse(split_ws, sub_run, config, catalog) == "reused"


def test_training_into_a_folder_with_a_finished_model_is_refused(run_dir, split_ws, tmp_path):
    """A trained model whose checkpoint was deleted (to save space) is not silently replaced."""
    import shutil

    trained = tmp_path / "trained"
    shutil.copytree(run_dir, trained)
    meta = _meta(trained)
    meta["metrics"]["replicas_in_sync"] = True  # what a training that ran to its end records
    (trained / META).write_text(json.dumps(meta))
    before = (trained / WEIGHTS).read_bytes()
    args = ["train", *(f"--{k.replace('_', '-')}={v}" for k, v in TINY.items())]
    line = one_line_error(runner.invoke(classify_app, [*args, "--workspace", str(split_ws.root),
                                                       "--out", str(trained)]))
    assert "already holds a trained model" in line and (trained / WEIGHTS).read_bytes() == before


def test_an_empty_val_or_test_split_is_a_warning_before_training():
    """One photographer puts every photo in train: training used to go on without a word, and the
    run's evaluation failed later asking for --test > 0 (it was 0.2)."""
    from classify.train import empty_split_warnings

    catalog = pd.DataFrame({"status": ["kept"] * 4 + ["dropped"], "split": ["train"] * 4 + ["test"]})
    lines = empty_split_warnings(catalog)
    assert len(lines) == 2 and all(line.startswith("warning: ") for line in lines)
    assert "val split" in lines[0] and "test split" in lines[1] and "reports/split.json" in lines[0]
    # a linear probe has no epochs to stop early (audit DH 7: `--probe` with `--val 0` was told "no early stopping")
    probe = empty_split_warnings(catalog, probe=True)[0]
    assert "early stopping" not in probe and "L2 strength is chosen by cross-validation on the train photos" in probe
    catalog.loc[1, "split"], catalog.loc[2, "split"] = "val", "test"
    assert empty_split_warnings(catalog) == []


def test_an_empty_test_split_error_names_both_causes():
    from classify.evaluate_photos import select_photos

    catalog = pd.DataFrame({"status": ["kept"] * 3, "split": ["train"] * 3, "label": ["a", "b", "a"]})
    with pytest.raises(UsageError) as raised:
        select_photos(catalog, ["a", "b"], "test")  # no split report to say why
    message = str(raised.value)
    assert "--test above 0" in message and "one photographer per label" in message


def test_an_empty_test_split_error_gives_the_splits_own_reason():
    """The audit's one-photographer run asked for --test 0.2 and was told to run `curate split` with
    --test above 0. The error now says, in one line, what is empty, why (from reports/split.json:
    the share asked for, the split's own warning, or photos dropped since) and what to do."""
    from classify.evaluate_photos import select_photos

    catalog = pd.DataFrame({"status": ["kept"] * 3 + ["dropped"], "split": ["train"] * 3 + ["test"],
                            "label": ["a", "b", "a", "b"]})
    warning = ("the val and test splits are empty although --val 0.1 and --test 0.2 asked for photos: every group is "
               "too large; add photos from more photographers")
    cases = {"one photographer": ({"config": {"test": 0.2, "by": "owner"}, "warnings": [warning],
                                   "empty_splits": {"val": warning, "test": warning}},
                                  ["--test 0.2 asked for photos", "more photographers"]),
             "a report from before empty_splits": ({"config": {"test": 0.2}, "warnings": [warning]},
                                                   ["although --test 0.2 asked for photos", "reports/split.json"]),
             "asked for none": ({"config": {"test": 0.0}}, ["ran with --test 0;", "curate split --test 0.2"]),
             "dropped since": ({"config": {"test": 0.2}, "per_label": [{"test_photos": 1}, {"test_photos": 2}]},
                               ["put 3 photos in it", "none is kept now", "run `curate split` again"])}
    for report, expected in cases.values():
        with pytest.raises(UsageError) as raised:
            select_photos(catalog, ["a", "b"], "test", report)
        message = str(raised.value)
        assert message.startswith("nothing to evaluate: the 'test' split is empty") and "\n" not in message
        assert all(part in message for part in expected), message
        assert report["config"]["test"] == 0 or "--test above 0" not in message
    with pytest.raises(UsageError) as raised:  # the val split is named in the same warning
        select_photos(catalog, ["a", "b"], "val", cases["one photographer"][0])
    assert "the 'val' split is empty" in str(raised.value) and "more photographers" in str(raised.value)


def test_the_empty_test_split_error_is_one_plain_sentence_about_the_test_split(tmp_path):
    """An audit's re-check: the error pasted the split's whole warning after a colon (`… could not fill it:
    the val and test splits are empty although --val 0.1 and --test 0.2 asked for photos: every group …`),
    three clauses deep and naming val, which evaluate does not read. Now one line: what is empty; why;
    what to do, from a real `curate split` of one photographer's photos."""
    import re

    from classify.evaluate_photos import select_photos
    from curate import schema
    from curate.split import SplitConfig, split_catalog
    from curate.stage_reports import load_stage_report, save_stage_report
    from curate.workspace import Workspace, write_catalog

    rows = pd.DataFrame({"photo_id": [f"t:{i}" for i in range(40)], "source": "t",
                         "source_id": [str(i) for i in range(40)], "owner_id": "solo",
                         "label": ["a", "b"] * 20, "status": "kept", "sha256": [f"h{i}" for i in range(40)]})
    catalog = schema.to_pandas(schema.conform(rows))
    result, report = split_catalog(catalog, SplitConfig(val=0.1, test=0.2))
    ws = Workspace(tmp_path)
    write_catalog(ws, result)
    save_stage_report(ws, "split", "x", report.to_dict())
    with pytest.raises(UsageError) as raised:
        select_photos(result, ["a", "b"], "test", load_stage_report(ws, "split"))
    message = str(raised.value)
    assert "\n" not in message and message.count(":") == 1, message  # "nothing to evaluate: what; why; fix"
    what, why, *fix = message.split("; ")
    assert what == "nothing to evaluate: the 'test' split is empty"
    assert "--test 0.2" in why and not re.search(r"\bval\b", message)  # the share asked; only the split read
    assert fix and "more photographers" in "; ".join(fix) and "split" in fix[-1]
