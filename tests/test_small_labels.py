"""Collections of many small labels (audit 2026-12-04 "collection shapes no earlier audit tried",
findings 1 and 2): every label smaller than the prefilter's folds skips label issues with a note
(the topic part carries on), and a probe with one training photo per class falls back to its
default L2 strength instead of scoring folds that hold out only classes their model never saw."""

from __future__ import annotations

import numpy as np
import pytest

from classify.probe import DEFAULT_C, fit_head
from curate.errors import UsageError
from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
from tests.test_split import make_catalog

DIM = 16


def small_labels(labels: int, per_label: int, seed: int = 0):
    """(catalog, vectors): `labels` labels of `per_label` photos each, no photographers (each photo a
    group of its own, as for a folder of class folders); every other label's photos are tagged `animal`
    and lie along one direction, the others along another, so the topic model has something to learn."""
    rng = np.random.default_rng(seed)
    rows, vectors = [], []
    directions = np.eye(DIM)
    for label in range(labels):
        on_topic = label % 2 == 0
        for _ in range(per_label):
            rows.append({"label": f"class{label:03d}", "image_path": f"i{len(rows)}.jpg",
                         "tags": ["animal"] if on_topic else ["thing"]})
            vectors.append(directions[0 if on_topic else 1] + 0.2 * rng.normal(size=DIM))
    return make_catalog(rows), np.asarray(vectors, np.float32)


def judge(catalog, vectors, config):
    n = len(catalog)
    return prefilter_catalog(catalog, vectors, np.ones(n, bool), np.ones(n, bool), config)


def skip_notes(report) -> list[str]:
    return [note for note in report.notes if note.startswith("label issues skipped")]


# ------------------------------------------------------------------ prefilter: label issues

def test_label_issues_only_skips_with_a_note_when_every_label_is_smaller_than_the_folds():
    """40 labels x 3 photos, --folds 5: no traceback; the note says why and what to do, and
    nothing is flagged or dropped."""
    catalog, vectors = small_labels(40, 3)
    result, report = judge(catalog, vectors, PrefilterConfig(topic=None, label_issues_only=True, relabel=True))
    assert report.label_issues is None
    assert "label issues not checked: every label has fewer than 5 photos" in report.summary()  # `curate run` says why
    assert result["is_label_issue"].isna().all() and result["label"].tolist() == catalog["label"].tolist()
    assert result["status"].tolist() == catalog["status"].tolist()
    [note] = skip_notes(report)
    assert "every label has fewer than 5 photos" in note and "the largest has 3" in note
    assert "--folds 3 or fewer" in note and "relabel skipped with them" in note

    # the fix the note names works
    _, lowered = judge(catalog, vectors, PrefilterConfig(topic=None, label_issues_only=True, folds=3))
    assert lowered.label_issues is not None and not skip_notes(lowered)


def test_one_photo_per_label_says_label_issues_need_two():
    catalog, vectors = small_labels(30, 1)
    _, report = judge(catalog, vectors, PrefilterConfig(topic=None, label_issues_only=True, folds=2))
    [note] = skip_notes(report)
    assert report.label_issues is None and "every label has one photo" in note and "2 photos or more" in note


def test_a_topic_run_on_small_labels_still_scores_the_topic():
    """The topic model's folds are stratified on the tag, not the labels: it scores every photo and
    cuts; the label model and the repairs that need it are skipped with one note."""
    catalog, vectors = small_labels(40, 3)
    result, report = judge(catalog, vectors, PrefilterConfig(topic="animal"))
    assert result["topic_score"].notna().all() and report.scored == len(catalog)
    assert report.threshold is not None and report.label_issues is None
    assert result["is_label_issue"].isna().all() and not report.geo_rescue and not report.topic_rescue
    [note] = skip_notes(report)
    assert "every label has fewer than 5 photos" in note and "geo rescue" in note and "label model" in note


def test_a_topic_with_too_few_photos_on_either_side_for_the_folds_is_one_line():
    """2 tagged and 3 untagged photos of 5 photographers, --folds 5: a usage error naming the
    counts and the fix, not scikit-learn's traceback."""
    catalog, vectors = small_labels(5, 1)
    catalog["tags"] = [["animal"], ["thing"], ["animal"], ["thing"], ["thing"]]
    with pytest.raises(UsageError, match=r"2 tagged and 3 untagged .*fewer than --folds 5; --folds 3 or fewer"):
        judge(catalog, vectors, PrefilterConfig(topic="animal"))


# ------------------------------------------------------------------ probe: one training photo per class

def test_a_probe_with_one_photo_per_class_falls_back_to_the_default_strength():
    """No cross-validation fold can hold out a photo whose class its model saw: the default C,
    and the reason in `chosen_on` (the run's log line and metrics)."""
    rng = np.random.default_rng(0)
    classes = 12
    x = (np.eye(classes) * 3 + rng.normal(0, 0.3, size=(classes, classes))).astype(np.float32)
    y = np.arange(classes)
    for groups in (None, [None] * classes, [f"o{i}" for i in range(classes)]):
        weight, bias, facts = fit_head(x, y, x[:0], y[:0], classes, groups=groups)
        assert facts["c"] == DEFAULT_C and facts["grid"] is None
        assert facts["chosen_on"].startswith("default") and "no cross-validation fold" in facts["chosen_on"]
        assert (x @ weight.T + bias).argmax(1).tolist() == y.tolist()  # it still fits its training photos


def test_a_probe_skips_only_the_folds_that_cannot_score():
    """Classes 0 and 1 have a photo in folds 0 and 1; fold 2 holds only one-photo classes. The
    strength is chosen on the two folds that can score."""
    rng = np.random.default_rng(1)
    y = np.array([0, 0, 2, 1, 1, 3, 6, 7, 4, 8, 9, 5])  # fold = position % 3
    x = (np.eye(10)[y] * 3 + rng.normal(0, 0.3, size=(12, 10))).astype(np.float32)
    _, _, facts = fit_head(x, y, x[:0], y[:0], 10)
    assert facts["chosen_on"].startswith("3-fold cross-validation")
    losses = {float(c): loss for c, loss in facts["grid"].items()}
    assert np.isfinite(list(losses.values())).all() and facts["c"] == min(losses, key=losses.get)
