"""The workspace: a folder holding the catalog, the image store and stage outputs.

Layout::

    <workspace>/catalog.parquet          one row per photo (see curate.schema)
    <workspace>/images/<ab>/<sha256>.ext content-addressed image store
    <workspace>/journal/                 append-only progress of interrupted ingests
    <workspace>/demo_truth.parquet       ground truth of the demo collection
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from curate import schema
from curate.errors import CATALOG_FIX, DataContractError, UsageError

DEFAULT_WORKSPACE = "workspace"
WORKSPACE_ENV = "CURATE_WORKSPACE"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.parquet"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def journal_dir(self) -> Path:
        return self.root / "journal"

    @property
    def truth_path(self) -> Path:
        return self.root / "demo_truth.parquet"

    @property
    def cache_dir(self) -> Path:  # what can be computed again: embeddings, thumbnails, staging
        return self.root / "cache"

    @property
    def reports_dir(self) -> Path:  # each stage's last report, <stage>.json
        return self.root / "reports"

    @property
    def runs_dir(self) -> Path:  # training runs, tuning searches, evaluations
        return self.root / "runs"

    def check_not_a_file(self) -> Workspace:
        """UsageError when the workspace path names a file (a missing folder is fine: ingest creates it)."""
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"workspace {self.root} is a file, not a folder; pass --workspace with a folder path")
        return self

    def ensure(self) -> Workspace:
        self.check_not_a_file()
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def has_catalog(self) -> bool:
        return self.catalog_path.exists()


LOCK_FILE = ".lock"
_held: dict[Path, int] = {}  # workspaces this process holds the lock of, and how deeply


@contextmanager
def exclusive(ws: Workspace):
    """Hold the workspace's write lock while a command changes it.

    Without it, two commands on one workspace (say an ingest and a filter in two terminals) each
    write back the catalog they read, and the rows the other one added are lost. A second command
    stops at once with one line instead. Re-entrant within a process (`curate run` holds it across
    its steps). It is a POSIX record lock (`lockf`) on `<workspace>/.lock`: the OS releases it when
    the process ends, however it ends, so a killed command never leaves a stale lock, and unlike
    `flock` it is not inherited by forked DataLoader workers, which may outlive the command's
    hold. A workspace that does not exist yet is created first and locked like any other (two
    first ingests into one new workspace would otherwise both write a catalog, and one's rows be
    lost); if the command leaves nothing in it, the empty folder is removed again. Where `fcntl`
    is missing (Windows) there is no lock.
    """
    key = ws.root.resolve()
    if _held.get(key) or fcntl is None:
        _held[key] = _held.get(key, 0) + 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    created, handle = _open_lock_file(ws)
    with handle:
        try:
            fcntl.lockf(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise UsageError(f"another curate command is changing the workspace {ws.root} right now; wait for it to "
                             "finish, or use another --workspace") from None
        _held[key] = 1
        try:
            restore_interrupted_swap(ws.catalog_path)
            yield
        finally:
            del _held[key]
            if created:
                _remove_if_unused(ws.root)  # still under the lock; closing the file releases it


def _open_lock_file(ws: Workspace) -> tuple[bool, IO[str]]:
    """(whether this call created the workspace folder, `<workspace>/.lock` opened to append).

    Retried when the folder vanishes between mkdir and open (another command removing the
    empty workspace it had created)."""
    ws.check_not_a_file()
    for _ in range(5):
        created = not ws.root.exists()
        try:
            ws.root.mkdir(parents=True, exist_ok=True)
            return created, open(ws.root / LOCK_FILE, "a")
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise UsageError(f"cannot create or lock the workspace {ws.root} ({exc.strerror or exc}); "
                             "pass --workspace with a folder you can write to") from None
    raise UsageError(f"the workspace {ws.root} keeps disappearing; is another program removing it?")


def _remove_if_unused(root: Path) -> None:
    """Remove a workspace folder this process created when only its lock file is in it."""
    try:
        if [entry.name for entry in os.scandir(root)] == [LOCK_FILE]:
            (root / LOCK_FILE).unlink()
            root.rmdir()  # fails harmlessly if another command just put something in it
    except OSError:
        pass


def swap_aside(path: Path) -> Path:
    """Where a folder catalog's old parts wait while a new folder is swapped in for it."""
    return path.parent / f".{path.name}.old"


def swap_in_folder(new: Path, target: Path) -> None:
    """Put the folder `new` in the place of the folder `target` by two renames, the old parts kept
    aside (`swap_aside`) until the new folder is in place, then removed."""
    aside = swap_aside(target)
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(target, aside)
    os.replace(new, target)
    shutil.rmtree(aside, ignore_errors=True)


def restore_interrupted_swap(path: Path) -> None:
    """Put a folder catalog's old parts back when a write stopped between its two renames (the
    catalog gone, its parts aside): the catalog is again the last one written whole. Called
    under the workspace lock, so no write is mid-swap."""
    aside = swap_aside(path)
    if not path.exists() and aside.is_dir():
        os.replace(aside, path)


