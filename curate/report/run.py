"""The I/O edge of `curate report`: read the workspace, write `<workspace>/report/`.

Layout of the report folder (copy it anywhere, it still works offline):
index.html, report.json, attribution.csv, thumbs/<sha256>.jpg (max side 128 px),
plots/*.png (matplotlib), training/*.png (copied from the newest run).
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from curate import objectstore, schema
from curate.errors import DataContractError, UsageError
from curate.freshness_workspace import workspace_states
from curate.ingest.demo import read_truth
from curate.report import plots
from curate.report.data import attribution_rows, build_report
from curate.report.html import render_html
from curate.report.training import copies_section
from curate.settings_fields import SettingError
from curate.spreadsheet import spreadsheet_safe
from curate.stage_reports import load_stage_report
from curate.store import open_rgb
from curate.workspace import Workspace, atomic_file, atomic_write_bytes, catalog_sha256, read_catalog

STAGES = ("filter", "split", "prefilter", "embed")
THUMB_SIDE = 128




def check_report_limits(max_gallery: int, max_rows: int, owner_alarm: float) -> None:
    """SettingError unless the report's caps make sense; the one check behind both
    `curate report --max-gallery/--max-rows/--owner-alarm` and a recipe's [report] (each
    renders the setting's name as the user gave it: flag or key)."""
    for name, value in (("max_gallery", max_gallery), ("max_rows", max_rows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SettingError(f"{{{name}}} must be a whole number, 0 or more, got {value!r}", name)
    if isinstance(owner_alarm, bool) or not isinstance(owner_alarm, int | float) or not 0 < owner_alarm <= 1:
        raise SettingError(f"{{owner_alarm}} must be a share in (0, 1], got {owner_alarm!r}", "owner_alarm")


def newest_evaluation(ws: Workspace) -> tuple[dict, Path] | None:
    """(evaluation.json contents, its path) of the newest `runs/*/evaluation/`, or None.

    A file that is not JSON, or not the shape `classify evaluate` writes, is a UsageError
    naming it (one line), never a traceback."""
    found = sorted((ws.runs_dir).glob("*/evaluation/evaluation.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    path = found[-1]
    try:
        evaluation = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path} is unreadable ({type(exc).__name__}); run `classify evaluate` again "
                         "or delete that evaluation folder") from None
    problem = evaluation_shape_problem(evaluation)
    if problem:
        raise UsageError(f"{path} is not an evaluation written by `classify evaluate` ({problem}); "
                         "run `classify evaluate` again or delete that evaluation folder")
    return evaluation, path


_EVALUATION_LISTS = ("per_class", "most_confused", "top_losses", "per_owner")


def evaluation_shape_problem(evaluation: object) -> str | None:
    """What makes `evaluation` unusable by the report's training section, or None."""
    if not isinstance(evaluation, dict):
        return f"a JSON {type(evaluation).__name__}, not an object"
    for key in _EVALUATION_LISTS:
        value = evaluation.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
            return f"{key} is not a list of objects"
    for row in evaluation.get("per_owner") or []:
        for key in ("accuracy", "photos"):
            if key in row and (isinstance(row[key], bool) or not isinstance(row[key], int | float)):
                return f"per_owner {key} is not a number"
    comparisons = evaluation.get("comparisons")
    if comparisons is not None and (not isinstance(comparisons, dict)
                                    or not all(isinstance(v, dict) for v in comparisons.values())):
        return "comparisons is not an object of objects"
    if evaluation.get("sandals_test") is not None and not isinstance(evaluation["sandals_test"], dict):
        return "sandals_test is not an object"
    accuracy = evaluation.get("accuracy")
    if accuracy is not None and (isinstance(accuracy, bool) or not isinstance(accuracy, int | float)):
        return "accuracy is not a number"
    return None


def write_report(ws: Workspace, out_dir: Path | None = None, max_gallery: int = 12,
                 owner_alarm: float = 0.10, max_rows: int = 200, engine: str | None = None) -> tuple[Path, dict]:
    """Build the report from the workspace and write it; returns (index.html path, report dict).

    `engine`: where the catalog's numbers are computed: "pandas" (the catalog read into memory),
    "duckdb" (SQL over the Parquet catalog, a file or a folder of parts, in bounded memory; the
    same report: curate.outofcore.report) or "auto" (DuckDB above curate.outofcore.AUTO_ROWS rows
    or for a folder of parts); None: $CURATE_CATALOG_ENGINE, else auto."""
    from curate.outofcore import choose_engine

    check_report_limits(max_gallery, max_rows, owner_alarm)
    out = Path(out_dir) if out_dir else ws.root / "report"
    out_of_core = choose_engine(engine, ws.catalog_path if ws.catalog_path.exists() else None) == "duckdb"
    catalog = None if out_of_core else read_catalog(ws)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # a folder that exists but cannot be written (a read-only
            pass                                # workspace: audit AN, a PermissionError traceback at the first plot)
    except OSError as exc:  # a file of that name, a read-only place
        reason = "a file, not a folder" if out.is_file() else exc.strerror
        raise UsageError(f"cannot write the report to {out} ({reason}); pass a folder with --out") from exc
    previous = _previous_report(out / "report.json")
    reports = {stage: load_stage_report(ws, stage) for stage in STAGES}
    catalog_hash = functools.cache(lambda: catalog_sha256(ws))  # once, and only if asked: a large catalog is slow
    truth = read_truth(ws)[0] if ws.truth_path.exists() else None
    evaluation = newest_evaluation(ws)
    options = {"truth": truth, "run_evaluation": evaluation[0] if evaluation else None, "max_gallery": max_gallery,
               "owner_alarm": owner_alarm, "max_rows": max_rows}
    if out_of_core:
        from curate.catalog_batches import CatalogFile
        from curate.outofcore.db import BATCH_ROWS
        from curate.outofcore.report import report_queries

        batches = CatalogFile(ws.catalog_path, BATCH_ROWS)
        states = {name: state.to_dict() for name, state in workspace_states(ws, batches).items()}
        with report_queries(ws, out) as queries:  # DuckDB's scratch in the report folder: a read-only workspace works
            report = queries.build_report(reports, stage_states=states, **options)
            _add_copies(ws, report, max_rows, catalog_hash)
            _add_lookalikes(ws, report, max_gallery, catalog_hash, queries.photos)
            _mark_stale_evaluation(report, evaluation, catalog_hash)
            _add_changes(report, previous, ws, out)
            _write_files(ws, out, report, evaluation, queries.geo_rows,
                         batches.batches(list(ATTRIBUTION_COLUMNS)))
    else:
        states = {name: state.to_dict() for name, state in workspace_states(ws, catalog).items()}
        report = build_report(catalog, reports, stage_states=states, **options)
        _add_copies(ws, report, max_rows, catalog_hash)
        _add_lookalikes(ws, report, max_gallery, catalog_hash,
                        lambda ids, columns: catalog.loc[catalog[schema.PHOTO_ID].isin(ids), list(columns)])
        _mark_stale_evaluation(report, evaluation, catalog_hash)
        _add_changes(report, previous, ws, out)
        _write_files(ws, out, report, evaluation, lambda label: catalog[catalog["label"] == label], [catalog])
    index = out / "index.html"
    atomic_write_bytes(index, render_html(report).encode("utf-8"))
    return index, report


def _previous_report(path: Path) -> dict | None:
    """The report.json a report folder held before this report (what `changes` compares with); None when there
    is none or it cannot be read (a damaged one is replaced without a word: this report is whole)."""
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return previous if isinstance(previous, dict) else None


def _add_changes(report: dict, previous: dict | None, ws: Workspace, out: Path) -> None:
    """The report's own counts (`curate.report.changes.counts`, for the next report) and what changed since
    `previous` (audit BV: a grown collection's report gave its state alone).

    The counts name the workspace they came from (a digest of its folder's path, not the path). A report folder
    outside the workspace (`--out`) may hold another workspace's report: then no comparison (review BY F6: one
    workspace's report compared with another's). The workspace's own report folder is its own whatever the
    digest says: a workspace moved or copied carries its reports along."""
    from curate.report import changes

    report["counts"] = changes.counts(report) | {"workspace": changes.workspace_digest(ws.root)}
    if not _inside(out, ws.root):
        earlier = (previous or {}).get("counts")
        if not isinstance(earlier, dict) or earlier.get("workspace") != report["counts"]["workspace"]:
            previous = None
    report["changes"] = changes.changes(previous, report)


def _inside(folder: Path, root: Path) -> bool:
    try:
        return folder.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def _mark_stale_evaluation(report: dict, evaluation, catalog_hash) -> None:
    """The training section marked stale when its evaluation ran on another catalog than today's (a re-split
    since: an audit's report showed 40 test photos and 97.5 % while the catalog had 50 test photos)."""
    section = report["sections"].get("training") or {}
    if not evaluation or "absent" in section:
        return
    scored_on = evaluation[0].get("catalog_sha256")
    if scored_on and scored_on != catalog_hash():
        section["stale"] = (f"this evaluation ran on an earlier catalog (its {evaluation[0].get('split', 'test')} "
                            "photos may be others now); run `classify evaluate` on the run again")


def _add_copies(ws: Workspace, report: dict, max_rows: int, catalog_hash) -> None:
    """The last check against another collection (`curate check-leakage --against`): a section after the
    splits, when one has run."""
    from curate.contamination import REPORT, copies_line

    saved = _saved_check(ws, report, REPORT, "the last check against another collection is not shown",
                         "`curate check-leakage --against OTHER`")
    if saved is None:  # no check against another collection has run (or its file is unreadable)
        return
    copies = copies_section(saved, catalog_hash(), max_rows)
    line = copies_line(saved, "stale" in (copies or {}))
    if line:  # above the sections too: section 8's "clean" is about this collection alone
        report["stage_warnings"]["check-leakage"] = [line]
    if copies is not None:
        _insert_after(report, "splits", "copies", copies)


def _add_lookalikes(ws: Workspace, report: dict, max_gallery: int, catalog_hash, photos_of) -> None:
    """The look-alikes the last `curate check-leakage` listed (reports/check-leakage.json, not recomputed): a
    section after the splits (and the copies), when a check saved one. `photos_of(ids, columns)`: the catalog's
    rows of those photo ids, for the shown pairs' thumbnails (each engine reads them its own way)."""
    from curate.leakage_lookalikes import REPORT
    from curate.report.lookalikes import PHOTO_COLUMNS, lookalikes_section, shown_photo_ids

    saved = _saved_check(ws, report, REPORT, "the look-alikes the last check listed are not shown",
                         "`curate check-leakage`")
    if saved is None:  # no check has saved its look-alikes (or its file is unreadable)
        return
    ids = shown_photo_ids(saved, max_gallery)
    section = lookalikes_section(saved, catalog_hash(), max_gallery, photos_of(ids, PHOTO_COLUMNS) if ids else None)
    if section is not None:
        _insert_after(report, "copies" if "copies" in report["sections"] else "splits", "lookalikes", section)


def _saved_check(ws: Workspace, report: dict, name: str, lost: str, command: str) -> dict | None:
    """The check's saved report `name` (None when none ran); a damaged file is no reason to refuse the whole
    report: a warning says what is `lost` and which `command` to run again."""
    try:
        return load_stage_report(ws, name)
    except DataContractError:
        report["warnings"].append(f"reports/{name}.json is unreadable, so {lost}; run {command} again")
        return None


def _insert_after(report: dict, after: str, key: str, section: dict) -> None:
    """`section` under `key` in the report's sections, right after `after` (at the end without it)."""
    sections = report["sections"]
    report["sections"] = {}
    for name, value in sections.items():
        report["sections"][name] = value
        if name == after:
            report["sections"][key] = section
    report["sections"].setdefault(key, section)


# what attribution.csv reads (curate.report.data.attribution_rows)
ATTRIBUTION_COLUMNS = (schema.PHOTO_ID, "owner_name", "owner_id", "license", "page_url", "url", "status")


def _write_files(ws: Workspace, out: Path, report: dict, evaluation, label_rows, catalog_parts) -> None:
    """Everything but index.html: thumbnails, plots, training images, attribution.csv, report.json.
    `label_rows(label)`: a label's rows for its geography plots; `catalog_parts`: the catalog (in
    one or more frames, in row order) for attribution.csv."""
    _write_thumbnails(ws, out, report)
    _write_geo_plots(label_rows, out, report["sections"]["geography"])
    if evaluation:
        _copy_training_images(evaluation[1].parent, out, report["sections"]["training"])
    _write_attribution(out / "attribution.csv", catalog_parts)
    atomic_write_bytes(out / "report.json", json.dumps(report, indent=1, default=str).encode("utf-8"))


def _write_attribution(path: Path, catalog_parts) -> None:
    """attribution.csv from the catalog's parts, one part at a time (atomic: a temp file renamed)."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        for number, part in enumerate(catalog_parts):
            handle.write(spreadsheet_safe(attribution_rows(part)).to_csv(index=False, header=number == 0))


def gallery_photos(node) -> list[dict]:
    """Every photo dict (has sha256 and image_path) anywhere in the report."""
    if isinstance(node, dict):
        if "sha256" in node and "image_path" in node:
            return [node]
        return [p for value in node.values() for p in gallery_photos(value)]
    if isinstance(node, list):
        return [p for value in node for p in gallery_photos(value)]
    return []


def _write_thumbnails(ws: Workspace, out: Path, report: dict) -> None:
    """thumbs/<sha256>.jpg for each gallery photo whose stored image opens; sets photo['thumb'] and
    photo['href'], the full image's path relative to the report folder (a link that works offline
    as long as the report stays beside its workspace)."""
    made: dict[str, str | None] = {}
    locate = objectstore.locator(ws)  # images on an object store get no href: a browser cannot open s3:// links
    for photo in gallery_photos(report["sections"]):
        sha, image_path = photo.get("sha256"), photo.get("image_path")
        if sha not in made:
            made[sha] = _thumbnail(locate(image_path), out, sha) if sha and image_path else None
        photo["thumb"] = made[sha]
        if made[sha] and not objectstore.is_url(locate(image_path)):
            try:
                photo["href"] = Path(os.path.relpath(locate(image_path), out)).as_posix()
            except ValueError:  # another drive (Windows): no relative path, no link
                pass


def _thumbnail(source: objectstore.Location, out: Path, sha: str) -> str | None:
    if not re.fullmatch(r"[0-9a-f]{16,128}", sha):
        return None
    relative = f"thumbs/{sha}.jpg"
    if (out / relative).exists():  # content-addressed: same hash, same thumbnail
        return relative
    try:
        with objectstore.open_stored(source) as handle:
            image = open_rgb(handle, min_side=THUMB_SIDE)  # upright; a JPEG at a reduced scale
            image.thumbnail((THUMB_SIDE, THUMB_SIDE))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # missing or broken image: the gallery shows a grey box
    atomic_write_bytes(out / relative, buffer.getvalue(), durable=False)
    return relative


def _write_geo_plots(label_rows, out: Path, section: dict) -> None:
    """Each geography label's scatter and distance histogram; `label_rows(label)` gives its rows."""
    if "absent" in section:
        return
    for index, entry in enumerate(section["labels"]):
        rows = label_rows(entry["label"])
        lat = rows["lat"].to_numpy("float64", na_value=np.nan)
        lon = rows["lon"].to_numpy("float64", na_value=np.nan)
        located = ~np.isnan(lat) & ~np.isnan(lon)  # as the table counts: only photos with coordinates
        kept = (rows["status"] == schema.KEPT).to_numpy() & located
        outlier = (rows["drop_reason"] == "geo_outlier").to_numpy() & located
        other = ~kept & ~outlier & located
        stem = f"plots/geo_{index:03d}"
        atomic_write_bytes(out / f"{stem}_scatter.png", plots.geo_scatter_png(
            entry["label"], lat[kept], lon[kept], lat[other], lon[other],
            entry["centre_lat"], entry["centre_lon"], entry["max_km"], lat[outlier], lon[outlier]), durable=False)
        atomic_write_bytes(out / f"{stem}_distance.png", plots.distance_histogram_png(
            entry["label"], rows["geo_distance_km"].to_numpy("float64", na_value=np.nan), entry["max_km"]),
            durable=False)
        entry["scatter_png"], entry["histogram_png"] = f"{stem}_scatter.png", f"{stem}_distance.png"


def _copy_training_images(evaluation_dir: Path, out: Path, section: dict) -> None:
    images = {}
    for name, source in (("learning curves", evaluation_dir.parent / "learning_curves.png"),
                         ("confusion matrix", evaluation_dir / "confusion.png"),
                         ("top losses", evaluation_dir / "top_losses.png")):
        if source.exists():
            relative = f"training/{source.name}"
            atomic_write_bytes(out / relative, source.read_bytes(), durable=False)
            images[name] = relative
    section["images"] = images
