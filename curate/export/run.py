"""`export_workspace`: the I/O edge of `curate export` (read the catalog, check the split,
plan, write, tidy up)."""

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

from curate import objectstore, schema
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
from curate.export.plan import (
    AMBIGUOUS,
    CONFLICT_FLAG,
    DAMAGED_REASON,
    FLAG_QUEUES,
    HELD_OUT_SPLITS,
    TOUCHES,
    ExportPlan,
)
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
NO_LEAKS = "No photographer, near-duplicate cluster or exact image spans two splits (checked when exporting)."
# `--labels all`: what was checked of the photos outside the split (plan.leave_out_touching)
UNSPLIT_CHECKED = ("No photographer, near-duplicate cluster or exact image spans train, val and test (checked when "
                   "exporting). `unsplit` holds no photo by a photographer of a val or test photo, nor a copy of one "
                   "(the same image, or its near-duplicate cluster): {left_out} such photos were left out of it "
                   "(the funnel counts them); it may share photographers and images with train, as it is meant to "
                   "train beside it.")


def leakage_line(plan: ExportPlan, config: ExportConfig) -> str:
    """The dataset card's leakage verdict: what the export checked (audit AZ F3: with `--labels all`, it said no
    image spans two splits while `unsplit` held copies of test photos)."""
    if config.labels != "all":
        return NO_LEAKS
    return UNSPLIT_CHECKED.format(left_out=f"{touching_left_out(plan.excluded):,}")


def touching_left_out(excluded: dict[str, int]) -> int:
    """How many unsplit photos were left out for touching a held-out split (plan.TOUCHES)."""
    prefixes = tuple(TOUCHES.format(split=split) for split in HELD_OUT_SPLITS)
    return sum(count for reason, count in excluded.items() if reason.startswith(prefixes))


