"""Ingest a local folder of photos: label subfolders, or flat with a CSV/JSON sidecar.

Layouts::

    DIR/<label>/<photo>.jpg             label = first-level folder name
    DIR/<photo>.jpg + metadata.csv      one row per photo, joined on its `file` column

A metadata row is joined to its image by `file` (a path relative to DIR). Images with
no metadata row are ingested too; fields the metadata leaves empty (position, time,
owner) are read from the photo's EXIF. A metadata path that could leave DIR (`../`,
absolute, or a symlink pointing outside) is never opened: its row is kept, dropped
with reason `unsafe_path`. Everything else (missing, unreadable or broken files) is
judged per photo by the ingest engine and the image store.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import NamedTuple

import pandas as pd

from curate.dates import read_taken_at
from curate.errors import UsageError
from curate.imageformats import IMAGE_EXTENSIONS
from curate.ingest.containers import index_parquet_files, index_shards, locate_members, photo_bytes, sidecar_reader
from curate.ingest.engine import FetchError, IngestJob, IngestReport, run_ingest
from curate.ingest.exif import read_exif_bytes, read_exif_fields
from curate.ingest.folder_ids import display_text, folder_namespace, id_prefix
from curate.ingest.folder_labels import (
    first_folders,
    is_blank,
    label_spelling_warnings,
    label_warnings,
    recipe_label_names,
    storage_folders,
)
from curate.ingest.mapping import (
    CSV_HINT,
    DEFAULT_ALIASES,
    column_usage,
    csv_separator,
    duplicate_column_warnings,
    to_records,
    without_renamed_duplicates,
)
from curate.ingest.parquet_shards import NoImage
from curate.ingest.photo_sidecars import (
    MAX_SIDECAR_BYTES,
    credit_derived,
    exif_text_fields,
    read_photo_sidecars,
    sidecar_paths,
    unpaired_sidecars,
)
from curate.ingest.tar_shards import TarMember, is_tar_name, tar_label
from curate.progress import progress_bar
from curate.recipes import Recipe, load_recipe
from curate.settings_fields import SettingError, setting
from curate.workspace import Workspace, exclusive

SOURCE = "folder"
# Files beside the photos that are not photos: no word when a scan passes them (any other file is counted in
# the ingest's warning, so that a phone export's .mov or .dng files are not left out without one). Metadata
# (.xml: a Flickr API response or an annotation per photo), notes and a download's checksums among them.
NOT_PHOTOS = frozenset({".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".txt", ".md", ".xmp", ".aae", ".ini",
                        ".db", ".html", ".htm", ".pdf", ".toml", ".yaml", ".yml", ".log", ".parquet", ".xml",
                        ".md5", ".sha1", ".sha256"})
SIDECAR_NAMES = ("metadata.csv", "metadata.jsonl", "metadata.json")
LABEL_SOURCES = ("auto", "folder", "column", "tags", "none")
# A file that was missing or unreadable may have been fixed since, or a format's decoder installed since
# (unsupported_format: HEIC without pillow-heif): a re-run tries it again.
RETRY_REASONS = frozenset({"missing_file", "unreadable_file", "unsupported_format"})
MAX_FILE_BYTES = 256 * 1024 * 1024  # no photo is this big; refuse before reading it into memory
MAX_METADATA_BYTES = 1024 * 1024 * 1024  # a sidecar of ~5M photos; /dev/zero would never end
EXIF_READ_BYTES = 256 * 1024  # a JPEG's EXIF block (APP1, at most 64 KB) sits in its first bytes
EXIF_FIELDS = ("lat", "lon", "taken_at", "owner_id", "owner_name")


@dataclass(frozen=True)
class FolderOptions:
    """What `curate ingest folder` was asked to do.

    column_map: canonical field -> metadata column (from --map and --label-column).
    label_source: auto (column when column_map names `label`, else folder when photos
    sit in subfolders, else a metadata label column, else tags), folder, column, tags
    (recipe labels named by the tags) or none (no labels at all).
    """

    folder: Path = setting(help="Folder of photos: <label>/<photo> subfolders, or flat.")
    metadata: Path | None = setting(None, metavar="FILE", help=(
        "CSV or JSON (list or lines) sidecar, one row per photo with a `file` column relative to DIR. Default: "
        "DIR/metadata.csv|jsonl|json when present."))
    column_map: Mapping[str, str] = setting(default_factory=dict, flag="--map", help=(
        "FIELD=COLUMN: read a record field (lat, owner_id, tags, file...) from COLUMN. Repeatable."))
    label_source: str = setting("auto", flag="--label-from", metavar="SOURCE", help=(
        "folder | column | tags | none. Default: column with --label-column, else the first-level folder name."))
    recipe: Recipe | str | None = setting(None, metavar="NAME", help=(
        "Dataset recipe (name in datasets/ or a .toml path) whose labels are matched against tags; folder and "
        "column labels that match a recipe label (name or alias; case, spaces, _ and - ignored) take its name."))
    workers: int = setting(4, metavar="N", help="Files read and validated in parallel.")
    keep_url_secrets: bool = setting(False, flag="--keep-url-secrets", help=(
        "Store the sidecar's URLs verbatim. Default: user:password@ and secret-looking query parameters (api_key, "
        "token, sig...) are redacted."))

    def __post_init__(self) -> None:
        if self.label_source not in LABEL_SOURCES:
            raise SettingError(f"{{label_source}} must be one of {', '.join(LABEL_SOURCES[1:])}, got "
                               f"{self.label_source!r}", "label_source")
        if self.workers < 1:
            raise SettingError(f"{{workers}} must be at least 1, got {self.workers}", "workers")


def ingest_folder(ws: Workspace, options: FolderOptions) -> IngestReport:
    """Ingest every image under `options.folder` (plus its metadata rows) into `ws`.

    Run-level problems (missing folder, bad metadata file, unknown column, nothing to
    ingest) raise UsageError; per-photo problems become rows with a drop_reason. The
    report says which metadata columns were read (`columns`) and, on a re-run, whose
    metadata changed (see curate.ingest.engine). Photo ids are namespaced per folder (see
    curate.ingest.folder_ids); the workspace is locked (and created) before anything else.
    """
    with exclusive(ws):
        return _ingest_folder(ws, options)


def _ingest_folder(ws: Workspace, options: FolderOptions) -> IngestReport:
    """`ingest_folder` with the workspace locked: gather, label, fill from EXIF, ingest, reconcile, report."""
    root = _check_folder(options.folder)
    recipe = load_recipe(options.recipe) if isinstance(options.recipe, str) else options.recipe
    contents = _folder_contents(root, options)
    records = locate_members(build_records(root, contents.images, contents.table, options.column_map),
                             contents.shard_members, contents.cells)
    labels = _label_records(records, options, recipe)
    warnings = [*contents.warnings, *labels.warnings, *_folder_warnings(contents), *labels.spelling_warnings]
    records = fill_from_exif(labels.records, options.workers)
    if "taken_at" in records.columns:  # dates a metadata file wrote in a way no reader agrees on
        warnings += read_taken_at(records["taken_at"]).warnings()
    job = IngestJob(SOURCE, records, fetch=make_fetch(root),
                    recipe=None if labels.source == "none" else recipe, workers=options.workers,
                    retry_reasons=RETRY_REASONS, id_prefix=id_prefix(folder_namespace(ws, root, records, photo_bytes)),
                    keep_url_secrets=options.keep_url_secrets)
    before = stored_photo_ids(ws)
    report = run_ingest(ws, job)
    warnings += _reconcile_folder(ws, job.id_prefix or SOURCE, records, before, report)
    return _finish_report(report, contents, warnings, labels.source, options.column_map)


@dataclass
class _FolderContents:
    """What a folder holds for ingest: its scan, its photos, their metadata, and what was said of them."""

    scan: FolderScan
    images: list[str]  # relative names of the photos: files, "<shard>.tar/<member>", "<file>.parquet/<name>"
    shard_members: dict[str, tuple[str, TarMember]]  # see index_shards
    cells: dict[str, tuple]  # see index_parquet_files
    cell_table: pd.DataFrame | None  # the Parquet files' own columns: their images' metadata
    table: pd.DataFrame | None = None  # the metadata table joined to the photos (_metadata_table)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Labels(NamedTuple):
    """The records with their labels, and the warnings about those labels."""

    records: pd.DataFrame  # with `label` from the chosen source (a recipe's names where they match)
    source: str  # the label source, `auto` resolved
    warnings: list[str]  # about the labels themselves
    spelling_warnings: list[str]  # about their spelling against the recipe (told after the folder's own)


def _folder_contents(root: Path, options: FolderOptions) -> _FolderContents:
    """The folder's photos and their metadata table; UsageError when there is nothing to ingest."""
    notes: list[str] = []
    table = _metadata_file_table(root, options.metadata, notes)
    contents = _index_folder(root, notes)
    contents.table = _metadata_table(root, table, contents)
    if contents.table is None and options.column_map:
        raise UsageError("--map and --label-column need a metadata file; pass --metadata FILE")
    if not contents.images and (contents.table is None or contents.table.empty):
        skipped, linked = contents.scan.skipped, contents.scan.linked
        followed = f"; linked folders are not followed ({', '.join(linked[:5])})" if linked else ""
        raise UsageError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) and no metadata rows in {root}"
                         f"{skipped_clause(skipped)}{followed}; check the folder path")
    return contents


