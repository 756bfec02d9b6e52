"""Regressions from the `classify` audit on real photos: a dropout out of range, a resume after a
re-split, the probe's folds without owners, undecodable images left out silently, the message
after Ctrl-C, lr-find and tune on a leaky split, and secrets in the serve access log."""

from __future__ import annotations

import errno
import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import requests
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.run_files import LEFT_OUT
from classify.train import CHECKPOINT, TrainConfig, train
from curate import schema
from curate.cli.app import app as curate_app
from curate.errors import DataContractError, UsageError
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import demo_workspace, untrained_run
from tests.test_robustness_classify import one_line_error
from tests.test_train import _leaky_copy

runner = CliRunner()
TINY = dict(image_size=48, cache_side=56, batch_size=16, workers=0, head_epochs=1, epochs=1, device="cpu")


@pytest.fixture(scope="module")
def split_ws(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("audit"))


def _copy(split_ws, tmp_path, name: str = "ws") -> Workspace:
    root = tmp_path / name
    shutil.copytree(split_ws.root, root)
    return Workspace(root)


# 1 ---------------------------------------------------------------- --dropout out of range
@pytest.mark.parametrize("value", ["1.5", "-0.5", "1.0", "nan"])
@pytest.mark.parametrize("probe", [[], ["--probe"]])
def test_a_dropout_outside_0_1_is_one_line_exit_2(tmp_path, value, probe):
    result = runner.invoke(classify_app, ["train", "--workspace", str(tmp_path), f"--dropout={value}", *probe])
    line = one_line_error(result, 2)
    assert "--dropout" in line and "[0, 1)" in line


def test_a_dropout_in_range_is_accepted():
    assert TrainConfig(dropout=0.0).dropout == 0.0 and TrainConfig(dropout=0.5).dropout == 0.5


# 2 ---------------------------------------------------------------- resume after a re-split
def test_resume_after_a_re_split_is_refused_with_exit_3(split_ws, tmp_path):
    ws = _copy(split_ws, tmp_path)
    run = tmp_path / "run"
    train(ws, run, TrainConfig(**TINY), stop_after=1)  # "interrupted" after epoch 1 of 2
    before = read_catalog(ws).set_index(schema.PHOTO_ID)["split"]
    result = runner.invoke(curate_app, ["split", "--workspace", str(ws.root), "--val", "0.15", "--test", "0.35"])
    assert result.exit_code == 0, result.output
    after = read_catalog(ws).set_index(schema.PHOTO_ID)["split"]
    assert (before.dropna() != after.reindex(before.dropna().index)).any(), "the re-split moved no photo"
    with pytest.raises(DataContractError, match="split changed since the run"):
        train(ws, run, TrainConfig(**TINY), resume=True)
    result = runner.invoke(classify_app, ["train", "--workspace", str(ws.root), "--out", str(run), "--resume"])
    line = one_line_error(result, 3)
    assert "split changed" in line and "--out" in line
    assert len(pd.read_csv(run / "metrics.csv")) == 1  # nothing trained on the new split


@pytest.mark.slow
def test_resume_after_an_unrelated_catalog_change_continues(split_ws, tmp_path, capsys, monkeypatch):
    ws = _copy(split_ws, tmp_path)
    run = tmp_path / "run"
    train(ws, run, TrainConfig(**TINY), stop_after=1)
    catalog = read_catalog(ws)
    catalog["title"] = catalog["title"].astype("string") + " (edited)"
    write_catalog(ws, catalog)
    # a title is ingest's: freshness would ask for the stages again; this test is about the resume alone
    monkeypatch.setattr("classify.train.require_fresh_split", lambda ws, catalog=None: None)
    trainer = train(ws, run, TrainConfig(**TINY), resume=True)
    assert trainer.next_epoch == 2 and len(pd.read_csv(run / "metrics.csv")) == 2
    assert "not its split" in capsys.readouterr().err


@pytest.mark.slow
def test_an_unfinished_run_says_so_when_it_is_loaded(split_ws, tmp_path, capsys):
    """evaluate, predict and serve used the weights of an interrupted run without a word (audit 6)."""
    from classify.model import load_model

    ws = _copy(split_ws, tmp_path)
    run = tmp_path / "run"
    train(ws, run, TrainConfig(**TINY), stop_after=1)
    capsys.readouterr()
    load_model(run)
    err = capsys.readouterr().err
    assert "stopped before its training ended (1 epochs run)" in err and "--resume" in err
    train(ws, run, TrainConfig(**TINY), resume=True)
    capsys.readouterr()
    load_model(run)
    assert "stopped before" not in capsys.readouterr().err


