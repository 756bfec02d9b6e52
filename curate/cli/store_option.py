"""`--store URI` on the ingest commands: where the workspace's images live (curate.objectstore)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from curate import objectstore
from curate.cli.common import workspace
from curate.workspace import Workspace

StoreOption = Annotated[str | None, typer.Option(
    "--store", metavar="URI", show_default="<workspace>/images",
    help="Where the images are stored: an fsspec URL (s3://bucket/prefix, gs://bucket/prefix) or a folder. "
         "Recorded in the workspace by its first ingest; credentials come from the environment, never the URL "
         "(docs/scale.md).")]


def store_workspace(path: Path | None, store: str | None) -> Workspace:
    """The workspace of --workspace, its image store set to --store when given (one line, exit 2, for a
    bad URI or a workspace whose images are already elsewhere)."""
    ws = workspace(path)
    objectstore.record_store(ws, store)
    return ws