def _metadata_file_table(root: Path, metadata: Path | None, notes: list[str]) -> pd.DataFrame | None:
    """The metadata file given (or found at the top of the folder) as a table; None without one."""
    metadata_path = metadata or find_sidecar(root)
    if metadata is None and metadata_path is not None and is_album_description(Path(metadata_path)):
        notes.append(f"{Path(metadata_path).name} is one JSON object naming no photo file (Google Takeout's "
                     "description of an album), not a table of photos, so it was not read as the metadata")
        return None
    return read_metadata(Path(metadata_path)) if metadata_path is not None else None


def _index_folder(root: Path, notes: list[str]) -> _FolderContents:
    """Scan the folder and index the photos held in its tar shards and Parquet files (a note for each kind)."""
    scan = scan_folder(root)
    shard_members, warnings = index_shards(root, scan.tar_files)  # WebDataset / img2dataset tar shards
    cells, cell_table, parquet_warnings = index_parquet_files(root, scan.parquet_files)  # images inside Parquet
    images = sorted([*scan.images, *(name for name in shard_members if _is_image(name)), *cells])
    if shard_members:
        inside = sum(1 for name in shard_members if _is_image(name))
        paths = {where for where, _ in shard_members.values()}
        read = [relative for relative in scan.tar_files if str(root / relative) in paths]  # shards that gave members
        notes.append(f"{inside:,} photos read from {len(read):,} tar shard{'s' if len(read) != 1 else ''} in place "
                     f"(e.g. {read[0]})")
    if cells:
        files = sorted({name.rsplit("/", 1)[0] for name in cells})
        notes.append(f"{len(cells):,} image rows read from {len(files):,} Parquet file{'s' if len(files) != 1 else ''}"
                     f" in place (e.g. {files[0]})")
    return _FolderContents(scan, images, shard_members, cells, cell_table, notes=notes,
                           warnings=[*warnings, *parquet_warnings])


