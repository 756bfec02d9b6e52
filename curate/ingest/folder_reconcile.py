"""A folder's re-ingest against the catalog: photos edited since they were stored, and photos gone.

An ingest never replaces a stored image, so an edited file is only warned of (`changed_since_stored`); a
photo no longer in the folder is dropped as `missing_file` (`drop_removed_photos`) and comes back when a
later ingest finds its file again.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

import pandas as pd

from curate.workspace import Workspace


def stored_photo_ids(ws: Workspace) -> set[str]:
    """The photo ids whose image the catalog holds now (read in batches; empty without a catalog). A row without
    an image (dropped as missing_file) is not among them: when its file comes back under it, even joined across
    case, it is the file's id now (audit CU: that photo's rowless twin was then said to be gone from the folder)."""
    from curate.catalog_batches import CatalogFile

    if not ws.catalog_path.exists():
        return set()
    return {str(pid) for batch in CatalogFile(ws.catalog_path).batches(["photo_id", "sha256"])
            for pid, sha in zip(batch["photo_id"], batch["sha256"]) if isinstance(sha, str)}


def stored_source_ids(ws: Workspace, source: str) -> set[str]:
    """The source ids the catalog stores for the photos of `source` (`folder`, `urls`), as the ingest that stored
    them read them (read in batches; empty without a catalog): a re-ingest keeps ids that an older reading of the
    same column gave (`curate.ingest.mapping.stored_float_id`)."""
    from curate.catalog_batches import CatalogFile

    if not ws.catalog_path.exists():
        return set()
    catalog = CatalogFile(ws.catalog_path)
    if "source_id" not in catalog.stored_columns:
        return set()
    return {str(sid) for batch in catalog.batches(["source", "source_id"])
            for kind, sid in zip(batch["source"], batch["source_id"]) if kind == source and isinstance(sid, str)}


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


def present_in_folder(records: pd.DataFrame, images: set[str]) -> pd.Series:
    """Per record, whether its photo is in the folder now: its file is one the scan found (a photo held in a tar
    shard or a Parquet file included), or a file is there at its path (a metadata row may name a file the scan
    passes over: no image extension, a hidden name, a name that is not UTF-8, a folder reached through a link
    inside the folder). Review BY: the scan's names alone dropped such photos on their first ingest. A row with no
    path to read (unsafe, or no file named) is not."""
    scanned = records["file"].isin(images) if "file" in records.columns else pd.Series(False, index=records.index)
    paths = records["abs_path"] if "abs_path" in records.columns else pd.Series(None, index=records.index)
    on_disk = [isinstance(path, str) and os.path.isfile(path) for path in paths]
    return scanned | pd.Series(on_disk, index=records.index, dtype=bool)


class Removed(NamedTuple):
    """The photos `drop_removed_photos` dropped: how many, one's source id (one truly gone where there is one),
    and how many of them are still in the folder under another id (and one's source id, with the id its file has
    now)."""

    count: int = 0
    example: str | None = None
    renamed: int = 0
    renamed_example: tuple[str, str] | None = None


def drop_removed_photos(ws: Workspace, prefix: str, source_ids: pd.Series, before: set[str]) -> Removed:
    """Mark dropped (`missing_file`, at ingest) the photos of this folder (photo ids `<prefix>:...`) whose file
    is no longer in it (`source_ids`: the photos `present_in_folder` found, not every metadata row);
    (how many, one of their source ids). An audit deleted photos from a recipe's folder and found them still
    kept and in their splits, trained and tested on; audit BV, the same where the metadata sidecar kept their
    rows (a scraper's CSV is appended to, bad photos are deleted in a file browser). A photo a later stage
    dropped is marked too (its drop would otherwise be reinstated when that stage re-runs, or kept by a
    reviewer); one ingest dropped for another reason keeps it. Their rows, metadata and stored images stay: a
    later ingest that finds the file again takes it back (missing_file is retried).

    A dropped photo whose image (sha256) a photo new in this ingest has (its photo id not among `before`, the
    ids the catalog held before it) is still there under another id: the metadata's id column changed (a
    corrected `--map source_id=...`), and `Removed.renamed` counts them (audit CK 7: a re-ingest said 24 photos
    were no longer in the folder when every file was). A photo stored before is no new id of anything: deleting
    one of two byte-identical copies is a photo gone (review CO M1), not one renamed."""
    from curate import schema
    from curate.workspace import read_catalog, write_catalog

    catalog = read_catalog(ws, required=False)
    if catalog.empty:
        return Removed()
    ours = catalog[schema.PHOTO_ID].astype(str).str.startswith(f"{prefix}:")
    present = catalog["source_id"].isin(set(source_ids.astype(str)))
    gone = ours & ~present & ((catalog["status"] == schema.KEPT) | (catalog["drop_stage"] != "ingest"))
    if not gone.any():
        return Removed()
    new_here = ours & present & catalog["sha256"].notna() & ~catalog[schema.PHOTO_ID].astype(str).isin(before)
    new_ids = _new_ids_by_image(catalog.loc[new_here])
    moved = gone & catalog["sha256"].isin(set(new_ids))
    catalog.loc[gone, ["status", "drop_reason", "drop_stage", "error_detail"]] = [
        schema.DROPPED, "missing_file", "ingest", "no longer in the folder"]
    catalog.loc[moved, "error_detail"] = [_under_ids(new_ids[sha]) for sha in catalog.loc[moved, "sha256"]]
    write_catalog(ws, catalog)
    renamed_example = None
    if moved.any():
        first = catalog.loc[moved].iloc[0]
        renamed_example = (str(first["source_id"]), new_ids[first["sha256"]][0])
    really_gone = gone & ~moved
    example = catalog.loc[really_gone if really_gone.any() else gone, "source_id"].iloc[0]
    return Removed(int(gone.sum()), str(example), int(moved.sum()), renamed_example)


def _under_ids(ids: list[str]) -> str:
    """A dropped photo's error_detail when its file is still here under the new id (or ids, for copies)."""
    return f"its file is in the folder under the id{'s' if len(ids) > 1 else ''} {', '.join(ids)}"


