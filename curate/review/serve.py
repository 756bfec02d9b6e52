"""Run the review app, and apply the decisions to a workspace's catalog without it."""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence

import pandas as pd

from curate.errors import UsageError
from curate.listen import check_listen
from curate.review.apply import float_id_twins
from curate.review.journal import apply_workspace_decisions
from curate.review.queues import QUEUES
from curate.review.writes import write_reviewed
from curate.workspace import Workspace, changes_workspace, read_catalog, write_catalog


@changes_workspace
def apply_to_catalog(ws: Workspace) -> pd.DataFrame:
    """Apply every decision of reviews.jsonl to the catalog and write it (under the workspace lock)."""
    catalog = apply_workspace_decisions(ws, read_catalog(ws))
    write_reviewed(ws, lambda: write_catalog(ws, catalog))  # (`curate run` tells it from a change by hand)
    return catalog


REVIEWED_COLUMNS = ("status", "drop_reason", "label", "review_status")


def import_summary(before: pd.DataFrame, after: pd.DataFrame, decisions: list[dict], added: int, known: int,
                   moved: Sequence[tuple[str, str]] = ()) -> str:
    """The line `curate review --import-decisions` prints: what was imported, which decisions were moved to the
    photo whose id differs only by a trailing '.0' (`moved`: (id as given, id held) per decision, see
    `curate.review.apply.float_id_twins`), which name photos the workspace does not hold or undo decisions it
    does not know, and whether the catalog changed (only then are the later stages stale)."""
    ids = set(after["photo_id"])
    decision_ids = {d["id"] for d in decisions}
    twins = float_id_twins({d["photo_id"] for d in decisions}, ids)  # (applied to their twins: not strangers)
    strangers = sum(d["photo_id"] not in ids and d["photo_id"] not in twins for d in decisions)
    dangling = sum(d["action"] == "undo" and d.get("undoes") not in decision_ids for d in decisions)
    columns = [name for name in REVIEWED_COLUMNS if name in before.columns and name in after.columns]
    old = before.set_index("photo_id")[columns].astype(object)
    new = after.set_index("photo_id").reindex(old.index)[columns].astype(object)
    changed = int((~((old == new) | (old.isna() & new.isna()))).any(axis=1).sum())
    line = f"imported {added} decisions ({known} already here)"
    if moved:
        pairs = list(dict.fromkeys(moved))
        named = ", ".join(f"{given} as {held}" for given, held in pairs[:3]) + (" …" if len(pairs) > 3 else "")
        line += (f"; {len(moved)} matched a photo whose id differs only by a trailing '.0' (as pandas writes integer "
                 f"ids from a column with a blank): recorded and applied under this workspace's id ({named})")
    if strangers:
        line += (f"; {strangers} name{'s' if strangers == 1 else ''} a photo this workspace does not hold (kept in "
                 "reviews.jsonl, applied if it comes back)")
    if dangling:
        line += f"; {dangling} undo{'es' if dangling == 1 else ''} a decision this workspace does not know (no effect)"
    new_labels = sorted(set(after["label"].dropna()) - set(before["label"].dropna()))
    if new_labels:  # as the app says of a relabel to a label the catalog lacks: a typo makes a class (audit CG)
        named = ", ".join(repr(label) for label in new_labels[:5]) + (" …" if len(new_labels) > 5 else "")
        line += (f"; note: {len(new_labels)} new label{'s' if len(new_labels) != 1 else ''}, not in the catalog "
                 f"before: {named} (each makes a class of its own: if one is a typo, undo it in `curate review`)")
    line += f"; {int(after['review_status'].notna().sum())} photos carry a review decision; "
    if changed:
        # (the split and what follows it; the filter or the prefilter too where an undone drop held back a photo
        # their last run did not judge: audit AO)
        return line + (f"{changed} photos changed: later stages are stale now (`curate status` says which, and what "
                       "to run)")
    return line + "the catalog did not change"


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
    previous = _exit_on_sigterm()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        session.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm():
    """Make SIGTERM leave through the `finally` that writes the catalog, as Ctrl-C does: uvicorn stops on it,
    then sends the signal again, and Python's default for SIGTERM ended the process on the spot, so decisions
    of the last moments were in reviews.jsonl but not in the catalog (an audit's `kill -TERM` right after a
    drop; a split then put the dropped photos in train). Returns the handler it replaced (None off the main
    thread, where no handler can be set)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, stop)
