"""Reading a folder's photos: the engine's fetch, and the EXIF fields the metadata leaves empty.

A photo is a file, a tar shard's member or a Parquet cell (`curate.ingest.containers`); the fetch re-checks
that a file stays inside the folder and refuses pipes, devices and oversized files before reading.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from curate.coordinates import clean_coordinates
from curate.dates import read_taken_at
from curate.ingest.containers import photo_bytes
from curate.ingest.engine_job import FetchError
from curate.ingest.exif import read_exif_bytes, read_exif_fields
from curate.ingest.folder_labels import is_blank
from curate.ingest.parquet_shards import NoImage
from curate.progress import progress_bar

MAX_FILE_BYTES = 256 * 1024 * 1024  # no photo is this big; refuse before reading it into memory
EXIF_READ_BYTES = 256 * 1024  # a JPEG's EXIF block (APP1, at most 64 KB) sits in its first bytes
EXIF_FIELDS = ("lat", "lon", "taken_at", "owner_id", "owner_name")


def fill_from_exif(records: pd.DataFrame, workers: int) -> pd.DataFrame:
    """Fill position, time and owner from EXIF where the metadata leaves them empty (a position: gives none it can
    use, `clean_coordinates`), or gives a time no date can be read from (`read_taken_at`: `0000:00:00 00:00:00`, a
    time alone, a camera clock at zero; audit AX: such a value hid the photo's own EXIF time, and a phone's walk was
    split over train and test)."""
    records = records.copy()
    for name in EXIF_FIELDS:
        if name not in records.columns:
            records[name] = None
    blank = {name: records[name].map(is_blank) for name in EXIF_FIELDS}
    blank["taken_at"] = blank["taken_at"] | read_taken_at(records["taken_at"]).moments.isna().to_numpy()
    # a sidecar position that is no position (a placeholder such as n/a, 0/0, out of range) hides no EXIF position
    # (review BR 8: `n/a` kept the photo's own GPS out, an empty cell did not)
    no_position = clean_coordinates(records["lat"], records["lon"])[2].notna().to_numpy()
    wanted = records["abs_path"].notna() & records["drop_reason"].isna() & (
        no_position | blank["taken_at"] | (blank["owner_id"] & blank["owner_name"]))
    paths = records.loc[wanted, "abs_path"]
    if paths.empty:
        return records
    inside = [name for name in ("tar_offset", "tar_size", "pq_column", "pq_group", "pq_row") if name in records]
    where = records.loc[wanted, inside].to_dict("records") if inside else [{}] * len(paths)
    with progress_bar("read EXIF", len(paths)) as advance, ThreadPoolExecutor(max_workers=workers) as pool:
        found = []
        for fields in pool.map(_exif_of, paths, where):
            found.append(fields)
            advance()
    exif = pd.DataFrame.from_records(found, index=paths.index, columns=list(EXIF_FIELDS)).reindex(records.index)
    has_exif_position = exif["lat"].notna() & exif["lon"].notna()
    # lat and lon are filled together: never half from the sidecar, half from EXIF.
    use_position = no_position & has_exif_position
    for name in ("lat", "lon"):
        records[name] = records[name].where(~use_position, exif[name])
    for name in ("taken_at", "owner_id", "owner_name"):
        records[name] = records[name].where(~(blank[name] & exif[name].notna()), exif[name])
    return records


def _exif_of(path: str, where: dict) -> dict:
    """EXIF fields of a photo file, or of a tar shard's member or a Parquet cell (its first 256 KB hold the EXIF
    block)."""
    if all(is_blank(where.get(name)) for name in ("tar_offset", "pq_row")):
        return read_exif_fields(Path(path))
    try:
        return read_exif_bytes(photo_bytes(path, where, EXIF_READ_BYTES))
    except Exception:  # noqa: BLE001 - an unreadable member or cell has no EXIF; the fetch reports it
        return {}


def make_fetch(root: Path):
    """fetch(record) -> bytes for the engine: reads one file, re-checking it stays inside `root`."""

    def fetch(record: dict) -> bytes:
        path = record.get("abs_path")
        if is_blank(path):
            raise FetchError("unsafe_path", "no safe path inside the folder")
        path = Path(path)
        if not os.path.lexists(path):
            raise FetchError("missing_file", str(record.get("file") or path))
        try:
            # Checked again here: a symlink could have been swapped since the records were built.
            if not path.resolve().is_relative_to(root):
                raise FetchError("unsafe_path", "resolves outside the folder")
            if path.is_fifo() or path.is_char_device() or path.is_block_device():  # reading could block forever
                raise FetchError("unreadable_file", "a named pipe or device, not a file")
            if not is_blank(record.get("pq_row")):  # an image in a Parquet file: its size is known once read
                try:
                    data = photo_bytes(str(path), record)
                except NoImage as exc:
                    raise FetchError("missing_file", str(exc)) from exc
                except (OSError, FetchError):
                    raise
                except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a damaged row group
                    raise FetchError("unreadable_file", str(exc)[:160] or "the container could not be read") from exc
                if len(data) > MAX_FILE_BYTES:
                    raise FetchError("file_too_large", f"{len(data)} bytes")
                return data
            size = path.stat().st_size if is_blank(record.get("tar_offset")) else int(record["tar_size"])
            if size > MAX_FILE_BYTES:
                raise FetchError("file_too_large", f"{size} bytes")
            return photo_bytes(str(path), record)
        except OSError as exc:
            raise FetchError("unreadable_file", f"{exc.strerror or exc}") from exc

    return fetch
