"""The photos held in a folder's containers: tar shards and Parquet files, read in place.

`curate ingest folder` (and `classify predict` on a folder) index every uncompressed tar shard
(curate.ingest.tar_shards) and every Parquet file with an image column (curate.ingest.parquet_shards) once,
as if each were a subfolder named after it: `00000.tar/000000001.jpg`, `train.parquet/000042.jpg`.
A record of such a photo then points at its bytes (`locate_members`: the container's path plus a tar
member's offset and size, or a Parquet cell's column, row group and row), and `photo_bytes` reads them,
as it reads a plain file, on any worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from curate.ingest.folder_ids import display_text
from curate.ingest.folder_labels import is_blank
from curate.ingest.parquet_shards import read_parquet_image, read_parquet_images
from curate.ingest.tar_shards import TarMember, index_tar, read_member


def index_shards(root: Path, tar_files: list[str]) -> tuple[dict[str, tuple[str, TarMember]], list[str]]:
    """("<shard>.tar/<member>" -> (the tar's path, where the member is), for every member of the folder's tar
    shards; a warning naming the shards that could not be read, if any)."""
    members, unreadable = {}, []
    for relative in tar_files:
        path = root / relative
        if not path.resolve().is_relative_to(root) or not path.is_file():
            unreadable.append(f"{relative} (outside the folder or not a file)")
            continue
        index, problem = index_tar(path)
        members.update({f"{relative}/{name}": (str(path), member) for name, member in index.items()})
        if problem:
            partial = f"; its first {len(index):,} members were read" if index else ""
            unreadable.append(f"{relative} ({problem}{partial})")
    if not unreadable:
        return members, []
    return members, [f"{len(unreadable):,} tar shard{'s' if len(unreadable) != 1 else ''} could not be read in full: "
                     f"{'; '.join(unreadable[:3])}{'; …' if len(unreadable) > 3 else ''}; shards are read as "
                     "uncompressed tar archives (WebDataset's): unpack or re-pack a compressed one"]


def sidecar_reader(root: Path, shard_members: dict[str, tuple[str, TarMember]]):
    """read(relative, limit) -> the bytes of a sidecar in the folder or in one of its tar shards (ValueError over
    `limit` bytes), for curate.ingest.photo_sidecars."""

    def read(relative: str, limit: int) -> bytes:
        if relative in shard_members:
            tar_path, member = shard_members[relative]
            if member.size > limit:
                raise ValueError("too large")
            return photo_bytes(tar_path, {"tar_offset": member.offset, "tar_size": member.size})
        path = root / relative
        if not path.is_file() or path.stat().st_size > limit:
            raise ValueError("not a file, or too large")
        return path.read_bytes()

    return read


def index_parquet_files(root: Path, parquet_files: list[str]) -> tuple[dict[str, tuple], pd.DataFrame | None,
                                                                       list[str]]:
    """("<file>.parquet/<name>" -> (the file's path, image column, row group, row) for every image held in the
    folder's Parquet files; their metadata with a `file` column, or None; a warning naming the Parquet files
    that could not be read). A Parquet without an image column is metadata (img2dataset's beside its shards)
    and is passed over."""
    import pyarrow as pa

    cells, tables, unreadable = {}, [], []
    for relative in parquet_files:
        path = root / relative
        if not path.resolve().is_relative_to(root) or not path.is_file():
            unreadable.append(f"{relative} (outside the folder or not a file)")
            continue
        try:
            found = read_parquet_images(path)
        except (OSError, pa.ArrowException, ValueError) as exc:
            unreadable.append(f"{relative} ({str(exc)[:120] or 'unreadable'})")
            continue
        if found is None:
            continue
        files = [f"{relative}/{name}" for name in found.names]
        cells.update({name: (str(path), found.column, *where) for name, where in zip(files, found.locations)})
        tables.append(found.metadata.assign(file=files))
    warnings = [] if not unreadable else [
        f"{len(unreadable):,} Parquet file{'s' if len(unreadable) != 1 else ''} could not be read: "
        f"{'; '.join(unreadable[:3])}{'; …' if len(unreadable) > 3 else ''}; their images (if any) are not ingested"]
    if not tables:
        return cells, None, warnings
    table = pd.concat(tables, ignore_index=True)
    return cells, table[["file", *(column for column in table.columns if column != "file")]], warnings


def locate_members(records: pd.DataFrame, shard_members: dict[str, tuple[str, TarMember]],
                   cells: dict[str, tuple] | None = None) -> pd.DataFrame:
    """Point the records of photos inside tar shards or Parquet files at their bytes: `abs_path` the tar or
    the Parquet file; `tar_offset` and `tar_size` a tar's member; `pq_column`, `pq_group` and `pq_row` a
    Parquet cell (null for a photo that is a file of its own)."""
    if not shard_members and not cells:
        return records
    records = records.copy()
    files = records["file"].map(lambda name: name if isinstance(name, str) else None)
    shard_members, cells = _as_shown(shard_members), _as_shown(cells or {})
    tar = files.map(lambda name: shard_members.get(name) if name else None)
    cell = files.map(lambda name: cells.get(name) if name else None)
    records["tar_offset"] = tar.map(lambda found: found[1].offset if found else None).astype("object")
    records["tar_size"] = tar.map(lambda found: found[1].size if found else None).astype("object")
    for position, name in enumerate(("pq_column", "pq_group", "pq_row"), 1):
        records[name] = cell.map(lambda found, p=position: found[p] if found else None).astype("object")
    for found in (tar, cell):
        inside = found.notna()
        records.loc[inside, "abs_path"] = found[inside].map(lambda where: where[0])
        records.loc[inside, "drop_reason"] = None
    return records


def _as_shown(found: dict) -> dict:
    """`found` with each name that is not valid UTF-8 (a tar member's name in another encoding, read with
    surrogate escapes) also under the escaped text a record stores (`display_text`), so its record finds its
    bytes (review BY F7: such a member was dropped as missing_file)."""
    odd = {display_text(name): where for name, where in found.items() if not name.isascii()}
    return found | {name: where for name, where in odd.items() if name not in found} if odd else found


def photo_bytes(path: str, record: Mapping, limit: int | None = None) -> bytes:
    """The bytes of a record's photo at `path` (its `abs_path`): the file, its tar member or its Parquet cell;
    with `limit`, at most the first `limit` bytes of a file or tar member (what EXIF needs)."""
    if not is_blank(record.get("pq_row")):
        return read_parquet_image(path, record["pq_column"], int(record["pq_group"]), int(record["pq_row"]))
    if not is_blank(record.get("tar_offset")):
        size = int(record["tar_size"])
        return read_member(path, int(record["tar_offset"]), size if limit is None else min(size, limit))
    with open(path, "rb") as handle:
        return handle.read() if limit is None else handle.read(limit)
