"""`--missing-geo drop` is held when most labelled photos have no usable coordinates (audit BP E2): a sidecar
whose geotags ingest could not read (a decimal comma, then) lost every photo, 100 of 100, on a note, while the
licence filter and the owner caps hold in the same place. The note now says why the positions are missing."""

from __future__ import annotations

import numpy as np

from curate.filters.stage import FilterConfig, filter_catalog
from tests.test_filter_holds import catalog, reasons
from tests.test_outofcore import assert_same_report, assert_same_rows, filter_both

PARIS = (48.857, 2.352)


def rows(missing: int, unreadable: int, located: int = 3) -> list[dict]:
    rng = np.random.default_rng(0)
    near = [{"label": "paris", "lat": PARIS[0] + d, "lon": PARIS[1] + e, "owner_id": f"o{i}"}
            for i, (d, e) in enumerate(rng.normal(0, 0.005, (located, 2)))]
    return (near + [{"label": "paris", "coord_issue": "missing"}] * missing
            + [{"label": "paris", "coord_issue": "not_a_number"}] * unreadable)


def test_most_photos_without_coordinates_are_held_and_the_note_says_why():
    out, report = filter_catalog(catalog(rows(4, 3)), FilterConfig(missing_geo="drop"))
    assert "missing_geo" not in reasons(out)
    [held] = [w for w in report.warnings if w.startswith("held: --missing-geo drop would drop 7 of the 10")]
    assert "(4 missing, 3 not_a_number" in held and "--force-missing-geo" in held
    assert "7 labelled photos have no usable coordinates (4 missing, 3 not_a_number): kept, the missing_geo " \
           "drops held" in report.notes
    assert any("--force-missing-geo: force_missing_geo = true" in note for note in report.notes)


def test_forced_they_are_dropped_and_the_note_says_so():
    out, report = filter_catalog(catalog(rows(4, 3)), FilterConfig(missing_geo="drop", force_missing_geo=True))
    assert reasons(out).count("missing_geo") == 7
    assert not any(w.startswith("held: --missing-geo") for w in report.warnings)
    assert any(note.endswith("dropped as missing_geo (--force-missing-geo)") for note in report.notes)


def test_a_few_photos_without_coordinates_are_dropped_as_asked():
    out, report = filter_catalog(catalog(rows(1, 1, located=6)), FilterConfig(missing_geo="drop"))
    assert reasons(out).count("missing_geo") == 2
    assert "2 labelled photos have no usable coordinates (1 missing, 1 not_a_number): dropped as missing_geo" \
        in report.notes


def test_kept_by_default_with_the_reasons():
    out, report = filter_catalog(catalog(rows(4, 3)), FilterConfig())
    assert "missing_geo" not in reasons(out) and not any("--missing-geo" in w for w in report.warnings)
    assert "7 labelled photos have no usable coordinates (4 missing, 3 not_a_number): kept" in report.notes


def test_a_forced_flag_without_missing_geo_drop_says_it_forces_nothing():
    _, report = filter_catalog(catalog(rows(1, 1)), FilterConfig(force_missing_geo=True))
    forced_nothing = "--force-missing-geo forces nothing without --missing-geo drop"
    assert any(note.startswith(forced_nothing) for note in report.notes)


def test_both_engines_agree(tmp_path):
    for index, config in enumerate((FilterConfig(missing_geo="drop"),
                                    FilterConfig(missing_geo="drop", force_missing_geo=True),
                                    FilterConfig(missing_geo="drop", min_geo_accuracy=11))):
        extra = [{"label": "paris", "lat": PARIS[0], "lon": PARIS[1], "geo_accuracy": 3}]
        folder = tmp_path / str(index)
        folder.mkdir()
        expected, report, got, got_report = filter_both(catalog(rows(4, 3) + extra), config, folder)
        assert_same_rows(expected, got, ["status", "drop_reason"])
        assert_same_report(report, got_report)


def test_the_held_line_gives_the_fix_for_each_reason_it_names():
    """Review BR 6: the line explained not_a_number and advised --map also when no position was unreadable."""
    _, report = filter_catalog(catalog(rows(7, 0)), FilterConfig(missing_geo="drop"))
    [held] = [w for w in report.warnings if w.startswith("held: --missing-geo drop")]
    assert "--map lat=COLUMN" in held and "not_a_number" not in held and "--min-geo-accuracy" not in held
    _, report = filter_catalog(catalog(rows(0, 7)), FilterConfig(missing_geo="drop"))
    [held] = [w for w in report.warnings if w.startswith("held: --missing-geo drop")]
    assert "written but unreadable" in held and "--map lat=COLUMN" not in held
