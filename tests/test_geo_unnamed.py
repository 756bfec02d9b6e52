"""A label whose name is not a place is not geo-filtered around the town most of its photos come from
(audit M, 2026-12-05): `Kitchen`, a scene label with 17 of its 30 photos taken in central Paris by 7
photographers, was judged a place and lost the 13 kitchens photographed elsewhere as geo outliers, under
a bare "dropped 13 geo_outlier".

- a label whose name is not a place (`placenames.names_a_place`) and that would lose more than
  `max_unnamed_share` (0.2) of its geotagged photos is held (`skipped: not a place name`), with one
  warning naming it, its share, and how to drop anyway;
- a label named as a place, one the recipe gives coordinates, `--force-geo` and `max_unnamed_share 1`
  drop as before; a non-place label that loses a usual share drops as before;
- a label whose photos spread over a metro area is judged on what it would still lose (beyond the ring);
- both engines (pandas, DuckDB) agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curate.filters import geo, placenames
from curate.filters.stage import FilterConfig, filter_catalog
from tests.helpers import REALDATA
from tests.test_filter_holds import at, catalog
from tests.test_outofcore import assert_same_report, assert_same_rows, filter_both

UNNAMED = "skipped: not a place name"  # the table status (docs/cleaning.md)
PARIS = (48.857, 2.352)
ELSEWHERE = [(51.5, -0.12), (40.7, -74.0), (35.7, 139.7), (-33.9, 151.2), (41.9, 12.5), (52.5, 13.4),
             (37.8, -122.4), (55.75, 37.6), (19.4, -99.1), (-23.5, -46.6), (1.35, 103.8), (30.0, 31.2), (43.7, 7.3)]


def town_and_elsewhere(label: str, far: int = 13, spread: int = 0) -> list[dict]:
    """`label`: 17 photos within 2 km of central Paris by 7 photographers, `spread` more at 6-30 km,
    and `far` photos taken in other cities by as many other photographers."""
    rng = np.random.default_rng(7)
    near = at(label, rng.uniform(0, 2, 17), rng, PARIS) + at(label, rng.uniform(6, 30, spread), rng, PARIS)
    for i, row in enumerate(near):
        row["owner_id"] = f"club{i % 7}"
    away = [{"label": label, "lat": lat, "lon": lon, "owner_id": f"visitor{i}"}
            for i, (lat, lon) in enumerate(ELSEWHERE[:far])]
    return near + away


def geo_drops(out: pd.DataFrame, label: str) -> int:
    return int(((out["label"] == label) & (out["drop_reason"] == "geo_outlier")).sum())


def status(report, label: str) -> str:
    return report.geo.set_index("label").loc[label, "geo_filter"]


def test_a_scene_label_shot_mostly_in_one_town_is_held_with_a_warning_naming_it():
    cat = catalog(town_and_elsewhere("Kitchen"))
    out, report = filter_catalog(cat, FilterConfig(max_km=5))
    assert geo_drops(out, "Kitchen") == 0 and (out["status"] == "kept").all()
    assert status(report, "Kitchen") == UNNAMED
    assert "13 of 30" in report.geo.set_index("label").loc["Kitchen", "note"]
    lines = [w for w in report.warnings if "Kitchen" in w]
    assert len(lines) == 1 and lines[0].startswith("held: geo drops of Kitchen (13 of 30 geotagged photos, 43%)")
    assert "--force-geo" in lines[0] and "lat/lon" in lines[0]
    forced, report = filter_catalog(cat, FilterConfig(max_km=5, force_geo=True))
    assert geo_drops(forced, "Kitchen") == 13 and status(report, "Kitchen") == "forced"
    off, report = filter_catalog(cat, FilterConfig(max_km=5, max_unnamed_share=1.0))
    assert geo_drops(off, "Kitchen") == 13 and status(report, "Kitchen") == "applied"


def test_a_place_name_or_the_recipes_coordinates_keep_the_filter_on():
    out, report = filter_catalog(catalog(town_and_elsewhere("Paris")), FilterConfig(max_km=5))
    assert geo_drops(out, "Paris") == 13 and status(report, "Paris") == "applied"
    out, report = filter_catalog(catalog(town_and_elsewhere("paris_skyline")), FilterConfig(max_km=5))
    assert geo_drops(out, "paris_skyline") == 13
    # the recipe says where the label is: a place, whatever its name
    out, report = filter_catalog(catalog(town_and_elsewhere("Kitchen")), FilterConfig(max_km=5), {"Kitchen": PARIS})
    assert geo_drops(out, "Kitchen") == 13 and status(report, "Kitchen") == "applied"


def test_a_usual_share_of_far_geotags_is_still_dropped_from_any_label():
    """... and a label whose name is not a place is named when it loses them (audit AE: `Bedroom` lost its 12
    photos taken away from New York, 20 %, at --max-km 50 with no line naming it)."""
    out, report = filter_catalog(catalog(town_and_elsewhere("Kitchen", far=4)), FilterConfig(max_km=5))
    assert geo_drops(out, "Kitchen") == 4 and status(report, "Kitchen") == "applied"  # 4 of 21: 19%
    line = next(w for w in report.warnings if w.startswith("geo drops applied to labels whose names are not places"))
    assert "Kitchen 4 of 21 geotagged photos (19%) dropped as geo_outlier" in line and "--max-km off" in line
    out, report = filter_catalog(catalog(town_and_elsewhere("Paris", far=4)), FilterConfig(max_km=5))
    assert geo_drops(out, "Paris") == 4 and not any("names are not places" in w for w in report.warnings)
    out, report = filter_catalog(catalog(town_and_elsewhere("Kitchen", far=4)),
                                 FilterConfig(max_km=5, max_unnamed_share=0.1))
    assert geo_drops(out, "Kitchen") == 0 and status(report, "Kitchen") == UNNAMED
    # audit AP: a label the recipe gives lat/lon is a place by the user's word: not called a non-place
    given = {"Kitchen": geo.Centre("Kitchen", *PARIS, "recipe")}
    out, report = filter_catalog(catalog(town_and_elsewhere("Kitchen", far=4)), FilterConfig(max_km=5), given)
    assert geo_drops(out, "Kitchen") == 4 and not any("names are not places" in w for w in report.warnings)


def test_a_label_spread_over_a_metro_area_is_judged_on_what_it_would_still_lose():
    # 17 in the centre, 6 in the suburbs (a metro hold keeps them), 9 far away: 9 of 32 still dropped, 28%
    cat = catalog(town_and_elsewhere("Kitchen", far=9, spread=6))
    out, report = filter_catalog(cat, FilterConfig(max_km=5))
    assert geo_drops(out, "Kitchen") == 0 and status(report, "Kitchen") == UNNAMED
    out, report = filter_catalog(catalog(town_and_elsewhere("Paris", far=9, spread=6)), FilterConfig(max_km=5))
    assert status(report, "Paris") == "held: spread wider than max_km" and geo_drops(out, "Paris") == 9
    # 3 far of 26 (12%): the metro hold as before, the far ones dropped
    out, report = filter_catalog(catalog(town_and_elsewhere("Kitchen", far=3, spread=6)), FilterConfig(max_km=5))
    assert status(report, "Kitchen") == "held: spread wider than max_km" and geo_drops(out, "Kitchen") == 3
    # audit AE F2b: the held line called a scene label's spread "a metro area"; a place keeps those words
    held = [w for w in report.warnings if w.startswith("held: geo drops of Kitchen")]
    assert len(held) == 1 and "(Kitchen: not place names, shot in many places)" in held[0], held
    assert "metro area" not in held[0] and "--max-km off keeps them" in held[0] and "larger --max-km" not in held[0]
    _, report = filter_catalog(catalog(town_and_elsewhere("Paris", far=3, spread=6)
                                       + town_and_elsewhere("Kitchen", far=3, spread=6)), FilterConfig(max_km=5))
    held = [w for w in report.warnings if w.startswith("held: geo drops of ")]
    assert len(held) == 1 and "(a metro area; Kitchen: not place names, shot in many places)" in held[0], held
    assert "pass a larger --max-km" in held[0]


def test_both_engines_agree_on_labels_that_are_not_place_names(tmp_path):
    rows = town_and_elsewhere("Kitchen") + town_and_elsewhere("Paris") + town_and_elsewhere("Bedroom", far=4)
    rows += town_and_elsewhere("Office", far=9, spread=6)
    cat = catalog(rows)
    for config, centres in ((FilterConfig(max_km=5), None), (FilterConfig(max_km=5, force_geo=True), None),
                            (FilterConfig(max_km=5), {"Kitchen": PARIS})):
        expected, report, got, got_report = filter_both(cat, config, tmp_path, centres)
        assert_same_rows(expected, got, ["status", "drop_reason", "drop_stage"])
        assert_same_report(report, got_report)
        if not config.force_geo and centres is None:
            assert [status(report, label) for label in ("Kitchen", "Paris", "Bedroom", "Office")] == \
                [UNNAMED, "applied", "applied", UNNAMED]


def test_names_that_say_place_and_names_that_do_not():
    places = ["Amsterdam", "chicago", "new_york", "NewYork", "los_angeles", "São Paulo", "Zürich", "tokyo-tower",
              "chicago_skyline", "France", "California", "Europe", "Firenze", "Seville", "München"]
    # a town's name is an everyday word: "Forest" (Belgium), "Temple" (Texas), "Wedding" (Berlin) (audit O)
    others = ["Kitchen", "Bedroom", "TallBuilding", "InsideCity", "Highway", "rain_forest", "sandals", "red",
              "skyline", "vehicle", "Eiffel tower", "Forest", "temple", "wedding", "cat", "sunset"]
    assert [name for name in places if not placenames.names_a_place(name)] == []
    assert [name for name in others if placenames.names_a_place(name)] == []


def test_a_real_scene_label_shot_mostly_in_paris_is_held_and_the_same_photos_named_paris_are_not():
    """Real im2gps3k geotags and photographers: the photos within 30 km of Paris and, as a third of the
    label, real photos taken at least 200 km away."""
    path = REALDATA / "im2gps-meta" / "im2gps3k_places365.csv"
    if not path.exists():
        pytest.skip(f"real data not found at {path} (../shared/realdata is absent in this checkout)")
    meta = pd.read_csv(path)
    km = geo.haversine_km(*PARIS, meta["LAT"].to_numpy(), meta["LON"].to_numpy())
    near, far = meta[km <= 30], meta[km >= 200].sample(frac=1.0, random_state=0)
    picked = pd.concat([near, far.head(len(near) // 2)])
    for label, expected in (("kitchen", UNNAMED), ("paris", None)):
        rows = [{"label": label, "lat": r.LAT, "lon": r.LON, "owner_id": r.AUTHOR} for r in picked.itertuples()]
        out, report = filter_catalog(catalog(rows), FilterConfig(max_km=5))
        if expected:
            assert status(report, label) == expected and geo_drops(out, label) == 0
        else:
            assert status(report, label) != UNNAMED and geo_drops(out, label) >= len(near) // 2
