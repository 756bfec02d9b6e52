"""`curate report` says what changed since the report its folder held before (curate/report/changes.py), on
both catalog engines. Audit BV: a collection grown from 3,242 to 5,505 photos got a report of its state alone."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from curate.cli.app import app
from curate.split import SplitConfig, split_catalog
from curate.workspace import Workspace, write_catalog
from tests.test_split import make_catalog

runner = CliRunner()


def rows(batch: str, owners: int, labels: tuple[str, ...]) -> list[dict]:
    return [{"source_id": f"{batch}{o}-{i}", "owner_id": f"{batch}{o}", "label": labels[(o + i) % len(labels)]}
            for o in range(owners) for i in range(4)]


def report(ws: Workspace, engine: str) -> tuple[str, dict]:
    shown = runner.invoke(app, ["report", "-w", str(ws.root), "--catalog-engine", engine])
    assert shown.exit_code == 0, shown.output
    return shown.output, json.loads((ws.root / "report" / "report.json").read_text())


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_second_report_counts_what_changed_since_the_first(tmp_path, engine):
    ws = Workspace(tmp_path / "ws")
    first, _ = split_catalog(make_catalog(rows("a", 20, ("coast", "forest"))), SplitConfig())
    write_catalog(ws, first)
    output, saved = report(ws, engine)
    assert saved["changes"] is None and "since the last report" not in output
    assert saved["counts"]["photos"] == saved["counts"]["kept"] == 80
    assert saved["counts"]["labels"] == {"coast": 40, "forest": 40}
    grown = make_catalog(rows("a", 20, ("coast", "forest")) + rows("b", 10, ("forest", "street")))
    grown.loc[grown["source_id"] == "a0-0", ["status", "drop_reason", "drop_stage"]] = ["dropped", "blurry", "filter"]
    result, _ = split_catalog(grown, SplitConfig())
    write_catalog(ws, result)
    output, saved = report(ws, engine)
    after = saved["counts"]
    assert after["photos"] == 120 and after["kept"] == 119 and after["labels"]["street"] == 20
    [line] = [text for text in output.splitlines() if text.startswith("since the last report")]
    assert line.startswith("since the last report: photos 80 → 120 (+40); kept 80 → 119 (+39); train/val/test ")
    assert "labels new: street" in line and "kept per label: forest +20, coast -1" in line
    assert "dropped: filter/blurry +1" in line
    page = (ws.root / "report" / "index.html").read_text()
    assert "Since the last report: photos 80 → 120 (+40)" in page
    assert saved["changes"]["before"]["photos"] == 80


def test_a_damaged_earlier_report_is_no_reason_to_fail(tmp_path):
    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, split_catalog(make_catalog(rows("a", 10, ("coast",))), SplitConfig())[0])
    (ws.root / "report").mkdir()
    (ws.root / "report" / "report.json").write_text("{not json", encoding="utf-8")
    output, saved = report(ws, "pandas")
    assert saved["changes"] is None and saved["counts"]["photos"] == 40


def test_an_earlier_report_with_counts_that_are_not_numbers_is_set_aside(tmp_path):
    """Review BY: valid JSON with text where numbers belong crashed the report (ValueError)."""
    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, split_catalog(make_catalog(rows("a", 10, ("coast",))), SplitConfig())[0])
    (ws.root / "report").mkdir()
    odd = {"photos": "many", "counts": {"photos": "many", "kept": [], "labels": {"coast": "x"}, "splits": {}}}
    (ws.root / "report" / "report.json").write_text(json.dumps(odd), encoding="utf-8")
    output, saved = report(ws, "pandas")
    assert saved["changes"] is None and saved["counts"]["photos"] == 40


def test_a_report_folder_holding_another_workspaces_report_is_not_compared(tmp_path):
    """Review BY F6: `--out` shared by two workspaces compared one's report with the other's."""
    first, second = Workspace(tmp_path / "first"), Workspace(tmp_path / "second")
    write_catalog(first, split_catalog(make_catalog(rows("a", 10, ("coast",))), SplitConfig())[0])
    write_catalog(second, split_catalog(make_catalog(rows("b", 5, ("forest",))), SplitConfig())[0])
    out = tmp_path / "shared-report"

    def shown_and_saved(ws: Workspace) -> tuple[str, dict]:
        shown = runner.invoke(app, ["report", "-w", str(ws.root), "--out", str(out)])
        assert shown.exit_code == 0, shown.output
        return shown.output, json.loads((out / "report.json").read_text())

    shown_and_saved(first)
    output, saved = shown_and_saved(second)  # the folder held the first workspace's report: nothing to compare
    assert saved["changes"] is None and "since the last report" not in output
    output, saved = shown_and_saved(second)  # its own earlier report: compared
    assert saved["changes"]["before"]["photos"] == 20 and "photos 20 (no change)" in output
    assert str(tmp_path) not in (out / "report.json").read_text()  # the workspace is named by a digest


def test_a_moved_workspace_still_compares_with_its_own_report(tmp_path):
    ws = Workspace(tmp_path / "before")
    write_catalog(ws, split_catalog(make_catalog(rows("a", 10, ("coast",))), SplitConfig())[0])
    report(ws, "pandas")
    moved = Workspace((tmp_path / "before").rename(tmp_path / "after"))
    output, saved = report(moved, "pandas")
    assert saved["changes"]["before"]["photos"] == 40 and "since the last report: photos 40 (no change)" in output
