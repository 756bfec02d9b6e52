"""Issue L (reliability), items 11-15: bad input gives one line or a row with a reason, never
a traceback, a hang or a write outside the workspace."""

import contextlib
import csv
import io
import os
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.model import RunMeta, build_classifier, save_model

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
