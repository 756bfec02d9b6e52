"""The topic gate at prediction time (issue K): `curate prefilter` saves its topic model,
`classify train` fits a gate on the trained model's pooled features (never on test owners'
photos), `classify predict` and `classify serve` answer off_topic below it, `--no-gate` does not.

The end-to-end fixture is a small demo collection taken through the real pipeline (filter, embed,
prefilter, split, a tiny CPU training); the oracle for "off topic" is the demo's ground truth.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import requests
import uvicorn
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.gate import GATE_META, GATE_WEIGHTS, OFF_TOPIC, choose_threshold, gate_rows, load_gate
from classify.model import Predictor, RunMeta
from classify.train import TrainConfig, train
from curate import schema
from curate.errors import UsageError
from curate.prefilter.run import TOPIC_META, TOPIC_WEIGHTS, save_topic_model, topic_model_dir
from curate.prefilter.stage import PrefilterConfig
from curate.prefilter.topic import fit_topic_model
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import demo_workspace, start_server
from tests.test_prefilter import run as run_prefilter_stage
from tests.test_prefilter import synthetic

runner = CliRunner()
TINY = dict(image_size=48, cache_side=56, batch_size=16, workers=0, head_epochs=1, epochs=1, device="cpu")
PIPELINE = (("embed", "--image-size", "64", "--workers", "0"), ("filter", "--recipe", "skylines"),
            ("prefilter", "--recipe", "skylines", "--folds", "4"), ("split",))


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """(workspace, run dir, catalog, truth) after the real pipeline and a tiny training."""
    root = tmp_path_factory.mktemp("gate")
    ws = demo_workspace(root, photos=240, seed=5, commands=PIPELINE)
    trainer = train(ws, root / "run", TrainConfig(**TINY))
    assert trainer.gate and trainer.gate["fitted"], trainer.gate
    return ws, root / "run", read_catalog(ws), pd.read_parquet(ws.truth_path).set_index("photo_id")


def test_prefilter_drops_off_topic_photos_in_the_fixture(gated):
    """The premise of every test below: the real prefilter dropped photos as off topic, and said
    where it saved its topic model."""
    ws, _, catalog, _ = gated
    assert (catalog["drop_reason"] == OFF_TOPIC).sum() >= 10
    report = json.loads((ws.root / "reports" / "prefilter.json").read_text())
    assert any("topic model saved" in note for note in report["notes"])
    assert report["topic_model"]["weights_sha256"] == json.loads((topic_model_dir(ws) / TOPIC_META).read_text())[
        "weights_sha256"]


def test_the_gate_never_sees_test_owners_photos(gated):
    _, _, catalog, _ = gated
    positives, negatives = gate_rows(catalog)
    test_owners = set(catalog.loc[catalog["split"] == "test", "owner_id"])
    assert len(negatives) and not set(negatives["owner_id"]) & test_owners
    assert set(positives["split"]) <= {"train", "val"}
    # the test owners' off-topic photos exist, and are exactly what the gate left out
    off = catalog[(catalog["drop_reason"] == OFF_TOPIC)]
    assert off["owner_id"].isin(test_owners).any()
    assert set(negatives["photo_id"]) == set(off.loc[~off["owner_id"].isin(test_owners), "photo_id"])


def test_gate_files_record_the_run_catalog_and_prefilter_model(gated):
    ws, run, _, _ = gated
    meta = json.loads((run / GATE_META).read_text())
    topic = json.loads((topic_model_dir(ws) / TOPIC_META).read_text())
    run_meta = RunMeta.from_file(run / "model.json")
    assert 0 < meta["threshold"] < 1 and meta["calibration"].startswith("youden")
    assert meta["backbone"] == run_meta.backbone and meta["catalog_sha256"] == run_meta.catalog_sha256
    assert meta["prefilter_model_sha256"] == topic["weights_sha256"]
    assert meta["topic"] == "skyline" and meta["counts"]["off_topic"] > 0
    assert run_meta.gate["fitted"] and run_meta.gate["files"] == [GATE_WEIGHTS, GATE_META]
    assert load_gate(run).threshold == pytest.approx(meta["threshold"])
    from classify.cli import gate_line

    line = gate_line(run_meta.gate)
    assert line.startswith("topic gate: threshold") and f"{meta['counts']['off_topic']:,} off-topic" in line


def _photos(ws, catalog, truth, on_topic: bool, test_owners_only: bool = True) -> list:
    test_owners = set(catalog.loc[catalog["split"] == "test", "owner_id"])
    is_on = catalog["photo_id"].map(truth["is_on_topic"]).astype(bool)
    chosen = catalog[(is_on == on_topic) & catalog["image_path"].notna()
                     & (catalog["owner_id"].isin(test_owners) if test_owners_only else True)]
    if on_topic:
        chosen = chosen[(chosen["split"] == "test") & (chosen["status"] == schema.KEPT)]
    else:
        chosen = chosen[chosen["drop_reason"] == OFF_TOPIC]
    return [ws.root / path for path in chosen["image_path"]]


def _predict_csv(run, files, tmp_path, *flags) -> list[dict]:
    out = tmp_path / "predictions.csv"
    result = runner.invoke(classify_app, ["predict", str(run), *map(str, files), "--out", str(out), "--device", "cpu",
                                          *flags])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(out.open())), result.output


def test_gated_predict_answers_off_topic_for_off_topic_photos_and_a_label_for_on_topic_ones(gated, tmp_path):
    """Test owners' photos: off-topic ones the gate never saw, on-topic ones of the test split."""
    ws, run, catalog, truth = gated
    off, on = _photos(ws, catalog, truth, False), _photos(ws, catalog, truth, True)
    assert off and on
    rows, output = _predict_csv(run, off + on, tmp_path)
    labels = [row["label"] for row in rows]
    gated_off = np.mean([label == OFF_TOPIC for label in labels[:len(off)]])
    gated_on = np.mean([label == OFF_TOPIC for label in labels[len(off):]])
    assert gated_off >= 0.8 and gated_on <= 0.2, (gated_off, gated_on)
    threshold = load_gate(run).threshold
    for row in rows:
        score = float(row["topic_score"])
        assert 0 <= score <= 1
        assert (row["label"] == OFF_TOPIC) == (score < threshold)
        assert row["label"] in (OFF_TOPIC, row["label_1"])
    assert "answered off_topic by the gate" in output


