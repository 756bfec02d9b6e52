"""`curate status`: the most common tags, photos per label's tags, and each stage's freshness."""

from __future__ import annotations

import json
from datetime import UTC

import pandas as pd
import pytest
from helpers import demo_workspace
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.status import label_tag_counts, summary, tag_counts

runner = CliRunner()


def tiny_catalog() -> pd.DataFrame:
    rows = [  # tags, tag_labels, label, status
        (["ferrari", "red"], ["red"], "red", "kept"),
        (["ferrari", "red", "yellow"], ["red", "yellow"], None, "dropped"),
        (["ferrari", "yellow"], ["yellow"], "yellow", "kept"),
        (["ferrari"], [], "black", "kept"),
        (["car"], [], None, "kept"),
        ([], [], None, "dropped"),
    ]
    frame = schema.empty_catalog().reindex(range(len(rows)))
    frame["photo_id"] = [f"t:{i}" for i in range(len(rows))]
    frame["tags"] = [r[0] for r in rows]
    frame["tag_labels"] = [r[1] for r in rows]
    frame["label"] = [r[2] for r in rows]
    frame["status"] = [r[3] for r in rows]
    return frame


def test_tag_counts_rank_tags_by_photos_and_count_kept_ones():
    table = tag_counts(tiny_catalog())
    assert table.to_dict("records") == [
        {"tag": "ferrari", "photos": 4, "kept": 3},
        {"tag": "red", "photos": 2, "kept": 1},
        {"tag": "yellow", "photos": 2, "kept": 1},
        {"tag": "car", "photos": 1, "kept": 1},
    ]
    assert tag_counts(tiny_catalog(), top=1)["tag"].tolist() == ["ferrari"]


def test_tag_counts_of_a_catalog_without_tags_is_empty():
    assert tag_counts(schema.empty_catalog()).empty


def test_label_tag_counts_say_how_many_photos_name_each_label():
    table = label_tag_counts(tiny_catalog()).set_index("label")
    assert table.loc["red"].tolist() == [2, 1, 1]  # tagged, tagged with it alone, labelled
    assert table.loc["yellow"].tolist() == [2, 1, 1]
    assert table.loc["black"].tolist() == [0, 0, 1]  # a label given by the source, never in the tags


