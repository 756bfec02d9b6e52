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

The stage's parts live beside it: the scan (curate.ingest.folder_scan), the metadata file
(curate.ingest.folder_metadata), the records and their path checks (curate.ingest.folder_records),
reading photos and their EXIF (curate.ingest.folder_photos), and a re-ingest's reconciling with the
catalog (curate.ingest.folder_reconcile).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import pandas as pd

from curate.coordinates import coordinate_warnings
from curate.dates import read_taken_at
from curate.errors import UsageError
from curate.imageformats import IMAGE_EXTENSIONS
from curate.ingest.containers import index_parquet_files, index_shards, locate_members, photo_bytes, sidecar_reader
from curate.ingest.engine import run_ingest
from curate.ingest.engine_job import IngestJob, IngestReport
from curate.ingest.folder_ids import folder_namespace, id_prefix
from curate.ingest.folder_labels import (
    first_folders,
    is_blank,
    label_spelling_warnings,
    label_warnings,
    recipe_label_names,
    storage_folders,
)
from curate.ingest.folder_metadata import find_sidecar, is_album_description, read_metadata
from curate.ingest.folder_photos import fill_from_exif, make_fetch
from curate.ingest.folder_reconcile import (
    changed_since_stored,
    drop_removed_photos,
    present_in_folder,
    removed_warnings,
    stored_photo_ids,
    stored_source_ids,
)
from curate.ingest.folder_records import build_records
from curate.ingest.folder_scan import FolderScan, linked_warning, scan_folder, skipped_clause, skipped_warning
from curate.ingest.mapping import (
    blank_columns,
    column_usage,
    coordinate_names,
    duplicate_column_warnings,
    mapping_notes,
    without_renamed_duplicates,
)
from curate.ingest.photo_sidecars import (
    credit_derived,
    exif_text_fields,
    read_photo_sidecars,
    sidecar_paths,
    unpaired_sidecars,
)
from curate.ingest.tar_shards import TarMember, tar_label
from curate.recipes import Recipe, load_recipe
from curate.settings_fields import SettingError, setting
from curate.workspace import Workspace, exclusive

SOURCE = "folder"
LABEL_SOURCES = ("auto", "folder", "column", "tags", "none")
# A file that was missing or unreadable may have been fixed since, or a format's decoder installed since
# (unsupported_format: HEIC without pillow-heif): a re-run tries it again.
RETRY_REASONS = frozenset({"missing_file", "unreadable_file", "unsupported_format"})


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
    stored_ids = stored_source_ids(ws, SOURCE)  # ids as an older ingest read them stay (review CO H1)
    records = locate_members(build_records(root, contents.images, contents.table, options.column_map,
                                           contents.notes, stored_ids), contents.shard_members, contents.cells)
    labels = _label_records(records, options, recipe)
    warnings = [*contents.warnings, *labels.warnings, *_folder_warnings(contents), *labels.spelling_warnings]
    records = fill_from_exif(labels.records, options.workers)
    if "taken_at" in records.columns:  # dates a metadata file wrote in a way no reader agrees on
        warnings += read_taken_at(records["taken_at"]).warnings()
    names = coordinate_names(contents.table, dict(options.column_map), pages_first=True) \
        if contents.table is not None else ("lat", "lon")
    warnings += coordinate_warnings(records, names)  # unread, off the globe (swapped?), half pairs (audit CK 3)
    job = IngestJob(SOURCE, records, fetch=make_fetch(root),
                    recipe=None if labels.source == "none" else recipe, workers=options.workers,
                    retry_reasons=RETRY_REASONS, id_prefix=id_prefix(folder_namespace(ws, root, records, photo_bytes)),
                    keep_url_secrets=options.keep_url_secrets)
    before = stored_photo_ids(ws)
    report = run_ingest(ws, job)
    warnings += _reconcile_folder(ws, job.id_prefix or SOURCE, records, set(contents.images), before, report)
    return _finish_report(report, contents, warnings, labels.source, options.column_map, stored_ids)


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
    if label_source == "tags" and recipe is not None and not recipe.labels:  # (auto) nothing would label the photos
        raise UsageError(f"{options.folder} has no label subfolders and no label column, and recipe {recipe.name} "
                         "lists no [[labels]] for the tags to name; put the photos in one subfolder per label, give a "
                         "metadata label column, add [[labels]] to the recipe, or ask for no labels (label_source = "
                         "\"none\", --label-from none)")
    column_labels = records["label"] if "label" in records.columns else None
    auto = options.label_source == "auto" and "label" not in options.column_map  # --label-column chooses too
    records = assign_labels(records, label_source, storage_folders(records["file"]) if auto else ())
    tag_labels = recipe is not None and bool(recipe.labels)  # a recipe without labels names none by tags
    warnings = list(label_warnings(records, label_source, tag_labels, column_labels, auto=auto))
    spelling_warnings: list[str] = []
    if label_source in ("folder", "column") and "label" in records.columns:
        spelling_warnings = list(label_spelling_warnings(records["label"], recipe, label_source))
        if tag_labels:  # the recipe is the user's statement of what the labels are
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


