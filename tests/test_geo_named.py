"""Labels named after a region or a big city: the geo filter checks the geotags against the place the name
names (GeoNames, offline), where a median centre alone misleads it (audit W, 2026-12-06).

- A country or US state is judged by where each photo is, not `--max-km`: at 5 km around the
  median centre "France" and "Thailand" lost 40 genuine photos taken elsewhere in the country, and 34 of 42
  wrong geotags (other continents) survived in the other region labels.
- A label whose median centre lies far from every place of its name (most geotags at one wrong spot, a default
  or home position) is held: "Barcelona" with 13 of 24 geotags at one spot 1,500 km away dropped its 11 right
  photos, silently.
"""

from __future__ import annotations

import numpy as np
import pytest

from curate.filters import geo, placenames
from curate.filters.geo_labels import GEO_NAME_FAR, GEO_REGION
from curate.filters.stage import FilterConfig, filter_catalog
from tests.test_filter_holds import catalog, reasons
from tests.test_outofcore import assert_same_report, assert_same_rows, filter_both

FRENCH_TOWNS = {"paris": (48.857, 2.352), "nice": (43.703, 7.266), "bordeaux": (44.838, -0.579),
                "strasbourg": (48.573, 7.752), "brest": (48.390, -4.486), "ajaccio": (41.919, 8.738),
                "lille": (50.629, 3.057), "perpignan": (42.699, 2.895)}
ELSEWHERE = [(37.566, 126.978), (-23.550, -46.633), (40.713, -74.006)]  # Seoul, São Paulo, New York


def near(lat: float, lon: float, n: int, rng, km: float = 2.0, **row) -> list[dict]:
    return [{"lat": lat + dlat, "lon": lon + dlon, **row} for dlat, dlon in rng.normal(0, km / 111 / 2, (n, 2))]


def france(rng, label: str = "France") -> list[dict]:
    """Photos all over France (most in Paris, several owners), and three taken on other continents."""
    rows = near(*FRENCH_TOWNS["paris"], 30, rng, label=label, owner_id="o1")
    for k, town in enumerate(sorted(FRENCH_TOWNS)):
        rows += near(*FRENCH_TOWNS[town], 3, rng, label=label, owner_id=f"o{k + 2}")
    rows += [{"label": label, "lat": lat, "lon": lon, "owner_id": "away", "far": True} for lat, lon in ELSEWHERE]
    return rows


def test_a_country_label_keeps_its_photos_anywhere_in_the_country_and_drops_those_abroad():
    rows = france(np.random.default_rng(0))
    out, report = filter_catalog(catalog([{k: v for k, v in row.items() if k != "far"} for row in rows]),
                                 FilterConfig(max_km=5))
    far = np.array([bool(row.get("far")) for row in rows])
    dropped = np.array([reason == "geo_outlier" for reason in reasons(out)])
    assert dropped[far].all() and not dropped[~far].any()  # Nice, Brest, Ajaccio kept; Seoul, São Paulo gone
    row = report.geo.set_index("label").loc["France"]
    assert row["geo_filter"] == GEO_REGION and row["geo_outliers"] == 3
    assert "names a region" in row["note"]
    line = next(w for w in report.warnings if "labels that name a country or US state" in w)
    assert "France" in line and "--max-km 5" in line


def test_a_region_is_judged_whatever_max_km_and_both_engines_agree(tmp_path):
    """Madrid is outside France at any --max-km: a region's photos are judged by where they are, and max_km, a
    distance from a centre, plays no part (audit Z2: at --max-km 150 "France" kept London, "Germany"
    Amsterdam and Brussels)."""
    rows = france(np.random.default_rng(1), "france")
    rows += near(40.0, -3.7, 4, np.random.default_rng(2), label="france", owner_id="madrid")  # Madrid
    cat = catalog([{k: v for k, v in row.items() if k != "far"} for row in rows])
    for max_km in (5, 150, 3000):
        (tmp_path / str(max_km)).mkdir()
        expected, report, got, got_report = filter_both(cat, FilterConfig(max_km=max_km), tmp_path / str(max_km))
        assert_same_rows(expected, got, ["status", "drop_reason"])
        assert_same_report(report, got_report)
        assert reasons(expected).count("geo_outlier") == 7  # Seoul, São Paulo, New York and Madrid's 4


