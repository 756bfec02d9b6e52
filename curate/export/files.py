"""Export files on disk: placing one image, the resume journal, and removing what left.

An export folder remembers what it holds in `.export-state.parquet` (target path -> content
key), written when an export finishes; while one runs, every finished file is appended to
`.export-journal.tsv`. A re-run (after a finished or an interrupted export) skips each file
whose recorded key is unchanged and that is still there, writes the others, and removes the
files an earlier export wrote that the new plan no longer has. A copied file or a shard
appears under its final name in one rename (a link is whole the moment it exists), so an
interrupted export never leaves half a file under that name. For a plan sorted on disk, the
folder formats' state (one entry per photo) is kept in Parquet files by `StateOnDisk`.
"""

from __future__ import annotations

import bisect
import errno
import filecmp
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import DataContractError, UsageError
from curate.export.source import Fetched, Stored
from curate.workspace import Workspace, atomic_write_bytes, temp_file_beside, write_table_atomic

STATE_FILE = ".export-state.parquet"
JOURNAL_FILE = ".export-journal.tsv"
MANIFEST_FILE = "export.json"
PLAN_FOLDER = ".export-plan-"  # prefix of the temporary folder of the plan's sorted buckets
Progress = Callable[[str, int, int], None]  # (phase, done, total)


def load_state(out: Path) -> dict[str, str]:
    """{target: content key} of the files earlier exports into `out` finished (journal included)."""
    state: dict[str, str] = {}
    path = out / STATE_FILE
    if path.exists():
        try:
            table = pd.read_parquet(path)
            state.update(zip(table["target"], table["content_key"]))
        except (OSError, KeyError, ValueError, pa.ArrowException):
            pass  # an unreadable state only costs a full rewrite
    state.update(read_journal_file(out / JOURNAL_FILE))
    return state


def read_journal_file(path: Path) -> dict[str, str]:
    """{file: content key} of a journal of finished writes (lines `file<TAB>key`; a torn last line
    is skipped); {} when there is none."""
    done: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            target, _, key = line.partition("\t")
            if key:
                done[target] = key
    return done


def save_state(out: Path, state: dict[str, str]) -> None:
    """Write `.export-state.parquet` (sorted, so that it is byte-identical too) and drop the journal."""
    frame = pd.DataFrame(sorted(state.items()), columns=["target", "content_key"])
    write_table_atomic(out / STATE_FILE, pa.Table.from_pandas(frame, preserve_index=False))
    (out / JOURNAL_FILE).unlink(missing_ok=True)


PENDING = "pending"  # the journal's key for a file being placed: no content key, so never taken as written


