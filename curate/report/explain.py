"""One sentence beside every headline figure of the report: what it compares, and how sure it is.

The sentences are data (they go into report.json too), built from the numbers they explain, so a
figure and its caveat cannot drift apart. A training figure comes from ONE training seed unless
the evaluation says otherwise; a test accuracy's standard error is the binomial one over its test
photos, which says nothing about seed-to-seed variation (bench/curation_worth.py measures that).
"""

from __future__ import annotations

import math

ONE_SEED = "from one training seed (retraining with another seed moves it too; bench/curation_worth.py " \
           "measures by how much)"

# Comparison keys (classify evaluate --uncurated / --compare-random-split) -> a sentence.
COMPARISON = {
    "clean_test_photos": "photos in the clean test set: the curated test split, which neither model trained on, "
                         "nor any photo by its photographers or a duplicate of one.",
    "common_test_photos": "the clean test photos both models are scored on: those each model can be scored on "
                          "(it has a class for the photo's label and read its image). Both accuracies and their "
                          "difference are over these photos.",
    "left_out_photos": "clean test photos left out of both models' scores because one model could not be scored "
                       "on them (the note beside the headline says which and why).",
    "curated_accuracy": "share of those common clean test photos the curated model (this run) labels correctly.",
    "uncurated_accuracy": "share of the same clean test photos labelled correctly by the same recipe trained on "
                          "every decodable photo, curation's drops brought back.",
    "curation_worth_pp": "curated minus uncurated accuracy on the same clean test photos, in percentage points: "
                         "positive means curation helped.",
    "curation_worth_se_owners_pp": "standard error of that difference over the test photographers: the owners "
                                   "resampled with replacement (2,000 draws), both models scored on each draw.",
    "sub_run": "whether the comparison model was trained now, resumed or reused from an earlier run.",
    "owner_split_accuracy": "this run's accuracy on the owner-disjoint test split (no test photographer in "
                            "training).",
    "random_split_accuracy": "the same recipe's accuracy on a random split, where photographers and "
                             "near-duplicates span train and test.",
    "leakage_inflation_pp": "random-split minus owner-split accuracy in percentage points: how much a leaky "
                            "split flatters the model.",
    "sandals_photos": "off-topic photos by test photographers, scored by both models (the sandals test).",
    "uncurated_sandals_answered_share": "share of those off-topic photos the uncurated model still labels as "
                                        "a class (lower is better).",
    "curated_sandals_answered_share": "share of those off-topic photos the curated model labels as a class "
                                      "(behind its topic gate when it has one; lower is better).",
    "curated_alone_sandals_answered_share": "the same share for the curated model without its gate.",
    "curated_behind_gate": "whether the curated model answers behind a topic gate.",
    "on_topic_wrongly_gated_share": "share of on-topic test photos the gate wrongly refuses (target at most 3%).",
}


def binomial_se(share: float | None, photos: int | None) -> float | None:
    """Standard error of an accuracy measured on `photos` test photos: sqrt(p(1-p)/n); None if unknown.

    >>> round(binomial_se(0.5, 100), 3)
    0.05
    """
    if share is None or not photos or not 0 <= share <= 1:
        return None
    return math.sqrt(share * (1 - share) / photos)


def difference_se(a: float | None, b: float | None, photos: int | None) -> float | None:
    """Standard error in pp of the difference of two accuracies on `photos` test photos, as if
    independent (an upper bound when the models err on the same photos); None if unknown."""
    se_a, se_b = binomial_se(a, photos), binomial_se(b, photos)
    return None if se_a is None or se_b is None else 100 * math.hypot(se_a, se_b)


def two_sample_se(a: float | None, photos_a: int | None, b: float | None, photos_b: int | None) -> float | None:
    """Standard error in pp of the difference of two accuracies on two different test sets (`photos_a`,
    `photos_b` photos); None if unknown.

    >>> round(two_sample_se(0.875, 40, 0.95, 40), 1)  # sqrt(.875 * .125 / 40 + .95 * .05 / 40) = 0.0626
    6.3
    """
    se_a, se_b = binomial_se(a, photos_a), binomial_se(b, photos_b)
    return None if se_a is None or se_b is None else 100 * math.hypot(se_a, se_b)


def accuracy_sentence(accuracy: float | None, photos: int | None, split: str | None) -> str:
    """What the run's accuracy is, with its test-sample standard error and the one-seed caveat."""
    se = binomial_se(accuracy, photos)
    error = f" ± {100 * se:.1f} pp (standard error from the {photos} test photos alone)" if se is not None else ""
    count = f"{photos} " if isinstance(photos, int) and not isinstance(photos, bool) else ""
    return (f"Accuracy: the share of the {count}{split or 'test'} photos whose predicted label is their label"
            f"{error}, {ONE_SEED}.")


def comparison_sentences(comparison: dict) -> dict:
    """{key: sentence} for the comparison's figures; curation_worth_pp and leakage_inflation_pp get
    their test-sample standard error and the one-seed caveat."""
    out = {key: COMPARISON[key] for key in comparison if key in COMPARISON}
    # the photos both accuracies are over (evaluations before 2026-12 have only clean_test_photos)
    photos = comparison.get("common_test_photos", comparison.get("clean_test_photos"))
    se = difference_se(comparison.get("curated_accuracy"), comparison.get("uncurated_accuracy"), photos)
    if "curation_worth_pp" in out:
        owners = comparison.get("curation_worth_se_owners_pp")
        if owners is not None:  # the test photos come in photographers' batches: resample those
            each = " and photos without one" if comparison.get("test_photos_without_owner") else ""
            error = f" Standard error about {owners:.1f} pp over the test photographers{each} (resampled)"
        else:
            error = f" Standard error about {se:.1f} pp from the {photos} test photos alone" if se is not None else ""
        out["curation_worth_pp"] += f"{error}; {ONE_SEED}."
    if "leakage_inflation_pp" in out:
        inflation = comparison.get("leakage_inflation_se_pp")
        error = f" Standard error about {inflation:.1f} pp from the two test sets alone." \
            if isinstance(inflation, (int, float)) else ""
        out["leakage_inflation_pp"] += f"{error} {ONE_SEED[0].upper()}{ONE_SEED[1:]}."
    return out


MACRO = "unweighted mean over the classes of each class's {name}, so rare classes count as much as common ones."
