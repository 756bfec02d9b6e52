"""Which catalogs `curate review` wrote: so that `curate run` can tell a reviewed catalog from one a command changed
by hand.

`curate run` records the catalog's sha256 after each step and, finding another catalog next time, ran every step
again (a command run by hand may have changed what a step decided). A review is not such a command: its decisions
win on every re-run, and the stages before the split are judged on the catalog before review
(`curate.freshness`), so re-running them only re-decides photos nobody reviewed: audit CU MED-4 dropped one photo
in the review app, and `curate run` re-ran the prefilter, whose held cut flipped on the one photo fewer: 113
off-topic drops became 0. Each catalog write of `curate review` (the app's, an import's) adds the pair
(catalog before, catalog after) to `journal/review-writes.json`; `reviewed_since` follows the pairs back from
today's catalog to the one a run left, and only a chain of review writes counts as reviewed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from curate.workspace import Workspace, atomic_write_bytes, catalog_sha256

WRITES_FILE = "review-writes.json"
KEEP = 1000  # the last writes remembered (a review session writes once per pause in its decisions)


def writes_path(ws: Workspace) -> Path:
    return Path(ws.journal_dir) / WRITES_FILE


def note_write(ws: Workspace, before: str | None, after: str) -> None:
    """Record that review turned the catalog `before` (its sha256; None: there was none) into `after`. Called
    under the workspace lock, right after the write."""
    if before == after:  # (a write that changed nothing links nothing: review DB, an A→A entry broke the chain)
        return
    writes = _read(ws)
    writes.pop(after, None)  # (newest last: the oldest are forgotten first)
    writes[after] = before
    atomic_write_bytes(writes_path(ws), json.dumps(dict(list(writes.items())[-KEEP:])).encode("utf-8"))


def write_reviewed(ws: Workspace, write: Callable[[], None]) -> None:
    """Run `write()` (a catalog write of review's) and record it (`note_write`)."""
    before = catalog_sha256(ws) if ws.catalog_path.exists() else None
    write()
    note_write(ws, before, catalog_sha256(ws))


def reviewed_since(ws: Workspace, then: str | None, now: str | None) -> bool:
    """Whether the catalog `now` came from the catalog `then` by review writes alone (at least one)."""
    if not then or not now or then == now:
        return False
    writes, seen = _read(ws), set()
    while now in writes and now not in seen:
        seen.add(now)
        now = writes[now]
        if now == then:
            return True
    return False


def _read(ws: Workspace) -> dict:
    try:
        writes = json.loads(writes_path(ws).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): v for k, v in writes.items() if isinstance(v, str) or v is None} if isinstance(writes, dict) \
        else {}
