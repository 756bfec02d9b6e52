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
