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

The parts: the job, its report and what an outcome holds in curate.ingest.engine_job; fetching (one
photo, the local thread pool, shards on Ray) in curate.ingest.engine_fetch; the journal in
curate.ingest.engine_journal; re-runs and merging outcomes into the catalog in curate.ingest.engine_merge.
"""

from __future__ import annotations

import pandas as pd

from curate import engines, objectstore, schema
from curate.errors import UsageError
from curate.ingest.engine_fetch import _fetch_all, _fetch_sharded
from curate.ingest.engine_job import IMAGE_FIELDS, LOCAL_ERROR, OUT_OF_SPACE, IngestJob, IngestReport
from curate.ingest.engine_journal import Journal
from curate.ingest.engine_merge import fill_images, gone_from_store, merge_outcomes, note_restored, plan_rerun
from curate.ingest.label_coverage import labels_by_tags, unnamed_label_warnings
from curate.progress import working
from curate.records import records_to_rows
from curate.vision import features, pixel_read
from curate.workspace import Workspace, read_catalog, write_catalog


def cache_thumbnails(ws: Workspace, outcomes: dict[str, dict]) -> int:
    """Put the thumbnails the outcomes carry into the filter's thumbnail cache (new ones only)."""
    thumbs = {o["sha256"]: features.thumbnail_bytes(o) for o in outcomes.values()
              if o.get("sha256") and o.get(features.THUMBNAIL_KEY)}
    return features.add_to_thumbnail_cache(ws.root, thumbs) if thumbs else 0


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
    previous = read_catalog(ws, required=False)
    # a workspace with no stored image yet: every image this run stores gets the current border rule
    fresh = previous["image_path"].isna().all() if "image_path" in previous else True
    catalog, done_ids, replace_ids, fill_ids = plan_rerun(previous, rows, job, report)
    restore = gone_from_store(ws, catalog, rows, done_ids) if job.fetch is not None else {}
    done_ids -= set(restore)
    journal = Journal(ws, job.journal_name)
    journaled = journal.load()
    # marked before the first image is stored, so that a run killed mid-way and resumed is marked too (review CE);
    # not while any ingest journal waits: it may be an older curate's, whose values an early mark would hide (CT)
    if fresh and not any(ws.journal_dir.glob("ingest-*.jsonl")):
        features.mark_border_rule(ws.root)
        pixel_read.mark(ws.cache_dir)
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
    if labels_by_tags(job.records, job.recipe):  # a label no photo in the workspace names (audit CG F6)
        report.warnings += unnamed_label_warnings(merged["tags"], merged["tag_labels"], job.recipe)
    return report
