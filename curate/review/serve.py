"""Run the review app, and apply the decisions to a workspace's catalog without it."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from curate.errors import UsageError
from curate.listen import check_listen
from curate.review.journal import apply_workspace_decisions
from curate.review.queues import QUEUES
from curate.workspace import Workspace, changes_workspace, read_catalog, write_catalog


@changes_workspace
def apply_to_catalog(ws: Workspace) -> pd.DataFrame:
    """Apply every decision of reviews.jsonl to the catalog and write it (under the workspace lock)."""
    catalog = apply_workspace_decisions(ws, read_catalog(ws))
    write_catalog(ws, catalog)
    return catalog


def serve_review(ws: Workspace, host: str = "127.0.0.1", port: int = 8765, queue: str = "label_issues",
                 announce: Callable[[str], None] = lambda url: None) -> None:
    """Serve the review app until interrupted; `announce` gets the URL to open (with the access
    token when `host` is not a loopback address). The catalog is written once more at the end."""
    import uvicorn

    from curate.review.app import access_token, create_app, is_loopback
    from curate.review.session import ReviewSession

    if queue not in QUEUES:
        raise UsageError(f"unknown --queue {queue!r}; choose one of {', '.join(QUEUES)}")
    if not 0 < port < 65536:
        raise UsageError(f"--port must be 1-65535, got {port}")
    check_listen(host, port)
    session = ReviewSession(ws)
    token = None if is_loopback(host) else access_token()
    app = create_app(session, host=host, token=token, default_queue=queue)
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{port}/?queue={queue}" + (f"&token={token}" if token else ""))
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        session.close()