def test_no_gate_answers_with_the_classifier_alone(gated, tmp_path):
    ws, run, catalog, truth = gated
    off = _photos(ws, catalog, truth, False)[:3]
    rows, output = _predict_csv(run, off, tmp_path, "--no-gate")
    assert rows and "label" not in rows[0] and "topic_score" not in rows[0]
    assert all(row["label_1"] != OFF_TOPIC for row in rows)
    assert "off_topic" not in output


def test_a_run_without_a_gate_predicts_as_before_and_says_so_once(gated, tmp_path):
    ws, run, catalog, truth = gated
    plain = tmp_path / "plain"
    shutil.copytree(run, plain)
    (plain / GATE_WEIGHTS).unlink()
    (plain / GATE_META).unlink()
    rows, output = _predict_csv(plain, _photos(ws, catalog, truth, False)[:2], tmp_path)
    assert "label" not in rows[0] and output.count("no topic gate") == 1


def test_a_damaged_gate_is_one_line_with_exit_2(gated, tmp_path):
    ws, run, catalog, truth = gated
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / GATE_META).write_text("{not json")
    photo = _photos(ws, catalog, truth, True)[0]
    result = runner.invoke(classify_app, ["predict", str(broken), str(photo), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 2 and "--no-gate" in result.output and "Traceback" not in result.output
    with pytest.raises(UsageError):
        load_gate(broken)


@contextlib.contextmanager
def served(app_):
    """A real uvicorn server for `app_` on 127.0.0.1 (a free port); yields its base URL."""
    server, thread, url = start_server(app_)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def _serve_app(run, *flags, monkeypatch):
    """The app `classify serve RUN [flags]` would run (uvicorn.run replaced), and its output."""
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app_, **_: started.update(app=app_))
    result = runner.invoke(classify_app, ["serve", str(run), "--device", "cpu", "--port", "0", *flags])
    assert result.exit_code == 0, result.output
    return started["app"], result.output


def _post(url: str, path) -> dict:
    answer = requests.post(f"{url}/predict", files={"file": (path.name, path.read_bytes(), "image/jpeg")}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_served_answers_say_off_topic_and_no_gate_bypasses(gated, monkeypatch):
    ws, run, catalog, truth = gated
    threshold = load_gate(run).threshold
    off, on = _photos(ws, catalog, truth, False)[:3], _photos(ws, catalog, truth, True)[:3]
    gated_app, output = _serve_app(run, monkeypatch=monkeypatch)
    plain_app, plain_output = _serve_app(run, "--no-gate", monkeypatch=monkeypatch)
    assert "topic gate at" in output and "no topic gate" in plain_output
    with served(gated_app) as gated_url, served(plain_app) as plain_url:
        answers = [_post(gated_url, path) for path in off + on]
        plain = [_post(plain_url, path) for path in off + on]
        assert requests.get(f"{gated_url}/health", timeout=10).json()["gate_threshold"] == pytest.approx(threshold)
        assert "gate_threshold" not in requests.get(f"{plain_url}/health", timeout=10).json()
    for answer, alone in zip(answers, plain):
        assert answer["off_topic"] == (answer["topic_score"] < threshold)
        assert "off_topic" not in alone and "topic_score" not in alone
        assert answer["predictions"] == alone["predictions"]  # the gate never changes the labels
    assert sum(a["off_topic"] for a in answers[:len(off)]) >= 2  # test owners' off-topic photos
    assert sum(a["off_topic"] for a in answers[len(off):]) <= 1  # on-topic test photos


def test_a_gate_from_another_model_is_refused_before_serving(gated, tmp_path, monkeypatch):
    from classify.gate import save_gate

    _, run, _, _ = gated
    other = tmp_path / "other"
    shutil.copytree(run, other)
    gate = load_gate(run)
    save_gate(other, gate.coef[:100], gate.intercept, gate.meta)  # a gate over 100 features
    monkeypatch.setattr(uvicorn, "run", lambda *_, **__: pytest.fail("served a gate that cannot fit"))
    result = runner.invoke(classify_app, ["serve", str(other), "--device", "cpu", "--port", "0"])
    assert result.exit_code == 2 and "different runs" in result.output and "Traceback" not in result.output
    monkeypatch.setattr(uvicorn, "run", lambda *_, **__: None)
    plain = runner.invoke(classify_app, ["serve", str(other), "--device", "cpu", "--port", "0", "--no-gate"])
    assert plain.exit_code == 0


def test_served_and_predicted_topic_scores_agree(gated, tmp_path):
    from classify.serve import create_app

    ws, run, catalog, truth = gated
    photos = _photos(ws, catalog, truth, False)[:2] + _photos(ws, catalog, truth, True)[:2]
    rows, _ = _predict_csv(run, photos, tmp_path)
    with served(create_app(Predictor(run, "cpu"), gate=load_gate(run))) as url:
        answers = [_post(url, path) for path in photos]
    for answer, row in zip(answers, rows):
        assert answer["topic_score"] == pytest.approx(float(row["topic_score"]), abs=1e-4)
        assert answer["off_topic"] == (row["label"] == OFF_TOPIC)


def test_training_without_off_topic_photos_fits_no_gate_and_says_why(gated, tmp_path):
    """E.g. the uncurated variant `classify evaluate` trains (no prefilter drops): no gate, said once."""
    ws, _, catalog, _ = gated
    no_off = catalog.copy()
    off = no_off["drop_reason"] == OFF_TOPIC
    no_off.loc[off, "status"] = schema.KEPT
    no_off.loc[off, ["drop_reason", "drop_stage"]] = None  # kept but without a split: not training data
    old = tmp_path / "run"
    trainer = train(ws, old, TrainConfig(**{**TINY, "epochs": 0}), catalog=no_off)
    assert trainer.gate["fitted"] is False and "off_topic" in trainer.gate["reason"]
    assert load_gate(old) is None
    assert RunMeta.from_file(old / "model.json").gate["fitted"] is False
    from classify.cli import gate_line

    assert gate_line(trainer.gate).startswith("topic gate: none")


# ------------------------------------------------------------------ pure parts

def test_threshold_is_lowered_so_few_on_topic_val_photos_are_gated():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.uniform(0.0, 0.5, 100), rng.uniform(0.3, 1.0, 100)]
    on_topic = np.r_[np.zeros(100, bool), np.ones(100, bool)]
    is_val = on_topic.copy()
    threshold, how = choose_threshold(scores, on_topic, is_val)
    assert np.mean(scores[on_topic] < threshold) <= 0.03
    assert "lowered" in how


def test_prefilter_saves_its_topic_model_atomically_with_its_json(tmp_path):
    catalog, vectors, _, truth = synthetic(seed=3)
    ws = Workspace(tmp_path)
    write_catalog(ws, catalog)
    config = PrefilterConfig(topic="skyline")
    result, report = run_prefilter_stage(catalog, vectors, config)
    model = fit_topic_model(result, vectors, config)
    meta = save_topic_model(ws, model, report, "efficientnet_lite0-128px", "inputhash")
    folder = topic_model_dir(ws)
    assert sorted(p.name for p in folder.iterdir()) == [TOPIC_META, TOPIC_WEIGHTS]  # no temp files left
    written = json.loads((folder / TOPIC_META).read_text())
    assert written == meta
    assert written["backbone"] == "efficientnet_lite0" and written["embedding_cache_key"] == "efficientnet_lite0-128px"
    assert written["threshold"] == report.threshold and written["calibration"] == report.threshold_method
    assert written["topic"] == "skyline" and written["catalog_sha256"] == "inputhash"
    assert written["weights_sha256"] == hashlib.sha256((folder / TOPIC_WEIGHTS).read_bytes()).hexdigest()
    # the saved weights separate the true topic (the synthetic truth, not the tags they were fitted on)
    from safetensors.numpy import load_file

    from classify.gate import Gate, GateMeta

    tensors = load_file(folder / TOPIC_WEIGHTS)
    gate = Gate(tensors["coef"].astype(float), float(tensors["intercept"][0]), GateMeta(written["threshold"], "", ""))
    on = gate.scores(vectors) >= written["threshold"]
    assert np.mean(on == truth["on_topic"]) >= 0.9
    # no model (finetune mode): the old files go, so no stale model outlives its prefilter
    assert save_topic_model(ws, None, report, None, "inputhash") is None
    assert not any(folder.iterdir())


def test_gate_rows_leave_out_every_photo_of_a_test_owner():
    catalog = pd.DataFrame({
        "photo_id": list("abcdef"), "owner_id": ["o1", "o1", "o2", "o3", "o3", "o4"],
        "status": [schema.KEPT, schema.DROPPED, schema.DROPPED, schema.KEPT, schema.DROPPED, schema.DROPPED],
        "drop_reason": [None, OFF_TOPIC, OFF_TOPIC, None, OFF_TOPIC, "duplicate"],
        "split": ["test", None, None, "train", None, None], "label": ["x", None, None, "y", None, None],
        "image_path": [f"images/{c}.jpg" for c in "abcdef"], "sha256": list("123456")})
    positives, negatives = gate_rows(catalog)
    assert positives["photo_id"].tolist() == ["d"]
    assert sorted(negatives["photo_id"]) == ["c", "e"]  # b is a test owner's; f was not dropped as off topic


def test_gate_scores_refuse_features_of_another_width():
    from classify.gate import Gate, GateMeta

    gate = Gate(np.ones(4), 0.0, GateMeta(0.5, "fixed", "x"))
    with pytest.raises(UsageError, match="different runs"):
        gate.scores(np.ones((2, 3)))


def test_fit_gate_separates_topics_and_needs_two_photographers_per_side():
    from classify.gate import Gate, GateMeta, fit_gate

    rng = np.random.default_rng(1)
    on_topic = np.r_[np.ones(120, bool), np.zeros(60, bool)]
    centre = np.where(on_topic[:, None], np.r_[np.ones(8), np.zeros(8)], np.r_[np.zeros(8), np.ones(8)])
    features = centre + 0.3 * rng.normal(size=(180, 16))
    groups, is_val = np.arange(180) // 6, np.arange(180) % 4 == 0
    coef, intercept, threshold, how, counts = fit_gate(features, on_topic, groups, is_val)
    scores = Gate(coef, intercept, GateMeta(threshold, how, "x")).scores(features)
    assert np.mean((scores >= threshold) == on_topic) >= 0.95
    assert counts["on_topic"] == 120 and counts["off_topic"] == 60 and counts["on_topic_val_gated_oof"] <= 0.03
    one_owner = np.where(on_topic, groups, 999)  # every off-topic photo by one photographer
    with pytest.raises(UsageError, match="two photographers"):
        fit_gate(features, on_topic, one_owner, is_val)


def test_gate_variants_bench_counts_prefilter_false_drops_apart():
    """bench/gate_variants.py's bookkeeping: a sandals photo is answered only when the gate lets it
    through AND the classifier is sure (p >= 0.5); truly on-topic ones (prefilter false drops) are
    counted apart from the truly off-topic share."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "gate_variants.py"
    spec = importlib.util.spec_from_file_location("gate_variants", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    scores = np.array([0.9, 0.9, 0.2, 0.9, 0.8, 0.1, 0.6, 0.7])  # rows 0-3 sandals, 4-7 on-topic test
    maxp = np.array([0.8, 0.4, 0.9, 0.7, 0.9, 0.9, 0.9, 0.9])
    fitted = bench.Fitted(scores, 0.5, oof=np.array([0.2, 0.6, 0.9]))
    y = np.array([0, 0, 1])
    truly_on = np.array([False, False, False, True])
    out = bench.score_run(fitted, maxp, np.arange(4), np.arange(4, 8), truly_on, y)
    assert out["sandals_answered"] == pytest.approx(2 / 4)  # row 1: unsure; row 2: gated
    assert out["truly_off_answered"] == pytest.approx(1 / 3) and out["truly_on_answered"] == 1
    assert out["wrongly_gated"] == pytest.approx(1 / 4) and out["oof_off_topic_gated"] == pytest.approx(1 / 2)


# ------------------------------------------------------------------ --off-topic-class (outlier exposure)

def test_off_topic_class_trains_a_hidden_output_on_the_gates_negatives_only(gated, tmp_path):
    """The extra class learns the prefilter's off-topic photos of train/val photographers; callers
    see the labels only, and the test photographers' off-topic photos stay unseen (the sandals test)."""
    import torch

    from classify.data import transforms
    from classify.model import load_model
    from classify.trainer import OFF_TOPIC_CLASS, off_topic_rows
    from curate.vision.images import prepare

    ws, _, catalog, truth = gated
    run = tmp_path / "oe"
    # three frozen-backbone epochs: enough for the ImageNet features to tell sandals from skylines
    trainer = train(ws, run, TrainConfig(**{**TINY, "off_topic_class": True, "head_epochs": 3, "epochs": 0,
                                            "lr": 3e-3}))
    negatives = off_topic_rows(catalog)
    test_owners = set(catalog.loc[catalog["split"] == "test", "owner_id"])
    assert len(negatives) and not set(negatives["owner_id"]) & test_owners
    trained = trainer.data["train"]
    hidden = trained.dataset.targets == len(trainer.classes)
    assert set(trained.rows.loc[hidden, "photo_id"]) == set(negatives["photo_id"])
    assert (trained.rows.loc[hidden, "label"] == OFF_TOPIC_CLASS).all()
    assert OFF_TOPIC_CLASS not in trainer.classes and trainer.outputs[-1] == OFF_TOPIC_CLASS
    meta = RunMeta.from_file(run / "model.json")
    assert meta.off_topic_output and meta.classes == trainer.classes
    assert meta.metrics["off_topic_train_photos"] == int(hidden.sum())
    assert meta.metrics["train_photos"] == int((~hidden).sum())

    model, _ = load_model(run, "cpu")
    assert model.head[-1].out_features == len(meta.classes) + 1
    # callers get the labels' probabilities only
    off, on = _photos(ws, catalog, truth, False), _photos(ws, catalog, truth, True)
    predictor = Predictor(run, "cpu")
    from PIL import Image

    images = [Image.open(path).convert("RGB") for path in off[:4]]
    probs = predictor.probabilities(images)
    assert probs.shape == (4, len(meta.classes))
    # the labels' probabilities leave room for the hidden class: a softmax over every output
    batch = torch.from_numpy(np.stack([prepare(image, meta.preprocessing()) for image in images]))
    with torch.inference_mode():
        every = torch.softmax(model(batch, all_outputs=True), 1).numpy()
    assert np.allclose(probs, every[:, :-1], atol=1e-5) and np.allclose(probs.sum(1), 1 - every[:, -1], atol=1e-5)
    assert (probs.sum(1) < 1).all()
    with_features, _ = predictor.predict_with_features(images)
    assert np.allclose(with_features, probs, atol=1e-5)
    rows, _ = _predict_csv(run, off[:4], tmp_path, "--no-gate")
    assert all(row["label_1"] in meta.classes for row in rows)
    # the hidden output learned something: on UNSEEN photos (test photographers'), it scores the
    # off-topic ones above the on-topic ones
    transform = transforms(meta.preprocessing(), train=False)

    def hidden_share(paths):
        from classify.data import read_rgb_tensor

        batch = torch.stack([transform(read_rgb_tensor(str(path))) for path in paths])
        with torch.inference_mode():
            return torch.softmax(model(batch, all_outputs=True), 1)[:, -1].numpy()

    off_scores, on_scores = hidden_share(off), hidden_share(on)
    auc = (off_scores[:, None] > on_scores[None, :]).mean()
    assert auc >= 0.8, (auc, off_scores.mean(), on_scores.mean())
    assert load_gate(run) is not None  # the gate is still fitted, on the new model's features


def test_off_topic_class_without_prefilter_drops_trains_on_the_labels_alone(gated, tmp_path, caplog):
    ws, _, catalog, _ = gated
    no_off = catalog.copy()
    off = no_off["drop_reason"] == OFF_TOPIC
    no_off.loc[off, "status"] = schema.KEPT
    no_off.loc[off, ["drop_reason", "drop_stage"]] = None
    with caplog.at_level("WARNING"):
        trainer = train(ws, tmp_path / "run", TrainConfig(**{**TINY, "epochs": 0, "off_topic_class": True}),
                        catalog=no_off)
    assert not trainer.off_topic_output and trainer.outputs == trainer.classes
    assert not RunMeta.from_file(tmp_path / "run" / "model.json").off_topic_output
    assert any("training on the labels alone" in record.getMessage() for record in caplog.records)


def test_off_topic_class_refuses_a_label_of_the_same_name(gated, tmp_path):
    ws, _, catalog, _ = gated
    renamed = catalog.copy()
    first = renamed.loc[renamed["label"].notna(), "label"].iloc[0]
    renamed.loc[renamed["label"] == first, "label"] = "off_topic"
    with pytest.raises(UsageError, match="hidden class named 'off_topic'"):
        train(ws, tmp_path / "run", TrainConfig(**{**TINY, "off_topic_class": True}), catalog=renamed)


def test_lr_find_runs_with_the_off_topic_class(gated, tmp_path):
    """lr-find trains on the same batches as training, off-topic targets included: it must see the
    hidden output too (a target index past the labels' logits would fail the loss)."""
    from classify.lrfind import lr_range_test
    from classify.trainer import Trainer

    ws, _, _, _ = gated
    trainer = Trainer(ws, tmp_path / "lr", TrainConfig(**{**TINY, "off_topic_class": True}))
    assert trainer.off_topic_output and (trainer.data["train"].dataset.targets == len(trainer.classes)).any()
    result = lr_range_test(trainer, 1e-5, 1e-1, steps=12)
    assert len(result.rates) >= 3 and np.isfinite(result.losses).all()


@pytest.mark.slow
def test_the_uncurated_comparison_of_an_off_topic_class_run_trains_without_it(gated, tmp_path, caplog):
    """No curation, no prefilter drops to learn from: `evaluate --uncurated` trains its sub-run
    without the class, silently (no 'run curate prefilter first' note about a step it skips on purpose)."""
    from classify.compare import UNCURATED_DIR

    ws, _, _, _ = gated
    run = tmp_path / "run"
    train(ws, run, TrainConfig(**{**TINY, "epochs": 0, "off_topic_class": True}))
    assert RunMeta.from_file(run / "model.json").off_topic_output
    with caplog.at_level("WARNING"):
        result = runner.invoke(classify_app, ["evaluate", str(run), "--workspace", str(ws.root), "--device", "cpu",
                                              "--uncurated"])
    assert result.exit_code == 0, result.output
    sub = RunMeta.from_file(run / UNCURATED_DIR / "model.json")
    assert not sub.off_topic_output and sub.config["off_topic_class"] is False
    assert not any("training on the labels alone" in record.getMessage() for record in caplog.records)
    assert "training on the labels alone" not in result.output


def test_a_probe_run_gets_a_gate_on_the_features_it_was_fitted_on(gated, tmp_path, monkeypatch):
    """`--probe --off-topic-class`: the gate's rows are the probe's training rows, so fitting the
    gate computes no feature again (the workspace's feature cache), and a gated predict still
    answers off topic for off-topic photos and a label for on-topic ones."""
    import classify.gate as gate

    ws, _, catalog, truth = gated
    computed = []
    real = gate.pooled_features
    monkeypatch.setattr(gate, "pooled_features", lambda model, paths, *a, **k: computed.append(len(paths))
                        or real(model, paths, *a, **k))
    config = TrainConfig(**{**TINY, "probe": True, "off_topic_class": True})
    trainer = train(ws, tmp_path / "probe", config)
    assert trainer.gate and trainer.gate["fitted"], trainer.gate
    # every image computed once, by the probe's training (train + val + off-topic rows); the gate none
    assert sum(computed) == len(trainer.data["train"].rows) + len(trainer.data["val"].rows)
    off, on = _photos(ws, catalog, truth, False), _photos(ws, catalog, truth, True)
    rows, _ = _predict_csv(tmp_path / "probe", off + on, tmp_path)
    labels = [row["label"] for row in rows]
    assert np.mean([label == OFF_TOPIC for label in labels[:len(off)]]) >= 0.8
    assert np.mean([label == OFF_TOPIC for label in labels[len(off):]]) <= 0.2


@pytest.mark.slow
def test_a_probes_gate_decodes_no_photo_that_curate_embed_has_a_vector_for(gated, tmp_path, monkeypatch):
    """A probe without `--off-topic-class` fits its gate on off-topic photos it did not train on.
    Where `curate embed` has a vector at the probe's crop (the fixture embedded at 64 px), the photo
    decoded then and the gate reads that vector, so it is not decoded again to check that it
    decodes (the resized training cache, a decode each); the gate is the one the check gives."""
    import classify.data as data
    import classify.probe as probe
    from classify.gate import GATE_WEIGHTS

    ws = gated[0]
    checked = []
    real = data.ensure_resized
    monkeypatch.setattr(data, "ensure_resized", lambda ws, rows, *a, **k: checked.append(len(rows))
                        or real(ws, rows, *a, **k))
    config = TrainConfig(**{**TINY, "image_size": 64, "cache_side": 72, "probe": True})
    trainer = train(ws, tmp_path / "probe", config)
    assert trainer.gate and trainer.gate["fitted"], trainer.gate
    assert checked[-1] == 0, checked  # the gate's check comes last, after the training data's

    # the same fit with every row checked by decoding, as before: the same gate
    monkeypatch.setattr(probe.FeatureCache, "cached", lambda self, shas, dim: (np.zeros((len(shas), dim)),
                                                                               np.zeros(len(shas), bool)))
    checked.clear()
    decoded = train(ws, tmp_path / "decoded", config)
    assert checked[-1] > 0 and decoded.gate == trainer.gate
    assert (tmp_path / "probe" / GATE_WEIGHTS).read_bytes() == (tmp_path / "decoded" / GATE_WEIGHTS).read_bytes()


def test_why_no_gate_names_the_held_drops_or_the_test_photographers():
    """An audit ran `prefilter --topic` (drops held: the tag was on 92 % of photos) and train said to run
    `prefilter --topic TAG`; the reason now follows the catalog: held drops, off-topic photos all by test
    photographers, or no topic at all."""
    import pandas as pd

    from classify.gate import no_gate_reason

    base = {"status": ["kept", "kept"], "drop_reason": [None, None], "topic_doubted": [None, None]}
    held = pd.DataFrame({**base, "topic_doubted": [True, None]})
    assert "held its drops (1 photo doubted" in no_gate_reason(held) and "--force" in no_gate_reason(held)
    test_owners = pd.DataFrame({**base, "status": ["dropped", "kept"], "drop_reason": [OFF_TOPIC, None]})
    assert no_gate_reason(test_owners).startswith("the 1 photo dropped as off_topic is by test photographers")
    assert "run `curate prefilter --topic TAG`" in no_gate_reason(pd.DataFrame(base))
    # audit O: the topic on every photo, the prefilter ran with it: not told to run it again
    everywhere = {"topic": None, "threshold": None, "config": {"topic": "photo"}}
    assert no_gate_reason(pd.DataFrame(base), everywhere).startswith("the topic 'photo' was on every photo")


def test_no_gate_says_a_topic_on_nearly_every_photo_would_give_none_either():
    """Audit EG F9: after `curate prefilter --label-issues-only` on 131 photos, 129 tagged `ferrari`, train said
    "run `curate prefilter --topic TAG`, not --label-issues-only": that run holds its drops (the tag on more than
    max_topic_share of the photos), so it gives no gate either. Said instead; a tag on fewer keeps the advice."""
    import pandas as pd

    from classify.gate import no_gate_reason

    tags = [["ferrari", "red"]] * 9 + [["car"]]
    catalog = pd.DataFrame({"status": ["kept"] * 10 + ["dropped"], "drop_reason": [None] * 10 + ["geo_outlier"],
                            "topic_doubted": [None] * 11, "tags": tags + [["ferrari"]]})
    no_topic = {"topic": None, "held": False, "config": {"topic": None, "label_issues_only": True}}
    reason = no_gate_reason(catalog, no_topic)
    assert reason.startswith("no photos dropped as off_topic, and `curate prefilter --topic ferrari` would drop none "
                             "either: the tag is on 90% of the kept photos") and "max_topic_share 80%" in reason
    assert "run `curate prefilter --topic TAG`" not in reason
    no_topic["config"]["max_topic_share"] = 0.95  # the prefilter's own limit
    assert "run `curate prefilter --topic TAG`" in no_gate_reason(catalog, no_topic)
    catalog["tags"] = [["ferrari"]] * 8 + [["car"]] * 3  # 80%: a topic cut can still work
    assert "run `curate prefilter --topic TAG`" in no_gate_reason(catalog, no_topic | {"config": {}})
