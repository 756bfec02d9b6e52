"""The ingest engine shared by every source.

A source hands over canonical records (see curate.records) and a `fetch(record) ->
bytes` callable. The engine turns records into rows, fetches and validates each image
once (thread pool; or shards on Ray tasks under `--engine ray`, see curate.engines), stores it
content-addressed, and writes the catalog atomically.

Resuming: every finished photo is appended to `<workspace>/journal/ingest-<source>.jsonl`
(one JSON line, flushed) before anything else happens, and the catalog is checkpointed
every few seconds. A killed run leaves the previous catalog intact; the next run reads
the journal and fetches only what is missing, so no finished image is fetched twice.

Re-ingesting: a photo already in the catalog is never fetched again, but its metadata
columns (METADATA_COLUMNS: owner, title, tags, label, position, time, licence, URLs)
are updated in place when this run's records say otherwise (a corrected --map, an edited
metadata file). Its image, status and every later stage's columns stay as they are; the
stages that read the changed columns see a changed catalog and must run again. A photo
that ingest dropped before it had an image (bad_url, http_404...) and whose metadata
changed is tried again. A photo whose stored image file has gone from a local store (deleted,
or removed because `curate export` found it damaged) is fetched again to put the image back;
its catalog row is not touched (an object store is not listed for this: one request a photo).
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from curate import engines, objectstore, schema
from curate.errors import UsageError
from curate.ingest.mapping import ColumnUsage
from curate.progress import progress_bar, working
from curate.recipes import Recipe
from curate.records import records_to_rows
from curate.stage_reports import counts_text
from curate.store import BadImage, put_image
from curate.vision import features
from curate.workspace import Workspace, changes_workspace, read_catalog, write_catalog

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



def fetch_one(ws: Workspace, fetch: Fetch, record: dict) -> dict:
    """Fetch, validate and store one photo. Never raises: failures are outcomes."""
    outcome = dict.fromkeys(OUTCOME_FIELDS)
    outcome[schema.PHOTO_ID] = record[schema.PHOTO_ID]
    try:
        stored = put_image(ws, fetch(record), analyse=features.image_features, work_side=features.WORK_SIDE)
    except (FetchError, BadImage) as exc:
        outcome.update(drop_reason=exc.reason, error_detail=exc.detail or None)
        return outcome
    except OSError as exc:
        if exc.errno in OUT_OF_SPACE:  # the run's problem, not this photo's: stop, journal nothing
            raise
        detail = objectstore.mask_secrets(f"{type(exc).__name__}: {exc}")  # a store's error may quote a signed URL
        outcome.update(drop_reason="ingest_error", error_detail=detail[:300])
        return outcome
    except Exception as exc:  # a bug in one photo must not sink the run
        detail = objectstore.mask_secrets(f"{type(exc).__name__}: {exc}")  # a store's error may quote a signed URL
        outcome.update(drop_reason="ingest_error", error_detail=detail[:300])
        return outcome
    outcome.update(sha256=stored.sha256, image_path=stored.image_path, width=stored.info.width,
                   height=stored.info.height, image_format=stored.info.image_format, **(stored.features or {}))
    return outcome


def cache_thumbnails(ws: Workspace, outcomes: dict[str, dict]) -> int:
    """Put the thumbnails the outcomes carry into the filter's thumbnail cache (new ones only)."""
    thumbs = {o["sha256"]: features.thumbnail_bytes(o) for o in outcomes.values()
              if o.get("sha256") and o.get(features.THUMBNAIL_KEY)}
    return features.add_to_thumbnail_cache(ws.root, thumbs) if thumbs else 0


# -- append-only JSON lines: the ingest journal and the Flickr and Commons listing logs ---------

def json_line(value: dict) -> str:
    return json.dumps(value, default=str) + "\n"


def open_json_lines(path: Path) -> TextIO:
    """`path` opened to append JSON lines (made with its folder if missing). A torn last
    line left by a killed run gets its newline first, so it cannot glue onto our first line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a", encoding="utf-8")
    if path.stat().st_size:
        with path.open("rb") as tail:
            tail.seek(-1, os.SEEK_END)
            if tail.read(1) != b"\n":
                handle.write("\n")
    return handle


def append_json_lines(path: Path, values: list[dict]) -> int:
    """Append one JSON line per value, durably (fsync); returns the file's size afterwards."""
    with open_json_lines(path) as handle:
        handle.write("".join(json_line(value) for value in values))
        handle.flush()
        os.fsync(handle.fileno())
        return handle.tell()


