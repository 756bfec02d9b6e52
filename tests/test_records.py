
import pandas as pd
import pytest

from curate.prefilter.topic import topic_tagged
from curate.recipes import load_recipe
from curate.records import clean_coordinates, records_to_rows, unique_photo_ids
from curate.tags import parse_tags


@pytest.fixture(scope="module")
def skylines():
    return load_recipe("skylines")


@pytest.mark.parametrize("raw, expected", [
    ("Chicago skyline  CHICAGO", ["chicago", "skyline"]),
    ("new york, skyline, ,", ["new york", "skyline"]),
    ('["Tokyo", "東京", ""]', ["tokyo", "東京"]),
    (["  Straße ", "STRASSE", "Ça  va"], ["strasse", "ça va"]),
    ("", []),
    (None, []),
    (float("nan"), []),
])
def test_parse_tags(raw, expected):
    assert parse_tags(raw) == expected


def test_clean_coordinates_nulls_invalid_pairs_with_reason():
    lat = pd.Series([41.8, None, "abc", 95.0, 10.0, float("inf"), "", -33.9])
    lon = pd.Series([-87.6, None, 1.0, 2.0, 200.0, 3.0, "", None])
    out_lat, out_lon, issue = clean_coordinates(lat, lon)
    assert out_lat[0] == 41.8 and out_lon[0] == -87.6 and pd.isna(issue[0])
    assert issue.tolist()[1:] == ["missing", "not_a_number", "out_of_range", "out_of_range", "not_a_number",
                                  "missing", "not_a_number"]
    assert out_lat[1:].isna().all() and out_lon[1:].isna().all()


def test_labels_from_tags_single_ambiguous_and_given(skylines):
    records = pd.DataFrame({
        "source_id": ["a", "b", "c", "d", "e"],
        "tags": ["nyc skyline", "chicago newyork", "food", "東京", "chicago"],
        "label": [None, None, None, None, "houston"],
    })
    rows = records_to_rows(records, "t", skylines)
    labels = rows["label"].tolist()
    assert labels[0] == "new_york" and labels[3] == "tokyo"
    assert pd.isna(labels[1]) and pd.isna(labels[2])
    assert rows.loc[1, "tag_labels"] == ["chicago", "new_york"]  # ambiguous: both named, label null
    assert rows.loc[4, "label"] == "houston"  # a label given by the source wins


def test_machine_tags_name_labels_by_their_value(skylines):
    """Flickr machine tags (`namespace:predicate=value`) name a label by their value; a tag that only
    looks like one (no namespace, digits first) does not; two labels named this way are ambiguous."""
    records = pd.DataFrame({
        "source_id": list("abcdef"),
        "tags": ["geo:locality=chicago", 'dc:coverage="new york", sunset', "locality=chicago",
                 "1geo:city=chicago", "taxonomy:genus=quercus", "dc:subject=tokyo, geo:locality=chicago"],
        "label": [None] * 6,
    })
    rows = records_to_rows(records, "t", skylines)
    assert rows["label"].tolist()[:2] == ["chicago", "new_york"]
    assert rows["label"].iloc[2:5].isna().all()
    assert rows.loc[5, "tag_labels"] == ["chicago", "tokyo"] and pd.isna(rows.loc[5, "label"])
    assert rows.loc[0, "tags"] == ["geo:locality=chicago"]  # the tag itself is kept as it came


def test_a_topic_carried_as_a_machine_tag_counts_as_tagged():
    tags = pd.Series([["dc:subject=skyline"], ['dc:subject="skyline"'], ["skyline"], ["dc:subject=skylines"],
                      ["skyline:view"], []], dtype=object)
    assert topic_tagged(tags, " Skyline").tolist() == [True, True, True, False, False, False]


def test_repeated_ids_are_kept_as_dropped_rows():
    ids, repeat = unique_photo_ids("f", pd.Series(["1", "2", "1", "1"]))
    assert ids.tolist() == ["f:1", "f:2", "f:1#2", "f:1#3"]
    rows = records_to_rows(pd.DataFrame({"source_id": ["1", "2", "1"]}), "f")
    assert rows["photo_id"].is_unique
    assert rows["drop_reason"].tolist()[2] == "duplicate_photo_id"
    assert rows["status"].tolist() == ["kept", "kept", "dropped"]


def test_dates_parse_or_null():
    rows = records_to_rows(pd.DataFrame({"source_id": ["1", "2", "3"],
                                         "taken_at": ["2008-08-12 12:01:24", "yesterday-ish", None]}), "t")
    assert rows.loc[0, "taken_at"] == pd.Timestamp("2008-08-12 12:01:24")
    assert rows["taken_at"][1:].isna().all()


def test_page_url_is_kept_for_attribution():
    records = pd.DataFrame({"source_id": ["1", "2"], "url": ["https://img.example/1.jpg", None],
                            "page_url": [" https://www.flickr.com/photos/o/1 ", ""]})
    rows = records_to_rows(records, "flickr")
    assert rows["page_url"].tolist() == ["https://www.flickr.com/photos/o/1", None]


def test_placeholder_owner_ids_are_no_owner_not_one_photographer():
    """Audit AB: `unknown` on 30 photos was one photographer to the caps and the split."""
    from curate.filters.stage import FilterConfig, filter_catalog

    owners = ["unknown", "Unknown", "N/A", "none", "0", "-", "48600090482@N01", "anon"] * 5
    rows = records_to_rows(pd.DataFrame({"source_id": [str(i) for i in range(40)], "owner_id": owners,
                                         "label": "city"}), "t")
    assert rows["owner_id"].isna().sum() == 30
    assert set(rows["owner_id"].dropna()) == {"48600090482@N01", "anon"}
    from curate import schema

    catalog = schema.to_pandas(schema.conform(rows))
    out, report = filter_catalog(catalog, FilterConfig(max_km="off", max_per_owner=2, force_caps=True))
    assert (out["drop_reason"] == "owner_cap").sum() == 6  # the two real owners' 5 photos each, down to 2
