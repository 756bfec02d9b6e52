"""I/O edges of the DuckDB engine: read the catalog where it lies, run a stage in DuckDB, write the
catalog back (`COPY ... TO`, atomic) and the stage report. Called by the pandas edges
(curate.filters.run.run_filter, curate.split.run_split, ...) when their engine is "duckdb"; they
hold the workspace lock."""

from __future__ import annotations

import re

import pandas as pd

from curate import schema
from curate.errors import CATALOG_FIX, DataContractError
from curate.outofcore import db, write_back
from curate.outofcore.catalog_view import Catalog
from curate.outofcore.db import connect, literal
from curate.stage_reports import mark_writing


def validate(con, catalog: Catalog) -> None:
    """The row checks read_catalog makes: photo_id and status present and never null, status only
    kept or dropped, photo_id unique (DataContractError naming the catalog otherwise)."""
    if schema.PHOTO_ID not in catalog.present or "status" not in catalog.present:
        raise DataContractError(f"catalog {catalog.path} has no photo_id or status column; "
                                + CATALOG_FIX)
    rows, ids, nulls, odd = con.execute(
        f"SELECT count(*), count(DISTINCT photo_id), count(*) FILTER (WHERE photo_id IS NULL OR status IS NULL), "
        f"count(*) FILTER (WHERE status NOT IN ('kept', 'dropped')) FROM {catalog.source}").fetchone()
    problem = ("photo_id and status must not be null" if nulls else "catalog status must be kept or dropped" if odd
               else "catalog has repeated photo_id values" if ids != rows else None)
    if problem:
        raise DataContractError(f"{catalog.path}: {problem}; {CATALOG_FIX}")


def _names(prefix: str = "") -> str:
    return ", ".join(prefix + db.quote(name) for name in schema.NAMES)


def _with_decisions(con, ws, query: str, notes: list[str]) -> str:
    """`query` (the new catalog, with rid) with the workspace's review decisions applied
    (curate.review.apply.apply_decisions is row by row: it runs on the few rows decisions or
    earlier reviews touch, in pandas); the filter's drops a keep overrides are noted in `notes`."""
    from curate.records import recomputed_stages
    from curate.review.apply import FLOAT_ID_TAIL, REVIEW_COLUMNS, apply_decisions, overridden_note
    from curate.review.journal import read_decisions

    decisions = read_decisions(ws)
    decided = sorted({str(d["photo_id"]) for d in decisions if d.get("photo_id") is not None})
    con.execute("CREATE OR REPLACE TEMP TABLE decided (photo_id VARCHAR)")
    if decided:
        con.executemany("INSERT INTO decided VALUES (?)", [[pid] for pid in decided])
    # and the photos whose id differs from a decided one only by a trailing '.0' (`float_id_twins`, which
    # apply_decisions matches among the rows it is given: review DB, the engines disagreed on them)
    keys = sorted({re.sub(FLOAT_ID_TAIL, r"\1", pid) for pid in decided})
    con.execute("CREATE OR REPLACE TEMP TABLE decided_keys (k VARCHAR)")
    if keys:
        con.executemany("INSERT INTO decided_keys VALUES (?)", [[k] for k in keys])
    twin = r"regexp_replace(photo_id, ':([+-]?[0-9]+)\.0+$', ':\1') IN (SELECT k FROM decided_keys)"
    reviewed = " OR ".join(f"{db.quote(name)} IS NOT NULL" for name in REVIEW_COLUMNS)
    touched = db.arrow_query(con, f"SELECT * FROM ({query}) q WHERE photo_id IN (SELECT photo_id FROM decided) "
                                  f"OR {twin} OR {reviewed} OR drop_stage = 'review'")
    if touched.num_rows == 0:
        return query
    rid = touched.column("rid")
    frame = schema.to_pandas(schema.conform(touched.drop(["rid"]).to_pandas(types_mapper=schema.pandas_type)))
    frame = apply_decisions(frame, decisions, recomputed_stages("filter"))
    notes += overridden_note(frame, "filter")
    patched = schema.conform(frame).append_column("rid", rid)
    con.register("patch_frame", patched)
    con.execute("CREATE OR REPLACE TEMP TABLE patch AS SELECT * FROM patch_frame")
    con.unregister("patch_frame")
    return (f"SELECT * FROM (SELECT * FROM ({query}) q WHERE rid NOT IN (SELECT rid FROM patch) "
            f"UNION ALL BY NAME SELECT * FROM patch) ORDER BY rid")


def _unembedded(con, catalog: Catalog, ws) -> list[str]:
    """curate.filters.run.unembedded_warnings on the catalog's ingest-kept stored images (as
    curate.embed.embeddable_images picks them), read in DuckDB."""
    from curate.embed import EmbeddingCache
    from curate.filters import verify
    from curate.filters.run import unembedded_warnings

    if not EmbeddingCache(ws, verify.EMBEDDING_BACKBONE).dir.is_dir():
        return []
    shas = [row[0] for row in con.execute(
        f"SELECT DISTINCT sha256 FROM {catalog.source} WHERE coalesce(drop_stage, '') <> 'ingest' "
        "AND image_path IS NOT NULL AND sha256 IS NOT NULL").fetchall()]
    return unembedded_warnings(ws, pd.Series(shas, dtype=object))


