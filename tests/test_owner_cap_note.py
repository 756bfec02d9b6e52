"""The owner caps name the labels they take a large share of (audit O1: `curate filter --max-owner-share 0.2`
took 30 of new_york's 60 photos, exactly half, so the hold, which starts above half, let it pass with only
"dropped 47 owner_cap"): one note, like the licence filter's, naming each label losing over 25 % of its photos
to the caps (label, dropped of photos, percent). Both engines give the same note."""

from __future__ import annotations

import re

import pandas as pd

from curate.filters.stage import FilterConfig, filter_catalog
from tests.test_filter_holds import catalog
from tests.test_outofcore import assert_same_report, filter_both


def owner_rows(owners_per_label: dict[str, list[int]]) -> list[dict]:
    """Rows of each label whose photographers hold the given photo counts, on distinct days."""
    rows = [{"label": label, "owner_id": f"{label}-o{k}"} for label, counts in owners_per_label.items()
            for k, n in enumerate(counts) for _ in range(n)]
    return [{**row, "taken_at": pd.Timestamp("2020-01-01") + pd.Timedelta(days=i)} for i, row in enumerate(rows)]


# new_york: one photographer of 36 beside four of 6; a 0.2 share allows 6 each, so the cap takes exactly 30 of
# 60 (half: not held). rome loses 7 of 32 (22 %, under the note's 25 %), paris nothing.
LABELS = {"new_york": [36, 6, 6, 6, 6], "rome": [12, 4, 4, 4, 4, 4], "paris": [5] * 10}


def cap_notes(report) -> list[str]:
    return [note for note in report.notes if note.startswith("the owner caps")]


def lost_to_caps(out: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """label -> (photos dropped as owner_cap, labelled photos), from the catalog the filter returned."""
    capped = out["drop_reason"].eq("owner_cap")
    return {label: (int(capped[group.index].sum()), len(group)) for label, group in out.groupby("label")}


def test_a_cap_taking_exactly_half_of_a_label_is_named_in_a_note_with_its_counts(tmp_path):
    cat = catalog(owner_rows(LABELS))
    config = FilterConfig(max_km="off", max_owner_share=0.2)
    out, report, got, got_report = filter_both(cat, config, tmp_path)
    lost = lost_to_caps(out)
    assert lost["new_york"] == (30, 60)  # the premise: exactly half, so not held
    assert not [w for w in report.warnings if w.startswith("held:")]
    [note] = cap_notes(report)
    for label, (dropped, photos) in lost.items():
        named = f"{label} {dropped} of {photos} ({dropped / photos:.0%})"
        assert (named in note) == (dropped > 0.25 * photos), (label, note)
    assert "rome" not in note and "paris" not in note
    total = sum(dropped for dropped, _ in lost.values())
    assert f"dropped {total} of {len(out)} labelled photos" in note and "--max-owner-share 0.2" in note
    assert "\n" not in note
    assert_same_report(report, got_report)  # the DuckDB engine: the same note, in the same place


def test_labels_are_named_most_lost_first_and_both_engines_agree_with_max_per_owner(tmp_path):
    cat = catalog(owner_rows({"a": [10, 2, 2], "b": [10, 10], "c": [3, 3, 3]}))
    config = FilterConfig(max_km="off", max_per_owner=5)
    out, report, got, got_report = filter_both(cat, config, tmp_path)
    lost = lost_to_caps(out)
    assert lost == {"a": (5, 14), "b": (10, 20), "c": (0, 9)}
    [note] = cap_notes(report)
    assert "--max-per-owner 5" in note and "--max-owner-share" not in note
    named = re.findall(r"(\w) (\d+) of (\d+) \(\d+%\)", note)
    assert named == [("b", "10", "20"), ("a", "5", "14")]  # 50 % then 36 %; c lost nothing
    assert_same_report(report, got_report)


def test_no_note_without_caps_or_when_no_label_loses_over_a_quarter():
    cat = catalog(owner_rows(LABELS))
    for config in (FilterConfig(max_km="off"), FilterConfig(max_km="off", max_owner_share=0.5)):
        out, report = filter_catalog(cat, config)
        assert all(dropped <= 0.25 * photos for dropped, photos in lost_to_caps(out).values())
        assert cap_notes(report) == []
    out, report = filter_catalog(cat, FilterConfig(max_km="off", max_owner_share=0.2))  # the same photos, capped
    assert len(cap_notes(report)) == 1 and "new_york" in cap_notes(report)[0]
