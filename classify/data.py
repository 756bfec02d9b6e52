"""Training data from a curated catalog: rows, classes, a pre-resized image cache and loaders.

The cache (`<workspace>/cache/resized-<side>/<ab>/<sha256>.jpg`) holds every training image
with its short side reduced to `side` pixels (never enlarged), built once with a progress
bar and reused by every run, so decoding full-size photos never starves the GPU.
"""

from __future__ import annotations

import io
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from curate import objectstore, schema
from curate.errors import DataContractError, UsageError
from curate.progress import progress_bar
from curate.schema import SPLITS
from curate.vision.backbones import Preprocess
from curate.workspace import Workspace, atomic_write_bytes

log = logging.getLogger(__name__)



def labelled_rows(catalog: pd.DataFrame) -> pd.DataFrame:
    """Kept photos with a label, a split and a stored image."""
    rows = catalog[(catalog["status"] == schema.KEPT) & catalog["label"].notna() & catalog["split"].notna()
                   & catalog["image_path"].notna()]
    if rows.empty:
        raise UsageError("no kept photos with a label and a split: run `curate split` (after `curate filter`) first")
    check_image_refs(rows)
    return rows.reset_index(drop=True)


def check_image_refs(rows: pd.DataFrame) -> None:
    """DataContractError unless every sha256 is 64 hex digits and every image_path a relative
    path that stays inside the workspace: both become file paths (the resize cache is named
    after the sha256), so a hand-edited catalog must not make training read or write elsewhere."""
    digest_ok = rows["sha256"].astype("string").str.fullmatch(r"[0-9a-f]{64}").fillna(False)
    paths = rows["image_path"].astype("string")
    path_ok = ~(paths.str.startswith("/") | paths.str.startswith("\\") | paths.str.contains(":", regex=False)
                | paths.str.contains(r"(?:^|[/\\])\.\.(?:[/\\]|$)")
                | paths.str.contains("\0", regex=False)).fillna(True)
    bad = rows[~(digest_ok & path_ok)]
    if len(bad):
        first = bad.iloc[0]
        raise DataContractError(f"{len(bad)} catalog rows have a sha256 that is not 64 hex digits or an image_path "
                                f"outside the workspace (first: photo {first[schema.PHOTO_ID]!r}, sha256 "
                                f"{first['sha256']!r}, image_path {first['image_path']!r}); restore the catalog "
                                "or run `curate ingest` again")


def class_list(rows: pd.DataFrame) -> list[str]:
    classes = sorted(rows.loc[rows["split"] == "train", "label"].unique())
    if len(classes) < 2:
        raise UsageError(f"training needs at least two labels in the train split, found {classes}")
    return classes


def resized_path(ws: Workspace, sha256: str, side: int) -> Path:
    return ws.cache_dir / f"resized-{side}" / sha256[:2] / f"{sha256}.jpg"


def _resize_one(source: Path, target: Path, side: int) -> str | None:
    """Write `source` resized to a `side` px short side at `target`: None when done, else why the
    image could not be read or decoded (a drop_reason-like "reason: detail").

    An OSError while writing `target` (disk full, a read-only cache) propagates: it says nothing
    about the photo, and reading it as "could not be decoded" would drop good photos from training."""
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
    except Exception as exc:  # noqa: BLE001 - one unreadable file is reported, not fatal
        return unreadable_reason(exc)
    atomic_write_bytes(target, buffer.getvalue(), durable=False)
    return None


def unreadable_reason(exc: BaseException) -> str:
    """Why a stored image could not be used, in the drop_reason vocabulary where one fits.

    >>> unreadable_reason(FileNotFoundError(2, "No such file or directory"))
    'missing_file: No such file or directory'
    """
    from PIL import UnidentifiedImageError

    from curate.store import BadImage, decode_error_detail

    if isinstance(exc, BadImage):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        reason, detail = "missing_file", exc.strerror or str(exc)
    elif isinstance(exc, UnidentifiedImageError):
        reason, detail = "not_an_image", "not an image format Pillow reads"
    elif "truncated" in str(exc):
        reason, detail = "truncated_image", decode_error_detail(exc)
    else:
        reason, detail = "unreadable_image", f"{type(exc).__name__}: {exc}"
    return f"{reason}: {' '.join(detail.split())[:200]}"


