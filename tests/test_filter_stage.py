"""The filter stage on tiny hand-made catalogs (no images needed)."""

import numpy as np
import pandas as pd
import pytest
from geopy.distance import geodesic
from hypothesis import example, given, settings
from hypothesis import strategies as st

from curate import schema
from curate.errors import UsageError
from curate.filters import geo
from curate.filters.owners import share_cap
from curate.filters.stage import FilterConfig, filter_catalog
from tests.helpers import examples


def catalog(rows: list[dict]) -> pd.DataFrame:
    base = {"source": "t", "status": "kept", "tags": [], "tag_labels": [], "owner_id": "o", "label": "city",
            "lat": np.nan, "lon": np.nan, "taken_at": pd.NaT, "sha256": None, "width": None, "height": None,
            "drop_reason": None, "drop_stage": None, "phash": None}
    frame = pd.DataFrame([{**base, "photo_id": f"t:{i}", "source_id": str(i), **row} for i, row in enumerate(rows)])
    return schema.to_pandas(schema.conform(frame))


def reasons(out: pd.DataFrame) -> list:
    return [r if isinstance(r, str) else None for r in out["drop_reason"]]


def test_antimeridian_label_centre_and_distances():
    # Fiji: photos on both sides of 180°; a naive mean/median of longitudes lands near 0° (Africa).
    lons = [179.95, 179.97, -179.98, -179.96, 179.99]
    cat = catalog([{"lat": -17.8, "lon": lon} for lon in lons])
    out, report = filter_catalog(cat, FilterConfig(max_km=10))
    centre = report.geo.iloc[0]
    assert abs(abs(centre["centre_lon"]) - 180) < 0.05
    assert (out["geo_distance_km"] < 6).all() and (out["status"] == "kept").all()


def test_far_away_minority_does_not_move_the_centre():
    rng = np.random.default_rng(0)
    near = [{"label": "chicago", "lat": 41.88 + d1, "lon": -87.63 + d2} for d1, d2 in rng.normal(0, 0.005, (20, 2))]
    far = [{"label": "chicago", "lat": 37.5, "lon": 127.0}] * 8  # "Chicago" photos taken in Korea
    out, report = filter_catalog(catalog(near + far), FilterConfig(max_km=5))
    centre = report.geo.iloc[0]
    assert geodesic((centre["centre_lat"], centre["centre_lon"]), (41.88, -87.63)).km < 1.0
    assert reasons(out) == [None] * 20 + ["geo_outlier"] * 8
    assert report.geo.iloc[0]["geo_outliers"] == 8


def test_positions_coarser_than_min_geo_accuracy_are_treated_as_missing():
    rng = np.random.default_rng(1)
    street = [{"lat": 41.88 + d1, "lon": -87.63 + d2, "geo_accuracy": 16} for d1, d2 in rng.normal(0, 0.005, (6, 2))]
    unknown = [{"lat": 41.881, "lon": -87.631}]  # no accuracy given: judged like any position
    country = [{"lat": 39.8, "lon": -98.6, "geo_accuracy": 3}] * 8  # the USA's centre: a majority, but coarse
    korea = [{"lat": 37.5, "lon": 127.0, "geo_accuracy": 16}]  # precise and far: still an outlier
    cat = catalog(street + unknown + country + korea)
    out, report = filter_catalog(cat, FilterConfig(max_km=5, min_geo_accuracy=11))
    assert reasons(out) == [None] * 7 + [None] * 8 + ["geo_outlier"]
    centre = report.geo.iloc[0]
    assert geodesic((centre["centre_lat"], centre["centre_lon"]), (41.88, -87.63)).km < 1.0  # coarse ones ignored
    assert out["geo_distance_km"].iloc[7:15].isna().all() and out["geo_distance_km"].iloc[:7].notna().all()
    assert out["lat"].iloc[7:15].notna().all()  # the catalog keeps the coordinates as given
    assert any("less precise than accuracy 11" in note for note in report.notes)
    # off (the default): the coarse majority pulls the centre away from the city, so half the
    # label lies hundreds of km from it: not place-like, the filter skips it unless forced
    plain, plain_report = filter_catalog(cat, FilterConfig(max_km=5))
    assert reasons(plain) == [None] * 16 and plain_report.geo.iloc[0]["geo_filter"] == "skipped: not a place"
    forced, _ = filter_catalog(cat, FilterConfig(max_km=5, force_geo=True))
    assert reasons(forced)[:7] == ["geo_outlier"] * 7
    dropped, _ = filter_catalog(cat, FilterConfig(max_km=5, min_geo_accuracy=11, missing_geo="drop"))
    assert reasons(dropped) == [None] * 7 + ["missing_geo"] * 8 + ["geo_outlier"]