def _metadata_table(root: Path, table: pd.DataFrame | None, contents: _FolderContents) -> pd.DataFrame | None:
    """The metadata file's table, else the per-photo JSON sidecars', plus the Parquet files' own columns."""
    if table is None:  # no sidecar table: one JSON file beside each photo (img2dataset, Google Takeout)?
        table = _photo_sidecar_table(root, contents)
    if contents.cell_table is not None:  # the Parquet files' own columns are their images' metadata
        cell_table = exif_text_fields(contents.cell_table)  # img2dataset's `exif` text, as from its JSON sidecars
        table = cell_table if table is None else pd.concat([table, cell_table], ignore_index=True)
    return table


def _photo_sidecar_table(root: Path, contents: _FolderContents) -> pd.DataFrame | None:
    """The per-photo JSON sidecars (in the folder or its tar shards) as a table, noting and warning in `contents`."""
    json_files = contents.scan.json_files | {name for name in contents.shard_members if name.lower().endswith(".json")}
    sidecars = sidecar_paths(contents.images, json_files)
    table, unreadable = read_photo_sidecars(sidecars, sidecar_reader(root, contents.shard_members))
    if table is not None:
        contents.notes.append(f"metadata from {len(table):,} per-photo JSON sidecar{'s' if len(table) != 1 else ''} "
                              f"(e.g. {next(iter(sidecars.values()))}), as no metadata file was given")
    if unreadable:
        contents.warnings.append(
            f"{len(unreadable):,} per-photo JSON sidecar{'s' if len(unreadable) != 1 else ''} could not be read "
            f"(e.g. {unreadable[0]}: not a JSON object, not UTF-8, or over 1 MB); "
            f"{'their photos are' if len(unreadable) != 1 else 'its photo is'} ingested without that metadata")
    unpaired = unpaired_sidecars(json_files, sidecars.values())
    if unpaired:
        one = len(unpaired) == 1
        contents.notes.append(f"{len(unpaired):,} per-photo JSON sidecar{'' if one else 's'} named after a photo "
                              f"match{'es' if one else ''} no photo of the folder (e.g. {unpaired[0]}): "
                              f"{'its photo is' if one else 'their photos are'} not here, or named otherwise")
    return table


def _label_records(records: pd.DataFrame, options: FolderOptions, recipe: Recipe | None) -> _Labels:
    """Labels from the chosen source (a recipe's names where they match), with the warnings about them."""
    label_source = resolve_label_source(options.label_source, records, options.column_map, recipe)
    column_labels = records["label"] if "label" in records.columns else None
    auto = options.label_source == "auto" and "label" not in options.column_map  # --label-column chooses too
    records = assign_labels(records, label_source, storage_folders(records["file"]) if auto else ())
    warnings = list(label_warnings(records, label_source, recipe is not None, column_labels, auto=auto))
    spelling_warnings: list[str] = []
    if label_source in ("folder", "column") and "label" in records.columns:
        spelling_warnings = list(label_spelling_warnings(records["label"], recipe, label_source))
        if recipe is not None:  # the recipe is the user's statement of what the labels are
            records = records.assign(label=recipe_label_names(records["label"], recipe))
    return _Labels(records, label_source, warnings, spelling_warnings)


