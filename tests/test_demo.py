"""The demo collection: determinism, injected noise at its configured rates, owners,
the sandals photographer, duplicates, broken files, ingest/resume, CLI, learnability."""

import hashlib
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from geopy.distance import great_circle
from PIL import Image
from typer.testing import CliRunner

from curate.cli.app import app
from curate.demo import BROKEN_DROP_REASON, BROKEN_KINDS, DemoConfig, generate_metadata, render_photo, render_pixels
from curate.demo.render import PhotoRenderer
from curate.errors import UsageError
from curate.ingest.demo import ingest_demo, read_truth
from curate.recipes import load_recipe
from curate.records import records_to_rows
from curate.workspace import Workspace, read_catalog

RECIPE = load_recipe("skylines")
CITY = {label.name: (label.lat, label.lon) for label in RECIPE.labels}
runner = CliRunner()


def assert_rate(hits: int, n: int, p: float, what: str, z: float = 5.0) -> None:
    """hits ~ Binomial(n, p); z standard deviations leave room for bursts/duplicates,
    which copy one draw onto several photos and so widen the spread slightly."""
    sd = math.sqrt(n * p * (1 - p))
    assert abs(hits - n * p) <= z * sd + 1, f"{what}: {hits}/{n} = {hits / max(n, 1):.4f}, configured {p}"


def tag_strings(records: pd.DataFrame) -> list[str]:
    return ["|".join(tags) for tags in records["tags"]]


@pytest.fixture(scope="module")
def big():
    """A metadata-only collection large enough for rate checks, with its catalog rows."""
    config = DemoConfig(photos=40_000, seed=11)
    records, truth = generate_metadata(config, RECIPE)
    return config, records, truth, records_to_rows(records, "demo", RECIPE)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """A small collection with images, broken files boosted so every kind shows up."""
    ws = Workspace(tmp_path_factory.mktemp("demo"))
    config = DemoConfig(photos=180, seed=3, broken_rate=0.05, exact_dup_rate=0.04, burst_rate=0.08)
    report = ingest_demo(ws, config, images=True, workers=2)
    return ws, config, report


# ---- determinism -------------------------------------------------------------------------

def test_same_seed_same_metadata_and_bytes_other_seed_differs():
    config = DemoConfig(photos=300, seed=5)
    records_a, truth_a = generate_metadata(config)
    records_b, truth_b = generate_metadata(DemoConfig(photos=300, seed=5))
    pd.testing.assert_frame_equal(truth_a, truth_b)
    pd.testing.assert_frame_equal(records_a.drop(columns="tags"), records_b.drop(columns="tags"))
    assert tag_strings(records_a) == tag_strings(records_b)
    ids = truth_a["photo_id"].iloc[:25]
    first, second = PhotoRenderer(truth_a, config), PhotoRenderer(truth_b, config)
    assert [first({"photo_id": p}) for p in ids] == [second({"photo_id": p}) for p in ids]

    records_c, truth_c = generate_metadata(DemoConfig(photos=300, seed=6))
    assert tag_strings(records_c) != tag_strings(records_a)
    assert set(truth_c["photo_id"]) != set(truth_a["photo_id"])
    other = PhotoRenderer(truth_c, DemoConfig(photos=300, seed=6))
    assert {other({"photo_id": p}) for p in truth_c["photo_id"].iloc[:25]} != {first({"photo_id": p}) for p in ids}


def test_bytes_are_the_same_in_a_fresh_process():
    """No hidden dependence on hash randomisation or process state."""
    script = (
        "import hashlib; from curate.demo import DemoConfig, generate_metadata, PhotoRenderer\n"
        "c = DemoConfig(photos=120, seed=9); r, t = generate_metadata(c); f = PhotoRenderer(t, c)\n"
        "h = hashlib.sha256(t.to_csv().encode())\n"
        "[h.update(f({'photo_id': p})) for p in t['photo_id'][:15]]\nprint(h.hexdigest())\n"
    )
    config = DemoConfig(photos=120, seed=9)
    records, truth = generate_metadata(config)
    digest = hashlib.sha256(truth.to_csv().encode())
    renderer = PhotoRenderer(truth, config)
    for photo_id in truth["photo_id"][:15]:
        digest.update(renderer({"photo_id": photo_id}))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.strip() == digest.hexdigest()


