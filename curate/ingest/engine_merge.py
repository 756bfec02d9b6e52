"""What an ingest run changes in the catalog: which photos a re-run fetches again, the metadata it
updates in place, and this run's outcomes merged into the catalog rows."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from curate import objectstore, schema
from curate.ingest.engine_job import (
    IMAGE_FIELDS,
    LOCAL_ERROR,
    METADATA_COLUMNS,
    OUTCOME_FIELDS,
    IngestJob,
    IngestReport,
)
from curate.vision import features
from curate.workspace import Workspace, changes_workspace


def merge_outcomes(catalog: pd.DataFrame, rows: pd.DataFrame, outcomes: dict[str, dict],
                   replace_ids: set[str]) -> pd.DataFrame:
    """Existing catalog rows stay as they are (later stages may have flagged them);
    rows of this run are appended, or replace the existing ones in `replace_ids`."""
    finished = rows[rows[schema.PHOTO_ID].isin(list(outcomes)) | (rows["status"] == schema.DROPPED)]
    finished = _apply_outcomes(finished, outcomes)
    keep_existing = catalog[~catalog[schema.PHOTO_ID].isin(replace_ids & set(finished[schema.PHOTO_ID]))]
    fresh = finished[~finished[schema.PHOTO_ID].isin(keep_existing[schema.PHOTO_ID])]
    if keep_existing.empty:
        return fresh.reset_index(drop=True)
    # a list column later stages added to the existing rows (quality_issues) is [] on fresh rows,
    # as schema.conform gives a catalog without it: a resumed ingest ends as an uninterrupted one
    for name in keep_existing.columns.difference(fresh.columns):
        if name in schema.COLUMN_BY_NAME and pa.types.is_list(schema.COLUMN_BY_NAME[name].type):
            fresh = fresh.assign(**{name: pd.Series([[] for _ in range(len(fresh))], index=fresh.index,
                                                    dtype=object)})
    merged = pd.concat([keep_existing, fresh], ignore_index=True)
    # a retried row goes back where it was, so a re-run never reorders the catalog
    old_position = merged[schema.PHOTO_ID].map(pd.Series(range(len(catalog)), index=catalog[schema.PHOTO_ID]))
    order = old_position.fillna(len(catalog) + pd.Series(range(len(merged)), dtype="float64"))
    return merged.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def _apply_outcomes(rows: pd.DataFrame, outcomes: dict[str, dict]) -> pd.DataFrame:
    rows = rows.copy()
    if not outcomes:
        return rows
    table = pd.DataFrame.from_records(list(outcomes.values()), columns=[schema.PHOTO_ID, *OUTCOME_FIELDS])
    table = table.set_index(schema.PHOTO_ID).reindex(rows[schema.PHOTO_ID])
    for name in (*IMAGE_FIELDS, "error_detail", *features.feature_columns()):
        fill = table[name].to_numpy()
        rows[name] = rows[name].where(pd.isna(fill), fill) if name in rows.columns else fill
    failed = table["drop_reason"].notna().to_numpy() & (rows["status"] == schema.KEPT).to_numpy()
    rows.loc[failed, "status"] = schema.DROPPED
    rows.loc[failed, "drop_reason"] = table["drop_reason"].to_numpy()[failed]
    rows.loc[failed, "drop_stage"] = "ingest"
    return rows


def changed_metadata(catalog: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Which metadata cells of photos already in `catalog` this run's `rows` would change.

    Returns a boolean frame indexed by the photo ids found in both, one column per
    METADATA_COLUMNS entry the rows carry (True: the values differ). Nulls equal nulls;
    lists (tags) compare element by element, in order.
    """
    names = [name for name in METADATA_COLUMNS if name in rows.columns and name in catalog.columns]
    ids = pd.Index(catalog[schema.PHOTO_ID]).intersection(pd.Index(rows[schema.PHOTO_ID]))
    old = catalog.assign(label=ingested_labels(catalog)).set_index(schema.PHOTO_ID).loc[ids, names]
    new = rows.set_index(schema.PHOTO_ID).loc[ids, names]
    changed = {name: ~_same_values(old[name], new[name], schema.COLUMN_BY_NAME[name].type) for name in names}
    return pd.DataFrame(changed, index=ids, columns=names, dtype=bool)


