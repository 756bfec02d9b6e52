"""What `curate export` says: the dataset card's leakage line, the notes and warnings on what the export left
out or holds (the command line prints them; `--json` and `curate run` carry them), and the one line refusing an
export that would hold no photo. Pure functions over the plan and its counts (curate.export.run composes them)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from curate import schema
from curate.catalog_batches import CatalogFile
from curate.export.config import ExportConfig
from curate.export.plan import (
    AMBIGUOUS,
    CONFLICT_FLAG,
    DAMAGED_REASON,
    FLAG_QUEUES,
    HELD_OUT_SPLITS,
    TOUCHES,
    ExportPlan,
    label_folders,
)

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


def shards_before_upright_note(shards: int) -> str:
    """Why an export wrote shards again whose photos had not changed (audit DA 9): an export made before 2026-12-06
    wrote them (`curate.export.state.UPRIGHT`). A folder format keeps such files where they hold what this version
    writes; a shard holds many photos and is written again once.

    >>> shards_before_upright_note(1)[:57]
    '1 shard was written again once because an export made bef'
    """
    one = shards == 1
    return (f"{shards:,} shard{' was' if one else 's were'} written again once because an export made before "
            "2026-12-06 wrote " + ("it" if one else "them") + ": since then a photo that plain readers misread is "
            "written as the upright 8-bit pixels curate judged, and a shard records which way its photos were "
            "written (a re-export writes none again)")


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
    decides which label is right), but one picture then trains two classes (audit AZ F2: nothing said so). Clusters
    under two labels that hold a collage get their own line: their pictures differ and may each be rightly
    labelled, so the collage is the photo to drop (audit DY F7, as `curate split` says).

    >>> print(label_conflict_warnings({"images": 3, "exact_copies": 1, "near_duplicate_clusters": 2, "photos": 7})[0])
    ... # doctest: +NORMALIZE_WHITESPACE
    3 images are exported under two or more labels (7 photos: 1 byte-identical image, 2 near-duplicate clusters):
    one picture trains more than one class; look at them with `curate review --queue duplicates` and keep the
    copy whose label is right (drop or relabel the others), then run `curate split` and export again
    >>> print(label_conflict_warnings({"images": 0, "exact_copies": 0, "near_duplicate_clusters": 0, "photos": 3,
    ...                                "collage_clusters": 1, "collage_photos": 3})[0])
    ... # doctest: +NORMALIZE_WHITESPACE
    1 near-duplicate cluster exported under two or more labels holds a collage (3 photos): a collage sets different
    pictures side by side and joins their photos in one cluster, so each picture may be rightly labelled; the
    collage is the photo to drop (`curate filter --collages drop`, with --force-collages where its drop is held, or
    `curate review --queue duplicates` for one a reviewer kept), then run `curate split` and export again
    """
    lines = []
    images = conflicts.get("images", 0)
    if images:
        exact, near = conflicts["exact_copies"], conflicts["near_duplicate_clusters"]
        kinds = ", ".join(part for part in (
            f"{exact:,} byte-identical image{'s' if exact != 1 else ''}" if exact else "",
            f"{near:,} near-duplicate cluster{'s' if near != 1 else ''}" if near else "") if part)
        photos = conflicts["photos"] - conflicts.get("collage_photos", 0)
        lines.append(f"{images:,} image{'s are' if images != 1 else ' is'} exported under two or more labels "
                     f"({photos:,} photos: {kinds}): one picture trains more than one class; look at them with "
                     "`curate review --queue duplicates` and keep the copy whose label is right (drop or relabel the "
                     "others), then run `curate split` and export again")
    collages = conflicts.get("collage_clusters", 0)
    if collages:
        lines.append(f"{collages:,} near-duplicate cluster{'s' if collages != 1 else ''} exported under two or more "
                     f"labels hold{'s' if collages == 1 else ''} a collage ({conflicts['collage_photos']:,} photos): a "
                     "collage sets different pictures side by side and joins their photos in one cluster, so each "
                     "picture may be rightly labelled; the collage is the photo to drop (`curate filter --collages "
                     "drop`, with --force-collages where its drop is held, or `curate review --queue duplicates` for "
                     "one a reviewer kept), then run `curate split` and export again")
    return lines


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


def renamed_folder_notes(classes: list[str], export_format: str) -> list[str]:
    """A note when a class's folder is not its label (a `/` or a control character replaced, a long label cut,
    NFC): a reader that takes class names from folders (ImageFolder, Keras, fast.ai) then names, and may
    number, that class otherwise than export.json's `classes` (audit CG: `AC/DC` in `AC_DC`, which also sorts
    after capitals where `AC/DC` sorts before them). None for the formats whose files carry the label.

    >>> print(renamed_folder_notes(["AC/DC", "ACE"], "imagefolder")[0])  # doctest: +NORMALIZE_WHITESPACE
    class folders that are not their labels (a file name cannot hold them as they are): 'AC/DC' in AC_DC; a reader
    that takes classes from folder names (ImageFolder, Keras, fast.ai) names them so, and numbers the classes in
    another order (folders: ACE, AC_DC): map folders to classes with export.json's `class_folders` (docs/export.md)
    """
    if export_format not in SPLIT_NUMBERING:
        return []
    folders = label_folders(classes)
    renamed = [(label, folder) for label, folder in folders.items() if folder != label]
    if not renamed:
        return []
    shown = ", ".join(_renamed(label, folder) for label, folder in renamed[:5]) + (", …" if len(renamed) > 5 else "")
    order = sorted(folders.values())
    numbering = (f", and numbers the classes in another order (folders: {', '.join(order[:8])}"
                 f"{', …' if len(order) > 8 else ''})") if order != [folders[label] for label in classes] else ""
    return [f"class folders that are not their labels (a file name cannot hold them as they are): {shown}; a reader "
            f"that takes classes from folder names (ImageFolder, Keras, fast.ai) names them so{numbering}: map "
            "folders to classes with export.json's `class_folders` (docs/export.md)"]


def _renamed(label: str, folder: str) -> str:
    """`'AC/DC' in AC_DC`; a label that differs from its folder only in its Unicode form is written escaped, as
    the two print alike (review CO: `'São' in São`).

    >>> _renamed("AC/DC", "AC_DC")
    "'AC/DC' in AC_DC"
    >>> print(_renamed("Sa\\u0303o", "S\\u00e3o"))
    'Sa\\u0303o' in 'S\\xe3o' (the same letters in another Unicode form: NFD, NFC)
    """
    if unicodedata.normalize("NFC", label) != folder:
        return f"{label!r} in {folder}"
    return f"{ascii(label)} in {ascii(folder)} (the same letters in another Unicode form: NFD, NFC)"


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
