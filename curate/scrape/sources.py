"""The real photos a scrape draws its pixels from: label folders and off-topic folders.

`find_sources` lists image files (by extension, recursively, sorted so the same folders
always give the same lists) and drops byte-identical files (the first path wins): a
real dataset may hold the same photo twice (15-Scene does, 18 times), and a scrape that
used both copies would hold duplicates its ground truth does not know about.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from curate.errors import UsageError
from curate.recipes import squash

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class SourceFile:
    root: str  # the folder given (absolute)
    relative: str  # path under root, with '/' separators

    @property
    def path(self) -> Path:
        return Path(self.root) / self.relative


@dataclass(frozen=True)
class ScrapeSources:
    labels: tuple[str, ...]  # label names (the folder names), in a fixed order
    label_files: dict[str, tuple[SourceFile, ...]]  # label -> its distinct photos
    offtopic_files: tuple[SourceFile, ...]


def find_sources(folders: tuple[str, ...], offtopic: tuple[str, ...], labels: tuple[str, ...] = ()
                 ) -> ScrapeSources:
    """The photos under `folders` (one subfolder per label, merged across folders by name)
    and under `offtopic`. `labels` picks label subfolders (matched ignoring case, spaces,
    hyphens and underscores); empty means all of them.

    Raises UsageError for a missing or empty folder, fewer than two labels, or a label
    named in `labels` that no folder has.
    """
    found: dict[str, list[SourceFile]] = {}
    for folder in folders:
        root = _folder(folder, "FOLDER")
        subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for sub in subfolders:
            found.setdefault(sub.name, []).extend(_images(root, sub))
    _refuse_split_folders(folders, found)
    if labels:
        by_key = {squash(name): name for name in found}
        missing = [label for label in labels if squash(label) not in by_key]
        if missing:
            raise UsageError(f"no label subfolder {missing[0]!r} in {', '.join(map(str, folders))}; "
                             f"subfolders there: {', '.join(sorted(found)) or 'none'}")
        found = {by_key[squash(label)]: found[by_key[squash(label)]] for label in labels}
    found = {name: files for name, files in found.items() if files}
    if len(found) < 2:
        raise UsageError(f"{', '.join(map(str, folders))} must hold at least two label subfolders with photos "
                         f"(found {len(found)}); put each label's photos in a subfolder named after it")
    off = [f for folder in offtopic for f in _images(_folder(folder, "--offtopic"), _folder(folder, "--offtopic"))]
    seen: set[str] = set()
    label_files = {name: _distinct(files, seen) for name, files in sorted(found.items())}
    return ScrapeSources(tuple(label_files), label_files, _distinct(off, seen))


def _refuse_split_folders(folders: tuple[str, ...], found: dict[str, list[SourceFile]]) -> None:
    """UsageError when the "label" subfolders are a dataset's split folders (train/, test/) holding the
    classes one level down: the scrape would label its photos train and test."""
    from curate.ingest.folder_labels import SPLIT_FOLDER_NAMES

    files = [f for name in found for f in found[name]]
    if not found or not {name.lower() for name in found} <= SPLIT_FOLDER_NAMES:
        return
    inner = sorted({f.relative.split("/")[1] for f in files if f.relative.count("/") >= 2})
    if sum(f.relative.count("/") >= 2 for f in files) >= 0.9 * len(files) and inner:
        first = sorted(found)[0]
        classes = ", ".join(inner[:4]) + (", …" if len(inner) > 4 else "")
        raise UsageError(f"the subfolders of {', '.join(map(str, folders))} are split folders "
                         f"({', '.join(sorted(found))}) holding the classes ({classes}); pass the "
                         f"folder of one split, e.g. {Path(folders[0]) / first}")


def require_folders(folders, offtopic=()) -> None:
    """UsageError naming the first FOLDER or --offtopic that is not a folder: checked before the
    settings, whose rules (say, an off-topic rate with no --offtopic) would otherwise speak first."""
    for folder in folders:
        _folder(folder, "FOLDER")
    for folder in offtopic:
        _folder(folder, "--offtopic")


def _folder(folder: str | Path, what: str) -> Path:
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise UsageError(f"{what} {folder} is not a folder; pass a folder of photos")
    return path.resolve()


def _images(root: Path, folder: Path) -> list[SourceFile]:
    files = [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not files:
        raise UsageError(f"{folder} holds no photos ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                         "point at a folder of images")
    return [SourceFile(str(root), p.relative_to(root).as_posix()) for p in files]


def _distinct(files: list[SourceFile], seen: set[str]) -> tuple[SourceFile, ...]:
    """Files whose bytes no earlier file had (`seen` holds the digests so far, across calls).

    A clean folder is the premise of the benchmark: a file that cannot be read or is not an
    image is a UsageError naming it, not a silent gap in the truth.
    """
    kept = []
    for item in files:
        try:
            data = item.path.read_bytes()
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise UsageError(f"{item.path} is not a readable image ({type(exc).__name__}); "
                             "remove it from the clean folder or replace it") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest not in seen:
            seen.add(digest)
            kept.append(item)
    return tuple(kept)
