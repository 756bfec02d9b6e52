"""Each stage report has one `summary()` line, in words (no Python dicts), and the stage's command
and `curate run` print that same line."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from curate.cli.app import app
from curate.embed import EmbedReport
from curate.filters.stage import FilterReport
from curate.ingest.engine_job import IngestReport
from curate.pipeline import Step, StepSummary, run_pipeline
from curate.prefilter.report import PrefilterReport
from curate.split import SplitReport
from curate.stage_reports import counts_text
from curate.workspace import Workspace

EMPTY = pd.DataFrame()


def filter_report(dropped: dict[str, int], warnings: list[str] | None = None) -> FilterReport:
    return FilterReport(config={}, funnel=EMPTY, geo=EMPTY, concentration=EMPTY, caps=EMPTY,
                        dropped_by_reason=dropped, warnings=warnings or [])


def test_counts_read_as_words_most_first():
    assert counts_text({"exact_duplicate": 12, "geo_outlier": 223, "owner_cap": 0}) == \
        "223 geo_outlier, 12 exact_duplicate"
    assert counts_text({"b": 2, "a": 2}) == "2 a, 2 b"  # ties: by name, so the line is stable
    assert counts_text({"near_duplicate": 1234}) == "1,234 near_duplicate"
    assert counts_text({}, nothing="none") == "none"


def test_the_filter_summary_has_no_python_dict():
    line = filter_report({"geo_outlier": 223, "exact_duplicate": 12}).summary()
    assert line == "dropped 223 geo_outlier, 12 exact_duplicate"
    assert "{" not in line and "'" not in line
    warned = StepSummary.of(filter_report({}, ["labels look like non-places: red; geo filter skipped"]))
    assert warned == StepSummary("dropped nothing", ("labels look like non-places: red; geo filter skipped",))


def test_the_ingest_summary_counts_rows_stored_and_drops_by_reason():
    report = IngestReport(source="urls", records=3_000, stored=2_990, dropped_by_reason={"bad_url": 7, "too_small": 3})
    assert report.summary() == "3,000 rows: 2,990 images stored, 10 dropped (7 bad_url, 3 too_small)"
    assert IngestReport(source="demo", records=5, stored=5).summary() == "5 rows: 5 images stored, 0 dropped"
    # audit BB: rows with an image, and the files they share when some are byte-identical copies
    assert IngestReport(source="folder", records=273, stored=270, distinct=266).summary() == \
        "273 rows: 270 images stored (266 distinct: byte-identical copies share one file), 0 dropped"
    assert IngestReport(source="folder", records=5, stored=5, distinct=5).summary() == \
        "5 rows: 5 images stored, 0 dropped"


def test_the_split_embed_and_prefilter_summaries_say_their_counts():
    per_label = pd.DataFrame({"train_photos": [70, 140], "val_photos": [10, 20], "test_photos": [20, 40]})
    split = SplitReport(config={"by": "owner"}, per_label=per_label, groups=1_234, photos_without_owner=0)
    assert split.summary().endswith("train/val/test photos 210/30/60") and split.summary().startswith("1,234 groups")
    embed = EmbedReport(backbone="efficientnet_lite0", cache_key="efficientnet_lite0", dim=1280, images=2_000,
                        cached=1_500, computed=499, failed=1, device="cpu", seconds=10.0, images_per_second=50.0)
    assert "2,000 stored images, 1,500 already cached, 499 computed at 50 images/s on cpu, 1 unreadable" \
        in embed.summary()
    prefilter = PrefilterReport(topic="skyline", threshold=0.5, threshold_method="otsu", scored=100, tagged_kept=80,
                                tagged_dropped=5, untagged_recovered=3, untagged_dropped=12, unreadable=0,
                                label_issues=None, label_issues_dropped=0,
                                relabel={"relabelled": 4}, geo_rescue={"rescued": 2, "geo_outliers": 9})
    line = prefilter.summary()
    assert "tagged kept 80, tagged dropped 5, untagged recovered 3, untagged dropped 12" in line
    assert "label issues not checked, 4 relabelled" in line and "geo outliers rescued 2 of 9" in line


def test_curate_filter_and_curate_run_print_the_same_summary(monkeypatch, tmp_path):
    """One line for both: the command's headline is the pipeline step's summary."""
    from curate.cli import filter as filter_cli
    from curate.filters import run as filter_run
    from curate.pipeline import steps

    report = filter_report({"geo_outlier": 223, "exact_duplicate": 12})
    report.funnel = report.geo = report.concentration = pd.DataFrame({"label": ["a"]})
    monkeypatch.setattr(filter_cli, "run_filter", lambda *args, **kwargs: report)
    monkeypatch.setattr(filter_run, "run_filter", lambda *args, **kwargs: report)
    result = CliRunner().invoke(app, ["filter", "--workspace", str(tmp_path)])
    assert result.exit_code == 0, result.output
    step_line = steps._filter(None, None, None).line
    assert step_line == "dropped 223 geo_outlier, 12 exact_duplicate"
    assert step_line in result.stdout.splitlines()


def test_curate_run_prints_step_lines_as_they_are(monkeypatch, tmp_path):
    """A step's summary is text, not rich markup (`[[labels]]` in an ingest warning printed as `[]`),
    and each warning it carries is a line of its own below the step's line."""
    import curate.pipeline

    def fake_run(ws, recipe, steps, restart_from=None, echo=print, warn=print):
        echo("[1/7] ingest folder: 15 stored (3 s)")
        warn("add it to the recipe's [[labels]]")
        warn("set [filter] center; or --center recipe")
        return []

    monkeypatch.setattr(curate.pipeline, "run_pipeline", fake_run)
    result = CliRunner().invoke(app, ["run", "demo", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == ["[1/7] ingest folder: 15 stored (3 s)", "    warning: add it to the recipe's [[labels]]",
                         "    warning: set [filter] center; or --center recipe"]


def test_the_runner_passes_a_steps_warnings_on_whole_and_in_order(tmp_path):
    """The warnings travel beside the line, not inside it: a warning holding `; warning: ` or ending
    like a duration stays one warning, the duration stays on the step's line, and the outcome keeps them."""
    from curate.recipes import Recipe

    warnings = ("labels look like non-places: red; warning: not a second one", "a spot (3 s)")
    steps = [Step("filter", {}, lambda ws: StepSummary("dropped nothing", warnings)),
             Step("report", {}, lambda ws: "report written")]
    lines, warned = [], []
    outcomes = run_pipeline(Workspace(tmp_path / "ws"), Recipe(name="t", labels=()), steps,
                            echo=lines.append, warn=warned.append)
    assert warned == list(warnings)
    assert lines[1].startswith("[1/2] filter: dropped nothing (") and lines[1].endswith(" s)")
    assert lines[3].startswith("[2/2] report: report written (")
    assert [o.warnings for o in outcomes] == [warnings, ()]
    assert outcomes[0].summary == "dropped nothing"


@pytest.mark.parametrize("asked", [{"relabel": True}, {"drop_label_issues": True}])
def test_a_recipe_asking_to_repair_label_issues_finds_them_under_curate_run_too(tmp_path, asked):
    """Audit AW2: `relabel = true` or `drop_label_issues = true` beside `label_issues = false` turned label issues on
    under `curate prefilter --recipe` (the command line implied it) but not under `curate run`, which skipped the
    relabel with a note and the drops without a word. The config implies it now, for both."""
    from curate.cli.prefilter import _config
    from curate.pipeline import plan
    from curate.recipes import recipe_from_dict

    section = {"label_issues": False, **asked}
    recipe = recipe_from_dict({"name": "r", "labels_from": "skylines", "topic": "skyline",
                               "sources": [{"kind": "demo"}], "prefilter": section})
    [step] = [step for step in plan(recipe) if step.name == "prefilter"]
    assert step.settings["label_issues"] is True
    path = tmp_path / "r.toml"
    path.write_text('name = "r"\nlabels_from = "skylines"\ntopic = "skyline"\n[[sources]]\nkind = "demo"\n[prefilter]\n'
                    + "".join(f"{key} = {str(value).lower()}\n" for key, value in section.items()))
    assert _config(None, str(path), {}).label_issues is True
