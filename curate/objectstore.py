"""Where a workspace's stored images live: `<workspace>/images` (the default) or an fsspec URL.

A workspace can keep its images on object storage (`s3://bucket/prefix`, `gs://bucket/prefix`,
any fsspec protocol) or in a local folder outside the workspace, so that a cluster's nodes read
them without a shared filesystem. The choice is made once, by the first ingest that passes
`--store URI` (or a recipe's `[store] uri`), and recorded in `<workspace>/store.json`; every
later command reads it from there. The catalog does not change: `image_path` stays the
store-relative key `images/<ab>/<sha256>.<ext>`, and `locate` turns it into where the bytes are
(`<workspace>/images/ab/...` or `<store>/ab/...`). The catalog, the caches and the reports stay
in the workspace folder.

Writes: a local store writes a temp file and renames it (`curate.workspace.atomic_write_bytes`);
an object store relies on the atomicity of one object PUT (S3, GCS: an object is visible whole
or not at all, and an interrupted upload leaves nothing). Keys are content hashes, so a key that
exists already holds these bytes and is not written again: re-ingesting is idempotent.

Credentials come only from the environment or fsspec's own configuration (AWS_* variables,
~/.aws, GOOGLE_APPLICATION_CREDENTIALS, FSSPEC_S3_*...). A store URI holding credentials
(`s3://KEY:SECRET@bucket`) is refused, and every message that quotes a URL masks them
(`mask_secrets`), so a secret never reaches a log, the catalog, a report or an error.
"""

from __future__ import annotations

import functools
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from curate.errors import UsageError
from curate.redact import mask_userinfo, redact_params
from curate.settings_fields import setting
from curate.workspace import Workspace, atomic_write_bytes

STORE_FILE = "store.json"
IMAGES_PREFIX = "images/"
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}  # protocol -> pip extra that brings its fsspec driver

Location = Path | str  # a local file, or the URL of an object

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def mask_secrets(text: str) -> str:
    """`text` with the credentials of every URL in it masked: `user:password@`, and the values of
    query or fragment parameters named as credentials (`curate.redact.is_secret_name`, the
    names the catalog's URL redaction uses).

    >>> mask_secrets("s3://AKIAXXX:hunter2@bucket/prefix failed")
    's3://***@bucket/prefix failed'
    >>> mask_secrets("https://host/a.jpg?X-Amz-Signature=abc&size=2")
    'https://host/a.jpg?X-Amz-Signature=***&size=2'
    """
    return redact_params(mask_userinfo(_USERINFO.sub(r"\g<scheme>***@", text), "***@"), "***", keep="***")


def is_url(location: Location) -> bool:
    """True for an fsspec URL (`s3://...`, `memory://...`), False for a local path.

    >>> is_url("s3://bucket/x.jpg"), is_url(Path("/tmp/x.jpg")), is_url("images/ab/x.jpg")
    (True, False, False)
    """
    return isinstance(location, str) and "://" in location


def check_store_uri(uri: str, what: str = "the image store") -> str:
    """`uri` checked and normalised (no trailing slash), or a UsageError saying what to fix.

    A local folder (a path, or `file://`) is returned as an absolute path. An URL must name a
    protocol fsspec knows whose driver is installed, and must not hold credentials. `what` names
    the place in messages (an export's destination is checked here too).

    >>> check_store_uri("memory://bucket/photos/")
    'memory://bucket/photos'
    >>> check_store_uri("s3://KEY:SECRET@bucket")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    curate.errors.UsageError: the image store s3://***@bucket holds credentials; remove them from the URL and ...
    """
    text = str(uri).strip()
    if not text:
        raise UsageError(f"{what} is empty; give an fsspec URL (s3://bucket/prefix, gs://bucket/prefix) or "
                         "a folder")
    if not is_url(text) or text.startswith("file://"):
        folder = Path(text.removeprefix("file://")).expanduser().resolve()
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{what} {folder} is a file, not a folder; give a folder (created if absent) or an "
                             "fsspec URL (s3://bucket/prefix)")
        return str(folder)
    if _USERINFO.search(text) or mask_secrets(text) != text:
        raise UsageError(f"{what} {mask_secrets(text)} holds credentials; remove them from the URL and "
                         "give them in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
                         "GOOGLE_APPLICATION_CREDENTIALS) or fsspec's config")
    filesystem(text, what)  # an unknown protocol or a missing driver: one line now
    protocol, _, rest = text.partition("://")
    if not rest.strip("/"):
        raise UsageError(f"{what} {text} names no bucket; give {protocol}://BUCKET or "
                         f"{protocol}://BUCKET/PREFIX")
    return text.rstrip("/")


