"""Where `curate export` reads the stored images: the workspace's store (curate.objectstore),
the local `<workspace>/images`, a local folder, or an object store (`s3://`, `gs://`, any fsspec URL).

A local store hands the writers file paths: they copy, link or stream each file as before. An
object store hands them the bytes, read by a bounded pool of threads (a GET is bound by the
round trip, not by this machine) and at most `READ_AHEAD` images ahead of the writer, in plan
order: memory holds that many images whatever the size of the collection. The image sizes the
plan needs (shards are cut by bytes; an absent image is reported, not exported) come from the
workspace's size cache (curate.export.sizes), and for the images it does not know from one HEAD
per object, asked by the same pool a catalog batch at a time; what the HEADs say is remembered.
So an export whose images were all measured before asks the store for no size.

An object deleted after its size was remembered is found by its GET: `StaleSize`, on which the
export forgets that size and plans again (curate.export.run), so the photo is listed as missing
exactly as when the plan's HEAD finds it gone. An object the plan's HEAD saw, gone by its GET,
stops the export with one line (exit 3), as before.

With `verify` (the default), every image read for writing is hashed and compared with the SHA-256
its key was named after (`images/<ab>/<sha256>.<ext>`): one whose bytes changed in the store
(a truncated copy, a disk error) is handed to the writers as `Damaged`, which they leave out,
and remembered; the export then plans again (curate.export.run) with the image's size read as
`DAMAGED_SIZE`, so the photo is listed as missing, reason damaged, and the files beside the
images count only what was written. An image an export reuses is not read, so not checked.

A link cannot point into a bucket, so an export from an object store copies the images whatever
`link` asks for (`ImageSource.effective`), and says so. Every message that names an object
masks credentials (`objectstore.mask_secrets`).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from curate import objectstore
from curate.errors import DataContractError, UpstreamError, UsageError
from curate.export.config import ExportConfig
from curate.export.plan import DAMAGED_SIZE
from curate.export.sizes import CACHE_FILE, SizeCache, image_keys
from curate.workspace import Workspace

READ_THREADS = 16  # requests to an object store in flight at once
READ_AHEAD = 32  # images read ahead of the writer (what an export from an object store holds in memory)


class Fetched(NamedTuple):
    """A stored image read from an object store: where it was (for messages) and its bytes."""

    location: str
    data: bytes


class Damaged(NamedTuple):
    """A stored image whose bytes no longer match the SHA-256 in its key: the writers leave it out."""

    location: str
    image_path: str


Stored = str | Fetched  # a local file's path, or an object's bytes
_KEY_DIGEST = re.compile(r"([0-9a-f]{64})\.[^./]+$")  # images/<ab>/<sha256>.<ext>


class StaleSize(DataContractError):
    """A stored image whose size the plan took from the size cache is not in the store any more:
    the plan is out of date (`image_path` says which image)."""

    def __init__(self, message: str, image_path: str):
        super().__init__(message)
        self.image_path = image_path


class ImageSource:
    """The stored images of `ws` for an export; a context manager (closes its pool of threads)."""

    def __init__(self, ws: Workspace):
        uri = objectstore.store_uri(ws)
        self.remote = uri is not None and objectstore.is_url(uri)
        self.where = objectstore.describe(ws)
        self.size_cache: SizeCache | None = None
        if self.remote:
            self._fs = objectstore.filesystem(uri)  # a missing driver: one line, before anything is read
            self._base, self._strip = uri, True
            self.size_cache = SizeCache(ws.cache_dir / CACHE_FILE)
        else:
            self._fs = None
            self._base, self._strip = (str(ws.root), False) if uri is None else (uri, True)
        self.folder = None if self.remote else (ws.images_dir if uri is None else uri)
        self._pool: ThreadPoolExecutor | None = None
        self.verify = True  # hash what is read for writing (see the module's docstring)
        self.damaged: set[str] = set()  # image_path of every image found damaged
        self.upright = 0  # images written as curate's pixels, not their stored bytes (reencode.upright_copy)
        self.shards_before_upright = 0  # shards an export before the upright rule wrote, written again (writers)
        self.misread_links = 0  # images linked as stored bytes a plain reader misreads (reencode.link_reads_otherwise)

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.size_cache is not None:
            self.size_cache.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="export-read")
        return self._pool

    def check_readable(self) -> None:
        """For an object store: UsageError when its prefix holds nothing (a wrong bucket or prefix in
        store.json: otherwise every image would be reported missing), UpstreamError when it cannot
        be listed. Nothing to check for a local store (a missing file is that photo's problem)."""
        if not self.remote:
            return
        try:
            self._fs.info(self._base)  # not `exists`, which reads every error as "absent"
        except FileNotFoundError:
            raise UsageError(f"the image store {self.where} holds no images; check the bucket and prefix in "
                             "<workspace>/store.json and that the credentials in the environment may list it") \
                from None
        except Exception as exc:  # noqa: BLE001 - see _object_size
            raise self._unreadable(self._base, exc) from None

    def location(self, image_path: str) -> str:
        """Where the catalog's `image_path` is: a local path or an object's URL (plain strings:
        pathlib would cost more than a hard link here)."""
        if self._strip:
            image_path = image_path.removeprefix(objectstore.IMAGES_PREFIX)
        return f"{self._base}/{image_path}"

    def effective(self, config: ExportConfig) -> tuple[ExportConfig, list[str]]:
        """(the config the export runs with, notes for export.json and the command's summary): from
        an object store, `link` hardlink or symlink becomes copy."""
        if not self.remote or config.link == "copy":
            return config, []
        note = (f"--link {config.link} was asked, but the images are on an object store ({self.where}) that a "
                "link cannot point into, so they were copied")
        return replace(config, link="copy"), [note]

    # -- sizes ---------------------------------------------------------------------------------

    def begin_plan(self, folder: Path) -> None:
        """Before a plan: the sizes it measures go to `folder` until `end_plan` keeps them (an
        object store; nothing to do for a local one)."""
        if self.size_cache is not None:
            self.size_cache.begin(folder)

    def end_plan(self) -> None:
        """After a plan: remember the sizes it asked the store for (curate.export.sizes)."""
        if self.size_cache is not None:
            self.size_cache.save()

    def sizes(self, catalog: pd.DataFrame) -> pd.Series:
        """Size in bytes of each row's stored image (NaN where there is none), indexed like `catalog`.
        An object store is asked only for the images the size cache does not know."""
        paths = catalog["image_path"].to_numpy(dtype=object)
        sizes = np.full(len(paths), np.nan)
        present = np.flatnonzero(catalog["image_path"].notna().to_numpy())
        if not self.remote:
            sizes[present] = [_file_size(self.location(rel)) for rel in paths[present]]
            return self._mark_damaged(sizes, paths, present, catalog.index)
        keys = image_keys(paths[present])
        known = self.size_cache.lookup(keys)
        sizes[present] = known
        unknown = np.flatnonzero(np.isnan(known))
        if len(unknown):
            locations = [self.location(rel) for rel in paths[present[unknown]]]
            measured = np.fromiter(self.pool.map(self._object_size, locations, chunksize=1), float, len(unknown))
            sizes[present[unknown]] = measured
            self.size_cache.record(keys[unknown], measured)
        return self._mark_damaged(sizes, paths, present, catalog.index)

    def _mark_damaged(self, sizes: np.ndarray, paths: np.ndarray, present: np.ndarray, index: pd.Index) -> pd.Series:
        if self.damaged:
            found = present[pd.Series(paths[present]).isin(self.damaged).to_numpy()]
            sizes[found[~np.isnan(sizes[found])]] = DAMAGED_SIZE  # (one gone since is missing, as any other)
        return pd.Series(sizes, index=index)

    def _object_size(self, url: str) -> float:
        try:
            return float(self._fs.info(url)["size"])
        except FileNotFoundError:
            return math.nan
        except Exception as exc:  # botocore / google-auth / aiohttp errors are not OSErrors
            raise self._unreadable(url, exc) from None

    # -- bytes ---------------------------------------------------------------------------------

    def images(self, image_paths: Iterable[str]) -> Iterator[Stored]:
        """What the writers read for each of `image_paths`, in order: the local path, or the object's
        bytes (read `READ_AHEAD` ahead by the pool; what is not consumed is cancelled)."""
        if not self.remote:
            for image_path in image_paths:
                location = self.location(image_path)
                yield self._checked_file(location, image_path) if self.verify else location
            return
        pending: deque = deque()
        try:
            for image_path in image_paths:
                pending.append(self.pool.submit(self._read, image_path))
                if len(pending) >= READ_AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def _read(self, image_path: str) -> Fetched:
        url = self.location(image_path)
        try:
            # one GET, as objectstore.read_bytes, on this one instance (fsspec caches one per thread)
            data = self._fs.cat_file(url, start=0)
        except FileNotFoundError:
            message = (f"stored image {objectstore.mask_secrets(url)} disappeared from the image store during the "
                       "export; run `curate export` again (it resumes, and lists the image as missing)")
            if self.size_cache is not None and self.size_cache.knows(image_path):
                raise StaleSize(message, image_path) from None  # gone before the plan: plan again
            raise DataContractError(message) from None
        except Exception as exc:  # noqa: BLE001 - see _object_size
            raise self._unreadable(url, exc) from None
        expected = _key_digest(image_path) if self.verify else None
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            self.damaged.add(image_path)  # (a set's add is atomic: the pool's threads may call it)
            return Damaged(objectstore.mask_secrets(url), image_path)
        return Fetched(url, data)

    def _checked_file(self, location: str, image_path: str) -> str | Damaged:
        """`location`, or Damaged when its bytes do not hash to its key's SHA-256 (a file that cannot
        be opened is handed on: the writer's message about it is the one to give)."""
        expected = _key_digest(image_path)
        if expected is None:
            return location
        try:
            with open(location, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            return location
        if digest == expected:
            return location
        self.damaged.add(image_path)
        return Damaged(location, image_path)

    def _unreadable(self, url: str, exc: Exception) -> UpstreamError:
        detail = objectstore.mask_secrets(" ".join(str(exc).split()))[:200] or type(exc).__name__
        return UpstreamError(f"cannot read {objectstore.mask_secrets(url)} from the image store "
                             f"({type(exc).__name__}: {detail}); check that the credentials in the environment "
                             "(AWS_*, GOOGLE_APPLICATION_CREDENTIALS) may read the bucket, then run `curate export` "
                             "again (it resumes)")


def _key_digest(image_path: str) -> str | None:
    """The SHA-256 a stored image's key is named after (None for a key of another shape)."""
    match = _KEY_DIGEST.search(image_path)
    return match.group(1) if match else None


def _file_size(path: str) -> float:
    try:
        return float(os.stat(path).st_size)
    except OSError:
        return math.nan