def read_json_lines(path: Path) -> list[dict]:
    """The JSON objects of `path`, one a line, in order; a line that is not one (the torn
    last line of a killed run) is skipped, and a missing file has none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    values = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            values.append(value)
    return values


class Journal:
    """Append-only JSON lines of finished outcomes; a torn last line is ignored."""

    def __init__(self, ws: Workspace, source: str):
        self.path: Path = ws.journal_dir / f"ingest-{source}.jsonl"

    def load(self) -> dict[str, dict]:
        """Outcomes by photo id (the last line of a photo wins)."""
        return {outcome[schema.PHOTO_ID]: outcome for outcome in read_json_lines(self.path)
                if schema.PHOTO_ID in outcome}

    def open(self) -> TextIO:
        return open_json_lines(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def merge_outcomes(catalog: pd.DataFrame, rows: pd.DataFrame, outcomes: dict[str, dict],
                   replace_ids: set[str]) -> pd.DataFrame:
    """Existing catalog rows stay as they are (later stages may have flagged them);
    rows of this run are appended, or replace the existing ones in `replace_ids`."""
    finished = rows[rows[schema.PHOTO_ID].isin(list(outcomes)) | (rows["status"] == schema.DROPPED)]
    finished = _apply_outcomes(finished, outcomes)
    keep_existing = catalog[~catalog[schema.PHOTO_ID].isin(replace_ids & set(finished[schema.PHOTO_ID]))]
    fresh = finished[~finished[schema.PHOTO_ID].isin(keep_existing[schema.PHOTO_ID])]
    if keep_existing.empty:
        return fresh.reset_index(drop=True)
    # a list column later stages added to the existing rows (quality_issues) is [] on fresh rows,
    # as schema.conform gives a catalog without it: a resumed ingest ends as an uninterrupted one
    for name in keep_existing.columns.difference(fresh.columns):
        if name in schema.COLUMN_BY_NAME and pa.types.is_list(schema.COLUMN_BY_NAME[name].type):
            fresh = fresh.assign(**{name: pd.Series([[] for _ in range(len(fresh))], index=fresh.index,
                                                    dtype=object)})
    merged = pd.concat([keep_existing, fresh], ignore_index=True)
    # a retried row goes back where it was, so a re-run never reorders the catalog
    old_position = merged[schema.PHOTO_ID].map(pd.Series(range(len(catalog)), index=catalog[schema.PHOTO_ID]))
    order = old_position.fillna(len(catalog) + pd.Series(range(len(merged)), dtype="float64"))
    return merged.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def _apply_outcomes(rows: pd.DataFrame, outcomes: dict[str, dict]) -> pd.DataFrame:
    rows = rows.copy()
    if not outcomes:
        return rows
    table = pd.DataFrame.from_records(list(outcomes.values()), columns=[schema.PHOTO_ID, *OUTCOME_FIELDS])
    table = table.set_index(schema.PHOTO_ID).reindex(rows[schema.PHOTO_ID])
    for name in (*IMAGE_FIELDS, "error_detail", *features.feature_columns()):
        fill = table[name].to_numpy()
        rows[name] = rows[name].where(pd.isna(fill), fill) if name in rows.columns else fill
    failed = table["drop_reason"].notna().to_numpy() & (rows["status"] == schema.KEPT).to_numpy()
    rows.loc[failed, "status"] = schema.DROPPED
    rows.loc[failed, "drop_reason"] = table["drop_reason"].to_numpy()[failed]
    rows.loc[failed, "drop_stage"] = "ingest"
    return rows


def changed_metadata(catalog: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Which metadata cells of photos already in `catalog` this run's `rows` would change.

    Returns a boolean frame indexed by the photo ids found in both, one column per
    METADATA_COLUMNS entry the rows carry (True: the values differ). Nulls equal nulls;
    lists (tags) compare element by element, in order.
    """
    names = [name for name in METADATA_COLUMNS if name in rows.columns and name in catalog.columns]
    ids = pd.Index(catalog[schema.PHOTO_ID]).intersection(pd.Index(rows[schema.PHOTO_ID]))
    old = catalog.assign(label=ingested_labels(catalog)).set_index(schema.PHOTO_ID).loc[ids, names]
    new = rows.set_index(schema.PHOTO_ID).loc[ids, names]
    changed = {name: ~_same_values(old[name], new[name], schema.COLUMN_BY_NAME[name].type) for name in names}
    return pd.DataFrame(changed, index=ids, columns=names, dtype=bool)