class Journal:
    """Appends `target<TAB>key` lines for finished files, each after a `target<TAB>pending` line written
    before the file is placed; every line reaches the OS at once (a SIGKILL loses none). A file a killed
    export placed is thus always known to the next run, which rewrites it (its key is not the plan's) or,
    when the plan changed in between, removes it. Audit AR: the journal flushed every 256 files, a killed
    re-export left up to 255 files no later export knew of, and after a re-split 37 photos sat in both
    train/ and test/ of an export that said "no leakage"."""

    def __init__(self, out: Path):
        self._handle = open(out / JOURNAL_FILE, "a", encoding="utf-8")

    def begin(self, target: str) -> None:
        """Before `target` is placed: the next run must not trust what it finds there."""
        self._handle.write(f"{target}\t{PENDING}\n")
        self._handle.flush()

    def done(self, target: str, key: str) -> None:
        self._handle.write(f"{target}\t{key}\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def previous_format(out: Path) -> str | None:
    """The format of the export `out` holds (its export.json's `format`); None without a readable one.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> previous_format(folder) is None
    True
    >>> _ = (folder / MANIFEST_FILE).write_text('{"format": "webdataset"}')
    >>> previous_format(folder)
    'webdataset'
    """
    try:
        found = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def is_ours(out: Path) -> bool:
    """Whether `out` holds an earlier export (its state, journal or manifest)."""
    return any((out / name).exists() for name in (STATE_FILE, JOURNAL_FILE, MANIFEST_FILE))


# What a workspace holds besides `export/` (docs/workspace.md): an export into one of them, with --overwrite,
# replaced a trained run, the stage reports or the topic model (the 2026-12-05 audit H)
WORKSPACE_ENTRIES = frozenset({"catalog.parquet", "images", "store.json", "demo_truth.parquet", "folders.json",
                               "reviews.jsonl", "journal", "reports", "cache", "runs", "models", "report", ".lock"})


STAGING_FOLDER = "export-staging"  # under <workspace>/cache: what an upload to object storage stages (upload.py)


def check_target(out: Path, workspace_root: Path, overwrite: bool, store_folder: Path | str | None = None) -> None:
    """UsageError unless `out` may receive an export: a local folder that is empty, absent, an
    earlier export, or (with `overwrite`) anything else; never the workspace, a folder above it,
    one of the workspace's own folders (`WORKSPACE_ENTRIES`: runs, reports, models, ...) or in its image store
    (`store_folder`: a local store outside the workspace); and a folder this process can write to."""
    resolved, root = out.resolve(), workspace_root.resolve()
    stores = [root / "images", *([Path(store_folder).resolve()] if store_folder is not None else [])]
    staging = resolved.is_relative_to(Workspace(root).cache_dir / STAGING_FOLDER)  # an upload's own staging folder
    own = resolved.is_relative_to(root) and resolved != root and not staging and \
        resolved.relative_to(root).parts[0] in WORKSPACE_ENTRIES
    inside_store = any(resolved.is_relative_to(s) or s.is_relative_to(resolved) for s in stores)  # either way
    if resolved == root or root.is_relative_to(resolved) or own or inside_store:
        raise UsageError(f"--out {out} would overwrite the workspace {workspace_root}; pass a folder outside it "
                         "or a new one directly in it (e.g. <workspace>/export)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; pass a folder path")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out} is not writable (permission denied); pass a folder you can write to")
    if out.is_dir() and not overwrite and not is_ours(out) and any(
            not entry.name.startswith(PLAN_FOLDER) for entry in os.scandir(out)):
        raise UsageError(f"--out {out} holds files that are not an earlier export; pass an empty or new folder, "
                         "or --overwrite to replace its contents")


def remove_stale_plans(out: Path) -> None:
    """Remove the plan folders an interrupted export left in `out`, and, when one was interrupted (its
    journal is there), the temporary files it was writing (`.<name>.tmp`, `.<name>.<random>.tmp`: a killed
    `--resize` export left one in a class folder through every later run, audit AR)."""
    for entry in os.scandir(out):
        if entry.name.startswith(PLAN_FOLDER) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
    if not (out / JOURNAL_FILE).exists():
        return
    for folder, folders, names in os.walk(out):
        folders[:] = [name for name in folders if not name.startswith(PLAN_FOLDER)]
        for name in names:
            if name.startswith(".") and name.endswith(".tmp"):
                os.unlink(os.path.join(folder, name))


def place_file(source: Stored, target: str, link: str, resize: int | None) -> bool:
    """Put the stored image `source` (a local file, or an object's bytes: `curate.export.source`)
    at `target` (copied, hard-linked, symlinked or resized), replacing whatever is there in one
    rename. Bytes are always written (a link cannot point into an object store). A copy of a photo a
    plain reader would see otherwise is written upright (`upright_copy`); returns whether it was."""
    if resize:
        atomic_write_bytes(Path(target), resized_jpeg(source, resize), durable=False)
        return False
    folder, name = os.path.split(target)
    if isinstance(source, Fetched):
        link = "copy"
    if link == "copy":
        plain = upright_copy(source, name.rsplit(".", 1)[-1])
        if plain is not None:
            atomic_write_bytes(Path(target), plain, durable=False)
            return True
    # a link is whole the moment it exists, so it goes straight to its name; a copy goes through
    # a temporary name, so that half a file never sits under the final one
    tmp = target if link != "copy" else f"{folder}/.{name}.tmp"
    try:
        try:
            _make(source, tmp, link)
        except FileExistsError:  # an earlier export's file, or a temporary one an interrupted export left
            os.unlink(tmp)
            _make(source, tmp, link)
        if tmp != target:
            os.replace(tmp, target)
    except FileNotFoundError as exc:
        raise DataContractError(f"stored image {_where(source)} disappeared during the export; run `curate "
                                "export` again (it resumes)") from exc
    except OSError as exc:
        if tmp != target and os.path.lexists(tmp):
            os.unlink(tmp)
        if exc.errno == errno.EXDEV:
            raise UsageError(f"cannot hard-link {source} into {folder}: they are on different file "
                             "systems; use --link copy or --link symlink") from None
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise  # a full disk: the CLI's one line, exit 1, "free some space and run the same command again"
        raise UsageError(f"cannot write {target} ({exc.strerror or exc}); pass a folder you can write to "
                         "with --out") from None
    return False


