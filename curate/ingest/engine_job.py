"""What an ingest run is asked (`IngestJob`) and what it reports (`IngestReport`), what a
photo's outcome holds, and the failures a source raises (`FetchError`)."""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from curate import schema
from curate.ingest.mapping import ColumnUsage
from curate.recipes import Recipe
from curate.stage_reports import counts_text
from curate.vision import features

IMAGE_FIELDS = ("sha256", "image_path", "width", "height", "image_format")
# an outcome also carries the single decode pass's features (hashes, quality statistics) and, under
# features.THUMBNAIL_KEY, the 16x12 thumbnail as base64, which goes to the thumbnail cache, not the catalog
OUTCOME_FIELDS = (*IMAGE_FIELDS, "drop_reason", "error_detail", *features.feature_columns())
# What a source's metadata decides: the columns ingest writes, less the photo's identity and its image.
METADATA_COLUMNS = tuple(c.name for c in schema.COLUMNS if c.stage == "ingest"
                         and c.name not in (schema.PHOTO_ID, "source", "source_id", *OUTCOME_FIELDS))


# A full disk or quota: the whole run stops (one line, exit 2) and is resumed once space is freed.
OUT_OF_SPACE = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
# A local failure (a bug, a write that failed), never the photo's fault: every re-run tries it again.
LOCAL_ERROR = "ingest_error"


class FetchError(Exception):
    """A source could not deliver a photo's bytes; `reason` becomes the drop_reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


Fetch = Callable[[dict], bytes]


@dataclass(frozen=True)
class IngestJob:
    """What one `curate ingest <source>` run asks of the engine."""

    source: str
    records: pd.DataFrame
    fetch: Fetch | None  # None: metadata only, no images
    recipe: Recipe | None = None
    workers: int = 1
    retry_reasons: frozenset[str] = frozenset()  # drop reasons a re-run tries again (and LOCAL_ERROR)
    checkpoint_seconds: float = 5.0
    id_prefix: str | None = None  # photo ids are `<id_prefix>:<source_id>`; default: the source
    keep_url_secrets: bool = False  # store URLs verbatim (else credentials are redacted)

    @property
    def journal_name(self) -> str:
        """The journal of this job's photos (one per id prefix: two folders never share one)."""
        return self.id_prefix or self.source


@dataclass
class IngestReport:
    source: str
    records: int = 0
    already_done: int = 0
    fetched: int = 0
    resumed_from_journal: int = 0
    stored: int = 0
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    metadata_updated: int = 0  # rows already in the catalog whose metadata this run changed
    restored: int = 0  # stored images gone from a local store, fetched again and put back
    distinct: int | None = None  # distinct images (sha256) among the `stored` rows: byte-identical copies share one
    changed_columns: dict[str, int] = field(default_factory=dict)  # metadata column -> rows changed
    columns: ColumnUsage | None = None  # how the source's table was read (sources that read one)
    warnings: list[str] = field(default_factory=list)  # the source looks other than meant (e.g. no labels)
    notes: list[str] = field(default_factory=list)  # how the source was read (e.g. per-photo JSON sidecars)

    def summary(self) -> str:
        """Rows, images stored, drops by reason: the ingest commands' and `curate run`'s line (both print the
        warnings on lines of their own)."""
        dropped = sum(self.dropped_by_reason.values())
        detail = f" ({counts_text(self.dropped_by_reason)})" if dropped else ""
        restored = f", {self.restored:,} missing stored image{'s' * (self.restored != 1)} put back" \
            if self.restored else ""
        fresh = f" ({self.fetched:,} read this run)" if self.already_done else ""  # a re-run: what is new
        # rows, not files: byte-identical copies share one stored file, and `curate embed` counts files (audit BB:
        # "270 images stored" beside embed's "266 stored images")
        shared = (f" ({self.distinct:,} distinct: byte-identical copies share one file)"
                  if self.distinct is not None and self.distinct < self.stored else "")
        return (f"{self.records:,} rows: {self.stored:,} images stored{shared}{fresh}{restored}, {dropped:,} "
                f"dropped{detail}")