def _new_ids_by_image(new: pd.DataFrame) -> dict[str, list[str]]:
    """sha256 -> the source ids of the new photos with that image, in catalog order (byte-identical copies that
    are all new share one: any of them holds the old photo's file)."""
    ids: dict[str, list[str]] = {}
    for sha, source_id in zip(new["sha256"], new["source_id"]):
        ids.setdefault(sha, []).append(str(source_id))
    return ids


def removed_warnings(removed: Removed) -> list[str]:
    """What `drop_removed_photos` did, in words: the photos gone from the folder, and apart from them those whose
    file is still there under another id (it is no longer in the folder only as the photo it was). An old id that
    is the new one written with `.0` says that the file's ids were written again without it, not that the user
    chose another id column (review CO H1: that advice changed nothing).

    >>> removed_warnings(Removed(1, "9", 1, ("9.0", "9")))[0][:92]
    '1 photo ingested from this folder before has another id now (e.g. 9.0 is now 9): its file is'
    """
    lines = []
    gone = removed.count - removed.renamed
    if gone:
        many = gone != 1
        lines.append(f"{gone:,} photo{'s' if many else ''} ingested from this folder before "
                     f"{'are' if many else 'is'} no longer in it (e.g. {removed.example}): dropped as missing_file "
                     f"(a later stage that kept {'them' if many else 'it'} reads as stale); "
                     f"{'they come' if many else 'it comes'} back if the file{'s do' if many else ' does'}")
    if removed.renamed:
        many = removed.renamed != 1
        old, new = removed.renamed_example
        if re.fullmatch(rf"{re.escape(new)}\.0+", old):  # the file written again (pandas, a spreadsheet)
            why = ("the metadata's ids are the stored ones without their '.0' (the file was written again with whole "
                   "numbers, e.g. by a spreadsheet or by pandas once no id cell was empty)")
            fix = "write the ids with '.0', as the file had them"
        else:
            why = ("the metadata gives them other ids than the ingest that stored them (another --map source_id, "
                   "or edited ids)")
            fix = "ingest with the ids they had (the id column used before, its values as they were)"
        lines.append(f"{removed.renamed:,} photo{'s' if many else ''} ingested from this folder before "
                     f"{'have' if many else 'has'} another id now (e.g. {old} is now {new}): "
                     f"{'their files are' if many else 'its file is'} still here, but {why}, so "
                     f"{'they were' if many else 'it was'} ingested as new photo{'s' if many else ''} and the old "
                     f"row{'s are' if many else ' is'}, with {'their' if many else 'its'} review decisions and "
                     f"splits, dropped as missing_file; to keep the old row{'s' if many else ''}, {fix}")
    return lines
