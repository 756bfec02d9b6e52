"""`classify evaluate` says how precise its accuracy is (audit T3: "accuracy 83.3% · macro F1 0.822" on 6 test
photos, where one photo moves the accuracy 17 points, with no word on it): the 95 % Wilson score interval of
the accuracy in evaluation.json and on the summary line, and a warning line under 30 test photos.
scipy's `binomtest(...).proportion_ci(method="wilson")` is the oracle."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.evaluate import evaluate_predictions
from classify.evaluation_files import RunEvaluation
from tests.test_evaluate import demo_and_untrained_run

runner = CliRunner()


def wilson(correct: int, photos: int) -> tuple[float, float]:
    interval = binomtest(correct, photos).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def report_of(correct: int, photos: int):
    """An EvalReport over `photos` photos of two classes, `correct` of them classified right."""
    y_true = np.zeros(photos, np.int64)
    probs = np.tile([0.9, 0.1], (photos, 1))
    probs[correct:] = [0.1, 0.9]  # the others predicted as the second class
    return evaluate_predictions(y_true, probs, ["a", "b"])


@given(photos=st.integers(1, 2000), data=st.data())
def test_the_json_holds_the_wilson_interval_of_the_accuracy_beside_the_old_keys(photos, data):
    correct = data.draw(st.integers(0, photos))
    report = report_of(correct, photos).to_dict()
    low, high = wilson(correct, photos)
    assert report["accuracy_interval_95"]["low"] == pytest.approx(low, abs=1e-9)
    assert report["accuracy_interval_95"]["high"] == pytest.approx(high, abs=1e-9)
    assert report["correct"] == correct and report["photos"] == photos
    assert report["accuracy"] == pytest.approx(correct / photos)  # the existing keys are unchanged
    assert 0 <= report["accuracy_interval_95"]["low"] <= report["accuracy"] <= report["accuracy_interval_95"]["high"]


def warnings_for(correct: int, photos: int, split: str = "test") -> list[str]:
    evaluation = RunEvaluation(run_dir="run", split=split, report=report_of(correct, photos), photos=None)
    return [line for line in evaluation.warnings if line.startswith(f"warning: only {photos} {split} photo")]


def test_the_audits_six_test_photos_get_one_warning_with_the_interval_and_how_to_narrow_it():
    [line] = warnings_for(5, 6)
    low, high = wilson(5, 6)
    spread = 100 * max(5 / 6 - low, high - 5 / 6)
    assert line.startswith("warning: only 6 test photos: accuracy 83.3% is within ")
    assert f"±{spread:.1f} points" in line and f"95 % interval {100 * low:.1f}–{100 * high:.1f}%" in line
    assert "16.7 points" in line  # one photo's worth
    assert "curate split --test" in line and "30" in line  # how to fix it
    assert "\n" not in line


def test_the_warning_is_for_fewer_than_thirty_photos_only():
    for photos in (1, 12, 29):
        assert len(warnings_for(photos // 2, photos)) == 1, photos
    for photos in (30, 31, 500):
        evaluation = RunEvaluation(run_dir="run", split="test", report=report_of(photos // 2, photos), photos=None)
        assert not [line for line in evaluation.warnings if "95 % interval" in line], photos


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A demo workspace whose owner-grouped test split holds fewer than 30 labelled photos, and an untrained
    model of its labels."""
    ws, run_dir, _ = demo_and_untrained_run(tmp_path_factory.mktemp("interval"), 90)
    return ws, run_dir


@pytest.mark.usefixtures("one_torch_thread")
def test_classify_evaluate_prints_the_interval_and_warns_on_a_small_test_split(small_run):
    ws, run_dir = small_run
    result = runner.invoke(classify_app, ["evaluate", str(run_dir), "--workspace", str(ws.root), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    saved = json.loads((run_dir / "evaluation" / "evaluation.json").read_text())
    photos, correct = saved["photos"], saved["correct"]
    assert 0 < photos < 30 and correct == int(np.trace(np.array(saved["confusion"])))
    low, high = wilson(correct, photos)
    assert saved["accuracy_interval_95"]["low"] == pytest.approx(low)
    assert saved["accuracy_interval_95"]["high"] == pytest.approx(high)
    printed = " ".join(result.stdout.split())  # rich may wrap the summary line
    interval = f"95 % interval {100 * low:.1f}–{100 * high:.1f}%"
    assert re.search(rf"{photos} test photos · accuracy {100 * correct / photos:.1f}% \({interval}\) · macro F1",
                     printed), printed
    warned = [line for line in result.stderr.splitlines() if line.startswith(f"warning: only {photos} test photo")]
    assert len(warned) == 1 and interval in warned[0], result.stderr
