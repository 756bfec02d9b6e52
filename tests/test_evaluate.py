"""`classify evaluate`: the pure metrics on hand-computed cases and against scikit-learn, then the
whole command on a small demo workspace with an untrained model (what is measured, not how well)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from sklearn.metrics import precision_recall_fscore_support
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.evaluate import evaluate_predictions, most_confused
from classify.model import RunMeta, build_classifier, save_model
from curate.cli.app import app as curate_app
from curate.demo.config import DemoConfig
from curate.ingest.demo import ingest_demo
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import examples

runner = CliRunner()

# Six photos, three classes. Actual a a a b b c; predicted (argmax) a a b b a a.
CLASSES = ["a", "b", "c"]
Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
PROBS = np.array([[.8, .1, .1], [.6, .3, .1], [.2, .7, .1], [.1, .8, .1], [.5, .4, .1], [.4, .3, .3]])
OWNERS = ["x", "x", "y", "y", "y", "z"]
IDS = [f"p{i}" for i in range(6)]


def test_hand_computed_three_class_case():
    report = evaluate_predictions(Y_TRUE, PROBS, CLASSES, OWNERS, IDS)
    assert report.photos == 6
    assert report.accuracy == pytest.approx(3 / 6)
    assert report.confusion.tolist() == [[2, 1, 0],   # actual a: 2 right, 1 called b
                                         [1, 1, 0],   # actual b: 1 called a, 1 right
                                         [1, 0, 0]]   # actual c: called a
    per_class = report.per_class.set_index("class")
    assert per_class["precision"].tolist()[:2] == pytest.approx([2 / 4, 1 / 2])
    assert math.isnan(per_class.at["c", "precision"])  # never predicted: precision undefined, not 0
    assert per_class["recall"].tolist() == pytest.approx([2 / 3, 1 / 2, 0.0])
    assert per_class["f1"].tolist() == pytest.approx([2 * .5 * (2 / 3) / (.5 + 2 / 3), .5, 0.0])
    assert per_class["support"].tolist() == [3, 2, 1]
    assert per_class["predicted"].tolist() == [4, 2, 0]
    assert report.macro["recall"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert report.mean_loss == pytest.approx(-np.mean(np.log([.8, .6, .2, .8, .4, .3])))


def test_a_class_absent_from_the_test_photos_has_no_recall_and_stays_out_of_the_macro_average():
    report = evaluate_predictions([0, 0, 1], [[.9, .05, .05], [.2, .7, .1], [.1, .8, .1]], CLASSES)
    per_class = report.per_class.set_index("class")
    assert per_class.at["c", "support"] == 0 and math.isnan(per_class.at["c", "recall"])
    assert report.macro["recall"] == pytest.approx((1 / 2 + 1) / 2)
    assert report.to_dict()["per_class"][2]["recall"] is None  # JSON gets null, not NaN
    json.dumps(report.to_dict(), allow_nan=False)


def test_a_class_with_test_photos_never_predicted_counts_in_every_macro_average():
    """Audit DH 5: a class never predicted had no precision and was left out of the macro precision alone (0.905 over
    5 classes beside recall and F1 over 6), so a model that never predicts a class looked more precise."""
    # a: 2 photos, both predicted a; b: 1 photo, predicted a; c: 1 photo, predicted c; b never predicted
    report = evaluate_predictions([0, 0, 1, 2], [[.9, .05, .05], [.8, .1, .1], [.7, .2, .1], [.1, .1, .8]], CLASSES)
    per_class = report.per_class.set_index("class")
    assert math.isnan(per_class.at["b", "precision"])  # not measured for the class itself
    assert report.macro["precision"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert report.macro["recall"] == pytest.approx((1 + 0 + 1) / 3)


def test_most_confused_is_off_diagonal_positive_counts_most_first():
    confusion = np.array([[5, 3, 0],
                          [1, 4, 7],
                          [0, 3, 9]])
    pairs = most_confused(confusion, CLASSES)
    assert list(pairs.itertuples(index=False, name=None)) == [
        ("b", "c", 7), ("a", "b", 3), ("c", "b", 3), ("b", "a", 1)]
    assert most_confused(np.diag([3, 2, 1]), CLASSES).empty


def test_top_losses_are_sorted_and_are_the_cross_entropy_of_the_actual_class():
    report = evaluate_predictions(Y_TRUE, PROBS, CLASSES, OWNERS, IDS, top_losses=4)
    top = report.top_losses
    assert len(top) == 4
    assert top["photo_id"].tolist()[:3] == ["p2", "p5", "p4"]  # p(actual) .2 < .3 < .4
    assert (np.diff(top["loss"]) <= 0).all()
    for row in top.itertuples(index=False):
        i = IDS.index(row.photo_id)
        assert row.loss == pytest.approx(-math.log(PROBS[i, Y_TRUE[i]]))
        assert row.p_actual == pytest.approx(PROBS[i, Y_TRUE[i]])
        assert row.p_predicted == pytest.approx(PROBS[i].max())
        assert row.actual == CLASSES[Y_TRUE[i]] and row.predicted == CLASSES[PROBS[i].argmax()]
    assert len(evaluate_predictions(Y_TRUE, PROBS, CLASSES, top_losses=100).top_losses) == 6


def test_a_zero_probability_for_the_actual_class_gives_a_large_finite_loss():
    report = evaluate_predictions([0], [[0.0, 1.0, 0.0]], CLASSES)
    assert math.isfinite(report.top_losses.at[0, "loss"]) and report.top_losses.at[0, "loss"] > 20


def test_accuracy_per_photographer_on_a_hand_example():
    report = evaluate_predictions(Y_TRUE, PROBS, CLASSES, OWNERS, IDS)
    # right/wrong per photo: T T F T F F  -> x 2/2, y 1/3, z 0/1; most photos first
    assert list(report.per_owner.itertuples(index=False, name=None)) == [
        ("y", 3, 1, pytest.approx(1 / 3)), ("x", 2, 2, 1.0), ("z", 1, 0, 0.0)]
    unknown = evaluate_predictions(Y_TRUE, PROBS, CLASSES, owners=[None, None, "x", "x", None, "x"])
    assert dict(zip(unknown.per_owner["owner_id"], unknown.per_owner["photos"])) == {"(unknown)": 3, "x": 3}


@pytest.mark.parametrize("y_true, probs", [
    ([0, 1], [[.5, .5, 0]]),          # lengths differ
    ([0, 1], [[.5, .5], [.5, .5]]),   # two columns for three classes
    ([0, 3], [[1, 0, 0], [1, 0, 0]]),  # class index out of range
    ([], np.zeros((0, 3))),           # nothing to evaluate
])
def test_malformed_input_is_refused(y_true, probs):
    with pytest.raises(ValueError):
        evaluate_predictions(y_true, probs, CLASSES)


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    arrays(np.int64, n, elements=st.integers(0, 3)),
    arrays(np.float64, (n, 4), elements=st.floats(0.01, 1.0)))))
def test_invariants_and_agreement_with_scikit_learn(case):
    y_true, weights = case
    probs = weights / weights.sum(axis=1, keepdims=True)
    classes = ["w", "x", "y", "z"]
    report = evaluate_predictions(y_true, probs, classes)
    y_pred = probs.argmax(axis=1)
    assert report.confusion.sum() == len(y_true)
    assert report.confusion.trace() / len(y_true) == pytest.approx(report.accuracy)
    assert report.most_confused["count"].sum() == len(y_true) - report.confusion.trace()
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=range(4), zero_division=np.nan)
    np.testing.assert_allclose(report.per_class["precision"], precision, equal_nan=True)
    np.testing.assert_allclose(report.per_class["recall"], recall, equal_nan=True)
    np.testing.assert_allclose(report.per_class["f1"], f1, equal_nan=True)
    assert report.per_class["support"].tolist() == support.tolist()


# --- end to end: demo workspace, `curate split`, an untrained model --------------------------

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: torch on one thread here


def demo_and_untrained_run(root, photos: int):
    """(workspace, run folder, classes): a split demo workspace of `photos` 64x48 photos and an untrained model
    of its labels (also tests/test_eval_interval.py's)."""
    ws = Workspace(root / "ws")
    ingest_demo(ws, DemoConfig(photos=photos, seed=5, image_width=64, image_height=48), images=True, workers=2)
    result = runner.invoke(curate_app, ["split", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    classes = sorted(read_catalog(ws)["label"].dropna().unique())
    model, preprocess = build_classifier("efficientnet_lite0", len(classes), pretrained=False, image_size=64)
    run_dir = root / "run"
    save_model(run_dir, model, RunMeta(classes=classes, backbone="efficientnet_lite0",
                                       preprocess=preprocess.to_dict()))
    return ws, run_dir, classes


@pytest.fixture(scope="module")
def workspace_and_run(tmp_path_factory):
    return demo_and_untrained_run(tmp_path_factory.mktemp("evaluate"), 150)


def evaluate(run_dir, ws, *extra):
    return runner.invoke(classify_app, ["evaluate", str(run_dir), "--workspace", str(ws.root),
                                        "--device", "cpu", *extra])


def test_evaluate_scores_every_readable_test_photo_and_writes_the_report(workspace_and_run):
    ws, run_dir, classes = workspace_and_run
    catalog = read_catalog(ws)
    test = catalog[(catalog["status"] == "kept") & (catalog["split"] == "test")]
    known = test["label"].isin(classes)
    assert known.sum() > 0 and (~known).sum() > 0  # the demo's test split has an unlabelled photo

    result = evaluate(run_dir, ws, "--json", "--top-losses", "5")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    out = run_dir / "evaluation"
    saved = json.loads((out / "evaluation.json").read_text())
    for report in (printed, saved):
        assert np.array(report["confusion"]).sum() == known.sum() == report["photos"]
        assert sum(report["skipped"]["unknown_label"].values()) == (~known).sum()
        assert report["classes"] == classes
    assert np.array(saved["confusion"]).shape == (len(classes), len(classes))
    for name in ("confusion.png", "top_losses.png"):
        with Image.open(out / name) as image:
            image.verify()
            assert image.format == "PNG"
    assert len((out / "per_class.csv").read_text().splitlines()) == 1 + len(classes)
    assert len((out / "top_losses.csv").read_text().splitlines()) == 1 + 5
    owners = (out / "per_owner.csv").read_text().splitlines()
    assert len(owners) == 1 + test.loc[known, "owner_id"].nunique()


def test_unreadable_images_are_counted_and_skipped(workspace_and_run, tmp_path):
    ws, run_dir, classes = workspace_and_run
    copy = Workspace(tmp_path / "ws")
    shutil.copytree(ws.root, copy.root)
    catalog = read_catalog(copy)
    test = catalog[(catalog["status"] == "kept") & (catalog["split"] == "test") & catalog["label"].isin(classes)]
    broken = test["photo_id"].iloc[0]
    (copy.root / test["image_path"].iloc[0]).write_bytes(b"not an image")
    result = evaluate(run_dir, copy, "--top-losses", "2")
    assert result.exit_code == 0, result.output
    assert "unreadable" in result.stderr and broken in result.stderr
    assert "accuracy" in result.stdout and "most confused" in result.stdout  # the tables, not JSON
    assert str(run_dir / "evaluation") in result.stdout.replace("\n", "")
    report = json.loads((run_dir / "evaluation" / "evaluation.json").read_text())
    assert report["photos"] == len(test) - 1 == np.array(report["confusion"]).sum()
    assert [row["photo_id"] for row in report["skipped"]["unreadable"]] == [broken]
    # in the words predict uses (it was a Python exception's repr with a file handle in it)
    assert report["skipped"]["unreadable"][0]["reason"].startswith("not_an_image")


def test_when_no_test_image_can_be_read_it_is_a_data_error(workspace_and_run, tmp_path):
    ws, run_dir, _ = workspace_and_run
    copy = Workspace(tmp_path / "ws")
    shutil.copytree(ws.root, copy.root)
    shutil.rmtree(copy.images_dir)
    result = evaluate(run_dir, copy)
    assert result.exit_code == 3 and "could be read" in result.output and "Traceback" not in result.output


def test_a_catalog_without_a_split_is_a_usage_error(workspace_and_run, tmp_path):
    ws, run_dir, _ = workspace_and_run
    unsplit = Workspace(tmp_path / "unsplit")
    write_catalog(unsplit, read_catalog(ws).assign(split=None))
    result = evaluate(run_dir, unsplit)
    assert result.exit_code == 2
    assert "curate split" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_folder_that_is_not_a_run_is_a_usage_error(workspace_and_run, tmp_path):
    ws, _, _ = workspace_and_run
    result = evaluate(tmp_path, ws)
    assert result.exit_code == 2 and "classify train" in result.output and "Traceback" not in result.output


def test_labels_with_no_test_photo_are_named_in_one_warning_and_listed_in_the_json(workspace_and_run, tmp_path):
    """The long-tail audit's finding 4: the macro F1 left out 5 of 16 labels (no test photo) without a word."""
    ws, _, classes = workspace_and_run
    catalog = read_catalog(ws)
    test = catalog[(catalog["status"] == "kept") & (catalog["split"] == "test")]
    run_classes = sorted([*classes, "aardvark", "zebra"])  # two labels the catalog never had
    model, preprocess = build_classifier("efficientnet_lite0", len(run_classes), pretrained=False, image_size=64)
    save_model(tmp_path / "run", model, RunMeta(classes=run_classes, backbone="efficientnet_lite0",
                                                preprocess=preprocess.to_dict()))
    unmeasured = [name for name in run_classes if not (test["label"] == name).any()]
    assert {"aardvark", "zebra"} <= set(unmeasured)

    result = evaluate(tmp_path / "run", ws, "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["classes_without_photos"] == unmeasured
    measured = [row["f1"] for row in report["per_class"] if row["class"] not in unmeasured]
    assert report["macro"]["f1"] == pytest.approx(np.mean(measured))
    warnings = [line for line in result.stderr.splitlines()  # the few-test-photos line: tests/test_eval_interval.py
                if line.startswith("warning:") and not line.startswith("warning: only ")]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"warning: {len(unmeasured)} of {len(run_classes)} labels have no test photo")
    assert f": {', '.join(unmeasured)};" in warnings[0]
    assert warnings[0].endswith(f"over the other {len(run_classes) - len(unmeasured)} labels")

    again = evaluate(tmp_path / "run", ws)  # the tables: the same line on stderr, stdout unchanged in kind
    assert again.exit_code == 0 and warnings[0] in again.stderr.splitlines()
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
            for line in again.stdout.splitlines() if line.count("│") >= 7}
    for name in unmeasured:  # precision, recall, f1, support, predicted: no F1 shown without a test photo
        assert rows[name][1:4] == ["", "", "0"], rows[name]
    measured_row = rows[next(name for name in run_classes if name not in unmeasured)]
    assert measured_row[2] != ""


def test_the_printed_table_leaves_f1_empty_for_a_predicted_label_with_no_test_photo():
    """scikit-learn (and the JSON) count F1 0 for a label predicted but never present: printed beside the
    headline it read as a broken class (all-real-photos audit, finding 7)."""
    from classify.commands.evaluate import _per_class_shown
    from classify.evaluate import per_class_metrics

    per_class = per_class_metrics(np.array([[3, 1], [0, 0]]), ["a", "b"])
    assert per_class.at[1, "f1"] == 0.0  # what is computed and written stays as scikit-learn has it
    shown = _per_class_shown(per_class).set_index("class")
    assert math.isnan(shown.at["b", "f1"]) and shown.at["b", "precision"] == 0.0
    assert shown.at["a", "f1"] == pytest.approx(round(6 / 7, 3))


def test_the_sandals_line_names_the_split_it_scored():
    """Audit AN: `classify evaluate --split train` said "off-topic photos by test photographers" and "on-topic
    test photos" of the train split."""
    from classify.evaluate import sandals_summary

    scored = {"photos": 16, "behind_gate": False, "answered_share": 0.25,
              "on_topic_answered": {"photos": 68, "share": 0.9}}
    line = sandals_summary(scored, split="train")
    assert "16 off-topic photos by train photographers" in line and "68 on-topic train photos" in line
    assert "test photo" not in line
    assert "by test photographers" in sandals_summary(scored)
    assert sandals_summary({"photos": 0}, split="val") == \
        "sandals test: no off-topic photo by a val photographer to score"


def test_with_no_photo_to_score_the_sandals_line_says_how_many_were_dropped_off_topic_and_why():
    """Audit EG F6: 26 photos were dropped as off topic, all by a photographer with no kept photo (so in no split),
    and the line said only "no off-topic photo by a test photographer to score"."""
    import pandas as pd

    from classify.evaluate import sandals_summary
    from classify.evaluate_photos import off_topic_counts

    catalog = pd.DataFrame({"photo_id": [f"p{i}" for i in range(6)], "owner_id": ["sole"] * 3 + ["a", "a", "b"],
                            "status": ["dropped"] * 3 + ["kept", "kept", "dropped"],
                            "drop_reason": ["off_topic"] * 3 + [None, None, "geo_outlier"],
                            "split": [None] * 3 + ["test", "train", None]})
    counts = off_topic_counts(catalog)
    assert counts == {"off_topic_dropped": 3, "off_topic_elsewhere": 3}
    assert sandals_summary({"photos": 0, **counts}) == (
        "sandals test: no off-topic photo by a test photographer to score (the 3 photos dropped as off topic are "
        "all by photographers with no photo in the test split)")
    assert sandals_summary({"photos": 0, **off_topic_counts(catalog.iloc[3:])}).endswith(
        "(the prefilter dropped no photo as off topic)")
    catalog.loc[0, "owner_id"] = "a"  # a test photographer's, but its image unreadable: not scored either
    assert sandals_summary({"photos": 0, **off_topic_counts(catalog)}, split="test").endswith(
        "(of the 3 photos dropped as off topic, 2 are by photographers with no photo in the test split and the "
        "rest have no readable image)")


def test_the_sandals_line_says_when_its_photos_are_a_label_the_prefilter_took():
    """Audit CD MED-2: under a forced cut that took most of a label the topic did not describe (vehicles under
    `animal`), 13 of the 17 "off-topic" photos were vehicles, and the line called refusing them a pass."""
    import pandas as pd

    from classify.evaluate import sandals_summary
    from classify.evaluate_photos import labels_mostly_taken, off_topic_photos_of

    rows = [("v", "vehicles", "dropped", "off_topic", "test") for _ in range(9)]
    rows += [("v", "vehicles", "kept", None, "test")] + [("d", "dogs", "kept", None, "test")] * 10
    rows += [("d", "dogs", "dropped", "off_topic", None)] * 2  # one photographer's sandals under dogs
    catalog = pd.DataFrame([{"photo_id": f"p{i}", "owner_id": owner, "label": label, "status": status,
                             "drop_reason": reason, "split": split, "image_path": f"images/{i}.jpg"}
                            for i, (owner, label, status, reason, split) in enumerate(rows)])
    photos = off_topic_photos_of(catalog)
    assert len(photos) == 11 and labels_mostly_taken(catalog, photos) == {"vehicles": 9}
    scored = {"photos": 11, "behind_gate": True, "answered_share": 0.0, "model_alone_answered_share": 0.6,
              "from_labels_mostly_dropped": {"vehicles": 9}}
    line = sandals_summary(scored)
    assert line.endswith("; 9 of these photos are filed under labels the pre-classifier dropped most of (vehicles 9): "
                         "if those labels belong in the collection, refusing them is a loss, not a pass")
    assert "filed under" not in sandals_summary({**scored, "from_labels_mostly_dropped": {}})


def test_an_evaluation_on_another_workspace_is_written_beside_the_runs_own(tmp_path):
    """Audit DH 4: `classify evaluate RUN -w OTHER` wrote RUN/evaluation/, so `curate report` on the run's own
    workspace showed the other collection's figures (81.2 % on 16 photos for 90.2 % on 41)."""
    from classify.evaluation_files import evaluation_folder, foreign_workspace
    from curate.workspace import Workspace

    home, other = tmp_path / "home", tmp_path / "night"
    for root in (home, other):
        (root / "runs").mkdir(parents=True)
        (root / "catalog.parquet").write_bytes(b"")
    run = home / "runs" / "probe"
    run.mkdir()
    assert foreign_workspace(run, Workspace(home)) is None
    assert foreign_workspace(run, Workspace(other)) == "night"
    assert foreign_workspace(tmp_path / "loose" / "run", Workspace(other)) is None  # a run kept outside (--out)
    assert evaluation_folder(run, "test", foreign_workspace(run, Workspace(other))) == run / "evaluation-on-night"
    trial = home / "runs" / "search" / "trial-3"  # `classify tune`'s trials lie deeper (review DJ 5)
    trial.mkdir(parents=True)
    assert foreign_workspace(trial, Workspace(other)) == "night" and foreign_workspace(trial, Workspace(home)) is None
