"""Issue K's sandals test and honest headline: which photos the sandals test scores (off-topic
photos of test photographers only), how a gate changes the share answered with a label, the
fields of evaluation.json, and the "what curation is worth" sentence with its standard error.

The end-to-end tests use a small demo workspace and an untrained model; the gates are built by
hand (a logistic head with zero weights and a large negative or positive intercept), so what they
must do is known without looking at the code's output."""

from __future__ import annotations

import json
import shutil
import statistics

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.compare_scores import curation_headline, sandals_comparison, standard_error
from classify.evaluate import answered_with_label, sandals_score, wrongly_gated
from classify.evaluate_photos import OFF_TOPIC, off_topic_photos_of
from classify.evaluate_run import evaluate_run
from classify.gate import GateMeta, save_gate
from classify.model import Predictor, RunMeta, build_classifier, save_model
from curate import schema
from curate.store import open_rgb
from curate.workspace import read_catalog, write_catalog
from tests.helpers import demo_workspace

runner = CliRunner()


# ---------------------------------------------------------------- which photos are scored
def catalog_of(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["photo_id", "owner_id", "status", "drop_reason", "split", "image_path"])


def test_only_off_topic_photos_of_test_photographers_are_scored():
    kept, dropped = schema.KEPT, schema.DROPPED
    catalog = catalog_of([
        ("t1", "alice", kept, None, "test", "a/1.jpg"),         # alice has test photos
        ("s1", "alice", dropped, OFF_TOPIC, None, "a/2.jpg"),   # -> scored
        ("s2", "alice", dropped, OFF_TOPIC, None, None),        # no stored image -> not scored
        ("b1", "alice", dropped, "blurry", None, "a/3.jpg"),    # dropped for another reason -> not scored
        ("r1", "bob", kept, None, "train", "b/1.jpg"),          # bob is a training photographer
        ("s3", "bob", dropped, OFF_TOPIC, None, "b/2.jpg"),     # -> not scored
        ("t2", "carol", kept, None, "test", "c/1.jpg"),
        ("s4", "carol", dropped, OFF_TOPIC, None, "c/2.jpg"),   # -> scored
        ("s5", "dave", dropped, OFF_TOPIC, None, "d/1.jpg"),    # dave has no kept photo at all
        ("t3", "erin", dropped, "geo_outlier", "test", "e/1.jpg"),  # a dropped photo does not make a test owner
        ("s6", "erin", dropped, OFF_TOPIC, None, "e/2.jpg"),
    ])
    picked = off_topic_photos_of(catalog, "test")
    assert sorted(picked["photo_id"]) == ["s1", "s4"]
    assert sorted(off_topic_photos_of(catalog, "train")["photo_id"]) == ["s3"]


# ---------------------------------------------------------------- the scores


def test_answered_means_a_top_probability_of_at_least_one_half():
    probs = np.array([[.9, .05, .05], [.5, .3, .2], [.4, .35, .25], [.34, .33, .33]])
    assert answered_with_label(probs).tolist() == [True, True, False, False]
    result = sandals_score(probs)
    assert (result["photos"], result["answered"], result["gated"]) == (4, 2, 0)
    assert result["answered_share"] == pytest.approx(2 / 4)
    assert result["behind_gate"] is False


def test_a_gate_that_gates_every_off_topic_photo_scores_zero():
    probs = np.array([[.99, .01], [.8, .2], [.1, .9]])  # alone, the model labels all three
    result = sandals_score(probs, topic_scores=[0.01, 0.2, 0.49], gate_threshold=0.5)
    assert result["answered"] == 0 and result["answered_share"] == 0.0
    assert result["gated"] == 3 and result["behind_gate"] is True
    assert result["model_alone_answered_share"] == 1.0


def test_a_gate_only_removes_the_photos_below_its_threshold():
    probs = np.array([[.99, .01], [.8, .2], [.6, .4], [.5, .5]])
    result = sandals_score(probs, topic_scores=[0.9, 0.1, 0.5, 0.2], gate_threshold=0.5)
    assert result["gated"] == 2  # 0.1 and 0.2; a score equal to the threshold passes
    assert result["answered"] == 2


def test_no_off_topic_photo_gives_no_share_rather_than_zero():
    result = sandals_score(np.zeros((0, 3)), np.zeros(0), 0.5)
    assert result["photos"] == 0 and result["answered_share"] is None


