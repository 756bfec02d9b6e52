"""`curate status` replays the filter's lines from its saved report: after `curate prefilter`'s geo rescue kept a
geo outlier back, it repeated the filter's "44 … still dropped" while the catalog held 43 (a user audit of the geo
filter on real im2gps geotags). The line now says what the later stage changed and the count the catalog holds."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.filters.stage import FilterConfig, filter_catalog
from curate.stage_reports import save_stage_report
from curate.workspace import Workspace, catalog_sha256, write_catalog
from tests.test_filter_holds import catalog, metro_and_noisy

runner = CliRunner()


def filtered_then_rescued(root) -> tuple[int, int]:
    """A workspace whose filter held `metro` (its far geotags still dropped, the line counting them), then one of
    those geo outliers kept back as the prefilter's geo rescue keeps it; (geo outliers then, now) of metro."""
    ws = Workspace(root)
    out, report = filter_catalog(catalog(metro_and_noisy(np.random.default_rng(0))), FilterConfig(max_km=5))
    write_catalog(ws, out)
    save_stage_report(ws, "filter", catalog_sha256(ws), report.to_dict())
    metro = out.index[(out["label"] == "metro") & (out["drop_reason"] == "geo_outlier")]
    then = len(metro)
    rescued = out.copy()
    rescued.loc[metro[:1], ["status", "drop_reason", "drop_stage"]] = [schema.KEPT, None, None]
    rescued["geo_rescued"] = rescued["geo_rescued"].astype("boolean")
    rescued.loc[metro, "geo_rescued"] = [True] + [False] * (then - 1)
    write_catalog(ws, rescued)
    save_stage_report(ws, "prefilter", catalog_sha256(ws), {"config": {"topic": "city"},
                                                            "geo_rescue": {"geo_outliers": then, "rescued": 1}})
    return then, then - 1


def geo_outlier_counts(line: str) -> list[int]:
    return [int(n) for n in re.findall(r"(\d+) (?:photos? beyond \d+ km still )?dropped as geo_outlier", line)]


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_status_does_not_repeat_a_geo_outlier_count_the_geo_rescue_changed(tmp_path, engine):
    then, now = filtered_then_rescued(tmp_path)
    assert then >= 2
    output = runner.invoke(app, ["status", "-w", str(tmp_path), "--catalog-engine", engine]).output
    text = " ".join(output.split())
    held = text[text.index("warning (filter): held: geo drops of metro"):]
    held = held[:held.index("warning (", 10) if "warning (" in held[10:] else len(held)]
    counts = geo_outlier_counts(held)
    assert counts and counts[-1] == now, held  # the last word is the catalog's count
    assert "geo rescue" in held  # and which stage changed it
    facts = json.loads(runner.invoke(app, ["status", "-w", str(tmp_path), "--json", "--catalog-engine", engine]).output)
    [line] = [w for w in facts["stages"]["filter"]["warnings"] if w.startswith("held: geo drops of metro")]
    assert geo_outlier_counts(line)[-1] == now
    by_label = {row["label"]: row for row in facts["by_label"]}
    assert by_label["metro"]["geo_outlier"] == now  # the count it names is the catalog's


def test_status_leaves_the_filters_lines_alone_when_nothing_changed_them(tmp_path):
    ws = Workspace(tmp_path)
    out, report = filter_catalog(catalog(metro_and_noisy(np.random.default_rng(0))), FilterConfig(max_km=5))
    write_catalog(ws, out)
    save_stage_report(ws, "filter", catalog_sha256(ws), report.to_dict())
    facts = json.loads(runner.invoke(app, ["status", "-w", str(tmp_path), "--json"]).output)
    assert facts["stages"]["filter"]["warnings"] == report.warnings
