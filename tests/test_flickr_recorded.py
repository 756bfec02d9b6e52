"""The Flickr source on real answers: photos.search pages and a photoset with videos recorded by
flickr-photos-api (../shared/realdata/flickr-api-recordings), parsed and turned into catalog rows.

What real answers hold that a fake might not: positions with accuracy 0 (Flickr's "not set"),
0/0 for "no position", dates of granularity 8 ("circa"), videos among photos."""

from __future__ import annotations

import pandas as pd
import pytest

from curate.ingest.flickr.pages import parse_search_page
from curate.recipes import Label, Recipe
from curate.records import records_to_rows
from tests.flickr_recordings import RECORDINGS, recorded_answers

OLD = RECORDINGS / "cassettes_removed_from_head"
SEARCH = OLD / "test_get_photos_from_flickr_url_is_paginated[tag].yml"
ACCURACY_ZERO = OLD / "TestCollectionsPhotoResponse.test_discards_location_if_accuracy_zero.yml"
VIDEOS = OLD / "TestCollectionsPhotoResponse.test_can_get_collection_with_videos.yml"
GALLERY = OLD / "test_get_photos_from_flickr_url_is_paginated[gallery].yml"


def need(path):
    if not path.exists():
        pytest.skip(f"real data not found at {path} (outside contributors' clones lack ../shared/realdata)")


def rows_of(payloads: list[dict]) -> tuple[pd.DataFrame, list[dict]]:
    """Catalog rows of the recorded pages (every photo parsed) and the raw photos, in order. A
    photoset's answer holds the same <photo> elements as a search's, under <photoset>."""
    raw, records = [], []
    for payload in payloads:
        if "photoset" in payload:
            payload = {"stat": payload["stat"], "photos": payload["photoset"]}
        page = parse_search_page(payload, {})
        assert page.malformed_photos == 0
        raw += payload["photos"]["photo"]
        records += page.records
    assert len(records) == len(raw) > 0
    return records_to_rows(pd.DataFrame.from_records(records), "flickr"), raw


def test_recorded_search_pages_positions_and_dates():
    need(SEARCH)
    rows, raw = rows_of(recorded_answers(SEARCH, "flickr.photos.search"))
    lat = pd.Series([float(p.get("latitude") or 0) for p in raw])
    lon = pd.Series([float(p.get("longitude") or 0) for p in raw])
    accuracy = pd.Series([int(p.get("accuracy") or 0) for p in raw])
    zero = (lat == 0) & (lon == 0)
    placed = ~zero & (accuracy > 0)
    assert zero.sum() > 0 and placed.sum() > 0 and (zero | placed).all()  # the recording has both
    # 0/0 is no position; the others are kept as sent
    assert rows.loc[zero, "lat"].isna().all() and (rows.loc[zero, "coord_issue"] == "missing").all()
    assert (rows.loc[placed, "lat"] == lat[placed]).all() and (rows.loc[placed, "lon"] == lon[placed]).all()
    assert (rows.loc[placed, "geo_accuracy"] == accuracy[placed]).all() and rows.loc[placed, "coord_issue"].isna().all()
    # "circa" (granularity 8) is a guess: no time; exact ones are kept to the second
    granularity = pd.Series([str(p.get("datetakengranularity")) for p in raw])
    known = (granularity == "0") & pd.Series([str(p.get("datetakenunknown")) == "0" for p in raw])
    assert (granularity == "8").sum() >= 1 and rows.loc[granularity == "8", "taken_at"].isna().all()
    assert (rows.loc[known, "taken_at"] == pd.to_datetime([p["datetaken"] for p, k in zip(raw, known) if k])).all()
    assert (rows["owner_id"] == [p["owner"] for p in raw]).all()
    assert rows["tags"].map(len).tolist() == [len(p.get("tags", "").split()) for p in raw]


def test_recorded_positions_with_accuracy_zero_are_not_trusted():
    """flickr-photos-api's own recording of this case: 55 of 173 photos carry a position with
    accuracy 0 (Flickr's "not set"); its client discards them, and so does the catalog."""
    need(ACCURACY_ZERO)
    rows, raw = rows_of(recorded_answers(ACCURACY_ZERO, "flickr.photosets.getPhotos"))
    unset = pd.Series([p.get("accuracy") == "0" and float(p.get("latitude") or 0) != 0 for p in raw])
    placed = pd.Series([int(p.get("accuracy") or 0) > 0 for p in raw])
    assert unset.sum() >= 50 and placed.sum() > 0
    assert rows.loc[unset, "lat"].isna().all() and (rows.loc[unset, "coord_issue"] == "zero_accuracy").all()
    assert rows.loc[placed, "lat"].notna().all() and rows.loc[placed, "coord_issue"].isna().all()


@pytest.mark.parametrize("cassette, method", [(VIDEOS, "flickr.photosets.getPhotos"),
                                              (GALLERY, "flickr.galleries.getPhotos")], ids=["photoset", "gallery"])
def test_recorded_videos_are_dropped_as_not_a_photo(cassette, method):
    need(cassette)
    rows, raw = rows_of(recorded_answers(cassette, method))
    video = pd.Series([p.get("media") == "video" for p in raw])
    assert 0 < video.sum() < len(raw)
    assert (rows.loc[video, "status"] == "dropped").all()
    assert (rows.loc[video, "drop_reason"] == "unsupported_mime").all()
    assert (rows.loc[~video, "drop_reason"] != "unsupported_mime").all()


def test_recorded_machine_tags_name_labels_by_their_value():
    """flickr-photos-api's recording of a photo with machine tags (`taxonomy:genus=loxodonta`, three
    `taxonomy:binomial=…`): kept as tags, and their values name labels like plain tags do."""
    cassette = OLD / "TestCollectionsPhotoResponse.test_gets_machine_tags.yml"
    need(cassette)
    payloads = recorded_answers(cassette, "flickr.galleries.getPhotos")
    records = [record for payload in payloads
               for record in parse_search_page({"stat": payload["stat"], "photos": payload["photos"]}, {}).records]
    frame = pd.DataFrame.from_records(records)
    genus = Recipe("r", (Label("loxodonta", "Loxodonta"), Label("tiger", "Tiger")))
    rows = records_to_rows(frame, "flickr", genus)
    tagged = rows["tags"].map(lambda tags: "taxonomy:genus=loxodonta" in tags)
    assert tagged.sum() >= 1
    assert (rows.loc[tagged, "label"] == "loxodonta").all()
    assert rows.loc[~tagged, "label"].ne("loxodonta").all()
    both = Recipe("r", (Label("loxodonta", "Loxodonta"), Label("asian", "Asian elephant", ("elephas maximus",))))
    rows = records_to_rows(frame, "flickr", both)  # the photo names both genera: ambiguous, no label
    assert (rows.loc[tagged, "tag_labels"].map(list) == [["loxodonta", "asian"]] * int(tagged.sum())).all()
    assert rows.loc[tagged, "label"].isna().all()
