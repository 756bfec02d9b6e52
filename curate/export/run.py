"""`export_workspace`: the I/O edge of `curate export` (read the catalog, check the split,
plan, write, tidy up); what it says is curate.export.messages'."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from curate import objectstore
from curate.catalog_batches import CatalogFile
from curate.contamination import copies_line, last_check
from curate.errors import DataContractError, UsageError
from curate.export.card import (
    Provenance,
    attribution_csv,
    dataset_card,
    hf_metadata,
    hf_split_gaps,
    manifest_csv,
    manifest_json,
    timm_info,
)
from curate.export.checks import validate_keys
from curate.export.config import ExportConfig
from curate.export.files import Progress, StreamedFile, write_if_changed
from curate.export.messages import (
    format_notes,
    leakage_line,
    misread_links_warning,
    missing_class_notes,
    nothing_to_export,
    plan_warnings,
    renamed_folder_notes,
    shards_before_upright_note,
    touching_notes,
)
from curate.export.plan import ExportPlan
from curate.export.source import ImageSource, StaleSize
from curate.export.spill import plan_from_file
from curate.export.state import MANIFEST_FILE, PLAN_FOLDER, Journal, is_ours, load_state, previous_format, save_state
from curate.export.state_on_disk import StateOnDisk
from curate.export.targets import check_target, remove_left, remove_stale_plans
from curate.export.upload import (
    UploadResult,
    check_destination,
    destination,
    for_object_store,
    local_folder,
    staging_folder,
    upload_export,
)
from curate.export.writers import write_folder_files, write_shards
from curate.workspace import Workspace, catalog_sha256, read_catalog

STALE_PLANS = 2  # plans that trust remembered image sizes (curate.export.sizes), before one that does not


@dataclass
class ExportResult:
    """What an export did: the plan, files (images or shards) written and reused, files removed."""

    out: Path | str  # a folder, or the URL of an export to an object store
    plan: ExportPlan
    written: int
    reused: int
    removed: int
    notes: list[str] = field(default_factory=list)  # e.g. a link that became a copy (from an object store)
    upload: UploadResult | None = None  # an export to an object store: what the upload from staging did
    warnings: list[str] = field(default_factory=list)  # the split is not what its card claims (copies of a benchmark)

    def to_dict(self) -> dict:
        summary = self.plan.summary
        return {"out": str(self.out), "photos": summary.photos, "classes": self.plan.classes,
                "per_split": summary.per_split,
                "written": self.written, "reused": self.reused, "removed": self.removed,
                "excluded": self.plan.excluded, "flagged": self.plan.flagged,
                "label_conflicts": self.plan.label_conflicts,
                "missing_images": int(len(self.plan.missing)), "notes": self.notes,
                "warnings": self.warnings,
                **({"upload": self.upload.to_dict()} if self.upload is not None else {})}


class DamagedFound(Exception):
    """The writers met stored images whose bytes no longer match their SHA-256 (ImageSource.damaged):
    the plan, which counted them, is out of date. `written`: the files this pass wrote."""

    def __init__(self, written: int):
        super().__init__(written)
        self.written = written


def check_split_for_export(ws: Workspace, catalog: pd.DataFrame | CatalogFile) -> None:
    """Refuse a stale split or one that leaks (DataContractError, exit 3), as `classify train` does.
    A CatalogFile is judged in batches, grouped on disk when large (memory flat in the size of
    the catalog: curate.export.checks)."""
    from curate.export.checks import find_leakage as grouped_leakage
    from curate.freshness_workspace import require_fresh_split
    from curate.leakage import find_leakage

    require_fresh_split(ws, catalog)
    leaks = find_leakage(catalog) if isinstance(catalog, pd.DataFrame) else grouped_leakage(catalog)
    if len(leaks):
        summary = ", ".join(f"{n} {kind}" for kind, n in leaks["kind"].value_counts().items())
        raise DataContractError(f"the split leaks ({summary} found in 2+ splits; `curate check-leakage` lists "
                                "them): run `curate split` again before exporting")


def image_sizes(ws: Workspace, catalog: pd.DataFrame) -> pd.Series:
    """Size in bytes of each row's stored image (NaN where there is none), indexed like `catalog`;
    read from wherever the workspace keeps its images (curate.export.source)."""
    with ImageSource(ws) as source:
        return source.sizes(catalog)


def recorded_recipe(ws: Workspace) -> str | None:
    """The recipe of the newest `curate run` journal in the workspace, if any."""
    journals = sorted(ws.journal_dir.glob("run-*.json"), key=lambda p: (p.stat().st_mtime, p.name))
    for path in reversed(journals):
        try:
            recipe = json.loads(path.read_text(encoding="utf-8")).get("recipe")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(recipe, str):
            return Path(recipe).stem
    return None


def export_workspace(ws: Workspace, out: Path | str, config: ExportConfig, progress: Progress | None = None,
                     recipe: str | None = None) -> ExportResult:
    """Export the workspace's curated set to `out` in `config.format` (see curate.export), reading
    the images from wherever the workspace keeps them (its folder, a local folder or an object
    store: curate.export.source; from an object store a link becomes a copy, noted in the result
    and export.json).

    `out` is a folder, or an fsspec URL (`s3://bucket/prefix`, `gs://...`): then the export is
    written to a staging folder in the workspace and uploaded from there (curate.export.upload),
    after a probe write that makes a missing bucket or permission one line.

    Resumes an interrupted export and rewrites only what changed. Raises UsageError for a bad
    target folder or URL, DataContractError for a stale or leaky split, UpstreamError for an
    object store that cannot be read or written.
    """
    if not ws.catalog_path.exists():
        read_catalog(ws)  # the usual one-line UsageError
    if not str(out).strip():  # Path("") is the current folder: `-o ""` (an unset shell variable) exported there
        raise UsageError("--out is empty; pass the export folder (e.g. --out export) or a bucket URL")
    url = destination(out)
    if url is not None:
        check_destination(ws, url)
        objectstore.probe_write(url, "the export destination", "the export")
    with ImageSource(ws) as source:
        config, notes = source.effective(config)
        if url is not None:
            config, more = for_object_store(config, url)
            notes = [*notes, *more]
        folder = staging_folder(ws, url) if url is not None else local_folder(out)
        source.verify = config.verify
        stale_plans, written_before = 0, 0
        while True:
            try:
                result = _export(ws, folder, config, source, progress, recipe, notes)
                moved = min(written_before, result.reused)  # what an earlier pass wrote, this one reused
                result.written, result.reused = result.written + moved, result.reused - moved
                break
            except StaleSize as stale:
                # the plan trusted a remembered size whose object is gone: plan again (what was
                # written is kept) asking the store for that image, and after a second such
                # object for every image (one pass then finds every deletion; a plan that trusts
                # no remembered size cannot raise StaleSize)
                stale_plans += 1
                source.size_cache.distrust(stale.image_path, everything=stale_plans >= STALE_PLANS)
            except DamagedFound as found:
                # plan again without the damaged images (what was written is kept); each plan
                # finds at least one more, so this ends
                written_before += found.written
            except PermissionError as exc:  # a read-only subfolder of an earlier export (audit J); what was
                # written is kept, and the next run goes on from there
                raise UsageError(f"cannot write in the export folder {folder} ({exc.strerror or 'permission denied'}"
                                 f": {exc.filename}); make it writable, or pass another --out") from None
    if url is not None:
        result.upload = upload_export(folder, url, progress)
        result.out = url
    return result


def _export(ws: Workspace, out: Path, config: ExportConfig, source: ImageSource, progress: Progress | None,
            recipe: str | None, notes: list[str]) -> ExportResult:
    check_target(out, ws.root, config.overwrite, source.folder)  # first: a bad --out is the cheapest to say
    catalog = CatalogFile(ws.catalog_path)  # read in batches, only the columns each step needs
    validate_keys(catalog)
    check_split_for_export(ws, catalog)
    pa.default_memory_pool().release_unused()  # the checks' batches: give the pages back before the plan
    source.check_readable()
    existed = out.exists()
    earlier = previous_format(out)  # a switch of format replaces the earlier export's files: said
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only parent, a file in the way, a full disk: the user's to fix
        raise UsageError(f"cannot create the export folder {out} ({exc.strerror or exc}); pass a folder you can "
                         "write to with --out") from None
    try:
        remove_stale_plans(out)
        spill = Path(tempfile.mkdtemp(prefix=PLAN_FOLDER, dir=out))  # the plan's sorted buckets
    except OSError as exc:  # a read-only folder the permission check could not see (another user's mount)
        raise UsageError(f"--out {out} is not writable ({exc.strerror or exc}); pass a folder you can write "
                         "to") from None
    try:
        source.begin_plan(spill)
        plan = plan_from_file(catalog, config, source.sizes, spill)
        source.end_plan()  # the sizes the store was asked for, remembered for the next export
        if not plan.photos:  # before a file is written or removed: an earlier export in `out` stays (audit AL)
            raise UsageError(nothing_to_export(plan.excluded))
        notes = [*notes, *renamed_folder_notes(plan.classes, config.format),
                 *missing_class_notes(plan.summary.split_label, plan.classes, config.format),
                 *format_notes(catalog, config), *touching_notes(plan.excluded)]
        catalog_hash = catalog_sha256(ws)
        copies = copies_line(*last_check(ws, catalog_hash))  # copies of another collection's photos: said
        notes = [*notes, *([copies] if copies else [])]
        provenance = Provenance(catalog_hash, recipe or recorded_recipe(ws), len(catalog),
                                {str(k): int(v) for k, v in catalog.value_counts("drop_reason").items()},
                                leakage_line(plan, config) + (f" But {copies}." if copies else ""))
        # a plan sorted on disk has its folder-format state on disk too (one entry per photo)
        on_disk = config.folder_format and plan.frame is None
        if on_disk:
            previous = StateOnDisk(out, spill)
        else:
            previous = load_state(out) if is_ours(out) else {}
        write = write_folder_files if config.folder_format else write_shards
        damaged_before = len(source.damaged)
        with Journal(out) as journal:  # each file or shard journalled before and after it is placed
            written, state = write(out, plan, source, config, previous, journal, progress)
        if len(source.damaged) > damaged_before:
            raise DamagedFound(written)
        side_files = write_side_files(out, plan, config, provenance, notes)
        if on_disk:
            units = previous.recorded
            removed = previous.finish(out, side_files, config.overwrite)
        else:
            units = len(state)
            state.update(side_files)
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        if not existed and not any(os.scandir(out)):
            out.rmdir()
        raise
    shutil.rmtree(spill, ignore_errors=True)
    if not on_disk:
        removed = remove_left(out, set(state), set(previous), config.overwrite)
        save_state(out, state)
    notes = [note for note in notes if note != copies]
    if source.upright:  # not in export.json either: a count of this run's writes (a re-export writes none)
        one = source.upright == 1
        notes.append(f"{source.upright:,} photo{' was' if one else 's were'} written as the upright 8-bit pixels "
                     f"curate judged, not {'its' if one else 'their'} stored bytes: an EXIF rotation, 16- or "
                     "32-bit pixels, a colour profile other than sRGB or transparency, which torchvision, "
                     "webdataset, timm and Keras would not apply (docs/export.md)")
    if source.shards_before_upright:  # (audit DA 9: every file written again, and nothing said why)
        notes.append(shards_before_upright_note(source.shards_before_upright))
    misread = [misread_links_warning(source.misread_links, config.link)] if source.misread_links else []
    if earlier is not None and earlier != config.format:  # not in export.json: a fact of this run (audit AL F7)
        notes.append(f"{out} held an earlier {earlier} export: its files were removed ({removed:,} in all) and this "
                     f"{config.format} export replaces it")
    return ExportResult(out, plan, written, units - written, removed, notes,
                        warnings=[*([copies] if copies else []), *plan_warnings(plan, out), *misread])


def write_side_files(out: Path, plan: ExportPlan, config: ExportConfig, provenance: Provenance,
                     notes: list[str] | None = None) -> dict[str, str]:
    """Write every file beside the images (export.json last); returns {path in the export: sha256}.
    The per-photo ones (ATTRIBUTION.csv, manifest.csv, metadata.jsonl) are written a chunk of
    the plan at a time."""
    sinks = {"ATTRIBUTION.csv": StreamedFile(out / "ATTRIBUTION.csv")}
    if config.format == "csv":
        sinks["manifest.csv"] = StreamedFile(out / "manifest.csv")
    gaps = hf_split_gaps(plan.chunks()) if config.format == "hf" else ()  # one more pass, for hf alone
    if gaps and notes is not None:
        notes.append(f"metadata.jsonl leaves out {', '.join(gaps)}: empty in every photo of a split, which "
                     "`datasets` cannot load beside the values of another split (--format hf-parquet keeps them)")
    try:
        for number, rows in enumerate(plan.chunks()):
            sinks["ATTRIBUTION.csv"].write(attribution_csv(rows, header=number == 0))
            if config.format == "csv":
                sinks["manifest.csv"].write(manifest_csv(rows, header=number == 0))
            if config.format == "hf":
                for name, data in hf_metadata(rows, gaps).items():
                    if name not in sinks:
                        sinks[name] = StreamedFile(out / name)
                    sinks[name].write(data)
    except BaseException:
        for sink in sinks.values():
            sink.discard()
        raise
    hashes = {name: sink.finish() for name, sink in sinks.items()}
    small = {"README.md": dataset_card(plan, config, provenance)}
    if config.format == "webdataset":  # (hf-parquet needs no index: the file names say the split)
        small["_info.json"] = timm_info(plan.summary, plan.classes)
    small[MANIFEST_FILE] = manifest_json(plan, config, provenance, sorted([*hashes, *small]), notes)
    for name, data in small.items():
        write_if_changed(out / name, data)
        hashes[name] = hashlib.sha256(data).hexdigest()
    return hashes
