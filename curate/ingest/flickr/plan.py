"""The query plan of one Flickr search: date slices, a cursor, and the photos listed so far.

Flickr answers at most ~4,000 photos per query (it reports the true `total`, then repeats
pages). The plan starts with one slice, the whole query; when a slice's first good page
reports `total > cap`, the slice is replaced by k equal parts of its taken-date range
(`min_taken_date`/`max_taken_date`, both inclusive, whole seconds, so the parts never
overlap), each planned the same way: recursion by data, depth first. A slice one second
wide that is still over the cap cannot be split: its first `cap` photos are listed and
the rest counted in `truncated_photos`. Pages past the cap are never requested.

The plan is bounded whatever the pages claim: a split makes at most MAX_SPLIT_PARTS
slices, slices are split at most MAX_DEPTH times, and the plan never holds more than
MAX_SLICES slices; a slice over the cap that may not be split is listed up to the cap
and the rest counted in `truncated_photos`, like a one-second slice.

State transitions are pure (`next_request`, `take_page`, `skip_page`); `PlanStore` saves
them: the plan as one JSON file written atomically after every page, the photos as
append-only JSON lines (written first, so a kill between the two only re-requests the
page that was in flight; its photos are deduplicated by id when loaded).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from curate.ingest.engine_journal import append_json_lines, read_json_lines
from curate.ingest.flickr.pages import SearchPage
from curate.workspace import Workspace, atomic_write_bytes

PLAN_VERSION = 1
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # MySQL datetime, what Flickr's *_taken_date accept
EARLIEST_TAKEN = "1800-01-01 00:00:00"  # scans of old prints carry old dates
FLICKR_CAP = 4000
MAX_SPLIT_PARTS = 32  # slices one split makes (a wide slice is split again, by data)
MAX_DEPTH = 16  # 32**7 s is 1,000 years: deep enough for one-second slices from 1800 to now
MAX_SLICES = 4096  # x 4,000 photos = 16M photos per query; each slice costs at least one API call


@dataclass
class Slice:
    """One date range of the query and how far its paging got."""

    min_taken: str
    max_taken: str
    dated: bool = True  # False: the undivided query without date bounds of its own
    total: int | None = None  # from the first good page
    pages: int | None = None
    next_page: int = 1
    done: bool = False
    depth: int = 0

    def seconds(self) -> int:
        return int((_parse(self.max_taken) - _parse(self.min_taken)).total_seconds())


@dataclass
class Plan:
    """Everything needed to continue a listing; no secret in here (the key is never stored)."""

    query_key: str
    query: dict
    licence_names: dict[str, str]  # id -> name, from licenses.getInfo
    licence_filter: str | None  # the `license` parameter sent, e.g. "1,2,3,4,5,6,9,10"
    per_page: int
    cap: int
    slices: list[Slice]
    listed: int = 0  # unique photos in the record log
    api_calls: int = 0  # over every run
    pages_done: int = 0
    malformed_pages: list[dict] = field(default_factory=list)
    malformed_photos: int = 0
    truncated_photos: int = 0
    complete: bool = False
    version: int = PLAN_VERSION

    # -- pure transitions ---------------------------------------------------------------------
    def next_request(self) -> tuple[int, int] | None:
        """(slice index, page) to request next, or None when the listing is complete."""
        if self.complete:
            return None
        for index, piece in enumerate(self.slices):
            if not piece.done:
                return index, piece.next_page
        self.complete = True
        return None

    def take_page(self, index: int, page: SearchPage) -> None:
        """Account for a good page of slice `index` (the caller keeps its photos).

        The first good page of a slice over the cap splits the slice (its photos are still
        kept: they are real results, and ids are deduplicated anyway).
        """
        piece = self.slices[index]
        self.pages_done += 1
        self.malformed_photos += page.malformed_photos
        if piece.total is None:
            piece.total, piece.pages = page.total, page.pages
            if page.total > self.cap:
                if self._split(index, earliest_taken(page) if piece.next_page == 1 else None):
                    return
                self.truncated_photos += page.total - self.cap
        piece.pages = min(page.pages, self.max_pages())
        self._advance(piece, got_photos=bool(page.records) or page.malformed_photos > 0)

    def skip_page(self, index: int, detail: str) -> None:
        """Record a malformed page of slice `index` and move past it."""
        piece = self.slices[index]
        self.malformed_pages.append({"min_taken": piece.min_taken, "max_taken": piece.max_taken,
                                     "dated": piece.dated, "page": piece.next_page, "detail": detail[:200]})
        self._advance(piece, got_photos=True)

    def max_pages(self) -> int:
        """Pages of one slice that lie under the cap; beyond them Flickr repeats itself."""
        return max(1, math.ceil(self.cap / self.per_page))

    def _advance(self, piece: Slice, got_photos: bool) -> None:
        piece.next_page += 1
        last = piece.pages if piece.pages is not None else self.max_pages()
        piece.done = not got_photos or piece.next_page > last

    def _split(self, index: int, earliest: str | None = None) -> bool:
        """Replace slice `index` by k non-overlapping parts of its date range; False if 1 s wide
        or if the plan's bounds (MAX_DEPTH, MAX_SLICES) forbid it.

        `earliest`: the first taken date of the slice (from its first page, sorted by date
        taken), which moves the lower bound up: an open-ended query starts in 1800, and
        equal parts of 1800..now would mostly be empty.
        """
        piece = self.slices[index]
        if earliest and piece.min_taken < earliest <= piece.max_taken:
            piece.min_taken = earliest
        width_s = piece.seconds()
        if width_s < 1 or piece.depth >= MAX_DEPTH:
            return False
        parts = min(width_s + 1, MAX_SPLIT_PARTS, max(2, math.ceil(piece.total / self.cap) + 1))
        if len(self.slices) - 1 + parts > MAX_SLICES:
            return False
        start = _parse(piece.min_taken)
        bounds = [start + timedelta(seconds=round(width_s * k / parts)) for k in range(parts + 1)]
        children = []
        for k in range(parts):
            low = bounds[k] if k == 0 else bounds[k] + timedelta(seconds=1)
            children.append(Slice(_format(low), _format(bounds[k + 1]), depth=piece.depth + 1))
        self.slices[index:index + 1] = [c for c in children if c.seconds() >= 0]
        return True

    # -- persistence --------------------------------------------------------------------------
    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Plan:
        raw = json.loads(data)
        raw["slices"] = [Slice(**piece) for piece in raw["slices"]]
        return cls(**raw)


def earliest_taken(page: SearchPage) -> str | None:
    """The first taken date of a page sorted by date taken, or None when the order is not
    evidently ascending (then the page proves nothing about earlier photos)."""
    dates = []
    for text in page.taken_dates:
        try:
            dates.append(_parse(text))
        except ValueError:
            return None
    if not dates or any(later < earlier for earlier, later in zip(dates, dates[1:])):
        return None
    return _format(dates[0])


def root_slice(min_taken: str | None, max_taken: str | None, now: datetime | None = None) -> Slice:
    """The whole query. Without user dates it sends no date bounds, but knows the range to
    split if it has to: EARLIEST_TAKEN .. tomorrow (frozen when the plan is made)."""
    now = now or datetime.now()
    low = min_taken or EARLIEST_TAKEN
    high = max_taken or _format((now + timedelta(days=1)).replace(microsecond=0))
    return Slice(low, high, dated=bool(min_taken or max_taken))


def query_key(query: dict) -> str:
    """A short stable hash of the query's fields (never of the API key)."""
    text = json.dumps(query, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class PlanStore:
    """`<workspace>/journal/flickr-<query key>.json` (the plan) and `.records.jsonl` (photos)."""

    def __init__(self, ws: Workspace, key: str):
        self.plan_path = ws.journal_dir / f"flickr-{key}.json"
        self.records_path = ws.journal_dir / f"flickr-{key}.records.jsonl"

    def load(self) -> Plan | None:
        if not self.plan_path.exists():
            return None
        try:
            plan = Plan.from_json(self.plan_path.read_bytes())
        except (ValueError, TypeError, KeyError):
            return None  # an unreadable or older cursor: start the listing afresh
        return plan if plan.version == PLAN_VERSION else None

    def save(self, plan: Plan) -> None:
        atomic_write_bytes(self.plan_path, plan.to_json())

    def reset(self) -> None:
        self.plan_path.unlink(missing_ok=True)
        self.records_path.unlink(missing_ok=True)

    def append(self, records: list[dict]) -> None:
        """Append photos as JSON lines, durably (called before the plan that counts them is saved)."""
        if records:
            append_json_lines(self.records_path, records)

    def records(self) -> list[dict]:
        """Photos listed so far, first occurrence of each id, in listing order; torn lines ignored."""
        seen: dict[str, dict] = {}
        for record in read_json_lines(self.records_path):
            if record.get("source_id"):
                seen.setdefault(str(record["source_id"]), record)
        return list(seen.values())


def _parse(text: str) -> datetime:
    return datetime.strptime(text, DATE_FORMAT)


def _format(moment: datetime) -> str:
    return moment.strftime(DATE_FORMAT)
