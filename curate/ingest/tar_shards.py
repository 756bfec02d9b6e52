"""Tar shards in a folder: WebDataset's layout, what img2dataset writes with `--output_format webdataset`.

A shard `00000.tar` holds its samples as members sharing a key: `000000001.jpg`, `000000001.json`,
`000000001.txt`. `curate ingest folder` reads each uncompressed `.tar` in the folder as if it were a
subfolder named after it: its photos are `00000.tar/000000001.jpg` and its JSON members their per-photo
sidecars (curate.ingest.photo_sidecars). Nothing is unpacked: the tar's headers are read once
(`index_tar`), and each photo is read later straight from its offset (`read_member`), so shards on a
cluster's shared disk are read in place by any worker.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath
from typing import NamedTuple

TAR_SUFFIX = ".tar"
# Compressed tars: taken as shards so that the warning says to unpack them (a member of a compressed stream
# cannot be read from its offset), not counted among the files of an unknown format with advice to convert them
COMPRESSED_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst")


def is_tar_name(name: str) -> bool:
    """Whether a file name is a tar shard's, plain or compressed.

    >>> is_tar_name("00000.tar"), is_tar_name("shards/00001.TAR.GZ"), is_tar_name("a.gz")
    (True, True, False)
    """
    lower = name.lower()
    return lower.endswith(TAR_SUFFIX) or lower.endswith(COMPRESSED_TAR_SUFFIXES)


class TarMember(NamedTuple):
    offset: int  # where the member's bytes start in the tar
    size: int


def index_tar(path: Path) -> tuple[dict[str, TarMember], str | None]:
    """(member name -> where its bytes are, for the regular files of the uncompressed tar at `path`; why it
    could not be read, else None). Names are normalised (`./a.jpg` is `a.jpg`); absolute names and names
    with `..` are left out, as are links and folders."""
    members: dict[str, TarMember] = {}
    try:
        with tarfile.open(path, mode="r:") as archive:  # "r:": no compression, so every member can be seeked to
            for member in archive:
                if not member.isreg():
                    continue
                name = PurePosixPath(member.name.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts or not name.parts:
                    continue
                members[name.as_posix()] = TarMember(member.offset_data, member.size)
    except (tarfile.TarError, OSError, EOFError) as exc:
        reason = "compressed or not a tar archive" if isinstance(exc, tarfile.ReadError) and not members else \
            (str(exc) or "unreadable")
        return members, reason[:200]
    return members, None


def read_member(path: str | os.PathLike, offset: int, size: int) -> bytes:
    """The `size` bytes at `offset` in the tar at `path`; OSError when the tar ends before them."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(size)
    if len(data) != size:
        raise OSError(f"the tar ends {size - len(data):,} bytes before this member does")
    return data


def tar_label(first_part: str) -> str:
    """The label of a photo in a tar shard or Parquet file taken from its first path part: the file's name
    without `.tar` or `.parquet` (a folder's name as it is).

    >>> tar_label("cats.tar"), tar_label("dogs.parquet"), tar_label("cats")
    ('cats', 'dogs', 'cats')
    """
    for suffix in (TAR_SUFFIX, ".parquet"):
        if first_part.lower().endswith(suffix):
            return first_part[: -len(suffix)]
    return first_part
