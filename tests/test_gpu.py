"""CUDA paths (bf16 autocast, channels-last): skipped without a GPU; everything else runs on CPU."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tests.helpers import demo_workspace

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def split_ws(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("gpu"), photos=200, size=(96, 72))


def test_cuda_embeddings_match_the_cpu_ones(split_ws):
    from curate.embed import embed_paths
    from curate.vision.backbones import load_backbone
    from curate.workspace import read_catalog

    catalog = read_catalog(split_ws)
    paths = [split_ws.root / p for p in catalog["image_path"].dropna().head(32)]
    backbone = load_backbone()
    cpu = np.concatenate([f for _, f, _ in embed_paths(backbone, paths, torch.device("cpu"), 16, 0)])
    gpu = np.concatenate([f for _, f, _ in embed_paths(load_backbone(), paths, torch.device("cuda"), 16, 2)])
    cosine = (cpu * gpu).sum(1) / np.linalg.norm(cpu, axis=1) / np.linalg.norm(gpu, axis=1)
    assert cosine.min() > 0.98  # bf16 autocast: close, not equal


def test_cuda_training_runs_in_bf16_channels_last(split_ws, tmp_path):
    from classify.train import TrainConfig, train

    trainer = train(split_ws, tmp_path / "run", TrainConfig(image_size=96, batch_size=32, epochs=1, device="cuda"))
    history = pd.DataFrame(trainer.history)
    assert np.isfinite(history[["train_loss", "val_loss"]].to_numpy()).all()
    assert next(trainer.model.parameters()).is_cuda
    assert trainer.bf16 and trainer.channels_last  # the CUDA defaults of --precision auto


def test_compiled_cuda_training_saves_weights_that_load_without_compile(split_ws, tmp_path):
    """`--compile` wraps only the forward call: the saved weights load into a plain model on
    any device, and that model predicts on the GPU what it predicts on the CPU."""
    from PIL import Image

    from classify.model import Predictor
    from classify.train import TrainConfig, train
    from curate.workspace import read_catalog

    run = tmp_path / "compiled"
    trainer = train(split_ws, run, TrainConfig(image_size=96, batch_size=32, head_epochs=0, epochs=1,
                                               device="cuda", compile=True))  # one stage: one compile
    assert np.isfinite(pd.DataFrame(trainer.history)[["train_loss", "val_loss"]].to_numpy()).all()
    catalog = read_catalog(split_ws)
    test = catalog[catalog["split"] == "test"]["image_path"].dropna().head(24)
    images = [Image.open(split_ws.root / p).convert("RGB") for p in test]
    on_gpu = Predictor(run, device="cuda").probabilities(images)
    on_cpu = Predictor(run, device="cpu").probabilities(images)
    assert np.abs(on_gpu - on_cpu).max() < 0.02  # fp32 inference on both: only kernel differences
    assert (on_gpu.argmax(1) == on_cpu.argmax(1)).mean() >= 0.9


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL DDP needs two GPUs (one rank per GPU)")
def test_ddp_with_two_nccl_processes(split_ws, tmp_path):
    """torchrun with one process per GPU: NCCL, replicas in sync, rank 0 alone writes."""
    import json
    import subprocess
    import sys

    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "classify.cli", "train", "--workspace", str(split_ws.root), "--out", str(run),
               "--image-size", "96", "--batch-size", "16", "--head-epochs", "1", "--epochs", "1", "--device", "cuda"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    meta = json.loads((run / "model.json").read_text())
    assert meta["config"]["world_size"] == 2 and meta["metrics"]["replicas_in_sync"] is True
