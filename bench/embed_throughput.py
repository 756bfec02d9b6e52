"""Embedding throughput: real JPEGs from a workspace through the loader vs synthetic tensors.

Both runs use the same backbone, batch size and device in this process. The real run goes
through `curate.embed.embed_paths` (DataLoader, JPEG decode at reduced scale, resize, crop,
normalise on the device); the baseline feeds one ready-made uint8 batch to the same forward
pass (`curate.embed.forward`: channels-last and bf16 on CUDA, as embedding runs). Each is timed
after an untimed warm-up at the timed batch shapes. The ratio shows how much decoding costs on
top of the network (goal >= 0.8x on CPU).
Run:  .venv/bin/python bench/embed_throughput.py [--images 512] [--workers 0 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path


def make_workspace(root: Path, photos: int):
    from curate.demo.config import DemoConfig
    from curate.ingest.demo import ingest_demo
    from curate.workspace import Workspace, read_catalog

    ws = Workspace(root)
    ingest_demo(ws, DemoConfig(photos=photos, seed=3), images=True, workers=2)
    catalog = read_catalog(ws)
    stored = catalog[catalog["image_path"].notna()].drop_duplicates("sha256")
    return [root / path for path in stored["image_path"]]


def synthetic_rate(backbone, device, batch_size: int, batches: int) -> float:
    """Images/s of `curate embed`'s own forward pass (`curate.embed.forward`: the same model
    preparation, layout and precision) on one uint8 batch already in memory."""
    import torch

    from curate.embed import forward, prepare_model

    model = prepare_model(backbone, device)
    size = backbone.preprocess.size
    images = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8)
    with torch.inference_mode():
        for _ in range(3):  # warm-up at the timed shape (cudnn.benchmark tunes each new shape once)
            forward(backbone, model, images, device)
        synchronise(device)
        start = time.perf_counter()
        for _ in range(batches):
            features = forward(backbone, model, images, device)
        features.float().cpu()
    return batches * batch_size / (time.perf_counter() - start)


def real_rate(backbone, paths, device, batch_size: int, workers: int) -> float:
    """Images/s of `embed_paths` over `paths`, after one untimed pass over the same paths (the
    same batch shapes: cudnn.benchmark's tuning stays out of the timed pass)."""
    from curate.embed import embed_paths

    for _ in embed_paths(backbone, paths, device, batch_size, workers):
        pass
    start = time.perf_counter()
    count = sum(len(indices) for indices, _, _ in embed_paths(backbone, paths, device, batch_size, workers))
    return count / (time.perf_counter() - start)


def synchronise(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    import torch

    from classify.devices import pick_device
    from curate.vision.backbones import load_backbone

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    device = pick_device(args.device)
    backbone = load_backbone()
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_workspace(Path(tmp), args.images)
        batches = max(1, len(paths) // args.batch_size)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads; "
              f"load average at start {os.getloadavg()[0]:.2f}")
        print(f"backbone: {backbone.name} at {backbone.preprocess.size}px, batch {args.batch_size}; "
              f"{len(paths)} real demo JPEGs (160x120); rounds alternate synthetic / real")
        for round_number in range(args.rounds):
            baseline = synthetic_rate(backbone, device, args.batch_size, batches)
            print(f"round {round_number + 1}: synthetic uint8 tensors -> model: {baseline:.1f} images/s")
            for workers in args.workers:
                rate = real_rate(backbone, paths, device, args.batch_size, workers)
                print(f"round {round_number + 1}: real JPEGs through the loader, {workers} workers: "
                      f"{rate:.1f} images/s = {rate / baseline:.2f}x synthetic")
        print(f"load average at end {os.getloadavg()[0]:.2f}")

if __name__ == "__main__":
    from curate.console import install_console_output

    install_console_output()  # show the library's progress lines and notes, as the CLI does
    main()