def _where(source: Stored | Path) -> str:
    """A stored image's place, for messages (an object's URL with credentials masked)."""
    from curate.objectstore import mask_secrets

    return mask_secrets(source.location) if isinstance(source, Fetched) else str(source)


def _make(source: Stored, tmp: str, link: str) -> None:
    if isinstance(source, Fetched):
        with open(tmp, "xb") as handle:  # as copyfile: the umask's mode, not mkstemp's 0600
            handle.write(source.data)
    elif link == "copy":
        shutil.copyfile(source, tmp)
    elif link == "hardlink":
        os.link(source, tmp)
    else:
        os.symlink(os.path.abspath(source), tmp)


def resized_jpeg(source: Stored | Path, side: int) -> bytes:
    """The stored image upright, its longest side shrunk to `side` px (never enlarged), as JPEG q90."""
    from PIL import Image

    from curate.store import open_rgb

    where = _where(source)
    try:
        image = open_rgb(io.BytesIO(source.data) if isinstance(source, Fetched) else source, min_side=side)
    except FileNotFoundError as exc:
        raise DataContractError(f"stored image {where} disappeared during the export; run `curate export` "
                                "again (it resumes)") from exc
    except Exception as exc:  # PIL raises many types for damaged files
        raise DataContractError(f"stored image {where} cannot be decoded ({type(exc).__name__}); "
                                "run `curate ingest` again for it") from exc
    image.thumbnail((side, side), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# What a plain reader does with a stored image: torchvision's ImageFolder, webdataset's decode("pil"), timm and
# Keras open it and convert it to RGB. None of them applies the EXIF orientation, PIL's conversion turns 16- and
# 32-bit pixels white, and it shows the colours hidden under transparency: a phone's portrait photo trained
# sideways, a 16-bit scan all white (audit AS 1). Curate judged, deduplicated and split the pixels
# `curate.store.open_rgb` gives, so an export writes those pixels for such photos, re-encoded in their own
# format (a JPEG at quality 95 without chroma subsampling, the others losslessly); every other photo's bytes
# are copied as stored.
PLAIN_WRITERS = {"jpg": ("JPEG", {"quality": 95, "subsampling": 0}),  # 4:4:4: 2.2 levels off at 4:2:0 on a Ferrari
                 "png": ("PNG", {}), "webp": ("WEBP", {"lossless": True}),
                 "tif": ("TIFF", {"compression": "tiff_lzw"}), "bmp": ("BMP", {}), "gif": ("GIF", {})}
_WIDE_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})


def upright_copy(source: Stored | Path, ext: str) -> bytes | None:
    """The stored image re-encoded as the pixels curate reads (`curate.store.open_rgb`: upright, 8-bit,
    transparency on white) when a plain reader would see other pixels (`reads_otherwise`); None when its
    bytes read right as they are (nearly every photo), or for a format this does not re-encode (HEIC, AVIF:
    `format_notes` names them), or bytes PIL cannot open (copied as they are, as before).

    >>> from PIL import Image
    >>> grey = Image.new("I;16", (40, 30), 20_000)
    >>> buffer = io.BytesIO(); grey.save(buffer, "PNG"); data = buffer.getvalue()
    >>> from curate.export.source import Fetched
    >>> plain = upright_copy(Fetched("memory://b/x.png", data), "png")
    >>> Image.open(io.BytesIO(plain)).convert("RGB").getpixel((0, 0))  # 20000 / 256, not white
    (78, 78, 78)
    >>> buffer = io.BytesIO(); Image.new("RGB", (40, 30), (9, 9, 9)).save(buffer, "PNG")
    >>> upright_copy(Fetched("memory://b/y.png", buffer.getvalue()), "png") is None
    True
    """
    from PIL import Image

    from curate.store import reduce_jpeg, upright_rgb

    writer = PLAIN_WRITERS.get(ext)
    if writer is None:
        return None
    try:
        with (io.BytesIO(source.data) if isinstance(source, Fetched) else open(source, "rb")) as handle, \
                Image.open(handle) as image:
            if not reads_otherwise(image):
                return None
            reduce_jpeg(image, None)  # as open_rgb: a JPEG over the pixel limit at a reduced scale
            plain = upright_rgb(image)
    except FileNotFoundError as exc:
        raise DataContractError(f"stored image {_where(source)} disappeared during the export; run `curate "
                                "export` again (it resumes)") from exc
    except Exception:  # PIL raises many types; the ingest decoded this image, so copy its bytes as before
        return None
    fmt, options = writer
    # the pixels are sRGB now, or were never in the profile's colour space (a grey profile on RGB pixels: an
    # invalid PNG or TIFF, audit AU): written with no profile, which every reader takes as sRGB
    plain.info.pop("icc_profile", None)
    buffer = io.BytesIO()
    plain.save(buffer, fmt, **options)
    return buffer.getvalue()


