"""`curate embed`'s settings (`EmbedConfig`), its report (`EmbedReport`), the cache its vectors go to
(`EmbeddingCache`) and the images it covers (`embeddable_images`, `gone_since_cached`); curate.embed
computes the vectors.

Cache layout (per backbone)::

    <workspace>/cache/embeddings/<backbone>/part-00000.parquet   sha256, ok, vector (float16)
    <workspace>/cache/embeddings/<backbone>-<size>px/...         when --image-size is not 224

Vectors are keyed by the image's `sha256`, so re-runs, new thresholds and new photos only
compute what is missing, and byte-identical copies are embedded once. An image that cannot be decoded is
recorded with ok=False (and a zero vector) so it is not retried on every run. A cache folder not marked with
the current way of reading pixels (curate.vision.pixel_read) first forgets the vectors of the photos that read
otherwise, which are then computed again (`EmbeddingCache.forget_read_otherwise`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from curate import objectstore
from curate.errors import DataContractError
from curate.settings_fields import SettingError, setting
from curate.vision.backbones import DEFAULT_BACKBONE, backbone_names
from curate.workspace import Workspace, write_table_atomic

DEFAULT_IMAGE_SIZE = 224


@dataclass(frozen=True)
class EmbedConfig:
    """`curate embed`'s settings (its flags) and a recipe's [embed] section."""

    backbone: str = setting(DEFAULT_BACKBONE, help=(
        "Feature extractor (default: EfficientNet-Lite0, ImageNet weights, offline)."))
    batch_size: int = setting(64, help="Images per forward pass.")
    device: str = setting("auto", help="auto (CUDA > MPS > CPU), cuda, mps or cpu.")
    workers: int | None = setting(None, help=(
        "Image-decoding worker processes of the local engine (default: half the CPU cores, max 8); "
        "on Ray, decoding runs on Ray's CPUs."))
    checkpoint: int = setting(2048, help="Images per cache part (a part is kept when the command is interrupted).")
    image_size: int | None = setting(None, help=(
        "Input crop side in pixels (default: the backbone's, 224; smaller is faster on CPU)."))

    def __post_init__(self) -> None:
        if self.backbone not in backbone_names():
            raise SettingError(f"unknown backbone {self.backbone!r}; {{backbone}} must be one of "
                               f"{', '.join(backbone_names())}", "backbone")
        if self.batch_size < 1:
            raise SettingError(f"{{batch_size}} must be at least 1, got {self.batch_size}", "batch_size")
        if self.checkpoint < 1:
            raise SettingError(f"{{checkpoint}} must be at least 1, got {self.checkpoint}", "checkpoint")
        if self.image_size is not None and not 32 <= self.image_size <= 1024:
            raise SettingError(f"{{image_size}} must be between 32 and 1024 pixels, got {self.image_size}",
                               "image_size")
        if self.workers is not None and self.workers < 0:
            raise SettingError(f"{{workers}} must be 0 or more, got {self.workers}", "workers")

    @property
    def cache_key(self) -> str:
        """Cache folder name: the backbone, plus the input size when it is not the default."""
        return cache_key(self.backbone, self.image_size)

    def resolved_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        return min(8, max(0, (os.cpu_count() or 1) // 2))


def cache_key(backbone: str, image_size: int | None) -> str:
    return backbone if image_size in (None, DEFAULT_IMAGE_SIZE) else f"{backbone}-{image_size}px"


@dataclass
class EmbedReport:
    backbone: str
    cache_key: str
    dim: int
    images: int  # distinct stored images selected (`embeddable_images`)
    cached: int
    computed: int
    failed: int
    device: str
    seconds: float
    images_per_second: float | None
    missing: int = 0  # image files gone from the store: not cached, so that they are embedded once restored
    read_again: int = 0  # cached images computed again: read otherwise since (a colour profile: pixel_read)
    config: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for `curate embed` and `curate run`: what was cached, computed and unreadable."""
        speed = f" at {self.images_per_second:g} images/s" if self.images_per_second else ""
        again = (f" ({self.read_again:,} of them again: a colour profile, read converted to sRGB since 2026-12-06)"
                 if self.read_again else "")
        return (f"embeddings ({self.backbone}, {self.dim}-d): {self.images:,} stored images, {self.cached:,} already "
                f"cached, {self.computed:,} computed{again}{speed} on {self.device}, {self.failed:,} unreadable")


