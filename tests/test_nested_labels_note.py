"""Nested labels are said to be nested (audit N1: every photo whose tags name `ferrari` also names `car`; the
filter held them correctly, but its warning spoke of "labels that are not exclusive" and never of a label that
is a kind of another). When nearly all (90 % or more) of the photos naming a label also name another, the held
warning says so, with the counts and the fix. Both engines build the same warning."""

from __future__ import annotations

from curate.filters.stage import FilterConfig
from tests.test_filter_holds import catalog
from tests.test_outofcore import assert_same_report, filter_both

CONFIG = FilterConfig(max_km="off")


def tagged(label_photos: dict[str, int], pair_photos: dict[tuple[str, ...], int]) -> list[dict]:
    """Labelled photos (tags naming one label) and unlabelled ones whose tags name each set of labels."""
    rows = [{"label": label, "tag_labels": [label]} for label, n in label_photos.items() for _ in range(n)]
    rows += [{"label": None, "tag_labels": list(names)} for names, n in pair_photos.items() for _ in range(n)]
    return [{**row, "owner_id": f"o{i % 23}"} for i, row in enumerate(rows)]


def held_warning(report) -> str:
    [line] = [w for w in report.warnings if w.startswith("held:") and "naming two or more labels" in w]
    return line


def naming(cat, label: str, also: str | None = None) -> int:
    """Photos whose tags name `label` (and `also`), counted on the catalog itself."""
    return int(cat["tag_labels"].map(lambda names: label in names and (also is None or also in names)).sum())


def test_the_audits_ferrari_in_car_is_called_nested_with_its_counts_on_both_engines(tmp_path):
    cat = catalog(tagged({"car": 62, "ferrari": 5}, {("car", "ferrari"): 93}))
    out, report, got, got_report = filter_both(cat, CONFIG, tmp_path)
    line = held_warning(report)
    both, photos = naming(cat, "ferrari", "car"), naming(cat, "ferrari")
    assert (both, photos) == (93, 98)
    assert f"nested labels: {both / photos:.0%} of the photos naming ferrari also name car ({both} of {photos})" \
        in line
    assert "ferrari looks like a kind of car" in line and "car looks like a kind of ferrari" not in line
    assert "keep one of the two labels in the recipe, or give the photos one label each" in line
    assert "\n" not in line
    assert_same_report(report, got_report)


def test_every_photo_naming_the_label_says_every(tmp_path):
    cat = catalog(tagged({"car": 62}, {("car", "ferrari"): 93}))
    _, report, _, got_report = filter_both(cat, CONFIG, tmp_path)
    assert "every photo naming ferrari also names car (93 of 93): ferrari looks like a kind of car" \
        in held_warning(report)
    assert_same_report(report, got_report)


def test_ninety_percent_is_the_line(tmp_path):
    """90 of 100 photos naming ferrari also name car: nested; 90 of 102 (88 %): not called nested."""
    for labelled, nested in ((10, True), (12, False)):
        cat = catalog(tagged({"car": 62, "ferrari": labelled}, {("car", "ferrari"): 90}))
        _, report, _, got_report = filter_both(cat, CONFIG, tmp_path)
        line = held_warning(report)
        assert ("nested labels" in line) == nested and ("ferrari looks like a kind of car" in line) == nested
        assert_same_report(report, got_report)


def test_an_everyday_tag_held_for_taking_most_of_a_label_is_not_called_nested(tmp_path):
    """london+street: 75 % of the photos naming street also name london, and 23 % of london's: not nested;
    ferrari beside it is."""
    cat = catalog(tagged({"london": 100, "street": 10, "car": 62}, {("london", "street"): 30, ("car", "ferrari"): 93}))
    _, report, _, got_report = filter_both(cat, CONFIG, tmp_path)
    line = held_warning(report)
    assert "ferrari looks like a kind of car" in line
    assert "street looks like" not in line and "london looks like" not in line and "street also name" not in line
    assert_same_report(report, got_report)


def test_a_third_label_named_on_some_photos_still_leaves_the_nesting_said(tmp_path):
    cat = catalog(tagged({"car": 62, "red": 40}, {("car", "ferrari"): 60, ("car", "ferrari", "red"): 33}))
    _, report, _, got_report = filter_both(cat, CONFIG, tmp_path)
    line = held_warning(report)
    assert f"every photo naming ferrari also names car ({naming(cat, 'ferrari')} of {naming(cat, 'ferrari')})" in line
    assert "red looks like" not in line  # 33 of the 73 photos naming red also name car
    assert_same_report(report, got_report)
