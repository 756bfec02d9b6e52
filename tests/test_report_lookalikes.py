"""`curate report` shows the look-alikes across the split that the last `curate check-leakage` listed (kept in
reports/check-leakage.json, not recomputed): how many, at what cosine or that the list was off, the first pairs'
thumbnails side by side and how to review them; the same report.json and page on both catalog engines. Without a
saved check there is no section; a check saved before the list existed says it was not computed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from curate.cli.app import app
from curate.leakage_lookalikes import REPORT
from curate.report.html import render_html
from curate.report.lookalikes import NOT_COMPUTED, lookalikes_section
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.test_leakage_lookalikes import embed, unit
from tests.test_outofcore_report import assert_same
from tests.test_report import report_ws  # noqa: F401  (a fixture: a workspace with images, a split and a run)

runner = CliRunner()


def embed_lookalike(ws: Workspace) -> None:
    """Every kept photo of tests.test_report's catalog embedded apart, but test photo 3 (owner o2) close to train
    photo 1 (owner o1, another near-duplicate cluster): a look-alike across the split."""
    catalog = read_catalog(ws)
    kept = catalog[catalog["status"] == "kept"]
    chosen = {source_id: unit(10 + int(source_id)) for source_id in kept["source_id"]}
    chosen["3"] = unit(99, chosen["1"], 0.05)
    embed(ws.root, catalog, chosen)


def report(ws: Workspace, out, engine: str = "pandas", *extra: str) -> dict:
    result = runner.invoke(app, ["report", "-w", str(ws.root), "--out", str(out), "--catalog-engine", engine,
                                 "--max-gallery", "5", *extra])
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text())


def check_leakage(ws: Workspace, *extra: str) -> None:
    result = runner.invoke(app, ["check-leakage", "-w", str(ws.root), *extra])
    assert result.exit_code == 0, result.output


def test_the_report_shows_the_lookalikes_check_leakage_listed_on_both_engines(report_ws, tmp_path):  # noqa: F811
    embed_lookalike(report_ws)
    assert "lookalikes" not in report(report_ws, tmp_path / "before")["sections"]  # no check yet: nothing said

    check_leakage(report_ws)
    pandas_report = report(report_ws, tmp_path / "pandas", "pandas")
    duckdb_report = report(report_ws, tmp_path / "duckdb", "duckdb")
    assert_same(pandas_report, duckdb_report)
    page = (tmp_path / "pandas" / "index.html").read_text()
    assert (tmp_path / "duckdb" / "index.html").read_text() == page

    keys = list(pandas_report["sections"])
    assert keys[keys.index("splits") + 1] == "lookalikes"
    section = pandas_report["sections"]["lookalikes"]
    assert section["min_cosine"] == 0.9 and section["count"] == 1 and section["checked"] == 3  # test 3 and 10, val 9
    assert "stale" not in section
    (pair,) = section["pairs"]
    assert (pair["photo_id"], pair["split"], pair["train_photo_id"], pair["label"], pair["train_label"]) == (
        "t:3", "test", "t:1", "a", "a")
    assert pair["cosine"] >= 0.9
    photos = pair["photos"]["photos"]
    assert [(p["photo_id"], p["split"]) for p in photos] == [("t:3", "test"), ("t:1", "train")]
    for photo in photos:  # a thumbnail of each, written and shown beside the other
        assert photo["thumb"] and (tmp_path / "pandas" / photo["thumb"]).is_file()
        assert f'src="{photo["thumb"]}"' in page
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "8c. Look-alikes across the split" in page
    assert "1 val/test photo looks like a train photo (cosine &gt;= 0.9)" in text
    assert "test photo t:3 (a) looks like train photo t:1 (a): cosine 0.9" in text
    assert "curate check-leakage --json" in text and "not counted as leaks" in text  # how to review them

    write_catalog(report_ws, read_catalog(report_ws).assign(license="ARR"))  # the catalog changes after the check
    assert "changed since this check" in report(report_ws, tmp_path / "pandas")["sections"]["lookalikes"]["stale"]


@pytest.mark.slow
def test_the_list_off_not_checked_or_saved_before_it_existed(report_ws, tmp_path):  # noqa: F811 (the fixture)
    check_leakage(report_ws)  # not embedded: not checked, a note says what enables it
    section = report(report_ws, tmp_path / "out")["sections"]["lookalikes"]
    assert section["min_cosine"] == 0.9 and section["count"] is None and section["pairs"] == []
    assert any("`curate embed`" in note for note in section["notes"])
    page = (tmp_path / "out" / "index.html").read_text()
    assert "were not checked" in page and "curate embed" in page

    embed_lookalike(report_ws)
    check_leakage(report_ws, "--lookalike-cosine", "off")
    both = [report(report_ws, tmp_path / engine, engine) for engine in ("pandas", "duckdb")]
    assert_same(*both)
    assert both[0]["sections"]["lookalikes"]["min_cosine"] is None
    assert "look-alike list was off" in (tmp_path / "pandas" / "index.html").read_text()

    saved = report_ws.reports_dir / f"{REPORT}.json"
    old = json.loads(saved.read_text())
    del old["look_alikes"]  # a check saved before it listed look-alikes
    saved.write_text(json.dumps(old))
    both = [report(report_ws, tmp_path / engine, engine) for engine in ("pandas", "duckdb")]
    assert_same(*both)
    assert both[0]["sections"]["lookalikes"] == {"absent": NOT_COMPUTED}
    assert "not computed" in (tmp_path / "pandas" / "index.html").read_text()

    saved.write_text("{cut short")  # damaged: a warning, not a refusal
    damaged = report(report_ws, tmp_path / "pandas")
    assert "lookalikes" not in damaged["sections"]
    assert any(f"{REPORT}.json is unreadable" in line for line in damaged["warnings"])


def test_curate_runs_check_leakage_step_saves_the_list_for_the_report(report_ws, tmp_path):  # noqa: F811
    from curate.pipeline.steps import _check_leakage

    embed_lookalike(report_ws)
    _check_leakage(report_ws, None, 0.9)
    section = report(report_ws, tmp_path / "out")["sections"]["lookalikes"]
    assert section["count"] == 1 and section["pairs"][0]["photo_id"] == "t:3"


def test_the_first_pairs_are_shown_and_all_are_counted():
    """max_gallery pairs with their photos, captioned as the check saw them; a photo the catalog no longer holds
    is shown without a thumbnail."""
    import pandas as pd

    pairs = [{"photo_id": f"v{i}", "split": "val", "label": "x", "train_photo_id": f"r{i}", "train_label": "y",
              "cosine": 0.99 - i / 100} for i in range(3)]
    saved = {"input_catalog_sha256": "h", "finished_at": "then",
             "look_alikes": {"min_cosine": 0.95, "count": 3, "checked": 40, "summary": "3 val/test photos look ...",
                             "notes": [], "pairs": pairs}}
    photos = pd.DataFrame({"photo_id": ["v0", "r1"], "sha256": ["a" * 64, "b" * 64],
                           "image_path": ["images/a.jpg", "images/b.jpg"], "label": ["x", "z"],
                           "split": ["val", "test"]})
    section = lookalikes_section(saved, "h", 2, photos)
    assert section["count"] == 3 and [pair["photo_id"] for pair in section["pairs"]] == ["v0", "v1"]
    shown = [photo for pair in section["pairs"] for photo in pair["photos"]["photos"]]
    assert [(p["photo_id"], p["sha256"], p["split"], p["label"]) for p in shown] == [
        ("v0", "a" * 64, "val", "x"), ("r0", None, "train", "y"),
        ("v1", None, "val", "x"), ("r1", "b" * 64, "train", "y")]
    page = render_html({"photos": 0, "stages_run": [], "sections": {"lookalikes": section}})
    assert "showing 2 of 3 pairs" in page and "cosine 0.99" in page
    assert lookalikes_section(None, "h", 2) is None
    assert lookalikes_section(saved, "other", 2)["stale"]
    assert np.isclose(section["pairs"][1]["cosine"], 0.98)


def test_a_workspace_that_cannot_be_written_is_still_checked(report_ws, monkeypatch):  # noqa: F811 (the fixture)
    """check-leakage only read the workspace before it kept its look-alikes: a read-only one is still checked, and
    a note says the report will not show them."""
    from curate import stage_reports

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    embed_lookalike(report_ws)
    monkeypatch.setattr(stage_reports, "atomic_write_bytes", read_only)
    result = runner.invoke(app, ["check-leakage", "-w", str(report_ws.root)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1 val/test photo looks like a train photo" in text and "t:3" in text
    assert "were not saved" in text and "`curate report` will not show them" in text
    assert not (report_ws.reports_dir / f"{REPORT}.json").exists()


def test_no_lookalike_in_the_report_says_how_near_the_closest_pair_came(report_ws, tmp_path):  # noqa: F811
    """Audit DY F8: 8c said "no look-alikes" with a same-scene pair at 0.886 just under the 0.9 cut."""
    embed_lookalike(report_ws)
    check_leakage(report_ws, "--lookalike-cosine", "0.9999")
    both = [report(report_ws, tmp_path / engine, engine) for engine in ("pandas", "duckdb")]
    assert_same(*both)
    section = both[0]["sections"]["lookalikes"]
    assert section["count"] == 0 and 0.9 <= section["nearest_cosine"] < 0.9999
    assert section["nearest_from"] == round(0.9999 - 0.05, 3)
    text = " ".join(re.sub(r"<[^>]+>", " ", (tmp_path / "pandas" / "index.html").read_text()).split())
    assert f"the nearest is {section['nearest_cosine']:.3f}" in text
