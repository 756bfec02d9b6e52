"""Export files on disk: placing one image, the resume journal, and removing what left.

An export folder remembers what it holds in `.export-state.parquet` (target path -> content
key), written when an export finishes; while one runs, every finished file is appended to
`.export-journal.tsv`. A re-run (after a finished or an interrupted export) skips each file
whose recorded key is unchanged and that is still there, writes the others, and removes the
files an earlier export wrote that the new plan no longer has. A copied file or a shard
appears under its final name in one rename (a link is whole the moment it exists), so an
interrupted export never leaves half a file under that name. For a plan sorted on disk, the
folder formats' state (one entry per photo) is kept in Parquet files by `StateOnDisk`.

The parts: the state and the journal in curate.export.state (kept on disk for a plan sorted on disk in
curate.export.state_on_disk), checking and clearing the target folder in curate.export.targets, re-encoding
for plain readers (and `--resize`) in curate.export.reencode; placing a file or link is here.
"""

from __future__ import annotations

import errno
import filecmp
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from curate.errors import DataContractError, UsageError
from curate.export.reencode import _where, resized_jpeg, upright_copy
from curate.export.source import Fetched, Stored
from curate.workspace import atomic_write_bytes

Progress = Callable[[str, int, int], None]  # (phase, done, total)


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
