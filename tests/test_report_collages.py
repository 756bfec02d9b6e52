"""The report's word on collages (audit DY F6): the photos `curate filter` dropped as collage are clusters of one,
so the near-duplicate gallery skipped them and only a funnel column counted them; the Duplicates section now says
how many, shows them, what it means and how to undo it, and says when the filter held or kept them instead."""

from __future__ import annotations

from curate.filters.collages import held_warning
from curate.report.data import build_report
from curate.report.html import render_html
from tests.test_report import ALL_REPORTS, FILTER_REPORT, ROWS, make_catalog

COLLAGES = [("a", "o1", "dropped", "filter", "collage", "4", None, ["a"], None, None),
            ("b", "o7", "dropped", "filter", "collage", "4", None, ["b"], None, None)]


def test_dropped_collages_are_counted_shown_explained_and_undoable():
    catalog = make_catalog(ROWS + COLLAGES)
    report = build_report(catalog, ALL_REPORTS)
    part = report["sections"]["duplicates"]["collages"]
    assert part["mode"] == "drop" and part["dropped"] == 2 and part["held"] is None
    assert [p["photo_id"] for p in part["gallery"]["photos"]] == [f"t:{len(ROWS)}", f"t:{len(ROWS) + 1}"]
    assert "side-by-side composite" in part["meaning"]
    assert "--collages keep" in part["undo"] and "curate review --queue duplicates" in part["undo"]
    page = " ".join(render_html(report).split())
    assert "Collages: 2 photos dropped as collage" in page
    assert "curate filter --collages keep" in page and "curate review --queue duplicates" in page
    assert "one split group" in page  # what it means, not only a count


def test_held_and_kept_collages_are_said_and_no_collage_says_nothing():
    catalog = make_catalog()
    warning = held_warning(40, 100, 80)
    held = build_report(catalog, {**ALL_REPORTS, "filter": {**FILTER_REPORT, "warnings": ["other", warning]}})
    assert held["sections"]["duplicates"]["collages"]["held"] == warning
    assert "Collages: held" in render_html(held) and "--force-collages" in render_html(held)
    kept = build_report(catalog, {**ALL_REPORTS, "filter": {**FILTER_REPORT, "config": {
        **FILTER_REPORT["config"], "collages": "keep"}}})
    assert kept["sections"]["duplicates"]["collages"]["mode"] == "keep"
    assert "Collages: kept" in render_html(kept)
    none = build_report(catalog, ALL_REPORTS)
    assert none["sections"]["duplicates"]["collages"]["dropped"] == 0
    assert "Collages" not in render_html(none)
