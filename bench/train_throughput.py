"""Training throughput: real images through the loader vs synthetic tensors on the device.

Same model, optimiser, batch size and device in one process. "Real" runs `Trainer`'s own
DataLoader (pre-resized JPEG cache, RandomResizedCrop + flip, worker processes, pinned
memory) into full training steps and records how much of each step was spent waiting for
data; "synthetic" repeats training steps on one uint8 batch already on the device. The ratio
real / synthetic is the loader's efficiency (goal >= 0.9x on GPU). On CUDA it also compares
channels-last with the default memory format, for each backbone asked for. For each number of
loader workers asked for, it also times the loader alone (batches copied to the device, no
training): if that is well above the real rate, the workers are not what holds training back.
It also times one whole epoch of `classify train`'s own loop (`Trainer._train_epoch`: the loader's
start, the progress bar, the schedule and the epoch's sums included), what a user's epoch runs at.
Run:  .venv/bin/python bench/train_throughput.py [--backbones efficientnet_lite0 resnet50]
      [--image-size 224] [--batch-size 64] [--steps 30] [--photos 1500] [--workers 8 12 16]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch


def make_workspace(root: Path, photos: int):
    """A filtered, split demo workspace, through the library (no command line: the GPU machine's
    image may hold another typer than ours)."""
    from curate.demo.config import DemoConfig
    from curate.filters.run import FilterConfig, run_filter
    from curate.ingest.demo import ingest_demo
    from curate.recipes import load_recipe
    from curate.split import SplitConfig, run_split
    from curate.workspace import Workspace

    ws = Workspace(root)
    ingest_demo(ws, DemoConfig(photos=photos, seed=2), images=True, workers=2)
    recipe = load_recipe("skylines")
    run_filter(ws, FilterConfig(**recipe.stage_defaults("filter")), recipe=recipe)
    run_split(ws, SplitConfig())
    return ws


def step(trainer, images, targets) -> None:
    """The trainer's own optimisation step (what `classify train` runs for each batch)."""
    trainer.optimise(images, targets)


def synchronise(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def batches(trainer, first_epoch: int):
    """The train loader's batches, epoch after epoch, from `first_epoch` on."""
    epoch = first_epoch
    while True:
        yield from trainer.loader("train", epoch)
        epoch += 1


def real_rate(trainer, steps: int) -> tuple[float, float]:
    """(images/s, share of step time spent waiting for the loader)."""
    seen, waited = 0, 0.0
    # warm-up: one whole epoch, so that the workers are up and cudnn.benchmark has picked its
    # kernels for every batch shape (an epoch's last batch is smaller; each new shape is timed
    # once, which would otherwise land inside the measurement)
    for images, targets in trainer.loader("train", 0):
        step(trainer, *trainer.on_device(images, targets))
    synchronise(trainer.device)
    feed = batches(trainer, 1)
    start = time.perf_counter()
    for _ in range(steps):
        asked = time.perf_counter()
        images, targets = next(feed)
        waited += time.perf_counter() - asked
        step(trainer, *trainer.on_device(images, targets))
        seen += len(targets)
    synchronise(trainer.device)
    total = time.perf_counter() - start
    return seen / total, waited / total


def loader_rate(trainer, steps: int) -> float:
    """Images/s of the loader alone, batches only copied to the device: what the workers can feed
    with no training beside them (compare with the real rate to see whether the workers or the
    training process are short of CPU)."""
    feed = batches(trainer, 100)
    next(feed)  # the workers persist from the real run; this starts the epoch
    seen, start = 0, time.perf_counter()
    for _ in range(steps):
        images, targets = next(feed)
        trainer.on_device(images, targets)
        seen += len(targets)
    synchronise(trainer.device)
    return seen / (time.perf_counter() - start)


def epoch_rate(trainer) -> float:
    """Images/s of `classify train`'s own epoch loop over one whole epoch (its loader's start, the
    progress bar, the schedule and the epoch's sums included): what a user's epoch runs at."""
    trainer._set_stage(2)  # a fresh schedule: the one-cycle schedule allows one epoch of steps
    trainer.model.train()
    synchronise(trainer.device)
    start = time.perf_counter()
    trainer._train_epoch(1)
    synchronise(trainer.device)
    return len(trainer.data["train"].dataset) / (time.perf_counter() - start)


def synthetic_rate(trainer, steps: int, batch_size: int) -> float:
    size = trainer.preprocess.size
    images = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8)
    targets = torch.randint(0, len(trainer.classes), (batch_size,))
    images, targets = trainer.on_device(images, targets)
    for _ in range(5):
        step(trainer, images, targets)
    synchronise(trainer.device)
    start = time.perf_counter()
    for _ in range(steps):
        step(trainer, images, targets)
    synchronise(trainer.device)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    from classify.train import TrainConfig
    from classify.trainer import Trainer

    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0"])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--photos", type=int, default=1500)
    parser.add_argument("--workers", type=int, nargs="+", default=[None],
                        help="loader worker counts to compare (default: the trainer's own default)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", help="auto (bf16 on CUDA), bf16 or fp32")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp), args.photos)
        timed_loader: set = set()
        for name in args.backbones:
            for workers in args.workers:
                config = TrainConfig(backbone=name, batch_size=args.batch_size, image_size=args.image_size,
                                     device=args.device, precision=args.precision, workers=workers,
                                     head_epochs=0, epochs=1,
                                     pretrained=False)  # speed does not depend on the weights' values
                trainer = Trainer(ws, Path(tmp) / "run", config)
                trainer._set_stage(2)  # everything trains: the expensive case
                trainer.model.train()
                cuda = trainer.device.type == "cuda"
                gpu = torch.cuda.get_device_name(trainer.device) if cuda else "none"
                print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, GPU {gpu}, "
                      f"torch {torch.__version__}; {len(trainer.data['train'].rows)} train photos, "
                      f"{config.resolved_workers()} loader workers, load average {os.getloadavg()[0]:.2f}")
                layouts = [True, False] if cuda else [False]
                for channels_last in layouts:
                    trainer.channels_last = channels_last  # the batches' layout, and the model's:
                    trainer.model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
                    precision = "bf16 autocast" if trainer.bf16 else "fp32"
                    label = f"{name} {args.image_size}px batch {args.batch_size} {precision}, " \
                            f"{'channels_last' if channels_last else 'contiguous'}, {config.resolved_workers()} workers"
                    synthetic = synthetic_rate(trainer, args.steps, args.batch_size)
                    real, wait = real_rate(trainer, args.steps)
                    epoch = epoch_rate(trainer)
                    print(f"{label}: synthetic {synthetic:.1f} img/s; real {real:.1f} img/s = {real / synthetic:.2f}x; "
                          f"data wait {wait:.1%} of step time; classify train's epoch loop {epoch:.1f} img/s = "
                          f"{epoch / synthetic:.2f}x", flush=True)
                if config.resolved_workers() not in timed_loader:
                    timed_loader.add(config.resolved_workers())
                    print(f"loader alone, {config.resolved_workers()} workers: "
                          f"{loader_rate(trainer, args.steps):.1f} img/s", flush=True)
                del trainer  # its worker processes end before the next configuration starts

if __name__ == "__main__":
    from curate.console import install_console_output

    install_console_output()  # show the library's progress lines and notes, as the CLI does
    main()
