"""`curate ingest urls`: photos listed by URL in a CSV/TSV or Parquet file.

The file's columns are mapped onto record fields by `curate.ingest.mapping` (YFCC100M
names such as photoid, usernsid, usernickname, datetaken, usertags, longitude, latitude,
downloadurl, licensename work without `--map`). Each row becomes one catalog row:

- source id: the id column where it has a value, else a stable hash of the URL (so the
  same file ingested twice gives the same photo ids; a URL listed twice without ids is
  one photo, its second row dropped as duplicate_photo_id), else `row-<n>` for a row
  that has neither id nor URL;
- a row whose URL is empty or not http(s) is kept, dropped with reason `bad_url`;
- every other row is downloaded by `curate.ingest.http.Downloader` through the shared
  ingest engine (thread pool, journal, atomic checkpoints, resume). Download failures
  become drop reasons; the transient ones (timeout, connection_error, http_5xx,
  http_429) are tried again by the next run, permanent ones (http_404, not_an_image...)
  are not;
- a row already in the catalog is not downloaded again, but its metadata columns take
  this file's values (an edited file or another --map updates them; see
  curate.ingest.engine). Without an id column the id is the URL's hash, so a changed URL
  is a new photo;
- URLs are downloaded as given but stored (catalog, and so report, attribution and
  gallery) without credentials: user:password@ and secret-looking query parameters
  (api_key, token, sig...) are redacted, unless `keep_url_secrets`.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from curate.coordinates import coordinate_warnings
from curate.dates import read_taken_at
from curate.errors import UsageError
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import IngestJob, IngestReport
from curate.ingest.folder_reconcile import stored_source_ids
from curate.ingest.http import TRANSIENT_REASONS, DownloadConfig, Downloader, check_some_download_worked
from curate.ingest.mapping import (
    CSV_HINT,
    blank_columns,
    column_usage,
    coordinate_names,
    csv_separator,
    duplicate_column_warnings,
    mapping_notes,
    resolve_columns,
    separator_line,
    shown_columns,
    table_text,
    to_records,
    without_unnamed_blank_columns,
)
from curate.recipes import load_recipe
from curate.settings_fields import SettingError, setting
from curate.workspace import Workspace

SOURCE = "urls"
URL_PATTERN = r"(?i)^https?://[^\s/?#]+(?:[/?#]\S*)?$"
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class UrlIngestOptions:
    """One `curate ingest urls` run."""

    path: Path = setting(help="CSV/TSV or Parquet file, one photo per row with its image URL.")
    column_map: dict[str, str] = setting(default_factory=dict, flag="--map", metavar="FIELD=COLUMN", help=(
        "Map a record field to a column, e.g. --map url=link (repeatable). YFCC100M names work without."))
    recipe: str | None = setting(None, help="Dataset recipe (name or .toml) to match tags to labels.")
    download: DownloadConfig = field(default_factory=DownloadConfig)  # its own fields are the download settings
    checkpoint_seconds: float = setting(5.0, help="Seconds between two saves of the progress journal.")
    keep_url_secrets: bool = setting(False, flag="--keep-url-secrets", help=(
        "Store URLs verbatim in the catalog. Default: user:password@ and secret-looking query parameters (api_key, "
        "token, sig...) are redacted; downloads use the full URL either way."))

    def __post_init__(self) -> None:
        if not self.checkpoint_seconds >= 0:
            raise SettingError(f"{{checkpoint_seconds}} must be 0 or more, got {self.checkpoint_seconds}",
                               "checkpoint_seconds")


def read_url_table(path: Path) -> pd.DataFrame:
    """Read a CSV/TSV (all columns as text) or Parquet file; any failure is a UsageError.

    Parquet is recognised by its magic bytes, whatever the file is called; `.tsv` and
    `.tab` files are tab-separated; otherwise the header line tells comma, semicolon or tab apart.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise UsageError(f"URL list {path} {what}; pass a CSV or Parquet file")
    is_parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        with path.open("rb") as handle:
            is_parquet = is_parquet or handle.read(4) == _PARQUET_MAGIC
        if is_parquet:
            return pd.read_parquet(path)
        # UTF-8 or UTF-16 with its mark, and Excel's `sep=;` first line naming the delimiter (audit CK 8)
        text, separator = separator_line(table_text(path.read_bytes(), path, "URL list"))
        separator = separator or csv_separator(text.split("\n", 1)[0], path.suffix)
        # Text only: ids like 0012 and tags like "nan" must survive; "" is the only missing value.
        table = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False, na_values=[""])
        return without_unnamed_blank_columns(table)
    except (OSError, ValueError, UnicodeDecodeError, pa.ArrowException, pd.errors.ParserError) as exc:
        kind = "Parquet" if is_parquet else "CSV"
        message = " ".join(str(exc).replace("Error tokenizing data. C error: ", "").split())[:200]
        message = message or ("the file is not readable" if isinstance(exc, OSError) else "not valid")
        fix = "check the file" if is_parquet else f"save it as CSV with {CSV_HINT}"
        raise UsageError(f"cannot read {path} as {kind} ({message}); {fix}") from None


