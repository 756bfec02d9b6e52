"""How stored pixels are read, as the caches and catalog columns computed from them record it.

Since 2026-12-06 (version 2) a photo carrying an RGB colour profile other than sRGB (Adobe RGB, a camera's or
Apple's Generic RGB, a phone's Display P3) is read converted to sRGB (`curate.store.to_srgb`), as a
colour-managed viewer shows it; version 1 read its numbers as if they were sRGB. Only such photos read otherwise
(`reads_through_profile`): 15 of the 100 real flickr-ferrari photos. A workspace made before kept their old
values wherever they were cached (audit DA MED-3: 15 embeddings at cosine 0.989-0.996 to today's, 4-5 pHashes,
15 rows of quality statistics and 3 `bright` flags), while photos ingested later were read the new way.

Each place that keeps values computed from pixels is marked with the version that filled it (a file named
`MARK` in its folder: the workspace's cache folder for the catalog's hashes, quality statistics and thumbnails;
each embedding or feature cache's own folder). A place not marked with the current version has the values of
the photos that read otherwise computed again by the command that fills it (`curate filter`, `curate embed`,
`classify train --probe`), which then marks it; a place filled from nothing by this version is marked at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

VERSION = 2
MARK = "pixel_read"


def current(folder: Path) -> bool:
    """Whether `folder` is marked with the current way of reading pixels (`VERSION`)."""
    try:
        return (Path(folder) / MARK).read_text().strip() == str(VERSION)
    except (OSError, UnicodeDecodeError):
        return False


def mark(folder: Path) -> None:
    """Mark `folder`: the values kept in it were computed from pixels read the current way."""
    from curate.workspace import atomic_write_bytes

    if not current(folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(folder) / MARK, f"{VERSION}\n".encode())


def reads_through_profile(location) -> bool | None:
    """Whether the stored image at `location` (a path or object store URL) carries an RGB colour profile other
    than sRGB, which `curate.store.to_srgb` converts: the photos version 1 read otherwise. Only the header is
    read; None for a file that cannot be opened now (gone from the store: unknown until it is back)."""
    from PIL import Image

    from curate import objectstore
    from curate.store import srgb_transform

    try:
        with objectstore.open_stored(location) as handle, Image.open(handle) as image:
            profile = image.info.get("icc_profile")
    except Exception:  # noqa: BLE001 - unreadable now: not known (review DG 4: it must not be marked as read)
        return None
    return bool(profile) and srgb_transform(bytes(profile)) is not None


def read_otherwise(images: pd.DataFrame, locate: Callable, workers: int = 2) -> tuple[set[str], int]:
    """(the sha256s of `images` (columns sha256, image_path; one row per image) whose stored file reads through a
    colour profile (`reads_through_profile`): those whose values an older reading computed differently, how many
    files could not be opened). A place is marked only when none could not: an image missing now (a file being
    restored) would keep its old values for good once marked (review DG 4)."""
    from curate.store import map_images

    rows = images.dropna(subset=["sha256", "image_path"])
    if rows.empty:
        return set(), 0
    flags: Iterable[bool | None] = map_images(reads_through_profile, map(locate, rows["image_path"]), workers)
    flags = list(flags)
    return {sha for sha, flag in zip(rows["sha256"], flags) if flag}, sum(flag is None for flag in flags)