def test_a_region_whose_geotags_sit_elsewhere_is_held():
    rng = np.random.default_rng(3)
    rows = near(-23.55, -46.63, 20, rng, label="Italy", owner_id="o") + near(41.9, 12.5, 8, rng, label="Italy")
    out, report = filter_catalog(catalog(rows), FilterConfig(max_km=5))
    assert "geo_outlier" not in reasons(out)
    assert report.geo.set_index("label").loc["Italy", "geo_filter"] == GEO_NAME_FAR


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_city_whose_geotags_mostly_sit_at_one_wrong_spot_keeps_its_right_photos(tmp_path, engine):
    """Audit W3's Barcelona: 13 of 24 geotags at one spot (a home position ±500 m) 1,500 km away put the
    median centre there and the 11 right photos were dropped. GeoNames' Barcelona is 1,500 km from that
    centre: the label's drops are held and named, the others' are not."""
    rng = np.random.default_rng(4)
    rows = near(41.385, 2.173, 11, rng, label="Barcelona", owner_id="local")
    rows += near(52.52, 13.40, 13, rng, km=0.5, label="Barcelona", owner_id="home")  # Berlin
    rows += near(48.857, 2.352, 20, rng, label="Paris", owner_id="p") + [{"label": "Paris", "lat": 35.68,
                                                                        "lon": 139.76, "owner_id": "p"}]
    cat = catalog(rows)
    expected, report, got, got_report = filter_both(cat, FilterConfig(max_km=5), tmp_path)
    out, shown = (expected, report) if engine == "pandas" else (got, got_report)
    assert_same_rows(expected, got, ["status", "drop_reason"])
    assert_same_report(report, got_report)
    labels = cat["label"].tolist()
    assert [label for label, reason in zip(labels, reasons(out)) if reason] == ["Paris"]  # Paris' Tokyo photo only
    table = shown.geo.set_index("label")
    assert table.loc["Barcelona", "geo_filter"] == GEO_NAME_FAR and table.loc["Paris", "geo_filter"] == "applied"
    line = next(w for w in shown.warnings if "far from every place of that name" in w)
    assert "Barcelona (24 geotagged photos)" in line and "Paris" not in line and "--center recipe" in line
    assert "km from every place of that name" in table.loc["Barcelona", "note"]


def test_force_geo_and_the_recipes_coordinates_take_precedence_over_the_name():
    rng = np.random.default_rng(5)
    rows = near(52.52, 13.40, 10, rng, label="Barcelona") + near(41.385, 2.173, 2, rng, label="Barcelona")
    out, report = filter_catalog(catalog(rows), FilterConfig(max_km=5, force_geo=True))
    assert reasons(out).count("geo_outlier") == 2  # --force-geo: around the geotags' own centre, as asked
    assert report.geo.set_index("label").loc["Barcelona", "geo_filter"] == "forced"
    recipe = {"Barcelona": geo.Centre("Barcelona", 41.385, 2.173, "recipe")}
    out, report = filter_catalog(catalog(rows), FilterConfig(max_km=5), recipe)  # the recipe's own check
    assert "geo_outlier" not in reasons(out)
    assert report.geo.set_index("label").loc["Barcelona", "geo_filter"] == "skipped: centre far from the recipe's"
    assert not any("every place of that name" in w for w in report.warnings)


def test_the_report_names_labels_that_lost_photos_without_being_filtered_at_max_km():
    """Audit W6: the report read "Applied to 1 of the 9 labels" while 5 labels had lost photos (a held
    place still drops beyond the ring; a region beyond its extent), and its table had no note."""
    from curate.report.data import build_report
    from curate.report.html import render_html

    rows = [{k: v for k, v in row.items() if k != "far"} for row in france(np.random.default_rng(6))]
    rows += near(48.857, 2.352, 12, np.random.default_rng(7), label="paris", owner_id="p")
    rows += [{"label": "red", "lat": lat, "lon": lon, "owner_id": "r"} for lat, lon in ELSEWHERE * 3]  # not a place
    out, report = filter_catalog(catalog(rows), FilterConfig(max_km=5))
    section = build_report(out, {"filter": report.to_dict()})["sections"]["geography"]
    by_label = {row["label"]: row for row in section["labels"]}
    assert by_label["France"]["geo_filter"] == GEO_REGION and by_label["France"]["geo_outliers"] == 3
    assert "names a region" in by_label["France"]["note"] and by_label["paris"]["note"] is None
    page = render_html(build_report(out, {"filter": report.to_dict()}))
    assert "Applied to 1 of the 3 labels" in page
    assert "1 other label lost photos as geo outliers farther out (France" in page
    assert "names a region (GeoNames)" in page


