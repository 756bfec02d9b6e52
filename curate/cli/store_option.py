"""`--store URI` on the ingest commands: where the workspace's images live (curate.objectstore),
built from StoreConfig's field like the engine's flags."""

from __future__ import annotations

from pathlib import Path

from curate import objectstore
from curate.cli.common import workspace
from curate.cli.options import config_options
from curate.workspace import Workspace

# on a command with a `store_settings: dict | None = None` parameter: --store
store_options = config_options(objectstore.StoreConfig, layered=False, param="store_settings")


def store_workspace(path: Path | None, store_settings: dict | None) -> Workspace:
    """The workspace of --workspace, its image store set to --store when given (one line, exit 2, for a
    bad URI or a workspace whose images are already elsewhere)."""
    ws = workspace(path).check_not_a_file()
    objectstore.record_store(ws, (store_settings or {}).get("uri"))
    return ws