def _folder_warnings(contents: _FolderContents) -> list[str]:
    """Warnings about the metadata's duplicate columns and the files the scan left out (other, hidden, linked)."""
    scan = contents.scan
    warnings = list(duplicate_column_warnings(contents.table.columns)) if contents.table is not None else []
    if scan.skipped:
        warnings.append(skipped_warning(scan.skipped))
    if scan.hidden:
        one = len(scan.hidden) == 1
        warnings.append(f"{len(scan.hidden):,} hidden photo file{'' if one else 's'} (a name starting with '.', "
                        f"e.g. {scan.hidden[0]}) {'was' if one else 'were'} left out, as hidden files are: rename "
                        f"{'it' if one else 'them'} without the dot to ingest {'it' if one else 'them'}")
    if scan.linked:
        warnings.append(linked_warning(scan.linked))
    return warnings


def _reconcile_folder(ws: Workspace, prefix: str, records: pd.DataFrame, before: set[str],
                      report: IngestReport) -> list[str]:
    """Warn of stored photos edited since; drop those gone from the folder (counted in `report`)."""
    warnings = []
    edited, edited_example = changed_since_stored(ws, prefix, records, before)
    if edited:
        many = edited != 1
        warnings.append(f"{edited:,} photo{'s' if many else ''} of this folder {'have' if many else 'has'} a file of "
                        f"another size than the image stored from {'them' if many else 'it'} (e.g. {edited_example}): "
                        "the catalog keeps the stored copy, as an ingest never replaces an image; to take an edited "
                        "file, give it a new name, and a new photo_id where a metadata sidecar gives ids (a new "
                        "photo: the old one is then dropped as missing_file)")
    gone, example = drop_removed_photos(ws, prefix, records["source_id"])
    if gone:
        many = gone != 1
        warnings.append(f"{gone:,} photo{'s' if many else ''} ingested from this folder before "
                        f"{'are' if many else 'is'} no longer in it (e.g. {example}): dropped as missing_file "
                        f"(a later stage that kept {'them' if many else 'it'} reads as stale); "
                        f"{'they come' if many else 'it comes'} back if the file{'s do' if many else ' does'}")
        report.dropped_by_reason["missing_file"] = report.dropped_by_reason.get("missing_file", 0) + gone
    return warnings


def _finish_report(report: IngestReport, contents: _FolderContents, warnings: list[str], label_source: str,
                   column_map: Mapping[str, str]) -> IngestReport:
    """The engine's report with the folder's warnings and notes first, and the metadata columns it read."""
    report.warnings = [*warnings, *report.warnings]
    report.notes = [*contents.notes, *report.notes]
    table = contents.table
    if table is not None:  # a label column is read only when the labels come from it
        unused = () if label_source == "column" else ("label",)
        report.columns = without_renamed_duplicates(
            credit_derived(column_usage(list(table.columns), dict(column_map), unused, pages_first=True),
                           table.columns),
            table.columns)
    return report


def stored_photo_ids(ws: Workspace) -> set[str]:
    """The photo ids the catalog holds now (read in batches, one column; empty without a catalog)."""
    from curate.catalog_batches import CatalogFile

    if not ws.catalog_path.exists():
        return set()
    return {str(pid) for batch in CatalogFile(ws.catalog_path).batches(["photo_id"]) for pid in batch["photo_id"]}


def changed_since_stored(ws: Workspace, prefix: str, records: pd.DataFrame,
                         before: set[str]) -> tuple[int, str | None]:
    """(how many photos of this folder already stored have a source file of another size than their stored
    image, the first one's path): an edited or replaced photo, whose new bytes an ingest never takes (audit AN:
    a re-run said nothing while `curate run` re-ran every step). Plain files on a local store only (a size
    per file; a tar member or a Parquet cell, or an object store, is not asked). Only photos the catalog held
    before this run (`before`: a first ingest has none) and whose id one file alone gives (audit AQ: a row
    dropped as duplicate_photo_id was called replaced)."""
    from curate import objectstore, schema
    from curate.catalog_batches import CatalogFile

    if objectstore.remote(ws) or not before or "abs_path" not in records:
        return 0, None
    plain = records["abs_path"].notna() & ~records["source_id"].duplicated(keep=False)
    for column in ("tar_offset", "pq_column"):
        if column in records.columns:
            plain &= records[column].isna()
    stored = {str(pid): path for batch in CatalogFile(ws.catalog_path).batches([schema.PHOTO_ID, "image_path"])
              for pid, path in zip(batch[schema.PHOTO_ID], batch["image_path"]) if str(pid) in before}
    locate = objectstore.locator(ws)
    count, example = 0, None
    for source_id, path in zip(records.loc[plain, "source_id"], records.loc[plain, "abs_path"]):
        image = stored.get(f"{prefix}:{source_id}")
        if not isinstance(image, str):
            continue
        try:
            differs = os.path.getsize(path) != os.path.getsize(locate(image))
        except OSError:  # gone, or unreadable: other lines say so
            continue
        if differs:
            count, example = count + 1, example or str(path)
    return count, example