def test_wrongly_gated_on_topic_photos_and_the_accuracy_behind_the_gate():
    result = wrongly_gated([0.9, 0.1, 0.8, 0.7, 0.3], 0.5, correct=[True, True, True, False, False])
    assert (result["photos"], result["gated"]) == (5, 2)
    assert result["share"] == pytest.approx(2 / 5)
    # right and not gated: photos 0 and 2
    assert result["accuracy_behind_gate"] == pytest.approx(2 / 5)


# ---------------------------------------------------------------- the headline sentence
def test_the_headline_with_seeds_gives_the_mean_and_its_standard_error():
    worth = [1.0, 3.0, 8.0]
    expected_se = statistics.stdev(worth) / len(worth) ** 0.5
    assert standard_error(worth) == pytest.approx(expected_se)
    line = curation_headline(worth, clean_test_photos=120)
    assert f"{statistics.mean(worth):+.1f} pp" in line
    assert f"s.e. {expected_se:.1f}" in line and "3 training seeds" in line
    assert "120 clean test photos" in line


def test_the_headline_with_one_seed_says_the_standard_error_needs_seeds():
    line = curation_headline([-3.0])
    assert "-3.0 pp" in line and "one training seed" in line
    assert "standard error needs several seeds" in line and "bench/curation_worth.py" in line
    assert "nan" not in line.lower()


def test_the_headline_carries_the_sandals_figures():
    curated = {"photos": 40, "answered_share": 0.05, "behind_gate": True, "model_alone_answered_share": 0.7,
               "on_topic_wrongly_gated": {"photos": 100, "gated": 2, "share": 0.02}}
    uncurated = {"photos": 40, "answered_share": 0.625, "behind_gate": False, "model_alone_answered_share": 0.625}
    sandals = sandals_comparison(curated, uncurated)
    line = curation_headline([2.0, 4.0], sandals=sandals)
    assert "40 off-topic photos" in line
    assert "uncurated model labels 62%" in line or "uncurated model labels 63%" in line
    assert "behind its gate 5%" in line and "2% of on-topic test photos wrongly gated" in line
    assert sandals_comparison(curated, None) == {}  # not measured: no figures, not zeros


# ---------------------------------------------------------------- end to end
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: torch on one thread here


@pytest.fixture(scope="module")
def sandals_ws(tmp_path_factory):
    """A demo workspace split by owner, where one photo of each test photographer with two or more
    test photos, one photo of a training photographer and nothing else is dropped as off-topic
    (what `curate prefilter` would do), plus an untrained run without a gate."""
    root = tmp_path_factory.mktemp("sandals")
    ws = demo_workspace(root / "ws", photos=140, seed=4)
    catalog = read_catalog(ws)
    test = catalog[(catalog["status"] == schema.KEPT) & (catalog["split"] == "test")]
    counts = test["owner_id"].value_counts()
    sandals = test[test["owner_id"].isin(counts[counts >= 2].index)].drop_duplicates("owner_id")
    train_owners = set(catalog.loc[catalog["split"] == "train", "owner_id"]) - set(test["owner_id"])
    train_photo = catalog[(catalog["split"] == "train") & catalog["owner_id"].isin(train_owners)].index[:1]
    off = sandals.index.union(train_photo)
    assert len(sandals) >= 2, "the demo's test split should have photographers with several photos"
    catalog.loc[off, ["status", "drop_reason", "drop_stage", "split"]] = [schema.DROPPED, OFF_TOPIC, "prefilter",
                                                                         None]
    write_catalog(ws, catalog)
    classes = sorted(catalog["label"].dropna().unique())
    model, preprocess = build_classifier("efficientnet_lite0", len(classes), pretrained=False, image_size=64)
    run_dir = root / "run"
    save_model(run_dir, model, RunMeta(classes=classes, backbone="efficientnet_lite0",
                                       preprocess=preprocess.to_dict()))
    return ws, run_dir, sorted(sandals["photo_id"])


def with_gate(run_dir, tmp_path, intercept: float):
    """A copy of the run with a hand-made gate: zero weights, so every score is sigmoid(intercept)."""
    gated = tmp_path / f"gated{intercept:+g}"
    shutil.copytree(run_dir, gated)
    dim = Predictor(run_dir, "cpu").feature_dim
    save_gate(gated, np.zeros(dim, np.float32), intercept, GateMeta(threshold=0.5, calibration="by hand",
                                                                      backbone="efficientnet_lite0"))
    return gated


