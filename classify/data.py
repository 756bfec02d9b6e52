"""Training data from a curated catalog: rows, classes, a pre-resized image cache and loaders.

The cache (`<workspace>/cache/resized-<side>/<ab>/<sha256>.jpg`) holds every training image
with its short side reduced to `side` pixels (never enlarged), built once with a progress
bar and reused by every run, so decoding full-size photos never starves the GPU.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from curate import schema
from curate.console import err_console, progress_bar
from curate.errors import UsageError
from curate.vision.backbones import Preprocess
from curate.workspace import Workspace, atomic_write_bytes

SPLITS = ("train", "val", "test")


def labelled_rows(catalog: pd.DataFrame) -> pd.DataFrame:
    """Kept photos with a label, a split and a stored image."""
    rows = catalog[(catalog["status"] == schema.KEPT) & catalog["label"].notna() & catalog["split"].notna()
                   & catalog["image_path"].notna()]
    if rows.empty:
        raise UsageError("no kept photos with a label and a split: run `curate split` (after `curate filter`) first")
    return rows.reset_index(drop=True)


def class_list(rows: pd.DataFrame) -> list[str]:
    classes = sorted(rows.loc[rows["split"] == "train", "label"].unique())
    if len(classes) < 2:
        raise UsageError(f"training needs at least two labels in the train split, found {classes}")
    return classes


def resized_path(ws: Workspace, sha256: str, side: int) -> Path:
    return ws.root / "cache" / f"resized-{side}" / sha256[:2] / f"{sha256}.jpg"


def _resize_one(source: Path, target: Path, side: int) -> bool:
    from PIL import Image

    from curate.store import open_rgb

    try:
        image = open_rgb(source, min_side=side)
        scale = side / min(image.size)
        if scale < 1:
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.BILINEAR, reducing_gap=2.0)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=92)
        atomic_write_bytes(target, buffer.getvalue(), durable=False)
        return True
    except Exception:  # noqa: BLE001 - one unreadable file is reported, not fatal
        return False


def ensure_resized(ws: Workspace, rows: pd.DataFrame, side: int = 256, workers: int = 4) -> pd.Series:
    """Path of each row's pre-resized image (built when missing); null where the image won't decode."""
    images = rows[["sha256", "image_path"]].drop_duplicates("sha256")
    targets = {sha: resized_path(ws, sha, side) for sha in images["sha256"]}
    todo = images[[not targets[sha].exists() for sha in images["sha256"]]]
    failed: set[str] = set()
    if len(todo):
        with progress_bar(f"resizing {len(todo):,} images to a {side}px short side (once)", len(todo)) as advance, \
                ThreadPoolExecutor(max(1, workers)) as pool:
            jobs = [(sha, pool.submit(_resize_one, ws.root / path, targets[sha], side))
                    for sha, path in zip(todo["sha256"], todo["image_path"])]
            for sha, job in jobs:
                if not job.result():
                    failed.add(sha)
                advance()
    if failed:
        err_console.print(f"warning: {len(failed)} images could not be decoded and are left out", highlight=False)
    return rows["sha256"].map(lambda sha: None if sha in failed else str(targets[sha]))


def transforms(preprocess: Preprocess, train: bool, color_jitter: float = 0.0, min_scale: float = 0.35):
    """PIL -> uint8 tensor. Train: RandomResizedCrop + flip (+ colour jitter); eval: resize + centre crop."""
    from torchvision.transforms import v2

    if train:
        steps = [v2.RandomResizedCrop(preprocess.size, scale=(min_scale, 1.0), antialias=True),
                 v2.RandomHorizontalFlip()]
        if color_jitter > 0:
            steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter))
    else:
        steps = [v2.Resize(preprocess.resize, antialias=True), v2.CenterCrop(preprocess.size)]
    return v2.Compose([v2.PILToTensor(), *steps])


class LabelledImages:
    """Map-style dataset: (uint8 image tensor, class index).

    Keys are (index, seed) pairs from `EpochSampler`: the random augmentation of a sample
    depends only on that seed, never on which worker process draws it or what ran before,
    so an epoch is reproducible with any number of (persistent) workers.
    """

    def __init__(self, paths: list[str], targets: np.ndarray, transform):
        self.paths = paths
        self.targets = targets
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key):
        import torch
        from PIL import Image

        index, seed = key if isinstance(key, tuple) else (key, None)
        with Image.open(self.paths[index]) as image, torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            tensor = self.transform(image.convert("RGB"))
        return tensor, int(self.targets[index])


class EpochSampler:
    """Yields (index, augmentation seed) for one epoch, fixed by (seed, epoch): shuffled (or
    weighted with replacement), sharded over `world_size` ranks; `set_epoch` moves it on."""

    def __init__(self, size: int, seed: int, shuffle: bool, weights: np.ndarray | None = None,
                 rank: int = 0, world_size: int = 1):
        self.size, self.seed, self.shuffle, self.weights = size, seed, shuffle, weights
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch])
        if not self.shuffle:
            return np.arange(self.size)
        if self.weights is not None:
            return rng.choice(self.size, size=self.size, replace=True, p=self.weights / self.weights.sum())
        return rng.permutation(self.size)

    def __iter__(self):
        order = self._order()
        if self.world_size > 1:  # pad to a multiple of the ranks, as DistributedSampler does
            padded = -(-len(order) // self.world_size) * self.world_size
            order = np.resize(order, padded)[self.rank::self.world_size]
        seeds = np.random.default_rng([self.seed, self.epoch, 1]).integers(0, 2**31, len(order))
        return iter(zip(order.tolist(), seeds.tolist()))

    def __len__(self) -> int:
        return -(-self.size // self.world_size) if self.world_size > 1 else self.size


@dataclass
class SplitData:
    rows: pd.DataFrame  # catalog rows of this split (with a decodable image and a known class)
    dataset: LabelledImages


def split_datasets(ws: Workspace, catalog: pd.DataFrame, classes: list[str] | None, preprocess: Preprocess,
                   cache_side: int = 256, color_jitter: float = 0.0, workers: int = 4,
                   crop_scale: float = 0.35) -> tuple[list[str], dict]:
    """(classes, {split: SplitData}) with train augmentation and eval transforms."""
    rows = labelled_rows(catalog)
    classes = classes or class_list(rows)
    rows = rows.assign(resized=ensure_resized(ws, rows, cache_side, workers))
    rows = rows[rows["resized"].notna() & rows["label"].isin(classes)].reset_index(drop=True)
    index = {name: i for i, name in enumerate(classes)}
    out = {}
    for split in SPLITS:
        part = rows[rows["split"] == split].reset_index(drop=True)
        targets = part["label"].map(index).to_numpy(dtype=np.int64)
        transform = transforms(preprocess, train=split == "train", color_jitter=color_jitter, min_scale=crop_scale)
        out[split] = SplitData(part, LabelledImages(part["resized"].tolist(), targets, transform))
    if not len(out["train"].rows):
        raise UsageError("the train split is empty: run `curate split`")
    return classes, out