def resize_images(ws: Workspace, rows: pd.DataFrame, side: int = 256,
                  workers: int = 4) -> tuple[pd.Series, pd.Series]:
    """(path of each row's pre-resized image, built when missing, null where the image won't
    decode; the reason it won't, null for the others), both indexed like `rows`.

    Raises UsageError when the cache cannot be written (disk full, no permission)."""
    images = rows[["sha256", "image_path"]].drop_duplicates("sha256")
    forget_read_otherwise(ws, side, images, workers)
    targets = {sha: resized_path(ws, sha, side) for sha in images["sha256"]}
    todo = images[[not targets[sha].exists() for sha in images["sha256"]]]
    failed: dict[str, str] = {}
    if len(todo):
        with progress_bar(f"resizing {len(todo):,} images to a {side}px short side (once)", len(todo)) as advance, \
                ThreadPoolExecutor(max(1, workers)) as pool:
            locate = objectstore.locator(ws)  # the workspace's images folder, or its object store
            jobs = [(sha, pool.submit(_resize_one, locate(path), targets[sha], side))
                    for sha, path in zip(todo["sha256"], todo["image_path"])]
            for sha, job in jobs:
                try:
                    reason = job.result()
                except OSError as exc:
                    raise UsageError(f"cannot write the resized image cache {targets[sha].parent.parent} "
                                     f"({type(exc).__name__}: {exc}); free disk space or make it writable, "
                                     "then run again") from None
                if reason is not None:
                    failed[sha] = reason
                advance()
    note_gone_sources(ws, images[~images["sha256"].isin(list(failed))])  # (a mask: an empty list picks columns)
    paths = rows["sha256"].map(lambda sha: None if sha in failed else str(targets[sha]))
    return paths, rows["sha256"].map(failed)


def note_gone_sources(ws: Workspace, images: pd.DataFrame) -> int:
    """Log a note when some of `images` (sha256, image_path: each with a resized copy in the cache) have no file in
    the workspace's local store any more: what reads the cache (training, the probe, the topic gate) still uses
    their copies, made from the bytes the catalog names, while `classify evaluate` and `predict` find them
    unreadable (audit DH 6: a store that lost files went unsaid at train time). An object store is not looked
    at (one request an image). Returns how many are gone."""
    locate = objectstore.locator(ws)
    gone = [sha for sha, path in zip(images["sha256"], images["image_path"]) if isinstance(path, str)
            and isinstance(where := locate(path), Path) and not where.is_file()]
    if gone:
        shown = ", ".join(str(sha)[:12] for sha in gone[:SHOWN_LEFT_OUT])
        more = f" and {len(gone) - SHOWN_LEFT_OUT:,} more" if len(gone) > SHOWN_LEFT_OUT else ""
        log.warning(f"note: {len(gone):,} image{'s' if len(gone) != 1 else ''} of these photos "
                    f"{'are' if len(gone) != 1 else 'is'} gone from the store (sha256 {shown}{more}); their resized "
                    "copies in the cache are used, made from the same bytes, but `classify evaluate` and `predict` "
                    "cannot read them: restore the files from their source")
    return len(gone)