def _same_values(old: pd.Series, new: pd.Series, arrow_type: pa.DataType) -> np.ndarray:
    """Element-wise equality through the column's Arrow type (so 1 == 1.0, NaN/None/NaT are null)."""
    if pa.types.is_list(arrow_type):
        def as_tuples(values: pd.Series) -> list[tuple]:
            return [tuple(v) if isinstance(v, (list, tuple, np.ndarray)) else () for v in values]
        return np.array([a == b for a, b in zip(as_tuples(old), as_tuples(new))], dtype=bool)
    left = pa.array(old, type=arrow_type, from_pandas=True)
    right = pa.array(new, type=arrow_type, from_pandas=True)
    equal = pc.fill_null(pc.equal(left, right), False)
    return pc.or_(equal, pc.and_(left.is_null(), right.is_null())).to_numpy(zero_copy_only=False)


def ingested_labels(catalog: pd.DataFrame) -> pd.Series:
    """Each photo's label as its source gave it: before the prefilter's relabel (`original_label`) and
    before a reviewer's (`label_before_review`, while the label is still the reviewer's). A re-ingest
    compares the source with this, so that a relabel is not mistaken for a change of the source."""
    label = catalog["label"]
    if "review_label" in catalog.columns and "label_before_review" in catalog.columns:
        reviewed = catalog["review_label"].notna() & (label == catalog["review_label"])
        label = label.where(~reviewed, catalog["label_before_review"])
    if "original_label" in catalog.columns:
        label = label.where(catalog["original_label"].isna(), catalog["original_label"])
    return label


def update_metadata(catalog: pd.DataFrame, rows: pd.DataFrame, changed: pd.DataFrame) -> pd.DataFrame:
    """`catalog` with the metadata columns of the photos in `changed` (from changed_metadata,
    changed rows only) taken from `rows`. Every other row and column stays as it was.

    A source label that changed replaces the label, and the prefilter's relabel of it is void
    (`original_label` cleared: the prefilter judges the new label when it runs again); under a
    reviewer's relabel it replaces only `label_before_review`: the human decision still wins."""
    if changed.empty:
        return catalog
    catalog = catalog.copy()
    hit = catalog[schema.PHOTO_ID].isin(changed.index).to_numpy()
    new = rows.set_index(schema.PHOTO_ID).reindex(catalog[schema.PHOTO_ID]).set_axis(catalog.index)
    for name in changed.columns:
        if name != "label":
            catalog[name] = catalog[name].where(~hit, new[name])
            continue
        relabel = hit & changed["label"].reindex(catalog[schema.PHOTO_ID]).fillna(False).to_numpy(bool)
        reviewed = np.zeros(len(catalog), bool)
        if "review_label" in catalog.columns and "label_before_review" in catalog.columns:
            reviewed = (catalog["review_label"].notna() & (catalog["label"] == catalog["review_label"])).to_numpy()
            catalog["label_before_review"] = catalog["label_before_review"].where(~(relabel & reviewed), new["label"])
        if "original_label" in catalog.columns:
            catalog["original_label"] = catalog["original_label"].where(~relabel, None)
        catalog["label"] = catalog["label"].where(~(relabel & ~reviewed), new["label"])
    return catalog