def _same_values(old: pd.Series, new: pd.Series, arrow_type: pa.DataType) -> np.ndarray:
    """Element-wise equality through the column's Arrow type (so 1 == 1.0, NaN/None/NaT are null)."""
    if pa.types.is_list(arrow_type):
        def as_tuples(values: pd.Series) -> list[tuple]:
            return [tuple(v) if isinstance(v, (list, tuple, np.ndarray)) else () for v in values]
        return np.array([a == b for a, b in zip(as_tuples(old), as_tuples(new))], dtype=bool)
    left = pa.array(old, type=arrow_type, from_pandas=True)
    right = pa.array(new, type=arrow_type, from_pandas=True)
    equal = pc.fill_null(pc.equal(left, right), False)
    return pc.or_(equal, pc.and_(left.is_null(), right.is_null())).to_numpy(zero_copy_only=False)


def ingested_labels(catalog: pd.DataFrame) -> pd.Series:
    """Each photo's label as its source gave it: before the prefilter's relabel (`original_label`) and
    before a reviewer's (`label_before_review`, while the label is still the reviewer's). A re-ingest
    compares the source with this, so that a relabel is not mistaken for a change of the source."""
    label = catalog["label"]
    if "review_label" in catalog.columns and "label_before_review" in catalog.columns:
        reviewed = catalog["review_label"].notna() & (label == catalog["review_label"])
        label = label.where(~reviewed, catalog["label_before_review"])
    if "original_label" in catalog.columns:
        label = label.where(catalog["original_label"].isna(), catalog["original_label"])
    return label


def update_metadata(catalog: pd.DataFrame, rows: pd.DataFrame, changed: pd.DataFrame) -> pd.DataFrame:
    """`catalog` with the metadata columns of the photos in `changed` (from changed_metadata,
    changed rows only) taken from `rows`. Every other row and column stays as it was.

    A source label that changed replaces the label, and the prefilter's relabel of it is void
    (`original_label` cleared: the prefilter judges the new label when it runs again); under a
    reviewer's relabel it replaces only `label_before_review`: the human decision still wins."""
    if changed.empty:
        return catalog
    catalog = catalog.copy()
    hit = catalog[schema.PHOTO_ID].isin(changed.index).to_numpy()
    new = rows.set_index(schema.PHOTO_ID).reindex(catalog[schema.PHOTO_ID]).set_axis(catalog.index)
    for name in changed.columns:
        if name != "label":
            catalog[name] = catalog[name].where(~hit, new[name])
            continue
        relabel = hit & changed["label"].reindex(catalog[schema.PHOTO_ID]).fillna(False).to_numpy(bool)
        reviewed = np.zeros(len(catalog), bool)
        if "review_label" in catalog.columns and "label_before_review" in catalog.columns:
            reviewed = (catalog["review_label"].notna() & (catalog["label"] == catalog["review_label"])).to_numpy()
            catalog["label_before_review"] = catalog["label_before_review"].where(~(relabel & reviewed), new["label"])
        if "original_label" in catalog.columns:
            catalog["original_label"] = catalog["original_label"].where(~relabel, None)
        catalog["label"] = catalog["label"].where(~(relabel & ~reviewed), new["label"])
    return catalog


