"""A full disk ends a command with one line, not a traceback (audit X, 2026-12-05:
`classify evaluate ... --json > /dev/full` printed an OSError traceback); other OS errors are not
swallowed."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from curate.cli.common import run_app


def app_raising(error: OSError) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def go() -> None:
        raise error

    @app.command()
    def other() -> None:  # two commands: typer keeps the subcommand names
        pass

    return app


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_one_line_and_exit_1(capsys, code):
    with pytest.raises(SystemExit) as exited:
        run_app(app_raising(OSError(code, os.strerror(code), "out.json")), "curate", ["go"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {os.strerror(code)} writing out.json") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_other_os_errors_are_not_swallowed():
    with pytest.raises(PermissionError):
        run_app(app_raising(PermissionError(errno.EACCES, "Permission denied")), "curate", ["go"])


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_json_to_a_full_device_is_one_line(tmp_path):
    from tests.helpers import demo_workspace

    ws = demo_workspace(tmp_path / "ws", commands=())
    curate = Path(sys.executable).with_name("curate")
    with open("/dev/full", "w") as full:
        result = subprocess.run([str(curate), "status", "--json", "--workspace", str(ws.root)],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: No space left on device (writing the workspace or the command's output)")
    assert len(result.stderr.strip().splitlines()) == 1
