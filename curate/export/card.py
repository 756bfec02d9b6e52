"""The files beside the images: ATTRIBUTION.csv, the dataset card (README.md), export.json,
and each format's own index (metadata.jsonl per split for hf, manifest.csv for csv).

Each is built as bytes from the plan, with no clock or absolute path of the export folder in
it, so the same catalog gives byte-identical files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pandas as pd

from curate import schema
from curate.export.config import ExportConfig
from curate.export.plan import ExportPlan, PlanSummary, label_folders, metadata_frame
from curate.spreadsheet import spreadsheet_safe


@dataclass(frozen=True)
class Provenance:
    """Where an export came from: the catalog's hash, the recipe (None when stages were run by
    hand), the curation funnel (photos dropped by reason) and the leakage check's verdict."""

    catalog_sha256: str
    recipe: str | None
    photos_in_catalog: int
    dropped_by_reason: dict[str, int]
    leakage: str


def exported_file(rows: pd.DataFrame) -> pd.Series:
    """Where each photo is in the export: its path, or `<shard>/<member>` for the shard formats."""
    return rows["target"] if rows["shard"].isna().all() else rows["shard"] + "/" + rows["target"]




def _csv(frame: pd.DataFrame, header: bool) -> bytes:
    return spreadsheet_safe(frame).to_csv(index=False, header=header, lineterminator="\n").encode("utf-8")


def attribution_csv(rows: pd.DataFrame, header: bool = True) -> bytes:
    """One row per exported photo: file, owner, licence and source page (formula cells escaped);
    `header=False` for the rows after the first chunk of a file written in parts."""
    frame = pd.DataFrame({schema.PHOTO_ID: rows[schema.PHOTO_ID], "file": exported_file(rows),
                          "owner": rows["owner_name"].fillna(rows["owner_id"]),
                          "owner_id": rows["owner_id"], "license": rows["license"],
                          "source_page": rows["page_url"].fillna(rows["url"]), "url": rows["url"]})
    return _csv(frame, header)


def manifest_csv(rows: pd.DataFrame, header: bool = True) -> bytes:
    """The csv format's manifest: path, split, label, owner, licence, attribution, source URL,
    then every catalog column (list cells joined with `|`); `header` as in `attribution_csv`."""
    owner = rows["owner_name"].fillna(rows["owner_id"]).fillna("unknown")
    front = pd.DataFrame({"path": rows["target"], "split": rows["split"], "label": rows["label"], "owner": owner,
                          "license": rows["license"],
                          "attribution": "photo by " + owner + " (" + rows["license"].fillna("licence unknown") + ")",
                          "source_url": rows["page_url"].fillna(rows["url"])})
    rest = rows[[name for name in schema.NAMES if name not in front.columns]].copy()
    for name in rest.columns:
        if str(schema.COLUMN_BY_NAME[name].type).startswith("list"):
            rest[name] = rest[name].map(lambda cell: None if cell is None else "|".join(map(str, cell)))
    return _csv(pd.concat([front, rest], axis=1), header)


def hf_metadata(rows: pd.DataFrame, left_out: tuple[str, ...] = ()) -> dict[str, bytes]:
    """{"<split>/metadata.jsonl": bytes}: `file_name` relative to the split folder, then the metadata, less the
    columns `left_out` (`hf_split_gaps`)."""
    files = {}
    for split, part in rows.groupby("split", sort=True):
        frame = metadata_frame(part).drop(columns=list(left_out))
        frame = frame.assign(file_name=part["target"].str.split("/", n=1).str[1])
        frame = frame[["file_name", *frame.columns[:-1]]]
        text = frame.to_json(orient="records", lines=True, date_format="iso", force_ascii=False)
        files[f"{split}/metadata.jsonl"] = text.encode("utf-8")
    return files


def hf_split_gaps(chunks) -> tuple[str, ...]:
    """The metadata columns that hold a value in some split and none in another (a date, a position or tags on
    none of the val photos). `datasets` types such a column as null in that split's metadata.jsonl and then
    refuses to load the splits together ("different features"; an audit's `taken_at`, on one train photo), so
    the hf export leaves them out of every split's file. `chunks`: the plan's rows, a part at a time.

    >>> from curate.export.plan import METADATA_COLUMNS
    >>> rows = pd.DataFrame({name: [None, None] for name in METADATA_COLUMNS})
    >>> rows = rows.assign(split=["train", "val"], label="a", taken_at=[pd.Timestamp("2020-01-01"), pd.NaT],
    ...                    tags=[["a"], []])
    >>> hf_split_gaps([rows])
    ('tags', 'taken_at')
    """
    filled: dict[str, set[str]] = {}
    splits: set[str] = set()
    for rows in chunks:
        frame = metadata_frame(rows)
        for split, part in frame.groupby("split", sort=False):
            splits.add(str(split))
            for name in part.columns:
                if part[name].map(_has_value).any():
                    filled.setdefault(name, set()).add(str(split))
    return tuple(sorted(name for name, where in filled.items() if where != splits))