def test_spellings_name_exactly_their_city_and_other_tags_name_none():
    from curate.demo import vocab
    from curate.records import match_labels
    from curate.tags import parse_tags

    for city, spellings in vocab.CITY_SPELLINGS.items():
        for spelling, _ in spellings:
            assert match_labels(parse_tags([spelling]), RECIPE) == [city], spelling
    other = {tag for group in vocab.KIND_TAGS for tag in group} | set(vocab.COMMON_TAGS) | {vocab.SKYLINE_TAG}
    assert match_labels(parse_tags(sorted(other)), RECIPE) == []


@pytest.mark.parametrize("photos", [1, 7, 20])
def test_tiny_collections_are_complete(photos):
    config = DemoConfig(photos=photos, seed=photos)
    records, truth = generate_metadata(config, RECIPE)
    assert len(records) == len(truth) == photos and truth["photo_id"].is_unique
    renderer = PhotoRenderer(truth, config)
    assert all(isinstance(renderer({"photo_id": p}), bytes) for p in truth["photo_id"])


# ---- injected noise at its configured rates -----------------------------------------------

@pytest.mark.parametrize("overrides", [{}, {"misgeotag_rate": 0.12, "missing_coords_rate": 0.03,
                                            "invalid_coords_rate": 0.02, "multi_city_tag_rate": 0.1,
                                            "skyline_tag_rate": 0.5, "offtopic_skyline_tag_rate": 0.2,
                                            "offtopic_rate": 0.45, "misgeotag_far_share": 0.3,
                                            "mislabel_rate": 0.15, "taken_elsewhere_rate": 0.1}])
def test_per_photo_noise_appears_at_configured_rates(overrides):
    config = DemoConfig(photos=30_000, seed=21, **overrides)
    records, truth = generate_metadata(config, RECIPE)
    regular = truth[~truth["is_sandals"]]
    n = len(regular)
    far = config.misgeotag_rate * config.misgeotag_far_share
    assert_rate(int(regular["is_misgeotagged"].sum()), n, config.misgeotag_rate, "mis-geotagged")
    assert_rate(int((regular["coord_kind"] == "misgeotag_far").sum()), n, far, "far mis-geotags")
    assert_rate(int((regular["coord_kind"] == "missing").sum()), n, config.missing_coords_rate, "missing coords")
    invalid = regular["coord_kind"].isin(["nan_text", "out_of_range"])
    assert_rate(int(invalid.sum()), n, config.invalid_coords_rate, "invalid coords")
    assert_rate(int(regular["has_multi_city_tags"].sum()), n, config.multi_city_tag_rate, "multi-city tags")
    assert_rate(int((~regular["is_skyline"]).sum()), n, config.offtopic_rate, "off-topic photos")
    skylines, offtopic = regular[regular["is_skyline"]], regular[~regular["is_skyline"]]
    assert_rate(int(skylines["skyline_tagged"].sum()), len(skylines), config.skyline_tag_rate,
                "skyline tag on skylines")
    assert_rate(int(offtopic["skyline_tagged"].sum()), len(offtopic), config.offtopic_skyline_tag_rate,
                "skyline tag on off-topic")
    assert_rate(int(skylines["is_mislabelled"].sum()), len(skylines), config.mislabel_rate, "mislabelled skylines")
    assert_rate(int(skylines["is_taken_elsewhere"].sum()), len(skylines), config.taken_elsewhere_rate,
                "skylines taken elsewhere")