def test_the_sandals_test_scores_the_off_topic_photos_of_test_photographers(sandals_ws):
    ws, run_dir, expected_ids = sandals_ws
    evaluation = evaluate_run(run_dir, ws, device="cpu", top_losses=1)
    sandals = evaluation.sandals_test
    assert sandals["photos"] == len(expected_ids)  # not the training photographer's off-topic photo
    assert sandals["behind_gate"] is False and sandals["on_topic_wrongly_gated"] is None
    assert sandals["from_labels_mostly_dropped"] == {}  # one photo of each test photographer: no label taken
    # the same model, asked directly, on the same photos
    catalog = read_catalog(ws).set_index("photo_id")
    predictor = Predictor(run_dir, "cpu")
    images = [open_rgb(ws.root / catalog.at[pid, "image_path"], min_side=predictor.preprocess.resize)
              for pid in expected_ids]
    top = predictor.probabilities(images).max(axis=1)
    assert sandals["answered"] == int((top >= 0.5).sum())
    # the same rule on the on-topic test photos: the test's other side
    tests = catalog[(catalog["status"] == "kept") & (catalog["split"] == "test")]
    tests = tests[tests["label"].isin(predictor.classes)]
    on_topic = predictor.probabilities([open_rgb(ws.root / path, min_side=predictor.preprocess.resize)
                                        for path in tests["image_path"]]).max(axis=1)
    assert sandals["on_topic_answered"] == {"photos": len(tests), "answered": int((on_topic >= 0.5).sum()),
                                            "share": pytest.approx(float((on_topic >= 0.5).mean()))}


def test_a_gate_that_gates_everything_answers_no_off_topic_photo_and_gates_every_test_photo(sandals_ws, tmp_path):
    ws, run_dir, expected_ids = sandals_ws
    shut_run = with_gate(run_dir, tmp_path, -20.0)
    shut = evaluate_run(shut_run, ws, device="cpu", top_losses=1)
    assert shut.sandals_test["behind_gate"] is True
    assert shut.sandals_test["answered"] == 0 and shut.sandals_test["gated"] == len(expected_ids)
    wrongly = shut.sandals_test["on_topic_wrongly_gated"]
    assert wrongly["photos"] == shut.report.photos and wrongly["share"] == 1.0
    assert wrongly["accuracy_behind_gate"] == 0.0
    assert shut.sandals_test["on_topic_answered"]["answered"] == 0  # a gate that shuts answers no one

    open_gate = evaluate_run(with_gate(run_dir, tmp_path, 20.0), ws, device="cpu", top_losses=1)
    alone = evaluate_run(run_dir, ws, device="cpu", top_losses=1)
    assert open_gate.sandals_test["gated"] == 0
    assert open_gate.sandals_test["answered"] == alone.sandals_test["answered"]
    assert open_gate.sandals_test["on_topic_wrongly_gated"]["accuracy_behind_gate"] == pytest.approx(
        alone.report.accuracy)
    no_gate = evaluate_run(shut_run, ws, device="cpu", top_losses=1, use_gate=False)
    assert no_gate.sandals_test["behind_gate"] is False


