"""The sizes of the images on an object store, remembered between exports.

The export plan needs each stored image's size (shards are cut by bytes; an absent image is
listed, not exported). On an object store a size is a HEAD request, and a collection of 100
million photos would send 100 million of them on every export, even one that writes nothing.
A stored image's key is its content hash (`images/<ab>/<sha256>.<ext>`), so its size, once
measured, holds for as long as the object exists: `SizeCache` keeps the sizes export measured in
`<workspace>/cache/image-sizes.npy`, and a later export asks the store only for the images it
has never measured.

Why a memory-mapped NumPy file and not a Parquet table: the export holds nothing per photo
(curate.export.spill), and a table read whole would hold ~24 bytes per stored image (2.4 GB for
100 million). The file is three uint64 rows (key, check, size) sorted by (key, check), mapped
read-only; a batch of catalog rows is looked up with a binary search (`np.searchsorted`), so the
process holds one batch, and the kernel pages in what the searches touch (clean, reclaimable
pages). Key and check are two 64-bit hashes of `image_path` (`pandas.util.hash_array`, vectorised,
with two fixed hash keys): 128 bits, so that two of 100 million images share an entry with a
chance of about 1e-23 (two that share only the key are told apart by the check). Should pandas
ever hash differently, the old entries are only never found again: those images are measured
once more.

Only sizes are remembered, never an absence: a photo whose image is missing is asked for again
by every export (one HEAD each), so an image put back in the store is exported again.

New sizes (and the images found absent) are appended to a Parquet file in the export's own
temporary folder while the plan is made, then merged with the known ones by DuckDB
(curate.external_sort: a small memory limit, spilling to disk) and written to a temporary file
that replaces the cache in one rename. A cache that is absent or unreadable is an empty one: the
export measures every image, as before, and writes a new cache. An export that measured nothing
writes nothing.

An object deleted from the store after its size was remembered is not seen by the plan. The
export's GET finds it (`ImageSource`): the export then forgets that size and makes its plan
again (`curate.export.run`), which lists the photo as missing as the first time. Ingest does not
fill the cache: its images are stored by worker processes or Ray tasks that would each need a
share of the file; the first export's HEADs fill it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate import external_sort
from curate.workspace import atomic_file

log = logging.getLogger(__name__)

CACHE_FILE = "image-sizes.npy"
HASH_KEYS = ("curate-size-key1", "curate-size-chk2")  # 16 characters each (pandas' siphash key)
ABSENT = -1  # the size recorded for an image the store does not hold (drops what was remembered)
WRITE_ROWS = 65_536  # merged rows copied into the new file at a time
_SPILL = pa.schema([("key", pa.uint64()), ("chk", pa.uint64()), ("size", pa.int64())])


def image_keys(image_paths: np.ndarray) -> np.ndarray:
    """(n, 2) uint64: key and check of each stored image key (`image_path` strings).

    >>> keys = image_keys(np.array(["images/ab/ab12.jpg", "images/cd/cd34.jpg"], dtype=object))
    >>> keys.shape, keys.dtype.name, bool((keys[0] != keys[1]).all())
    ((2, 2), 'uint64', True)
    """
    values = np.asarray(image_paths, dtype=object)
    return np.stack([pd.util.hash_array(values, hash_key=key, categorize=False) for key in HASH_KEYS], axis=1)


class SizeCache:
    """The remembered sizes of a workspace's stored images (see the module).

    `begin(folder)` takes a snapshot of the file for one plan and records into `folder`;
    `lookup` answers from the snapshot (NaN: not known, or no longer trusted); `record` keeps
    what the store answered; `save` merges it into the file. `knows` tells whether the plan took
    an image's size from the snapshot; `distrust` makes the next plan ask the store again for one
    image, or (`everything`) for every image."""

    def __init__(self, path: Path):
        self.path = path
        self._known = _empty()
        self._distrusted: set[tuple[int, int]] = set()
        self._trusting = True
        self._folder: Path | None = None
        self._writer: pq.ParquetWriter | None = None

    def begin(self, folder: Path) -> None:
        """Read the file (a snapshot, for one plan) and record what is measured into `folder`."""
        self.close()
        self._known = _open(self.path) if self._trusting else _empty()
        self._folder = folder

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Size in bytes of each image of `keys` (from `image_keys`), NaN where it is not known."""
        sizes = np.full(len(keys), np.nan)
        known_keys, known_checks = self._known[0], self._known[1]
        if not len(known_keys) or not len(keys):
            return sizes
        position = np.searchsorted(known_keys, keys[:, 0])
        found = np.full(len(keys), -1)  # where each image's entry is
        pending = np.flatnonzero(position < len(known_keys))
        while len(pending):  # (images whose keys alone collide sit side by side: look at the next one)
            at = position[pending]
            same_key = known_keys[at] == keys[pending, 0]
            hit = same_key & (known_checks[at] == keys[pending, 1])
            found[pending[hit]] = at[hit]
            position[pending] += 1
            pending = pending[same_key & ~hit & (position[pending] < len(known_keys))]
        for key, check in self._distrusted:
            found[(keys[:, 0] == key) & (keys[:, 1] == check)] = -1
        hits = np.flatnonzero(found >= 0)
        sizes[hits] = self._known[2][found[hits]]
        return sizes

    def knows(self, image_path: str) -> bool:
        """Whether this plan took `image_path`'s size from the cache (not from the store)."""
        return not np.isnan(self.lookup(image_keys(np.array([image_path], dtype=object)))[0])

    def record(self, keys: np.ndarray, sizes: np.ndarray) -> None:
        """Remember the sizes the store gave for `keys` (NaN: it does not hold the image)."""
        if self._folder is None or not len(keys):
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._folder / "measured-sizes.parquet", _SPILL)
        values = np.where(np.isnan(sizes), ABSENT, sizes).astype(np.int64)
        self._writer.write_table(pa.table([pa.array(keys[:, 0]), pa.array(keys[:, 1]), pa.array(values)],
                                          schema=_SPILL))

    def distrust(self, image_path: str | None = None, *, everything: bool = False) -> None:
        """Ask the store again, in the next plan, for `image_path`'s size (or for every image's)."""
        if everything:
            self._trusting = False
        elif image_path is not None:
            key, check = image_keys(np.array([image_path], dtype=object))[0]
            self._distrusted.add((int(key), int(check)))

    def save(self) -> None:
        """Merge what was recorded since `begin` into the file (nothing recorded: nothing written)."""
        if self._writer is None:
            return
        self.close()
        folder = self._folder
        measured, merged = folder / "measured-sizes.parquet", folder / "merged-sizes.parquet"
        with external_sort.connect(folder) as con:
            con.register("known", pa.table({name: pa.array(row) for name, row in zip(_SPILL.names, self._known)}))
            external_sort.write_parquet(con, f"""
                WITH measured AS (SELECT key, chk, min(size) AS size
                                  FROM read_parquet({external_sort.literal(str(measured))}) GROUP BY key, chk)
                SELECT key, chk, size::UBIGINT AS size FROM measured WHERE size >= 0
                UNION ALL
                SELECT key, chk, size FROM known ANTI JOIN measured USING (key, chk)
                ORDER BY key, chk""", merged)
        _write(self.path, merged)
        measured.unlink(missing_ok=True)
        merged.unlink(missing_ok=True)
        self._folder = None

    def close(self) -> None:
        """Stop recording (what was recorded and not saved is dropped with the export's folder)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _empty() -> np.ndarray:
    return np.zeros((3, 0), dtype=np.uint64)


def _open(path: Path) -> np.ndarray:
    """The cache file mapped read-only, or an empty cache when it is absent or unreadable."""
    try:
        known = np.load(path, mmap_mode="r", allow_pickle=False)
        if known.dtype != np.uint64 or known.ndim != 2 or known.shape[0] != 3:
            raise ValueError(f"holds a {known.dtype} array of shape {known.shape}, not 3 rows of uint64")
    except FileNotFoundError:
        return _empty()
    except (OSError, ValueError, EOFError) as exc:  # a cache: measure again rather than stop
        log.warning(f"note: image size cache {path} is unreadable ({exc}); asking the image store again")
        return _empty()
    return known


def _write(path: Path, merged: Path) -> None:
    """The merged rows (Parquet, sorted) as the cache file, through a temporary file and one rename."""
    rows = external_sort.parquet_file(merged).metadata.num_rows
    with atomic_file(path) as tmp:
        table = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint64, shape=(3, rows))
        start = 0
        for batch in external_sort.exact_batches(merged, WRITE_ROWS):
            for row, name in enumerate(_SPILL.names):
                table[row, start:start + batch.num_rows] = batch.column(name).to_numpy()
            start += batch.num_rows
        table.flush()
        del table
