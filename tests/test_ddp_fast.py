"""`classify train`'s distributed path (DistributedDataParallel over gloo), in the fast tier.

The slow test (tests/test_train.py::test_ddp_with_two_gloo_processes) starts the real command under
torchrun: three fresh interpreters importing torch cost ~20 CPU-s. Here two ranks are forked from the test
process (torch and the project already imported) with the environment torchrun gives them (RANK, WORLD_SIZE,
MASTER_ADDR, ...), and each calls `classify.train.train` itself, so `init_distributed`, the sharded sampler,
DDP's gradient averaging, the summed metrics, rank-0-only writing and `leave_distributed` all run for real
on the smallest training the settings allow: ~24 photos at 32 px, one fine-tuning epoch (every weight trains).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import multiprocessing
import os
import queue
import socket
import sys
import traceback

import pandas as pd
import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from classify.data import EpochSampler
from classify.train import TrainConfig, train
from classify.trainer import Trainer
from curate.workspace import Workspace
from tests.helpers import demo_workspace

# every weight trains (stage 2 only: `head_epochs` 0), two steps per rank (12 photos each, batch 6), at the
# smallest crop (32 px) and cache side the settings allow, from random weights (the ImageNet ones change
# nothing here); no loader workers (a fork inside a fork). `train(..., gate=False)`: the topic gate is fitted
# by rank 0 alone after training, nothing distributed (the slow test runs it)
CONFIG = dict(head_epochs=0, epochs=1, image_size=32, cache_side=32, batch_size=6, workers=0, device="cpu",
              pretrained=False)
WORLD = 2

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forks the two ranks (Linux)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parameter_digest(model) -> str:
    """A hash of every parameter's bits (the weights the gradients move; buffers aside)."""
    digest = hashlib.sha256()
    for parameter in model.parameters():
        digest.update(parameter.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def one_rank(rank: int, port: int, ws_root, run_dir, answers) -> None:
    """A torchrun worker's life in a forked child: the environment torchrun sets, then `train`.
    Puts (rank, what it saw) on `answers`; the spies below replace this child's copies of the classes only."""
    try:
        os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_WORLD_SIZE=str(WORLD),
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        torch.set_num_threads(1)
        seen = {"drawn": [], "lines": []}
        sampler_iter, fit = EpochSampler.__iter__, Trainer.fit

        def recording_iter(self):  # the training sampler's indices on this rank (eval samplers are not sharded)
            pairs = list(sampler_iter(self))
            if self.world_size > 1:
                seen["drawn"].extend(index for index, _ in pairs)
            return iter(pairs)

        def recording_fit(self, *args, **kwargs):
            seen["before"] = parameter_digest(self.model)
            seen["wrapped"] = isinstance(self.forward, DistributedDataParallel)
            return fit(self, *args, **kwargs)

        EpochSampler.__iter__, Trainer.fit = recording_iter, recording_fit  # this child's copies only

        class Lines(logging.Handler):
            def emit(self, record):
                seen["lines"].append(record.getMessage())

        logging.getLogger("classify.train").addHandler(Lines(logging.INFO))
        logging.getLogger("classify.train").setLevel(logging.INFO)
        trainer = train(Workspace(ws_root), run_dir, TrainConfig(**CONFIG), gate=False)
        answers.put((rank, {**seen, "rank": trainer.dist.rank, "world_size": trainer.dist.world_size,
                            "after": parameter_digest(trainer.model), "history": trainer.history,
                            "train_photos": len(trainer.data["train"].dataset),
                            "group_left": not dist.is_initialized()}))
    except BaseException:  # noqa: BLE001 - the parent shows what went wrong in this rank
        answers.put((rank, {"error": traceback.format_exc()}))


def test_two_forked_gloo_ranks_train_in_sync_and_only_rank_0_writes(tmp_path):
    ws = demo_workspace(tmp_path / "ws", photos=24)  # 23 training photos (and one test photo)
    runs = [tmp_path / "run", tmp_path / "rank-1-out"]  # rank 1 gets a folder of its own: it must write none
    # AdamW's constructor imports torch._dynamo (~2 CPU-s): once here rather than once in each rank (not at the
    # top of this file: every pytest-xdist worker imports each test file, and no other imports it there)
    importlib.import_module("torch._dynamo")
    context = multiprocessing.get_context("fork")  # a fresh interpreter would import torch again (~3 CPU-s each)
    answers = context.Queue()
    port = free_port()
    ranks = [context.Process(target=one_rank, args=(rank, port, ws.root, runs[rank], answers))
             for rank in range(WORLD)]
    for process in ranks:
        process.start()
    seen = {}
    try:  # a rank that fails leaves the other waiting for it: stop at the first failure
        while len(seen) < WORLD and not any("error" in answer for answer in seen.values()):
            rank, answer = answers.get(timeout=180)
            seen[rank] = answer
        for process in ranks if len(seen) == WORLD else ():
            process.join(60)
    except queue.Empty:
        raise AssertionError(f"ranks {sorted(set(range(WORLD)) - set(seen))} did not finish within 3 minutes") from None
    finally:
        for process in ranks:
            if process.is_alive():
                process.kill()
                process.join(10)
    for rank, answer in seen.items():
        assert "error" not in answer, f"rank {rank} failed:\n{answer['error']}"
    assert [process.exitcode for process in ranks] == [0, 0]
    zero, one = seen[0], seen[1]

    # both ranks joined one world of two, and trained DistributedDataParallel
    assert [(s["rank"], s["world_size"]) for s in (zero, one)] == [(0, 2), (1, 2)]
    assert zero["wrapped"] and one["wrapped"], "the model was not wrapped in DistributedDataParallel"
    # each rank trained on its own half of the training photos (padded to an even count, as DistributedSampler)
    photos = zero["train_photos"]
    assert len(zero["drawn"]) == len(one["drawn"]) == -(-photos // WORLD) > CONFIG["batch_size"]  # 2+ steps each
    assert set(zero["drawn"]) | set(one["drawn"]) == set(range(photos))
    assert len(set(zero["drawn"]) & set(one["drawn"])) == WORLD * -(-photos // WORLD) - photos  # the padding only
    # gradients were averaged: from the same start, on different photos, both replicas end on the same weights
    assert zero["before"] == one["before"]
    assert zero["after"] != zero["before"]
    assert zero["after"] == one["after"], "the replicas' weights differ: gradients were not averaged"
    # the epoch's loss and accuracy are summed over both ranks: each rank logs the same figures
    figures = [[{k: v for k, v in row.items() if k != "seconds"} for row in s["history"]] for s in (zero, one)]
    assert figures[0] == figures[1] and len(figures[0]) == 1

    # rank 0 alone wrote the run and reported the epochs; rank 1's folder was never made
    meta = json.loads((runs[0] / "model.json").read_text())
    assert meta["config"]["world_size"] == 2 and meta["metrics"]["replicas_in_sync"] is True
    assert meta["metrics"]["train_photos"] == photos
    assert {"model.safetensors", "checkpoint.pt", "metrics.csv", "trained_on.parquet"} <= {
        path.name for path in runs[0].iterdir()}
    assert len(pd.read_csv(runs[0] / "metrics.csv")) == 1
    assert not runs[1].exists(), f"rank 1 wrote {sorted(p.name for p in runs[1].rglob('*'))}"
    assert any(line.startswith("epoch 1 (stage 2)") for line in zero["lines"])
    assert not any(line.startswith("epoch ") for line in one["lines"]), one["lines"]
    # and both left the process group (`leave_distributed`): no rank exits with gloo still open
    assert zero["group_left"] and one["group_left"], "a rank left `train` with the process group still open"
