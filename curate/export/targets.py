"""The target folder of an export: whether `--out` may receive one, and removing what an export
left there (an interrupted export's plan folders and temporary files, the files a new plan no longer
has, empty folders)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from curate.errors import UsageError
from curate.export.state import JOURNAL_FILE, PLAN_FOLDER, STATE_FILE, is_ours
from curate.workspace import Workspace

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