def test_evaluation_json_and_the_summary_carry_the_sandals_test(sandals_ws, tmp_path):
    ws, run_dir, expected_ids = sandals_ws
    gated = with_gate(run_dir, tmp_path, -20.0)
    result = runner.invoke(classify_app, ["evaluate", str(gated), "--workspace", str(ws.root), "--device", "cpu",
                                          "--top-losses", "2"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # however wide the console wraps
    assert "sandals test" in text and f"of {len(expected_ids)} off-topic photos" in text
    assert "behind its gate labels 0%" in text and "by the same rule it labels 0% of the" in text
    saved = json.loads((gated / "evaluation" / "evaluation.json").read_text())
    sandals = saved["sandals_test"]
    for key in ("photos", "answered", "answered_share", "gated", "behind_gate", "model_alone_answered_share",
                "min_probability", "gate_threshold", "on_topic_wrongly_gated", "on_topic_answered", "unreadable"):
        assert key in sandals, key
    assert sandals["photos"] == len(expected_ids) and sandals["answered_share"] == 0.0
    assert sandals["min_probability"] == 0.5 and sandals["gate_threshold"] == 0.5


# ---------------------------------------------------------------- the report's training section
def test_the_report_shows_the_headline_and_the_sandals_test():
    from curate.report.data import training_section
    from curate.report.html_sections import training
    from curate.report.run import evaluation_shape_problem

    headline = curation_headline([2.0, 4.0], clean_test_photos=50)
    evaluation = {"run": "runs/r", "split": "test", "photos": 50, "accuracy": 0.8,
                  "sandals_test": {"summary": "sandals test: of 40 off-topic photos ...", "photos": 40,
                                   "answered_share": 0.05, "behind_gate": True, "model_alone_answered_share": 0.7,
                                   "on_topic_wrongly_gated": {"photos": 50, "gated": 1, "share": 0.02,
                                                              "accuracy_behind_gate": 0.78}},
                  "comparisons": {"uncurated": {"curation_worth_pp": 3.0, "headline": headline, "notes": []}}}
    assert evaluation_shape_problem(evaluation) is None
    section = training_section(evaluation, max_rows=10)
    page = training(section)
    assert headline in page
    assert "Sandals test" in page and "of 40 off-topic photos" in page
    for share in ("5.0%", "70.0%", "2.0%", "78.0%"):  # answered behind the gate, alone, wrongly gated, accuracy
        assert share in page, share
    assert "<td class=\"l\">headline</td>" not in page  # the sentence is not repeated as a table row
    assert "sandals_test" in evaluation_shape_problem({**evaluation, "sandals_test": [1, 2]})


# ---------------------------------------------------------------- `curate run --train`'s last lines
def test_the_curate_run_evaluate_summary_ends_with_the_headline_and_the_sandals_test(monkeypatch, tmp_path):
    from types import SimpleNamespace

    import classify.evaluate_run
    from curate import pipeline

    sandals = {"photos": 40, "answered": 2, "answered_share": 0.05, "gated": 35, "behind_gate": True,
               "model_alone_answered": 28, "model_alone_answered_share": 0.7, "min_probability": 0.5,
               "on_topic_wrongly_gated": {"photos": 100, "gated": 2, "share": 0.02}}
    unmeasured = "warning: 1 of 5 labels has no test photo, so the model is not measured on it: fish; …"
    evaluation = SimpleNamespace(report=SimpleNamespace(accuracy=0.8, photos=100, accuracy_interval=(0.711, 0.867)),
                                 comparisons={},
                                 sandals_test=sandals, warnings=[unmeasured])
    monkeypatch.setattr(classify.evaluate_run, "evaluate_and_write", lambda *a, **k: (evaluation, {}))
    lines = pipeline._evaluate(None, tmp_path, pipeline.EvaluateSettings()).splitlines()
    assert lines[0] == "test accuracy 80.0% on 100 photos (95 % interval 71.1–86.7%)"  # audit BP T3: the interval
    assert lines[1].strip() == unmeasured  # the labels the accuracy leaves out, right below it
    assert "sandals test: of 40 off-topic photos" in lines[-1] and "behind its gate labels 5%" in lines[-1]
    assert "2.0% of 100 on-topic test photos" in lines[-1]

    curated = {**sandals}
    uncurated = {**sandals, "answered_share": 0.6, "behind_gate": False, "on_topic_wrongly_gated": None}
    evaluation.comparisons = {"uncurated": {
        "curation_worth_pp": -3.0, "clean_test_photos": 100, **sandals_comparison(curated, uncurated),
        "uncurated_set": {"photos": 500, "brought_back": 80, "excluded_touching_clean_test": {
            "in_clean_test": 100, "clean_test_owner": 20, "clean_test_duplicate": 1}},
        "sub_run": "trained", "notes": []}}
    text = pipeline._evaluate(None, tmp_path, pipeline.EvaluateSettings(uncurated=True))
    assert "what curation is worth: -3.0 pp" in text and "standard error needs several seeds" in text
    assert "uncurated model labels 60%" in text and "behind its gate 5%" in text
    assert text.count("sandals test") == 1  # the comparison carries it; no second line


def test_the_owner_bootstrap_resamples_photographers_not_photos():
    from classify.compare_scores import owner_bootstrap_se

    same = [{"owner_id": f"o{i}", "photos": 10, "correct": 6} for i in range(8)]
    assert owner_bootstrap_se(same, same) == 0.0  # identical models: no difference to be unsure of
    # curated better by the same 2 photos for every owner: the difference never moves either
    better = [{**row, "correct": 8} for row in same]
    assert owner_bootstrap_se(better, same) == pytest.approx(0.0, abs=1e-9)
    # all of the gain in one photographer's photos: a resample that leaves them out sees none
    lumped = [{**row, "correct": 6 + (16 if row["owner_id"] == "o0" else 0) // 4} for row in same]
    lumped[0]["correct"] = 10
    spread = [{**row, "correct": 6 + (1 if i < 4 else 0)} for i, row in enumerate(same)]
    assert sum(r["correct"] for r in lumped) == sum(r["correct"] for r in spread)
    assert owner_bootstrap_se(lumped, same) > owner_bootstrap_se(spread, same) > 0
    assert owner_bootstrap_se(same[:1], same[:1]) is None  # one photographer: nothing to resample


def test_the_one_seed_headline_gives_the_error_over_test_photographers():
    line = curation_headline([0.6], clean_test_photos=341, owner_se=1.47)
    assert "+0.6 pp (s.e. 1.5 over test photographers, one training seed)" in line
    assert "needs several seeds" not in line and "341 clean test photos" in line


def test_the_headline_says_a_worth_under_two_standard_errors_is_within_noise():
    """Audit EG F6: "worth -9.1 pp (s.e. 7.9)" on 22 photos read as a loss; the README reads its demo's +0.6 pp
    (s.e. 1.3) as "within noise of zero", and so does the line now, for each kind of error it gives."""
    noisy = curation_headline([-9.1], clean_test_photos=22, owner_se=7.9)
    assert noisy.endswith("on the same 22 clean test photos, within noise of zero")
    assert "within noise" in curation_headline([2.5], 40, photo_se=5.4)
    assert "within noise" in curation_headline([1.0, -1.0, 3.0])
    assert "within noise" not in curation_headline([9.1], 22, owner_se=3.0)  # over two standard errors
    assert "within noise" not in curation_headline([2.0, 4.0, 3.0])  # s.e. 0.6
    assert "within noise" not in curation_headline([0.5], 22)  # no error to judge it by


def test_with_no_sandals_photo_the_headline_says_why():
    """Audit EG F6: 26 photos were dropped off topic, all by a photographer with no test photo, and the headline
    said only "no off-topic photo by a test photographer to score"."""
    from classify.compare_scores import sandals_comparison

    curated = {"photos": 0, "answered_share": None, "behind_gate": True, "model_alone_answered_share": None,
               "off_topic_dropped": 26, "off_topic_elsewhere": 26}
    sandals = sandals_comparison(curated, {"photos": 0, "answered_share": None})
    line = curation_headline([-9.1], 22, sandals, owner_se=7.9)
    assert line.endswith("sandals test: no off-topic photo by a test photographer to score (the 26 photos dropped "
                         "as off topic are all by photographers with no photo in the test split)")


def test_without_photographers_the_headline_gives_the_test_photos_error_as_the_report_does():
    """Audit CB F2: with no test photographer to resample, the headline said the standard error "needs several
    seeds" while the report gave one from the test photos beside it."""
    from classify.compare_scores import comparison_lines
    from curate.report.explain import comparison_sentences

    comparison = {"curation_worth_pp": 2.5, "clean_test_photos": 40, "common_test_photos": 40,
                  "curated_accuracy": 0.75, "uncurated_accuracy": 0.725, "curation_worth_se_owners_pp": None,
                  "uncurated_set": {"photos": 300, "brought_back": 20, "excluded_touching_clean_test": {
                      "in_clean_test": 40, "clean_test_owner": 0, "clean_test_duplicate": 0}},
                  "sub_run": "trained", "notes": []}
    expected = 100 * ((0.75 * 0.25 + 0.725 * 0.275) / 40) ** 0.5  # the two binomial errors, as if independent
    [headline] = [line for line in comparison_lines({"uncurated": comparison}) if "curation is worth" in line]
    assert f"+2.5 pp (s.e. about {expected:.1f} from the 40 test photos alone, one training seed)" in headline
    assert "needs several seeds" not in headline
    assert f"Standard error about {expected:.1f} pp from the 40 test photos alone" in \
        comparison_sentences(comparison)["curation_worth_pp"]  # the report's sentence: the same figure


def test_the_report_explains_worth_with_the_error_over_test_photographers():
    from curate.report.explain import comparison_sentences

    base = {"curation_worth_pp": 2.0, "curated_accuracy": 0.8, "uncurated_accuracy": 0.78, "clean_test_photos": 200}
    with_owners = comparison_sentences({**base, "curation_worth_se_owners_pp": 3.14})
    assert "about 3.1 pp over the test photographers" in with_owners["curation_worth_pp"]
    assert "resampled" in with_owners["curation_worth_se_owners_pp"]
    assert "from the 200 test photos alone" in comparison_sentences(base)["curation_worth_pp"]  # older evaluations
