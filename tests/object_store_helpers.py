"""One small labelled folder taken through ingest, filter, embed and the training-data read,
for comparing a workspace whose images are on an object store with one that keeps them locally."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from helpers import smooth_photo

from curate import objectstore
from curate.embed import EmbedConfig, EmbeddingCache, run_embed
from curate.filters.run import run_filter
from curate.filters.stage import FilterConfig
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.vision import features
from curate.workspace import Workspace, read_catalog, write_catalog

LABELS = {"harbour": 4, "tower": 4}
EMBED = EmbedConfig(workers=0, device="cpu", image_size=96)  # small input: a quick CPU forward pass
TRAIN_SIDE = 48


def photo_folder(root: Path) -> Path:
    """<label>/<n>.jpg photos, one of them stored twice under another name in its label (the same bytes)."""
    seed = 0
    for label, count in LABELS.items():
        for number in range(count):
            seed += 1
            path = root / label / f"{number}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(smooth_photo(seed, 80, 60, "JPEG"))
    (root / "harbour" / "copy.jpg").write_bytes((root / "harbour" / "0.jpg").read_bytes())
    return root


@dataclass
class Outcome:
    catalog: pd.DataFrame  # after ingest and filter, by photo_id
    vectors: np.ndarray  # embeddings in catalog order of distinct sha256
    training_pixels: dict[str, np.ndarray]  # sha256 -> the resized training image's pixels


def curate_folder(ws: Workspace, folder: Path, store: str | None = None) -> Outcome:
    """ingest folder (into `store`), then every reader: the filter's decode pass, pHashes and
    thumbnails (their catalog columns and cache emptied first, so the images are read again from
    the store), embed, and classify's resize of the training images."""
    from classify.data import ensure_resized, read_rgb_tensor

    objectstore.record_store(ws, store)
    ingest_folder(ws, FolderOptions(folder=folder, workers=2))
    catalog = read_catalog(ws)
    for name in (*features.feature_columns(), "phash", "phash_mirror"):
        if name in catalog.columns:
            catalog[name] = None
    write_catalog(ws, catalog)
    (ws.root / "cache" / "thumbnails.parquet").unlink(missing_ok=True)
    run_filter(ws, FilterConfig(), workers=2, engine="pandas")
    run_embed(ws, EMBED)
    catalog = read_catalog(ws)
    shas = catalog["sha256"].dropna().drop_duplicates()
    vectors, found, ok = EmbeddingCache(ws, EMBED.cache_key).lookup(shas)
    assert found.all() and ok.all()
    rows = catalog[catalog["sha256"].notna()]
    resized = ensure_resized(ws, rows, side=TRAIN_SIDE, workers=2)
    assert resized.notna().all()
    pixels = {sha: read_rgb_tensor(path).numpy() for sha, path in zip(rows["sha256"], resized)}
    return Outcome(catalog.set_index("photo_id").sort_index(), vectors, pixels)