def _reconcile_folder(ws: Workspace, prefix: str, records: pd.DataFrame, images: set[str], before: set[str],
                      report: IngestReport) -> list[str]:
    """Warn of stored photos edited since; drop those gone from the folder (counted in `report`). `images`: the
    photo files the scan found (a metadata row whose file is not among them is not in the folder)."""
    warnings = []
    edited, edited_example = changed_since_stored(ws, prefix, records, before)
    if edited:
        many = edited != 1
        warnings.append(f"{edited:,} photo{'s' if many else ''} of this folder {'have' if many else 'has'} a file of "
                        f"another size than the image stored from {'them' if many else 'it'} (e.g. {edited_example}): "
                        "the catalog keeps the stored copy, as an ingest never replaces an image; to take an edited "
                        "file, give it a new name, and a new photo_id where a metadata sidecar gives ids (a new "
                        "photo: the old one is then dropped as missing_file)")
    removed = drop_removed_photos(ws, prefix, records.loc[present_in_folder(records, images), "source_id"], before)
    warnings += removed_warnings(removed)  # photos gone, and photos still here under new ids (audit CK 7)
    if removed.count:
        report.dropped_by_reason["missing_file"] = report.dropped_by_reason.get("missing_file", 0) + removed.count
    return warnings


def _finish_report(report: IngestReport, contents: _FolderContents, warnings: list[str], label_source: str,
                   column_map: Mapping[str, str], stored_ids: set[str]) -> IngestReport:
    """The engine's report with the folder's warnings and notes first, and the metadata columns it read."""
    report.warnings = [*warnings, *report.warnings]
    report.notes = [*contents.notes, *report.notes]
    table = contents.table
    if table is not None:  # a label column is read only when the labels come from it
        unused = () if label_source == "column" else ("label",)
        report.columns = without_renamed_duplicates(
            credit_derived(column_usage(list(table.columns), dict(column_map), unused, pages_first=True,
                                        blank=blank_columns(table)), table.columns),
            table.columns)
        report.notes += mapping_notes(table, dict(column_map), pages_first=True,  # an empty column passed over, ids
                                      stored_ids=stored_ids)
    return report


def resolve_label_source(requested: str, records: pd.DataFrame, column_map: Mapping[str, str],
                         recipe: Recipe | None) -> str:
    """Turn `auto` into a concrete label source and check the choice can work."""
    has_column = "label" in records.columns
    if requested == "column" and not has_column:
        raise UsageError("--label-from column needs a label column in the metadata; pass --label-column COLUMN")
    if requested == "tags" and recipe is None:
        raise UsageError("--label-from tags needs --recipe NAME (the labels to look for in the tags)")
    if requested == "tags" and not recipe.labels:
        raise UsageError(f"--label-from tags needs a recipe with [[labels]] to look for in the tags; recipe "
                         f"{recipe.name} lists none: add them, or take labels from label subfolders or a label column")
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


def _check_folder(folder: Path) -> Path:
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise UsageError(f"folder {folder} does not exist; pass the folder that holds the photos")
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder; pass the folder that holds the photos")
    return folder.resolve()


def _is_image(name: str) -> bool:
    return not PurePosixPath(name).name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