def test_a_named_place_wider_than_max_km_is_told_to_use_a_larger_limit_not_force_geo():
    """Audit W4: Hong Kong, Paris and Japan read "labels look like non-places" and the only way offered,
    --force-geo, would have dropped 583 genuine photos of the regions collection. A label named as a place
    gets its own line with a --max-km that fits it; every line says what --force-geo would drop."""
    from tests.test_filter_holds import at

    rng = np.random.default_rng(8)
    rows = at("london", rng.uniform(8, 40, 40), rng) + at("london", rng.uniform(3000, 6000, 2), rng)
    rows += [{"label": "red", "lat": lat, "lon": lon} for lat, lon in ELSEWHERE * 4]
    out, report = filter_catalog(catalog(rows), FilterConfig(max_km=2))
    assert "geo_outlier" not in reasons(out)
    table = report.geo.set_index("label")
    assert (table["geo_filter"] == "skipped: not a place").all()
    [named] = [w for w in report.warnings if w.startswith("labels named as places spread far wider than 2 km")]
    suggested = int(named.split("london (--max-km ")[1].split(")")[0])
    assert "london" in named and "red" not in named and 30 <= suggested <= 45
    assert f"--force-geo would drop {table.loc['london', 'beyond_max_km']} of their photos" in named
    [other] = [w for w in report.warnings if w.startswith("labels look like non-places: red;")]
    assert "it would drop 12 of their photos" in other
    again, report = filter_catalog(catalog(rows), FilterConfig(max_km=suggested))
    dropped = np.array([reason == "geo_outlier" for reason in reasons(again)])
    assert dropped[40:42].all()  # at its own scale the far wrong geotags go, and at most its outer tenth
    assert dropped[:40].sum() <= 4
    assert report.geo.set_index("label").loc["london", "geo_filter"] in ("applied", "held: spread wider than max_km")


def test_a_smaller_place_of_a_big_citys_name_is_filtered_around_its_own_centre():
    """Audit Z4: Paris, Texas, Birmingham, Alabama and Córdoba, Spain share a big city's name; their labels
    were held as "geotags may be mostly wrong". Their centres sit on a GeoNames city of the same name, of
    any size: they are filtered around it, and a far wrong geotag goes."""
    rng = np.random.default_rng(9)
    rows = near(33.661, -95.556, 20, rng, label="Paris", owner_id="tx")  # Paris, Texas
    rows += [{"label": "Paris", "lat": 35.68, "lon": 139.76, "owner_id": "far"}]
    out, report = filter_catalog(catalog(rows), FilterConfig(max_km=5))
    assert report.geo.set_index("label").loc["Paris", "geo_filter"] == "applied"
    assert reasons(out) == [None] * 20 + ["geo_outlier"]


def test_photos_without_owners_do_not_hold_a_spread_on_their_own():
    """Audit Z5: each photo without an owner counted as a photographer of its own, so three wrong geotags just
    beyond max_km held a whole label in a collection ingested without owners."""
    from tests.test_geo_owners import suburbs

    rows = [{**row, "owner_id": None} for row in suburbs(3, np.random.default_rng(0))]
    out, report = filter_catalog(catalog(rows), FilterConfig(max_km=5))
    assert report.geo.set_index("label").loc["london", "geo_filter"] == "applied"  # the share rule alone: 8.3 %
    assert reasons(out).count("geo_outlier") == 12


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_far_flung_region_drops_photos_from_other_continents_and_keeps_its_own(tmp_path, engine):
    """Audit Z1: the region's limit was a radius from the label's centre (its farthest city plus the widest gap
    between its cities): Hawaii and Alaska made it 7,000-8,000 km for "United States", which kept London,
    Paris and Moscow. Each photo is now judged by where it is: its nearest GeoNames city in the region, or
    close to one of its cities."""
    rng = np.random.default_rng(10)
    towns = [(40.71, -74.01), (41.88, -87.63), (34.05, -118.24), (21.31, -157.86), (61.22, -149.90),
             (25.76, -80.19), (47.61, -122.33), (29.76, -95.37)]  # NYC ... Honolulu, Anchorage ... Houston
    rows = [row for k, (lat, lon) in enumerate(towns) for row in near(lat, lon, 5, rng, label="United States",
                                                                        owner_id=f"us{k}")]
    rows += [{"label": "United States", "lat": lat, "lon": lon, "owner_id": f"w{k}"}
             for k, (lat, lon) in enumerate([(51.51, -0.13), (48.86, 2.35), (55.75, 37.62)])]  # London, Paris, Moscow
    cat = catalog(rows)
    expected, report, got, got_report = filter_both(cat, FilterConfig(max_km=5), tmp_path)
    assert_same_rows(expected, got, ["status", "drop_reason"])
    assert_same_report(report, got_report)
    out = expected if engine == "pandas" else got
    assert reasons(out) == [None] * 40 + ["geo_outlier"] * 3


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_force_geo_on_a_held_region_drops_its_photos_outside_it(tmp_path, engine):
    """Audit Z2: a region most of whose geotags lie outside it is held, and its warning offers --force-geo;
    with it, both engines raised KeyError writing the region's note. Now the photos outside go, and the
    note says it was forced."""
    rng = np.random.default_rng(11)
    rows = near(40.4, -3.7, 20, rng, label="Spain", owner_id="es") + near(51.5, -0.13, 25, rng, label="Spain",
                                                                         owner_id="default", km=0.5)
    cat = catalog(rows)
    held, _ = filter_catalog(cat, FilterConfig(max_km=5))
    assert "geo_outlier" not in reasons(held)
    expected, report, got, got_report = filter_both(cat, FilterConfig(max_km=5, force_geo=True), tmp_path)
    assert_same_rows(expected, got, ["status", "drop_reason"])
    assert_same_report(report, got_report)
    out, shown = (expected, report) if engine == "pandas" else (got, got_report)
    assert reasons(out) == [None] * 20 + ["geo_outlier"] * 25
    assert "--force-geo" in shown.geo.set_index("label").loc["Spain", "note"]