def _unturned(con, catalog: Catalog) -> list[str]:
    """A note when stored images have a pHash but lack the mirrored or turned ones (a catalog ingested
    before curate computed them): the pandas engine decodes such images first (`ensure_features`); the
    DuckDB engine decodes none, so their mirrored and turned copies are no near-duplicate candidates."""
    from curate.outofcore.neardup import READABLE_PHASH

    if "phash" not in catalog.present or "image_path" not in catalog.present:
        return []
    views = ("phash_mirror", "phash_rot90", "phash_rot180")
    unturned = ("TRUE" if not set(views) <= set(catalog.present)  # a column the file lacks: null in every row
                else " OR ".join(f"{db.quote(name)} IS NULL" for name in views))
    images, lacking = con.execute(
        f"SELECT count(DISTINCT sha256), count(DISTINCT sha256) FILTER (WHERE {unturned}) "
        f"FROM {catalog.source} WHERE image_path IS NOT NULL AND {READABLE_PHASH}").fetchone()
    if not lacking:
        return []
    return [f"{lacking:,} of {images:,} images lack a mirrored or turned pHash (ingested before curate computed "
            "them; the DuckDB engine decodes no image): their mirrored, quarter- and half-turned copies are not "
            "found; run the filter once with CURATE_CATALOG_ENGINE=pandas to compute them"]


# Hash columns a catalog file may predate, and what the DuckDB engine, which decodes no image, then does not look for
_LATER_HASHES = (
    ("phash_panels", "the catalog predates the collage panels' pHashes (phash_panels); the DuckDB engine decodes no "
                     "image, so a photo set in a collage is not looked for: run the filter once with "
                     "CURATE_CATALOG_ENGINE=pandas to compute them"),
    ("phash_strips", "the catalog predates the strip hashes of 9:16 portrait crops (phash_strips); the DuckDB engine "
                     "decodes no image, so a 9:16 crop of a landscape photo is not looked for: run the filter once "
                     "with CURATE_CATALOG_ENGINE=pandas to compute them"),
)


def _no_later_hashes(con, catalog: Catalog) -> list[str]:
    """A note for each column of `_LATER_HASHES` the catalog file predates, when it has stored images: the pandas
    engine computes them first (`ensure_features`); the DuckDB engine decodes no image, so it finds no collage, no
    9:16 crop. The stored images are counted once, for all of them."""
    from curate.outofcore.neardup import READABLE_PHASH

    missing = [note for column, note in _LATER_HASHES if column not in catalog.present]
    if not missing or "phash" not in catalog.present or "image_path" not in catalog.present:
        return []
    stored = con.execute(f"SELECT count(*) FROM {catalog.source} WHERE image_path IS NOT NULL AND "
                         f"{READABLE_PHASH}").fetchone()[0]
    return missing if stored else []


def _older_border_rule(con, ws, catalog: Catalog) -> list[str]:
    """A note when the workspace's `phash_trimmed` follows an older border rule (curate.vision.features) and it
    has stored images: the pandas engine computes it again first (`ensure_features`); the DuckDB engine decodes
    no image, so copies framed by bars with text (a phone's screenshot) are neither trimmed nor put after their
    original."""
    from curate.outofcore.neardup import READABLE_PHASH
    from curate.vision import features

    if "phash_trimmed" not in catalog.present or "image_path" not in catalog.present \
            or features.border_rule_current(ws.root):
        return []
    stored = con.execute(f"SELECT count(*) FROM {catalog.source} WHERE image_path IS NOT NULL AND "
                         f"{READABLE_PHASH}").fetchone()[0]
    if not stored:  # nothing a decode could compute again
        return []
    return ["the border-trimmed pHashes were computed by an older rule, which did not see bars holding text (a "
            "phone's status bar) as a frame; the DuckDB engine decodes no image: run the filter once with "
            "CURATE_CATALOG_ENGINE=pandas to compute them again"]


def _older_portraits(con, catalog: Catalog) -> list[str]:
    """A note when stored 4:5 or 2:3 portraits have no strip hashes (`run.portraits_without_strips`: measured
    before such portraits had them): the pandas engine measures them again first (`ensure_features`); the DuckDB
    engine decodes none, so their 4:5 or 2:3 crops of landscape photos are not looked for."""
    from curate.filters.portraits import INNER_ASPECTS

    if not {"phash_strips", "image_path", "width", "height"} <= set(catalog.present):
        return []
    shapes = " OR ".join(f"height::DOUBLE / width BETWEEN {low + 0.01!r} AND {high - 0.01!r}"
                         for low, high in INNER_ASPECTS)  # as run.portraits_without_strips
    older = con.execute(f"SELECT count(DISTINCT sha256) FROM {catalog.source} WHERE image_path IS NOT NULL "
                        f"AND phash_strips IS NULL AND width > 0 AND ({shapes})").fetchone()[0]
    if not older:
        return []
    return [f"4:5 and 2:3 portraits measured before they had strip hashes (phash_strips): {older:,}; "
            "the DuckDB engine decodes no image, so whether they are portrait crops of a landscape photo is not "
            "looked for: run the filter once with CURATE_CATALOG_ENGINE=pandas to measure them again"]


