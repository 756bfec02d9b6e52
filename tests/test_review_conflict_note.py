"""The review app's note on an image kept under two labels (review BC 6: its "…" counted repeats)."""

import threading
from types import SimpleNamespace

import pandas as pd

from curate import schema
from curate.review.app import label_conflict_note


def session(pairs: list[tuple[str, str]]) -> SimpleNamespace:
    """A review session whose catalog holds one near-duplicate cluster per pair of labels, two kept photos each."""
    rows = [{schema.PHOTO_ID: f"p{i}-{j}", "status": schema.KEPT, "label": label, "sha256": f"sha{i}-{j}",
             "near_dup_cluster": f"c{i}"} for i, pair in enumerate(pairs) for j, label in enumerate(pair)]
    return SimpleNamespace(lock=threading.Lock(), catalog=pd.DataFrame(rows))


def test_clusters_under_the_same_two_labels_are_named_once_without_an_ellipsis():
    review = session([("beach", "coast")] * 4)
    note = label_conflict_note(review, [f"p{i}-0" for i in range(4)])
    assert note.count("near-duplicates kept as 'beach' and 'coast' (4 clusters)") == 1
    assert "…" not in note and "under two labels" in note


def test_a_group_under_three_labels_is_not_called_two():
    """Review BG: "two labels" stayed when one image was kept under three."""
    rows = [{schema.PHOTO_ID: f"p{j}", "status": schema.KEPT, "label": label, "sha256": "same",
             "near_dup_cluster": None} for j, label in enumerate(("a", "b", "c"))]
    review = SimpleNamespace(lock=threading.Lock(), catalog=pd.DataFrame(rows))
    note = label_conflict_note(review, ["p0"])
    assert "under two or more labels" in note and "byte-identical copies kept as 'a' and 'b' and 'c'" in note


def test_more_than_three_kinds_of_conflict_end_in_an_ellipsis():
    review = session([("a", "b"), ("a", "c"), ("b", "c"), ("c", "d")])
    note = label_conflict_note(review, [f"p{i}-0" for i in range(4)])
    assert note.count("near-duplicates kept as") == 3 and "…" in note


def test_a_decision_that_leaves_one_label_per_image_has_no_note():
    review = session([("a", "a")])
    assert label_conflict_note(review, ["p0-0"]) == ""
