"""The single decode pass: everything pixel-level the curation needs, from one decode.

For each stored image one decode (at ingest: the validation decode of
`curate.store.put_image`; for images ingested before: `features_of_file`) yields

* ``phash`` and ``phash_mirror`` (curate.filters.phash.phash_pair), and ``phash_trimmed``, the
  pHash without a uniform border (curate.filters.phash.trimmed_phash; null when there is none), and
  ``phash_rot90``, the pHash of the image turned a quarter turn (curate.filters.phash.quarter_turn_phash),
  and ``phash_rot180``, turned a half turn (curate.filters.phash.half_turn_phash), and ``phash_panels``, the
  pHashes of a collage's two panels (curate.filters.panels.panel_phashes; null for an image that is none), and
  ``phash_strips``, the strip hashes a 9:16 portrait crop is found by (curate.filters.portraits.strip_phashes),
* the 16x12 RGB thumbnail the near-duplicate check verifies pairs with
  (curate.filters.verify; kept in ``cache/thumbnails.parquet``, not in the catalog),
* the raw quality statistics (curate.filters.quality.image_statistics).

A JPEG decodes at the smallest DCT scale that keeps both sides >= WORK_SIDE px (libjpeg
scaling: the whole file is still read, so truncation is still caught, at a fraction of the
cost of a full decode). Ingest and the filter's fallback decode the same way, so an image
gets the same features whichever path measured it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from PIL import Image

log = logging.getLogger(__name__)

WORK_SIDE = 256
HASH_COLUMNS = ("phash", "phash_mirror", "phash_trimmed", "phash_rot90", "phash_rot180", "phash_panels",
                "phash_strips")
# Null is these columns' value for most photos (no border, no collage), so a null cell does not make a row "lacking
# features": an image is decoded again for it only when the catalog file holds no such column
# (curate.filters.run.ensure_features reads the file's own columns: reading a catalog adds it as nulls).
NULLABLE_COLUMNS = ("phash_trimmed", "phash_panels", "phash_strips")
# The border rule `phash_trimmed` follows (curate.filters.phash.BORDER_RULE_VERSION), as a workspace's catalog last
# had it computed: ingest marks a new workspace, the filter marks one whose column it brought up to date. A
# workspace not marked with the current version (one from before the mark, or from an older rule) has the column
# computed again for every stored image on its next `curate filter` (one decode each).
BORDER_RULE_MARK = "cache/border_rule"
THUMBNAIL_KEY = "thumbnail_b64"  # in a feature dict / ingest outcome; never a catalog column
THUMBNAIL_CACHE = "cache/thumbnails.parquet"


def feature_columns() -> tuple[str, ...]:
    """The catalog columns the decode pass fills (hashes, then quality statistics)."""
    from curate.filters.quality import STATISTICS

    return (*HASH_COLUMNS, *STATISTICS)


def required_columns() -> tuple[str, ...]:
    """The feature columns every measured image has a value in (`feature_columns` but NULLABLE_COLUMNS)."""
    return tuple(name for name in feature_columns() if name not in NULLABLE_COLUMNS)


def border_rule_current(root: Path) -> bool:
    """Whether the workspace at `root` is marked with the current border rule (`BORDER_RULE_MARK`)."""
    from curate.filters.phash import BORDER_RULE_VERSION

    try:
        return (Path(root) / BORDER_RULE_MARK).read_text().strip() == str(BORDER_RULE_VERSION)
    except (OSError, UnicodeDecodeError):
        return False


def mark_border_rule(root: Path) -> None:
    """Mark the workspace at `root`: its catalog's `phash_trimmed` follows the current border rule."""
    from curate.filters.phash import BORDER_RULE_VERSION
    from curate.workspace import atomic_write_bytes

    if not border_rule_current(root):
        atomic_write_bytes(Path(root) / BORDER_RULE_MARK, f"{BORDER_RULE_VERSION}\n".encode())


