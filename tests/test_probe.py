"""`classify train --probe`: the head alone, fitted on the frozen pretrained backbone's features."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.config import TrainConfig
from classify.model import Predictor, build_classifier, load_model
from classify.probe import PROBE_C, fit_head
from classify.train import train
from curate.workspace import Workspace, read_catalog
from tests.helpers import demo_workspace, no_fsync

runner = CliRunner()
PROBE = dict(image_size=48, cache_side=56, batch_size=16, workers=0, device="cpu", probe=True)


@pytest.fixture(scope="module")
def split_ws(tmp_path_factory):
    """The small demo split with a larger val share: at 0.1 its lumpy photographers leave val 3 photos of one
    label (docs/splits.md), and these tests read the probe's validation figures."""
    return demo_workspace(tmp_path_factory.mktemp("probe"), commands=(("filter", "--recipe", "skylines"),
                                                                      ("split", "--val", "0.2")))


@pytest.fixture(scope="module")
def probe_run(split_ws, tmp_path_factory):
    """(run dir, trainer, messages logged) of one probe with PROBE's settings (seed 0) on `split_ws`, trained
    once for every test that trains exactly that; a test that writes into the run works on a copy (`_copy`).
    The messages are what `caplog.at_level(logging.INFO, logger="classify.train")` captures of the training:
    a handler at INFO on the root logger and on each logger that does not propagate (`classify` does not)."""
    run = tmp_path_factory.mktemp("probe-run") / "run"
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger, root = logging.getLogger("classify.train"), logging.getLogger()
    attached = [root] + [other for other in root.manager.loggerDict.values()
                         if isinstance(other, logging.Logger) and not other.propagate]
    level = logger.level
    logger.setLevel(logging.INFO)
    for each in attached:
        each.addHandler(handler)
    try:
        with no_fsync():
            trainer = train(split_ws, run, TrainConfig(**PROBE, seed=0))
    finally:
        for each in attached:
            each.removeHandler(handler)
        logger.setLevel(level)
    return run, trainer, [record.getMessage() for record in records]


@pytest.fixture(scope="module")
def fresh_ws(tmp_path_factory):
    """The default small demo workspace (filter, split), never trained on: tests take a copy (`_copy`)."""
    with no_fsync():
        return demo_workspace(tmp_path_factory.mktemp("fresh") / "ws")


