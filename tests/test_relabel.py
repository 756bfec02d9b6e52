"""Relabel (`curate prefilter --relabel`, curate/prefilter/relabel.py): confidently wrong labels are
replaced by suggested_label and the old one kept in original_label; re-runs relabel from the
original labels; the margin cut meets its stated precision on the calibrated probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from curate import freshness, schema
from curate.cli.app import app
from curate.errors import UsageError
from curate.prefilter.relabel import calibrated, margin_cut, temperature
from curate.prefilter.stage import PrefilterConfig
from tests.helpers import examples
from tests.test_prefilter import run, synthetic

runner = CliRunner()
RELABEL = PrefilterConfig(topic="skyline", geo_rescue=False, relabel=True)


@pytest.fixture(scope="module")
def flipped():
    """A synthetic collection with 10% of on-topic labels flipped, and its relabelled prefilter result."""
    catalog, vectors, _, truth = synthetic(seed=5, flips=0.1)
    result, report = run(catalog, vectors, RELABEL)
    return catalog, vectors, truth, result, report


def test_relabel_fixes_flipped_labels_and_keeps_the_original(flipped):
    catalog, _, truth, result, report = flipped
    changed = result["original_label"].notna().to_numpy()
    assert changed.sum() >= 0.5 * (truth["flipped"] & truth["on_topic"]).sum()
    assert (result.loc[changed, "original_label"] == catalog.loc[changed, "label"]).all()
    assert (result.loc[changed, "label"] != result.loc[changed, "original_label"]).all()
    assert (result.loc[changed, "label"] == result.loc[changed, "suggested_label"]).all()
    precision = (result.loc[changed, "label"].to_numpy() == truth["true_class"][changed]).mean()
    assert precision >= 0.9
    assert (result.loc[~changed, "label"] == catalog.loc[~changed, "label"]).all()
    assert report.relabel["relabelled"] == changed.sum() and report.relabel["precision_target"] == 0.9


def test_relabelled_photos_were_label_issues_and_others_stay_flagged(flipped):
    _, _, _, result, report = flipped
    changed = result["original_label"].notna()
    assert (result.loc[changed, "is_label_issue"] == True).all()  # noqa: E712
    assert report.relabel["flagged"] == report.label_issues == (result["is_label_issue"] == True).sum()  # noqa: E712


def test_rerunning_relabels_from_the_original_labels(flipped):
    _, vectors, _, result, _ = flipped
    again, report = run(result, vectors, RELABEL)
    pd.testing.assert_frame_equal(result, again)


def test_without_relabel_labels_stay_as_given(flipped):
    catalog, vectors, _, result, _ = flipped
    plain, report = run(result, vectors, PrefilterConfig(topic="skyline", geo_rescue=False))
    assert (plain["label"] == catalog["label"]).all() and plain["original_label"].isna().all()
    assert report.relabel == {}


def test_drop_label_issues_drops_only_the_issues_not_relabelled(flipped):
    _, vectors, _, result, _ = flipped
    config = PrefilterConfig(topic="skyline", geo_rescue=False, relabel=True, drop_label_issues=True,
                             relabel_precision=0.94)  # a strict target: some issues are not relabelled
    dropped, report = run(result, vectors, config)
    changed = dropped["original_label"].notna()
    assert (dropped.loc[changed, "status"] == schema.KEPT).all()
    issues = dropped["is_label_issue"] == True  # noqa: E712
    assert (dropped.loc[issues & ~changed, "drop_reason"] == "label_issue").all()
    assert report.label_issues_dropped == int((issues & ~changed).sum()) > 0 and changed.any()


def test_a_relabel_leaves_ingest_and_the_prefilter_inputs_unchanged(flipped):
    catalog, _, _, result, _ = flipped
    assert freshness.output_fingerprint(result, "ingest") == freshness.output_fingerprint(catalog, "ingest")
    assert freshness.input_fingerprint(result, "prefilter") == freshness.input_fingerprint(catalog, "prefilter")
    # the split reads the new labels
    assert freshness.input_fingerprint(result, "split") != freshness.input_fingerprint(catalog, "split")


@settings(max_examples=examples(50), deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0.34, 1)), min_size=1, max_size=40),
       st.floats(0.5, 0.99))
@example([(0.0, 1.0), (0.0, 0.995), (0.0, 0.375), (0.0, 0.375)], 0.5)  # mean 0.68625: rounds half up, as round()
def test_the_margin_cut_meets_its_precision_and_is_the_lowest_that_does(pairs, precision):
    margin = np.array([m for m, _ in pairs])
    p = np.array([q for _, q in pairs])
    cut, expected = margin_cut(margin, p, precision)
    if cut is None:  # no cut (it takes in every photo at its margin) reaches the precision
        assert all(p[margin >= m].mean() < precision for m in np.unique(margin))
        return
    assert p[margin >= cut].mean() >= precision - 1e-9 and expected == round(float(p[margin >= cut].mean()), 4)
    lower = margin[margin < cut]
    if len(lower):  # the next lower cut would take in photos and fall below the precision
        assert p[margin >= lower.max()].mean() < precision


def test_temperature_scaling_sharpens_shrunk_probabilities():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 3, 4000)
    sharp = np.full((4000, 3), 0.025)
    sharp[np.arange(4000), classes] = 0.95  # calibrated: the given label is drawn from these probabilities
    codes = np.array([rng.choice(3, p=row) for row in sharp])
    shrunk = sharp ** 0.3 / (sharp ** 0.3).sum(axis=1, keepdims=True)  # an over-regularised model's output
    t = temperature(shrunk, codes)
    assert 0.2 < t < 0.4
    assert np.allclose(calibrated(shrunk, t), sharp, atol=0.03)


@pytest.mark.parametrize("value", ["1.5", "0.2", "1", "nan"])
def test_a_bad_relabel_precision_is_one_line(value, tmp_path):
    result = runner.invoke(app, ["prefilter", "--workspace", str(tmp_path), "--topic", "skyline",
                                 "--relabel", "--relabel-precision", value])
    assert result.exit_code == 2
    assert "--relabel-precision" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_relabel_precision_is_checked_in_the_config():
    with pytest.raises(UsageError, match="relabel-precision"):
        PrefilterConfig(topic="skyline", relabel_precision=1.0)
    with pytest.raises(UsageError, match="relabel must be true or false"):
        PrefilterConfig(topic="skyline", relabel="yes")


def test_a_margin_cut_takes_in_every_photo_at_its_margin():
    # the first of two tied photos alone would reach 0.75, but no cut can take one without the other
    assert margin_cut(np.array([0.0, 0.0]), np.array([0.75, 0.5]), 0.75) == (None, None)
    assert margin_cut(np.array([0.3, 0.0, 0.0]), np.array([0.9, 0.75, 0.5]), 0.75) == (0.3, 0.9)


def test_the_label_model_figures_say_how_far_the_flags_go(flipped):
    """The stage reports the label model's out-of-fold agreement with the given labels: near
    1 - (flipped share) when the features see the labels, near the majority share when they do not."""
    catalog, vectors, truth, result, report = flipped
    model = report.label_model
    examined = result["status"] == schema.KEPT  # geo and topic rescue off: the photos the label model examined
    assert model["photos"] == examined.sum() and model["classes"] == 3
    assert model["majority_share"] == pytest.approx(catalog.loc[examined, "label"].value_counts(normalize=True).max(),
                                                    abs=1e-4)
    assert model["flagged_share"] == pytest.approx(report.label_issues / model["photos"], abs=1e-4)
    flipped_share = truth["flipped"][examined.to_numpy()].mean()
    assert 1 - flipped_share - 0.08 <= model["out_of_fold_accuracy"] <= 1 - flipped_share + 0.02
    assert f"{model['out_of_fold_accuracy']:.0%}" in report.summary()
    assert f"{model['out_of_fold_accuracy']:.0%} of the {model['photos']:,} given labels" in report.label_model_line()

    blind = vectors.copy()  # on-topic vectors shuffled among themselves: features blind to what labels name
    on = truth["on_topic"]
    blind[on] = blind[on][np.random.default_rng(0).permutation(on.sum())]
    weak_result, weak = run(catalog, blind, RELABEL)
    assert weak.label_model["out_of_fold_accuracy"] < weak.label_model["majority_share"] + 0.15
    assert weak.label_model["out_of_fold_accuracy"] < model["out_of_fold_accuracy"] - 0.3
    # audit BB: a weak label's "N flagged" counts the catalog's flags (confident learning's and the photos no
    # label fits), as the report's table of label issues does
    assert weak.label_model["weak_labels"]
    for label, row in weak.label_model["weak_labels"].items():
        flags = weak_result.loc[schema.given_label(weak_result) == label, "is_label_issue"]
        assert row["flagged"] == int(flags.fillna(False).astype(bool).sum()), label


def test_without_label_issues_there_are_no_label_model_figures(flipped):
    catalog, vectors, _, _, _ = flipped
    _, report = run(catalog, vectors, PrefilterConfig(topic="skyline", label_issues=False, geo_rescue=False))
    assert report.label_model == {} and report.label_model_line() is None
    assert "agrees with" not in report.summary()


def test_the_report_shows_what_the_flags_rest_on():
    from curate.report.html import label_issues

    section = {"flagged": 11, "per_label": {"white": 8, "black": 3}, "gallery": [],
               "label_model": {"photos": 100, "classes": 4, "out_of_fold_accuracy": 0.76, "majority_share": 0.37,
                               "flagged_share": 0.11}}
    html = label_issues(section)
    assert "agrees with 76.0% of the 100 given labels" in html and "most common label alone: 37.0%" in html
    assert "agrees with" not in label_issues({**section, "label_model": {}})


def test_a_handful_reaching_the_cut_is_held_and_stays_flagged():
    """An acceptance audit's --relabel on 280 real 15-Scene photos with their published labels changed 5
    at an 'expected precision 91%', none of them right: a mean of the model's own probabilities over a
    handful stands for nothing. Fewer than MIN_RELABELLED photos at the cut: none relabelled, all flagged."""
    from curate.cli.prefilter import repair_lines
    from curate.prefilter.relabel import MIN_RELABELLED

    catalog, vectors, _, _ = synthetic(seed=0, flips=0.01)
    result, report = run(catalog, vectors, RELABEL)
    reached = report.relabel["reached"]
    assert 0 < reached < MIN_RELABELLED and report.relabel["held"]
    assert report.relabel["relabelled"] == 0 and result["original_label"].isna().all()
    assert (result["label"] == catalog["label"]).all()
    assert (result["is_label_issue"] == True).sum() == report.label_issues >= reached  # noqa: E712
    line = next(line for line in repair_lines(report) if line.startswith("relabel held"))
    assert f"only {reached} of {report.relabel['flagged']} label issues reach" in line and "curate review" in line
    assert f"(held: {reached} reach the cut" in report.summary()


def test_enough_photos_at_the_cut_are_relabelled_with_an_estimate_that_says_what_it_is(flipped):
    from curate.cli.prefilter import repair_lines
    from curate.prefilter.relabel import MIN_RELABELLED

    _, _, _, _, report = flipped
    assert report.relabel["relabelled"] >= MIN_RELABELLED and not report.relabel["held"]
    line = next(line for line in repair_lines(report) if line.startswith("relabelled:"))
    assert "the label model's own estimate of its precision" in line and "not measured" in line
