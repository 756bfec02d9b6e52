"""Which folder a `curate ingest folder` photo belongs to: the id namespace of a folder.

A folder photo's id is its path relative to the folder (or its sidecar id), so two folders
holding `chicago/x.jpg` would claim one photo id, and the second folder's photo would be
skipped as "already in the catalog". Each folder therefore gets a namespace:

- the first folder ingested into a workspace keeps plain ids, `folder:<relative path>` (so
  every workspace made before namespaces existed keeps its ids);
- another folder gets `folder@<name>:<relative path>`, `<name>` made from the folder's
  name (`fb`, `fb-2`...). A plain id never starts with `folder@`, so the two kinds never meet.

`<workspace>/folders.json` remembers the namespace of each folder path. A folder it does
not know (a workspace from before it existed, or a folder that was moved or renamed) is
matched by content: when its would-be ids name photos already in the catalog, a few of
those files are hashed and compared with the stored images; a majority that match means
it is the same folder, and it takes over that namespace. Otherwise it is a new folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from curate import schema
from curate.workspace import Workspace, atomic_write_bytes, read_catalog

SOURCE = "folder"
REGISTRY_NAME = "folders.json"
SAMPLE_FILES = 8  # files hashed to recognise a folder that the registry does not know
MAX_SAMPLE_BYTES = 256 * 1024 * 1024


def display_text(text: str) -> str:
    """`text` safe to store as UTF-8: bytes of a non-UTF-8 file name (which Python reads as
    lone surrogates) are spelled as `\\xe9` escapes; every other name is unchanged.

    >>> display_text("caf\\udce9.jpg")
    'caf\\\\xe9.jpg'
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def id_prefix(namespace: str) -> str | None:
    """The photo-id prefix of a namespace: None (plain `folder:`) for the first folder."""
    return f"{SOURCE}@{namespace}" if namespace else None


def folder_namespace(ws: Workspace, root: Path, records: pd.DataFrame,
                     read_bytes: Callable[[str, dict], bytes] | None = None) -> str:
    """The namespace of the folder `root` (resolved) in `ws`, registering it when new.

    `records` are the folder's canonical records (`source_id`, `abs_path`). Call it while
    holding the workspace lock.
    """
    registry = load_registry(ws)
    key = display_text(str(root))
    if key in registry:
        return registry[key]
    catalog = read_catalog(ws, required=False)
    known = set(registry.values())
    if (catalog["source"] == SOURCE).any() and catalog[schema.PHOTO_ID].str.startswith(f"{SOURCE}:").any():
        known.add("")  # plain ids from a workspace made before the registry
    chosen = next((ns for ns in sorted(known) if same_folder(catalog, ns, records, read_bytes)), None)
    if chosen is None:
        chosen = "" if "" not in known else _new_namespace(root, known)
    registry[key] = chosen
    save_registry(ws, registry)
    return chosen


def same_folder(catalog: pd.DataFrame, namespace: str, records: pd.DataFrame,
                read_bytes: Callable[[str, dict], bytes] | None = None) -> bool:
    """Whether `records` describe the photos that `namespace` holds in `catalog`: the ids
    collide, and most of a sample of the colliding files hash like their stored images
    (with no stored image to compare, colliding ids alone decide, as before namespaces).
    `read_bytes(abs_path, record)` reads a photo held inside a tar shard or a Parquet file (the record
    says where: curate.ingest.containers.photo_bytes); without it, or for a plain file, the file is hashed."""
    prefix = id_prefix(namespace) or SOURCE
    wanted = (prefix + ":" + records["source_id"].astype(str)).to_numpy()
    located = records.reset_index(drop=True)
    positions = pd.Series(range(len(located)), index=wanted)
    positions = positions[~positions.index.duplicated()]
    hits = catalog[catalog[schema.PHOTO_ID].isin(positions.index)]
    if hits.empty:
        return False
    stored = hits[hits["sha256"].notna()].head(SAMPLE_FILES)
    if stored.empty:
        return True
    matches = [_photo_sha256(located.iloc[positions[pid]].to_dict(), read_bytes) == sha
               for pid, sha in zip(stored[schema.PHOTO_ID], stored["sha256"])]
    return 2 * sum(matches) > len(matches)


def _photo_sha256(record: dict, read_bytes: Callable[[str, dict], bytes] | None) -> str | None:
    path = record.get("abs_path")
    if not isinstance(path, str):
        return None
    inside = any(pd.notna(record.get(name)) for name in ("tar_offset", "pq_row"))
    if inside:  # a member of a tar shard or a cell of a Parquet file
        if read_bytes is None:
            return None
        try:
            data = read_bytes(path, record)
        except Exception:  # noqa: BLE001 - an unreadable member does not match
            return None
        return hashlib.sha256(data).hexdigest() if len(data) <= MAX_SAMPLE_BYTES else None
    return _file_sha256(path)


def _file_sha256(path: object) -> str | None:
    if not isinstance(path, str):
        return None
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > MAX_SAMPLE_BYTES:
            return None
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _new_namespace(root: Path, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", display_text(root.name)).strip("-.") or "folder"
    name, number = stem, 2
    while name in taken:
        name, number = f"{stem}-{number}", number + 1
    return name


def load_registry(ws: Workspace) -> dict[str, str]:
    """{folder path: namespace}; a missing or unreadable file is empty (folders are then
    recognised by content again)."""
    path = ws.root / REGISTRY_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    folders = raw.get("folders") if isinstance(raw, dict) else None
    if not isinstance(folders, dict):
        return {}
    return {str(k): v for k, v in folders.items() if isinstance(v, str) and ":" not in v}


def save_registry(ws: Workspace, registry: dict[str, str]) -> None:
    """Write `<workspace>/folders.json` atomically."""
    text = json.dumps({"folders": registry}, indent=1, ensure_ascii=False, sort_keys=True)
    atomic_write_bytes(ws.root / REGISTRY_NAME, text.encode("utf-8"))
