"""`curate export --out s3://bucket/prefix` (any fsspec URL): a finished local export, uploaded.

The export is written by the local writers, unchanged, into a staging folder in the workspace
(`<workspace>/cache/export-staging/<hash of the URL>/`), then `upload_export` copies it to the
URL: each file is one PUT (atomic on S3 and GCS: an object is whole or absent), and a file whose
object is already there with the same size and the same content key is not sent again.

What is at the destination is remembered in two places, as the local writer's state and journal:
- `.export-uploaded.json` at the destination: {file: content key} of what the last finished
  upload left there. Before the first PUT of an upload that adds files, it is rewritten with
  those files too (key unknown, null), so that an interrupted upload never leaves an object no
  record names: a later export may always remove what an earlier one wrote.
- `<staging folder>.upload-journal.tsv` beside the staging folder (outside it, so that the local
  export, `--overwrite` included, never sees it): a line per finished PUT, so that a re-run after
  an interruption sends only what was not sent (without it, a changed file is sent again).
Once every file is up, the objects the record names that the new export does not have are
deleted (as `remove_left` does locally) and the record is rewritten. An object under the prefix
that no export of curate wrote is never touched, `--overwrite` or not.

The staging folder is kept after a successful upload, and costs the export's size on the
workspace's disk: a re-export then rewrites only what changed locally (reading again from the
image store only those images) and uploads only that. Removing it is always safe
(`<workspace>/cache/export-staging/`): the next export writes it again and, as the content keys
are the same, still uploads only what changed.

Nothing here prints: progress goes to the `Progress` callback, failures are CurateErrors with
secrets masked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from curate import objectstore
from curate.errors import UpstreamError, UsageError
from curate.export.config import ExportConfig
from curate.export.files import Progress
from curate.export.state import MANIFEST_FILE, load_state, read_journal_file, same_content
from curate.export.targets import STAGING_FOLDER
from curate.workspace import Workspace

UPLOAD_RECORD = ".export-uploaded.json"  # at the destination: {file: content key} of what is there
UPLOAD_JOURNAL = ".upload-journal.tsv"  # suffix of the file beside the staging folder: `file<TAB>key` per PUT
UPLOAD_THREADS = 8  # PUTs in flight
_SQUASHED = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+")  # s3://b/x, or s3:/b/x once pathlib has squashed the //


@dataclass
class UploadResult:
    """What an upload did: files PUT, files already there, stale objects removed."""

    url: str  # credentials never in it (refused)
    uploaded: int
    unchanged: int
    removed: int
    staging: Path

    def to_dict(self) -> dict:
        return {"url": self.url, "uploaded": self.uploaded, "unchanged": self.unchanged, "removed": self.removed,
                "staging": str(self.staging)}


def destination(out: Path | str) -> str | None:
    """The object-store URL `out` names (checked: UsageError for credentials in it, an unknown
    protocol or a missing driver), or None for a local folder (a path, or `file://`).

    >>> destination("memory://bucket/exports/"), destination("export/wds")
    ('memory://bucket/exports', None)
    """
    text = str(out)
    if not _SQUASHED.match(text):
        return None
    text = _SQUASHED.sub(lambda found: found.group(1) + "://", text)  # a Path made of a URL
    if text.lower().startswith("file://"):
        return None
    return objectstore.check_store_uri(text, what="the export destination")


def check_destination(ws: Workspace, url: str) -> None:
    """UsageError when `url` is the workspace's image store or inside it (as a local export folder
    may not be in the store: curate.export.targets.check_target)."""
    store = objectstore.store_uri(ws)
    if store is not None and objectstore.is_url(store) and (url == store or url.startswith(f"{store}/")):
        raise UsageError(f"--out {url} is inside the image store {objectstore.mask_secrets(store)}; pass a prefix "
                         "outside it (e.g. another bucket, or a sibling prefix such as .../exports)")


def local_folder(out: Path | str) -> Path:
    """`out` as a local folder (`file://` removed)."""
    text = str(out)
    return Path(re.sub(r"(?i)^file:/+", "/", text)) if text.lower().startswith("file:") else Path(text)


def staging_folder(ws: Workspace, url: str) -> Path:
    """Where the export to `url` is written before it is uploaded: one folder per destination."""
    digest = hashlib.sha256(objectstore.mask_secrets(url).encode("utf-8")).hexdigest()[:16]
    return ws.cache_dir / STAGING_FOLDER / digest


def for_object_store(config: ExportConfig, url: str) -> tuple[ExportConfig, list[str]]:
    """(the config to export to `url` with, notes): an object holds bytes, so `link` hardlink or
    symlink becomes copy (as for images read from an object store: curate.export.source)."""
    from dataclasses import replace

    if config.link == "copy":
        return config, []
    note = f"--link {config.link} was asked, but the export goes to an object store ({url}), so the images were copied"
    return replace(config, link="copy"), [note]


def upload_export(staging: Path, url: str, progress: Progress | None = None) -> UploadResult:
    """Upload the finished export in `staging` to `url`: the files that are not there yet (or not
    with the same size and content key), export.json last; then remove the objects an earlier
    export to `url` wrote that this one does not have. Resumes an interrupted upload. Raises
    UpstreamError (secrets masked) when the store refuses a read, a PUT or a delete."""
    fs = objectstore.filesystem(url)
    files = staged_files(staging)
    record = _remote(lambda: read_record(fs, url), "read", url)
    sent = read_journal(staging)
    there = _remote(lambda: remote_sizes(fs, url), "list", url)
    known = {**record, **sent}
    # (a file the local writer kept from an export made before the upright rule is the object sent then:
    # `same_content`; audit DA 9, the first export after the upgrade sent every file again)
    todo = [target for target, (key, size) in files.items()
            if there.get(target) != size or not same_content(known.get(target), key)]
    added = {target: None for target in files if target not in record}
    if added:  # before any PUT: every object this upload may leave is named by the record
        record = {**record, **added}
        _remote(lambda: write_record(fs, url, record), "write", url)
    last = [target for target in todo if target == MANIFEST_FILE]  # (the local writer writes it last too)
    with open(journal_path(staging), "a", encoding="utf-8") as journal:
        done = _put_all(fs, staging, url, [t for t in todo if t != MANIFEST_FILE], files, journal, progress, 0,
                        len(todo))
        _put_all(fs, staging, url, last, files, journal, progress, done, len(todo))
    stale = sorted(target for target in record if target not in files and target in there)
    if stale:
        _remote(lambda: fs.rm([f"{url}/{target}" for target in stale]), "delete from", url)
    final = {target: key for target, (key, _) in sorted(files.items())}
    if final != record:
        _remote(lambda: write_record(fs, url, final), "write", url)
    journal_path(staging).unlink(missing_ok=True)
    return UploadResult(url, len(todo), len(files) - len(todo), len(stale), staging)


def staged_files(staging: Path) -> dict[str, tuple[str, int]]:
    """{file: (content key, size in bytes)} of the finished export in `staging` (its state file
    names every file it wrote, the side files included)."""
    return {target: (key, os.stat(staging / target).st_size) for target, key in sorted(load_state(staging).items())}


def read_record(fs, url: str) -> dict[str, str | None]:
    """The destination's record of what earlier exports left there ({} when there is none or it
    cannot be parsed: then nothing is known to be stale, and every file is sent again)."""
    try:
        record = json.loads(fs.cat_file(f"{url}/{UPLOAD_RECORD}"))
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}
    files = record.get("files") if isinstance(record, dict) else None
    return {str(k): (v if isinstance(v, str) else None) for k, v in files.items()} if isinstance(files, dict) else {}


def write_record(fs, url: str, files: dict[str, str | None]) -> None:
    data = json.dumps({"files": dict(sorted(files.items()))}, indent=0).encode("utf-8")
    fs.pipe_file(f"{url}/{UPLOAD_RECORD}", data)


def journal_path(staging: Path) -> Path:
    """The upload journal of `staging`: beside it, not in it."""
    return staging.with_name(staging.name + UPLOAD_JOURNAL)


def read_journal(staging: Path) -> dict[str, str]:
    """{file: content key} of the PUTs an interrupted upload from `staging` finished."""
    return read_journal_file(journal_path(staging))


def remote_sizes(fs, url: str) -> dict[str, int]:
    """{file under `url`: size} of every object there (a LIST per 1,000 objects, no HEAD each)."""
    fs.invalidate_cache(url)  # s3fs keeps listings: another process may have changed the prefix
    root = fs._strip_protocol(url).rstrip("/") + "/"
    return {name[len(root):]: int(info.get("size") or 0) for name, info in fs.find(url, detail=True).items()
            if name.startswith(root)}


def _put_all(fs, staging: Path, url: str, targets: list[str], files: dict[str, tuple[str, int]], journal,
             progress: Progress | None, done: int, total: int) -> int:
    """PUT `targets`, at most UPLOAD_THREADS at a time; each finished one goes to the journal at
    once, so that a failure (raised after the PUTs in flight end) loses none of them."""
    failure: BaseException | None = None
    pending: set[Future] = set()
    queue = iter(targets)
    with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="export-upload") as pool:
        while True:
            while failure is None and len(pending) < 2 * UPLOAD_THREADS:
                target = next(queue, None)
                if target is None:
                    break
                future = pool.submit(fs.put_file, str(staging / target), f"{url}/{target}")
                future.target = target  # type: ignore[attr-defined]
                pending.add(future)
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                error = future.exception()
                if error is not None:
                    failure = failure or error
                    continue
                journal.write(f"{future.target}\t{files[future.target][0]}\n")  # type: ignore[attr-defined]
                journal.flush()
                done += 1
                if progress:
                    progress("upload", done, total)
    if failure is not None:
        raise _upstream("write", url, failure) from None
    return done


def _remote(call, verb: str, url: str):
    try:
        return call()
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - botocore / google-auth / aiohttp errors are not OSErrors
        raise _upstream(verb, url, exc) from None


def _upstream(verb: str, url: str, exc: BaseException) -> UpstreamError:
    detail = objectstore.mask_secrets(" ".join(str(exc).split()))[:200] or type(exc).__name__
    return UpstreamError(f"cannot {verb} the export destination {objectstore.mask_secrets(url)} "
                         f"({type(exc).__name__}: {detail}); run `curate export` again to resume (the files "
                         "already sent are not sent again)")