def filesystem(url: str, what: str = "the image store"):
    """The fsspec filesystem of `url`'s protocol; UsageError (one line, secrets masked) if fsspec or
    its driver is missing, or the driver cannot start with the environment's settings. `what` names
    the place in messages."""
    protocol = url.partition("://")[0].lower()
    extra = EXTRAS.get(protocol)
    hint = f"pip install 'curate-photos[{extra}]'" if extra else "install the fsspec driver for it"
    try:
        import fsspec
    except ImportError:
        raise UsageError(f"{what} at {protocol}:// needs fsspec: {hint}") from None
    try:
        return _filesystem(fsspec, protocol)
    except ValueError:
        raise UsageError(f"{protocol}:// is not a storage protocol fsspec knows; use s3://, gs:// or a local "
                         f"folder for {what}") from None
    except ImportError:
        raise UsageError(f"{what} at {protocol}:// needs its fsspec driver: {hint}") from None
    except Exception as exc:  # the driver's own set-up: gcsfs checks a token, s3fs reads a profile
        detail = mask_secrets(" ".join(str(exc).split()))[:200] or type(exc).__name__
        raise UsageError(f"cannot set up the {protocol}:// driver ({type(exc).__name__}: {detail}); check the "
                         "credentials and settings it reads from the environment (AWS_*, AWS_PROFILE, "
                         "GOOGLE_APPLICATION_CREDENTIALS, FSSPEC_*; docs/scale.md)") from None


# The drivers' loggers, silenced: with no network, gcsfs logged two credential lines, its retries and a full
# aiohttp traceback (54 to 64 lines, audit AT) before the command's own one line said what was wrong.
QUIET_LOGGERS = ("gcsfs", "google.auth", "s3fs", "aiobotocore", "botocore")


def _filesystem(fsspec, protocol: str):
    import logging

    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return fsspec.filesystem(protocol)  # fsspec caches instances (per process, per thread-safe key)


# -- the workspace's setting -------------------------------------------------------------------

@dataclass(frozen=True)
class StoreConfig:
    """Where the images go: the `--store` flag of the ingest commands and a recipe's `[store]` section."""

    uri: str | None = setting(None, flag="--store", metavar="URI", help=(
        "Where the images are stored: an fsspec URL (s3://bucket/prefix, gs://bucket/prefix) or a folder; default "
        "<workspace>/images. Recorded in the workspace by its first ingest; credentials come from the environment, "
        "never the URL (docs/scale.md)."))


_PINNED: dict[Path, str | None] = {}  # workspace root -> store, set on a worker by `pin`


def pin(ws: Workspace, uri: str | None) -> None:
    """Make this process use `uri` as `ws`'s store without reading store.json: a Ray worker is handed
    the store the driver read, so it never depends on seeing the workspace folder for it."""
    _PINNED[ws.root] = uri


def store_uri(ws: Workspace) -> str | None:
    """The store recorded in the workspace (a URL or an absolute folder), or None for the default
    `<workspace>/images`."""
    if ws.root in _PINNED:
        return _PINNED[ws.root]
    path = ws.root / STORE_FILE
    try:
        stamp = path.stat().st_mtime_ns
    except (FileNotFoundError, NotADirectoryError):  # no store.json, or no workspace folder (yet)
        return None
    return _read_store_file(path, stamp)


@functools.lru_cache(maxsize=64)
def _read_store_file(path: Path, stamp: int) -> str | None:  # cached per (file, mtime): read once per change
    try:
        return json.loads(path.read_text(encoding="utf-8"))["uri"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"{path} is not a store setting ({{\"uri\": ...}}); fix it or remove it to use the "
                         "workspace's own images folder") from None


def describe(ws: Workspace) -> str:
    """Where the workspace's images are, for messages (credentials masked)."""
    return mask_secrets(store_uri(ws) or str(ws.images_dir))


def record_store(ws: Workspace, uri: str | None) -> str | None:
    """Record `uri` as the workspace's image store (None: keep what is recorded). Returns the
    store in use. A workspace whose catalog already holds images cannot move to another store:
    UsageError (copy the images, then edit store.json, or use a fresh --workspace)."""
    from curate.workspace import exclusive

    if uri is None:
        return store_uri(ws)
    wanted = check_store_uri(uri)
    if wanted == str(ws.images_dir.resolve()):
        wanted = None
    with exclusive(ws):
        current = store_uri(ws)
        if current == wanted:
            return current
        if _holds_images(ws):
            raise UsageError(f"workspace {ws.root} keeps its images in {describe(ws)}, not "
                             f"{mask_secrets(wanted or str(ws.images_dir))}; use a fresh --workspace for another "
                             "store (or copy the images there and edit store.json)")
        if wanted is None:
            (ws.root / STORE_FILE).unlink(missing_ok=True)
        else:
            atomic_write_bytes(ws.root / STORE_FILE, (json.dumps({"uri": wanted}) + "\n").encode("utf-8"))
    return wanted


