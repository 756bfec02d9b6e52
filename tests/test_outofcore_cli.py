"""`--catalog-engine` on the commands that run catalog-wide work: the out-of-core engine gives
what the in-memory one gives, and a wrong engine name is one line with exit 2."""

from __future__ import annotations

import json
import re

import pandas as pd
from test_outofcore import generated
from typer.testing import CliRunner

from curate.cli.app import app
from curate.workspace import Workspace, read_catalog, write_catalog

FLAGGED = ["status", "drop_reason", "drop_stage", "exact_dup_group", "split"]


def run(args: list[str]) -> tuple[int, str]:
    """(exit code, output); under --json the JSON alone (notes go to stderr)."""
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout if "--json" in args and result.exit_code == 0 else result.output


def test_each_command_gives_the_same_result_in_both_engines(tmp_path, monkeypatch):
    monkeypatch.delenv("CURATE_CATALOG_ENGINE", raising=False)
    catalog = generated(240, 5, owners=18, images=90, missing=0.1, prior=False)
    seen = {}
    for engine in ("pandas", "duckdb"):
        root = tmp_path / engine
        write_catalog(Workspace(root), catalog)
        common = ["--workspace", str(root), "--catalog-engine", engine]
        outputs = []
        for command in (["filter", "--max-per-owner", "4", "--json"], ["split", "--seed", "2", "--json"],
                        ["check-leakage", "--json"], ["status"]):
            code, output = run([*command, *common])
            assert code == 0, output
            outputs.append(output)
        seen[engine] = (read_catalog(Workspace(root))[FLAGGED], outputs)
    (expected, outputs), (got, got_outputs) = seen["pandas"], seen["duckdb"]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert (expected["drop_reason"] == "owner_cap").any() and expected["split"].notna().any()
    assert json.loads(got_outputs[2]) == json.loads(outputs[2])  # the leaks (none after a fresh split)

    def tables(text: str, engine: str) -> str:
        """The status output without what names the folder or measures it on disk, the stages'
        times and durations masked (the two engines' runs may straddle a minute, and take 0 s or 1 s)."""
        dated = (re.sub(r"\d\d-\d\d \d\d:\d\d UTC", "MM-DD HH:MM UTC", line) for line in text.splitlines())
        masked = (re.sub(r"│ (\d+ min )?\d+ s +│", "│ N s │", line) for line in dated)
        return "\n".join(line for line in masked
                         if engine not in line and not re.search(r"\d+(\.\d)? ?(B|kB|MB|GB) on disk", line))

    assert tables(got_outputs[3], "duckdb") == tables(outputs[3], "pandas")
    assert "photos per label" in outputs[3] and "most common tags" in outputs[3]


def test_an_unknown_engine_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.delenv("CURATE_CATALOG_ENGINE", raising=False)
    write_catalog(Workspace(tmp_path), generated(20, 1, owners=4, images=10, missing=0.0, prior=False))
    for command in (["filter"], ["split"], ["check-leakage"], ["status"]):
        code, output = run([*command, "--workspace", str(tmp_path), "--catalog-engine", "spark"])
        assert code == 2 and "spark" in output and "auto, pandas, duckdb" in output
        assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output


def test_curate_runs_check_leakage_step_goes_out_of_core_as_the_command_does(tmp_path, monkeypatch):
    """Audit AW3: `curate run`'s check-leakage step read the whole catalog into memory whatever the engine, while
    `curate check-leakage` (and the run's filter and split) went out of core on a large catalog."""
    import curate.workspace
    from curate.pipeline.steps import _check_leakage
    from tests.helpers import demo_workspace

    ws = demo_workspace(tmp_path, photos=60, seed=5)
    monkeypatch.setenv("CURATE_CATALOG_ENGINE", "duckdb")

    def whole(*args, **kwargs):
        raise AssertionError("the catalog was read whole")

    monkeypatch.setattr(curate.workspace, "read_catalog", whole)
    assert _check_leakage(ws) == "no owner, near-duplicate cluster or exact image spans two splits"