def forget_read_otherwise(ws: Workspace, side: int, images: pd.DataFrame, workers: int = 4) -> int:
    """Unless the resize cache of `side` is marked with the current way of reading pixels (curate.vision.pixel_read),
    remove the resized images of the workspace's photos and of `images` (sha256, image_path) that an older way read
    otherwise (a colour profile other than sRGB, read unconverted before 2026-12-06: review DG, training and the
    topic gate saw their old colours while predict and serve convert), so that they are resized again, and mark
    it; how many were removed. A cache begun today is marked at once."""
    from curate.embed_cache import embeddable_images
    from curate.vision import pixel_read
    from curate.workspace import read_catalog

    folder = ws.cache_dir / f"resized-{side}"
    if pixel_read.current(folder):
        return 0
    stale: set[str] = set()
    pending: set[str] = set()
    if folder.is_dir() and any(path.name != pixel_read.MARK for path in folder.iterdir()):
        catalog = read_catalog(ws, required=False)
        held = pd.concat([embeddable_images(catalog) if "image_path" in catalog else images.iloc[:0], images])
        judge = pixel_read.unjudged(folder, held.drop_duplicates("sha256"))
        if judge is None:  # marked since `current` was asked (another rank of a DDP run, or a second command)
            return 0
        stale, unread = pixel_read.read_otherwise(judge, objectstore.locator(ws), max(1, workers))
        for sha in stale:
            resized_path(ws, sha, side).unlink(missing_ok=True)
        # what stays pending: the unread, what the mark left pending and was not judged now, and, in a cache not
        # marked yet, the resized images of photos out of the catalog now, judged when they are back (review DG 5;
        # review DN: a marked cache's pending photos out of the catalog were dropped from its mark, and trusted)
        cached = () if pixel_read.marked(folder) else {path.stem for path in folder.glob("*/*.jpg")}
        pending = pixel_read.pending_after(folder, judge["sha256"], unread, cached)
    try:
        pixel_read.mark(folder, pending)  # (an image missing now is left pending: judged again next time)
    except OSError as exc:
        raise UsageError(f"cannot write the resized image cache {folder} ({type(exc).__name__}: {exc}); free disk "
                         "space or make it writable, then run again") from None
    return len(stale)


def ensure_resized(ws: Workspace, rows: pd.DataFrame, side: int = 256, workers: int = 4) -> pd.Series:
    """Path of each row's pre-resized image (built when missing); null where the image won't
    decode (those are named in a warning: `resize_images` gives the reasons)."""
    paths, reasons = resize_images(ws, rows, side, workers)
    warn_left_out(rows.assign(reason=reasons)[reasons.notna()])
    return paths


SHOWN_LEFT_OUT = 3  # photos a warning names; the run folder's left_out.csv lists them all


def warn_left_out(left_out: pd.DataFrame) -> None:
    """Log one warning naming the first few rows of `left_out` (with a `reason` column)."""
    if left_out.empty:
        return
    ids = left_out[schema.PHOTO_ID] if schema.PHOTO_ID in left_out else left_out["sha256"]
    first = "; ".join(f"{photo}: {reason}" for photo, reason in
                      zip(ids.head(SHOWN_LEFT_OUT), left_out["reason"].head(SHOWN_LEFT_OUT)))
    more = f"; and {len(left_out) - SHOWN_LEFT_OUT} more" if len(left_out) > SHOWN_LEFT_OUT else ""
    log.warning(f"warning: {len(left_out)} images could not be decoded and are left out ({first}{more})")