def link_reads_otherwise(source: Stored, link: str, resize: int | None) -> bool:
    """Whether `place_file` put `source` in the export as a link to bytes a plain reader misreads
    (`reads_otherwise`): a link cannot be re-encoded (audit AU 7: a hard-link export of rotated and 16-bit
    photos said nothing). Reads the image's header only, and decodes one that has transparency; False for
    a copy, a resized image, an object's bytes (always copied) or a file PIL cannot open."""
    from PIL import Image

    if link == "copy" or resize or isinstance(source, Fetched):
        return False
    try:
        with Image.open(source) as image:
            return reads_otherwise(image)
    except Exception:  # PIL raises many types; the ingest decoded this image, so nothing to say
        return False


def reads_otherwise(image) -> bool:
    """Whether a plain reader (`Image.open(...).convert("RGB")`) sees other pixels than curate's decoder
    in an opened image: an EXIF orientation to apply, 16- or 32-bit pixels, an RGB colour profile other than
    sRGB (`curate.store.to_srgb` converts it; a plain reader takes the values as sRGB: 12 of 48 real Ferraris
    were 1.3 to 4.4 levels off, audit AU), or transparency that hides something (this one decodes the image)."""
    from curate.store import has_transparency, shown_turned, srgb_transform

    if shown_turned(image) or image.mode in _WIDE_MODES:
        return True
    profile = image.info.get("icc_profile")
    if profile and image.mode == "RGB" and srgb_transform(bytes(profile)) is not None:
        return True
    if not has_transparency(image):
        return False
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    return rgba.getchannel("A").getextrema()[0] < 255


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` atomically unless the file already holds exactly it; returns whether it wrote."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except OSError:
        pass
    atomic_write_bytes(path, data, durable=False)
    return True


class StreamedFile:
    """A file written in parts: bytes go to a temporary file beside `path`; `finish()` puts it
    in place (one rename) unless `path` already holds exactly those bytes, and returns their
    SHA-256 (so that a large index beside the images is never held whole in memory)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self._tmp = path, path.with_name(f".{path.name}.tmp")
        self._handle = open(self._tmp, "wb")
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self._digest.update(data)

    def finish(self) -> str:
        self._handle.close()
        try:
            same = filecmp.cmp(self._tmp, self.path, shallow=False)
        except OSError:
            same = False
        if same:
            self._tmp.unlink()
        else:
            os.replace(self._tmp, self.path)
        return self._digest.hexdigest()

    def discard(self) -> None:
        """Close and remove the temporary file (after an error)."""
        self._handle.close()
        self._tmp.unlink(missing_ok=True)


def remove_left(out: Path, keep: set[str], known: set[str], everything: bool) -> int:
    """Remove the files an earlier export wrote (`known`) that are not in `keep` (with
    `everything`: every file under `out` not in `keep`), then empty folders; returns files removed."""
    doomed = {target for target in known if target not in keep}
    if everything:
        for folder, _, names in os.walk(out):
            base = Path(folder).relative_to(out)
            doomed.update(str(base / name) if str(base) != "." else name for name in names)
        doomed -= keep | {STATE_FILE, JOURNAL_FILE}
    removed = 0
    for target in sorted(doomed):
        path = out / target
        if os.path.lexists(path):
            path.unlink()
            removed += 1
    remove_empty_folders(out)
    return removed


STATE_BATCH = 65_536  # state rows read at a time by StateOnDisk


class StateOnDisk:
    """The export state of a folder-format export whose plan is sorted on disk, kept in Parquet
    files in `folder` (the export's temporary plan folder) instead of dicts, so that nothing is
    held per photo: what `load_state`, the writer's `{target: key}`, `remove_left` and
    `save_state` do, with the same results and the same `.export-state.parquet` bytes.

    The earlier state (state file, then the journal: a later line wins) is sorted by the plan's
    own order (split, then name, read back from each target: `[images/]<split>/<folder>/<name>.<ext>`),
    so `window(rows)` hands the writer, chunk by chunk, the earlier keys of the targets up to
    the chunk's last one. The new state is appended by `record` and sorted by target by DuckDB."""

    def __init__(self, out: Path, folder: Path):
        self.out, self.folder = out, folder
        self.recorded = 0
        self._writer: pq.ParquetWriter | None = None
        self._buffer: list[tuple[str, str, str, str]] = []
        self._batches = None
        self._load()

    def _load(self) -> None:
        from curate import external_sort

        arrow = pa.schema([("target", pa.string()), ("content_key", pa.string()), ("seq", pa.int64())])
        known, seq = self.folder / "known.parquet", 0
        with pq.ParquetWriter(known, arrow) as writer:
            path = self.out / STATE_FILE
            if path.exists():
                try:
                    for batch in external_sort.parquet_file(path).iter_batches(batch_size=STATE_BATCH,
                                                                   columns=["target", "content_key"]):
                        n = batch.num_rows
                        writer.write_table(pa.table([batch.column(0).cast(pa.string()),
                                                     batch.column(1).cast(pa.string()),
                                                     pa.array(range(seq, seq + n), pa.int64())], schema=arrow))
                        seq += n
                except (OSError, KeyError, ValueError, pa.ArrowException):
                    pass  # an unreadable state only costs a full rewrite (what was read of it stays)
            journal = self.out / JOURNAL_FILE
            if journal.exists():
                targets: list[str] = []
                keys: list[str] = []

                def flush() -> None:
                    nonlocal seq
                    writer.write_table(pa.table([pa.array(targets, pa.string()), pa.array(keys, pa.string()),
                                                 pa.array(range(seq, seq + len(targets)), pa.int64())], schema=arrow))
                    seq += len(targets)
                    targets.clear()
                    keys.clear()

                with open(journal, encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        for part in line.splitlines():  # as load_state's splitlines
                            target, _, key = part.partition("\t")
                            if key:
                                targets.append(target)
                                keys.append(key)
                        if len(targets) >= STATE_BATCH:
                            flush()
                flush()
        source = external_sort.literal(str(known))
        with external_sort.connect(self.folder) as con:
            external_sort.write_parquet(con, f"""
                WITH latest AS (SELECT target, arg_max(content_key, seq) AS content_key FROM read_parquet({source})
                                GROUP BY target),
                     parts AS (SELECT target, content_key,
                                      CASE WHEN target LIKE 'images/%' THEN substr(target, 8) ELSE target END AS rest
                               FROM latest)
                SELECT split_part(rest, '/', 1) AS split, regexp_replace(regexp_extract(rest, '[^/]*$'),
                       '[.][^.]*$', '') AS name, target, content_key
                FROM parts ORDER BY split, name, target""", self.folder / "previous.parquet")
        known.unlink()
        self._batches = external_sort.parquet_file(self.folder / "previous.parquet").iter_batches(
            batch_size=STATE_BATCH)

    def window(self, rows: pd.DataFrame) -> dict[str, str]:
        """{target: key} of the earlier files up to the last of `rows` in the plan's order (rows:
        the plan's next chunk, with split, name and target); call it chunk after chunk, in order."""
        if not len(rows):
            return {}
        last = (rows["split"].iloc[-1], rows["name"].iloc[-1])
        while self._batches is not None and (not self._buffer or self._buffer[-1][:2] <= last):
            batch = next(self._batches, None)
            if batch is None:
                self._batches = None
                break
            self._buffer.extend(zip(*(batch.column(i).to_pylist() for i in range(4))))
        cut = bisect.bisect_right(self._buffer, last, key=lambda row: row[:2])
        found = {target: key for _, _, target, key in self._buffer[:cut]}
        del self._buffer[:cut]
        return found

    def record(self, targets: pd.Series, keys: pd.Series) -> None:
        """Append planned files and their keys to the new state."""
        arrow = pa.schema([("target", pa.string()), ("content_key", pa.string())])
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.folder / "state.parquet", arrow)
        self._writer.write_table(pa.table([pa.array(targets.to_numpy(dtype=object), pa.string()),
                                           pa.array(keys.to_numpy(dtype=object), pa.string())], schema=arrow))
        self.recorded += len(targets)

    def finish(self, out: Path, more: dict[str, str], everything: bool) -> int:
        """Add `more` (the files beside the images) to the new state, remove what left (as
        `remove_left`), write `.export-state.parquet` (as `save_state`); returns files removed."""
        from curate import external_sort

        self.record(pd.Series(list(more), dtype=object), pd.Series(list(more.values()), dtype=object))
        self._writer.close()
        new = external_sort.literal(str(self.folder / "state.parquet"))
        def read(name: str) -> str:
            return f"read_parquet({external_sort.literal(str(self.folder / name))})"

        sources = [f"SELECT target FROM {read('previous.parquet')}"]
        if everything:
            self._walk(out, self.folder / "walked.parquet")
            sources.append(f"SELECT target FROM {read('walked.parquet')} WHERE target NOT IN "
                           f"({external_sort.literal(STATE_FILE)}, {external_sort.literal(JOURNAL_FILE)})")
        with external_sort.connect(self.folder) as con:
            external_sort.write_parquet(con, f"""
                SELECT DISTINCT target FROM ({' UNION ALL '.join(sources)})
                WHERE target NOT IN (SELECT target FROM read_parquet({new})) ORDER BY target""",
                                        self.folder / "doomed.parquet")
            external_sort.write_parquet(con, f"SELECT target, content_key FROM read_parquet({new}) ORDER BY target",
                                        self.folder / "sorted-state.parquet")
        removed = 0
        for batch in external_sort.parquet_file(self.folder / "doomed.parquet").iter_batches(batch_size=STATE_BATCH):
            for target in batch.column(0).to_pylist():
                path = out / target
                if os.path.lexists(path):
                    path.unlink()
                    removed += 1
        remove_empty_folders(out)
        self._save(out)
        return removed

    def _walk(self, out: Path, path: Path) -> None:
        """Every file under `out` (relative paths) but the plan folders, to `path`."""
        arrow = pa.schema([("target", pa.string())])
        with pq.ParquetWriter(path, arrow) as writer:
            for folder, dirs, names in os.walk(out):
                base = Path(folder).relative_to(out)
                if str(base) == ".":
                    dirs[:] = [name for name in dirs if not name.startswith(PLAN_FOLDER)]
                writer.write_table(pa.table([pa.array([str(base / name) if str(base) != "." else name
                                                       for name in names], pa.string())], schema=arrow))

    def _save(self, out: Path) -> None:
        from curate import external_sort
        from curate.workspace import PARQUET_ROW_GROUP

        arrow = pa.Table.from_pandas(pd.DataFrame([("", "")], columns=["target", "content_key"]),
                                     preserve_index=False).schema  # save_state's schema, pandas metadata too
        fd, tmp_name = temp_file_beside(out / STATE_FILE)
        os.close(fd)
        try:
            with pq.ParquetWriter(tmp_name, arrow, compression="zstd") as writer:
                for table in external_sort.exact_batches(self.folder / "sorted-state.parquet", PARQUET_ROW_GROUP):
                    writer.write_table(table.cast(arrow), row_group_size=PARQUET_ROW_GROUP)
            with open(tmp_name, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp_name, out / STATE_FILE)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        (out / JOURNAL_FILE).unlink(missing_ok=True)


def remove_empty_folders(out: Path) -> None:
    """Remove the empty folders under `out` (deepest first: a folder left empty by its own empty
    folders goes too). Holds the folders' paths only, never a list of the files in one (an
    ImageFolder split × label folder holds a file per photo)."""

    def prune(folder: str) -> bool:  # whether `folder` is empty once its empty subfolders are gone
        empty = True
        with os.scandir(folder) as entries:
            subfolders = []
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(entry.path)
                else:
                    empty = False
        for path in subfolders:
            if prune(path):
                os.rmdir(path)
            else:
                empty = False
        return empty

    prune(str(out))