def _older_pixel_read(con, ws, catalog: Catalog) -> list[str]:
    """A note when the workspace's hashes and quality statistics may have been measured by an older way of reading
    pixels (curate.vision.pixel_read: its cache folder is not marked) and it has stored images: the pandas engine
    measures the photos that read otherwise again first (`ensure_features`); the DuckDB engine decodes none."""
    from curate.vision import pixel_read

    if "image_path" not in catalog.present or pixel_read.marked(ws.cache_dir):
        return []
    if not con.execute(f"SELECT count(*) FROM {catalog.source} WHERE image_path IS NOT NULL").fetchone()[0]:
        return []
    return ["the hashes and quality statistics of photos with a colour profile other than sRGB may have been "
            "measured before 2026-12-06 on unconverted pixels; the DuckDB engine decodes no image: run the filter "
            "once with CURATE_CATALOG_ENGINE=pandas to measure them again"]


def run_filter_duckdb(ws, config, recipe=None, workers: int = 1, started: float | None = None):
    """curate.filters.run.run_filter's work in DuckDB (no pixel pass: the caches' hashes, thumbnails
    and embeddings are used as they are; see curate.outofcore.neardup)."""
    from curate.filters.pair_scores import read_pair_scores, save_pair_scores
    from curate.filters.run import embeddings_note, recipe_centres, recipe_record
    from curate.outofcore.filter import filter_duckdb
    from curate.review.journal import reviewed_kept

    catalog = Catalog(ws.catalog_path, checked=True)
    input_hash = write_back.catalog_sha256(ws.catalog_path)
    with connect(ws.root) as con:
        validate(con, catalog)
        centres = recipe_centres(recipe)  # with median centres too (geo_evidence_warnings)
        scores = read_pair_scores(ws.root)  # the window match's scores of earlier runs, new ones added
        query, report = filter_duckdb(con, catalog, config, centres, ws, workers, scores, reviewed_kept(ws))
        save_pair_scores(ws.root, scores)
        report.warnings += _unembedded(con, catalog, ws)
        report.notes += (_unturned(con, catalog) + _no_later_hashes(con, catalog)
                         + _older_border_rule(con, ws, catalog) + _older_portraits(con, catalog)
                         + _older_pixel_read(con, ws, catalog))
        report.notes = embeddings_note(ws, report.notes)
        query = _with_decisions(con, ws, query, report.notes)
        mark_writing(ws, "filter")
        write_back.write_catalog(con, catalog, f"SELECT {_names()} FROM ({query}) ORDER BY rid")
    write_back.save_stage_report(ws, "filter", input_hash, {**report.to_dict(), **recipe_record(recipe)}, started)
    return report


def run_split_duckdb(ws, config, warnings: list[str] = (), started: float | None = None):
    """curate.split.run_split's work in DuckDB (`warnings`: the I/O edge's own, put first)."""
    from curate.outofcore.split import split_duckdb
    from curate.split.stage import earlier_settings

    catalog = Catalog(ws.catalog_path, checked=True)
    input_hash = write_back.catalog_sha256(ws.catalog_path)
    with connect(ws.root) as con:
        validate(con, catalog)
        query, report = split_duckdb(con, catalog, config, earlier_settings(ws))
        report.warnings[:0] = warnings
        mark_writing(ws, "split")
        write_back.write_catalog(con, catalog, f"SELECT {_names()} FROM ({query}) ORDER BY rid")
    write_back.save_stage_report(ws, "split", input_hash, report.to_dict(), started)
    return report


def leakage_duckdb(ws, by: str | None = None) -> pd.DataFrame:
    """curate.leakage.find_leakage over the workspace's catalog, in DuckDB."""
    from curate.outofcore.queries import find_leakage

    catalog = Catalog(ws.catalog_path, checked=True)
    with connect(ws.root) as con:
        return find_leakage(con, catalog, by)


def summary_duckdb(ws) -> dict:
    """The catalog counts of curate.status.summary, in DuckDB."""
    from curate.outofcore.queries import summary_counts

    catalog = Catalog(ws.catalog_path, checked=True)
    with connect(ws.root) as con:
        return summary_counts(con, catalog)


__all__ = ["leakage_duckdb", "literal", "run_filter_duckdb", "run_split_duckdb", "summary_duckdb", "validate"]
