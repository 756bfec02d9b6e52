"""The review app's state: the catalog in memory with the decisions applied, and the I/O around it.

Every decision is appended to reviews.jsonl first (the record that counts), then applied to the
rows it concerns in memory; the catalog file is rewritten in the background a moment after the
last decision (one write for a burst of keys), under the workspace lock. While another curate
command holds that lock (a stage is running), decisions are refused with a message the page
shows, and the catalog the stage writes is read again before the next decision.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from contextlib import contextmanager

import numpy as np
import pandas as pd

from curate import schema
from curate.errors import CurateError, UsageError
from curate.review.apply import REVIEW_COLUMNS, active_decisions, apply_decisions, photo_state
from curate.review.journal import (
    append_decisions,
    clean_label,
    label_problem,
    local_user,
    new_decision,
    read_decisions,
    reviews_path,
)
from curate.review.queues import QUEUES, Queue, automatic_view, build_queue
from curate.review.writes import write_reviewed
from curate.workspace import Workspace, exclusive, read_catalog, write_catalog

logger = logging.getLogger(__name__)
_STATE_COLUMNS = ["status", "label", "drop_reason", "drop_stage", "split", *REVIEW_COLUMNS]


class StageRunning(CurateError):
    """Another curate command holds the workspace lock: no decision is written until it ends."""


def _stat(path) -> tuple | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_mtime_ns, info.st_size


class ReviewSession:
    """Catalog, decisions and queues of one workspace, shared by the app's requests (thread-safe)."""

    def __init__(self, ws: Workspace, user: str | None = None, flush_delay_s: float = 0.5):
        self.ws = ws
        self.user = user or local_user()
        self.flush_delay_s = flush_delay_s
        self.lock = threading.RLock()
        self._ws_lock = threading.Lock()  # one exclusive() at a time in this process (its counter is not thread-safe)
        # one flush at a time: a flush that found nothing to write returned while the background writer was still
        # writing the decisions it had taken, so a caller read the catalog without them (a fresh clone's suite,
        # 2026-12-07: test_review_browser read the label before the relabel)
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._last_change = 0.0
        self._load()
        self._flusher = threading.Thread(target=self._flush_loop, name="review-flush", daemon=True)
        self._flusher.start()

    # ---- loading ---------------------------------------------------------------------------
    def _load(self) -> None:
        disk = read_catalog(self.ws).reset_index(drop=True)
        self.decisions = read_decisions(self.ws)
        catalog = apply_decisions(disk, self.decisions)
        self.dirty = not catalog[_STATE_COLUMNS].astype(object).equals(disk[_STATE_COLUMNS].astype(object))
        # object columns: a decision then changes its rows in place (pandas' string columns are immutable
        # Arrow arrays, rewritten whole on every assignment)
        self.catalog = catalog.assign(**{name: pd.Series(catalog[name].to_numpy(dtype=object), index=catalog.index,
                                                         dtype=object) for name in _STATE_COLUMNS})
        self._state_at = [self.catalog.columns.get_loc(name) for name in _STATE_COLUMNS]
        self._row_at = [self.catalog.columns.get_loc(schema.PHOTO_ID), *self._state_at]
        self.stats = (_stat(self.ws.catalog_path), _stat(reviews_path(self.ws)))
        self.view = automatic_view(self.catalog)
        self.photo_ids = self.catalog[schema.PHOTO_ID].to_numpy(dtype=object)
        self.index = pd.Index(self.photo_ids)
        self._position = {pid: i for i, pid in enumerate(self.photo_ids)}
        self._by_photo: dict[str, list[dict]] = {}
        for decision in self.decisions:
            self._by_photo.setdefault(decision["photo_id"], []).append(decision)
        self.queues = {name: build_queue(self.view, name) for name in QUEUES}  # before the first page is asked for
        key = self.view["near_dup_cluster"].where(self.view["near_dup_cluster"].notna(), self.view["exact_dup_group"])
        self._cluster_key = key.to_numpy(dtype=object)
        self._clusters = key.groupby(key).indices if key.notna().any() else {}
        names = pd.concat([self.catalog["label"], self.catalog["suggested_label"]]).dropna().unique()
        self.labels = sorted(str(name) for name in names)

    def refresh(self) -> None:
        """Read the catalog and decisions again if another command changed either file."""
        with self.lock:
            if (_stat(self.ws.catalog_path), _stat(reviews_path(self.ws))) != self.stats:
                self._load()

    def queue(self, name: str) -> Queue:
        """The queue `name` (built once per catalog read; decisions do not move photos between queues)."""
        with self.lock:
            if name not in self.queues:
                self.queues[name] = build_queue(self.view, name)
            return self.queues[name]

    def cluster_positions(self, position: int) -> np.ndarray:
        """Positions of the photos in the near-duplicate cluster (else exact-duplicate group) of `position`."""
        with self.lock:
            return np.asarray(self._clusters.get(self._cluster_key[position], [position]))

    def queue_sizes(self) -> dict[str, int]:
        return {name: len(self.queue(name)) for name in QUEUES}

    def positions_of(self, photo_ids: list[str]) -> np.ndarray:
        found = np.array([self._position.get(pid, -1) for pid in photo_ids], dtype=np.int64) \
            if len(photo_ids) < 1000 else self.index.get_indexer(photo_ids)
        if (found < 0).any():
            missing = [pid for pid, pos in zip(photo_ids, found) if pos < 0][:3]
            raise UsageError(f"no photo {', '.join(map(repr, missing))} in this workspace's catalog")
        return found

    # ---- the workspace lock ------------------------------------------------------------------
    def stage_running(self) -> bool:
        """True while another curate command holds the workspace lock."""
        if not self._ws_lock.acquire(blocking=False):
            return False  # this process is writing the catalog itself
        try:
            with exclusive(self.ws):
                return False
        except UsageError as exc:
            # only the lock held by another command is "running"; a workspace that cannot be locked at all (read
            # only) says so, or every decision was told to retry in a moment for ever (audit AN)
            if "another curate command" not in str(exc):
                raise
            return True
        finally:
            self._ws_lock.release()

    def _require_idle(self) -> None:
        if self.stage_running():
            raise StageRunning("a curate command is changing this workspace right now; decisions are paused "
                               "until it finishes (nothing was recorded: try again in a moment)", exit_code=2)

    # ---- decisions ---------------------------------------------------------------------------
    def decide(self, photo_ids: list[str], action: str, label: str | None = None,
               queue: str | None = None) -> list[dict]:
        """Record `action` (keep, drop or relabel) for each photo; returns the new decisions."""
        if action not in ("keep", "drop", "relabel"):
            raise UsageError(f"unknown action {action!r}; use keep, drop or relabel")
        if not photo_ids:
            raise UsageError("no photo given")
        if action == "relabel":
            label = clean_label(label)
            problem = label_problem(label)
            if problem:
                raise UsageError(problem)
        with self.lock:
            self.refresh()
            self._require_idle()
            positions = self.positions_of(list(dict.fromkeys(photo_ids)))
            if action == "keep":  # an ingest drop has no usable image: nothing a reviewer can keep
                positions = self._keepable(positions)
            batch = uuid.uuid4().hex[:12] if len(positions) > 1 else None
            ids = self.photo_ids[positions]
            new = [new_decision(pid, action, label=label if action == "relabel" else None, batch=batch,
                                queue=queue, who=self.user) for pid in ids]
            return self._record(positions, new)

    def _keepable(self, positions: np.ndarray) -> np.ndarray:
        """`positions` less the photos dropped at ingest (no usable image: docs/review.md); UsageError
        naming the first when that leaves none."""
        at_ingest = (self.catalog["drop_stage"].iloc[positions] == "ingest").to_numpy()
        if at_ingest.all():
            first = self.catalog.iloc[positions[0]]
            raise UsageError(f"{first['photo_id']} has no usable image ({first['drop_reason']}, dropped at ingest); "
                             "it cannot be kept: fix or replace the file and run the ingest again")
        return positions[~at_ingest]

    def undo(self, photo_id: str | None = None) -> list[dict]:
        """Take back the latest decision still in force (of `photo_id` if given; a whole batch at
        once when it was a batch action). The undo is a decision too."""
        with self.lock:
            self.refresh()
            self._require_idle()
            active = [d for d in active_decisions(self.decisions) if photo_id is None or d["photo_id"] == photo_id]
            if not active:
                raise UsageError("nothing to undo" + (f" for {photo_id}" if photo_id else ""))
            last = active[-1]
            targets = [d for d in active if d.get("batch") == last["batch"]] if last.get("batch") and not photo_id \
                else [last]
            positions = self.positions_of([d["photo_id"] for d in targets])
            batch = uuid.uuid4().hex[:12] if len(targets) > 1 else None
            new = [new_decision(d["photo_id"], "undo", undoes=d["id"], batch=batch, queue=d.get("queue"),
                                who=self.user) for d in targets]
            return self._record(positions, new)

    def _record(self, positions: np.ndarray, new: list[dict]) -> list[dict]:
        """Fill before/after, append to reviews.jsonl, then update the rows in memory."""
        rows = self.catalog.iloc[positions, self._row_at]  # only the columns a decision reads and writes
        ids = set(self.photo_ids[positions])
        after_rows = apply_decisions(rows, [d for pid in ids for d in self._by_photo.get(pid, [])] + new)
        before, after = photo_state(rows), photo_state(after_rows)
        for decision in new:
            decision["before"], decision["after"] = before[decision["photo_id"]], after[decision["photo_id"]]
        append_decisions(self.ws, new)
        self.decisions.extend(new)
        for decision in new:
            self._by_photo.setdefault(decision["photo_id"], []).append(decision)
        self.catalog.iloc[positions, self._state_at] = after_rows[_STATE_COLUMNS].to_numpy(dtype=object)
        self.stats = (self.stats[0], _stat(reviews_path(self.ws)))
        self.dirty, self._last_change = True, time.monotonic()
        self._wake.set()
        return new

    def state(self, photo_ids: list[str]) -> dict[str, dict]:
        """{photo_id: current status, label, review decision} for the page."""
        with self.lock:
            return photo_state(self.catalog.iloc[self.positions_of(photo_ids), self._row_at])

    # ---- writing the catalog ---------------------------------------------------------------------
    def flush(self) -> bool:
        """Write the catalog with the decisions applied, if it changed. False when it is not written
        yet: a stage holds the workspace, or wrote the catalog since it was read (then it is read
        again and the decisions applied to the stage's version; the next flush writes that). A flush waits for
        one in progress (the background writer's), so that True means the catalog on disk holds the decisions."""
        with self._flush_lock:
            return self._flush()

    def _flush(self) -> bool:
        with self.lock:
            if not self.dirty:
                return True
            snapshot, read_as, self.dirty = self.catalog.copy(), self.stats[0], False
        try:
            with self._hold_workspace():
                stage_wrote = _stat(self.ws.catalog_path) != read_as
                if not stage_wrote:  # checked under the lock: never overwrite a stage's catalog
                    write_reviewed(self.ws, lambda: write_catalog(self.ws, snapshot))
        except StageRunning:
            with self.lock:
                self.dirty = True
            return False
        with self.lock:
            if stage_wrote:
                self._load()
                return not self.dirty
            self.stats = (_stat(self.ws.catalog_path), self.stats[1])
        return True

    @contextmanager
    def _hold_workspace(self):
        with self._ws_lock:
            try:
                with exclusive(self.ws):
                    yield
            except UsageError as exc:
                if "another curate command" not in str(exc):
                    raise
                raise StageRunning(str(exc)) from None

    def _flush_loop(self) -> None:
        while not self._stopped:
            self._wake.wait()
            self._wake.clear()
            while not self._stopped and time.monotonic() - self._last_change < self.flush_delay_s:
                time.sleep(self.flush_delay_s / 4)
            try:
                written = self._stopped or self.flush()
            except CurateError as exc:  # e.g. a catalog another program broke: say so, keep serving
                logger.error("review: the catalog was not written (%s); decisions are safe in reviews.jsonl", exc)
                written = False
            if not written:
                time.sleep(1.0)
                self._wake.set()  # a stage held the lock: try again

    def close(self) -> None:
        """Stop the background writer and write what is left."""
        self._stopped = True
        self._wake.set()
        self._flusher.join(5)
        self.flush()