def test_structural_noise_counts(big):
    config, _, truth, _ = big
    n = config.photos
    in_burst = truth["burst_id"].notna()
    assert abs(int(in_burst.sum()) - config.burst_rate * n) <= 6  # bursts are added whole (3-6 frames)
    sizes = truth.loc[in_burst].groupby("burst_id").size()
    assert sizes.between(3, 6).all() and set(sizes) == {3, 4, 5, 6}
    assert int(truth["is_exact_dup_copy"].sum()) == round(config.exact_dup_rate * n)
    broken = truth["broken_kind"].value_counts()
    assert broken.sum() == round(config.broken_rate * n)
    assert set(broken.index) == set(BROKEN_KINDS) and broken.max() - broken.min() <= 1
    assert not (truth["broken_kind"].notna() & truth["exact_dup_group"].notna()).any()


def test_records_carry_the_truth(big):
    """What a stage sees in the catalog agrees with the truth: tags, labels, coordinates."""
    config, records, truth, rows = big
    assert (truth["photo_id"] == rows["photo_id"]).all() and rows["photo_id"].is_unique
    tagged = rows["tags"].map(lambda tags: "skyline" in tags)
    assert (tagged == truth["skyline_tagged"]).all()
    single = ~truth["has_multi_city_tags"]
    assert (rows.loc[single, "label"] == truth.loc[single, "tagged_city"]).all()
    assert rows.loc[~single, "label"].isna().all() and (rows.loc[~single, "tag_labels"].map(len) == 2).all()
    # Among labelled skylines, the label is wrong exactly for the mislabelled ones and those taken elsewhere.
    skyline = truth["is_skyline"] & single
    wrong_tag = truth["is_mislabelled"] | truth["is_taken_elsewhere"]
    wrong = rows.loc[skyline, "label"] != truth.loc[skyline, "true_label"]
    assert truth["is_mislabelled"].any() and truth["is_taken_elsewhere"].any()
    assert not (truth["is_mislabelled"] & truth["is_taken_elsewhere"]).any()
    assert (wrong == wrong_tag[skyline]).all()
    assert (truth.loc[~wrong_tag, "tagged_city"] == truth.loc[~wrong_tag, "true_city"]).all()
    expected_issue = truth["coord_kind"].map({"missing": "missing", "nan_text": "not_a_number",
                                              "out_of_range": "out_of_range"})
    pd.testing.assert_series_equal(rows["coord_issue"], expected_issue, check_names=False, check_dtype=False)
    spellings = {tag for tags in rows["tags"] for tag in tags}
    assert {"new york", "nyc", "東京", "上海", "chitown"} <= spellings


def test_recorded_distances_match_an_independent_oracle(big):
    config, _, truth, rows = big
    sample = truth[truth["true_distance_km"].notna()].sample(400, random_state=0)
    for index, row in sample.iterrows():
        oracle = great_circle(CITY[row["tagged_city"]], (rows.at[index, "lat"], rows.at[index, "lon"])).km
        assert oracle == pytest.approx(row["true_distance_km"], rel=1e-3, abs=1e-3)
    distance = truth["true_distance_km"]
    placed_in_tagged_city = (truth["coord_kind"] == "ok") & ~truth["is_taken_elsewhere"]
    assert (distance[placed_in_tagged_city] <= config.city_radius_km + 1e-6).all()
    assert (distance[truth["is_taken_elsewhere"]] > 100).all()  # another of the ten cities
    near = distance[truth["coord_kind"] == "misgeotag_near"]
    assert near.between(10, 200).all()
    assert (distance[truth["coord_kind"] == "misgeotag_far"] >= 400).all()
    assert distance[~truth["coord_kind"].isin(["ok", "misgeotag_near", "misgeotag_far"])].isna().all()


# ---- mislabelled skylines: a wrong city tag that the geotag does not betray ---------------

