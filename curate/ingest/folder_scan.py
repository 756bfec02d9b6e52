"""What a folder holds for `curate ingest folder`: its photo files, and what else a scan meets.

`scan_folder` lists the photos under a folder (and its JSON sidecars, tar shards, Parquet files, the files
it passed over, its hidden photos and linked folders); the warnings about what it left out are worded here
so that another command's scan (`classify predict`) says them alike. `folder_fingerprint` is what
`curate run` and the contamination check remember of a folder.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from curate.imageformats import IMAGE_EXTENSIONS
from curate.ingest.folder_metadata import SIDECAR_NAMES
from curate.ingest.tar_shards import is_tar_name

# Files beside the photos that are not photos: no word when a scan passes them (any other file is counted in
# the ingest's warning, so that a phone export's .mov or .dng files are not left out without one). Metadata
# (.xml: a Flickr API response or an annotation per photo), notes and a download's checksums among them.
NOT_PHOTOS = frozenset({".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".txt", ".md", ".xmp", ".aae", ".ini",
                        ".db", ".html", ".htm", ".pdf", ".toml", ".yaml", ".yml", ".log", ".parquet", ".xml",
                        ".md5", ".sha1", ".sha256"})


class FolderScan(NamedTuple):
    images: list[str]  # relative POSIX paths of the image files, sorted
    skipped: Counter  # other files passed over, per lower-case extension ("" for none), NOT_PHOTOS left out
    linked: list[str]  # linked folders not followed, relative, sorted
    json_files: set[str]  # relative paths of the .json files (per-photo sidecars: curate.ingest.photo_sidecars)
    tar_files: list[str]  # relative paths of the .tar files (shards: curate.ingest.tar_shards), sorted
    parquet_files: list[str]  # relative paths of the .parquet files (metadata, or images ingest cannot read)
    hidden: list[str] = []  # hidden photo files left out (".name.jpg", not "._name.jpg"), relative, sorted


def scan_folder(root: Path) -> FolderScan:
    """The image files under `root`, and what else the scan met (`FolderScan`).

    Hidden files and folders (.DS_Store, ._IMG.jpg, .thumbnails) are skipped: they
    are OS clutter, not photos. A hidden file with a photo's extension (`.IMG_0001.jpg`, not the `._`
    AppleDouble copies macOS writes) is listed in `hidden`, which the ingest counts in a warning (audit
    AS 8: such a photo vanished without a trace). Symlinked folders are not followed (a link may loop, or
    lead out of the folder): the ingest names them.
    """
    found, skipped, linked, json_files, tar_files, parquet_files, hidden = [], Counter(), [], set(), [], [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        linked += [Path(dirpath, name).relative_to(root).as_posix() for name in dirnames
                   if os.path.islink(os.path.join(dirpath, name))]
        for name in filenames:
            if name.startswith("."):
                if not name.startswith("._") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                    hidden.append(Path(dirpath, name).relative_to(root).as_posix())
                continue
            extension = os.path.splitext(name)[1].lower()
            if extension in IMAGE_EXTENSIONS:
                found.append(Path(dirpath, name).relative_to(root).as_posix())
            elif extension == ".json":
                json_files.add(Path(dirpath, name).relative_to(root).as_posix())
            elif is_tar_name(name):
                tar_files.append(Path(dirpath, name).relative_to(root).as_posix())
            elif extension == ".parquet":
                parquet_files.append(Path(dirpath, name).relative_to(root).as_posix())
            elif extension not in NOT_PHOTOS:
                skipped[extension] += 1
    return FolderScan(sorted(found), skipped, sorted(linked), json_files, sorted(tar_files), sorted(parquet_files),
                      sorted(hidden))


def linked_warning(linked: list[str], fix: str = "are not in this ingest; ingest the folder each links to, "
                                                  "or copy its photos in") -> str:
    """The ingest's warning about linked folders it did not follow (`fix`: what became of their photos and
    what to do, for another command's scan).

    >>> linked_warning(["cats", "dogs"])[:78]
    '2 linked folders were not followed (cats, dogs): their photos are not in this '
    """
    shown = ", ".join(linked[:5]) + (", …" if len(linked) > 5 else "")
    return (f"{len(linked):,} linked folder{'s were' if len(linked) != 1 else ' was'} not followed ({shown}): their "
            f"photos {fix}")


def skipped_counts(skipped: Counter) -> str:
    """What a scan passed over, most first: `.dng 12, .mov 3, no extension 1` (six kinds at most).

    >>> skipped_counts(Counter({".mov": 3, ".dng": 12, "": 1}))
    '.dng 12, .mov 3, no extension 1'
    """
    ranked = sorted(skipped.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{extension or 'no extension'} {count:,}" for extension, count in ranked[:6])
    return shown + (", …" if len(ranked) > 6 else "")


def skipped_clause(skipped: Counter) -> str:
    """` (N other files passed over: …)` for the "no images" error ("" when nothing was)."""
    total = sum(skipped.values())
    return f" ({total:,} other file{'s' if total != 1 else ''} passed over: {skipped_counts(skipped)})" if total else ""


def skipped_warning(skipped: Counter, reader: str = "ingest") -> str:
    """The warning about files in the folder that are not in a format `reader` (a command) reads."""
    total = sum(skipped.values())
    return (f"{total:,} file{'s' if total != 1 else ''} in the folder {'are' if total != 1 else 'is'} not in a "
            f"format {reader} reads and {'were' if total != 1 else 'was'} left out ({skipped_counts(skipped)}); photos "
            f"are read from {', '.join(sorted(IMAGE_EXTENSIONS))}: convert the others (camera RAW, for one) to JPEG "
            f"to include them")


def folder_fingerprint(root: Path) -> str | None:
    """A hash of what a folder holds for ingest: the names, sizes and modification times of the photos (and
    containers) a scan finds, and of its metadata and sidecar files; None when it is not a folder. What
    `curate run` and the contamination check remember of a folder, so that an edit to it (photos added,
    removed, moved to another label folder, a sidecar changed) is seen."""
    root = Path(root)
    if not root.is_dir():
        return None
    scan = scan_folder(root)
    digest = hashlib.sha256()
    for name in sorted({*scan.images, *scan.json_files, *scan.tar_files, *scan.parquet_files,
                        *(name for name in SIDECAR_NAMES if (root / name).is_file())}):
        try:
            facts = (root / name).stat()
        except OSError:  # gone since the scan: its absence is the change
            continue
        digest.update(f"{name}\x1f{facts.st_size}\x1f{facts.st_mtime_ns}\n".encode())
    return digest.hexdigest()