@pytest.mark.parametrize("bad", [-1, 17, 2.5])
def test_bad_min_geo_accuracy_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="min-geo-accuracy"):
        FilterConfig(min_geo_accuracy=bad)


@settings(max_examples=examples(200), deadline=None)
@given(st.floats(-89, 89), st.floats(-180, 180), st.floats(-89, 89), st.floats(-180, 180))
@example(0.0, 0.0, 1.192092896e-07, 180.0)  # nearly antipodal: Lambert's correction is singular there
@example(30.0, 10.0, -30.0, -170.0)  # exactly antipodal, off the equator
@example(0.0, 0.0, 0.0, 179.9)
def test_distance_agrees_with_geodesic(lat1, lon1, lat2, lon2):
    expected = geodesic((lat1, lon1), (lat2, lon2)).km
    got = float(geo.ellipsoid_distance_km(lat1, lon1, lat2, lon2))
    assert got == pytest.approx(expected, rel=0.005, abs=1e-6)


def test_threshold_is_inclusive_of_max_km():
    centre = (10.0, 20.0)
    at = {"lat": 10.0, "lon": 20.0}
    rows = [at, at, at, at, {"lat": 10.0, "lon": 20.0 + 0.0456}]
    distance_edge = float(geo.ellipsoid_distance_km(*centre, 10.0, 20.0456))
    out, _ = filter_catalog(catalog(rows), FilterConfig(max_km=distance_edge))
    assert out.loc[4, "status"] == "kept"  # exactly max_km stays
    out, _ = filter_catalog(catalog(rows), FilterConfig(max_km=distance_edge * 0.999))
    assert out.loc[4, "drop_reason"] == "geo_outlier"


def test_rerun_recomputes_from_scratch_and_keeps_ingest_drops():
    rows = [{"lat": 0.0, "lon": 0.0}] * 5 + [{"lat": 0.0, "lon": 0.09}] + [
        {"drop_reason": "truncated_image", "status": "dropped", "drop_stage": "ingest"}]
    strict, _ = filter_catalog(catalog(rows), FilterConfig(max_km=5))
    assert strict.loc[5, "drop_reason"] == "geo_outlier"
    loose, _ = filter_catalog(strict, FilterConfig(max_km=20))
    assert loose.loc[5, "status"] == "kept" and pd.isna(loose.loc[5, "drop_reason"])
    assert loose.loc[6, "drop_reason"] == "truncated_image"
    again, _ = filter_catalog(loose, FilterConfig(max_km=20))
    pd.testing.assert_frame_equal(again, loose)


def test_ambiguous_labels_dropped_first():
    rows = [{"label": None, "tag_labels": ["chicago", "tokyo"]}, {"label": None, "tag_labels": ["chicago"]},
            {"label": "chicago", "tag_labels": ["chicago"]}]
    out, report = filter_catalog(catalog(rows), FilterConfig())
    assert reasons(out) == ["ambiguous_label", None, None]
    assert report.dropped_by_reason == {"ambiguous_label": 1}


def test_geo_edge_cases_never_crash():
    rows = [{"label": "one", "lat": 5.0, "lon": 5.0},                        # a label with one photo
            {"label": "nogeo"}, {"label": "nogeo"},                          # no geotagged photo
            {"label": "point", "lat": 1.0, "lon": 1.0}, {"label": "point", "lat": 1.0, "lon": 1.0}]
    out, report = filter_catalog(catalog(rows), FilterConfig(max_km=1))
    assert (out["status"] == "kept").all()
    by_label = report.geo.set_index("label")
    assert by_label.loc["nogeo", "centre"] == "none" and "undefined" in by_label.loc["nogeo", "note"]
    assert by_label.loc["point", "p99_km"] == 0
    dropped, _ = filter_catalog(catalog(rows), FilterConfig(max_km=1, missing_geo="drop"))
    assert reasons(dropped)[1:3] == ["missing_geo", "missing_geo"]


def test_empty_catalog():
    out, report = filter_catalog(schema.empty_catalog(), FilterConfig())
    assert out.empty and report.dropped_by_reason == {}


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_bad_max_km_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="--max-km"):
        FilterConfig(max_km=bad)


def test_exact_duplicates_keep_one_by_documented_rule():
    rows = [{"sha256": "aa", "width": 100, "height": 100, "taken_at": pd.Timestamp("2020-01-02")},
            {"sha256": "aa", "width": 100, "height": 100, "taken_at": pd.Timestamp("2020-01-01")},
            {"sha256": "aa", "width": 100, "height": 100, "taken_at": pd.NaT},
            {"sha256": "bb", "width": 50, "height": 50}]
    out, report = filter_catalog(catalog(rows), FilterConfig())
    assert out["exact_dup_group"].tolist() == ["t:1", "t:1", "t:1", "t:3"]  # earliest taken_at stays
    assert reasons(out) == ["exact_duplicate", None, "exact_duplicate", None]
    assert report.exact_duplicate_groups == 1


