"""`classify train` on a tiny demo workspace (CPU): two-stage training, exact resume, safetensors
artefacts, leaky-split refusal, class balancing, early stopping, the plateau schedule, the image
cache, device choice, bad arguments."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.model import load_model
from classify.train import CHECKPOINT, TrainConfig, train
from classify.trainer import Trainer
from curate import schema
from curate.cli.app import app as curate_app
from curate.demo.config import DemoConfig
from curate.errors import DataContractError, UsageError
from curate.ingest.demo import ingest_demo
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.helpers import demo_workspace

runner = CliRunner()
# device="cpu": the exactness these tests assert (resume, workers, reload) is the CPU's; on a
# CUDA machine "auto" would pick the GPU, whose kernels are not bit-reproducible (tests/test_gpu.py)
TINY = dict(image_size=48, cache_side=56, batch_size=16, workers=0, head_epochs=1, epochs=1, device="cpu")


@pytest.fixture(scope="module")
def split_ws(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("train"))


@pytest.fixture(scope="module")
def small_ws(tmp_path_factory):
    """A third of the collection, for tests that train several epochs and look only at the
    schedule, the stopping rule or the bits of the weights, not at what the model learns."""
    return demo_workspace(tmp_path_factory.mktemp("train-small"), photos=48)


@pytest.fixture(scope="module")
def head_only(split_ws, tmp_path_factory):
    """(trainer, run folder) of one head-only training (`TINY`, --epochs 0) on `split_ws`, shared by the
    tests that only read such a run; a test that changes the run gets a copy of the folder."""
    run = tmp_path_factory.mktemp("head-only") / "run"
    return train(split_ws, run, TrainConfig(**{**TINY, "epochs": 0})), run


SMALL_RUN = {**TINY, "epochs": 2}  # small_run's settings


@pytest.fixture(scope="module")
def small_run(small_ws, tmp_path_factory):
    """The folder of one uninterrupted `SMALL_RUN` training on `small_ws` (tests read it, never change it)."""
    run = tmp_path_factory.mktemp("small-run") / "run"
    train(small_ws, run, TrainConfig(**SMALL_RUN))
    return run


def test_two_stage_training_writes_a_loadable_run(split_ws, tmp_path):
    trainer = train(split_ws, tmp_path / "run", TrainConfig(**TINY))
    run = tmp_path / "run"
    history = pd.read_csv(run / "metrics.csv")
    assert history["stage"].tolist() == [1, 2]
    assert history[["train_loss", "val_loss"]].notna().all().all()
    meta = json.loads((run / "model.json").read_text())
    kept = read_catalog(split_ws)
    train_labels = sorted(kept.loc[(kept["status"] == "kept") & (kept["split"] == "train"), "label"].dropna().unique())
    assert meta["classes"] == train_labels and meta["backbone"] == "efficientnet_lite0"
    assert (run / "learning_curves.png").stat().st_size > 1000
    # stage 1 froze the backbone: its weights only moved in stage 2
    assert trainer.model.head[-1].out_features == len(train_labels)


@pytest.mark.slow
def test_eval_image_size_crops_validation_and_every_later_reader_larger(split_ws, tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 0, "image_size": 48, "eval_image_size": 64, "cache_side": 80})
    trainer = train(split_ws, tmp_path / "run", config)
    train_image, _ = trainer.data["train"].dataset[(0, 1)]
    val_image, _ = trainer.data["val"].dataset[0]
    assert tuple(train_image.shape[-2:]) == (48, 48) and tuple(val_image.shape[-2:]) == (64, 64)
    # model.json records the evaluation crop: predict, serve, evaluate and the gate read it from there
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["preprocess"]["size"] == 64 and meta["preprocess"]["resize"] == 73
    assert meta["config"]["image_size"] == 48 and meta["config"]["eval_image_size"] == 64
    from classify.model import Predictor

    predictor = Predictor(tmp_path / "run", "cpu")
    assert predictor.preprocess.size == 64
    photo = read_catalog(split_ws).query("status == 'kept'").iloc[0]
    image = Image.open(split_ws.root / photo["image_path"]).convert("RGB")
    probabilities = predictor.probabilities([image])
    assert probabilities.shape == (1, len(trainer.classes)) and np.isclose(probabilities.sum(), 1.0, atol=1e-5)
    # without the setting, evaluation crops at the training size as before
    assert TrainConfig(**TINY).eval_size == 48


def test_frozen_stage_leaves_the_backbone_untouched(head_only):
    from classify.model import build_classifier

    trainer, _ = head_only  # TINY with --epochs 0 on split_ws
    fresh, _ = build_classifier("efficientnet_lite0", len(trainer.classes), image_size=48)
    trained = trainer.model.backbone.state_dict()
    for name, tensor in fresh.backbone.state_dict().items():
        assert torch.equal(tensor, trained[name]), name  # weights and batch-norm statistics alike


def test_resume_continues_exactly(small_ws, small_run, tmp_path, monkeypatch):
    config = TrainConfig(**SMALL_RUN)  # small_run: this config trained straight through
    train(small_ws, tmp_path / "interrupted", config, stop_after=2)  # "killed" after epoch 2 of 3
    assert len(pd.read_csv(tmp_path / "interrupted" / "metrics.csv")) == 2
    checkpoint_reads = []
    real_load = torch.load

    def counting_load(source, *args, **kwargs):
        checkpoint_reads.append(Path(source).name == CHECKPOINT)
        return real_load(source, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    # `--resume` alone: the settings come from the checkpoint (workers may change)
    result = runner.invoke(classify_app, ["train", "--workspace", str(small_ws.root), "--resume",
                                          "--out", str(tmp_path / "interrupted"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert sum(checkpoint_reads) == 1  # settings and state (weights, optimiser) from one read
    straight = load_file(small_run / "model.safetensors")
    resumed = load_file(tmp_path / "interrupted" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    a = pd.read_csv(small_run / "metrics.csv").drop(columns="seconds")
    b = pd.read_csv(tmp_path / "interrupted" / "metrics.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)


def test_safetensors_reload_predicts_identically(head_only):
    trainer, run = head_only  # TINY with --epochs 0 on split_ws
    model, meta = load_model(run, torch.device("cpu"))
    images = torch.stack([trainer.data["val"].dataset[i][0] for i in range(min(4, len(trainer.data["val"].dataset)))])
    trainer.model.eval()
    with torch.inference_mode():
        np.testing.assert_array_equal(model(images).numpy(), trainer.model(images).numpy())
    assert meta.classes == trainer.classes


def _leaky_copy(split_ws, tmp_path) -> Workspace:
    root = tmp_path / "leaky"
    shutil.copytree(split_ws.root, root)
    ws = Workspace(root)
    catalog = read_catalog(ws)
    kept = catalog[(catalog["status"] == schema.KEPT) & catalog["split"].notna()]
    owner = kept["owner_id"].value_counts().index[0]
    rows = kept.index[kept["owner_id"] == owner]
    catalog.loc[rows[0], "split"] = "test" if catalog.loc[rows[1], "split"] != "test" else "train"
    write_catalog(ws, catalog)
    return ws


def test_a_leaky_split_is_refused_with_exit_3(split_ws, tmp_path):
    ws = _leaky_copy(split_ws, tmp_path)
    with pytest.raises(DataContractError, match="leaks"):
        train(ws, tmp_path / "run", TrainConfig(**TINY))
    result = runner.invoke(classify_app, ["train", "--workspace", str(ws.root), "--out", str(tmp_path / "cli"),
                                          "--image-size", "48", "--workers", "0"])
    assert result.exit_code == 3 and "--allow-leakage" in result.output
    assert not (tmp_path / "cli" / "model.safetensors").exists()


def test_allow_leakage_trains_says_so_loudly_and_records_it(split_ws, tmp_path, capsys):
    ws = _leaky_copy(split_ws, tmp_path)
    train(ws, tmp_path / "run", TrainConfig(**{**TINY, "epochs": 0}), allow_leakage=True)
    warning = " ".join(capsys.readouterr().err.split())
    assert "WARNING: training on a leaky split" in warning and "will be inflated" in warning
    assert json.loads((tmp_path / "run" / "model.json").read_text())["config"]["leaky_split"] is True


@pytest.mark.parametrize("args, message", [
    (["--schedule", "cosine"], "--schedule"),
    (["--balance", "maybe"], "--balance"),
    (["--epochs", "0", "--head-epochs", "0"], "not both 0"),
    (["--resume"], "--resume needs --out"),
    (["--workers", "-1"], "--workers"),
    (["--patience", "0"], "--patience"),
    (["--image-size", "96", "--cache-side", "64"], "--cache-side"),
    (["--crop-scale", "0"], "--crop-scale"),
    (["--color-jitter", "2"], "--color-jitter"),
    (["--precision", "fp8"], "--precision"),
    (["--eval-image-size", "8"], "--eval-image-size"),
    (["--image-size", "48", "--cache-side", "56", "--eval-image-size", "64"], "must be at least 73"),
])
def test_bad_training_arguments_are_one_line(split_ws, args, message):
    result = runner.invoke(classify_app, ["train", "--workspace", str(split_ws.root), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_resume_without_a_checkpoint_and_overwrite_are_refused(split_ws, head_only, tmp_path):
    with pytest.raises(UsageError, match="nothing to resume"):
        train(split_ws, tmp_path / "none", TrainConfig(**TINY), resume=True)
    shutil.copytree(head_only[1], tmp_path / "run")  # a finished TINY --epochs 0 run on split_ws
    with pytest.raises(UsageError, match="already holds a run"):
        train(split_ws, tmp_path / "run", TrainConfig(**TINY))
    with pytest.raises(UsageError, match="differ"):
        train(split_ws, tmp_path / "run", TrainConfig(**{**TINY, "lr": 0.1}), resume=True)
    # a flag given again with another value than the run's is refused, naming it
    result = runner.invoke(classify_app, ["train", "--workspace", str(split_ws.root), "--resume",
                                          "--out", str(tmp_path / "run"), "--lr", "0.1"])
    assert result.exit_code == 2 and "lr" in result.output and "Traceback" not in result.output


def test_training_needs_a_split(tmp_path):
    ws = Workspace(tmp_path / "unsplit")
    ingest_demo(ws, DemoConfig(photos=40, seed=1, image_width=64, image_height=48), images=True, workers=2)
    result = runner.invoke(classify_app, ["train", "--workspace", str(ws.root), "--workers", "0"])
    assert result.exit_code == 2 and "curate split" in result.output


@pytest.mark.slow  # two torchrun processes: `make test-all`
def test_ddp_with_two_gloo_processes(small_ws, tmp_path):
    """The same command under torchrun: two CPU processes, gradients averaged, rank 0 writes."""
    import os
    import subprocess
    import sys

    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "classify.cli", "train", "--workspace", str(small_ws.root), "--out", str(run),
               "--image-size", "48", "--cache-side", "56", "--batch-size", "8", "--workers", "0",
               "--head-epochs", "1", "--epochs", "1", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    meta = json.loads((run / "model.json").read_text())
    assert meta["config"]["world_size"] == 2
    assert meta["metrics"]["replicas_in_sync"] is True
    assert len(pd.read_csv(run / "metrics.csv")) == 2
    assert done.stdout.count("epoch 1 (stage 1)") == 1  # only rank 0 reports


@pytest.mark.slow
def test_prefilter_finetune_mode_scores_every_photo_out_of_fold(split_ws, tmp_path, monkeypatch):
    """`curate prefilter --mode finetune`: one binary CNN per owner-grouped fold, no embeddings needed."""
    import classify.finetune

    root = tmp_path / "finetune"
    shutil.copytree(split_ws.root, root)
    folds = []  # what each fold's network trained on and scored

    def recording_train(ws, run_dir, config, resume=False, catalog=None, **kwargs):
        kept = catalog[catalog["status"] == schema.KEPT]
        folds.append({side: kept[kept["split"].isin(splits)] for side, splits in
                      (("seen", ["train", "val"]), ("scored", ["test"]))})
        return train(ws, run_dir, config, resume=resume, catalog=catalog, **kwargs)

    monkeypatch.setattr(classify.finetune, "train", recording_train)
    result = runner.invoke(curate_app, ["prefilter", "--workspace", str(root), "--topic", "skyline",
                                        "--mode", "finetune", "--folds", "2", "--head-epochs", "1", "--epochs", "0",
                                        "--image-size", "48", "--batch-size", "16", "--threshold", "0.5", "--force",
                                        "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    catalog = read_catalog(Workspace(root))
    scored = catalog[catalog["topic_score"].notna()]
    assert len(scored) == report["scored"] > 0
    four = report["tagged_kept"] + report["tagged_dropped"] + report["untagged_recovered"] + report["untagged_dropped"]
    assert four == report["scored"]
    assert (scored["topic_score"].astype(float).between(0, 1)).all()
    assert ((scored["drop_reason"] == "off_topic") == (scored["topic_score"].astype(float) < 0.5)).all()
    assert report["label_issues"] is None  # no embeddings in this workspace: skipped with a note
    assert len(folds) == 2
    scored_ids = [set(f["scored"]["photo_id"]) for f in folds]
    assert scored_ids[0].isdisjoint(scored_ids[1]) and scored_ids[0] | scored_ids[1] == set(scored["photo_id"])
    for fold in folds:  # each fold's network never saw the photos, or the photographers, it scored
        assert set(fold["seen"]["photo_id"]).isdisjoint(fold["scored"]["photo_id"])
        assert set(fold["seen"]["owner_id"]).isdisjoint(fold["scored"]["owner_id"])
        assert set(fold["seen"]["label"]) == {"topic", "other"}


def test_a_stage_of_exactly_four_steps_gets_a_one_cycle_schedule(split_ws, head_only, tmp_path):
    """OneCycleLR's warm-up of 25% is zero steps long at 4 steps in all (a division by zero in torch)."""
    photos = len(head_only[0].data["train"].dataset)  # the training photos of TINY on split_ws
    batch_size = next(b for b in range(1, photos + 1) if -(-photos // b) == 4)
    trainer = train(split_ws, tmp_path / "run", TrainConfig(**{**TINY, "batch_size": batch_size, "epochs": 0}))
    assert len(trainer.loader("train", 0)) == 4
    assert np.isfinite(trainer.history[0]["train_loss"])


def test_worker_processes_do_not_change_the_result(small_ws, small_run, tmp_path):
    """Augmentation is seeded per sample: persistent loader workers give the same weights as none."""
    config = SMALL_RUN  # small_run: this config with workers=0
    train(small_ws, tmp_path / "workers", TrainConfig(**{**config, "workers": 2}))
    a = load_file(small_run / "model.safetensors")
    b = load_file(tmp_path / "workers" / "model.safetensors")
    for name in a:
        assert torch.equal(a[name], b[name]), name


def _targets_seen(trainer, epoch: int) -> np.ndarray:
    return np.concatenate([targets.numpy() for _, targets in trainer.loader("train", epoch)])


def test_balance_sampler_evens_out_the_classes_and_loss_weights_them(split_ws, head_only, tmp_path):
    plain = head_only[0]  # TINY (no --balance) on split_ws
    counts = np.bincount(plain.data["train"].dataset.targets, minlength=len(plain.classes))
    assert counts.max() >= 2 * counts.min() > 0  # the demo's cities are imbalanced
    assert plain.criterion.weight is None

    sampler = Trainer(split_ws, tmp_path / "sampler", TrainConfig(**{**TINY, "balance": "sampler"}))
    drawn = np.concatenate([_targets_seen(sampler, epoch) for epoch in range(8)])
    shares = np.bincount(drawn, minlength=len(counts)) / len(drawn)
    natural = counts / counts.sum()
    assert np.abs(shares - 1 / len(counts)).max() < np.abs(natural - 1 / len(counts)).max() / 2

    weighted = Trainer(split_ws, tmp_path / "loss", TrainConfig(**{**TINY, "balance": "loss"}))
    weight = weighted.criterion.weight.numpy()
    products = weight * counts  # inverse class frequency: every class weighs the same in total
    np.testing.assert_allclose(products, products[0], rtol=1e-5)


def _scripted_validation(monkeypatch, losses: list[float]):
    """Make Trainer.evaluate('val') return these losses epoch after epoch (training still runs)."""
    script = iter(losses)
    monkeypatch.setattr(Trainer, "evaluate", lambda self, split: {f"{split}_loss": next(script),
                                                                  f"{split}_accuracy": 0.5})


def test_early_stopping_keeps_the_best_epoch(small_ws, tmp_path, monkeypatch):
    _scripted_validation(monkeypatch, [1.0, 0.8, 0.9, 0.95, 0.7, 0.6])
    config = TrainConfig(**{**TINY, "epochs": 5, "patience": 2, "label_smoothing": 0.1})
    trainer = train(small_ws, tmp_path / "run", config)
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert history["epoch"].tolist() == [1, 2, 3, 4]  # two epochs without a better loss, then stop
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["metrics"]["best_epoch"] == 2 and meta["metrics"]["val_loss"] == 0.8
    assert meta["config"]["label_smoothing"] == 0.1 and trainer.criterion.label_smoothing == 0.1
    # the saved weights are epoch 2's: they differ from the final (epoch 4) weights
    saved = load_file(tmp_path / "run" / "model.safetensors")
    final = trainer.model.state_dict()
    assert any(not torch.equal(saved[name], final[name]) for name in saved)


def test_the_plateau_schedule_lowers_the_rate_when_validation_stalls(small_ws, tmp_path, monkeypatch):
    _scripted_validation(monkeypatch, [1.0, 0.9, 0.9, 0.9, 0.9])
    config = TrainConfig(**{**TINY, "epochs": 4, "patience": 10, "schedule": "plateau"})
    train(small_ws, tmp_path / "run", config)
    rates = pd.read_csv(tmp_path / "run" / "metrics.csv").set_index("epoch")["lr"]
    # stage 2 starts at --lr (each row holds the rate the epoch trained at); the scheduler
    # tolerates one stalled epoch (3), cuts the rate after the second (4), so epoch 5 trains slower
    assert rates[2] == rates[3] == rates[4] == config.lr
    assert rates[5] < rates[4]


def test_the_resized_image_cache_is_built_once_and_shared(split_ws, tmp_path):
    from classify.data import ensure_resized, labelled_rows

    rows = labelled_rows(read_catalog(split_ws)).head(12)
    first = ensure_resized(split_ws, rows, side=40, workers=1)
    stamps = {path: Path(path).stat().st_mtime_ns for path in first}
    again = ensure_resized(split_ws, rows, side=40, workers=1)
    assert again.tolist() == first.tolist()
    assert all(Path(path).stat().st_mtime_ns == stamp for path, stamp in stamps.items())  # not rewritten
    for path in first:
        with Image.open(path) as image:
            assert min(image.size) == 40
        assert Path(path).parent.parent.name == "resized-40"


def test_model_json_from_a_newer_version_is_refused_and_unknown_keys_are_ignored(head_only, tmp_path):
    from classify.model import FORMAT_VERSION, META

    shutil.copytree(head_only[1], tmp_path / "run")  # a TINY --epochs 0 run on split_ws, changed below
    meta_path = tmp_path / "run" / META
    data = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**data, "added_later": {"x": 1}}))
    _, meta = load_model(tmp_path / "run")
    assert meta.classes == data["classes"]
    meta_path.write_text(json.dumps({**data, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(UsageError, match="newer version"):
        load_model(tmp_path / "run")


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    from classify.devices import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device("auto").type == expected


@pytest.mark.slow
def test_bf16_autocast_and_channels_last_run_on_the_cpu_too(split_ws, tmp_path):
    """The CUDA defaults (bf16 autocast, channels-last) asked for on the CPU: the same code path."""
    result = runner.invoke(classify_app, ["train", "--workspace", str(split_ws.root), "--out", str(tmp_path / "run"),
                                          "--image-size", "48", "--cache-side", "56", "--batch-size", "16",
                                          "--workers", "0", "--head-epochs", "1", "--epochs", "1",
                                          "--precision", "bf16", "--channels-last", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert np.isfinite(history[["train_loss", "val_loss"]].to_numpy()).all()

    trainer = Trainer(split_ws, tmp_path / "probe", TrainConfig(**{**TINY, "precision": "bf16", "channels_last": True}))
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels == 3)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    seen = []
    conv.register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output.dtype)))
    images, targets = next(iter(trainer.loader("train", 0)))
    with trainer.autocast():
        trainer.forward(trainer.on_device(images, targets)[0])
    assert seen[0][1] == torch.bfloat16
    plain = Trainer(split_ws, tmp_path / "plain", TrainConfig(**TINY))  # CPU default: fp32, contiguous
    seen.clear()
    conv = next(m for m in plain.model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels == 3)
    conv.register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output.dtype)))
    with plain.autocast():
        plain.forward(plain.on_device(images, targets)[0])
    assert seen[0][1] == torch.float32
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_the_logged_rate_is_the_one_the_epoch_ended_at(small_run):
    """The one-cycle row read the rate one step past the schedule's end, where the cosine wraps back to
    16% of the peak, so every stage seemed to end at 0.165 x --lr (classify audit, finding 8)."""
    config = TrainConfig(**SMALL_RUN)  # small_run: this config on small_ws
    rates = pd.read_csv(small_run / "metrics.csv")["lr"]
    assert (rates <= config.lr * 1.0001).all()
    assert rates.iloc[-1] < 0.05 * config.lr  # the cycle ends near zero