def changes_workspace(function):
    """Decorator for a command's I/O edge whose first argument is the Workspace it changes:
    runs it under `exclusive(ws)`."""
    @functools.wraps(function)
    def wrapper(ws: Workspace, *args, **kwargs):
        with exclusive(ws):
            return function(ws, *args, **kwargs)
    return wrapper


def resolve_workspace(path: str | os.PathLike | None) -> Workspace:
    """The workspace given on the command line, else $CURATE_WORKSPACE, else ./workspace."""
    chosen = path or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
    return Workspace(Path(chosen).expanduser())


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write bytes so that readers see either the old file or the whole new one.

    `durable=False` skips the fsync: still atomic against a killed process (the
    rename happens after the whole write), but not against power loss. The image store
    uses it, since each image is re-verifiable by its content hash and a per-image
    fsync costs ~10 ms on slow disks.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = temp_file_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


@functools.cache
def _umask() -> int:
    """The process's umask (read once: setting it back and forth is not thread-safe later on)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_file_beside(path: Path) -> tuple[int, str]:
    """mkstemp in `path`'s folder, named after it, with the mode a plain `open` would give
    (0666 less the umask) rather than mkstemp's 0600: a workspace's catalog, images and report
    stay readable by whoever the umask lets read them (a teammate, a web server)."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    except (AttributeError, OSError):  # no fchmod (Windows) or a filesystem without modes: keep 0600
        pass
    return fd, name


_umask()  # at import, before any worker thread starts


@contextmanager
def atomic_file(path: Path, durable: bool = True):
    """A temporary path beside `path` for the caller to write; when the block ends without error
    the file is fsynced (unless `durable=False`) and renamed over `path`, so readers see the old
    file or the whole new one; on any error (an interrupt too) it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = temp_file_beside(path)
    os.close(fd)
    try:
        yield Path(tmp_name)
        if durable:
            with open(tmp_name, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


PARQUET_ROW_GROUP = 65_536  # rows per row group: a column read in batches is decoded this many rows at a time


def write_table_atomic(path: Path, table: pa.Table, row_group_size: int | None = None) -> None:
    """Write a Parquet file via a temp file in the same folder and an atomic rename, in row groups
    of `row_group_size` rows (default PARQUET_ROW_GROUP), so that `ParquetFile.iter_batches`
    decodes one group of a column at a time, not the whole column."""
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_size or PARQUET_ROW_GROUP)


def catalog_parts(path: Path) -> list[Path]:
    """The Parquet files of a catalog: the file itself, or a folder's `*.parquet` parts (sorted by
    name: their order is the rows' order, docs/scale-catalog.md)."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.glob("*.parquet") if p.is_file())
    return [path]


def _read_part(path: Path) -> pa.Table:
    """One Parquet file read through one open handle. `pq.read_table(path)` opens the path more than once
    (its footer, then its pages), so a catalog written meanwhile (an atomic rename: `curate review` saving
    decisions while `curate status` or a test reads) paired the old footer with the new pages: "Page was
    smaller than expected", about 3 reads in 10 while another thread replaced the file; none through a handle.
    The handle is Arrow's own (`pa.OSFile`), not a Python file: through a Python file Arrow's pre-buffered reads
    held Python buffers that its I/O threads released at interpreter exit, which aborted about one command in 30
    after its work was done (exit 134, "terminate called without an active exception"; audit CK)."""
    with pa.OSFile(str(path), "rb") as handle:
        return pq.read_table(handle)


def _concat_parts(parts: list[pa.Table]) -> pa.Table:
    """A folder's parts as one table. Each part's declared columns are first converted to the
    schema's types as `schema.conform` converts a single file's (through pandas), so that parts
    differing only in how a writer encoded a column (a dictionary-encoded or large string, a
    tz-aware timestamp, BINARY text, a wider integer) concatenate: the folder reads as the same
    rows in one file would (docs/scale-catalog.md, "Catalogs from other Parquet writers"). Parts
    may differ in their columns (one written before a stage added some): unified by name."""
    return pa.concat_tables([_declared_types(part) for part in parts], promote_options="permissive")


def _check_known_columns(ws: Workspace, files: list[Path]) -> None:
    """`schema.check_known_columns` over the parts' columns (DataContractError naming the catalog)."""
    names = {name for part in files for name in pq.read_schema(part).names if not name.startswith(PANDAS_INDEX_PREFIX)}
    try:
        schema.check_known_columns(sorted(names))
    except DataContractError as exc:
        raise DataContractError(f"{ws.catalog_path}: {exc}; {CATALOG_FIX}") from exc


PANDAS_INDEX_PREFIX = "__index_level_"  # a pandas writer's index column: to_pandas makes it the index, conform drops it