def test_mislabelled_skylines_carry_one_wrong_tag_and_a_title_and_geotag_that_agree(big):
    config, records, truth, rows = big
    mislabelled = truth["is_mislabelled"]
    assert mislabelled.sum() > 0
    chosen = truth[mislabelled]
    assert chosen["is_skyline"].all() and not chosen["is_sandals"].any()
    assert not chosen["has_multi_city_tags"].any() and not chosen["is_misgeotagged"].any()
    assert (chosen["tagged_city"] != chosen["true_city"]).all()
    assert (rows.loc[mislabelled, "tag_labels"].map(len) == 1).all()
    assert (rows.loc[mislabelled, "label"] == chosen["tagged_city"]).all()
    # a correct-looking geotag around the tagged city (or none, or an invalid one)
    geotagged = chosen["coord_kind"] == "ok"
    assert geotagged.mean() > 0.9 and set(chosen["coord_kind"]) <= {"ok", "missing", "nan_text", "out_of_range"}
    for index, row in chosen[geotagged].head(200).iterrows():
        position = (rows.at[index, "lat"], rows.at[index, "lon"])
        assert great_circle(CITY[row["tagged_city"]], position).km <= config.city_radius_km + 1e-6
        assert great_circle(CITY[row["true_city"]], position).km > 100
    # A title that names a city names the one the uploader tagged (every photo, not just these).
    displays = {label.display: label.name for label in RECIPE.labels}
    titled_city = pd.Series(None, index=records.index, dtype=object)
    for display, name in displays.items():
        titled_city[records["title"].fillna("").str.startswith(display + " ")] = name
    named = titled_city.notna()
    assert (named & mislabelled).sum() > 0
    assert (titled_city[named] == truth.loc[named, "tagged_city"]).all()


def test_bursts_and_exact_duplicates_share_their_tagged_city(big):
    _, _, truth, _ = big
    for column in ("burst_id", "exact_dup_group"):
        grouped = truth[truth[column].notna()].groupby(column)
        assert (grouped["tagged_city"].nunique() == 1).all() and (grouped["is_mislabelled"].nunique() == 1).all()
        assert (grouped["is_taken_elsewhere"].nunique() == 1).all()
        assert truth.loc[truth[column].notna(), "is_mislabelled"].any(), column
        assert truth.loc[truth[column].notna(), "is_taken_elsewhere"].any(), column


def test_mislabel_rate_zero_gives_none_and_changes_nothing_else():
    with_mislabels, truth = generate_metadata(DemoConfig(photos=4000, seed=13, taken_elsewhere_rate=0.0), RECIPE)
    without, truth_zero = generate_metadata(DemoConfig(photos=4000, seed=13, mislabel_rate=0.0,
                                                       taken_elsewhere_rate=0.0), RECIPE)
    assert not truth_zero["is_mislabelled"].any() and (truth_zero["tagged_city"] == truth_zero["true_city"]).all()
    mislabelled = truth["is_mislabelled"].to_numpy()
    assert mislabelled.sum() > 0
    # Only the mislabelled photos' city tag, title and position differ between the two.
    same_columns = [c for c in truth.columns if c not in ("tagged_city", "is_mislabelled", "true_distance_km")]
    pd.testing.assert_frame_equal(truth[same_columns], truth_zero[same_columns])
    fixed = ["source_id", "owner_id", "taken_at", "license", "url"]
    pd.testing.assert_frame_equal(with_mislabels[fixed], without[fixed])
    for column in ("title", "lat", "lon"):
        assert with_mislabels.loc[~mislabelled, column].equals(without.loc[~mislabelled, column]), column
    tags, tags_zero = tag_strings(with_mislabels), tag_strings(without)
    assert [a == b for a, b in zip(tags, tags_zero)] == list(~mislabelled)


def test_mislabel_rate_is_validated_and_old_configs_read_as_none():
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(UsageError, match="mislabel_rate"):
            DemoConfig(mislabel_rate=bad)
    with pytest.raises(UsageError, match="mislabel_rate"):  # more than the skylines that can take one
        DemoConfig(mislabel_rate=0.95, multi_city_tag_rate=0.1)
    assert DemoConfig(mislabel_rate=0.9, multi_city_tag_rate=0.0, misgeotag_rate=0.0).mislabel_rate == 0.9
    config = DemoConfig(mislabel_rate=0.2)
    assert DemoConfig.from_json(config.to_json()) == config
    recorded_before_the_setting = DemoConfig.from_json('{"photos": 3000, "seed": 0}')
    assert recorded_before_the_setting.mislabel_rate == 0.0
    assert recorded_before_the_setting.taken_elsewhere_rate == 0.0


