"""Confident learning core: thresholds, confident joint, calibration, prune by noise rate."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.prefilter.confident import (
    THRESHOLD_SLACK,
    calibrate_joint,
    confident_joint,
    find_label_issues,
    per_class_thresholds,
)
from tests.helpers import examples

# A tiny example worked out by hand (3 classes, 8 samples).
TINY_LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2])
TINY_PROBS = np.array([
    [0.90, 0.05, 0.05],  # a: given 0
    [0.60, 0.30, 0.10],  # b: given 0
    [0.00, 0.90, 0.10],  # c: given 0, looks like a 1
    [0.20, 0.70, 0.10],  # d: given 1
    [0.50, 0.50, 0.00],  # e: given 1, exactly at class 0's threshold
    [0.40, 0.50, 0.10],  # f: given 1, above no threshold
    [0.10, 0.10, 0.80],  # g: given 2
    [0.55, 0.05, 0.40],  # h: given 2, looks like a 0
])


def test_thresholds_are_the_mean_self_confidence_of_each_class():
    # t0 = (0.9 + 0.6 + 0.0) / 3, t1 = (0.7 + 0.5 + 0.5) / 3, t2 = (0.8 + 0.4) / 2
    expected = [1.5 / 3, 1.7 / 3, 1.2 / 2]
    assert per_class_thresholds(TINY_LABELS, TINY_PROBS) == pytest.approx(expected)


def test_a_class_without_samples_gets_a_threshold_that_never_fires():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7], [0.0, 0.0, 1.0]])
    thresholds = per_class_thresholds(np.array([0, 0, 2]), probs)
    assert thresholds[0] == pytest.approx(0.4)
    assert thresholds[1] == np.inf
    assert thresholds[2] == pytest.approx(1.0)


def test_confident_joint_by_hand():
    # With t = (0.5, 0.567, 0.6): a, b -> (0, 0); c -> (0, 1); d -> (1, 1); e: 0.5 >= t0 only -> (1, 0);
    # f: 0.4 < t0, 0.5 < t1, 0.1 < t2 -> not counted; g -> (2, 2); h: only 0.55 >= t0 -> (2, 0).
    expected = np.array([[2, 1, 0],
                         [1, 1, 0],
                         [1, 0, 1]])
    np.testing.assert_array_equal(confident_joint(TINY_LABELS, TINY_PROBS), expected)


def test_confident_joint_picks_the_most_probable_class_among_those_above_threshold():
    probs = np.array([[0.45, 0.31, 0.24],   # above t1 and t2: 1 (0 is the argmax but below t0)
                      [0.40, 0.25, 0.35],   # above t2 only: 2
                      [0.95, 0.04, 0.01],   # above t0 only: 0
                      [0.50, 0.29, 0.21]])  # above t2 only (0.29 < 0.3): 2
    cj = confident_joint(np.array([0, 1, 2, 2]), probs, thresholds=np.array([0.9, 0.3, 0.2]))
    np.testing.assert_array_equal(cj, [[0, 1, 0], [0, 0, 1], [1, 0, 1]])


def test_calibrated_joint_rescales_rows_to_given_label_counts_and_sums_to_one():
    cj = np.array([[2, 1, 0], [1, 1, 0], [1, 0, 1]])
    # Given-label counts are 3, 3, 2: row 1 (2 counted of 3) is scaled by 3/2; divide by n = 8.
    expected = np.array([[2, 1, 0], [1.5, 1.5, 0], [1, 0, 1]]) / 8
    joint = calibrate_joint(cj, TINY_LABELS)
    np.testing.assert_allclose(joint, expected)
    assert joint.sum() == pytest.approx(1.0)


def test_calibration_puts_an_uncounted_class_on_the_diagonal_and_zeroes_absent_classes():
    cj = np.array([[3, 1, 0], [0, 0, 0], [0, 0, 0]])
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])  # class 1 has samples but no counts; class 2 none
    np.testing.assert_allclose(calibrate_joint(cj, labels), [[3 / 8, 1 / 8, 0], [0, 0.5, 0], [0, 0, 0]])


def planted_flips(seed: int = 0, per_class: int = 40, classes: int = 4):
    """Clean samples put 0.7-0.95 on their class; each planted flip puts >= 0.85 on another class."""
    rng = np.random.default_rng(seed)
    true = np.repeat(np.arange(classes), per_class)
    top = rng.uniform(0.70, 0.95, len(true))
    planted = np.zeros(len(true), dtype=bool)
    planted[rng.choice(len(true), 12, replace=False)] = True
    given = true.copy()
    given[planted] = (true[planted] + rng.integers(1, classes, planted.sum())) % classes
    top[planted] = rng.uniform(0.85, 0.95, planted.sum())
    rest = rng.dirichlet(np.ones(classes - 1), len(true)) * (1 - top)[:, None]
    probs = np.empty((len(true), classes))
    for row, (t, r) in enumerate(zip(true, rest)):
        probs[row] = np.insert(r, t, top[row])
    return given, probs, planted


def test_finds_exactly_the_planted_flips():
    given, probs, planted = planted_flips()
    issues = find_label_issues(given, probs)
    np.testing.assert_array_equal(np.flatnonzero(issues.is_issue), np.flatnonzero(planted))
    true = np.where(planted, probs.argmax(axis=1), given)
    np.testing.assert_array_equal(issues.suggested[planted], true[planted])
    np.testing.assert_allclose(issues.label_quality, probs[np.arange(len(given)), given])


def test_planted_flips_are_found_in_any_sample_order_and_with_float32():
    given, probs, planted = planted_flips(seed=1)
    order = np.random.default_rng(2).permutation(len(given))
    issues = find_label_issues(given[order], probs[order].astype(np.float32))
    np.testing.assert_array_equal(issues.is_issue, planted[order])


def test_no_issues_when_probabilities_agree_with_labels():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, 300)
    probs = rng.dirichlet(np.ones(5), 300)
    probs[np.arange(300), labels] += 1.0  # the given label is always the clear argmax
    probs /= probs.sum(axis=1, keepdims=True)
    issues = find_label_issues(labels, probs)
    assert issues.num_issues == 0
    np.testing.assert_array_equal(issues.suggested, labels)


def test_agreeing_one_hot_probabilities_give_a_diagonal_joint_of_class_frequencies():
    labels = np.array([0, 0, 0, 1, 2, 2])
    issues = find_label_issues(labels, np.eye(3)[labels])
    np.testing.assert_allclose(issues.joint, np.diag([0.5, 1 / 6, 1 / 3]))
    assert not issues.prune_counts.any()


@pytest.mark.filterwarnings("error")
def test_a_class_with_no_samples_is_handled_without_warnings():
    given, probs, planted = planted_flips(seed=4, classes=3)
    probs = np.hstack([probs * 0.98, np.full((len(probs), 1), 0.02)])  # a 4th class nobody has
    issues = find_label_issues(given, probs)
    np.testing.assert_array_equal(issues.is_issue, planted)
    assert issues.thresholds[3] == np.inf
    assert not issues.joint[3].any() and not issues.joint[:, 3].any()


def test_a_class_is_never_pruned_below_min_examples_per_class():
    # Class 1 has one sample and the model believes it is a 2: flagging it would empty class 1.
    probs = np.array([[0.9, 0.05, 0.05]] * 10 + [[0.05, 0.05, 0.9]] * 10 + [[0.04, 0.06, 0.9]])
    labels = np.array([0] * 10 + [2] * 10 + [1])
    assert not find_label_issues(labels, probs).is_issue.any()
    np.testing.assert_array_equal(find_label_issues(labels, probs, min_examples_per_class=0).is_issue,
                                  np.arange(21) == 20)


@pytest.mark.parametrize(("labels", "probs", "message"), [
    ([0, 1], [0.5, 0.5], "2-D"),
    ([0, 0], [[1.0], [1.0]], "at least 2 classes"),
    ([0, 1], [[0.5, 0.6], [0.5, 0.5]], "sum to 1"),
    ([0, 1], [[0.5, 0.5], [np.nan, 0.5]], "NaN"),
    ([0, 1], [[1.5, -0.5], [0.5, 0.5]], "negative"),
    ([0, 2], [[0.5, 0.5], [0.5, 0.5]], r"\[0, 2\)"),
    ([0, -1], [[0.5, 0.5], [0.5, 0.5]], r"\[0, 2\)"),
    ([0.0, 1.0], [[0.5, 0.5], [0.5, 0.5]], "integer"),
    ([0, 1, 1], [[0.5, 0.5], [0.5, 0.5]], "3 labels for 2 rows"),
    ([[0, 1]], [[0.5, 0.5], [0.5, 0.5]], "1-D"),
    (np.zeros(0, dtype=int), np.zeros((0, 2)), "no samples"),
])
def test_bad_input_is_a_value_error_naming_the_problem(labels, probs, message):
    with pytest.raises(ValueError, match=message):
        find_label_issues(np.asarray(labels), np.asarray(probs))


def test_bad_thresholds_joint_and_min_examples_are_rejected():
    with pytest.raises(ValueError, match="one value per class"):
        confident_joint(TINY_LABELS, TINY_PROBS, thresholds=np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="square"):
        calibrate_joint(np.ones((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="min_examples_per_class"):
        find_label_issues(TINY_LABELS, TINY_PROBS, min_examples_per_class=-1)


def test_statistical_precision_and_recall_on_a_noisy_label_process():
    """10% of labels flipped to a random other class; the model is informative about the true class."""
    rng = np.random.default_rng(5)
    n, classes = 3000, 5
    true = rng.integers(0, classes, n)
    probs = rng.gamma(1.0 + 5.0 * np.eye(classes)[true])  # Dirichlet(1 + 5 * onehot(true)) rows
    probs /= probs.sum(axis=1, keepdims=True)
    flipped = rng.random(n) < 0.10
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, classes, flipped.sum())) % classes
    issues = find_label_issues(given, probs)
    hits = (issues.is_issue & flipped).sum()
    assert hits / issues.num_issues >= 0.7, "precision"
    assert hits / flipped.sum() >= 0.7, "recall"


# ---- properties -------------------------------------------------------------------------------

def naive_confident_joint(labels, probs, thresholds):
    """Straight from the definition, one sample at a time."""
    k = probs.shape[1]
    counts = np.zeros((k, k), dtype=int)
    for label, row in zip(labels, probs):
        above = [j for j in range(k) if row[j] >= thresholds[j] - THRESHOLD_SLACK]
        if above:
            counts[label, max(above, key=lambda j: (row[j], -j))] += 1
    return counts


@st.composite
def labelled_probs(draw):
    k = draw(st.integers(2, 5))
    n = draw(st.integers(1, 60))
    # Coarse values make ties (between classes and between samples) common.
    value = st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]) | st.floats(0.0, 1.0)
    rows = draw(st.lists(st.lists(value, min_size=k, max_size=k).filter(lambda r: sum(r) > 1e-3),
                         min_size=n, max_size=n))
    probs = np.array(rows)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return labels, probs


@settings(max_examples=examples(200), deadline=None)
@given(labelled_probs(), st.integers(0, 3))
def test_invariants_of_find_label_issues(data, min_keep):
    labels, probs = data
    n, k = probs.shape
    issues = find_label_issues(labels, probs, min_examples_per_class=min_keep)

    counts = np.bincount(labels, minlength=k)
    expected_thresholds = [probs[labels == j, j].mean() if counts[j] else np.inf for j in range(k)]
    np.testing.assert_allclose(issues.thresholds, expected_thresholds)
    cj = naive_confident_joint(labels, probs, issues.thresholds)
    np.testing.assert_array_equal(confident_joint(labels, probs), cj)
    assert cj.sum() <= n
    assert issues.joint.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(issues.joint.sum(axis=1), counts / n)

    for i in np.flatnonzero(issues.is_issue):
        # A flagged sample's given label is never its argmax: some other class is at least as probable.
        assert issues.suggested[i] != labels[i]
        assert any(probs[i, j] >= probs[i, labels[i]] for j in range(k) if j != labels[i])
    flagged = np.bincount(labels[issues.is_issue], minlength=k)
    assert (counts - flagged >= np.minimum(counts, min_keep)).all()
    assert (flagged <= issues.prune_counts.sum(axis=1)).all()
    assert not np.diagonal(issues.prune_counts).any()
    np.testing.assert_array_equal(issues.suggested, probs.argmax(axis=1))
    np.testing.assert_array_equal(issues.label_quality, probs[np.arange(n), labels])