# 3 ---------------------------------------------------------------- probe folds without owners
def test_probe_folds_treat_each_ownerless_photo_as_its_own_group():
    from classify.probe import CV_FOLDS, _folds

    folds = _folds(140, pd.Series([None] * 140))
    assert folds is not None and set(folds.tolist()) == set(range(CV_FOLDS))
    assert np.bincount(folds).min() >= 140 // CV_FOLDS  # spread evenly, not all in one fold
    mixed = pd.Series(["a"] * 10 + [None] * 20 + ["b"] * 10)
    folds = _folds(len(mixed), mixed)
    assert len(set(folds[:10])) == 1 and len(set(folds[30:])) == 1  # owners stay together
    assert len(set(folds[10:30].tolist())) == CV_FOLDS  # ownerless photos spread over every fold


def test_the_probe_tunes_its_strength_by_cross_validation_without_owners():
    from classify.probe import fit_head

    rng = np.random.default_rng(0)
    train_y = np.repeat([0, 1], 20)
    train_x = (rng.normal(size=(40, 8)) + train_y[:, None] * 1.5).astype(np.float32)
    val_x, val_y = np.zeros((0, 8), np.float32), np.zeros(0, np.int64)
    _, _, facts = fit_head(train_x, train_y, val_x, val_y, 2, groups=pd.Series([None] * 40))
    assert "cross-validation" in facts["chosen_on"], facts


# 4 ---------------------------------------------------------------- undecodable images named and recorded
def test_undecodable_images_are_named_and_recorded_in_the_run(split_ws, tmp_path, caplog):
    ws = _copy(split_ws, tmp_path)
    catalog = read_catalog(ws)
    kept = catalog[(catalog["status"] == schema.KEPT) & (catalog["split"] == "train") & catalog["label"].notna()]
    bad = kept.iloc[0]
    (ws.root / bad["image_path"]).write_bytes(b"not an image at all")
    config = TrainConfig(**{**TINY, "cache_side": 60, "epochs": 0})  # its own cache: the image is decoded again
    with caplog.at_level(logging.WARNING):
        trainer = train(ws, tmp_path / "run", config)
    warning = " ".join(r.getMessage() for r in caplog.records if "could not be decoded" in r.getMessage())
    assert str(bad[schema.PHOTO_ID]) in warning and "not_an_image" in warning
    left_out = pd.read_csv(tmp_path / "run" / LEFT_OUT)
    assert left_out[schema.PHOTO_ID].astype(str).tolist() == [str(bad[schema.PHOTO_ID])]
    assert left_out["split"].tolist() == ["train"] and left_out["reason"].str.startswith("not_an_image").all()
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["metrics"]["left_out_photos"] == 1
    assert bad[schema.PHOTO_ID] not in set(trainer.data["train"].rows[schema.PHOTO_ID])


def test_a_cache_that_cannot_be_written_is_not_read_as_undecodable(split_ws, tmp_path, monkeypatch):
    import classify.data
    from classify.data import ensure_resized, labelled_rows

    ws = _copy(split_ws, tmp_path)
    rows = labelled_rows(read_catalog(ws)).head(3)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(classify.data, "atomic_write_bytes", disk_full)
    with pytest.raises(UsageError, match="cannot write the resized image cache.*No space left"):
        ensure_resized(ws, rows, side=44, workers=1)


def test_training_says_when_a_cached_photo_is_gone_from_the_store(split_ws, tmp_path, caplog):
    """Audit DH 6: a train photo whose stored file was deleted kept training from its resized copy in the cache,
    without a word, while `classify evaluate` called such a photo unreadable."""
    from classify.data import ensure_resized, labelled_rows

    ws = _copy(split_ws, tmp_path)
    rows = labelled_rows(read_catalog(ws)).head(4)
    first = ensure_resized(ws, rows, side=44, workers=1)
    gone = rows.iloc[1]
    (ws.root / gone["image_path"]).unlink()
    with caplog.at_level(logging.WARNING, logger="classify.data"):
        again = ensure_resized(ws, rows, side=44, workers=1)
    assert again.tolist() == first.tolist()  # the cached copy, of the same bytes, still serves
    said = " ".join(r.getMessage() for r in caplog.records if "gone from the store" in r.getMessage())
    assert "note: 1 image of these photos is gone from the store" in said and gone["sha256"][:12] in said
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="classify.data"):
        ensure_resized(split_ws, rows, side=44, workers=1)  # a whole store: nothing said
    assert not [r for r in caplog.records if "gone from the store" in r.getMessage()]
    assert ensure_resized(ws, rows.iloc[:0], side=44, workers=1).empty  # nothing to resize (a probe's gate, every
    # photo vouched for by its cached features): the check of no photo found none (an empty list picked columns)