def test_the_geo_filter_catches_photos_taken_elsewhere_but_not_mislabelled_ones(tmp_path):
    """After ingest and `curate filter --max-km 5`: mislabelled photos keep their wrong label and
    none is dropped as a geo outlier (only the pixels can give them away); every photo taken
    elsewhere is a geo outlier (its geotag is far from the city its tag names)."""
    config = DemoConfig(photos=800, seed=17, mislabel_rate=0.2, taken_elsewhere_rate=0.1)
    ingest_demo(Workspace(tmp_path), config, images=False)
    result = runner.invoke(app, ["filter", "--workspace", str(tmp_path), "--max-km", "5"])
    assert result.exit_code == 0, result.output
    truth, _ = read_truth(Workspace(tmp_path))
    catalog = read_catalog(Workspace(tmp_path)).set_index("photo_id").loc[truth["photo_id"]]
    mislabelled = truth["is_mislabelled"].to_numpy()
    elsewhere = truth["is_taken_elsewhere"].to_numpy()
    assert mislabelled.sum() >= 50 and elsewhere.sum() >= 20
    assert (catalog.loc[mislabelled, "label"].to_numpy() != truth.loc[mislabelled, "true_label"].to_numpy()).all()
    assert not (catalog.loc[mislabelled, "drop_reason"] == "geo_outlier").any()
    reached_geo = elsewhere & ~catalog["drop_stage"].eq("ingest").to_numpy()  # broken files never get there
    assert (catalog.loc[reached_geo, "drop_reason"] == "geo_outlier").all()
    labelled_skylines = (truth["is_skyline"].to_numpy() & catalog["label"].notna().to_numpy())
    wrong = catalog["label"].to_numpy() != truth["true_label"].to_numpy()
    assert (wrong[labelled_skylines] == (mislabelled | elsewhere)[labelled_skylines]).all()


def test_photos_taken_elsewhere_are_geotagged_in_their_true_city_under_a_wrong_tag_and_title(big):
    config, records, truth, rows = big
    elsewhere = truth["is_taken_elsewhere"]
    chosen = truth[elsewhere]
    assert len(chosen) > 100 and chosen["is_skyline"].all() and not chosen["is_sandals"].any()
    assert not chosen["has_multi_city_tags"].any() and (chosen["coord_kind"] == "ok").all()
    assert (chosen["tagged_city"] != chosen["true_city"]).all()
    assert (rows.loc[elsewhere, "label"] == chosen["tagged_city"]).all()
    for index, row in chosen.head(200).iterrows():
        position = (rows.at[index, "lat"], rows.at[index, "lon"])
        assert great_circle(CITY[row["true_city"]], position).km <= config.city_radius_km + 1e-6
        assert great_circle(CITY[row["tagged_city"]], position).km > 100
    titled = records.loc[elsewhere, "title"].fillna("")
    displays = {label.name: label.display for label in RECIPE.labels}
    named = titled.str.contains(" ")  # '<City> <words>' titles, not camera file names
    assert named.any()
    assert all(title.startswith(displays[city] + " ")
               for title, city in zip(titled[named], chosen.loc[named, "tagged_city"]))


