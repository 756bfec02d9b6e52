"""Photos whose tags name two or more labels (audit AB).

- A multi-word label given as separate tags ("new", "york": how Flickr splits a typed "new york") is that
  label, and a label named only as a word of it (york) gives way; a label named on its own stays.
- A few ambiguous photos are dropped as ambiguous_label, with a note naming the label pairs.
- Many (a label that is also an everyday tag: "street" beside "london street bus") are held: kept without a
  label, with a `held:` warning naming the pairs; --force-ambiguous drops them. Both engines agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curate.filters.stage import FilterConfig, filter_catalog
from curate.outofcore.db import connect
from curate.recipes import Label, Recipe
from curate.records import tags_and_labels
from tests.test_filter_holds import catalog, reasons
from tests.test_outofcore import assert_same_rows, on_disk, run_query

CITIES = Recipe("cities", (Label("york", "York"), Label("new_york", "New York"), Label("london", "London"),
                           Label("paris", "Paris"), Label("street", "Street")))


def labels_of(*raw: str) -> list[list[str]]:
    return tags_and_labels(pd.Series(list(raw)), CITIES)[1].tolist()


def test_a_two_word_label_given_as_two_tags_is_that_label_not_its_last_word():
    assert labels_of("new york skyline", "newyork york", "york minster", "new, york") == \
        [["new_york"], ["new_york"], ["york"], ["new_york"]]
    # two labels each named in full stay ambiguous; order of the tags does not make a phrase of unrelated words
    assert labels_of("york london", "york new") == [["york", "london"], ["york"]]


def test_joined_tags_name_only_labels_of_several_words_and_only_the_matched_spelling_gives_way():
    """Audit AC, on real Flickr tags: `garden bed room` was labelled bedroom, `africa is land` island; an
    alias "downtown street" made `street` give way to InsideCity on the tags `insidecity street`; repeated
    tags were dropped before joining, so `new jersey new york` lost new_york."""
    recipe = Recipe("r", (Label("bedroom", "Bedroom"), Label("island", "Island"),
                          Label("InsideCity", "InsideCity", ("downtown street",)), Label("Street", "Street"),
                          Label("new_york", "New York"), Label("new_jersey", "New Jersey")))
    labels = tags_and_labels(pd.Series(["garden bed room green", "africa is land", "insidecity street",
                                        "downtown street", "hoboken new jersey new york skyline",
                                        '["new", "york", "new", "jersey"]']), recipe)[1].tolist()
    assert labels == [[], [], ["InsideCity", "Street"], ["InsideCity"], ["new_york", "new_jersey"],
                      ["new_york", "new_jersey"]]


def tagged(names: list[str], n: int) -> list[dict]:
    return [{"label": None, "tag_labels": names, "tags": names, "sha256": None} for _ in range(n)]


def everyday_tag() -> pd.DataFrame:
    """london: 20 photos tagged london alone, 30 tagged london and street (an everyday tag that is also a
    label); paris: 100 photos, 5 of them also tagged london (a trip album)."""
    rows = ([{"label": "london"}] * 20 + tagged(["london", "street"], 30) + [{"label": "paris"}] * 95
            + tagged(["london", "paris"], 5) + [{"label": "street"}] * 40)
    return catalog(rows)


def test_a_label_that_is_also_an_everyday_tag_holds_its_ambiguous_photos():
    cat = everyday_tag()
    out, report = filter_catalog(cat, FilterConfig(max_km="off"))
    assert "ambiguous_label" not in report.dropped_by_reason and (out["status"] == "kept").all()
    assert out["label"].isna().sum() == 35  # kept, but without a label: training and export leave them out
    held = [w for w in report.warnings if w.startswith("held:")]
    assert len(held) == 1 and "london+street 30" in held[0] and "london+paris 5" in held[0]
    assert "64% of the photos naming london" in held[0] and "--force-ambiguous" in held[0]  # 35 of 20 + 35
    assert report.label_conflicts["ambiguous_held"] and report.label_conflicts["ambiguous_photos"] == 35
    forced, report = filter_catalog(cat, FilterConfig(max_km="off", force_ambiguous=True))
    assert reasons(forced).count("ambiguous_label") == 35 and not report.label_conflicts["ambiguous_held"]
    assert any("35 photos dropped as ambiguous_label" in note and "london+street 30" in note for note in report.notes)


def test_a_few_ambiguous_photos_are_dropped_with_their_pairs_named():
    cat = catalog([{"label": "paris"}] * 200 + tagged(["london", "paris"], 6) + [{"label": "london"}] * 100)
    out, report = filter_catalog(cat, FilterConfig(max_km="off"))
    assert reasons(out).count("ambiguous_label") == 6 and not report.label_conflicts["ambiguous_held"]
    assert not [w for w in report.warnings if "held" in w]
    assert any("6 photos dropped as ambiguous_label" in note and "london+paris 6" in note for note in report.notes)


@pytest.mark.parametrize("force", [False, True])
def test_both_engines_hold_and_drop_the_same_ambiguous_photos(tmp_path, force):
    from curate.outofcore.filter import filter_duckdb

    cat = everyday_tag()
    config = FilterConfig(max_km="off", force_ambiguous=force)
    expected, report = filter_catalog(cat, config)
    with connect(tmp_path) as con:
        query, got_report = filter_duckdb(con, on_disk(cat, tmp_path), config)
        assert_same_rows(expected, run_query(con, query), ["status", "drop_reason"])
    assert got_report.warnings == report.warnings and got_report.notes == report.notes
    assert got_report.label_conflicts == report.label_conflicts
    assert (np.asarray(reasons(expected)) == "ambiguous_label").sum() == (35 if force else 0)


def test_a_small_label_emptied_by_ambiguous_photos_is_named():
    """Audit AC: 9 photos of a small label all also naming a large one are under the hold's 10 photos, so
    they are dropped; the note now names the label they emptied."""
    cat = catalog([{"label": "paris"}] * 500 + tagged(["paris", "nice"], 9))
    out, report = filter_catalog(cat, FilterConfig(max_km="off"))
    assert reasons(out).count("ambiguous_label") == 9
    assert any("nice+paris 9" in note or "paris+nice 9" in note for note in report.notes)
    assert any("most of nice (9 of 9)" in note for note in report.notes)