def url_records(table: pd.DataFrame, column_map: dict[str, str], stored_ids: Collection[str] = ()) -> pd.DataFrame:
    """Map the table onto canonical records with `source_id`, `url` and `drop_reason` (`stored_ids`: the source
    ids the workspace holds for URL lists, see `curate.ingest.mapping.to_records`).

    Raises UsageError when no column holds URLs (or a mapped column is missing).
    """
    resolved = resolve_columns(list(table.columns), column_map, blank=blank_columns(table))
    if "url" not in resolved:
        raise UsageError(f"no URL column in the file (columns: {', '.join(shown_columns(table.columns))}); "
                         "name it url/downloadurl or pass --map url=COLUMN")
    records = to_records(table, column_map, stored_ids=stored_ids).drop(columns=["file"], errors="ignore")
    records = records.reset_index(drop=True)
    url = _as_text(records["url"])
    valid = url.str.match(URL_PATTERN).fillna(False).astype(bool)
    url_hash = url.map(lambda u: hashlib.sha256(u.encode("utf-8")).hexdigest()[:16], na_action="ignore")
    row_number = pd.Series([f"row-{n}" for n in range(1, len(records) + 1)], index=records.index, dtype=object)
    source_id = _as_text(records["source_id"]) if "source_id" in records else pd.Series(pd.NA, index=records.index)
    records["source_id"] = source_id.fillna(url_hash).fillna(row_number).astype(object)
    records["url"] = url.astype(object).where(url.notna(), None)
    records["drop_reason"] = pd.Series("bad_url", index=records.index, dtype=object).where(~valid, None)
    records["error_detail"] = None
    records.loc[~valid, "error_detail"] = [url_problem(value) for value in url[~valid]]
    return records


def url_problem(url: object) -> str:
    """Why a row's URL is no http(s) URL, without the URL itself (it may hold a key).

    >>> url_problem(None), url_problem("ftp://host/a.jpg"), url_problem("photos/a.jpg")
    ('no URL in the row', 'not an http(s) URL (ftp:)', 'not an http(s) URL with a host')
    """
    if url is None or url is pd.NA or (isinstance(url, float) and url != url):
        return "no URL in the row"
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", str(url))
    return f"not an http(s) URL ({scheme[1].lower()}:)" if scheme else "not an http(s) URL with a host"


def _as_text(values: pd.Series) -> pd.Series:
    """Trimmed strings with blanks as NA; integral floats (Parquet ids with nulls) lose '.0'."""
    if pd.api.types.is_float_dtype(values):
        integral = values.dropna().mod(1).eq(0).all()
        values = values.astype("Int64") if integral else values
    text = values.astype("string").str.strip()
    return text.where(text != "", pd.NA)


def ingest_urls(ws: Workspace, options: UrlIngestOptions) -> IngestReport:
    """Download every URL in `options.path` into the workspace catalog (resumable).

    Returns the engine's IngestReport (rows, already done, stored, dropped by reason, the
    columns read, and the rows already in the catalog whose metadata this run updated).
    """
    table = read_url_table(options.path)
    stored_ids = stored_source_ids(ws, SOURCE)  # ids as an older ingest read them stay (review CO H1)
    records = url_records(table, options.column_map, stored_ids)
    recipe = load_recipe(options.recipe) if options.recipe else None
    with Downloader(options.download) as downloader:
        job = IngestJob(SOURCE, records, downloader, recipe=recipe, workers=options.download.workers,
                        retry_reasons=TRANSIENT_REASONS, checkpoint_seconds=options.checkpoint_seconds,
                        keep_url_secrets=options.keep_url_secrets)
        report = run_ingest(ws, job)
    report.columns = column_usage(list(table.columns), options.column_map, unused_fields=("file",),
                                  blank=blank_columns(table))
    report.notes += mapping_notes(table, options.column_map, stored_ids=stored_ids)
    report.warnings += [*empty_url_warnings(table, options.column_map), *duplicate_column_warnings(table.columns),
                        *several_labels_warning(records)]
    if "taken_at" in records.columns:
        report.warnings += read_taken_at(records["taken_at"]).warnings()
    report.warnings += coordinate_warnings(records, coordinate_names(table, options.column_map))
    check_some_download_worked(report)
    return report


def empty_url_warnings(table: pd.DataFrame, column_map: dict[str, str]) -> list[str]:
    """A warning when the column read as the download URL is empty in every row: each row is dropped as bad_url.
    A filled page column beside it (`photopage`) is read as `page_url`, never downloaded in its place (review CO
    L3: a web page is no image); the line names it, and how to give the image URLs.

    >>> empty_url_warnings(pd.DataFrame({"url": [""], "photopage": ["https://flickr.com/photos/a/1"]}), {})[0][:72]
    "the URL column 'url' is empty in every row: every photo is dropped as ba"
    """
    blank = blank_columns(table)
    resolved = resolve_columns(list(table.columns), column_map, blank=blank)
    column = resolved.get("url")
    if column is None or column not in blank:
        return []
    page = resolved.get("page_url")
    beside = (f"; the page URLs in {page.strip()!r} are web pages, not images, so they are read as page_url and not "
              "downloaded") if page is not None and page not in blank else ""
    return [f"the URL column {column.strip()!r} is empty in every row: every photo is dropped as bad_url{beside}; "
            "fill in the image URLs, or pass --map url=COLUMN naming the column that holds them"]


def several_labels_warning(records: pd.DataFrame) -> list[str]:
    """A warning when rows of the label column name several labels (a JSON list): such a photo gets none
    (`records.one_label`), as in a folder's metadata."""
    from curate.records import several_labels, several_labels_warning

    if "label" not in records:
        return []
    rows = pd.Series([f"row {number + 1}" for number in range(len(records))], index=records.index)
    labels = records["label"]
    warning = several_labels_warning(several_labels(labels), labels, rows, "row", "the label column",
                                     "keep one label per row, or match tags to labels with --recipe")
    return [warning] if warning else []