class Watched(torch.Tensor):
    """A tensor that records every time its value is read into Python (on a GPU, a sync)."""

    reads: list[str] = []

    def __float__(self):
        Watched.reads.append("float")
        return float(self.as_subclass(torch.Tensor))

    def __int__(self):
        Watched.reads.append("int")
        return int(self.as_subclass(torch.Tensor))

    def item(self):
        Watched.reads.append("item")
        return self.as_subclass(torch.Tensor).item()


def test_an_epoch_reads_its_loss_and_hits_off_the_device_once(small_ws, tmp_path, monkeypatch):
    """The epoch's loss and accuracy are summed on the device and read after the loop (a read is a
    GPU sync: one per step made the CPU wait before it queued the next step), and equal the sums
    of the per-batch values."""
    trainer = Trainer(small_ws, tmp_path / "probe", TrainConfig(**{**TINY, "batch_size": 4}))
    batches = len(trainer.loader("train", 0))
    assert batches >= 5
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    optimise = trainer.optimise
    monkeypatch.setattr(trainer, "optimise", lambda *batch: tuple(t.as_subclass(Watched) for t in optimise(*batch)))
    Watched.reads.clear()
    trainer._set_stage(2)
    torch.manual_seed(0)
    metrics = trainer._train_epoch(0)
    assert sorted(Watched.reads) == ["float", "int"], Watched.reads  # once each, not once a batch

    monkeypatch.undo()
    trainer.model.load_state_dict(state)  # the same epoch again, summed on the host batch by batch
    trainer._set_stage(2)
    trainer.model.train()
    torch.manual_seed(0)
    total, hits, seen = 0.0, 0, 0
    for images, targets in trainer.loader("train", 0):
        loss, right = trainer.optimise(*trainer.on_device(images, targets))
        if trainer.config.schedule == "onecycle":
            trainer.scheduler.step()
        total, hits, seen = total + float(loss) * len(targets), hits + int(right), seen + len(targets)
    assert seen == len(trainer.data["train"].dataset)
    assert metrics["train_accuracy"] == hits / seen
    assert metrics["train_loss"] == total / seen
