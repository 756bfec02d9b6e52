import multiprocessing
import os
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curate import workspace as ws_module
from curate.workspace import Workspace, atomic_write_bytes, read_catalog, resolve_workspace, write_catalog


def rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"photo_id": [f"t:{i}" for i in range(n)], "source": "t",
                         "source_id": [str(i) for i in range(n)], "status": "kept"})


def test_crash_during_write_leaves_previous_catalog_intact(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    write_catalog(ws, rows(3))
    before = ws.catalog_path.read_bytes()

    def write_half_then_die(table, where, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 partial")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(pq, "write_table", write_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_catalog(ws, rows(10))
    assert ws.catalog_path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["catalog.parquet"], "temp file left behind"
    monkeypatch.undo()
    assert len(read_catalog(ws)) == 3


def test_crash_before_rename_leaves_previous_catalog(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    write_catalog(ws, rows(2))

    def no_rename(src, dst):
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError):
        write_catalog(ws, rows(5))
    monkeypatch.undo()
    assert len(read_catalog(ws)) == 2
    assert len(list(tmp_path.iterdir())) == 1


def test_atomic_write_bytes_replaces_whole_file(tmp_path):
    target = tmp_path / "a" / "b.bin"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert len(list(target.parent.iterdir())) == 1


def test_workspace_resolution_order(monkeypatch, tmp_path):
    monkeypatch.delenv(ws_module.WORKSPACE_ENV, raising=False)
    assert resolve_workspace(None).root.name == "workspace"
    monkeypatch.setenv(ws_module.WORKSPACE_ENV, str(tmp_path / "env"))
    assert resolve_workspace(None).root == tmp_path / "env"
    assert resolve_workspace(tmp_path / "flag").root == tmp_path / "flag"


def test_corrupt_catalog_is_a_clear_error(tmp_path):
    ws = Workspace(tmp_path)
    ws.catalog_path.write_bytes(b"not parquet at all")
    with pytest.raises(Exception, match="unreadable"):
        read_catalog(ws)


HOLD = ("import fcntl, sys, time\n"
        "handle = open(sys.argv[1], 'a')\n"
        "fcntl.lockf(handle.fileno(), fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")
needs_lock = pytest.mark.skipif(ws_module.fcntl is None, reason="no fcntl (Windows): no workspace lock")


def _holder(ws: Workspace):
    """Another process holding the workspace's lock, as a running `curate` command would."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ws.root / ws_module.LOCK_FILE)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


@needs_lock
def test_a_second_command_on_a_busy_workspace_stops_with_one_line_and_loses_nothing(tmp_path):
    from typer.testing import CliRunner

    from curate.cli.app import app

    ws = Workspace(tmp_path)
    write_catalog(ws, rows(3))
    before = ws.catalog_path.read_bytes()
    holder = _holder(ws)
    try:
        result = CliRunner().invoke(app, ["split", "--workspace", str(tmp_path)])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 2, result.output
    assert "another curate command is changing the workspace" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert ws.catalog_path.read_bytes() == before
    # the holder was killed (-9): the OS released its lock, nothing stale is left
    with ws_module.exclusive(ws):
        pass


@needs_lock
def test_the_lock_is_reentrant_in_one_process_and_free_once_released(tmp_path):
    import subprocess
    import sys

    ws = Workspace(tmp_path)
    probe = ("import fcntl, sys\nhandle = open(sys.argv[1], 'a')\n"
             "try:\n    fcntl.lockf(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
             "    sys.exit(1)\n")

    def free() -> bool:
        return subprocess.run([sys.executable, "-c", probe, str(tmp_path / ws_module.LOCK_FILE)]).returncode == 0

    with ws_module.exclusive(ws):
        with ws_module.exclusive(Workspace(tmp_path / ".." / tmp_path.name)):  # the same folder, nested
            assert not free()
        assert not free()  # the inner exit does not release the outer hold
        # a forked child (a DataLoader worker) that outlives the hold must not keep the lock
        child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,))
        child.start()
    try:
        assert free()
    finally:
        child.kill()
        child.join()


def test_a_workspace_that_does_not_exist_is_not_created_by_the_lock(tmp_path):
    with ws_module.exclusive(Workspace(tmp_path / "new")):
        pass
    assert not (tmp_path / "new").exists()