def test_photo_spots_near_borders_or_in_empty_country_stay_inside_their_region():
    """Audit Z2: where the nearest town of 15,000 people is across a border, places inside a country read
    outside it: Big Bend (229 km to a US city) and Jay Peak, Vermont. A photo is outside only when it is also
    more than twice as far from the region's cities as from the foreign one nearest to it."""
    lat, lon = np.array([29.25, 44.94, 40.71, 51.51]), np.array([-103.25, -72.50, -74.01, -0.13])
    assert placenames.outside_region("United States", lat, lon, 50.0).tolist() == [False, False, False, True]
    assert placenames.named_region("Mexico") is not None  # a country, though Mexico City's other name (audit Z2)
    assert placenames.named_region("New York") is None and placenames.named_region("Europe") is None


def test_a_region_the_recipe_gives_a_point_is_still_judged_by_its_extent(tmp_path):
    """Audit AP: with lat/lon per label in the recipe, as docs/recipes.md shows, a region label ("france",
    "california") was held as "centre far from the recipe's" (its photos' median 127-778 km from the one point)
    and nothing was dropped; without the coordinates its photos abroad were. A point is not a region's extent:
    the region rule judges it either way, on both engines."""
    rows = france(np.random.default_rng(3), "france")
    cat = catalog([{k: v for k, v in row.items() if k != "far"} for row in rows])
    far = np.array([bool(row.get("far")) for row in rows])
    recipe = {"france": geo.Centre("france", 46.6, 1.9, "recipe")}  # the middle of France, 390 km from Paris
    expected, report, got, got_report = filter_both(cat, FilterConfig(max_km=5), tmp_path, recipe)
    dropped = np.array([reason == "geo_outlier" for reason in reasons(expected)])
    assert dropped[far].all() and not dropped[~far].any()
    assert report.geo.set_index("label").loc["france", "geo_filter"] == GEO_REGION
    assert_same_rows(expected, got, ["status", "drop_reason"])
    assert_same_report(report, got_report)


def test_the_metro_band_ends_tens_of_km_beyond_max_km():
    """Audit AP: at --max-km 1000 the metro hold's band ("just beyond max_km", up to 10 x max_km) reached
    10,000 km: one photographer's 14 London geotags, 8,434 km from a label's centre, held the label as a city
    spreading over its suburbs and the line suggested --max-km 8435. Audit AQ: at --max-km 40-99 it reached
    990 km, and six real Boston geotags by three photographers were held as New York's metro area. The band
    now ends at most 45 km beyond max_km (geo.METRO_BAND_KM; 50 km at the default 5, as before)."""
    rng = np.random.default_rng(7)
    rows = []
    for k in range(8):  # Bergen, eight photographers
        rows += near(60.39, 5.32, 5, rng, km=30.0, label="Bergen", owner_id=f"b{k}")
    far = near(34.05, -118.24, 14, rng, label="Bergen", owner_id="visitor")  # Los Angeles, 7,700 km away
    out, report = filter_catalog(catalog(rows + far), FilterConfig(max_km=1000))
    assert reasons(out).count("geo_outlier") == 14
    assert report.geo.set_index("label").loc["Bergen", "geo_filter"] == "applied"
    assert not any("metro area" in w for w in report.warnings)
    oslo = []  # 6 photos by 3 photographers 305 km away: another city, not Bergen's suburbs
    for k in range(3):
        oslo += near(59.91, 10.75, 2, rng, label="Bergen", owner_id=f"oslo{k}")
    for max_km in (60, 99, 100):
        out, report = filter_catalog(catalog(rows + oslo), FilterConfig(max_km=max_km))
        assert reasons(out).count("geo_outlier") == 6, max_km
        assert report.geo.set_index("label").loc["Bergen", "geo_filter"] == "applied", max_km
    assert geo.metro_ring_km(5, 10) == 50  # the default band, unchanged