# 5 ---------------------------------------------------------------- Ctrl-C names --resume
def _interrupted_after_one_epoch(ws, run_dir, config, **kwargs):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CHECKPOINT).write_bytes(b"state")
    (run_dir / "metrics.csv").write_text("epoch,stage\n1,1\n")
    raise KeyboardInterrupt


def _interrupted_at_once(ws, run_dir, config, **kwargs):
    raise KeyboardInterrupt


def test_ctrl_c_during_train_says_to_resume_with_the_run_folder(split_ws, tmp_path, monkeypatch):
    import classify.train

    monkeypatch.setattr(classify.train, "train", _interrupted_after_one_epoch)
    run = tmp_path / "run"
    result = runner.invoke(classify_app, ["train", "--workspace", str(split_ws.root), "--out", str(run)])
    assert result.exit_code == 130, result.output
    text = " ".join(result.output.split())
    assert f"--out {run} --resume" in text and "after epoch 1" in text
    assert "run the same command again" not in text


def test_ctrl_c_before_the_first_checkpoint_says_nothing_is_saved(split_ws, tmp_path, monkeypatch):
    import classify.train

    monkeypatch.setattr(classify.train, "train", _interrupted_at_once)
    result = runner.invoke(classify_app, ["train", "--workspace", str(split_ws.root), "--out", str(tmp_path / "r")])
    assert result.exit_code == 130
    assert "nothing to resume" in result.output and "--resume" not in result.output


# 6 ---------------------------------------------------------------- lr-find and tune check the split first
def test_lr_find_and_tune_refuse_a_leaky_split_before_any_work(split_ws, tmp_path):
    ws = _leaky_copy(split_ws, tmp_path)
    lr_out, tune_out = tmp_path / "lrf", tmp_path / "tune"
    result = runner.invoke(classify_app, ["lr-find", "--workspace", str(ws.root), "--steps", "10", "--image-size",
                                          "48", "--cache-side", "56", "--workers", "0", "--device", "cpu",
                                          "--out", str(lr_out)])
    assert "leaks" in one_line_error(result, 3)
    assert not (lr_out / "lr_find.json").exists()
    result = runner.invoke(classify_app, ["tune", "--workspace", str(ws.root), "--trials", "1", "--max-epochs", "1",
                                          "--image-size", "48", "--cache-side", "56", "--workers", "0",
                                          "--out", str(tune_out)])
    assert "leaks" in one_line_error(result, 3)
    assert not (tune_out / "search.json").exists()


def test_lr_find_refuses_a_stale_split(split_ws, tmp_path, monkeypatch):
    import curate.freshness_workspace

    def stale(ws, catalog=None):
        raise DataContractError("the split is stale (test); run `curate split`")

    monkeypatch.setattr(curate.freshness_workspace, "require_fresh_split", stale)
    monkeypatch.setattr("classify.train.require_fresh_split", stale)
    result = runner.invoke(classify_app, ["lr-find", "--workspace", str(split_ws.root), "--steps", "10",
                                          "--image-size", "48", "--cache-side", "56", "--workers", "0",
                                          "--out", str(tmp_path / "lrf")])
    assert "stale" in one_line_error(result, 3)