def test_status_lists_stages_top_tags_and_label_tags(tmp_path):
    root = tmp_path / "ws"
    demo_workspace(root, photos=120, seed=3, commands=(("split",),))  # split before filter
    result = runner.invoke(app, ["status", "-w", str(root)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines at the terminal's width
    assert "most common tags" in text and "skyline" in text
    assert "photos whose tags name each label" in text
    for stage in ("ingest", "filter", "embed", "prefilter", "split"):
        assert stage in text
    assert "not run" in text and "groups by owner" in text  # the split's warning

    assert runner.invoke(app, ["filter", "-w", str(root), "--recipe", "skylines"]).exit_code == 0
    facts = json.loads(runner.invoke(app, ["status", "-w", str(root), "--json"]).output)
    assert facts["stages"]["split"]["state"] == "stale"
    assert "filter ran after split" in facts["stages"]["split"]["line"]
    assert facts["stages"]["filter"]["state"] == "fresh" and facts["stages"]["embed"]["state"] == "not run"
    # audit AN: the commands name the workspace (pasted, they ran on ./workspace) and are printed whole, one a
    # line, below the table (a narrow table cut them off with "…")
    assert facts["stages"]["split"]["command"] == f"curate split -w {root}"
    narrow = runner.invoke(app, ["status", "-w", str(root)], env={"COLUMNS": "60"})
    assert f"run in order:\n  curate split -w {root}\n" in narrow.output, narrow.output
    assert len(facts["top_tags"]) == 20
    photos = [row["photos"] for row in facts["top_tags"]]
    assert photos == sorted(photos, reverse=True)
    skyline = next(row for row in facts["top_tags"] if row["tag"] == "skyline")
    assert 0 < skyline["kept"] <= skyline["photos"]
    assert {row["label"] for row in facts["label_tags"]} >= {"chicago", "london"}


def test_status_json_matches_the_catalog(tmp_path):
    root = tmp_path / "ws"
    ws = demo_workspace(root, photos=60, seed=2, commands=())
    facts = json.loads(runner.invoke(app, ["status", "-w", str(root), "--json"]).output)
    from curate.workspace import read_catalog

    catalog = read_catalog(ws)
    tagged = catalog["tags"].map(lambda tags: "skyline" in list(tags)).sum()
    assert next(r["photos"] for r in facts["top_tags"] if r["tag"] == "skyline") == tagged
    assert facts == json.loads(json.dumps(summary(catalog, None) | {"stages": facts["stages"], "disk": facts["disk"],
                                                                    "copies_of_other": None}))  # no --against check


def test_status_shows_disk_size_and_when_each_stage_last_ran(tmp_path):
    root = tmp_path / "ws"
    demo_workspace(root, photos=60, seed=2, commands=(("filter", "--recipe", "skylines"),))
    finished = json.loads((root / "reports" / "filter.json").read_text())["finished_at"]
    facts = json.loads(runner.invoke(app, ["status", "-w", str(root), "--json"]).output)
    # Size on disk: every file under the workspace, counted here independently.
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    assert facts["disk"]["bytes"] == sum(p.stat().st_size for p in files) > 0
    images = sum(p.stat().st_size for p in (root / "images").rglob("*") if p.is_file())
    assert facts["disk"]["parts"]["images"] == images
    assert facts["stages"]["filter"]["last_run"]["finished_at"] == finished
    assert facts["stages"]["split"]["last_run"] == {"finished_at": None, "seconds": None}  # not run
    assert facts["stages"]["filter"]["last_run"]["seconds"] >= 0  # how long it took, not blank
    text = " ".join(runner.invoke(app, ["status", "-w", str(root)]).output.split())
    assert "on disk" in text and "last run" in text
    assert finished[:10] in text and "ago" in text  # the filter's date, and how long ago


def test_stages_table_says_when_and_how_long_from_the_reports():
    from datetime import datetime

    from curate.freshness import StageState
    from curate.status import stages_table

    states = {"embed": StageState("embed", "fresh", "curate embed"),
              "split": StageState("split", "not run", "curate split")}
    reports = {"embed": {"finished_at": "2026-01-01T10:00:00+00:00", "seconds": 125.0},
               "split": None}
    table = stages_table(states, reports, now=datetime(2026, 1, 1, 12, 30, tzinfo=UTC))
    rows = table.set_index("stage")
    assert rows.loc["embed", "last run"] == "2026-01-01 10:00 UTC (2 h ago)"
    assert rows.loc["embed", "took"] == "2 min 5 s"
    assert rows.loc["split", "last run"] == "" and rows.loc["split", "took"] == ""
    # A hand-edited report with a time that is not a time says nothing rather than crashing.
    odd = stages_table(states, {"embed": {"finished_at": "yesterday", "seconds": "long"}})
    assert odd.set_index("stage").loc["embed", "last run"] == ""


def test_status_says_why_no_photos_tags_name_a_label(tmp_path):
    """A folder ingested without a recipe: every photo's labels come from its folder and no tag was matched to a
    label, so the table reads 0 tagged everywhere; a note says why (the long-tail audit read it as a fault).
    With a recipe-matched catalog (the demo) the note is not printed."""
    from PIL import Image

    for label in ("cat", "dog"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 24), (40 * i, 90, 200)).save(tmp_path / "photos" / label / f"{i}.jpg")
    root = tmp_path / "ws"
    assert runner.invoke(app, ["ingest", "folder", str(tmp_path / "photos"), "-w", str(root)]).exit_code == 0
    text = " ".join(runner.invoke(app, ["status", "-w", str(root)]).output.split())
    assert "no photo's tags name a label" in text and "--recipe" in text
    assert "most common tags (pick the prefilter's --topic here): none" in text  # a line, not an empty table

    demo = tmp_path / "demo"
    demo_workspace(demo, photos=60, seed=3, commands=())
    assert "no photo's tags name a label" not in runner.invoke(app, ["status", "-w", str(demo)]).output


def test_status_prints_a_stages_warnings_as_warnings(tmp_path):
    """The all-real-photos audit: `curate status` printed every stage's `warning:` as `note (stage)`, among a
    dozen ordinary notes. A split run before the filter warns that it groups by owner only: status prints
    that line as `warning (split)`, before the notes, and keeps it out of the notes (and the JSON's)."""
    root = tmp_path / "ws"
    demo_workspace(root, photos=120, seed=3, commands=(("split",),))  # split before filter: a warning
    output = runner.invoke(app, ["status", "-w", str(root)]).output
    lines = [" ".join(line.split()) for line in output.splitlines()]
    warned = [i for i, line in enumerate(lines) if line.startswith("warning (split):")]
    assert warned and "groups by owner" in " ".join(lines[warned[0]:warned[0] + 3])
    notes = [i for i, line in enumerate(lines) if line.startswith("note (")]
    assert not notes or warned[0] < notes[0]
    split = json.loads(runner.invoke(app, ["status", "-w", str(root), "--json"]).output)["stages"]["split"]
    assert any("groups by owner" in line for line in split["warnings"])
    assert not any("groups by owner" in line for line in split["notes"])


@pytest.mark.slow
def test_filter_prefilter_and_split_record_how_long_they_took_on_both_engines(tmp_path):
    """`curate status`'s took column was blank for filter, prefilter and split (audit C, 2026-12-05): only embed
    recorded its seconds."""
    for engine in ("pandas", "duckdb"):
        root = tmp_path / engine
        demo_workspace(root, photos=60, seed=2, commands=(("embed", "--image-size", "64"),))
        for command in (["filter", "--recipe", "skylines"], ["prefilter", "--label-issues-only"], ["split"]):
            flags = ["--catalog-engine", engine] if command[0] != "prefilter" else []
            result = runner.invoke(app, [*command, "-w", str(root), *flags])
            assert result.exit_code == 0, result.output
        facts = json.loads(runner.invoke(app, ["status", "-w", str(root), "--json"]).output)
        for stage in ("filter", "prefilter", "split"):
            seconds = facts["stages"][stage]["last_run"]["seconds"]
            assert seconds is not None and seconds >= 0, (engine, stage)


def test_a_very_long_tag_is_cut_in_the_table_and_whole_in_json(tmp_path):
    """Audit CG: one 300-character tag widened `curate status`'s table to about 190 columns."""
    from curate.workspace import Workspace, read_catalog, write_catalog

    root = tmp_path / "ws"
    demo_workspace(root, photos=60, seed=2, commands=())
    catalog = read_catalog(Workspace(root))
    long_tag = "panorama" + "x" * 292
    catalog["tags"] = [[*tags, long_tag] for tags in catalog["tags"]]
    write_catalog(Workspace(root), catalog)
    shown = runner.invoke(app, ["status", "-w", str(root)])
    assert shown.exit_code == 0, shown.output
    assert long_tag not in shown.output and long_tag[:40] in shown.output
    table_lines = [line for line in shown.output.splitlines() if line[:1] in "┏┃┡│└"]
    assert table_lines and max(map(len, table_lines)) <= 100
    facts = json.loads(runner.invoke(app, ["status", "-w", str(root), "--json"]).output)
    assert any(row["tag"] == long_tag for row in facts["top_tags"])
