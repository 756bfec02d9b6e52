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


def _read(folder: Path) -> tuple[bool, frozenset[str]]:
    """(whether `folder` is marked with the current way of reading pixels (`VERSION`), the sha256s its mark
    leaves pending: photos whose file could not be opened when it was marked)."""
    try:
        lines = (Path(folder) / MARK).read_text().split()
    except (OSError, UnicodeDecodeError):
        return False, frozenset()
    return bool(lines) and lines[0] == str(VERSION), frozenset(lines[1:])


def marked(folder: Path) -> bool:
    """Whether `folder` is marked with the current way (some photos may still wait: `current`)."""
    return _read(folder)[0]


def current(folder: Path) -> bool:
    """Whether `folder` is marked with the current way and no photo waits to be judged."""
    done, pending = _read(folder)
    return done and not pending


def waiting(folder: Path) -> frozenset[str]:
    """The sha256s the mark of `folder` leaves pending (judged by a later command): an image whose file could not
    be opened, or one out of the catalog when an older cache was marked (review DG 5). What is kept of them is not
    to be trusted yet; an empty set for a folder not marked (`marked` says that)."""
    done, pending = _read(folder)
    return pending if done else frozenset()


def pending_after(folder: Path, judged: Iterable[str], unread: Iterable[str], held: Iterable[str] = ()) -> set[str]:
    """What the mark of `folder` should leave pending once `judged` (sha256s) were judged and `unread` of them could
    not be opened: those, the photos it left pending and were not judged now, and, when it was not marked, the
    values it holds (`held`) of photos not judged now: images gone from the catalog, whose vectors would otherwise
    be trusted if they came back (review DG 5)."""
    done, before = _read(folder)
    judged = set(judged)
    waiting = before if done else frozenset(held)
    return set(unread) | (set(waiting) - judged)


def unjudged(folder: Path, images: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of `images` (sha256, image_path) whose reading `folder` still has to judge: all of them when it is
    not marked, those its mark leaves pending when it is (review DJ 2: one photo gone for good re-read every
    profiled photo on every command), None when nothing waits."""
    done, pending = _read(folder)
    if done and not pending:
        return None
    return images[images["sha256"].isin(pending)] if done else images


def mark(folder: Path, pending: Iterable[str] = ()) -> None:
    """Mark `folder`: the values kept in it were computed from pixels read the current way, but for the photos
    `pending` names (their file could not be opened: judged when a later command can)."""
    from curate.workspace import atomic_write_bytes

    pending = frozenset(pending)
    if _read(folder) != (True, pending):
        Path(folder).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(folder) / MARK, "\n".join([str(VERSION), *sorted(pending)]).encode() + b"\n")


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


def read_otherwise(images: pd.DataFrame, locate: Callable, workers: int = 2) -> tuple[set[str], set[str]]:
    """(the sha256s of `images` (columns sha256, image_path; one row per image) whose stored file reads through a
    colour profile (`reads_through_profile`): those whose values an older reading computed differently, the
    sha256s whose file could not be opened). A place is marked with the latter pending (`mark`): an image missing
    now (a file being restored) would keep its old values for good were it taken as read (review DG 4)."""
    from curate.store import map_images

    rows = images.dropna(subset=["sha256", "image_path"])
    if rows.empty:
        return set(), set()
    flags: Iterable[bool | None] = map_images(reads_through_profile, map(locate, rows["image_path"]), workers)
    flags = list(flags)
    return ({sha for sha, flag in zip(rows["sha256"], flags) if flag},
            {sha for sha, flag in zip(rows["sha256"], flags) if flag is None})