def _has_value(cell) -> bool:
    """A cell that is not missing, nor an empty list."""
    if isinstance(cell, list | tuple):
        return len(cell) > 0
    return not pd.isna(cell)


def timm_info(summary: PlanSummary, classes: list[str]) -> bytes:
    """`_info.json` for WebDataset exports: the split -> shards index timm's `wds/` reader reads
    (`timm.data.create_dataset("wds/NAME", root=DIR, split="train")`)."""
    splits = {}
    for split, samples in summary.per_split.items():
        lengths = dict(sorted(summary.shards.get(split, {}).items()))
        splits[split] = {"name": split, "num_samples": samples, "filenames": list(lengths),
                         "shard_lengths": list(lengths.values())}
    return (json.dumps({"name": "curated", "num_classes": len(classes), "classes": classes, "splits": splits},
                       indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def counts_table(summary: PlanSummary) -> pd.DataFrame:
    """Photos per label (rows, sorted) × split (columns), with totals."""
    labels = sorted({label for _, label in summary.split_label})
    order = [s for s in ("train", "val", "test", "unsplit") if s in {split for split, _ in summary.split_label}]
    table = pd.DataFrame([[summary.split_label.get((split, label), 0) for split in order] for label in labels],
                         index=labels, columns=order, dtype="int64")
    table["total"] = table.sum(axis=1)
    return table


def manifest_json(plan: ExportPlan, config: ExportConfig, provenance: Provenance, files: list[str],
                  notes: list[str] | None = None) -> bytes:
    """export.json: what was exported, from what, how, and where each split's files are; `notes`
    (only when there are some): what the export did other than asked (a link made a copy)."""
    summary = plan.summary
    counts = counts_table(summary) if summary.photos else pd.DataFrame()
    manifest = {
        "format": config.format, "config": asdict(config), "provenance": asdict(provenance),
        "classes": plan.classes,
        # each class's folder (imagefolder, hf, csv): the label, unless a file name cannot hold it (audit CG: the
        # documented loader looked for DIR/train/AC/DC and skipped AC/DC's photos in silence)
        **({"class_folders": label_folders(plan.classes)} if config.folder_format else {}),
        "photos": summary.photos,
        "per_split": summary.per_split,
        "per_split_label": {split: {label: int(n) for label, n in counts[split].items() if n}
                            for split in counts.columns if split != "total"},
        "excluded": plan.excluded,
        "flagged": plan.flagged,  # exported photos a stage flagged but kept, by flag
        "label_conflicts": plan.label_conflicts,  # images exported under two or more labels (plan.label_conflicts)
        "missing_images": plan.missing.to_dict("records"),
        "shards": sorted(shard for shards in summary.shards.values() for shard in shards)
        if not config.folder_format else [],
        "index_files": files,
    }
    if notes:
        manifest["notes"] = list(notes)
    return (json.dumps(manifest, indent=1, ensure_ascii=False, default=str) + "\n").encode("utf-8")


LOADING = {
    "imagefolder": ("torchvision / fast.ai / Keras", """```python
from torchvision.datasets import ImageFolder
train = ImageFolder("DIR/train")            # fast.ai: ImageDataLoaders.from_folder("DIR", valid="val")
# Keras: keras.utils.image_dataset_from_directory("DIR/train")
```"""),
    "hf": ("Hugging Face datasets", """```python
from datasets import load_dataset
splits = load_dataset("imagefolder", data_dir="DIR")  # train / validation / test, metadata as columns
```"""),
    "hf-parquet": ("Hugging Face datasets", """```python
from datasets import load_dataset
splits = load_dataset("parquet", data_dir="DIR")  # train / validation / test; image, label (ClassLabel), metadata
```"""),
    "webdataset": ("webdataset / timm", """```python
import webdataset as wds
train = wds.WebDataset("DIR/train-{000000..NNNNNN}.tar").decode("pil").to_tuple("jpg;png;webp", "cls")
```"""),
    "csv": ("anything that reads a CSV", """```python
import pandas as pd
manifest = pd.read_csv("DIR/manifest.csv")  # path (relative to DIR), split, label, owner, license, ...
```"""),
}


def _markdown(frame: pd.DataFrame, index_name: str) -> str:
    frame = frame.reset_index()
    frame.columns = [index_name, *frame.columns[1:]]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def dataset_card(plan: ExportPlan, config: ExportConfig, provenance: Provenance) -> bytes:
    """README.md: counts per split × label, licences, the curation funnel, the leakage check, the
    recipe and catalog hash, and how to load the format."""
    summary = plan.summary
    name = provenance.recipe or "curated photos"
    licences = pd.Series(dict(sorted(summary.licences.items())), name="photos", dtype="int64")
    funnel = pd.Series({"photos in the catalog": provenance.photos_in_catalog,
                        **{f"dropped: {reason}": n for reason, n in sorted(provenance.dropped_by_reason.items())},
                        # "not kept" is the sum of the dropped lines above it: said again, the column added up to
                        # more photos than the catalog holds (audit BB: 273 - 76 - 76 is not 197)
                        **{f"not exported: {reason}": n for reason, n in plan.excluded.items() if reason != "not kept"},
                        "exported": summary.photos,
                        **{f"exported, flagged: {flag}": n for flag, n in plan.flagged.items() if n}}, name="photos")
    consumer, snippet = LOADING[config.format]
    if config.format == "webdataset" and summary.photos:
        first = "train" if "train" in summary.per_split else next(iter(summary.per_split))
        last = max(summary.shards[first])
        snippet = snippet.replace("train-{000000..NNNNNN}", f"{first}-{{000000..{last[len(first) + 1:-4]}}}")
    parts = [
        "---", "task_categories:", "- image-classification", f"pretty_name: {json.dumps(name)}", "---", "",
        f"# {name}", "",
        f"{summary.photos:,} photos in {len(plan.classes)} classes, exported by "
        f"`curate export --format {config.format}`"
        f" from the catalog with sha256 `{provenance.catalog_sha256}`"
        + (f" (recipe `{provenance.recipe}`)." if provenance.recipe else " (stages run by hand, no recipe)."), "",
        "## Photos per split and label", "",
        _markdown(counts_table(summary), "label") if summary.photos else "(none)", "",
        "## Licences", "", _markdown(licences.to_frame(), "licence") if summary.photos else "(none)", "",
        "Every photo's owner, licence and source page are in `ATTRIBUTION.csv`; keep that file with the "
        "images and credit the owners as their licences require.", "",
        "## Curation funnel", "", _markdown(funnel.to_frame(), "step"), "",
        "## Leakage check", "", provenance.leakage, "",
        f"## Loading ({consumer})", "", snippet, "",
    ]
    if any(plan.flagged.values()):
        parts += ["## Photos flagged but kept", "",
                  "Exported photos a curation stage flagged without dropping them (counts in the funnel above; a "
                  "photo may carry two flags): label issues (`is_label_issue`: the out-of-fold label model "
                  "confidently believes another label), photos the topic check doubted (`topic_doubted`: below its cut "
                  "while its drops were held, or untagged and under its recovery floor), and failed quality checks "
                  "that were not dropped (`quality_issues`). They "
                  "train as labelled. `curate review` lists them; the catalog's columns name each photo.", ""]
        conflicts = plan.label_conflicts
        if conflicts.get("images") or conflicts.get("collage_clusters"):
            parts[-1:] = ["", conflict_paragraph(conflicts), ""]
    if len(plan.missing):
        parts += ["## Photos without a stored image", "",
                  f"{len(plan.missing)} photos were not exported; `export.json` lists them (missing_images).", ""]
    return "\n".join(parts).encode("utf-8")


def conflict_paragraph(conflicts: dict[str, int]) -> str:
    """The card's paragraph on the images exported under two or more labels (plan.label_conflicts), and the
    clusters under two labels that hold a collage.

    >>> print(conflict_paragraph({"images": 1, "exact_copies": 0, "near_duplicate_clusters": 1, "photos": 2}))
    ... # doctest: +NORMALIZE_WHITESPACE
    An image under two or more labels: 1 image (0 byte-identical, 1 near-duplicate cluster; 2 photos) is exported
    under more than one label, so one picture trains more than one class; `curate review --queue duplicates` shows
    each cluster with its labels.
    >>> print(conflict_paragraph({"images": 0, "exact_copies": 0, "near_duplicate_clusters": 0, "photos": 3,
    ...                           "collage_clusters": 1, "collage_photos": 3}))  # doctest: +NORMALIZE_WHITESPACE
    A collage under two or more labels: 1 near-duplicate cluster (3 photos) holds a collage of pictures filed under
    different labels; the collage, not a picture, trains more than one class.
    """
    parts = []
    images, clusters = conflicts["images"], conflicts["near_duplicate_clusters"]
    if images:
        photos = conflicts["photos"] - conflicts.get("collage_photos", 0)
        parts.append(f"An image under two or more labels: {images:,} image{'s' if images != 1 else ''} "
                     f"({conflicts['exact_copies']:,} byte-identical, {clusters:,} near-duplicate "
                     f"cluster{'s' if clusters != 1 else ''}; {photos:,} photos) "
                     f"{'are' if images != 1 else 'is'} exported under more than one label, so one picture trains "
                     "more than one class; `curate review --queue duplicates` shows each cluster with its labels.")
    collages = conflicts.get("collage_clusters", 0)
    if collages:
        parts.append(f"A collage under two or more labels: {collages:,} near-duplicate "
                     f"cluster{'s' if collages != 1 else ''} ({conflicts['collage_photos']:,} photos) "
                     f"hold{'s' if collages == 1 else ''} a collage of pictures filed under different labels; the "
                     "collage, not a picture, trains more than one class.")
    return " ".join(parts)
