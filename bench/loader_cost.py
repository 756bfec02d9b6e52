"""Loader cost per training image: the trainer's pipeline vs the usual Pillow + torchvision one.

Every training image costs a loader worker one decode of a cached JPEG (short side 256) and one
augmentation (random resized crop to 224 + flip), with its randomness fixed by a per-sample seed
so that epochs are reproducible with any number of workers. On a GPU these workers are what
feeds the network (`bench/train_throughput.py`), so their cost per image bounds the training rate.

- ours: `classify.data.LabelledImages` - torchvision decodes the JPEG straight into a tensor;
  the crop box and the flip are drawn from `numpy.random.default_rng(seed)`.
- baseline: the common recipe - Pillow decode, `v2.Compose([PILToTensor, RandomResizedCrop,
  RandomHorizontalFlip])`, each sample under `torch.random.fork_rng` + `torch.manual_seed(seed)`
  (this is what the trainer did before).

Both run over the same cached images of a generated demo collection, in one process with one
torch thread (as in a DataLoader worker), then through DataLoaders with each worker count asked.
Run:  .venv/bin/python bench/loader_cost.py [--photos 600] [--repeats 3] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


class BaselineImages:
    """The Pillow + torchvision v2 pipeline under per-sample torch seeding."""

    def __init__(self, paths: list[str], size: int, min_scale: float):
        from torchvision.transforms import v2

        self.paths = paths
        self.transform = v2.Compose([v2.PILToTensor(),
                                     v2.RandomResizedCrop(size, scale=(min_scale, 1.0), antialias=True),
                                     v2.RandomHorizontalFlip()])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key):
        from PIL import Image

        index, seed = key
        with Image.open(self.paths[index]) as image, torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(image.convert("RGB")), 0


def cached_images(root: Path, photos: int, side: int) -> list[str]:
    from classify.data import ensure_resized
    from curate.demo.config import DemoConfig
    from curate.ingest.demo import ingest_demo
    from curate.workspace import Workspace, read_catalog

    ws = Workspace(root)
    ingest_demo(ws, DemoConfig(photos=photos, seed=4), images=True, workers=2)
    catalog = read_catalog(ws)
    rows = catalog[catalog["image_path"].notna()].drop_duplicates("sha256")
    return [path for path in ensure_resized(ws, rows, side) if path]


def per_image_ms(dataset, keys: list, repeats: int) -> float:
    """Best of `repeats` passes over `keys`, in ms per image (the best pass has the least noise)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for key in keys:
            dataset[key]
        best = min(best, time.perf_counter() - start)
    return best / len(keys) * 1e3


def loader_rate(dataset, keys: list, workers: int, batch_size: int, repeats: int) -> float:
    """Images/s through a DataLoader: best of `repeats` passes after a first one (worker start-up
    left out)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=batch_size, sampler=keys, num_workers=workers,
                        persistent_workers=workers > 0)
    for _ in loader:
        pass
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in loader:
            pass
        best = min(best, time.perf_counter() - start)
    return len(keys) / best


def main() -> None:
    from classify.data import LabelledImages, transforms
    from curate.vision.backbones import LITE_PREPROCESS

    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache-side", type=int, default=256)
    parser.add_argument("--min-scale", type=float, default=0.35)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        paths = cached_images(Path(tmp), args.photos, args.cache_side)
        keys = list(zip(range(len(paths)), np.random.default_rng(0).integers(0, 2**31, len(paths)).tolist()))
        ours = LabelledImages(paths, np.zeros(len(paths), np.int64),
                              transforms(LITE_PREPROCESS, train=True, min_scale=args.min_scale))
        baseline = BaselineImages(paths, LITE_PREPROCESS.size, args.min_scale)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
              f"{torch.__version__}; "
              f"{len(paths)} cached images (short side {args.cache_side}) -> {LITE_PREPROCESS.size}px crops, "
              f"load average {os.getloadavg()[0]:.2f}")
        base_ms, our_ms = per_image_ms(baseline, keys, args.repeats), per_image_ms(ours, keys, args.repeats)
        print(f"one process, 1 thread: baseline {base_ms:.2f} ms/image; ours {our_ms:.2f} ms/image "
              f"= {base_ms / our_ms:.2f}x faster", flush=True)
        for workers in args.workers:
            base_rate = loader_rate(baseline, keys, workers, args.batch_size, args.repeats)
            our_rate = loader_rate(ours, keys, workers, args.batch_size, args.repeats)
            print(f"DataLoader, {workers} workers, batch {args.batch_size}: baseline {base_rate:.0f} img/s; "
                  f"ours {our_rate:.0f} img/s = {our_rate / base_rate:.2f}x", flush=True)


if __name__ == "__main__":
    main()
