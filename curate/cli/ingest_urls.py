"""`curate ingest urls` (being written)."""

from __future__ import annotations

from curate.cli.common import WorkspaceOption, user_errors
from curate.errors import UsageError


@user_errors
def urls(workspace_path: WorkspaceOption = None) -> None:
    """Not ready yet."""
    raise UsageError("curate ingest urls is not ready yet")
