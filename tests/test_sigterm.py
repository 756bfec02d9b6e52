"""SIGTERM (`docker stop`, Slurm or Kubernetes preemption) stops `classify train` and `classify tune`
the way Ctrl-C does (audit X, 2026-12-05): the command's own "interrupted …" line and exit 143, where
the process used to end with no word. Nothing was lost either way (checkpoints are atomic)."""

from __future__ import annotations

import os
import signal

import pytest
from typer.testing import CliRunner

from classify.cli import app as classify_app
from curate.cli.common import Terminated, interrupt_code, terminate_as_interrupt

runner = CliRunner()


def test_sigterm_inside_the_block_is_an_interrupt_and_the_old_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as caught:
        with terminate_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
            pytest.fail("SIGTERM did not interrupt")
    assert isinstance(caught.value, Terminated) and interrupt_code(caught.value) == 143
    assert interrupt_code(KeyboardInterrupt()) == 130
    assert signal.getsignal(signal.SIGTERM) is before


def _terminated(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize("command", ["train", "tune"])
def test_train_and_tune_say_how_to_go_on_after_sigterm(tmp_path, monkeypatch, command):
    from tests.helpers import demo_workspace

    ws = demo_workspace(tmp_path / "ws")
    monkeypatch.setattr("classify.train.train", _terminated)
    monkeypatch.setattr("classify.commands.tune.tune", _terminated)
    args = [command, "--workspace", str(ws.root), "--out", str(tmp_path / "out"), "--device", "cpu"]
    before = signal.getsignal(signal.SIGTERM)  # (another test module may have set one)
    result = runner.invoke(classify_app, args)
    assert result.exit_code == 143, result.output
    assert "interrupted" in result.output and "Traceback" not in result.output
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("command", [["embed"], ["export", "--format", "csv", "--out", "EXPORT"], ["split"]])
def test_curate_commands_take_the_ctrl_c_path_after_sigterm(tmp_path, monkeypatch, command):
    """Audit AR 4: `curate embed`, `export`, `ingest` and `run` ended silently on SIGTERM (exit -15): the part
    of an embedding under way was not saved, a killed export's journal lost its last files."""
    from curate.cli.app import app as curate_app
    from tests.helpers import demo_workspace

    ws = demo_workspace(tmp_path / "ws")
    monkeypatch.setattr("curate.embed.run_embed", _terminated)
    monkeypatch.setattr("curate.export.export_workspace", _terminated)
    monkeypatch.setattr("curate.cli.split.run_split", _terminated)
    args = [arg.replace("EXPORT", str(tmp_path / "out")) for arg in command]
    before = signal.getsignal(signal.SIGTERM)
    result = runner.invoke(curate_app, [*args, "--workspace", str(ws.root)])
    assert result.exit_code == 143, result.output
    assert "interrupted: run the same command again to resume" in result.output and "Traceback" not in result.output
    assert signal.getsignal(signal.SIGTERM) is before
