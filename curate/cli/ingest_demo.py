"""`curate ingest demo` (being written)."""

from __future__ import annotations

from curate.cli.common import WorkspaceOption, user_errors
from curate.errors import UsageError


@user_errors
def demo(workspace_path: WorkspaceOption = None) -> None:
    """Not ready yet."""
    raise UsageError("curate ingest demo is not ready yet")