def crop_box(rng: np.random.Generator, height: int, width: int, min_scale: float,
             ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random crop covering `min_scale`..1 of the image area
    with an aspect ratio in `ratio` (the RandomResizedCrop rule: ten tries, then the largest
    centred crop whose ratio is in range).

    >>> crop_box(np.random.default_rng(0), 256, 256, min_scale=1.0)
    (0, 0, 256, 256)
    """
    area = height * width
    log_ratio = np.log(ratio)
    for _ in range(10):
        target = area * rng.uniform(min_scale, 1.0)
        aspect = np.exp(rng.uniform(*log_ratio))
        w, h = round(np.sqrt(target * aspect)), round(np.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


@dataclass(frozen=True)
class ImageTransform:
    """(3, H, W) uint8 tensor -> (3, size, size) uint8 tensor.

    Train: a random resized crop, a horizontal flip half the time and (optionally) colour
    jitter, every random draw taken from `numpy.random.default_rng(seed)`, so a sample's
    augmentation depends on its seed alone and no global random state is touched. Eval:
    short side resized to `resize`, centre crop.
    """

    size: int
    resize: int
    train: bool
    color_jitter: float = 0.0
    min_scale: float = 0.35

    def __call__(self, image, seed: int | None = None):
        from torchvision.transforms.v2 import functional as F

        if not self.train:
            return F.center_crop(F.resize(image, [self.resize], antialias=True), [self.size])
        rng = np.random.default_rng(seed)
        top, left, height, width = crop_box(rng, image.shape[-2], image.shape[-1], self.min_scale)
        image = F.resized_crop(image, top, left, height, width, [self.size, self.size], antialias=True)
        if rng.random() < 0.5:
            image = image.flip(-1)
        if self.color_jitter > 0:
            brightness, contrast, saturation = rng.uniform(max(0.0, 1 - self.color_jitter), 1 + self.color_jitter, 3)
            image = F.adjust_saturation(F.adjust_contrast(F.adjust_brightness(image, brightness), contrast), saturation)
        return image


def transforms(preprocess: Preprocess, train: bool, color_jitter: float = 0.0,
               min_scale: float = 0.35) -> ImageTransform:
    """The train (augmenting) or eval transform for a backbone's preprocessing."""
    return ImageTransform(preprocess.size, preprocess.resize, train, color_jitter, min_scale)


class LabelledImages:
    """Map-style dataset: (uint8 image tensor, class index).

    Keys are (index, seed) pairs from `EpochSampler`: the random augmentation of a sample
    depends only on that seed, never on which worker process draws it or what ran before,
    so an epoch is reproducible with any number of (persistent) workers. Decoding and
    augmenting is the per-image work of every loader worker: it is kept cheap.
    """

    def __init__(self, paths: list[str], targets: np.ndarray, transform: ImageTransform):
        self.paths = paths
        self.targets = targets
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, None)
        return self.transform(read_rgb_tensor(self.paths[index]), seed), int(self.targets[index])


def read_rgb_tensor(path: str):
    """A cached JPEG as a (3, H, W) uint8 RGB tensor.

    torchvision's decoder goes straight to a tensor, with no PIL image to convert (part of the
    saving `bench/loader_cost.py` measures); torchvision deprecated its image decoding in 0.29,
    so Pillow (the same libjpeg-turbo, the same pixels) takes over where it is gone.
    """
    import torch

    try:
        from torchvision.io import ImageReadMode, decode_image, read_file
    except ImportError:
        from PIL import Image

        with Image.open(path) as image:
            return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_image(read_file(path), mode=ImageReadMode.RGB)


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
    left_out: pd.DataFrame | None = None  # rows of this split whose image would not decode, with `reason`


def split_datasets(ws: Workspace, rows: pd.DataFrame, classes: list[str], preprocess: Preprocess,
                   cache_side: int = 256, color_jitter: float = 0.0, workers: int = 4,
                   crop_scale: float = 0.35, eval_preprocess: Preprocess | None = None) -> dict[str, SplitData]:
    """{split: SplitData} of `labelled_rows(catalog)` in `classes`, with train augmentation and
    eval transforms (`eval_preprocess`'s crop side when given, else `preprocess`'s)."""
    paths, reasons = resize_images(ws, rows, cache_side, workers)
    rows = rows.assign(resized=paths, reason=reasons)
    left_out = rows[rows["reason"].notna()]
    warn_left_out(left_out)
    rows = rows[rows["resized"].notna() & rows["label"].isin(classes)].drop(columns="reason").reset_index(drop=True)
    index = {name: i for i, name in enumerate(classes)}
    out = {}
    for split in SPLITS:
        part = rows[rows["split"] == split].reset_index(drop=True)
        targets = part["label"].map(index).to_numpy(dtype=np.int64)
        train = split == "train"
        transform = transforms(preprocess if train or eval_preprocess is None else eval_preprocess, train=train,
                               color_jitter=color_jitter, min_scale=crop_scale)
        out[split] = SplitData(part, LabelledImages(part["resized"].tolist(), targets, transform),
                               left_out[left_out["split"] == split].reset_index(drop=True))
    if not len(out["train"].rows):
        raise UsageError("the train split is empty: run `curate split`")
    return out