def image_features(image: Image.Image) -> dict:
    """Every feature of one decoded, upright RGB image: the catalog columns of
    `feature_columns()` plus THUMBNAIL_KEY (the 16x12 thumbnail, base64 of 576 RGB bytes).

    Small on purpose (about 1 kB as JSON): it travels in the ingest journal.
    """
    from curate.filters.panels import panel_phashes
    from curate.filters.phash import grey_planes, hash_views, trimmed_phash
    from curate.filters.portraits import strip_phashes
    from curate.filters.quality import shrink_for_statistics, work_statistics
    from curate.filters.verify import THUMB_HEIGHT, THUMB_WIDTH

    work = shrink_for_statistics(image)  # one resize feeds the hashes, the thumbnail and the statistics
    grey = work.convert("L")
    planes = grey_planes(grey)  # one array of the grey pixels for the border and collage rules
    phash, mirror, turned, halfturned = hash_views(grey)  # one 32x32 thumbnail for the four views
    thumbnail = work.resize((THUMB_WIDTH, THUMB_HEIGHT), Image.BILINEAR).tobytes()
    return {"phash": phash, "phash_mirror": mirror, "phash_trimmed": trimmed_phash(grey, planes),
            "phash_rot90": turned, "phash_rot180": halfturned, "phash_panels": panel_phashes(grey, planes),
            "phash_strips": strip_phashes(grey),
            **work_statistics(work, grey),
            THUMBNAIL_KEY: base64.b64encode(thumbnail).decode("ascii")}


def features_of_file(path: Path) -> dict | None:
    """`image_features` of a stored image file, decoded as ingest would; None if unreadable."""
    from curate.store import open_rgb

    try:
        image = open_rgb(path, min_side=WORK_SIDE)
    except Exception:  # an unreadable file simply has no features; the caller leaves the row unmeasured
        return None
    return image_features(image)


def compute_features(paths: Iterable[Path], workers: int = 2) -> list[dict | None]:
    """`features_of_file` for each path, in order (threads: Pillow releases the GIL)."""
    from curate.store import map_images

    return map_images(features_of_file, paths, workers)


def thumbnail_bytes(features: Mapping) -> bytes | None:
    """The raw 16x12 RGB thumbnail of a feature dict (None when it has none)."""
    encoded = features.get(THUMBNAIL_KEY) if features else None
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        return None


def read_thumbnail_cache(root: Path) -> dict[str, bytes]:
    """sha256 -> thumbnail bytes from `<workspace>/cache/thumbnails.parquet` ({} if absent or unreadable, with a
    logged note: it is a cache, what it lacks is computed again)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(root) / THUMBNAIL_CACHE
    if not path.exists():
        return {}
    try:
        table = pq.read_table(path, columns=["sha256", "thumbnail"])
    except (OSError, pa.ArrowException) as exc:
        log.warning(f"note: thumbnail cache {path} is unreadable ({exc}); computing it again")
        return {}
    return dict(zip(table.column("sha256").to_pylist(), table.column("thumbnail").to_pylist()))


def add_to_thumbnail_cache(root: Path, thumbnails: Mapping[str, bytes], cached: dict[str, bytes] | None = None,
                           replace: Collection[str] = ()) -> int:
    """Merge sha256 -> thumbnail bytes into the cache (atomic rewrite); returns how many were new or replaced.
    `cached`: the cache as `read_thumbnail_cache` just read it, to spare a second read (it is updated in place).
    `replace`: sha256s whose cached thumbnail is replaced (read the old way: curate.vision.pixel_read)."""
    import pyarrow as pa

    from curate.workspace import write_table_atomic

    cached = read_thumbnail_cache(root) if cached is None else cached
    fresh = {sha: data for sha, data in thumbnails.items()
             if data is not None and (sha not in cached or (sha in replace and cached[sha] != data))}
    if not fresh:
        return 0
    cached.update(fresh)
    table = pa.table({"sha256": pa.array(list(cached), pa.string()),
                      "thumbnail": pa.array(list(cached.values()), pa.binary())})
    write_table_atomic(Path(root) / THUMBNAIL_CACHE, table)
    return len(fresh)