def plan_rerun(catalog: pd.DataFrame, rows: pd.DataFrame, job: IngestJob,
               report: IngestReport) -> tuple[pd.DataFrame, set[str], set[str], set[str]]:
    """Split the catalog's photos into done and to-be-fetched-again, and update the metadata
    of the done ones that this run's `rows` describe differently (counted on `report`).

    Fetched again, the row replaced: ingest drops whose reason is in `job.retry_reasons` or is LOCAL_ERROR,
    and ingest drops without an image whose metadata changed (a corrected URL or path). Fetched, the image
    filled into the row as it is (`fill_images`): when this run fetches images, photos a metadata-only run
    listed (no image, not an ingest drop: audit AM, `--no-download-images` then a run with downloads fetched
    nothing and left them kept without an image), whose rows may carry a reviewer's or a stage's decisions
    since (audit AO: replaced, a reviewer's drop and relabel were lost). Returns (catalog with updated
    metadata, done photo ids, photo ids to replace, photo ids to fill).
    """
    changed = changed_metadata(catalog, rows)
    changed = changed[changed.any(axis=1)]
    at_ingest = (catalog["drop_stage"] == "ingest").to_numpy()
    retry = at_ingest & (catalog["drop_reason"].isin(job.retry_reasons | {LOCAL_ERROR}).to_numpy()
                         | (catalog["sha256"].isna() & catalog[schema.PHOTO_ID].isin(changed.index)).to_numpy())
    fill = np.zeros(len(catalog), bool)
    if job.fetch is not None and not catalog.empty:
        fill = ~at_ingest & (catalog["sha256"].isna() & catalog["image_path"].isna()).to_numpy()
    replace_ids = set(catalog.loc[retry, schema.PHOTO_ID])
    in_place = changed[~changed.index.isin(list(replace_ids))]
    report.metadata_updated = len(in_place)
    report.changed_columns = {name: int(count) for name, count in in_place.sum().items() if count}
    return (update_metadata(catalog, rows, in_place), set(catalog.loc[~retry & ~fill, schema.PHOTO_ID]),
            replace_ids, set(catalog.loc[fill, schema.PHOTO_ID]))


def fill_images(catalog: pd.DataFrame, outcomes: dict[str, dict], fill_ids: set[str]) -> pd.DataFrame:
    """`catalog` with the fetched images of `fill_ids` (`plan_rerun`) written into their rows, everything else
    in them as it was (a reviewer's drop or relabel, a stage's columns); a failed fetch of a kept photo drops
    it at ingest, as on a first run."""
    rows = catalog[schema.PHOTO_ID].isin(list(fill_ids & set(outcomes))).to_numpy()
    if not rows.any():
        return catalog
    out = catalog.copy()
    filled = _apply_outcomes(out.loc[rows], outcomes)
    for name in (*IMAGE_FIELDS, "error_detail", *features.feature_columns(), "status", "drop_reason", "drop_stage"):
        if name in filled.columns:
            out[name] = out[name].astype(object) if name in out.columns else None
            out.loc[rows, name] = filled[name].to_numpy(dtype=object)
    return out


@changes_workspace
def gone_from_store(ws: Workspace, catalog: pd.DataFrame, rows: pd.DataFrame, done_ids: set[str]) -> dict[str, str]:
    """{photo_id: sha256} of the photos of this run already in the catalog with a stored image
    whose file is not in the workspace's local store (empty for an object store)."""
    if catalog.empty or objectstore.remote(ws):
        return {}
    ours = catalog[catalog[schema.PHOTO_ID].isin(rows[schema.PHOTO_ID]) & catalog["image_path"].notna()
                   & catalog[schema.PHOTO_ID].isin(list(done_ids))]
    where = objectstore.locator(ws)
    gone = [not os.path.exists(where(path)) for path in ours["image_path"]]
    return dict(zip(ours.loc[gone, schema.PHOTO_ID], ours.loc[gone, "sha256"]))


def note_restored(report: IngestReport, restore: dict[str, str], outcomes: dict[str, dict]) -> None:
    """Count the stored images put back (`restore`: gone_from_store's answer); warn about those whose
    source now gives other bytes (their stored image stays missing: the catalog describes the old one)."""
    if not restore:
        return
    same = [pid for pid, sha in restore.items() if outcomes.get(pid, {}).get("sha256") == sha]
    report.restored = len(same)
    other = len(restore) - len(same)
    if other:
        report.warnings.append(
            f"{other:,} photo{'s' * (other != 1)} whose stored image had gone could not be put back: the source "
            "no longer gives the same bytes (or failed); remove them with `curate review` or ingest them anew "
            "into a new workspace")


def run_ingest(ws: Workspace, job: IngestJob) -> IngestReport:
    """Run one ingest job to completion (or resume it). See the module docstring.

    A full disk (ENOSPC, EDQUOT) stops the run with a UsageError; what finished before is
    in the journal, and the next run resumes from it.
    """
    try:
        return _run_ingest(ws, job)
    except OSError as exc:
        if exc.errno not in OUT_OF_SPACE:
            raise
        raise UsageError(f"no space left to write the workspace {ws.root} ({exc.strerror or exc}); free some space "
                         "and run the same command again: it resumes where this one stopped") from None


