"""The resumable state of one Commons listing, under `<workspace>/journal/`.

Two files per query, named by a hash of what identifies the query (endpoint, category
or position and radius, thumbnail width):

    commons-<hash>.jsonl   the records of every finished batch, one JSON object a line
    commons-<hash>.json    {"continue": <the API's continue object for the next batch>,
                            "records_bytes": <how much of the .jsonl is committed>, ...}

A batch is committed by appending its records to the .jsonl and then replacing the
.json atomically. A run killed between the two leaves uncommitted lines past
`records_bytes`; they are cut off on load and the batch is asked for again from its
saved continue token, so no record is ever listed twice. The records file is
append-only, so a 100,000-file category costs no quadratic rewriting.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

from curate.ingest.engine_journal import append_json_lines
from curate.workspace import Workspace, atomic_write_bytes

log = logging.getLogger(__name__)

VERSION = 1


@dataclass
class ListingState:
    """Where a listing stands: the next continue token and what was committed so far."""

    identity: dict
    continue_token: dict | None = None  # None with listing_done False: not started
    listing_done: bool = False
    records: list[dict] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    api_requests: int = 0
    resumed: bool = False  # loaded from an interrupted run


class ListingCursor:
    """Load, commit and clear one query's listing state."""

    def __init__(self, ws: Workspace, identity: dict):
        self.identity = identity
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:16]
        self.state_path = ws.journal_dir / f"commons-{digest}.json"
        self.records_path = ws.journal_dir / f"commons-{digest}.jsonl"
        self._records_bytes = 0

    def load(self) -> ListingState:
        """The saved state, or a fresh one (stale or unreadable state is started over)."""
        try:
            saved = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            saved = None
        except (OSError, ValueError):
            log.warning(f"ignoring unreadable {self.state_path.name}: listing from the start")
            saved = None
        if not isinstance(saved, dict) or saved.get("version") != VERSION or saved.get("query") != self.identity:
            self.records_path.unlink(missing_ok=True)
            self._records_bytes = 0
            return ListingState(self.identity)
        self._records_bytes = int(saved.get("records_bytes", 0))
        with open(self.records_path, "a+b") as handle:  # creates it if a crash lost it
            handle.truncate(self._records_bytes)  # lines of a batch that never got committed
            handle.seek(0)
            committed = handle.read()
        records = [json.loads(line) for line in committed.decode("utf-8").splitlines() if line.strip()]
        return ListingState(self.identity, continue_token=saved.get("continue"),
                            listing_done=bool(saved.get("listing_done")), records=records,
                            skipped=dict(saved.get("skipped", {})), api_requests=int(saved.get("api_requests", 0)),
                            resumed=True)

    def commit(self, state: ListingState, new_records: list[dict]) -> None:
        """Append `new_records` (already in `state.records`) and save the state atomically."""
        if new_records:
            self._records_bytes = append_json_lines(self.records_path, new_records)
        saved = {"version": VERSION, "query": self.identity, "continue": state.continue_token,
                 "listing_done": state.listing_done, "records_bytes": self._records_bytes,
                 "skipped": state.skipped, "api_requests": state.api_requests}
        atomic_write_bytes(self.state_path, json.dumps(saved, indent=1).encode("utf-8"))

    def clear(self) -> None:
        """Forget the listing (after a finished run: the next run lists afresh)."""
        self.state_path.unlink(missing_ok=True)
        self.records_path.unlink(missing_ok=True)
