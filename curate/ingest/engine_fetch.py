"""Fetching an ingest job's photos: one photo (`fetch_one`), on the local engine with a bounded thread
pool, or in shards on Ray tasks (`fetch_shard` runs on the workers); each outcome is journaled."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TextIO

from curate import engines, objectstore, schema
from curate.ingest.engine_job import OUT_OF_SPACE, OUTCOME_FIELDS, Fetch, FetchError, IngestJob
from curate.ingest.engine_journal import Journal, json_line
from curate.progress import progress_bar
from curate.store import BadImage, put_image
from curate.vision import features
from curate.workspace import Workspace


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