def drop_removed_photos(ws: Workspace, prefix: str, source_ids: pd.Series) -> tuple[int, str | None]:
    """Mark dropped (`missing_file`, at ingest) the kept photos of this folder (photo ids `<prefix>:...`) whose
    file is no longer in it (`source_ids`: what this ingest found); (how many, one of their source ids). An
    audit deleted photos from a recipe's folder and found them still kept and in their splits, trained and
    tested on. Their rows, metadata and stored images stay: a later ingest that finds the file again takes it
    back (missing_file is retried)."""
    from curate import schema
    from curate.workspace import read_catalog, write_catalog

    catalog = read_catalog(ws, required=False)
    if catalog.empty:
        return 0, None
    gone = (catalog[schema.PHOTO_ID].astype(str).str.startswith(f"{prefix}:")
            & ~catalog["source_id"].isin(set(source_ids.astype(str))) & (catalog["status"] == schema.KEPT))
    if not gone.any():
        return 0, None
    catalog.loc[gone, ["status", "drop_reason", "drop_stage", "error_detail"]] = [
        schema.DROPPED, "missing_file", "ingest", "no longer in the folder"]
    write_catalog(ws, catalog)
    return int(gone.sum()), str(catalog.loc[gone, "source_id"].iloc[0])


def _check_folder(folder: Path) -> Path:
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise UsageError(f"folder {folder} does not exist; pass the folder that holds the photos")
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; pass the folder that holds the photos")
    return folder.resolve()


def folder_fingerprint(root: Path) -> str | None:
    """A hash of what a folder holds for ingest: the names, sizes and modification times of the photos (and
    containers) a scan finds, and of its metadata and sidecar files; None when it is not a folder. What
    `curate run` and the contamination check remember of a folder, so that an edit to it (photos added,
    removed, moved to another label folder, a sidecar changed) is seen."""
    root = Path(root)
    if not root.is_dir():
        return None
    scan = scan_folder(root)
    digest = hashlib.sha256()
    for name in sorted({*scan.images, *scan.json_files, *scan.tar_files, *scan.parquet_files,
                        *(name for name in SIDECAR_NAMES if (root / name).is_file())}):
        try:
            facts = (root / name).stat()
        except OSError:  # gone since the scan: its absence is the change
            continue
        digest.update(f"{name}\x1f{facts.st_size}\x1f{facts.st_mtime_ns}\n".encode())
    return digest.hexdigest()


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
    return isinstance(data, dict) and not {str(key).casefold() for key in data} & set(DEFAULT_ALIASES["file"])


class FolderScan(NamedTuple):
    images: list[str]  # relative POSIX paths of the image files, sorted
    skipped: Counter  # other files passed over, per lower-case extension ("" for none), NOT_PHOTOS left out
    linked: list[str]  # linked folders not followed, relative, sorted
    json_files: set[str]  # relative paths of the .json files (per-photo sidecars: curate.ingest.photo_sidecars)
    tar_files: list[str]  # relative paths of the .tar files (shards: curate.ingest.tar_shards), sorted
    parquet_files: list[str]  # relative paths of the .parquet files (metadata, or images ingest cannot read)
    hidden: list[str] = []  # hidden photo files left out (".name.jpg", not "._name.jpg"), relative, sorted