def plan_rerun(catalog: pd.DataFrame, rows: pd.DataFrame, job: IngestJob,
               report: IngestReport) -> tuple[pd.DataFrame, set[str], set[str], set[str]]:
    """Split the catalog's photos into done and to-be-fetched-again, and update the metadata
    of the done ones that this run's `rows` describe differently (counted on `report`).

    Fetched again, the row replaced: ingest drops whose reason is in `job.retry_reasons` or is LOCAL_ERROR,
    and ingest drops without an image whose metadata changed (a corrected URL or path). Fetched, the image
    filled into the row as it is (`fill_images`): when this run fetches images, photos a metadata-only run
    listed (no image, not an ingest drop: audit AM, `--no-download-images` then a run with downloads fetched
    nothing and left them kept without an image), whose rows may carry a reviewer's or a stage's decisions
    since (audit AO: replaced, a reviewer's drop and relabel were lost). Returns (catalog with updated
    metadata, done photo ids, photo ids to replace, photo ids to fill).
    """
    changed = changed_metadata(catalog, rows)
    changed = changed[changed.any(axis=1)]
    at_ingest = (catalog["drop_stage"] == "ingest").to_numpy()
    retry = at_ingest & (catalog["drop_reason"].isin(job.retry_reasons | {LOCAL_ERROR}).to_numpy()
                         | (catalog["sha256"].isna() & catalog[schema.PHOTO_ID].isin(changed.index)).to_numpy())
    fill = np.zeros(len(catalog), bool)
    if job.fetch is not None and not catalog.empty:
        fill = ~at_ingest & (catalog["sha256"].isna() & catalog["image_path"].isna()).to_numpy()
    replace_ids = set(catalog.loc[retry, schema.PHOTO_ID])
    in_place = changed[~changed.index.isin(list(replace_ids))]
    report.metadata_updated = len(in_place)
    report.changed_columns = {name: int(count) for name, count in in_place.sum().items() if count}
    return (update_metadata(catalog, rows, in_place), set(catalog.loc[~retry & ~fill, schema.PHOTO_ID]),
            replace_ids, set(catalog.loc[fill, schema.PHOTO_ID]))


def fill_images(catalog: pd.DataFrame, outcomes: dict[str, dict], fill_ids: set[str]) -> pd.DataFrame:
    """`catalog` with the fetched images of `fill_ids` (`plan_rerun`) written into their rows, everything else
    in them as it was (a reviewer's drop or relabel, a stage's columns); a failed fetch of a kept photo drops
    it at ingest, as on a first run."""
    rows = catalog[schema.PHOTO_ID].isin(list(fill_ids & set(outcomes))).to_numpy()
    if not rows.any():
        return catalog
    out = catalog.copy()
    filled = _apply_outcomes(out.loc[rows], outcomes)
    for name in (*IMAGE_FIELDS, "error_detail", *features.feature_columns(), "status", "drop_reason", "drop_stage"):
        if name in filled.columns:
            out[name] = out[name].astype(object) if name in out.columns else None
            out.loc[rows, name] = filled[name].to_numpy(dtype=object)
    return out


@changes_workspace
def gone_from_store(ws: Workspace, catalog: pd.DataFrame, rows: pd.DataFrame, done_ids: set[str]) -> dict[str, str]:
    """{photo_id: sha256} of the photos of this run already in the catalog with a stored image
    whose file is not in the workspace's local store (empty for an object store)."""
    if catalog.empty or objectstore.remote(ws):
        return {}
    ours = catalog[catalog[schema.PHOTO_ID].isin(rows[schema.PHOTO_ID]) & catalog["image_path"].notna()
                   & catalog[schema.PHOTO_ID].isin(list(done_ids))]
    where = objectstore.locator(ws)
    gone = [not os.path.exists(where(path)) for path in ours["image_path"]]
    return dict(zip(ours.loc[gone, schema.PHOTO_ID], ours.loc[gone, "sha256"]))


def note_restored(report: IngestReport, restore: dict[str, str], outcomes: dict[str, dict]) -> None:
    """Count the stored images put back (`restore`: gone_from_store's answer); warn about those whose
    source now gives other bytes (their stored image stays missing: the catalog describes the old one)."""
    if not restore:
        return
    same = [pid for pid, sha in restore.items() if outcomes.get(pid, {}).get("sha256") == sha]
    report.restored = len(same)
    other = len(restore) - len(same)
    if other:
        report.warnings.append(
            f"{other:,} photo{'s' * (other != 1)} whose stored image had gone could not be put back: the source "
            "no longer gives the same bytes (or failed); remove them with `curate review` or ingest them anew "
            "into a new workspace")