@pytest.fixture(scope="module")
def fresh_probe(fresh_ws, tmp_path_factory):
    """(workspace, run dir, trainer, images whose features the training computed) of a probe (seed 0) trained on
    a copy of `fresh_ws`, the first run on it; tests take copies of the workspace and the run (`_copy`)."""
    import classify.gate as gate

    root = tmp_path_factory.mktemp("fresh-probe")
    ws = _copy(fresh_ws, root / "ws")
    calls = []
    real = gate.pooled_features
    with no_fsync(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(gate, "pooled_features", lambda model, paths, *args, **kwargs: calls.append(len(paths))
                      or real(model, paths, *args, **kwargs))
        trainer = train(ws, root / "run", TrainConfig(**PROBE, seed=0))
    return ws, root / "run", trainer, sum(calls)


def _copy(source, folder):
    """A copy of a module-built workspace (a Workspace, returned as one) or run folder, for a test that writes."""
    if isinstance(source, Workspace):
        shutil.copytree(source.root, folder)
        return Workspace(folder)
    shutil.copytree(source, folder)
    return folder


def _blobs(rng, centres, n, scale=0.3):
    x = np.concatenate([rng.normal(c, scale, size=(n, len(c))) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(len(centres)), n)
    return x, y


def test_the_head_predicts_what_the_regression_predicts_on_raw_features():
    """The standardisation is folded into the weights: raw features in, the same answers out."""
    rng = np.random.default_rng(0)
    centres = [[5.0, 100.0, 0.0], [6.0, 90.0, 1.0], [4.0, 110.0, 2.0]]
    x, y = _blobs(rng, centres, 40, scale=1.0)
    vx, vy = _blobs(rng, centres, 10, scale=1.0)
    weight, bias, facts = fit_head(x, y, vx, vy, outputs=3)
    mean, std = x.mean(0), x.std(0)
    reference = LogisticRegression(C=facts["c"], max_iter=2000).fit((x - mean) / std, y)
    ours = vx @ weight.T + bias
    theirs = reference.decision_function((vx - mean) / std)
    assert (ours.argmax(1) == theirs.argmax(1)).all()
    assert np.allclose(ours - ours.mean(1, keepdims=True), theirs - theirs.mean(1, keepdims=True), atol=1e-3)


def test_the_l2_strength_is_the_one_with_the_lowest_validation_loss():
    rng = np.random.default_rng(1)
    x, y = _blobs(rng, [[0.0] * 8, [0.4] * 8], 30, scale=1.0)
    vx, vy = _blobs(rng, [[0.0] * 8, [0.4] * 8], 30, scale=1.0)
    _, _, facts = fit_head(x, y, vx, vy, outputs=2)
    losses = {float(c): loss for c, loss in facts["grid"].items()}
    assert facts["c"] == min(losses, key=losses.get)
    assert facts["val_log_loss"] == pytest.approx(min(losses.values()))


def test_an_output_without_training_photos_is_never_the_answer():
    rng = np.random.default_rng(2)
    x, y = _blobs(rng, [[0.0, 0.0], [3.0, 3.0]], 20)
    y = np.where(y == 1, 2, 0)  # class 1 has no photo
    weight, bias, _ = fit_head(x, y, x[:0], y[:0], outputs=3)
    grid = rng.uniform(-5, 8, size=(500, 2)).astype(np.float32)
    assert 1 not in set((grid @ weight.T + bias).argmax(1).tolist())
    with pytest.raises(ValueError, match="two classes"):
        fit_head(x[y == 0], y[y == 0], x[:0], y[:0], outputs=3)


def test_a_probe_run_keeps_the_pretrained_backbone_and_is_deterministic(split_ws, probe_run, tmp_path):
    run, trainer, _ = probe_run  # seed 0
    history = pd.read_csv(run / "metrics.csv")
    assert len(history) == 1 and history.loc[0, "probe_c"] > 0
    meta = json.loads((run / "model.json").read_text())
    assert meta["config"]["probe"] is True and meta["config"]["seed"] == 0
    assert meta["metrics"]["probe_c"] == history.loc[0, "probe_c"]
    assert meta["preprocess"]["size"] == 48
    model, _ = load_model(run, "cpu")
    pretrained, _ = build_classifier("efficientnet_lite0", len(trainer.classes), pretrained=True, image_size=48)
    for (name, ours), (_, theirs) in zip(model.backbone.state_dict().items(), pretrained.backbone.state_dict().items()):
        assert torch.equal(ours, theirs), name
    # the fit is convex: another seed gives the same head
    train(split_ws, tmp_path / "b", TrainConfig(**PROBE, seed=7))
    other, _ = load_model(tmp_path / "b", "cpu")
    assert torch.allclose(model.head[-1].weight, other.head[-1].weight, atol=1e-5)


def test_a_probe_run_is_an_ordinary_run_for_predict_and_scores_above_chance(split_ws, probe_run):
    run, _, _ = probe_run
    meta = json.loads((run / "model.json").read_text())
    catalog = read_catalog(split_ws)
    val = catalog[(catalog["status"] == "kept") & (catalog["split"] == "val") & catalog["label"].isin(meta["classes"])]
    predictor = Predictor(run, "cpu")
    images = [Image.open(split_ws.root / path).convert("RGB") for path in val["image_path"]]
    predicted = np.array(meta["classes"])[predictor.probabilities(images).argmax(1)]
    accuracy = float((predicted == val["label"].to_numpy()).mean())
    assert accuracy > 1.5 / len(meta["classes"])
    # validation accuracy in metrics.csv is the same model on the same photos (cached copies)
    recorded = pd.read_csv(run / "metrics.csv").loc[0, "val_accuracy"]
    assert abs(recorded - accuracy) <= 0.15


def test_probe_without_pretrained_weights_is_refused_in_one_line(split_ws, tmp_path):
    result = runner.invoke(classify_app, ["train", "--workspace", str(split_ws.root), "--out", str(tmp_path / "r"),
                                          "--probe", "--no-pretrained"])
    assert result.exit_code == 2
    assert "--probe" in result.output and "--pretrained" in result.output and "Traceback" not in result.output


def test_probe_features_are_computed_once_per_image_for_training_and_the_gate(fresh_probe, tmp_path, monkeypatch):
    """Seeds, the gate and later runs read the workspace's feature cache; the cached features are
    the backbone's own."""
    import classify.gate as gate

    trained_ws, run_a, trainer, first = fresh_probe  # the first run (seed 0) on a fresh workspace, counted
    assert first == len(trainer.data["train"].rows) + len(trainer.data["val"].rows) > 0
    ws = _copy(trained_ws, tmp_path / "ws")
    calls = []
    real = gate.pooled_features
    monkeypatch.setattr(gate, "pooled_features", lambda model, paths, *args, **kwargs: calls.append(len(paths))
                        or real(model, paths, *args, **kwargs))
    train(ws, tmp_path / "b", TrainConfig(**PROBE, seed=1))
    assert sum(calls) == 0  # the second run computed nothing
    cached = sorted((ws.root / "cache" / "features").glob("efficientnet_lite0-48px/part-*.parquet"))
    assert cached
    from classify.probe import FeatureCache

    rows = trainer.data["val"].rows
    stored = FeatureCache(ws, "efficientnet_lite0", 48).features(rows["sha256"].tolist(), None)
    # the cached features are the ones prediction computes: `classify evaluate`'s decode of the originals
    from classify.model import Predictor
    from curate import objectstore
    from curate.store import open_rgb
    from curate.vision.images import draft_side

    predictor = Predictor(run_a, "cpu")
    images = [open_rgb(objectstore.locate(ws, path), min_side=draft_side(predictor.preprocess))
              for path in rows["image_path"]]
    _, predicted = predictor.predict_with_features(images)
    assert np.allclose(stored, predicted, atol=1e-2 * (1 + np.abs(predicted)))


@pytest.mark.slow
def test_a_finished_probe_is_reused_whatever_its_unused_settings_and_refused_for_real_changes(split_ws, tmp_path):
    """Epochs, rates, schedule and seed do not enter a probe's fit: a comparison asking for the same
    probe with other values of them reuses it; another crop size is another model."""
    from classify.compare import train_or_reuse
    from curate.errors import UsageError

    catalog = read_catalog(split_ws)
    config = TrainConfig(**PROBE)
    assert train_or_reuse(split_ws, tmp_path / "run", config, catalog) == "trained"
    unused = TrainConfig(**{**PROBE, "epochs": 9, "head_epochs": 3, "lr": 0.1, "seed": 5, "crop_scale": 0.5})
    assert train_or_reuse(split_ws, tmp_path / "run", unused, catalog) == "reused"
    with pytest.raises(UsageError, match="other settings"):
        train_or_reuse(split_ws, tmp_path / "run", TrainConfig(**{**PROBE, "image_size": 40}), catalog)
    with pytest.raises(UsageError, match="other settings"):  # a fine-tune is not the probe
        train_or_reuse(split_ws, tmp_path / "run", TrainConfig(**{**PROBE, "probe": False}), catalog)
    # a fine-tune still compares every setting
    assert TrainConfig(epochs=2).comparable() != TrainConfig(epochs=3).comparable()


def test_the_probe_says_what_it_fitted_in_one_line(probe_run):
    _, _, logged = probe_run  # what its training logged at INFO on classify.train
    lines = [message for message in logged if message.startswith("probe: train loss")]
    assert len(lines) == 1 and "L2 strength C = " in lines[0] and "val loss" in lines[0] and "lr " not in lines[0]


def test_features_lost_to_a_concurrent_write_are_still_returned(tmp_path):
    """Two runs appending at once may pick the same part name: the one overwritten still answers
    with what it computed (and the next run computes those images again)."""
    from classify.probe import FeatureCache
    from curate.workspace import Workspace

    cache = FeatureCache(Workspace(tmp_path), "efficientnet_lite0", 48)
    cache.store.append = lambda *args, **kwargs: None  # the part this process wrote is gone
    shas = ["a" * 64, "b" * 64, "a" * 64]
    wanted = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    got = cache.features(shas, lambda positions: wanted[: len(positions)])
    assert got.tolist() == [[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]


def test_with_few_validation_photos_the_strength_is_chosen_by_cross_validation_on_train():
    rng = np.random.default_rng(3)
    x, y = _blobs(rng, [[0.0] * 6, [0.5] * 6, [1.0] * 6], 30, scale=1.0)
    vx, vy = _blobs(rng, [[0.0] * 6, [0.5] * 6, [1.0] * 6], 3, scale=1.0)  # 9 validation photos
    groups = np.repeat(np.arange(15), 6)  # 15 photographers of 6 photos each
    _, _, facts = fit_head(x, y, vx, vy, outputs=3, groups=groups)
    assert facts["chosen_on"].startswith("3-fold cross-validation") and "by group" in facts["chosen_on"]
    losses = {float(c): loss for c, loss in facts["grid"].items()}
    assert facts["c"] == min(losses, key=losses.get)
    # enough validation photos: they decide
    vx, vy = _blobs(rng, [[0.0] * 6, [0.5] * 6, [1.0] * 6], 10, scale=1.0)
    assert fit_head(x, y, vx, vy, outputs=3, groups=groups)[2]["chosen_on"] == "validation"


def test_features_curate_embed_has_are_borrowed_and_only_the_others_computed(tmp_path):
    """An image `curate embed` embedded at the same crop is not computed again; an image it could not
    read, or never saw, is; another crop borrows nothing."""
    from classify.probe import FeatureCache
    from curate.embed import EmbeddingCache
    from curate.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    shas = [f"{i:064x}" for i in range(6)]
    embedded = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    EmbeddingCache(ws, "efficientnet_lite0-48px").append(shas[:4], embedded, np.array([True, True, False, True]))
    asked = []

    def compute(positions):
        asked.append(positions.tolist())
        return np.full((len(positions), 8), 7.0, np.float32) + positions[:, None]

    cache = FeatureCache(ws, "efficientnet_lite0", 48)
    got = cache.features(shas + [shas[0]], compute)
    assert asked == [[2, 4, 5]] and cache.borrowed == 3  # the unreadable one and the two never embedded
    expected = np.concatenate([embedded[[0, 1]], np.full((1, 8), 9.0), embedded[[3]], np.full((1, 8), 11.0),
                               np.full((1, 8), 12.0), embedded[[0]]])
    assert np.allclose(got, expected.astype(np.float16).astype(np.float32))
    again = FeatureCache(ws, "efficientnet_lite0", 48).features(shas, None)  # all in the probe's cache now
    assert np.allclose(again, got[:6])
    other_crop = FeatureCache(ws, "efficientnet_lite0", 64).features(shas[:2], compute)
    assert asked[-1] == [0, 1] and np.allclose(other_crop, [[7.0] * 8, [8.0] * 8])


@pytest.mark.slow
def test_a_probe_after_curate_embed_at_its_crop_computes_nothing_and_borrows_what_it_would_compute(
        fresh_ws, tmp_path, monkeypatch):
    """`curate embed` and a probe decode photos the same way (curate.vision.images.load_uint8), so the
    borrowed vectors equal the features the probe would have computed itself."""
    import classify.gate as gate
    from classify.probe import FeatureCache
    from curate import objectstore
    from curate.embed import EmbedConfig, EmbeddingCache, embed_chunk, embeddable_images, load_embedder

    ws = _copy(fresh_ws, tmp_path / "ws")
    images = embeddable_images(read_catalog(ws))  # what `curate embed --image-size 48` computes and caches
    paths = [objectstore.locate(ws, path) for path in images["image_path"]]
    vectors, ok, _ = embed_chunk(load_embedder(EmbedConfig(image_size=48)), paths, torch.device("cpu"), 32, 0)
    EmbeddingCache(ws, "efficientnet_lite0-48px").append(images["sha256"].tolist(), vectors, ok)
    calls = []
    real = gate.pooled_features
    monkeypatch.setattr(gate, "pooled_features", lambda model, paths, *args, **kwargs: calls.append(len(paths))
                        or real(model, paths, *args, **kwargs))
    trainer = train(ws, tmp_path / "run", TrainConfig(**PROBE, seed=0))
    assert sum(calls) == 0
    rows = trainer.data["train"].rows
    used = FeatureCache(ws, "efficientnet_lite0", 48).features(rows["sha256"].tolist(), None)
    own = real(trainer.model, [objectstore.locate(ws, path) for path in rows["image_path"]], trainer.eval_preprocess,
               "cpu")
    assert np.allclose(used, own, atol=1e-2 * (1 + np.abs(own)))


def test_a_best_strength_at_the_grid_edge_is_searched_beyond_it():
    """Well-separated classes want a weaker penalty than the grid's weakest: the search goes on past
    the edge while the loss keeps falling, and the strength chosen is the best of all it tried."""
    rng = np.random.default_rng(4)
    x, y = _blobs(rng, [[0.0] * 8, [1.5] * 8], 40, scale=0.5)
    vx, vy = _blobs(rng, [[0.0] * 8, [1.5] * 8], 40, scale=0.5)
    _, _, facts = fit_head(x, y, vx, vy, outputs=2, grid=(0.0001, 0.0003))
    tried = [float(c) for c in facts["grid"]]
    assert tried[:2] == [0.0001, 0.0003] and tried[2:4] == [0.0009, 0.003]  # 3x and 10x the edge
    losses = {float(c): loss for c, loss in facts["grid"].items()}
    assert facts["c"] == min(losses, key=losses.get) and facts["c"] > 0.0003
    from classify.probe import PROBE_C

    x, y = _blobs(rng, [[0.0] * 8, [0.4] * 8], 30, scale=1.0)  # overlapping classes: the best is inside
    vx, vy = _blobs(rng, [[0.0] * 8, [0.4] * 8], 30, scale=1.0)
    _, _, inside = fit_head(x, y, vx, vy, outputs=2)
    assert min(PROBE_C) < inside["c"] < max(PROBE_C) and len(inside["grid"]) == len(PROBE_C)


def test_evaluating_a_probe_reads_its_cached_features_and_decodes_only_the_rest(fresh_probe, tmp_path, monkeypatch):
    """A probe's backbone is the pretrained one, so `classify evaluate` scores the photos whose
    features the workspace has cached (`curate embed` at the run's crop) by the head alone, as the
    decoded photos would be scored, and decodes only the others: one whose vector is missing, one
    cached as undecodable (its unreadable reason still comes from decoding it)."""
    import classify.evaluate_run as evaluate_run
    from classify.evaluate_photos import select_photos
    from curate import objectstore
    from curate.embed import EmbedConfig, EmbeddingCache, embed_chunk, embeddable_images, load_embedder

    ws = _copy(fresh_probe[0], tmp_path / "ws")  # a fresh workspace, and a probe (seed 0) trained on it
    _copy(fresh_probe[1], tmp_path / "run")
    predictor = Predictor(tmp_path / "run", "cpu")
    catalog = read_catalog(ws)
    test, _ = select_photos(catalog, predictor.classes, "test")
    test = test.merge(catalog[["photo_id", "sha256"]], on="photo_id")
    decoded = []
    real_open = evaluate_run._open
    monkeypatch.setattr(evaluate_run, "_open", lambda ws, path, side: decoded.append(path) or real_open(ws, path, side))
    fresh, fresh_ok, _, _ = evaluate_run.predict_photos(predictor, ws, test["image_path"].tolist())
    assert fresh_ok.all() and len(decoded) == len(test) > 10

    # `curate embed --image-size 48` has run, but for one photo, and another did not decode then
    images = embeddable_images(catalog)
    left_out, broken = test["sha256"].iloc[0], test["sha256"].iloc[1]
    images = images[images["sha256"] != left_out]
    vectors, ok, _ = embed_chunk(load_embedder(EmbedConfig(image_size=48)),
                                 [objectstore.locate(ws, path) for path in images["image_path"]], torch.device("cpu"),
                                 32, 0)
    ok = ok & (images["sha256"] != broken).to_numpy()
    vectors[~ok] = 0.0
    EmbeddingCache(ws, "efficientnet_lite0-48px").append(images["sha256"].tolist(), vectors, ok)
    cached = evaluate_run.cached_probe_features(predictor, ws, catalog, test["photo_id"])
    assert cached[1].tolist() == [False, False] + [True] * (len(test) - 2)
    decoded.clear()
    probs, got_ok, _, _ = evaluate_run.predict_photos(predictor, ws, test["image_path"].tolist(), cached=cached)
    assert decoded == test["image_path"].iloc[:2].tolist() and got_ok.all()
    np.testing.assert_allclose(probs, fresh, atol=3e-2)
    assert np.mean(probs.argmax(1) == fresh.argmax(1)) >= 0.95  # the same answers but where float16 tips a near tie

    # the whole command: only those two decoded; the one that no longer decodes is reported unreadable
    (ws.root / test["image_path"].iloc[1]).write_bytes(b"no longer a photo")
    decoded.clear()
    evaluation = evaluate_run.evaluate_run(tmp_path / "run", ws, sandals=False)
    assert decoded == test["image_path"].iloc[:2].tolist()
    assert [row["photo_id"] for row in evaluation.unreadable] == [test["photo_id"].iloc[1]]
    assert len(evaluation.photos) == len(test) - 1

    # audit X: a cached photo whose stored image is gone was scored from its vector (26 test photos where
    # the run itself and a fine-tuned one counted 24): it is decoded, and counted unreadable, now
    (ws.root / test["image_path"].iloc[2]).unlink()
    decoded.clear()
    evaluation = evaluate_run.evaluate_run(tmp_path / "run", ws, sandals=False)
    assert test["image_path"].iloc[2] in decoded
    assert sorted(row["photo_id"] for row in evaluation.unreadable) == sorted(test["photo_id"].iloc[1:3])
    # and a photo the run's own loader left out as undecodable (left_out.csv) is not scored from a vector
    (tmp_path / "run" / "left_out.csv").write_text(f"photo_id,split,label,reason\n{test['photo_id'].iloc[3]},test,"
                                                    f"{test['label'].iloc[3]},truncated_image\n")
    cached = evaluate_run.cached_probe_features(predictor, ws, catalog, test["photo_id"])
    assert not cached[1][3] and cached[1][4:].all()


@pytest.mark.slow
def test_labels_with_no_validation_photo_are_named_once_in_trains_output(split_ws, tmp_path, caplog):
    """The long-tail audit's finding 4: the probe's strength and the val accuracy headline rested on a val
    split without some labels, and nothing said so. One label's val photos moved to train: one note names
    every label with no val photo (the demo split's own, if any, and that one)."""
    import logging

    from curate import schema

    catalog = read_catalog(split_ws)
    kept = catalog["status"] == schema.KEPT
    labels = sorted(catalog.loc[kept & catalog["label"].notna(), "label"].unique())
    moved = catalog.loc[kept & (catalog["split"] == "val"), "label"].value_counts().index[0]
    variant = catalog.copy()
    variant.loc[kept & (variant["split"] == "val") & (variant["label"] == moved), "split"] = "train"
    in_val = set(variant.loc[kept & (variant["split"] == "val"), "label"])
    missing = [label for label in labels if label not in in_val]

    with caplog.at_level(logging.INFO, logger="classify"):
        train(split_ws, tmp_path / "run", TrainConfig(**PROBE), catalog=variant, allow_leakage=True,
              warn_leakage=False, gate=False)

    notes = [r.getMessage() for r in caplog.records if "no validation photo" in r.getMessage()]
    assert len(notes) == 1
    assert notes[0].startswith(f"note: {len(missing)} of {len(labels)} classes ")
    assert f"no validation photo ({', '.join(missing)}): " in notes[0]
    assert notes[0].endswith(f"are over the other {len(labels) - len(missing)}")


def test_the_strength_search_says_it_is_going_and_which_model_it_is_for():
    """The all-real-photos audit's probe sat silent 2.5 min choosing C, and a comparison model's `probe:`
    lines read like the run's own: the search runs under `working` (a line every 30 s off a terminal),
    named after the model when it is not the user's run."""
    from contextlib import contextmanager

    from curate.progress import use_progress

    said: list[str] = []

    @contextmanager
    def record(description):
        said.append(description)
        yield said.append

    rng = np.random.default_rng(4)
    x, y = _blobs(rng, [[0.0] * 6, [1.0] * 6], 30, scale=1.0)
    use_progress(working=record)
    try:
        fit_head(x, y, x[:0], y[:0], outputs=2, name="the uncurated comparison model")
        fit_head(x, y, x[:0], y[:0], outputs=2)
    finally:
        use_progress()
    assert said[0] == "probe: the uncurated comparison model: choosing the L2 strength C on 3-fold cross-validation " \
                      "on the training photos"
    assert said[1] == f"{said[0]} (1 of {len(PROBE_C)} or more strengths tried)"
    assert any(line.startswith("probe: choosing the L2 strength C on") for line in said[2:])


@pytest.mark.slow
def test_evaluating_on_the_runs_own_val_or_train_split_scores_it_with_a_warning(split_ws, probe_run, tmp_path):
    """Audit N2: `classify evaluate RUN --split val` (or train), offered by the docs, always exited 3, "the
    split changed since it was trained": every photo of those splits is one the run learned from. They are
    scored now, with a warning that the figures are not held out, in a folder of their own (audit R: they
    replaced RUN/evaluation/, the test evaluation `curate report` shows)."""
    run = _copy(probe_run[0], tmp_path / "run")
    catalog = read_catalog(split_ws)
    classes = json.loads((run / "model.json").read_text())["classes"]
    test = runner.invoke(classify_app, ["evaluate", str(run), "-w", str(split_ws.root), "--device", "cpu"])
    assert test.exit_code == 0, test.output
    held_out = (run / "evaluation" / "evaluation.json").read_bytes()
    for split in ("val", "train"):
        result = runner.invoke(classify_app, ["evaluate", str(run), "-w", str(split_ws.root), "--split", split,
                                              "--device", "cpu", "--json"])
        assert result.exit_code == 0, result.output
        saved = json.loads((run / f"evaluation-{split}" / "evaluation.json").read_text())
        assert saved["split"] == split and (run / "evaluation" / "evaluation.json").read_bytes() == held_out
        wanted = catalog[(catalog["status"] == "kept") & (catalog["split"] == split) & catalog["label"].isin(classes)]
        assert saved["photos"] == len(wanted) and saved["left_out_trained_on"] == 0 and saved["stale_split"] is None
        assert f"the {split} split holds photos this run" in " ".join(result.output.split())
        assert "not a held-out measure" in " ".join(result.output.split())


def test_evaluate_after_a_re_split_leaves_out_the_photos_the_run_learned_from(split_ws, probe_run, tmp_path):
    """A re-split after training put the run's own training photos into test, and `classify evaluate` scored
    them (an audit: 95.2 % on 124 photos, 77 of them trained on; 84.1 % honest) with only a note. The run now
    lists its train and val photos; evaluate leaves them out, says how many, and the figures are over the rest."""
    from curate.cli.app import app as curate_app

    ws = _copy(split_ws, tmp_path / "ws")
    run = _copy(probe_run[0], tmp_path / "run")  # PROBE's settings on this very data, trained once
    learned = pd.read_parquet(run / "trained_on.parquet")
    catalog = read_catalog(ws)
    used = catalog[(catalog["status"] == "kept") & catalog["split"].isin(["train", "val"])
                   & catalog["label"].isin(json.loads((run / "model.json").read_text())["classes"])]
    assert set(learned["photo_id"]) == set(used["photo_id"]) and set(learned["split"]) == {"train", "val"}

    resplit = runner.invoke(curate_app, ["split", "-w", str(ws.root), "--test", "0.5", "--seed", "3"])
    assert resplit.exit_code == 0, resplit.output
    catalog = read_catalog(ws)
    test = catalog[(catalog["status"] == "kept") & (catalog["split"] == "test")]
    overlap = set(test["photo_id"]) & set(learned["photo_id"])
    assert overlap  # the new test split holds photos the run learned from
    result = runner.invoke(classify_app, ["evaluate", str(run), "-w", str(ws.root), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert saved["left_out_trained_on"] == len(overlap & set(test.loc[test["label"].isin(saved["classes"]),
                                                                      "photo_id"]))
    assert f"{saved['left_out_trained_on']:,} test photos were this run's training or validation photos" in \
        " ".join(result.output.split())
    assert saved["photos"] + saved["left_out_trained_on"] + saved["left_out_touching_trained_on"] \
        + sum(saved["skipped"]["unknown_label"].values()) == len(test)
    assert saved["left_out_touching_trained_on"] == 0  # split by photographer: the old test photos touch none

    # audit AZ: a copy of a photo the run learned from, or a photo by its photographer, is no held-out photo either
    from curate.workspace import write_catalog

    scored = test[~test["photo_id"].isin(learned["photo_id"]) & test["label"].isin(saved["classes"])]
    copy, same_owner = scored.index[:2]
    learned_rows = catalog[catalog["photo_id"].isin(learned["photo_id"]) & catalog["owner_id"].notna()]
    catalog.loc[[copy, learned_rows.index[0]], "near_dup_cluster"] = "a planted copy"
    owner = learned_rows["owner_id"].iloc[-1]
    catalog.loc[same_owner, "owner_id"] = owner
    write_catalog(ws, catalog)
    result = runner.invoke(classify_app, ["evaluate", str(run), "-w", str(ws.root), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    again = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert again["left_out_touching_trained_on"] >= 2 and again["photos"] <= saved["photos"] - 2
    assert again["photos"] + again["left_out_trained_on"] + again["left_out_touching_trained_on"] \
        + sum(again["skipped"]["unknown_label"].values()) == len(test)
    assert owner not in {row["owner_id"] for row in again["per_owner"]}
    assert "share a photographer or a copy with the photos this run learned from" in " ".join(result.output.split())


def test_evaluating_an_old_run_on_a_stale_split_says_the_split_is_stale(split_ws, probe_run, tmp_path):
    """Audit AK: training refuses a stale split, but `classify evaluate` of a run trained earlier scored the test
    photos a stale split still held with only the catalog-changed note. It still scores them (an old run may be
    evaluated), with a warning naming why the split is stale and the commands that refresh it."""
    from curate.cli.app import app as curate_app

    ws = _copy(split_ws, tmp_path / "ws")
    run = _copy(probe_run[0], tmp_path / "run")  # PROBE's settings on this very data, trained once
    refilter = runner.invoke(curate_app, ["filter", "-w", str(ws.root), "--recipe", "skylines", "--max-km", "3"])
    assert refilter.exit_code == 0, refilter.output
    result = runner.invoke(classify_app, ["evaluate", str(run), "-w", str(ws.root), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    saved = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert saved["stale_split"].startswith("the split is stale (") and "`curate split" in saved["stale_split"]
    assert f"warning: {saved['stale_split']}, then train and evaluate again; these figures are on the test photos " \
        "the stale split holds" in said


@pytest.mark.slow
def test_evaluate_counts_the_test_photos_flagged_as_wrong_labels(split_ws, probe_run, tmp_path):
    """Audit AP: 8 of 49 test photos were flagged as likely wrong labels (5 of them truly wrong), kept in test,
    and the accuracy counted them as the model's mistakes without a word. Evaluate says how many it scored."""
    from curate.workspace import write_catalog

    ws = _copy(split_ws, tmp_path / "ws")
    run = _copy(probe_run[0], tmp_path / "run")  # PROBE's settings on this very data, trained once
    catalog = read_catalog(ws)
    classes = json.loads((run / "model.json").read_text())["classes"]
    test = catalog.index[(catalog["status"] == "kept") & (catalog["split"] == "test") & catalog["label"].isin(classes)]
    catalog["is_label_issue"] = False
    catalog.loc[test[:2], "is_label_issue"] = True
    write_catalog(ws, catalog)
    result = runner.invoke(classify_app, ["evaluate", str(run), "-w", str(ws.root), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert saved["flagged_label_issues"] == 2
    assert f"note: 2 of the {saved['photos']} test photos scored are flagged as a likely wrong label" in \
        " ".join(result.output.split())
    # the accuracy on the photos no flag doubts too (audit BU E1), counted from every scored photo's answer
    answers = pd.read_csv(run / "evaluation" / "top_losses.csv")  # this small split's photos are all listed
    assert len(answers) == saved["photos"]
    others = answers[~answers["photo_id"].isin(catalog.loc[test[:2], "photo_id"])]
    expected = (others["predicted"] == others["actual"]).mean()
    assert saved["unflagged_accuracy"] == round(expected, 4)
    assert f"on the other {len(others)} test photos accuracy is {expected:.1%}" in " ".join(result.output.split())
    catalog.loc[test[:1], "review_status"] = "kept"  # a reviewer looked and kept it: settled (audit AQ)
    write_catalog(ws, catalog)
    result = runner.invoke(classify_app, ["evaluate", str(run), "-w", str(ws.root), "--device", "cpu"])
    assert json.loads((run / "evaluation" / "evaluation.json").read_text())["flagged_label_issues"] == 1


def test_a_split_made_only_of_photos_the_run_learned_from_is_refused(tmp_path):
    """Nothing left to score honestly: one line, exit 3, rather than figures over the run's own training photos;
    a photo is known by its image too (a re-ingest may give it another id)."""
    from classify.evaluate_photos import leave_out_trained_on
    from curate.errors import DataContractError

    pd.DataFrame({"photo_id": ["a", "b"], "sha256": ["1" * 64, "2" * 64], "split": ["train", "val"]}).to_parquet(
        tmp_path / "trained_on.parquet")
    catalog = pd.DataFrame({"photo_id": ["a", "b2", "c"], "sha256": ["1" * 64, "2" * 64, "3" * 64]})
    photos = catalog[["photo_id"]].assign(label="x")
    kept, left_out, touching = leave_out_trained_on(tmp_path, catalog, photos, "test")
    assert kept["photo_id"].tolist() == ["c"] and (left_out, touching) == (2, 0)
    with pytest.raises(DataContractError, match="every one of the 2 test photos"):
        leave_out_trained_on(tmp_path, catalog, photos[photos["photo_id"] != "c"], "test")
    kept, left_out, touching = leave_out_trained_on(tmp_path / "older-run", catalog, photos, "test")  # as before
    assert kept is photos and left_out == touching == 0


def test_predict_and_serve_give_the_reason_training_recorded_for_having_no_gate(probe_run, tmp_path):
    """Audit R: a run whose prefilter found its topic on every photo was said by predict and serve to be
    "trained without `curate prefilter` drops"; they now say what `classify train` recorded in model.json."""
    from classify.predict import gate_for

    run = _copy(probe_run[0], tmp_path / "run")  # PROBE's settings on split_ws, trained once
    recorded = json.loads((run / "model.json").read_text())["gate"]
    assert recorded["fitted"] is False
    gate, line = gate_for(run, use_gate=True)
    assert gate is None and f"has no topic gate ({recorded['reason']})" in line
    meta = json.loads((run / "model.json").read_text())
    meta["gate"] = {"fitted": False, "reason": "the topic 'photo' was on every photo `curate prefilter` judged"}
    (run / "model.json").write_text(json.dumps(meta))
    assert "the topic 'photo' was on every photo" in gate_for(run, use_gate=True)[1]


@pytest.mark.parametrize("flag", ["--compare-random-split", "--uncurated"])
def test_comparisons_on_the_val_split_are_refused_in_one_line(split_ws, probe_run, tmp_path, flag):
    """Audit S: `--split val --compare-random-split` retrained, then wrote the test comparison into
    RUN/evaluation-val/, where `curate report` never looks; the comparisons belong with the test evaluation."""
    run = _copy(probe_run[0], tmp_path / "run")  # PROBE's settings on split_ws, trained once
    result = runner.invoke(classify_app, ["evaluate", str(run), "-w", str(split_ws.root), "--split", "val", flag,
                                          "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert f"{flag} compares test accuracy" in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (run / "evaluation-val").exists() and not (run / "compare-random-split").exists()