def _declared_types(part: pa.Table) -> pa.Table:
    """`part` with each declared column whose type is not the schema's converted as conform converts it."""
    odd = [field.name for field in part.schema
           if field.name in schema.COLUMN_BY_NAME and field.type != schema.COLUMN_BY_NAME[field.name].type]
    if not odd:
        return part
    frame = part.select(odd).replace_schema_metadata(None).to_pandas(types_mapper=schema.pandas_type)
    declared = pa.schema([pa.field(name, schema.COLUMN_BY_NAME[name].type) for name in odd])
    converted = pa.Table.from_pandas(frame, schema=declared, preserve_index=False, safe=False)
    for name in odd:
        part = part.set_column(part.schema.get_field_index(name), name, converted.column(name))
    return part


def read_catalog(ws: Workspace, *, required: bool = True) -> pd.DataFrame:
    """Read the catalog (a file, or a folder of Parquet parts); an absent catalog is an empty one
    unless `required`."""
    if not ws.catalog_path.exists() and swap_aside(ws.catalog_path).is_dir():
        with exclusive(ws):  # a write was interrupted mid-swap: taking the lock puts the old parts back
            pass
    if not ws.catalog_path.exists():
        ws.check_not_a_file()  # "no catalog at photo.jpg/catalog.parquet" would send the user the wrong way
        if required:
            raise UsageError(
                f"no catalog at {ws.catalog_path}; run `curate ingest ...` first or pass --workspace"
            )
        return schema.empty_catalog()
    files = catalog_parts(ws.catalog_path)
    try:
        if len(files) > 1:  # refused before the parts are read
            _check_known_columns(ws, files)
        parts = [_read_part(part) for part in files]
    except (OSError, pa.ArrowException) as exc:
        raise DataContractError(f"catalog {ws.catalog_path} is unreadable ({exc}); "
                                + CATALOG_FIX) from exc
    if not parts:
        return schema.empty_catalog()
    try:
        table = parts[0] if len(parts) == 1 else _concat_parts(parts)
        if table.schema.equals(schema.arrow_schema(), check_metadata=False):  # as write_catalog wrote it: no
            schema.validate(table)                                           # round trip through pandas to conform
            return schema.to_pandas(table.replace_schema_metadata(None))
        conformed = schema.conform(table.to_pandas(types_mapper=schema.pandas_type))
        # the declared types' dtypes, not the file's: conform keeps the pandas metadata of the frame it was
        # given, which named a foreign file's column types (lat written as text came back as text)
        return schema.to_pandas(conformed.replace_schema_metadata(None))
    except DataContractError as exc:
        raise DataContractError(f"{ws.catalog_path}: {exc}; {CATALOG_FIX}") from exc
    except (ValueError, TypeError, pa.ArrowException) as exc:  # a column of the wrong type
        raise DataContractError(f"catalog {ws.catalog_path} does not match the schema ({exc}); "
                                + CATALOG_FIX) from exc


def write_catalog(ws: Workspace, catalog: pd.DataFrame) -> None:
    """Validate the catalog against the schema and write it atomically. A catalog that is a folder
    of parts is written back as one part in a new folder swapped in for the old one (two renames:
    a crash between them leaves the old parts in `.catalog.parquet.old`, put back by the next
    command that takes the workspace lock or reads the catalog), as the DuckDB engine does."""
    table = schema.conform(catalog)
    if not ws.catalog_path.is_dir():
        write_table_atomic(ws.catalog_path, table)
        return
    target = ws.catalog_path
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(folder, 0o777 & ~_umask())  # as mkdir would: not mkdtemp's 0700 (a shared workspace)
        pq.write_table(table, folder / "part-00000.parquet", compression="zstd", row_group_size=PARQUET_ROW_GROUP)
        swap_in_folder(folder, target)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def catalog_sha256(ws: Workspace) -> str:
    """Hash of the catalog, saved with every run output that reads it (`catalog_file_sha256`)."""
    return catalog_file_sha256(ws.catalog_path)


def catalog_file_sha256(path: Path) -> str:
    """Hash of a catalog file, or of a folder's parts in name order. Kept for the process while every part keeps
    its identity (device, inode, size, modification and change times: an atomic write is a new inode), so that a
    command asking twice reads the file once (`curate run` asked three times before its first step: ~1 s each at
    10M rows)."""
    parts = catalog_parts(path)
    identity = tuple((str(part), *_file_identity(part)) for part in parts)
    if identity in _SHA256_SEEN:
        return _SHA256_SEEN[identity]
    digest = hashlib.sha256()
    for part in parts:
        with open(part, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    if len(_SHA256_SEEN) >= 8:
        _SHA256_SEEN.pop(next(iter(_SHA256_SEEN)))
    _SHA256_SEEN[identity] = digest.hexdigest()
    return _SHA256_SEEN[identity]


_SHA256_SEEN: dict[tuple, str] = {}


def _file_identity(path: Path) -> tuple[int, ...]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns
