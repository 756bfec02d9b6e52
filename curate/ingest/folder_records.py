"""A folder's photos as canonical records: its metadata rows joined to its image files by path.

Every metadata `file` value and every scanned name is checked to stay inside the folder
(`safe_relative_path`); a path that could leave it is kept as a row, dropped with reason `unsafe_path` and
an `error_detail` that says why (`unsafe_detail`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath

import pandas as pd

from curate.errors import UsageError
from curate.ingest.folder_ids import display_text
from curate.ingest.folder_labels import is_blank
from curate.ingest.mapping import shown_columns, to_records


def safe_relative_path(root: Path, raw: object) -> tuple[str | None, str | None, str | None]:
    """Check one metadata `file` value against `root` (already resolved).

    Returns (relative POSIX path, absolute path to read, drop_reason). Absolute paths,
    `..` anywhere, and symlinks resolving outside `root` give `unsafe_path` and no
    path to read; an empty value gives `missing_file`.

    >>> safe_relative_path(Path("/photos"), "../etc/passwd")
    ('../etc/passwd', None, 'unsafe_path')
    """
    text = "" if is_blank(raw) else str(raw).strip()
    if not text:
        return None, None, "missing_file"
    posix = text.replace("\\", "/")  # sidecars written on Windows use backslashes
    pure = PurePosixPath(posix)
    if pure.is_absolute() or PureWindowsPath(text).anchor or ".." in pure.parts:
        return posix, None, "unsafe_path"
    relative = pure.as_posix()
    try:
        real = (root / relative).resolve()
    except (OSError, RuntimeError, ValueError):  # symlink loops, NUL bytes
        return relative, None, "unsafe_path"
    if not real.is_relative_to(root):
        return relative, None, "unsafe_path"
    return relative, str(root / relative), None


def unsafe_detail(root: Path, raw: object) -> str:
    """Why `safe_relative_path` called a path unsafe, for its row's error_detail (audit AS 6: the rows
    said `unsafe_path` and nothing more, a symlink farm into a download cache lost every photo without a
    hint, and a link to nothing read as unsafe).

    >>> unsafe_detail(Path("/photos"), "../etc/passwd"), unsafe_detail(Path("/photos"), "/etc/passwd")
    ("a path with '..' (it could leave the folder)", 'an absolute path: give it relative to the folder')
    """
    text = str(raw).strip()
    pure = PurePosixPath(text.replace("\\", "/"))
    if pure.is_absolute() or PureWindowsPath(text).anchor:
        return "an absolute path: give it relative to the folder"
    if ".." in pure.parts:
        return "a path with '..' (it could leave the folder)"
    path = root / pure.as_posix()
    try:
        if path.is_symlink():
            target = os.readlink(path)
            gone = "" if path.exists() else ", which does not exist"
            return f"a symlink to {target}{gone}: outside the folder, so it is not read (link or copy it inside)"
        path.resolve()
    except (OSError, RuntimeError, ValueError):
        return "a symlink loop, or a name no path can hold"
    return "it resolves outside the folder (a folder on its way is a symlink), so it is not read"


def build_records(root: Path, images: list[str], table: pd.DataFrame | None,
                  column_map: Mapping[str, str], notes: list[str] | None = None,
                  stored_ids: Collection[str] = ()) -> pd.DataFrame:
    """Metadata rows (in file order) then images without a row, as canonical records (`stored_ids`: the source ids
    the workspace holds for folders, see `curate.ingest.mapping.to_records`).

    Extra columns: `file` (relative path) and `abs_path` (absolute path to read, None when
    it must not be read). A row naming a file that is not there but for the case of its name joins that
    file (`join_by_case`); `notes` gets a line for those, and one for the images no row names.
    """
    meta = metadata_records(root, table, column_map, stored_ids) if table is not None else pd.DataFrame()
    if "file" in meta.columns:
        meta = join_by_case(root, meta, images, notes if notes is not None else [])
    joined = set(meta["file"].dropna()) if "file" in meta.columns else set()
    extra = [relative for relative in images if relative not in joined]
    if table is not None and len(table) and extra and notes is not None:  # audit CK 9: said nowhere
        many = len(extra) != 1
        notes.append(f"{len(extra):,} photo{'s' if many else ''} in the folder {'have' if many else 'has'} no row in "
                     f"the metadata (e.g. {display_text(extra[0])}): ingested with {'their' if many else 'its'} file "
                     "name as id, and no owner, tags or position from the metadata")
    checked = [safe_relative_path(root, relative) for relative in extra]  # symlinks out of the folder
    shown = [display_text(relative) for relative in extra]  # a non-UTF-8 name is stored escaped
    loose = pd.DataFrame({
        "source_id": shown,
        "file": shown,
        "abs_path": [path for _, path, _ in checked],
        "drop_reason": [reason for _, _, reason in checked],
        "error_detail": [unsafe_detail(root, relative) if reason == "unsafe_path" else None
                         for relative, (_, _, reason) in zip(extra, checked)],
    }, dtype="object")
    return pd.concat([meta, loose], ignore_index=True) if len(meta) else loose


def join_by_case(root: Path, meta: pd.DataFrame, images: list[str], notes: list[str]) -> pd.DataFrame:
    """`meta` with each row whose `file` is not among `images` joined to the one image whose name differs from it
    only in case (`IMG_1.JPG` for `img_1.jpg`), where exactly one such image is named by no other row: a
    file system that ignores case (macOS, Windows) joins them, and the row was dropped as missing_file while its
    photo came in again as a photo without metadata (audit CK 9). Its `source_id` stays as the row gives it."""
    present = set(images)
    named = set(meta["file"].dropna())
    unnamed: dict[str, list[str]] = {}
    for image in images:
        if image not in named:
            unnamed.setdefault(image.casefold(), []).append(image)
    wanted = meta["file"].notna() & meta["drop_reason"].isna() & ~meta["file"].isin(present)
    fixed = []
    for position in meta.index[wanted]:
        given = meta.at[position, "file"]
        match = unnamed.get(given.casefold(), [])
        if len(match) == 1:
            unnamed[given.casefold()] = []  # one row per image
            meta.at[position, "file"], meta.at[position, "abs_path"] = match[0], str(root / match[0])
            fixed.append((given, match[0]))
    if fixed:
        many = len(fixed) != 1
        notes.append(f"{len(fixed):,} metadata row{'s' if many else ''} name{'' if many else 's'} a file whose name "
                     f"differs in case from the one in the folder (e.g. {display_text(fixed[0][0])} is "
                     f"{display_text(fixed[0][1])}): joined to {'them' if many else 'it'}, as a file system that "
                     "ignores case would")
    return meta


def metadata_records(root: Path, table: pd.DataFrame, column_map: Mapping[str, str],
                     stored_ids: Collection[str] = ()) -> pd.DataFrame:
    """Map the sidecar onto record fields (`stored_ids`: see `to_records`) and check each row's file path."""
    records = to_records(table, dict(column_map), pages_first=True, stored_ids=stored_ids)
    records = records.reset_index(drop=True).astype("object")
    if "file" not in records.columns:
        if table.empty:
            return pd.DataFrame()
        raise UsageError(f"metadata has no file column (columns: {', '.join(shown_columns(table.columns))}); "
                         "pass --map file=COLUMN")
    checked = [safe_relative_path(root, raw) for raw in records["file"]]
    relative = pd.Series([rel for rel, _, _ in checked], index=records.index, dtype="object")
    records["abs_path"] = [path for _, path, _ in checked]
    records["drop_reason"] = [reason for _, _, reason in checked]
    records["error_detail"] = [unsafe_detail(root, raw) if reason == "unsafe_path" else None
                               for raw, (_, _, reason) in zip(records["file"], checked)]
    # Unsafe paths keep their raw spelling in `file` for the id, but never join a scanned image.
    records["file"] = relative.where(records["drop_reason"].isna(), None)
    given_id = records["source_id"] if "source_id" in records.columns else pd.Series(None, index=records.index)
    row_names = pd.Series([f"row-{number}" for number in range(1, len(records) + 1)], index=records.index)
    fallback = relative.where(relative.notna(), row_names)
    records["source_id"] = given_id.map(_text_or_none).where(~given_id.map(is_blank), fallback)
    return records


def _text_or_none(value: object) -> str | None:
    return None if is_blank(value) else str(value).strip()