def test_exact_duplicate_prefers_a_copy_that_is_still_kept():
    rows = [{"sha256": "aa", "taken_at": pd.Timestamp("2020-01-01"), "lat": 50.0, "lon": 50.0},  # geo outlier
            {"sha256": "aa", "taken_at": pd.Timestamp("2021-01-01"), "lat": 0.0, "lon": 0.0},
            {"lat": 0.0, "lon": 0.0}, {"lat": 0.0, "lon": 0.0}, {"lat": 0.0, "lon": 0.0}]
    out, _ = filter_catalog(catalog(rows), FilterConfig(max_km=5))
    assert out.loc[0, "drop_reason"] == "geo_outlier"
    assert out.loc[1, "status"] == "kept" and out.loc[1, "exact_dup_group"] == "t:1"


def cap_rows():
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    big = [{"owner_id": "big", "taken_at": day} for day in days]
    small = [{"owner_id": f"s{i}", "taken_at": days[0]} for i in range(10)]
    return big + small


def test_owner_cap_is_deterministic_and_spread_over_time():
    config = FilterConfig(max_per_owner=5, force_caps=True)  # 35 of the label's 50: forced, not held
    out, report = filter_catalog(catalog(cap_rows()), config)
    kept_big = out[(out["owner_id"] == "big") & (out["status"] == "kept")]
    assert len(kept_big) == 5
    assert kept_big["taken_at"].min() == pd.Timestamp("2020-01-01")
    assert kept_big["taken_at"].max() == pd.Timestamp("2020-02-09")  # first and last day both kept
    again, _ = filter_catalog(catalog(cap_rows()), config)
    pd.testing.assert_frame_equal(out, again)
    assert report.caps.iloc[0]["photos_capped"] == 35


def test_owner_share_cap_holds_after_capping():
    out, report = filter_catalog(catalog(cap_rows()), FilterConfig(max_owner_share=0.3, force_caps=True))
    kept = out[out["status"] == "kept"]
    shares = kept["owner_id"].value_counts(normalize=True)
    assert shares.max() <= 0.3 + 1e-9
    assert shares.index[0] == "big"
    # concentration is reported before capping, capped or not
    assert report.concentration.iloc[0]["top_owner"] == "big"
    assert report.concentration.iloc[0]["top_owner_share"] == pytest.approx(40 / 50)


def test_share_cap_unreachable_is_noted_not_applied():
    rows = [{"owner_id": "solo"}] * 4
    out, report = filter_catalog(catalog(rows), FilterConfig(max_owner_share=0.5))
    assert (out["status"] == "kept").all()
    assert "unreachable" in report.caps.iloc[0]["note"]


@given(st.lists(st.integers(1, 50), min_size=1, max_size=12), st.floats(0.05, 1.0))
def test_share_cap_is_the_largest_feasible(counts, share):
    counts = np.array(counts)
    cap = share_cap(counts, share)
    feasible = [m for m in range(1, counts.max() + 1) if m <= share * np.minimum(counts, m).sum()]
    assert cap == (max(feasible) if feasible else None)


def test_null_owners_are_not_one_person():
    """Unknown owners are never capped as one person, and never counted as photographers: the table
    counts them apart (an audit saw 19, 16, 10 and 6 'owners' of one label in four places)."""
    rows = [{"owner_id": None} for _ in range(6)] + [{"owner_id": "a"}] * 2
    out, report = filter_catalog(catalog(rows), FilterConfig(max_per_owner=1))
    assert (out["status"] == "kept").sum() == 7
    row = report.concentration.iloc[0]
    assert (row["owners"], row["no_owner"], row["top_owner"], row["top_owner_photos"]) == (1, 6, "a", 2)
    assert row["top_owner_share"] == 2 / 8 and row["effective_owners"] == 1.0


