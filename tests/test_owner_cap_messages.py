"""Owner-cap warnings read as one line per kind, not one note per label (audit unseen-collections
2026-12-04, re-check "left": one-owner share-cap notes repeated once per label); caps that would drop more
than half of a label are held unless --force-caps (audit AB). Both engines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curate.filters.stage import FilterConfig, filter_catalog
from curate.outofcore.db import connect
from tests.test_filter_holds import catalog, reasons
from tests.test_outofcore import assert_same_rows, on_disk, run_query


def owner_rows(owners_per_label: dict[str, list[int]]) -> list[dict]:
    """Rows of each label with owners holding the given photo counts."""
    return [{"label": label, "owner_id": f"{label}-o{k}"} for label, counts in owners_per_label.items()
            for k, n in enumerate(counts) for _ in range(n)]


def share_lines(report) -> list[str]:
    return [w for w in report.warnings if "--max-owner-share" in w]


def test_labels_with_too_few_owners_share_one_line_naming_each_once(tmp_path):
    cat = catalog(owner_rows({"paris": [20] + [2] * 10, "rome": [3, 3, 3], "oslo": [1] * 30}))
    config = FilterConfig(max_km="off", max_owner_share=0.05)
    _, report = filter_catalog(cat, config)
    (line,) = share_lines(report)
    assert line.count("paris") == line.count("rome") == 1 and "oslo" not in line  # oslo's 30 owners allow 0.05
    assert "unreachable" not in line and "owner(s) (" not in line  # no per-label note repeated in the line
    assert "paris 0.091" in line and "rome 0.3334" in line and "not capped" in line
    with connect(tmp_path) as con:
        from curate.outofcore.filter import filter_duckdb

        _, got = filter_duckdb(con, on_disk(cat, tmp_path), config)
    assert got.warnings == report.warnings


def test_one_photographers_labels_capped_by_max_per_owner_are_not_called_uncapped(tmp_path):
    rows = [{"label": label, "owner_id": "solo"} for label in ("a", "b", "c") for _ in range(6)]
    cat = catalog(rows)
    config = FilterConfig(max_km="off", max_owner_share=0.3, max_per_owner=4)
    out, report = filter_catalog(cat, config)
    assert (out["drop_reason"] == "owner_cap").sum() == 6  # --max-per-owner 4 applies to each label
    (line,) = share_lines(report)
    assert "(a, b, c)" in line and "capped only by --max-per-owner 4" in line and "not capped" not in line
    with connect(tmp_path) as con:
        from curate.outofcore.filter import filter_duckdb

        _, got = filter_duckdb(con, on_disk(cat, tmp_path), config)
    assert got.warnings == report.warnings


@pytest.mark.parametrize("force", [False, True])
def test_both_engines_hold_and_force_owner_caps_alike(tmp_path, force):
    """Owner caps that would drop more than half of a label are held (audit AB); --force-caps applies them."""
    from curate.outofcore.filter import filter_duckdb

    rows = [{"owner_id": "solo", "label": "a"}] * 20 + [{"owner_id": f"o{i % 4}", "label": "b"} for i in range(40)]
    cat = catalog([{**row, "taken_at": pd.Timestamp("2020-01-01") + pd.Timedelta(days=i)}
                   for i, row in enumerate(rows)])
    config = FilterConfig(max_km="off", max_per_owner=6, force_caps=force)
    expected, report = filter_catalog(cat, config)
    with connect(tmp_path) as con:
        query, got_report = filter_duckdb(con, on_disk(cat, tmp_path), config)
        assert_same_rows(expected, run_query(con, query), ["status", "drop_reason"])
    assert got_report.warnings == report.warnings
    pd.testing.assert_frame_equal(got_report.caps, report.caps)
    assert (np.asarray(reasons(expected)) == "owner_cap").sum() == (14 + 16 if force else 16)  # b: 4 x (10 - 6)