class EmbeddingCache:
    """Vectors of one backbone, keyed by sha256, stored as parquet parts."""

    def __init__(self, ws: Workspace, key: str, folder: str = "embeddings"):
        """`folder`: the cache folder under `<workspace>/cache/` (`features` holds `classify train
        --probe`'s, which come from other pixels than `curate embed`'s)."""
        self.dir = ws.cache_dir / folder / key
        self._shas: pd.Index | None = None
        self._ok: np.ndarray | None = None
        self._vectors: np.ndarray | None = None

    def _parts(self) -> list[Path]:
        return sorted(self.dir.glob("part-*.parquet")) if self.dir.exists() else []

    def _load(self) -> None:
        if self._shas is not None:
            return
        tables = [_read_part(path) for path in self._parts()]
        if not tables:
            self._shas, self._ok = pd.Index([], dtype=object), np.zeros(0, bool)
            self._vectors = np.zeros((0, 0), np.float16)
            return
        table = pa.concat_tables(tables)
        dim = table.schema.field("vector").type.list_size
        vectors = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        shas = pd.Index(table.column("sha256").to_pylist(), dtype=object)
        first = ~shas.duplicated()
        self._shas = shas[first]
        self._ok = table.column("ok").to_numpy(zero_copy_only=False)[first]
        self._vectors = vectors.reshape(-1, dim)[first]

    @property
    def dim(self) -> int:
        self._load()
        return int(self._vectors.shape[1])

    def known(self) -> set[str]:
        """The sha256s the cache holds a row for (readable or not), read without their vectors."""
        if self._shas is not None:
            return set(self._shas)
        return {sha for path in self._parts() for sha in pq.read_table(path, columns=["sha256"])
                .column("sha256").to_pylist()}

    def missing(self, shas: list[str]) -> list[str]:
        self._load()
        return [sha for sha in shas if sha not in self._shas] if len(self._shas) else list(shas)

    def forget_read_otherwise(self, images: pd.DataFrame, locate, workers: int = 2) -> int:
        """Unless the cache is marked with the current way of reading pixels (curate.vision.pixel_read), drop the
        vectors of `images` (sha256, image_path: the catalog's) that an older way computed differently (each part
        holding one is rewritten atomically), so that they are computed again as missing ones, and mark it (an
        image whose file cannot be opened left pending: judged by a later run).
        Returns how many were dropped. A vector of an image no longer in `images` is kept, left pending in the mark:
        judged when its image is among `images` again (`pixel_read.pending_after`; review DG 5)."""
        from curate.vision import pixel_read

        judge = pixel_read.unjudged(self.dir, images[images["sha256"].isin(self.known())]) if self._parts() else None
        if judge is None:
            return 0
        stale, unread = pixel_read.read_otherwise(judge, locate, workers)
        pending = pixel_read.pending_after(self.dir, judge["sha256"], unread, self.known())
        for path in self._parts() if stale else ():
            table = _read_part(path)
            keep = pa.compute.invert(pa.compute.is_in(table.column("sha256"), pa.array(sorted(stale), pa.string())))
            if not pa.compute.all(keep).as_py():
                write_table_atomic(path, table.filter(keep))
        self._shas = None
        pixel_read.mark(self.dir, pending & self.known())  # (an image missing now is judged again next time)
        return len(stale)

    def mark_current(self) -> None:
        """Mark the cache: every vector it holds was computed from pixels read the current way."""
        from curate.vision import pixel_read

        pixel_read.mark(self.dir)

    def append(self, shas: list[str], vectors: np.ndarray, ok: np.ndarray) -> None:
        """Write one new part atomically (a cache begun by this part is marked as read the current way)."""
        begun = not self._parts()
        self.dir.mkdir(parents=True, exist_ok=True)
        if begun:
            self.mark_current()
        dim = vectors.shape[1]
        flat = pa.array(vectors.astype(np.float16).reshape(-1), pa.float16())
        table = pa.table({"sha256": pa.array(shas, pa.string()), "ok": pa.array(ok, pa.bool_()),
                          "vector": pa.FixedSizeListArray.from_arrays(flat, dim)})
        parts = self._parts()  # numbered after the last one: a deleted part leaves a gap, not a clash
        index = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        write_table_atomic(self.dir / f"part-{index:05d}.parquet", table)
        self._shas = None  # reload lazily

    def lookup(self, shas: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(float32 vectors, found mask, ok mask) aligned with `shas` (nulls are not found)."""
        self._load()
        position = self._shas.get_indexer(shas.fillna("").astype(object)) if len(self._shas) else np.full(len(shas), -1)
        found = position >= 0
        dim = self._vectors.shape[1] if self._vectors.ndim == 2 else 0
        vectors = np.zeros((len(shas), dim), np.float32)
        ok = np.zeros(len(shas), bool)
        if found.any():
            vectors[found] = self._vectors[position[found]].astype(np.float32)
            ok[found] = self._ok[position[found]]
        return vectors, found, ok


def _read_part(path: Path) -> pa.Table:
    """One cache part, checked to hold what the cache writes (a killed write never leaves half a part)."""
    try:
        table = pq.read_table(path)
        if not {"sha256", "ok", "vector"} <= set(table.column_names) or \
                not pa.types.is_fixed_size_list(table.schema.field("vector").type):
            raise ValueError("not an embedding cache part")
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataContractError(f"embedding cache part {path} is unreadable ({exc}); delete it and run "
                                "`curate embed` again to recompute what it held") from exc
    return table


def embeddable_images(catalog: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct stored image that ingest kept: sha256, image_path.

    Photos the filter or the pre-classifier dropped are included: the filter runs after
    embed and links near duplicates (and judges geo outliers) on these vectors, dropped
    photos included. Ingest's drops (broken or unsafe files) are not. Byte-identical copies
    share a sha256 and are embedded once. `curate.freshness` fingerprints the same rows.

    >>> rows = pd.DataFrame({"sha256": ["a", "a", "b", "c"], "image_path": ["x", "x", "y", None],
    ...                      "status": ["kept", "dropped", "dropped", "kept"],
    ...                      "drop_stage": [None, "filter", "ingest", None]})
    >>> embeddable_images(rows)["sha256"].tolist()
    ['a']
    """
    usable = (catalog["drop_stage"] != "ingest") & catalog["image_path"].notna() & catalog["sha256"].notna()
    return catalog.loc[usable, ["sha256", "image_path"]].drop_duplicates("sha256")


def gone_since_cached(ws: Workspace, images: pd.DataFrame, todo: pd.DataFrame) -> int:
    """How many images the cache holds whose file has since gone from a local store (audit AN: deleted after
    `curate embed`, they stayed kept and "fresh" everywhere, the cached vector standing in for them); an object
    store is not asked (one request a photo)."""
    if objectstore.remote(ws):
        return 0
    locate = objectstore.locator(ws)
    cached = images.loc[~images.index.isin(todo.index), "image_path"]
    return sum(1 for path in cached if isinstance(path, str) and not objectstore.exists(locate(path)))
