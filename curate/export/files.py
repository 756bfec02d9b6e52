"""Export files on disk: placing one image, the resume journal, and removing what left.

An export folder remembers what it holds in `.export-state.parquet` (target path -> content
key), written when an export finishes; while one runs, every finished file is appended to
`.export-journal.tsv`. A re-run (after a finished or an interrupted export) skips each file
whose recorded key is unchanged and that is still there, writes the others, and removes the
files an earlier export wrote that the new plan no longer has. A copied file or a shard
appears under its final name in one rename (a link is whole the moment it exists), so an
interrupted export never leaves half a file under that name.
"""

from __future__ import annotations

import errno
import filecmp
import hashlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa

from curate.errors import DataContractError, UsageError
from curate.workspace import atomic_write_bytes, write_table_atomic

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
    journal = out / JOURNAL_FILE
    if journal.exists():
        for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
            target, _, key = line.partition("\t")
            if key:
                state[target] = key
    return state


def save_state(out: Path, state: dict[str, str]) -> None:
    """Write `.export-state.parquet` (sorted, so that it is byte-identical too) and drop the journal."""
    frame = pd.DataFrame(sorted(state.items()), columns=["target", "content_key"])
    write_table_atomic(out / STATE_FILE, pa.Table.from_pandas(frame, preserve_index=False))
    (out / JOURNAL_FILE).unlink(missing_ok=True)


class Journal:
    """Appends `target<TAB>key` lines for finished files; flushed every `every` lines and on close."""

    def __init__(self, out: Path, every: int = 256):
        self._handle = open(out / JOURNAL_FILE, "a", encoding="utf-8")
        self._every, self._pending = every, 0

    def done(self, target: str, key: str) -> None:
        self._handle.write(f"{target}\t{key}\n")
        self._pending += 1
        if self._pending >= self._every:
            self._handle.flush()
            self._pending = 0

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def is_ours(out: Path) -> bool:
    """Whether `out` holds an earlier export (its state, journal or manifest)."""
    return any((out / name).exists() for name in (STATE_FILE, JOURNAL_FILE, MANIFEST_FILE))


def check_target(out: Path, workspace_root: Path, overwrite: bool) -> None:
    """UsageError unless `out` may receive an export: a folder that is empty, absent, an earlier
    export, or (with `overwrite`) anything else; never the workspace, a folder above it or in
    its image store."""
    resolved, root = out.resolve(), workspace_root.resolve()
    if resolved == root or root.is_relative_to(resolved) or resolved.is_relative_to(root / "images"):
        raise UsageError(f"--out {out} would overwrite the workspace {workspace_root}; pass a folder outside it "
                         "or a new folder inside it (e.g. <workspace>/export)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; pass a folder path")
    if out.is_dir() and not overwrite and not is_ours(out) and any(
            not entry.name.startswith(PLAN_FOLDER) for entry in os.scandir(out)):
        raise UsageError(f"--out {out} holds files that are not an earlier export; pass an empty or new folder, "
                         "or --overwrite to replace its contents")


def remove_stale_plans(out: Path) -> None:
    """Remove the plan folders an interrupted export left in `out`."""
    for entry in os.scandir(out):
        if entry.name.startswith(PLAN_FOLDER) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


def place_file(source: str, target: str, link: str, resize: int | None) -> None:
    """Put the stored image `source` at `target` (copied, hard-linked, symlinked or resized),
    replacing whatever is there in one rename."""
    if resize:
        atomic_write_bytes(Path(target), resized_jpeg(Path(source), resize), durable=False)
        return
    folder, name = os.path.split(target)
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
        raise DataContractError(f"stored image {source} disappeared during the export; run `curate export` "
                                "again (it resumes)") from exc
    except OSError as exc:
        if tmp != target and os.path.lexists(tmp):
            os.unlink(tmp)
        if exc.errno == errno.EXDEV:
            raise UsageError(f"cannot hard-link {source} into {folder}: they are on different file "
                             "systems; use --link copy or --link symlink") from None
        raise UsageError(f"cannot write {target} ({exc.strerror or exc}); pass a folder you can write to "
                         "with --out") from None


def _make(source: str, tmp: str, link: str) -> None:
    if link == "copy":
        shutil.copyfile(source, tmp)
    elif link == "hardlink":
        os.link(source, tmp)
    else:
        os.symlink(os.path.abspath(source), tmp)


def resized_jpeg(source: Path, side: int) -> bytes:
    """The stored image upright, its longest side shrunk to `side` px (never enlarged), as JPEG q90."""
    from PIL import Image

    from curate.store import open_rgb

    try:
        image = open_rgb(source, min_side=side)
    except FileNotFoundError as exc:
        raise DataContractError(f"stored image {source} disappeared during the export; run `curate export` "
                                "again (it resumes)") from exc
    except Exception as exc:  # PIL raises many types for damaged files
        raise DataContractError(f"stored image {source} cannot be decoded ({type(exc).__name__}); "
                                "run `curate ingest` again for it") from exc
    image.thumbnail((side, side), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


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
    for folder, _, _ in sorted(os.walk(out), key=lambda entry: -len(entry[0])):
        if Path(folder) != out and not os.listdir(folder):
            os.rmdir(folder)
    return removed