def scan_folder(root: Path) -> FolderScan:
    """The image files under `root`, and what else the scan met (`FolderScan`).

    Hidden files and folders (.DS_Store, ._IMG.jpg, .thumbnails) are skipped: they
    are OS clutter, not photos. A hidden file with a photo's extension (`.IMG_0001.jpg`, not the `._`
    AppleDouble copies macOS writes) is listed in `hidden`, which the ingest counts in a warning (audit
    AS 8: such a photo vanished without a trace). Symlinked folders are not followed (a link may loop, or
    lead out of the folder): the ingest names them.
    """
    found, skipped, linked, json_files, tar_files, parquet_files, hidden = [], Counter(), [], set(), [], [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        linked += [Path(dirpath, name).relative_to(root).as_posix() for name in dirnames
                   if os.path.islink(os.path.join(dirpath, name))]
        for name in filenames:
            if name.startswith("."):
                if not name.startswith("._") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                    hidden.append(Path(dirpath, name).relative_to(root).as_posix())
                continue
            extension = os.path.splitext(name)[1].lower()
            if extension in IMAGE_EXTENSIONS:
                found.append(Path(dirpath, name).relative_to(root).as_posix())
            elif extension == ".json":
                json_files.add(Path(dirpath, name).relative_to(root).as_posix())
            elif is_tar_name(name):
                tar_files.append(Path(dirpath, name).relative_to(root).as_posix())
            elif extension == ".parquet":
                parquet_files.append(Path(dirpath, name).relative_to(root).as_posix())
            elif extension not in NOT_PHOTOS:
                skipped[extension] += 1
    return FolderScan(sorted(found), skipped, sorted(linked), json_files, sorted(tar_files), sorted(parquet_files),
                      sorted(hidden))


def _is_image(name: str) -> bool:
    return not PurePosixPath(name).name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def linked_warning(linked: list[str], fix: str = "are not in this ingest; ingest the folder each links to, "
                                                  "or copy its photos in") -> str:
    """The ingest's warning about linked folders it did not follow (`fix`: what became of their photos and
    what to do, for another command's scan).

    >>> linked_warning(["cats", "dogs"])[:78]
    '2 linked folders were not followed (cats, dogs): their photos are not in this '
    """
    shown = ", ".join(linked[:5]) + (", …" if len(linked) > 5 else "")
    return (f"{len(linked):,} linked folder{'s were' if len(linked) != 1 else ' was'} not followed ({shown}): their "
            f"photos {fix}")


def skipped_counts(skipped: Counter) -> str:
    """What a scan passed over, most first: `.dng 12, .mov 3, no extension 1` (six kinds at most).

    >>> skipped_counts(Counter({".mov": 3, ".dng": 12, "": 1}))
    '.dng 12, .mov 3, no extension 1'
    """
    ranked = sorted(skipped.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{extension or 'no extension'} {count:,}" for extension, count in ranked[:6])
    return shown + (", …" if len(ranked) > 6 else "")


def skipped_clause(skipped: Counter) -> str:
    """` (N other files passed over: …)` for the "no images" error ("" when nothing was)."""
    total = sum(skipped.values())
    return f" ({total:,} other file{'s' if total != 1 else ''} passed over: {skipped_counts(skipped)})" if total else ""


def skipped_warning(skipped: Counter, reader: str = "ingest") -> str:
    """The warning about files in the folder that are not in a format `reader` (a command) reads."""
    total = sum(skipped.values())
    return (f"{total:,} file{'s' if total != 1 else ''} in the folder {'are' if total != 1 else 'is'} not in a "
            f"format {reader} reads and {'were' if total != 1 else 'was'} left out ({skipped_counts(skipped)}); photos "
            f"are read from {', '.join(sorted(IMAGE_EXTENSIONS))}: convert the others (camera RAW, for one) to JPEG "
            f"to include them")


def read_metadata(path: Path) -> pd.DataFrame:
    """A CSV/TSV, JSON list-of-objects or JSON-lines sidecar as a table of strings/values."""
    if not path.exists():
        raise UsageError(f"metadata file {path} does not exist; check --metadata")
    if path.is_dir():
        raise UsageError(f"metadata file {path} is a folder; pass a CSV or JSON file")
    try:
        text = read_regular_file(path, MAX_METADATA_BYTES).decode("utf-8-sig")
    except OSError as exc:
        raise UsageError(f"metadata file {path} is unreadable ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"metadata file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson") or (suffix not in (".csv", ".tsv") and text.lstrip()[:1] in "[{"):
        return parse_json_metadata(text, path)
    return parse_csv_metadata(text, path, sep=csv_separator(text.split("\n", 1)[0], suffix))


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
    return table


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


def safe_relative_path(root: Path, raw: object) -> tuple[str | None, str | None, str | None]:
    """Check one metadata `file` value against `root` (already resolved).

    Returns (relative POSIX path, absolute path to read, drop_reason). Absolute paths,
    `..` anywhere, and symlinks resolving outside `root` give `unsafe_path` and no
    path to read; an empty value gives `missing_file`.

    >>> safe_relative_path(Path("/photos"), "../etc/passwd")
    ('../etc/passwd', None, 'unsafe_path')
    """
    text = "" if is_blank(raw) else str(raw).strip()
    if not text:
        return None, None, "missing_file"
    posix = text.replace("\\", "/")  # sidecars written on Windows use backslashes
    pure = PurePosixPath(posix)
    if pure.is_absolute() or PureWindowsPath(text).anchor or ".." in pure.parts:
        return posix, None, "unsafe_path"
    relative = pure.as_posix()
    try:
        real = (root / relative).resolve()
    except (OSError, RuntimeError, ValueError):  # symlink loops, NUL bytes
        return relative, None, "unsafe_path"
    if not real.is_relative_to(root):
        return relative, None, "unsafe_path"
    return relative, str(root / relative), None


def unsafe_detail(root: Path, raw: object) -> str:
    """Why `safe_relative_path` called a path unsafe, for its row's error_detail (audit AS 6: the rows
    said `unsafe_path` and nothing more, a symlink farm into a download cache lost every photo without a
    hint, and a link to nothing read as unsafe).

    >>> unsafe_detail(Path("/photos"), "../etc/passwd"), unsafe_detail(Path("/photos"), "/etc/passwd")
    ("a path with '..' (it could leave the folder)", 'an absolute path: give it relative to the folder')
    """
    text = str(raw).strip()
    pure = PurePosixPath(text.replace("\\", "/"))
    if pure.is_absolute() or PureWindowsPath(text).anchor:
        return "an absolute path: give it relative to the folder"
    if ".." in pure.parts:
        return "a path with '..' (it could leave the folder)"
    path = root / pure.as_posix()
    try:
        if path.is_symlink():
            target = os.readlink(path)
            gone = "" if path.exists() else ", which does not exist"
            return f"a symlink to {target}{gone}: outside the folder, so it is not read (link or copy it inside)"
        path.resolve()
    except (OSError, RuntimeError, ValueError):
        return "a symlink loop, or a name no path can hold"
    return "it resolves outside the folder (a folder on its way is a symlink), so it is not read"


def build_records(root: Path, images: list[str], table: pd.DataFrame | None,
                  column_map: Mapping[str, str]) -> pd.DataFrame:
    """Metadata rows (in file order) then images without a row, as canonical records.

    Extra columns: `file` (relative path) and `abs_path` (absolute path to read, None when
    it must not be read).
    """
    meta = metadata_records(root, table, column_map) if table is not None else pd.DataFrame()
    joined = set(meta["file"].dropna()) if "file" in meta.columns else set()
    extra = [relative for relative in images if relative not in joined]
    checked = [safe_relative_path(root, relative) for relative in extra]  # symlinks out of the folder
    shown = [display_text(relative) for relative in extra]  # a non-UTF-8 name is stored escaped
    loose = pd.DataFrame({
        "source_id": shown,
        "file": shown,
        "abs_path": [path for _, path, _ in checked],
        "drop_reason": [reason for _, _, reason in checked],
        "error_detail": [unsafe_detail(root, relative) if reason == "unsafe_path" else None
                         for relative, (_, _, reason) in zip(extra, checked)],
    }, dtype="object")
    return pd.concat([meta, loose], ignore_index=True) if len(meta) else loose


def metadata_records(root: Path, table: pd.DataFrame, column_map: Mapping[str, str]) -> pd.DataFrame:
    """Map the sidecar onto record fields and check each row's file path."""
    records = to_records(table, dict(column_map), pages_first=True).reset_index(drop=True).astype("object")
    if "file" not in records.columns:
        if table.empty:
            return pd.DataFrame()
        raise UsageError(f"metadata has no file column (columns: {', '.join(map(str, table.columns))}); "
                         "pass --map file=COLUMN")
    checked = [safe_relative_path(root, raw) for raw in records["file"]]
    relative = pd.Series([rel for rel, _, _ in checked], index=records.index, dtype="object")
    records["abs_path"] = [path for _, path, _ in checked]
    records["drop_reason"] = [reason for _, _, reason in checked]
    records["error_detail"] = [unsafe_detail(root, raw) if reason == "unsafe_path" else None
                               for raw, (_, _, reason) in zip(records["file"], checked)]
    # Unsafe paths keep their raw spelling in `file` for the id, but never join a scanned image.
    records["file"] = relative.where(records["drop_reason"].isna(), None)
    given_id = records["source_id"] if "source_id" in records.columns else pd.Series(None, index=records.index)
    row_names = pd.Series([f"row-{number}" for number in range(1, len(records) + 1)], index=records.index)
    fallback = relative.where(relative.notna(), row_names)
    records["source_id"] = given_id.map(_text_or_none).where(~given_id.map(is_blank), fallback)
    return records


def resolve_label_source(requested: str, records: pd.DataFrame, column_map: Mapping[str, str],
                         recipe: Recipe | None) -> str:
    """Turn `auto` into a concrete label source and check the choice can work."""
    has_column = "label" in records.columns
    if requested == "column" and not has_column:
        raise UsageError("--label-from column needs a label column in the metadata; pass --label-column COLUMN")
    if requested == "tags" and recipe is None:
        raise UsageError("--label-from tags needs --recipe NAME (the labels to look for in the tags)")
    if requested != "auto":
        return requested
    if "label" in column_map:
        return "column"
    inside = pd.Series(False, index=records.index)  # photos held in a tar shard or a Parquet file
    for name in ("tar_offset", "pq_row"):
        if name in records.columns:
            inside |= records[name].notna()
    if inside.any() and has_column and records.loc[inside, "label"].map(lambda v: not is_blank(v)).any() \
            and not _has_class_folders(records.loc[~inside, "file"]):
        return "column"  # an export's own labels (its shards' JSON, a Parquet's ClassLabel), not their file names
    if _has_class_folders(records["file"]):
        return "folder"
    return "column" if has_column else "tags"


def _has_class_folders(files: pd.Series) -> bool:
    """Photos sit in subfolders, and not every subfolder stores photos (shards, a camera's or an export's
    folders name no class)."""
    in_subfolder = files.dropna().astype(str).str.contains("/", regex=False)
    return bool(in_subfolder.any()) and storage_folders(files) != first_folders(files)


def assign_labels(records: pd.DataFrame, label_source: str, unlabelled: Iterable[str] = ()) -> pd.DataFrame:
    """Set `label` from the chosen source; `tags` and `none` leave it to the recipe (or nobody). The photos in
    the first-level folders `unlabelled` (shards, a camera's folders: curate.ingest.folder_labels) get none."""
    records = records.copy()
    if label_source == "folder":
        parts = records["file"].astype("string").str.split("/", n=1)
        first = parts.str[0].where(parts.str.len() > 1).astype("object")
        first = first.where(~first.isin(list(unlabelled)), None)
        records["label"] = first.map(lambda name: tar_label(name) if isinstance(name, str) else name)
    elif label_source != "column":
        records["label"] = None
    return records


def fill_from_exif(records: pd.DataFrame, workers: int) -> pd.DataFrame:
    """Fill position, time and owner from EXIF where the metadata leaves them empty, or gives a time no date can
    be read from (`read_taken_at`: `0000:00:00 00:00:00`, a time alone, a camera clock at zero; audit AX: such a
    value hid the photo's own EXIF time, and a phone's walk was split over train and test)."""
    records = records.copy()
    for name in EXIF_FIELDS:
        if name not in records.columns:
            records[name] = None
    blank = {name: records[name].map(is_blank) for name in EXIF_FIELDS}
    blank["taken_at"] = blank["taken_at"] | read_taken_at(records["taken_at"]).moments.isna().to_numpy()
    no_position = blank["lat"] & blank["lon"]
    wanted = records["abs_path"].notna() & records["drop_reason"].isna() & (
        no_position | blank["taken_at"] | (blank["owner_id"] & blank["owner_name"]))
    paths = records.loc[wanted, "abs_path"]
    if paths.empty:
        return records
    inside = [name for name in ("tar_offset", "tar_size", "pq_column", "pq_group", "pq_row") if name in records]
    where = records.loc[wanted, inside].to_dict("records") if inside else [{}] * len(paths)
    with progress_bar("read EXIF", len(paths)) as advance, ThreadPoolExecutor(max_workers=workers) as pool:
        found = []
        for fields in pool.map(_exif_of, paths, where):
            found.append(fields)
            advance()
    exif = pd.DataFrame.from_records(found, index=paths.index, columns=list(EXIF_FIELDS)).reindex(records.index)
    has_exif_position = exif["lat"].notna() & exif["lon"].notna()
    # lat and lon are filled together: never half from the sidecar, half from EXIF.
    use_position = no_position & has_exif_position
    for name in ("lat", "lon"):
        records[name] = records[name].where(~use_position, exif[name])
    for name in ("taken_at", "owner_id", "owner_name"):
        records[name] = records[name].where(~(blank[name] & exif[name].notna()), exif[name])
    return records


def _exif_of(path: str, where: dict) -> dict:
    """EXIF fields of a photo file, or of a tar shard's member or a Parquet cell (its first 256 KB hold the EXIF
    block)."""
    if all(is_blank(where.get(name)) for name in ("tar_offset", "pq_row")):
        return read_exif_fields(Path(path))
    try:
        return read_exif_bytes(photo_bytes(path, where, EXIF_READ_BYTES))
    except Exception:  # noqa: BLE001 - an unreadable member or cell has no EXIF; the fetch reports it
        return {}


def make_fetch(root: Path):
    """fetch(record) -> bytes for the engine: reads one file, re-checking it stays inside `root`."""

    def fetch(record: dict) -> bytes:
        path = record.get("abs_path")
        if is_blank(path):
            raise FetchError("unsafe_path", "no safe path inside the folder")
        path = Path(path)
        if not os.path.lexists(path):
            raise FetchError("missing_file", str(record.get("file") or path))
        try:
            # Checked again here: a symlink could have been swapped since the records were built.
            if not path.resolve().is_relative_to(root):
                raise FetchError("unsafe_path", "resolves outside the folder")
            if path.is_fifo() or path.is_char_device() or path.is_block_device():  # reading could block forever
                raise FetchError("unreadable_file", "a named pipe or device, not a file")
            if not is_blank(record.get("pq_row")):  # an image in a Parquet file: its size is known once read
                try:
                    data = photo_bytes(str(path), record)
                except NoImage as exc:
                    raise FetchError("missing_file", str(exc)) from exc
                except (OSError, FetchError):
                    raise
                except Exception as exc:  # noqa: BLE001 - pyarrow's errors for a damaged row group
                    raise FetchError("unreadable_file", str(exc)[:160] or "the container could not be read") from exc
                if len(data) > MAX_FILE_BYTES:
                    raise FetchError("file_too_large", f"{len(data)} bytes")
                return data
            size = path.stat().st_size if is_blank(record.get("tar_offset")) else int(record["tar_size"])
            if size > MAX_FILE_BYTES:
                raise FetchError("file_too_large", f"{size} bytes")
            return photo_bytes(str(path), record)
        except OSError as exc:
            raise FetchError("unreadable_file", f"{exc.strerror or exc}") from exc

    return fetch


def _text_or_none(value: object) -> str | None:
    return None if is_blank(value) else str(value).strip()
