"""Two LOW findings of a user audit of the geo filter on real im2gps geotags.

- One photographer who geotags every photo at one identical far position (a camera's or app's default location)
  was caught, the photos dropped as geo_outlier, but the output never said it was one photographer at one
  position: a note now names the photographer, the count, the position and how far it lies (both engines).
- A held line offered --force-geo without saying what forcing would cost: it now says how many photos
  --force-geo would drop, the count the hold kept.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from curate.filters import geo
from curate.filters.stage import FilterConfig, filter_catalog
from tests.test_filter_holds import at, catalog, metro_and_noisy
from tests.test_outofcore import assert_same_report, filter_both

PARIS = (48.857, 2.352)
DEFAULT_SPOT = (40.7128, -74.006)  # one identical position, thousands of km from Paris


def paris_with_a_default_position(default_photos: int = 13, scattered_owner: bool = True) -> list[dict]:
    """`paris`: 60 photos within 3 km by 20 photographers, `default_photos` by `cam42` at one identical far
    position; 6 far photos by `wanderer`, each at its own position (one owner far, but not one position); 4 by
    `fewcam` at one identical far position (too few to call a default)."""
    rng = np.random.default_rng(7)
    rows = at("paris", rng.uniform(0, 3, 60), rng, PARIS)
    for i, row in enumerate(rows):
        row["owner_id"] = f"local{i % 20}"
    rows += [{"label": "paris", "lat": DEFAULT_SPOT[0], "lon": DEFAULT_SPOT[1], "owner_id": "cam42"}
             for _ in range(default_photos)]
    if scattered_owner:
        rows += [{"label": "paris", "lat": lat, "lon": lon, "owner_id": "wanderer"}
                 for lat, lon in [(51.5, -0.12), (35.7, 139.7), (-33.9, 151.2), (41.9, 12.5), (52.5, 13.4),
                                  (37.8, -122.4)]]
    rows += [{"label": "paris", "lat": -22.9, "lon": -43.2, "owner_id": "fewcam"} for _ in range(4)]
    return rows


def default_notes(notes: list[str]) -> list[str]:
    return [note for note in notes if "one identical position" in note]


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_one_photographers_photos_at_one_far_position_are_named(tmp_path, engine):
    cat = catalog(paris_with_a_default_position())
    expected, report, got, got_report = filter_both(cat, FilterConfig(max_km=5), tmp_path)
    assert_same_report(report, got_report)  # the same note, byte for byte, from both engines
    out, shown = (expected, report) if engine == "pandas" else (got, got_report)
    mine = (out["owner_id"] == "cam42").to_numpy()
    assert (out.loc[mine, "drop_reason"] == "geo_outlier").all()  # caught as before
    [note] = default_notes(shown.notes)  # cam42 only: not the wanderer (many positions), nor fewcam (4 photos)
    assert "cam42" in note and "wanderer" not in note and "fewcam" not in note
    assert re.match(rf"{int(mine.sum())} of the geo outliers are photographer cam42's", note), note
    centre = shown.geo.set_index("label").loc["paris"]
    km = float(geo.haversine_km(centre["centre_lat"], centre["centre_lon"], *DEFAULT_SPOT))
    said = float(re.search(r"\), ([\d,]+) km from paris's centre", note).group(1).replace(",", ""))
    assert abs(said - km) < 0.01 * km  # an independent distance (spherical) within 1 %
    assert "40.713, -74.006" in note and "default location" in note


def test_a_photographers_far_photos_at_several_positions_or_too_few_are_not_named():
    _, report = filter_catalog(catalog(paris_with_a_default_position(default_photos=0)), FilterConfig(max_km=5))
    assert report.dropped_by_reason["geo_outlier"] == 10  # the wanderer's 6 and fewcam's 4: dropped, not named
    assert default_notes(report.notes) == []
    # one photo of cam42's moved by a few metres more than ~1e-4 degrees: not one identical position
    rows = paris_with_a_default_position(scattered_owner=False)
    moved = next(row for row in rows if row["owner_id"] == "cam42")
    moved["lat"] += 0.01
    _, report = filter_catalog(catalog(rows), FilterConfig(max_km=5))
    assert default_notes(report.notes) == []


def forced_cost(line: str, phrase: str) -> int:
    match = re.search(rf"{re.escape(phrase)} \((?:it would drop )?([\d,]+) photos?", line)
    assert match, line
    return int(match.group(1).replace(",", ""))


def geo_outliers(config: FilterConfig, rows: list[dict], label: str) -> int:
    out, _ = filter_catalog(catalog(rows), config)
    return int(((out["label"] == label) & (out["drop_reason"] == "geo_outlier")).sum())


def test_the_held_spread_line_says_how_many_photos_force_geo_drops():
    rows = metro_and_noisy(np.random.default_rng(0))
    _, report = filter_catalog(catalog(rows), FilterConfig(max_km=5))
    [line] = [w for w in report.warnings if w.startswith("held: geo drops of metro")]
    said = forced_cost(line, "--force-geo to drop them anyway")
    more = geo_outliers(FilterConfig(max_km=5, force_geo=True), rows, "metro") - \
        geo_outliers(FilterConfig(max_km=5), rows, "metro")
    assert said == more > 0


def test_the_unnamed_and_too_few_lines_say_how_many_photos_force_geo_drops():
    rng = np.random.default_rng(1)
    # Kitchen: a scene shot mostly in one town (not a place name), 13 of 30 elsewhere: held
    kitchen = at("Kitchen", rng.uniform(0, 2, 17), rng, PARIS) + at("Kitchen", rng.uniform(800, 5000, 13), rng, PARIS)
    tiny = at("tokyo", rng.uniform(0, 2, 2), rng, (35.68, 139.69)) + at("tokyo", [3000.0], rng, (35.68, 139.69))
    rows = kitchen + tiny
    for i, row in enumerate(rows):
        row["owner_id"] = f"owner{i % 9}"
    _, report = filter_catalog(catalog(rows), FilterConfig(max_km=5))
    [unnamed] = [w for w in report.warnings if w.startswith("held: geo drops of Kitchen")]
    forced = FilterConfig(max_km=5, force_geo=True)
    assert forced_cost(unnamed, "pass --force-geo to drop them") == geo_outliers(forced, rows, "Kitchen") == 13
    assert geo_outliers(FilterConfig(max_km=5), rows, "Kitchen") == 0
    [few] = [w for w in report.warnings if w.startswith("labels with fewer than")]
    assert forced_cost(few, "pass --force-geo to apply") == geo_outliers(forced, rows, "tokyo") == 1


def test_positions_a_ten_thousandth_of_a_degree_apart_are_one_position(tmp_path):
    """Audit CN: 35.0001 - 35.0 is a hair over 1e-4 in floating point, so five photos at 35.0 and 35.0001 were
    not called one position (both engines)."""
    rows = [row for row in paris_with_a_default_position(default_photos=0, scattered_owner=False)]
    rows += [{"label": "paris", "lat": 35.0 + 0.0001 * (i % 2), "lon": 139.0, "owner_id": "edgecam"}
             for i in range(5)]
    expected, report, got, got_report = filter_both(catalog(rows), FilterConfig(max_km=5), tmp_path)
    assert_same_report(report, got_report)
    [note] = default_notes(report.notes)
    assert note.startswith("5 of the geo outliers are photographer edgecam's")
