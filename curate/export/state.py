"""The state and the journal of an export folder: what earlier exports into it finished.

`.export-state.parquet` (target path -> content key), written when an export finishes, and
`.export-journal.tsv`, appended while one runs (see curate.export.files); export.json says which
format the folder holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from curate.workspace import write_table_atomic

STATE_FILE = ".export-state.parquet"
JOURNAL_FILE = ".export-journal.tsv"
MANIFEST_FILE = "export.json"
PLAN_FOLDER = ".export-plan-"  # prefix of the temporary folder of the plan's sorted buckets


# A photo's content key (`curate.export.plan.place`) ends in UPRIGHT since 2026-12-06, when an export began to write
# a photo a plain reader misreads as curate's upright pixels (`reencode.upright_copy`); an export made before
# copied every photo's stored bytes under the key without it, so the first export after the upgrade rewrote every
# file (audit DA 9: 98 of 98, 84 of them byte-identical; for an object store, every one uploaded again). Such a file
# whose photo needs no re-encoding is kept, under the key with AS_STORED: the stored bytes, which both the key
# without UPRIGHT and the key with it name for that photo (`same_content`).
UPRIGHT = ":upright"
AS_STORED = ":stored"


def before_upright(key: str) -> str | None:
    """The key an export before the upright rule gave the photo of `key` (None for a key without UPRIGHT: a shard's).

    >>> before_upright("ab12:jpg:0:copy:upright"), before_upright("9f0e")
    ('ab12:jpg:0:copy', None)
    """
    return key.removesuffix(UPRIGHT) if key.endswith(UPRIGHT) else None


def as_stored(key: str) -> str:
    """The key of a file an export before the upright rule wrote, found to be what this one writes (`AS_STORED`)."""
    return f"{before_upright(key)}{AS_STORED}"


def same_content(recorded: str | None, key: str) -> bool:
    """Whether the file recorded under `recorded` holds what `key` names: the same key, or the stored bytes under
    two of their names (`AS_STORED` beside the key with UPRIGHT, or beside the key before it). Not the key before
    UPRIGHT beside the one with it: that photo may be written re-encoded now.

    >>> same_content("a:jpg:0:copy:stored", "a:jpg:0:copy:upright"), same_content("a:jpg:0:copy", "a:jpg:0:copy:stored")
    (True, True)
    >>> same_content("a:jpg:0:copy", "a:jpg:0:copy:upright"), same_content(None, "a:jpg:0:copy:upright")
    (False, False)
    """
    if recorded is None:
        return False
    if recorded == key:
        return True
    stored = key.removesuffix(AS_STORED) if key.endswith(AS_STORED) else None
    return recorded == stored or (before_upright(key) is not None and recorded == as_stored(key))


def load_state(out: Path) -> dict[str, str]:
    """{target: content key} of the files earlier exports into `out` finished (journal included)."""
    state: dict[str, str] = {}
    path = out / STATE_FILE
    if path.exists():
        try:
            table = pd.read_parquet(path)
            state.update(zip(table["target"], table["content_key"]))
        except (OSError, KeyError, ValueError, pa.ArrowException):
            pass  # an unreadable state only costs a full rewrite
    state.update(read_journal_file(out / JOURNAL_FILE))
    return state


def read_journal_file(path: Path) -> dict[str, str]:
    """{file: content key} of a journal of finished writes (lines `file<TAB>key`; a torn last line
    is skipped); {} when there is none."""
    done: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            target, _, key = line.partition("\t")
            if key:
                done[target] = key
    return done


def save_state(out: Path, state: dict[str, str]) -> None:
    """Write `.export-state.parquet` (sorted, so that it is byte-identical too) and drop the journal."""
    frame = pd.DataFrame(sorted(state.items()), columns=["target", "content_key"])
    write_table_atomic(out / STATE_FILE, pa.Table.from_pandas(frame, preserve_index=False))
    (out / JOURNAL_FILE).unlink(missing_ok=True)


PENDING = "pending"  # the journal's key for a file being placed: no content key, so never taken as written


class Journal:
    """Appends `target<TAB>key` lines for finished files, each after a `target<TAB>pending` line written
    before the file is placed; every line reaches the OS at once (a SIGKILL loses none). A file a killed
    export placed is thus always known to the next run, which rewrites it (its key is not the plan's) or,
    when the plan changed in between, removes it. Audit AR: the journal flushed every 256 files, a killed
    re-export left up to 255 files no later export knew of, and after a re-split 37 photos sat in both
    train/ and test/ of an export that said "no leakage"."""

    def __init__(self, out: Path):
        self._handle = open(out / JOURNAL_FILE, "a", encoding="utf-8")

    def begin(self, target: str) -> None:
        """Before `target` is placed: the next run must not trust what it finds there."""
        self._handle.write(f"{target}\t{PENDING}\n")
        self._handle.flush()

    def done(self, target: str, key: str) -> None:
        self._handle.write(f"{target}\t{key}\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def previous_format(out: Path) -> str | None:
    """The format of the export `out` holds (its export.json's `format`); None without a readable one.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> previous_format(folder) is None
    True
    >>> _ = (folder / MANIFEST_FILE).write_text('{"format": "webdataset"}')
    >>> previous_format(folder)
    'webdataset'
    """
    try:
        found = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def is_ours(out: Path) -> bool:
    """Whether `out` holds an earlier export (its state, journal or manifest)."""
    return any((out / name).exists() for name in (STATE_FILE, JOURNAL_FILE, MANIFEST_FILE))