def _run_ingest(ws: Workspace, job: IngestJob) -> IngestReport:
    ws.ensure()
    if job.fetch is not None:
        objectstore.check_writable(ws)  # an object store without bucket or credentials: one line, not N failures
    for stale in ws.images_dir.glob("*/.*.tmp"):  # a write a killed run left half done (we hold the lock)
        stale.unlink(missing_ok=True)
    with working(f"preparing {len(job.records):,} {job.source} rows"):
        rows = records_to_rows(job.records, job.source, job.recipe, id_prefix=job.id_prefix,
                               keep_url_secrets=job.keep_url_secrets)
    for name in IMAGE_FIELDS:
        rows[name] = None
    report = IngestReport(job.source, records=len(rows))
    catalog, done_ids, replace_ids, fill_ids = plan_rerun(read_catalog(ws, required=False), rows, job, report)
    restore = gone_from_store(ws, catalog, rows, done_ids) if job.fetch is not None else {}
    done_ids -= set(restore)
    journal = Journal(ws, job.journal_name)
    journaled = journal.load()
    outcomes = {pid: o for pid, o in journaled.items()
                if pid not in done_ids and o.get("drop_reason") != LOCAL_ERROR}  # a local failure: try again
    report.resumed_from_journal = len(outcomes)
    todo = rows[~rows[schema.PHOTO_ID].isin(done_ids) & ~rows[schema.PHOTO_ID].isin(list(outcomes))
                & (rows["status"] == schema.KEPT)]
    report.already_done = int(rows[schema.PHOTO_ID].isin(done_ids).sum())

    def merged_now() -> pd.DataFrame:  # the catalog with this run's outcomes so far (a restored photo's row stays)
        return fill_images(merge_outcomes(catalog, rows, outcomes, replace_ids), outcomes, fill_ids)

    if job.fetch is None:
        outcomes.update({pid: {schema.PHOTO_ID: pid} for pid in todo[schema.PHOTO_ID]})
    else:
        records = job.records.reset_index(drop=True).assign(photo_id=rows[schema.PHOTO_ID])
        pending = records.loc[todo.index].to_dict("records")

        def checkpoint():
            write_catalog(ws, merged_now())

        engine = engines.active()
        if engine.engine == "local":
            report.fetched = _fetch_all(ws, job, pending, journal, outcomes, checkpoint)
        else:
            report.fetched = _fetch_sharded(ws, job, pending, journal, outcomes, checkpoint, engine)
    merged = merged_now()
    note_restored(report, restore, outcomes)
    # before the journal that holds them goes (a killed run's checkpoint may hold its photos already)
    cache_thumbnails(ws, {**journaled, **outcomes})
    write_catalog(ws, merged)
    journal.clear()
    this_run = merged[merged[schema.PHOTO_ID].isin(rows[schema.PHOTO_ID])]
    report.stored = int(this_run["sha256"].notna().sum())
    report.distinct = int(this_run["sha256"].nunique())
    # ingest's own drops: a later stage's (the filter's quality:dark) read as if ingest had dropped them on a
    # re-ingest (an audit's `203 rows: 203 images stored, 3 dropped (3 quality:dark)`)
    at_ingest = this_run[this_run["drop_stage"].isna() | (this_run["drop_stage"] == "ingest")]
    report.dropped_by_reason = at_ingest["drop_reason"].value_counts().to_dict()
    return report


def _fetch_all(ws: Workspace, job: IngestJob, pending: list[dict], journal: Journal,
               outcomes: dict[str, dict], checkpoint: Callable[[], None]) -> int:
    """Fetch `pending` with a bounded thread pool, journaling each outcome.

    A fetch puts its outcome on `finished` in its own thread, before its future counts as done,
    and an outcome leaves `finished` only once it is written. So a Ctrl-C anywhere (between a
    `submit` and the bookkeeping of its future, or while a batch is journaled) keeps every
    finished fetch in the journal, and the next run does not fetch it again. On Ctrl-C the
    fetches not started are cancelled, the running ones finish and are journaled (`_drain`)."""
    last_checkpoint = time.monotonic()
    interval = job.checkpoint_seconds
    window = max(1, job.workers) * 4  # bounded in-flight work keeps memory flat on 1M rows
    queue = iter(pending)
    finished: deque[dict] = deque()  # appended by the fetching threads (deque appends are atomic)
    in_flight: set[Future] = set()

    def fetch_and_keep(record: dict) -> None:
        finished.append(fetch_one(ws, job.fetch, record))

    with journal.open() as log, progress_bar(f"ingest {job.source}", len(pending)) as advance, \
            ThreadPoolExecutor(max_workers=max(1, job.workers)) as pool:
        try:
            while True:
                while len(in_flight) < window:
                    record = next(queue, None)
                    if record is None:
                        break
                    in_flight.add(pool.submit(fetch_and_keep, record))
                if not in_flight:
                    break
                done = wait(in_flight, return_when=FIRST_COMPLETED).done
                in_flight -= done
                _journal_finished(finished, log, outcomes, advance)
                for future in done:
                    if future.exception() is not None:  # a bad photo is a row, not this: an interrupt
                        raise future.exception()
                if time.monotonic() - last_checkpoint > interval:
                    started = time.monotonic()
                    checkpoint()
                    last_checkpoint = time.monotonic()
                    # a checkpoint rewrites the whole catalog: keep it under ~10% of the run time
                    interval = max(job.checkpoint_seconds, 10 * (last_checkpoint - started))
        except BaseException:
            _drain(pool, finished, log, outcomes)
            raise
    return len(pending)