# 7 ---------------------------------------------------------------- no secrets in the serve access log
class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_the_serve_access_log_masks_secrets_in_query_strings(tmp_path, monkeypatch):
    import uvicorn

    run = untrained_run(tmp_path / "run", ["harbour", "skyline"])
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: started.update(app=app, **kwargs))
    result = runner.invoke(classify_app, ["serve", str(run), "--port", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    config = uvicorn.Config(started["app"], host="127.0.0.1", port=0, log_level="info",
                            log_config=started["log_config"])
    lines = _Lines()
    logging.getLogger("uvicorn.access").addHandler(lines)
    server = uvicorn.Server(config)
    import threading
    import time

    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        answer = requests.get(f"http://127.0.0.1:{port}/health?top_k=1&api_key=SUPERSECRET123&token=T0KEN", timeout=10)
        assert answer.status_code == 200
        deadline = time.monotonic() + 5
        while not lines.lines and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        server.should_exit = True
        thread.join(10)
        logging.getLogger("uvicorn.access").removeHandler(lines)
    logged = "\n".join(lines.lines)
    assert "/health?top_k=1" in logged, logged
    assert "SUPERSECRET123" not in logged and "T0KEN" not in logged
    assert "api_key=***" in logged


def test_an_out_folder_with_a_foreign_model_json_is_refused_and_kept(split_ws, tmp_path):
    """Training would have overwritten an unrelated, unreadable model.json after epoch 1 (audit 10)."""
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model.json").write_text("not a run description")
    with pytest.raises(UsageError, match="not a classify run's"):
        train(split_ws, out, TrainConfig(**TINY))
    assert (out / "model.json").read_text() == "not a run description"
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "notes.txt"]


def test_a_class_with_too_few_training_photos_is_named(split_ws, tmp_path, capsys, monkeypatch):
    """A label with a single photo trained without a word (classify audit, minor items)."""
    from classify.trainer import MIN_CLASS_PHOTOS

    ws = _copy(split_ws, tmp_path)
    catalog = read_catalog(ws)
    train_rows = catalog.index[(catalog["status"] == schema.KEPT) & (catalog["split"] == "train")]
    catalog.loc[train_rows[0], "label"] = "lonely"  # one training photo of a new class
    write_catalog(ws, catalog)
    # a label is ingest's: freshness would ask for the stages again; this test is about training alone
    monkeypatch.setattr("classify.train.require_fresh_split", lambda ws, catalog=None: None)
    train(ws, tmp_path / "run", TrainConfig(**TINY), stop_after=1)
    err = capsys.readouterr().err
    assert f"fewer than {MIN_CLASS_PHOTOS} training photos" in err and "lonely 1" in err


def test_a_second_training_into_a_run_folder_in_use_stops_with_one_line(tmp_path):
    """Audit N2: two `classify train` into one --out at the same time both passed the "already holds a
    trained model" check and both exited 0 naming the run; only the second's model was left. The run
    folder is locked while a training writes it; the second stops at once, before reading anything."""
    import subprocess
    import sys
    import textwrap

    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from classify.train import run_folder_lock
        with run_folder_lock(__import__("pathlib").Path({str(run)!r})):
            print("held", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match="another classify train is writing to .* right now"):
            train(Workspace(tmp_path / "no-workspace-read"), run, TrainConfig(**TINY))
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "no-workspace-read").exists()


def test_an_out_folder_that_cannot_be_written_is_refused_before_training(tmp_path, monkeypatch):
    """The CLI audit: `classify train --out` under a read-only parent failed with a PermissionError
    traceback after the whole training (as root every folder is writable, so os.access is told no)."""
    from classify.config import check_out_folder
    from curate.errors import UsageError

    check_out_folder(tmp_path / "run")  # writable: fine
    assert list(tmp_path.iterdir()) == []  # the check leaves nothing behind
    # audit X: os.access says yes as root where no folder can be made (/sys, /proc), and a name longer
    # than the file system allows failed at the first write; both a traceback after the checks
    with pytest.raises(UsageError, match="longer than the file system allows"):
        check_out_folder(tmp_path / ("a" * 300) / "run")
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(UsageError, match="no folder can be made in .*Operation not permitted"):
        check_out_folder(tmp_path / "run")
    monkeypatch.undo()
    monkeypatch.setattr("classify.config.os.access", lambda *args, **kwargs: False)
    with pytest.raises(UsageError, match="cannot be written"):
        check_out_folder(tmp_path / "run")


@pytest.mark.slow
def test_the_next_command_after_training_names_the_workspace(split_ws, tmp_path):
    """Audit DA 4: `classify train -w WS` printed `next: classify evaluate RUN`, which, pasted, looked for
    ./workspace and failed."""
    ws = _copy(split_ws, tmp_path)
    run = tmp_path / "run"
    result = runner.invoke(classify_app, ["train", "--probe", "--workspace", str(ws.root), "--out", str(run)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"next: classify evaluate {run} -w {ws.root}" in said, said
