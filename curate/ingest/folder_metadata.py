"""The metadata file of a folder of photos: a CSV/TSV, JSON list or JSON-lines table, one row per photo.

Found at the top of the folder (`SIDECAR_NAMES`) when `--metadata` is not given; read as a regular file of
bounded size only (a pipe, a device or an oversized file is a UsageError), every CSV cell as text.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pandas as pd

from curate.errors import UsageError
from curate.ingest.mapping import (
    CSV_HINT,
    DEFAULT_ALIASES,
    csv_separator,
    header_key,
    separator_line,
    table_text,
    without_unnamed_blank_columns,
)
from curate.ingest.photo_sidecars import MAX_SIDECAR_BYTES

SIDECAR_NAMES = ("metadata.csv", "metadata.jsonl", "metadata.json")
MAX_METADATA_BYTES = 1024 * 1024 * 1024  # a sidecar of ~5M photos; /dev/zero would never end


def find_sidecar(root: Path) -> Path | None:
    """metadata.csv / .jsonl / .json at the top of the folder, used when --metadata is not given."""
    return next((root / name for name in SIDECAR_NAMES if (root / name).is_file()), None)


def is_album_description(path: Path) -> bool:
    """Whether a metadata.json found at the top of a folder is one JSON object that names no photo file, as
    each album folder of a Google Takeout holds (its title, description, date): not a table of photos.

    A JSON list, JSON lines, a CSV, or an object with a file column are tables (read_metadata's to judge)."""
    if path.suffix.lower() != ".json":
        return False
    try:
        data = json.loads(read_regular_file(path, MAX_SIDECAR_BYTES).decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):  # read_metadata says what is wrong with it
        return False
    return isinstance(data, dict) and not {header_key(key) for key in data} & set(DEFAULT_ALIASES["file"])


def read_metadata(path: Path) -> pd.DataFrame:
    """A CSV/TSV, JSON list-of-objects or JSON-lines sidecar as a table of strings/values."""
    if not path.exists():
        raise UsageError(f"metadata file {path} does not exist; check --metadata")
    if path.is_dir():
        raise UsageError(f"metadata file {path} is a folder; pass a CSV or JSON file")
    try:
        data = read_regular_file(path, MAX_METADATA_BYTES)
    except OSError as exc:
        raise UsageError(f"metadata file {path} is unreadable ({exc.strerror or exc})") from exc
    text = table_text(data, path)  # UTF-8, or UTF-16 with its byte-order mark; else how to convert it
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson") or (suffix not in (".csv", ".tsv") and text.lstrip()[:1] in "[{"):
        return parse_json_metadata(text, path)
    text, separator = separator_line(text)  # Excel's `sep=;` first line names the delimiter
    return parse_csv_metadata(text, path, sep=separator or csv_separator(text.split("\n", 1)[0], suffix))


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of `path`, which must be a regular file of at most `max_bytes`.

    Opened without blocking (a named pipe would wait forever for a writer), then checked
    on the open file: a pipe, a device such as /dev/zero or an oversized file is a UsageError.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"metadata file {path} is not a regular file (a pipe or a device); "
                             "pass a CSV or JSON file")
        if info.st_size > max_bytes:
            raise UsageError(f"metadata file {path} is {info.st_size:,} bytes, over the {max_bytes:,} byte limit; "
                             "split it or pass a smaller file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while we read it
        raise UsageError(f"metadata file {path} is over the {max_bytes:,} byte limit; pass a smaller file")
    return data


def parse_csv_metadata(text: str, path: Path, sep: str = ",") -> pd.DataFrame:
    """Every cell as text: ids keep their digits, and 'NaN' stays visible as a bad value."""
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        detail = detail.replace("Error tokenizing data. C error: ", "")  # pandas' parser, not the user's words
        raise UsageError(f"metadata file {path} is not valid CSV ({detail}); save it as CSV with {CSV_HINT}") from exc
    return without_unnamed_blank_columns(table)


def parse_json_metadata(text: str, path: Path) -> pd.DataFrame:
    """A JSON list of objects, or JSON lines (one object per line)."""
    try:
        items = json.loads(text)
    except RecursionError:
        raise UsageError(f"metadata file {path} nests JSON too deeply to read (objects or lists inside each other "
                         "over a thousand levels); write it as a list of flat objects, one per photo") from None
    except ValueError:
        # split on "\n" only: str.splitlines would also cut at U+2028 inside a JSON string
        lines = enumerate(text.split("\n"), 1)
        items = [_json_line(line, number, path) for number, line in lines if line.strip()]
    if isinstance(items, dict) and len(text.strip().split("\n")) == 1:
        items = [items]  # JSON lines holding a single photo
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise UsageError(f"metadata file {path} must hold a JSON list of objects or one JSON object per line")
    # object columns: JSON numbers stay Python ints (a null elsewhere would make 1234567890123456789
    # a float that loses digits, and licence 4 the text "4.0"), booleans stay booleans
    return pd.DataFrame(items, dtype=object)


def _json_line(line: str, number: int, path: Path) -> object:
    try:
        return json.loads(line)
    except RecursionError:
        raise UsageError(f"metadata file {path} line {number} nests JSON too deeply to read; write one flat object "
                         "per line") from None
    except ValueError as exc:
        raise UsageError(f"metadata file {path} line {number} is not valid JSON ({exc})") from exc