def test_near_duplicates_need_pairs_confirmed_by_colour():
    from curate.filters.verify import THUMB_BYTES

    grey, red = bytes([100] * THUMB_BYTES), bytes([200, 40, 40] * (THUMB_BYTES // 3))
    nearly_grey = bytes([102] * THUMB_BYTES)
    rows = [{"sha256": "a", "phash": "ffffffff00000000", "width": 10, "height": 10},
            {"sha256": "b", "phash": "ffffffff00000001", "width": 10, "height": 10},   # 1 bit away, same colours
            {"sha256": "c", "phash": "ffffffff00000003", "width": 10, "height": 10},   # 2 bits away, other colours
            {"sha256": "d", "phash": "00000000ffffffff", "width": 10, "height": 10}]   # far away
    thumbs = {"a": grey, "b": nearly_grey, "c": red, "d": grey}
    out, report = filter_catalog(catalog(rows), FilterConfig(near_dup_bits=4), thumbnails=thumbs)
    clusters = out["near_dup_cluster"].tolist()
    assert clusters[0] == clusters[1] and len({clusters[0], clusters[2], clusters[3]}) == 3
    assert report.near_duplicate_clusters == 1
    unverified, _ = filter_catalog(catalog(rows), FilterConfig(near_dup_bits=4))
    assert unverified["near_dup_cluster"].nunique() == 2  # pHash alone joins a, b and c
    deduped, _ = filter_catalog(catalog(rows), FilterConfig(near_dup_bits=4, dedupe_near=True), thumbnails=thumbs)
    assert reasons(deduped).count("near_duplicate") == 1


def test_a_share_cap_the_owners_cannot_meet_is_a_warning_naming_the_tightest_they_allow():
    """11 owners cannot each hold at most 5% of a label: the cap is not applied there, so a stricter
    share dropped nothing while a looser one capped the big owner. That inversion is now a warning,
    and the share it names can be given back and is applied."""
    from curate.filters.owners import tightest_share

    rows = [{"owner_id": "big"}] * 20 + [{"owner_id": f"o{i}"} for i in range(10) for _ in range(2)]
    out, report = filter_catalog(catalog(rows), FilterConfig(max_owner_share=0.05))
    assert (out["status"] == "kept").all()
    warning = next(w for w in report.warnings if "--max-owner-share 0.05 cannot be met" in w)
    tightest = tightest_share(np.array([20] + [2] * 10))
    assert f"{tightest:g}" in warning and "city" in warning
    out, report = filter_catalog(catalog(rows), FilterConfig(max_owner_share=tightest))
    assert (out["drop_reason"] == "owner_cap").sum() > 0
    assert not any("cannot be met" in w for w in report.warnings)


def test_owner_caps_dropping_most_of_a_label_are_held_unless_forced():
    """One photographer's collection: --max-per-owner 3 would keep 3 photos a label. Audit AB: such caps took
    83 % of a one-photographer label and 73 % of one 90 % one photographer's, good photos, without a word."""
    rows = [{"owner_id": "solo", "label": label} for label in ("a", "b") for _ in range(20)]
    rows += [{"owner_id": f"o{i % 10}", "label": "c"} for i in range(20)]  # ten photographers: capped as asked
    out, report = filter_catalog(catalog(rows), FilterConfig(max_per_owner=3))
    assert (out["drop_reason"] == "owner_cap").sum() == 0  # c's owners have 2 photos each: nothing over 3
    held = [w for w in report.warnings if w.startswith("held: the owner caps")]
    assert len(held) == 1 and "2 labels (a 17 of 20, b 17 of 20)" in held[0] and "--force-caps" in held[0]
    assert report.caps.set_index("label")["photos_held"].to_dict() == {"a": 17, "b": 17, "c": 0}
    out, report = filter_catalog(catalog(rows), FilterConfig(max_per_owner=3, force_caps=True))
    assert (out["drop_reason"] == "owner_cap").sum() == 34
    warning = next(w for w in report.warnings if w.startswith("the owner caps drop"))
    assert "a 85%" in warning and "b 85%" in warning and "--force-caps" in warning
    out, report = filter_catalog(catalog(rows), FilterConfig(max_per_owner=12))  # 40% of a and b: applied, quiet
    assert (out["drop_reason"] == "owner_cap").sum() == 16 and not [w for w in report.warnings if "owner caps" in w]


@given(st.lists(st.integers(1, 40), min_size=1, max_size=10))
def test_the_tightest_share_is_met_and_a_bit_less_is_not(counts):
    from curate.filters.owners import tightest_share

    counts = np.array(counts)
    share = tightest_share(counts)
    assert share_cap(counts, share) is not None
    assert share_cap(counts, share - 1e-3) is None


def test_labels_of_one_photographer_get_one_short_share_cap_line():
    """A re-check of the audit: a one-photographer collection repeated "unreachable with 1 owner(s)
    (the tightest they allow is 1)" for every label in one line."""
    rows = [{"owner_id": "solo", "label": label} for label in ("a", "b", "c") for _ in range(6)]
    _, report = filter_catalog(catalog(rows), FilterConfig(max_owner_share=0.3))
    lines = [w for w in report.warnings if "--max-owner-share" in w]
    assert lines == ["--max-owner-share 0.3 cannot apply to 3 label(s) of a single photographer (a, b, c): not "
                     "capped; --max-per-owner caps one photographer's photos"]