def _holds_images(ws: Workspace) -> bool:
    if not ws.has_catalog():
        return False
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    column = pq.read_table(ws.catalog_path, columns=["image_path"]).column("image_path")
    return bool(pc.sum(pc.is_valid(column)).as_py() or 0)


# -- keys, locations, bytes --------------------------------------------------------------------

def locate(ws: Workspace, image_path: str) -> Location:
    """Where the stored image `image_path` (the catalog's store-relative key) is: a local Path,
    or the URL of its object.

    >>> locate(Workspace(Path("/data/ws")), "images/ab/ab12.jpg")
    PosixPath('/data/ws/images/ab/ab12.jpg')
    """
    return locator(ws)(image_path)


def locator(ws: Workspace):
    """`locate` with the workspace's setting read once: for a loop over many images. A store whose
    fsspec driver is missing is a UsageError here, before any image is read (a reader that counts
    unreadable images would otherwise find every one unreadable)."""
    uri = store_uri(ws)
    if uri is None:
        return lambda image_path: ws.root / image_path
    if is_url(uri):
        filesystem(uri)
        return lambda image_path: f"{uri}/{image_path.removeprefix(IMAGES_PREFIX)}"
    return lambda image_path: Path(uri) / image_path.removeprefix(IMAGES_PREFIX)


def exists(location: Location) -> bool:
    if is_url(location):
        return filesystem(location).exists(location)
    return Path(location).is_file()


def put_bytes(location: Location, data: bytes) -> bool:
    """Store `data` at `location` unless something is there already (keys are content hashes, so it
    is the same bytes). Returns whether it wrote. Local: temp file + rename; object store: one PUT.
    (`curate.store.put_image` writes local files itself, through its own `atomic_write_bytes`.)"""
    if is_url(location):
        fs = filesystem(location)
        if fs.exists(location):
            return False
        fs.pipe_file(location, data)
        return True
    path = Path(location)
    if path.exists():
        return False
    atomic_write_bytes(path, data, durable=False)
    return True


def read_bytes(location: Location) -> bytes:
    """The stored bytes at `location` (FileNotFoundError if there are none). An object is one GET:
    asked from byte 0 (`start=0`), s3fs sends a ranged GET for the whole object instead of a HEAD
    for its size and then the GET."""
    if is_url(location):
        return filesystem(location).cat_file(location, start=0)
    return Path(location).read_bytes()


def open_stored(location: Location) -> BinaryIO:
    """A binary file object of the stored image (the caller closes it). An object is read whole,
    with one GET (`read_bytes`), not through a file object whose small seeks would each be a
    ranged request."""
    if is_url(location):
        return io.BytesIO(read_bytes(location))
    return open(location, "rb")


def remote(ws: Workspace) -> bool:
    """Whether the workspace's images are on an object store (a URL), not in a local folder: asking it whether
    a file exists costs a request per photo."""
    uri = store_uri(ws)
    return uri is not None and is_url(uri)


def check_writable(ws: Workspace) -> None:
    """UsageError, before any photo is fetched, when the workspace's object store cannot be
    listed or written (no bucket, no credentials): otherwise every photo would fail alone."""
    if not remote(ws):
        return
    probe_write(store_uri(ws), "the image store", "images")


def probe_write(url: str, what: str, purpose: str) -> None:
    """Write and remove an empty `<url>/.curate-write-check`: UsageError (one line, secrets masked)
    when `url`'s bucket is missing or the credentials may not write to it. `what` names the place
    in the message ("the image store"), `purpose` what it stores there."""
    probe = f"{url}/.curate-write-check"
    fs = filesystem(url)
    try:
        fs.pipe_file(probe, b"")
    except UsageError:
        raise
    except Exception as exc:  # botocore / google-auth / aiohttp errors are not OSErrors
        detail = mask_secrets(" ".join(str(exc).split()))[:200] or type(exc).__name__
        raise UsageError(f"cannot write to {what} {mask_secrets(url)} ({type(exc).__name__}: {detail}); "
                         "check that the bucket exists and that the credentials in the environment (AWS_*, "
                         f"GOOGLE_APPLICATION_CREDENTIALS) may write {purpose} to it") from None
    try:
        fs.rm_file(probe)
    except Exception:  # noqa: BLE001 - a store that may write but not delete still stores files
        pass