def _journal_finished(finished: deque[dict], log: TextIO, outcomes: dict[str, dict],
                      advance: Callable[[], None] | None = None) -> None:
    """Write the outcomes on `finished` to the journal; each leaves the queue only once written (a
    Ctrl-C between the two journals it twice, and the journal's last line for a photo wins)."""
    while finished:
        outcome = finished[0]
        log.write(json_line(outcome))
        outcomes[outcome[schema.PHOTO_ID]] = outcome
        finished.popleft()
        if advance is not None:
            advance()
    log.flush()


def _drain(pool: ThreadPoolExecutor, finished: deque[dict], log: TextIO, outcomes: dict[str, dict]) -> None:
    """On Ctrl-C: cancel the queued fetches and journal the running ones once they finish.

    Without this the pool's shutdown still runs every queued fetch (up to 4 x workers
    downloads after the interrupt) and none reaches the journal, so the next run would
    download them again."""
    pool.shutdown(wait=True, cancel_futures=True)
    _journal_finished(finished, log, outcomes)


def fetch_shard(ws: Workspace, fetch: Fetch, threads: int, store: str | None, records: list[dict]) -> list[dict]:
    """`fetch_one` over one shard of records (on a Ray worker), `threads` at a time; outcomes in order.
    `store`: the workspace's image store as the driver read it (curate.objectstore.pin)."""
    objectstore.pin(ws, store)
    if threads <= 1 or len(records) <= 1:
        return [fetch_one(ws, fetch, record) for record in records]
    with ThreadPoolExecutor(max_workers=min(threads, len(records))) as pool:
        return list(pool.map(lambda record: fetch_one(ws, fetch, record), records))


def _fetch_sharded(ws: Workspace, job: IngestJob, pending: list[dict], journal: Journal,
                   outcomes: dict[str, dict], checkpoint: Callable[[], None], engine: engines.EngineConfig) -> int:
    """Fetch `pending` in shards on the Ray engine, journaling each shard's outcomes as it finishes.

    Each task runs `fetch_shard` with `job.workers` threads; the journal gets a finished
    shard's outcomes before the next result is read, so a killed run resumes from the
    finished shards. A shard that fails is retried by Ray (engine.max_retries).
    """
    from curate.engines import ray as ray_engine

    parts = engines.shards(pending, ray_engine.shard_size(engine, len(pending)))
    last_checkpoint = time.monotonic()
    interval = job.checkpoint_seconds
    with journal.open() as log, progress_bar(f"ingest {job.source} on Ray", len(pending)) as advance:
        shared = (ws, job.fetch, max(1, job.workers), objectstore.store_uri(ws))  # the store: see fetch_shard
        results = ray_engine.map_shards(engine, fetch_shard, parts, shared=shared)
        try:
            for _, shard_outcomes in results:
                log.write("".join(json_line(outcome) for outcome in shard_outcomes))
                log.flush()
                for outcome in shard_outcomes:
                    outcomes[outcome[schema.PHOTO_ID]] = outcome
                advance(len(shard_outcomes))
                if time.monotonic() - last_checkpoint > interval:
                    started = time.monotonic()
                    checkpoint()
                    last_checkpoint = time.monotonic()
                    interval = max(job.checkpoint_seconds, 10 * (last_checkpoint - started))
        finally:
            results.close()  # an interrupt: cancel the shards still running
    return len(pending)