def touching_notes(excluded: dict[str, int]) -> list[str]:
    """A note counting the unsplit photos left out because they touch the test or val split, by split."""
    per_split = {split: sum(count for reason, count in excluded.items()
                            if reason.startswith(TOUCHES.format(split=split))) for split in HELD_OUT_SPLITS}
    total = sum(per_split.values())
    if not total:
        return []
    parts = ", ".join(f"{count:,} touching {split}" for split, count in per_split.items() if count)
    return [f"{total:,} labelled photo{'s' if total != 1 else ''} outside the split {'were' if total != 1 else 'was'} "
            f"left out of unsplit ({parts}): by a photographer of a test or val photo, or a copy of one (same image "
            "or near-duplicate cluster); training on train + unsplit would otherwise train on the held-out photos "
            "(export.json's `excluded` counts them by reason)"]


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
    from curate.freshness import require_fresh_split
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
        notes = [*notes, *missing_class_notes(plan.summary.split_label, plan.classes, config.format),
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
    misread = [misread_links_warning(source.misread_links, config.link)] if source.misread_links else []
    if earlier is not None and earlier != config.format:  # not in export.json: a fact of this run (audit AL F7)
        notes.append(f"{out} held an earlier {earlier} export: its files were removed ({removed:,} in all) and this "
                     f"{config.format} export replaces it")
    return ExportResult(out, plan, written, units - written, removed, notes,
                        warnings=[*([copies] if copies else []), *plan_warnings(plan, out), *misread])


def misread_links_warning(photos: int, link: str) -> str:
    """The warning for a link export holding photos whose stored bytes plain readers misread (audit AU 7): a
    count of this run's links, as the upright note counts this run's copies.

    >>> misread_links_warning(1, "hardlink")[:62]
    '1 hard-linked photo is its stored file, which plain readers mi'
    """
    kind = {"hardlink": "hard-linked", "symlink": "symlinked"}.get(link, "linked")
    one = photos == 1
    return (f"{photos:,} {kind} photo{' is its' if one else 's are their'} stored file{'' if one else 's'}, which "
            "plain readers misread (an EXIF rotation, 16- or 32-bit pixels, a colour profile other than sRGB or "
            "transparency, which torchvision, webdataset, timm and Keras would not apply): export with --link copy "
            "to write such photos as the upright 8-bit pixels curate judged (docs/export.md)")


def plan_warnings(plan: ExportPlan, out: Path) -> list[str]:
    """What the export left out that the user can put back, and what it holds that a stage doubted: one line
    each (the command line prints them; `--json` and `curate run` carry them too: audit AW4, where they were
    composed by the command line alone). Audit AV5: an export carried 19 photos of food labelled dog, flagged
    as label issues, under a funnel that never said so."""
    lines = []
    missing = plan.missing
    damaged, absent = missing[missing["reason"] == DAMAGED_REASON], missing[missing["reason"] != DAMAGED_REASON]
    if len(absent):
        lines.append(f"{len(absent)} photos have no stored image and were not exported (first: "
                     f"{absent.iloc[0]['photo_id']}); {out}/export.json lists them")
    if len(damaged):
        many = len(damaged) > 1
        lines.append(f"{len(damaged)} stored image{'s are' if many else ' is'} damaged (the bytes no longer match the "
                     f"SHA-256 they were stored under; first: {damaged.iloc[0]['photo_id']}) and not exported; "
                     f"{out}/export.json lists them. Delete the damaged files from the image store and run `curate "
                     "ingest` again to store them anew")
    ambiguous = plan.excluded.get(AMBIGUOUS, 0)
    if ambiguous:
        one = ambiguous == 1
        lines.append(f"{ambiguous:,} kept photo{' has' if one else 's have'} tags naming two or more labels (the "
                     f"filter held {'its' if one else 'their'} drops as ambiguous) and {'was' if one else 'were'} not "
                     "exported; `curate review --queue ambiguous` gives each its label")
    unlabelled = plan.excluded.get("kept without a label", 0)
    if unlabelled:
        one = unlabelled == 1
        lines.append(f"{unlabelled:,} kept photo{' has' if one else 's have'} no label and {'was' if one else 'were'} "
                     f"not exported; give {'it' if one else 'them'} a label (label folders, a label column, or "
                     "`curate review`) to include them")
    lines += label_conflict_warnings(plan.label_conflicts)
    flagged = {flag: count for flag, count in plan.flagged.items() if count and flag != CONFLICT_FLAG}
    if flagged:
        words = {"label issue": "label issues", "doubted off topic": "doubted off topic",
                 "quality issue": "with a failed quality check"}
        counts = ", ".join(f"{count:,} {words.get(flag, flag)}" for flag, count in flagged.items())
        queues = ", ".join(f"--queue {FLAG_QUEUES[flag]}" for flag in flagged)
        lines.append(f"the export holds photos a stage flagged but kept ({counts}; a photo may carry two flags): "
                     f"they train as labelled; look at them with `curate review` ({queues}) and drop or relabel what "
                     "is wrong, or drop them all (`curate prefilter --drop-label-issues` or `--force`, `curate filter "
                     "--drop-quality CHECK`), then export again")
    return lines


def label_conflict_warnings(conflicts: dict[str, int]) -> list[str]:
    """A line on the images exported under two or more labels (plan.label_conflicts): they are exported (the user
    decides which label is right), but one picture then trains two classes (audit AZ F2: nothing said so).

    >>> print(label_conflict_warnings({"images": 3, "exact_copies": 1, "near_duplicate_clusters": 2, "photos": 7})[0])
    ... # doctest: +NORMALIZE_WHITESPACE
    3 images are exported under two or more labels (7 photos: 1 byte-identical image, 2 near-duplicate clusters):
    one picture trains more than one class; look at them with `curate review --queue duplicates` and keep the
    copy whose label is right (drop or relabel the others), then run `curate split` and export again
    """
    images = conflicts.get("images", 0)
    if not images:
        return []
    exact, near = conflicts["exact_copies"], conflicts["near_duplicate_clusters"]
    kinds = ", ".join(part for part in (
        f"{exact:,} byte-identical image{'s' if exact != 1 else ''}" if exact else "",
        f"{near:,} near-duplicate cluster{'s' if near != 1 else ''}" if near else "") if part)
    return [f"{images:,} image{'s are' if images != 1 else ' is'} exported under two or more labels "
            f"({conflicts['photos']:,} photos: {kinds}): one picture trains more than one class; look at them with "
            "`curate review --queue duplicates` and keep the copy whose label is right (drop or relabel the "
            "others), then run `curate split` and export again"]


# what to change when a reason left every photo out of an export (ExportPlan.excluded's keys)
EXCLUDED_FIXES = {"licence not allowed": "widen --licences", "split not exported": "widen --splits",
                  "not kept": "look at `curate status` (nothing is kept)",
                  "kept without a split": "run `curate split`", "kept without a label": "label them (`curate review`)",
                  "without a label": "give the photos labels (folders, a label column, or `curate review`)",
                  AMBIGUOUS: "give each its label in `curate review --queue ambiguous`",
                  "no stored image": "ingest the images", "damaged stored image": "ingest the images again"}


def nothing_to_export(excluded: dict[str, int]) -> str:
    """The one line refusing an export that would hold no photo: what left the photos out (most first) and
    what to change (audit AL: `--licences cc-by-sa` on a cc-by collection exited 0, "0 photos", and removed
    the 202 files of the export already in that folder).

    >>> nothing_to_export({"licence not allowed": 199, "split not exported": 0, "not kept": 700})
    'nothing to export: every photo is left out (not kept 700, licence not allowed 199); widen --licences'
    >>> nothing_to_export({"without a label": 40}).split("; ")[-1]
    'give the photos labels (folders, a label column, or `curate review`)'
    """
    ranked = sorted(((n, reason) for reason, n in excluded.items() if n), key=lambda item: (-item[0], item[1]))
    why = ", ".join(f"{reason} {n:,}" for n, reason in ranked) or "the catalog holds no photo"
    # (dropped photos are never exported: "not kept" is the fix only when nothing else left photos out; audit AO)
    fixes = list(dict.fromkeys(EXCLUDED_FIXES.get(reason, "") for _, reason in ranked if reason != "not kept"))
    fixes = [fix for fix in fixes if fix] or [EXCLUDED_FIXES["not kept"] if ranked else
                                              "run the pipeline first (`curate status` says what is left to run)"]
    return f"nothing to export: every photo is left out ({why}); {', or '.join(fixes)}"


# Stored formats that common readers skip or cannot decode: torchvision's ImageFolder lists only its own
# extensions (no .heic, .avif) and leaves other files out without a word; HEIC needs pillow-heif anywhere.
UNCOMMON_FORMATS = {"HEIF": "HEIC/HEIF", "AVIF": "AVIF"}


def format_notes(catalog: CatalogFile, config: ExportConfig) -> list[str]:
    """A note when kept photos are stored as HEIC or AVIF and the export copies their bytes (no `--resize`):
    many readers would leave them out (curate.imageformats)."""
    if config.resize:
        return []
    counts: dict[str, int] = {}
    for batch in catalog.batches(["status", "image_format"]):
        kept = batch.loc[batch["status"] == schema.KEPT, "image_format"]
        for name, n in kept[kept.isin(list(UNCOMMON_FORMATS))].value_counts().items():
            counts[name] = counts.get(name, 0) + int(n)
    if not counts:
        return []
    return [uncommon_format_note(counts)]


def uncommon_format_note(counts: dict[str, int]) -> str:
    """The note of `format_notes`.

    >>> print(uncommon_format_note({"HEIF": 40, "AVIF": 2}))  # doctest: +NORMALIZE_WHITESPACE
    42 kept photos are stored as HEIC/HEIF (40) or AVIF (2) and are exported as they are: torchvision's
    ImageFolder skips those files without a word, and reading HEIC needs pillow-heif; export again with
    --resize SIDE (say 4096) to write every photo as JPEG
    """
    total, many = sum(counts.values()), sum(counts.values()) != 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    kinds = " or ".join(f"{UNCOMMON_FORMATS[name]} ({n:,})" for name, n in ranked)
    return (f"{total:,} kept photo{'s are' if many else ' is'} stored as {kinds} and {'are' if many else 'is'} "
            f"exported as {'they are' if many else 'it is'}: torchvision's ImageFolder skips those files without "
            f"a word, and reading HEIC needs pillow-heif; export again with --resize SIDE (say 4096) to write every "
            f"photo as JPEG")


# who numbers the classes from what each split holds, per format (webdataset and hf-parquet store the export's
# class index: nothing shifts there); audit AL: `datasets`' class_encode_column numbers each split on its own
SPLIT_NUMBERING = {"imagefolder": "a reader that numbers classes from each split's folders (ImageFolder, Keras)",
                   "hf": "`datasets`' class_encode_column, which numbers each split's labels on its own,",
                   "csv": "a reader that numbers the labels each split holds"}


def missing_class_notes(split_label: dict[tuple[str, str], int], classes: list[str],
                        export_format: str = "imagefolder") -> list[str]:
    """A note when some split lacks some of the export's classes: a reader that numbers the classes from each
    split's own folders (torchvision's ImageFolder, Keras) then shifts the indices of that split (the audit of
    all 5,614 real photos: train 21 class folders, val 18, test 19, and nothing said so). None for the formats
    that store the class index (`SPLIT_NUMBERING`).

    >>> print(missing_class_notes({("train", "a"): 5, ("train", "b"): 3, ("val", "a"): 1}, ["a", "b"])[0])
    ... # doctest: +NORMALIZE_WHITESPACE
    val holds 1 of the 2 classes (not b): a reader that numbers classes from each split's folders (ImageFolder,
    Keras) shifts them there; take the class list from export.json's `classes` (docs/export.md)
    """
    if export_format not in SPLIT_NUMBERING:
        return []
    present: dict[str, set[str]] = {}
    for split, label in split_label:
        present.setdefault(split, set()).add(label)
    short = {split: sorted(set(classes) - labels) for split, labels in sorted(present.items())
             if set(classes) - labels}
    if not short:
        return []
    parts = [f"{split} holds {len(classes) - len(missing)} of the {len(classes)} classes (not "
             f"{', '.join(missing[:6])}{', …' if len(missing) > 6 else ''})" for split, missing in short.items()]
    return [f"{'; '.join(parts)}: {SPLIT_NUMBERING[export_format]} shifts them there; take the class list from "
            "export.json's `classes` (docs/export.md)"]


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