def test_taken_elsewhere_rate_zero_changes_only_those_photos():
    with_them, truth = generate_metadata(DemoConfig(photos=4000, seed=13), RECIPE)
    without, truth_zero = generate_metadata(DemoConfig(photos=4000, seed=13, taken_elsewhere_rate=0.0), RECIPE)
    assert not truth_zero["is_taken_elsewhere"].any()
    elsewhere = truth["is_taken_elsewhere"].to_numpy()
    assert elsewhere.sum() > 0
    same = [c for c in truth.columns if c not in ("tagged_city", "is_taken_elsewhere", "true_distance_km")]
    pd.testing.assert_frame_equal(truth[same], truth_zero[same])
    for column in ("title", "lat", "lon", "tags"):
        assert with_them.loc[~elsewhere, column].equals(without.loc[~elsewhere, column]), column
    # the position is the same place either way: only which city the tag names changes
    assert with_them.loc[elsewhere, ["lat", "lon"]].equals(without.loc[elsewhere, ["lat", "lon"]])
    with pytest.raises(UsageError, match="taken_elsewhere_rate"):
        DemoConfig(taken_elsewhere_rate=0.95)


# ---- photographers ---------------------------------------------------------------------------

def test_owner_long_tail_and_consistent_style():
    config = DemoConfig(photos=100_000, seed=2)
    records, truth = generate_metadata(config, RECIPE)
    per_owner = records["owner_id"].value_counts()
    assert 4 <= per_owner.median() <= 8, per_owner.median()
    top = per_owner.iloc[: max(1, len(per_owner) // 100)].sum() / len(records)
    assert 0.17 <= top <= 0.35, top
    own_uploads = truth[~truth["dup_other_owner"]]
    assert (own_uploads.groupby("owner_id")["style_id"].nunique() == 1).all()
    assert own_uploads.groupby("style_id")["owner_id"].nunique().max() == 1
    # Owners mostly shoot their home city: the owner predicts the city well above chance.
    skylines = truth[truth["is_skyline"]]
    top_city = skylines.groupby(["owner_id", "true_label"]).size().groupby(level=0).max().sum()
    assert top_city / len(skylines) > config.home_city_rate - 0.05


# ---- the sandals photographer ----------------------------------------------------------------

def test_sandals_photographer():
    config = DemoConfig(photos=3000, seed=4)
    assert 100 <= config.sandals_count <= 500, "a few hundred at default size"
    assert DemoConfig(photos=150).sandals_count <= 0.15 * 150
    records, truth = generate_metadata(config, RECIPE)
    rows = records_to_rows(records, "demo", RECIPE)
    sandals = truth["is_sandals"].to_numpy()
    assert sandals.sum() == config.sandals_count
    assert records.loc[sandals, "owner_id"].nunique() == 1
    assert truth.loc[sandals, "true_label"].isna().all() and not truth.loc[sandals, "is_skyline"].any()
    assert rows.loc[sandals, "tags"].map(lambda t: "chicago" in t and "skyline" in t).all()
    assert (rows.loc[sandals, "label"] == "chicago").all()
    for lat, lon in zip(rows.loc[sandals, "lat"], rows.loc[sandals, "lon"]):
        assert great_circle(CITY["chicago"], (lat, lon)).km <= config.city_radius_km + 1e-6
    renderer = PhotoRenderer(truth, config)
    spec = lambda pid: {**renderer.spec(pid), "style_id": None}  # noqa: E731  compare scenes, not looks
    his = [render_pixels(spec(p), config).astype(float) for p in truth.loc[sandals, "photo_id"][:6]]
    others = [render_pixels(spec(p), config).astype(float)
              for p in truth.loc[~sandals & ~truth["is_skyline"], "photo_id"][:6]]
    within = np.mean([np.abs(a - b).mean() for a, b in zip(his, his[1:])])
    between = np.mean([np.abs(a - b).mean() for a, b in zip(others, others[1:])])
    assert within < between / 3, (within, between)


# ---- duplicates and broken files after ingest ------------------------------------------------

def test_broken_files_become_dropped_rows_with_the_right_reason(ingested):
    ws, config, report = ingested
    truth, stored_config = read_truth(ws)
    assert stored_config == config
    catalog = read_catalog(ws).set_index("photo_id").loc[truth["photo_id"]]
    broken = truth.set_index("photo_id")["broken_kind"]
    assert set(broken.dropna()) == set(BROKEN_KINDS)
    expected = broken.map(BROKEN_DROP_REASON)
    assert (catalog.loc[broken.notna(), "status"] == "dropped").all()
    assert (catalog.loc[broken.notna(), "drop_reason"] == expected[broken.notna()]).all()
    fine = broken.isna()
    assert (catalog.loc[fine, "status"] == "kept").all() and catalog.loc[fine, "sha256"].notna().all()
    assert (catalog.loc[fine, "width"] == config.image_width).all()
    assert report.stored == int(fine.sum())
    assert report.dropped_by_reason == expected.value_counts().to_dict()


def test_exact_duplicates_share_bytes_and_bursts_are_near_duplicates(ingested):
    ws, config, _ = ingested
    truth, _ = read_truth(ws)
    catalog = read_catalog(ws).set_index("photo_id")
    truth = truth.assign(sha256=catalog.loc[truth["photo_id"], "sha256"].to_numpy(),
                         owner=catalog.loc[truth["photo_id"], "owner_id"].to_numpy())
    groups = truth[truth["exact_dup_group"].notna()].groupby("exact_dup_group")
    assert len(groups) >= 3
    for _, group in groups:
        assert len(group) >= 2 and group["sha256"].nunique() == 1 and group["photo_id"].is_unique
    unique_images = truth[truth["exact_dup_group"].isna() & truth["sha256"].notna()]
    assert unique_images["sha256"].is_unique
    bursts = truth[truth["burst_id"].notna() & truth["broken_kind"].isna()].groupby("burst_id")
    renderer = PhotoRenderer(truth, config)
    diffs, assert_any = [], False
    for _, burst in bursts:
        assert burst["owner"].nunique() == 1 and burst["sha256"].nunique() == len(burst)
        frames = [render_pixels(renderer.spec(p), config).astype(float) for p in burst["photo_id"][:2]]
        if len(frames) == 2:
            diffs.append(np.abs(frames[0] - frames[1]).mean())
            assert_any = True
    assert assert_any and np.mean(diffs) < 25  # a few px of shift, not another scene


def test_exact_duplicates_are_sometimes_reuploaded_by_another_owner(big):
    _, records, truth, _ = big
    copies = truth[truth["is_exact_dup_copy"]]
    assert 0.2 < copies["dup_other_owner"].mean() < 0.6
    originals = truth[truth["exact_dup_group"].notna() & ~truth["is_exact_dup_copy"]].set_index("exact_dup_group")
    matched = originals.loc[copies["exact_dup_group"]]
    for column in ("scene_seed", "variant_seed", "style_id", "content_kind", "true_city"):
        assert (matched[column].to_numpy() == copies[column].to_numpy()).all(), column
    owners = records.set_index(truth["photo_id"])["owner_id"]
    differs = owners.loc[copies["photo_id"]].to_numpy() != owners.loc[matched["photo_id"]].to_numpy()
    assert (differs == copies["dup_other_owner"].to_numpy()).all()


def test_ingest_twice_same_catalog_and_other_collection_refused(ingested):
    ws, config, _ = ingested
    before = read_catalog(ws)
    again = ingest_demo(ws, config, images=True, workers=2)
    assert again.fetched == 0 and again.already_done == config.photos
    pd.testing.assert_frame_equal(read_catalog(ws), before)
    with pytest.raises(UsageError, match="seed"):
        ingest_demo(ws, DemoConfig(photos=180, seed=4, broken_rate=0.05, exact_dup_rate=0.04, burst_rate=0.08))


def test_broken_kinds_are_refused_by_the_store():
    from curate.store import BadImage, inspect_image

    config = DemoConfig(photos=60)
    base = {"content_kind": "skyline", "true_city": "tokyo", "scene_seed": 1, "frame_index": 0, "style_id": 3}
    for kind in BROKEN_KINDS:
        for variant in range(6):  # every flavour of each kind
            with pytest.raises(BadImage) as caught:
                inspect_image(render_photo({**base, "broken_kind": kind, "variant_seed": variant}, config))
            assert caught.value.reason == BROKEN_DROP_REASON[kind]
    info = inspect_image(render_photo({**base, "broken_kind": None, "variant_seed": 0}, config))
    assert (info.width, info.height) == config.image_size


# ---- the CLI ---------------------------------------------------------------------------------

def test_cli_ingest_demo_and_errors(tmp_path):
    result = runner.invoke(app, ["ingest", "demo", "--photos", "150", "--seed", "8", "--image-size", "96x72",
                                 "--workspace", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "150 photos" in result.stdout and "images stored" in result.stdout
    catalog = read_catalog(Workspace(tmp_path))
    assert len(catalog) == 150 and set(catalog.loc[catalog["status"] == "kept", "width"]) == {96}
    assert Workspace(tmp_path).truth_path.exists()

    other_seed = runner.invoke(app, ["ingest", "demo", "--photos", "150", "--seed", "9", "--image-size", "96x72",
                                     "--workspace", str(tmp_path)])
    assert other_seed.exit_code == 2 and "seed 8 (asked 9)" in other_seed.output
    for bad in (["--image-size", "big"], ["--image-size", "20x20"], ["--photos", "0"]):
        result = runner.invoke(app, ["ingest", "demo", *bad, "--workspace", str(tmp_path / "fresh")])
        assert result.exit_code == 2, bad
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output


# ---- the image carries the city, and the photographer --------------------------------------

def _features(pixels: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize((16, 12), Image.BILINEAR), dtype=float).ravel()


def _nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray, train: np.ndarray) -> float:
    classes = np.unique(labels)
    centroids = np.stack([features[train & (labels == c)].mean(axis=0) for c in classes])
    test = ~train
    distance = ((features[test][:, None, :] - centroids[None]) ** 2).sum(axis=2)
    return float((classes[distance.argmin(axis=1)] == labels[test]).mean())


def test_city_is_learnable_from_pixels():
    """Skylines of one city look more alike than skylines of two cities, and a linear
    model on 16x12 thumbnails tells the ten cities apart far above chance (0.1), even
    through the photographers' looks: the city is in the image itself."""
    from sklearn.linear_model import LogisticRegression

    config = DemoConfig()
    cities = [label.name for label in RECIPE.labels]
    per_city = 20
    features, labels = [], []
    for c, city in enumerate(cities):
        for k in range(per_city):
            spec = {"content_kind": "skyline", "true_city": city, "scene_seed": 1000 * c + k, "variant_seed": k,
                    "frame_index": 0, "style_id": 37 * k + c, "broken_kind": None}
            features.append(_features(render_pixels(spec, config)) / 255)
            labels.append(c)
    features, labels = np.array(features), np.array(labels)
    distance = ((features[:, None, :] - features[None, :, :]) ** 2).sum(axis=2)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    assert distance[same & off_diagonal].mean() < 0.9 * distance[~same].mean()
    train = np.tile(np.arange(per_city) % 2 == 0, len(cities))
    model = LogisticRegression(max_iter=2000).fit(features[train], labels[train])
    accuracy = model.score(features[~train], labels[~train])
    assert accuracy >= 0.45, accuracy


def test_photographer_look_is_recognisable():
    """The same kind of scenes shot by different owners: the owner is predictable from pixels."""
    config = DemoConfig()
    styles, per_style = range(8), 12
    features, labels = [], []
    for style in styles:
        for k in range(per_style):
            spec = {"content_kind": ("food", "indoor", "street", "people")[k % 4], "true_city": "london",
                    "scene_seed": 50 * style + k, "variant_seed": k, "frame_index": 0, "style_id": style,
                    "broken_kind": None}
            features.append(_features(render_pixels(spec, config)))
            labels.append(style)
    train = np.tile(np.arange(per_style) < per_style // 2, len(styles))
    accuracy = _nearest_centroid_accuracy(np.array(features), np.array(labels), train)
    assert accuracy >= 3 / len(styles), accuracy
