"""The filter stage's metadata steps in DuckDB: the same flags as `curate.filters.stage.filter_catalog`.

Steps, in the pandas order (first reason wins): reset of the stage's earlier drops (and the
prefilter's repairs), licence, ambiguous_label, geo_outlier / missing_geo (`curate.outofcore.geo`:
per-label median centre, median latitude and the circular median longitude, computed by the same
arithmetic as `curate.filters.geo`; distances by the same NumPy function, called by DuckDB on Arrow chunks),
exact_duplicate (same keep rule), near_duplicate (`curate.outofcore.neardup`: the pandas engine's
linking over memory-mapped thumbnails, representatives by the same keep rule), quality:<check>
(every row scored by `quality.score_quality` in Arrow batches, the greyscale check judged on the
whole collection's colour share), owner_cap (same even spread over time). On a metadata-only
catalog the image steps are skipped as pandas skips them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd
import pyarrow as pa

from curate import licences, schema
from curate.filters import ambiguous as ambiguous_labels
from curate.filters import duplicates, owners, quality
from curate.filters.clusters import collage_note
from curate.filters.licence_filter import every_photo_licence_warning, licence_drop_note, licence_hold, licence_notes
from curate.filters.stage import (
    QUALITY_SKIPPED,
    STAGE,
    FilterConfig,
    FilterReport,
    exact_conflict_hold_warning,
    exact_conflict_notes,
    force_notes,
    near_conflict_notes,
    unreadable_phash_note,
)
from curate.outofcore.catalog_view import Catalog
from curate.outofcore.db import BATCH_ROWS, drop_kept, literal, owner_key_sql, quote, record_batches
from curate.outofcore.geo import ellipsoid_udf, geo_filter, region_outside_udf
from curate.outofcore.neardup import EXACT_ORDER, READABLE_PHASH, REPRESENTATIVE_ORDER, near_duplicates
from curate.outofcore.queries import status_counts
from curate.records import recomputed_stages

# the drops a filter run recomputes (its own and the prefilter's), as an SQL list
_RESET = ", ".join(literal(stage) for stage in recomputed_stages(STAGE))
_DROP = f"status = 'dropped', drop_reason = {{reason}}, drop_stage = {literal(STAGE)}"
SCORE_COLUMNS = [f"{check.name}_score" for check in quality.CHECKS]
# the columns the quality checks read, and the statistic that says a row was measured
QUALITY_INPUTS = list(dict.fromkeys(["laplacian_var"] + [name for check in quality.CHECKS for name in check.needs]))


def _drop(con, reason: str, where: str) -> None:
    drop_kept(con, STAGE, reason, where)


def filter_duckdb(con, catalog: Catalog, config: FilterConfig,
                  recipe_centres=None, workspace=None, workers: int = 1,
                  pair_scores=None, reviewed_kept: Sequence[str] = ()) -> tuple[str, FilterReport]:
    """Run the filter's steps over `catalog` in table `w`; returns (the SELECT of the new catalog,
    ordered by rid, with `rid` as last column, the stage report). `workspace`: whose thumbnail and
    embedding caches the near-duplicate step reads (None: neither, as `filter_catalog` without them);
    `workers`: processes for the window match's scores; `pair_scores`: their cache
    (curate.filters.pair_scores.PairScores: scores of earlier runs, new ones added; the caller saves it);
    `reviewed_kept`: the photo ids a reviewer kept (a collage among them is not dropped, `filter_catalog`)."""
    _register_geo_functions(con)
    _working_table(con, catalog, config)
    notes: list[str] = []
    warnings: list[str] = []
    if con.execute("SELECT bool_or(was_prefilter) FROM w").fetchone()[0]:
        notes.append("photos the prefilter had dropped were reinstated: run `curate prefilter` again")

    _licence_filter(con, config, notes, warnings)
    conflicts = _ambiguous_step(con, config, notes, warnings)
    geo_table = geo_filter(con, config, recipe_centres, notes, warnings)
    exact_groups = _exact_duplicate_step(con, conflicts["held"], notes)
    near_clusters = _near_duplicate_step(con, catalog, config, conflicts, notes, workspace, workers, pair_scores,
                                         warnings, reviewed_kept)
    quality_table, quality_items = _quality(con, catalog, config, notes, warnings)
    photos, drops = _quality_drops(con)
    warnings += quality.drop_warnings(*quality.labelled_only(photos, drops), forced=config.force_quality)
    notes += quality.drop_note(photos, drops)
    concentration, caps = _owner_cap_step(con, config, notes, warnings)
    query = _final_query(catalog, quality_items)

    dropped = con.execute(f"SELECT drop_reason, count(*) AS n FROM w WHERE drop_stage = {literal(STAGE)} "
                          "GROUP BY drop_reason ORDER BY n DESC, drop_reason").fetchall()
    notes += force_notes(config, warnings)
    report = FilterReport(config=asdict(config), funnel=status_counts(con, "w"), geo=geo_table,
                          concentration=concentration, caps=caps,
                          dropped_by_reason={reason: int(n) for reason, n in dropped},
                          exact_duplicate_groups=int(exact_groups), near_duplicate_clusters=near_clusters,
                          notes=notes, warnings=warnings, quality=quality_table, label_conflicts=conflicts)
    return query, report


def _register_geo_functions(con) -> None:
    """Register the geo step's Arrow UDFs `ellipsoid_km` and `region_outside` on `con`."""
    try:
        from duckdb.sqltypes import BOOLEAN, DOUBLE, VARCHAR
    except ImportError:  # duckdb < 1.4
        from duckdb.typing import BOOLEAN, DOUBLE, VARCHAR

    con.create_function("ellipsoid_km", ellipsoid_udf, [DOUBLE] * 4, DOUBLE, type="arrow", side_effects=False)
    con.create_function("region_outside", region_outside_udf, [VARCHAR, DOUBLE, DOUBLE], BOOLEAN,
                        type="arrow", side_effects=False)


def _working_table(con, catalog: Catalog, config: FilterConfig) -> None:
    """Create table `w`: the columns the steps read, this stage's earlier drops reset, empty step columns."""
    c = catalog.column
    min_acc = int(config.min_geo_accuracy)
    con.execute(f"""
        CREATE OR REPLACE TABLE w AS
        SELECT rid, photo_id, label, n_tag_labels, amb_names, lat, lon, lat_u, lon_u, coord_issue, geo_accuracy,
               license, sha256,
               width, height, taken_at, owner_id, phash, phash_mirror, phash_trimmed, phash_rot90, phash_rot180,
               phash_panels, phash_strips, laplacian_var, chroma_mean, FALSE AS upscaled, FALSE AS overlaid,
               was_prefilter,
               CASE WHEN reset THEN 'kept' ELSE status END AS status,
               CASE WHEN reset THEN NULL ELSE drop_reason END AS drop_reason,
               CASE WHEN reset THEN NULL ELSE drop_stage END AS drop_stage,
               NULL::DOUBLE AS dist, NULL::VARCHAR AS exact, NULL::VARCHAR AS keeper, NULL::VARCHAR AS near,
               FALSE AS labelled
        FROM (
            SELECT rid, photo_id, coalesce(original_label, label) AS label,
                   coalesce(len(tag_labels), 0) AS n_tag_labels,
                   CASE WHEN len(tag_labels) >= 2 THEN array_to_string(tag_labels, '{ambiguous_labels.SEPARATOR}')
                   END AS amb_names, lat, lon,
                   CASE WHEN coalesce(geo_accuracy < {min_acc}, FALSE) THEN NULL ELSE lat END AS lat_u,
                   CASE WHEN coalesce(geo_accuracy < {min_acc}, FALSE) THEN NULL ELSE lon END AS lon_u,
                   coord_issue, geo_accuracy, license, sha256, width, height, taken_at, owner_id, phash, phash_mirror,
                   phash_trimmed, phash_rot90, phash_rot180, phash_panels, phash_strips, laplacian_var, chroma_mean,
                   status, drop_reason, drop_stage, coalesce(drop_stage = 'prefilter', FALSE) AS was_prefilter,
                   (coalesce(geo_rescued, FALSE) AND status = 'kept')
                       OR coalesce(drop_stage IN ({_RESET}), FALSE) AS reset
            FROM (SELECT rid, {c('photo_id')}, {c('label')}, {c('original_label')}, {c('tag_labels')}, {c('lat')},
                         {c('lon')}, {c('coord_issue')}, {c('geo_accuracy')}, {c('license')}, {c('sha256')},
                         {c('width')}, {c('height')}, {c('taken_at')}, {c('owner_id')}, {c('phash')},
                         {c('phash_mirror')}, {c('phash_trimmed')}, {c('phash_rot90')}, {c('phash_rot180')},
                         {c('phash_panels')}, {c('phash_strips')},
                         {c('laplacian_var')}, {c('chroma_mean')},
                         {c('status')}, {c('drop_reason')}, {c('drop_stage')}, {c('geo_rescued')}
                  FROM {catalog.source})
        )""")


def _ambiguous_step(con, config: FilterConfig, notes: list[str], warnings: list[str]) -> dict:
    """Drop ambiguous photos and exact copies with two labels (each unless held); returns the label conflicts."""
    conflict_labels = _label_conflicts(con, "sha256")
    conflicts = {"exact_images": len(conflict_labels),
                 "exact_photos": con.execute("SELECT count(*) FROM conflicted").fetchone()[0], "near_clusters": 0,
                 "near_photos": 0}
    per_label = con.execute("""
        SELECT label, count(*) AS photos, count(*) FILTER (WHERE rid IN (SELECT rid FROM conflicted)) AS conflicting
        FROM w WHERE status = 'kept' AND label IS NOT NULL GROUP BY label""").fetchdf()
    held = not config.force_conflicts and duplicates.conflicts_held(per_label)
    conflicts["held"] = held
    amb_pairs = con.execute("""
        SELECT amb_names, count(*) AS photos FROM w WHERE status = 'kept' AND label IS NULL AND n_tag_labels >= 2
        GROUP BY amb_names""").fetchdf().set_index("amb_names")["photos"].astype("int64")
    label_counts = per_label.set_index("label")["photos"]
    conflicts["ambiguous_photos"] = int(amb_pairs.sum())
    conflicts["ambiguous_held"] = ambiguous_labels.held(label_counts, amb_pairs, config.force_ambiguous)
    amb_notes, amb_warnings = ambiguous_labels.lines(label_counts, amb_pairs, conflicts["ambiguous_held"])
    ambiguous = "FALSE" if conflicts["ambiguous_held"] else "(label IS NULL AND n_tag_labels >= 2)"
    if held:
        warnings.append(exact_conflict_hold_warning(conflicts, conflict_labels, int(per_label["photos"].sum())))
        _drop(con, "ambiguous_label", ambiguous)
    else:
        notes += exact_conflict_notes(conflicts, conflict_labels, per_label.set_index("label"))
        _drop(con, "ambiguous_label", f"{ambiguous} OR rid IN (SELECT rid FROM conflicted)")
    notes += amb_notes
    warnings += amb_warnings
    return conflicts


def _exact_duplicate_step(con, held: bool, notes: list[str]) -> int:
    """Drop all but one copy of each stored image (one per label when `held`); returns the duplicate groups."""
    has_images = con.execute("SELECT count(sha256) FROM w").fetchone()[0] > 0
    if not has_images:
        notes.append("no stored images (metadata-only catalog): exact-duplicate filter skipped")
    else:
        # held label conflicts: each label keeps its own copy (duplicates.exact_duplicates(per_label=True))
        keeper = ", coalesce(label, '')" if held else ""
        con.execute(f"""
            UPDATE w SET exact = r.grp, keeper = r.keeper FROM (
                SELECT rid, first_value(photo_id) OVER (PARTITION BY sha256 ORDER BY {EXACT_ORDER}) AS grp,
                       first_value(photo_id) OVER (PARTITION BY sha256{keeper} ORDER BY {EXACT_ORDER})
                           AS keeper
                FROM w WHERE sha256 IS NOT NULL) r
            WHERE w.rid = r.rid""")
        _drop(con, "exact_duplicate", "keeper IS NOT NULL AND keeper <> photo_id")
    return con.execute("SELECT count(DISTINCT exact) FROM w WHERE exact <> photo_id").fetchone()[0]


def _near_duplicate_step(con, catalog: Catalog, config: FilterConfig, conflicts: dict, notes: list[str],
                         workspace, workers: int, pair_scores=None, warnings: list[str] | None = None,
                         reviewed_kept: Sequence[str] = ()) -> int:
    """Link near duplicates (and drop all but one per cluster and label with dedupe_near); returns the clusters."""
    unreadable = con.execute(f"SELECT count(*) FROM w WHERE phash IS NOT NULL AND NOT {READABLE_PHASH}").fetchone()[0]
    if unreadable:
        notes.append(unreadable_phash_note(unreadable))
    hashed = con.execute(f"SELECT count(*) FROM w WHERE {READABLE_PHASH} AND sha256 IS NOT NULL").fetchone()[0]
    near_clusters = 0
    if hashed:
        near_clusters = near_duplicates(con, workspace, config, notes, catalog.source, workers, pair_scores,
                                        [] if warnings is None else warnings, reviewed_kept)
        span_labels = _label_conflicts(con, "near")
        conflicts.update(near_clusters=len(span_labels),
                         near_photos=con.execute("SELECT count(*) FROM conflicted").fetchone()[0])
        notes += near_conflict_notes(conflicts, span_labels)
        if config.dedupe_near:  # one photo kept per cluster and label, as stage._near_duplicates
            collage = "near IN (SELECT near FROM w WHERE phash_panels IS NOT NULL AND near IS NOT NULL)" \
                if "phash_panels" in catalog.present else "false"  # (a cluster holding one is kept whole)
            extra = f"""(SELECT rid, near FROM (
                SELECT rid, near, photo_id, status, first_value(photo_id) OVER (PARTITION BY near, label
                                                                              ORDER BY {REPRESENTATIVE_ORDER}) AS keeper
                FROM w WHERE near IS NOT NULL) WHERE keeper <> photo_id AND status = 'kept')"""
            whole = con.execute(f"SELECT count(DISTINCT near) FROM {extra} WHERE {collage}").fetchone()[0]
            if whole:
                notes.append(collage_note(int(whole)))
            _drop(con, "near_duplicate", f"""rid IN (SELECT rid FROM (
                SELECT rid, near, photo_id, first_value(photo_id) OVER (PARTITION BY near, label
                                                                      ORDER BY {REPRESENTATIVE_ORDER}) AS keeper
                FROM w WHERE near IS NOT NULL) WHERE keeper <> photo_id AND NOT ({collage}))""")
    else:
        notes.append("no perceptual hashes (metadata-only catalog): near-duplicate filter skipped")
    return near_clusters


def _owner_cap_step(con, config: FilterConfig, notes: list[str],
                    warnings: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cap the photos per owner when configured; returns (the owner concentration before the caps, the caps table)."""
    concentration = _concentration(con)
    caps = pd.DataFrame(columns=owners.CAP_COLUMNS)
    if config.max_per_owner is not None or config.max_owner_share is not None:
        caps = _owner_cap(con, config)
        warnings += owners.cap_warnings(caps, concentration, config.max_owner_share)
        notes += owners.cap_note(caps, concentration, config.max_per_owner, config.max_owner_share)
        notes += owners.dominance_lines(_concentration(con))  # the photos the caps left, as the pandas engine
    else:
        notes += owners.dominance_lines(concentration)
    return concentration, caps


def _final_query(catalog: Catalog, quality_items: list[str]) -> str:
    """The SELECT of the new catalog: the source's columns with the steps' flags and scores, `rid` last."""
    replaced = {"label": "w.label AS label", "original_label": "NULL::VARCHAR AS original_label",
                "geo_rescued": "NULL::BOOLEAN AS geo_rescued", "status": "w.status AS status",
                "drop_reason": "w.drop_reason AS drop_reason", "drop_stage": "w.drop_stage AS drop_stage",
                "geo_distance_km": "w.dist AS geo_distance_km", "exact_dup_group": "w.exact AS exact_dup_group",
                "near_dup_cluster": "w.near AS near_dup_cluster"}
    replaced.update({item.rsplit(" AS ", 1)[1].strip('"'): item for item in quality_items})
    items = [replaced.get(name) or catalog.column(name, table="src") for name in schema.NAMES]
    scored = " JOIN q USING (rid)" if quality_items[0].startswith("q.") else ""
    return f"SELECT {', '.join(items)}, rid FROM {catalog.source} src JOIN w USING (rid){scored} ORDER BY rid"


def _label_conflicts(con, key: str) -> list[tuple[str, ...]]:
    """duplicates.label_conflicts in SQL: the kept rows whose `key` is shared by kept rows carrying two
    or more labels go to temp table `conflicted` (rid); returns the sorted labels of each such key, by key."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE conflict_keys AS
        SELECT {key} AS k, list_sort(list(DISTINCT label)) AS labels FROM w
        WHERE status = 'kept' AND {key} IS NOT NULL AND label IS NOT NULL
        GROUP BY {key} HAVING count(DISTINCT label) >= 2""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE conflicted AS SELECT rid FROM w WHERE status = 'kept' "
                f"AND {key} IN (SELECT k FROM conflict_keys)")
    return [tuple(labels) for (labels,) in con.execute("SELECT labels FROM conflict_keys ORDER BY k").fetchall()]


def _batches(con, catalog: Catalog, columns: list[str]):
    """The catalog's `rid` and `columns` as pandas frames of BATCH_ROWS rows (dtypes as read_catalog
    gives them), read on a second cursor so that the caller may write while it reads."""
    items = ", ".join(["rid"] + [catalog.column(name) for name in columns])
    for batch in record_batches(con, f"SELECT {items} FROM {catalog.source}", BATCH_ROWS):
        yield batch.to_pandas(types_mapper=schema.pandas_type)


def _quality_drops(con) -> tuple[pd.Series, pd.DataFrame]:
    """stage._quality_drops out of core: (label -> photos kept before the quality step, (label, reason,
    dropped) of its drops), the unlabelled photos under schema.NO_LABEL."""
    by_quality = f"(drop_stage = {literal(STAGE)} AND drop_reason LIKE 'quality:%')"
    label = f"coalesce(label, {literal(schema.NO_LABEL)})"
    photos = con.execute(f"SELECT {label} AS label, count(*) AS n FROM w WHERE status = "
                         f"{literal(schema.KEPT)} OR {by_quality} GROUP BY 1").df()
    drops = con.execute(f"SELECT {label} AS label, drop_reason AS reason, count(*) AS dropped FROM w "
                        f"WHERE {by_quality} GROUP BY ALL").df()
    return photos.set_index("label")["n"].astype("int64"), drops


def _quality(con, catalog: Catalog, config: FilterConfig, notes: list[str],
             warnings: list[str]) -> tuple[list[dict], list[str]]:
    """stage._quality out of core: every row scored by `quality.score_quality` in batches of
    BATCH_ROWS rows into table `q` (rid, the scores, quality_issues), judged against the whole
    collection's colour share (`quality.colour_counts` summed over a first pass of batches); the
    kept rows failing a check of config.drop_quality dropped as quality:<first such check in
    CHECKS order>. Returns (the report's quality table, the select items of the scored columns)."""
    drops = [check.name for check in quality.CHECKS if check.name in config.drop_quality]
    table = [{"check": check.name, "threshold": float(check.threshold), "meaning": check.meaning,
              "flagged": 0, "dropped": 0, "drops": check.name in config.drop_quality} for check in quality.CHECKS]
    laplacian = catalog.column("laplacian_var")
    if not con.execute(f"SELECT count(*) FILTER (WHERE NOT isnan(laplacian_var)) FROM (SELECT {laplacian} "
                       f"FROM {catalog.source})").fetchone()[0]:
        notes.append(QUALITY_SKIPPED)
        return table, [f"NULL::DOUBLE AS {quote(name)}" for name in SCORE_COLUMNS] + \
            ["[]::VARCHAR[] AS quality_issues"]
    total = colour = 0
    for frame in _batches(con, catalog, ["laplacian_var"] + list(quality.CHECK_BY_NAME["greyscale"].needs)):
        measured, coloured = quality.colour_counts(frame)
        total, colour = total + measured, colour + coloured
    counts = (total, colour)
    columns = ", ".join(f"{quote(name)} DOUBLE" for name in SCORE_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE q (rid BIGINT, {columns}, quality_issues VARCHAR[])")
    for frame in _batches(con, catalog, QUALITY_INPUTS):
        scores, _ = quality.score_quality(frame, config.colour_collection_share, counts)
        arrays = {"rid": pa.array(frame["rid"].to_numpy(dtype=np.int64))}
        arrays.update({name: pa.array(scores[name].to_numpy(dtype=np.float64), pa.float64(), from_pandas=True)
                       for name in SCORE_COLUMNS})
        arrays["quality_issues"] = pa.array(scores["quality_issues"].tolist(), pa.list_(pa.string()))
        con.register("q_batch", pa.table(arrays))
        con.execute("INSERT INTO q SELECT * FROM q_batch")
        con.unregister("q_batch")
    if total and colour / total <= config.colour_collection_share:
        notes.append(f"mostly greyscale collection ({1 - colour / total:.0%} of photos): "
                     "the greyscale check flags nothing")
    flagged = con.execute("SELECT " + ", ".join(f"count(*) FILTER (WHERE list_contains(quality_issues, "
                                                f"{literal(check.name)}))" for check in quality.CHECKS)
                          + " FROM q").fetchone()
    for row, n in zip(table, flagged):
        row["flagged"] = int(n)
    notes += quality.crowded_check_note({row["check"]: row["flagged"] for row in table}, total)
    if drops:
        # the first failed check in CHECKS order that drops names the reason
        reason = "CASE " + " ".join(f"WHEN list_contains(quality_issues, {literal(name)}) "
                                    f"THEN {literal('quality:' + name)}" for name in drops) + " END"
        con.execute(f"CREATE OR REPLACE TEMP TABLE quality_drops AS SELECT rid, {reason} AS reason FROM q "
                    f"WHERE {reason} IS NOT NULL")
        key = f"coalesce(w.label, {literal(schema.NO_LABEL)})"
        photos = con.execute(f"SELECT {key} AS label, count(*) AS n FROM w WHERE w.status = 'kept' "
                             "GROUP BY 1").df().set_index("label")["n"].astype("int64")
        would_drop = con.execute(f"SELECT {key} AS label, d.reason, count(*) AS dropped FROM quality_drops d "
                                 "JOIN w USING (rid) WHERE w.status = 'kept' GROUP BY ALL").df()
        held = quality.held_labels(photos, would_drop, config.force_quality)
        flags = con.execute(" UNION ALL ".join(
            f"SELECT {key} AS label, {literal(name)} AS check, count(*) AS flagged FROM q JOIN w USING (rid) "
            f"WHERE w.status = 'kept' AND list_contains(q.quality_issues, {literal(name)}) GROUP BY 1"
            for name in drops)).df() if len(held) else None
        warnings += quality.held_warning(photos, held, flags)
        if len(held):
            con.execute("CREATE OR REPLACE TEMP TABLE quality_held (label VARCHAR)")
            con.executemany("INSERT INTO quality_held VALUES (?)", [[label] for label in held.index])
            con.execute(f"DELETE FROM quality_drops WHERE rid IN (SELECT rid FROM w WHERE {key} IN "
                        "(SELECT label FROM quality_held))")
        dropped = dict(con.execute("SELECT d.reason, count(*) FROM quality_drops d JOIN w USING (rid) "
                                   "WHERE w.status = 'kept' GROUP BY d.reason").fetchall())
        for row in table:
            row["dropped"] = int(dropped.get(f"quality:{row['check']}", 0))
        con.execute(f"UPDATE w SET {_DROP.format(reason='d.reason')} FROM quality_drops d "
                    "WHERE w.rid = d.rid AND w.status = 'kept'")
    return table, [f"q.{quote(name)} AS {quote(name)}" for name in SCORE_COLUMNS + ["quality_issues"]]


def _licence_filter(con, config: FilterConfig, notes: list[str], warnings: list[str]) -> None:
    """curate.filters.licence_filter.licence_filter in SQL: the allowed and the readable licences are judged in Python
    over the distinct values, the drops (and the hold) by the same shared functions."""
    if config.licences is None:
        return
    values = [row[0] for row in con.execute("SELECT DISTINCT license FROM w WHERE license IS NOT NULL").fetchall()]
    series = pd.Series(values, dtype=object)
    allowed = series[licences.licence_allowed(series, config.licences)].tolist() if values else []
    readable = [value for value in values if licences.canonical_licence(value) is not None]
    for table, chosen in (("allowed_licences", allowed), ("readable_licences", readable)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (license VARCHAR)")
        if chosen:
            con.executemany(f"INSERT INTO {table} VALUES (?)", [[value] for value in chosen])
    unreadable = "(license IS NULL OR license NOT IN (SELECT license FROM readable_licences))"
    judged, without, missing = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {unreadable}), count(*) FILTER (WHERE license IS NULL) "
        "FROM w WHERE status = 'kept'").fetchone()
    unknown = con.execute(f"SELECT license, count(*) AS n FROM w WHERE status = 'kept' AND license IS NOT NULL "
                          f"AND {unreadable} GROUP BY license ORDER BY n DESC, license").fetchall()
    held = licence_hold(int(judged), int(without), config, notes, warnings)
    notes += licence_notes(int(missing), [(name, int(n)) for name, n in unknown], held)
    shown = con.execute("SELECT coalesce(license, '(none)') AS name, count(*) AS n FROM w WHERE status = 'kept' "
                        "GROUP BY name ORDER BY n DESC, name").fetchall()
    disallowed = "license IS NULL OR license NOT IN (SELECT license FROM allowed_licences)"
    dropping = f"({disallowed}) AND NOT {unreadable}" if held else disallowed
    refused = con.execute(f"SELECT license, count(*) FROM w WHERE status = 'kept' AND NOT {unreadable} AND "
                          f"({disallowed}) GROUP BY license").fetchall()
    per_label = con.execute(f"SELECT coalesce(label, {literal(schema.NO_LABEL)}) AS label, count(*), "
                            f"count(*) FILTER (WHERE {dropping}) FROM w WHERE status = 'kept' GROUP BY 1").fetchall()
    photos = pd.Series({label: int(n) for label, n, _ in per_label}, dtype="int64")
    lost = pd.Series({label: int(d) for label, _, d in per_label if d}, dtype="int64")
    notes += licence_drop_note([(text, int(n)) for text, n in refused], photos, lost, config)
    _drop(con, "licence", dropping)
    if judged > without and not con.execute("SELECT count(*) FROM w WHERE status = 'kept'").fetchone()[0]:
        warnings.append(every_photo_licence_warning([(name, int(n)) for name, n in shown], config))


_OWNER = owner_key_sql()


def _concentration(con) -> pd.DataFrame:
    """owners.concentration of the kept, labelled photos, from per-(label, owner) counts in SQL (photos
    without an owner counted apart, as there)."""
    frame = con.execute("""
        WITH counts AS (SELECT label, owner_id AS owner, count(*) AS n FROM w
                        WHERE status = 'kept' AND label IS NOT NULL GROUP BY ALL),
        known AS (SELECT label, count(*) AS owners, sum(n)::BIGINT AS owned, sum(n * n)::BIGINT AS square_sum,
                         arg_min(owner, (-n, owner)) AS top_owner, max(n)::BIGINT AS top_owner_photos
                  FROM counts WHERE owner IS NOT NULL GROUP BY label)
        SELECT label, sum(n)::BIGINT AS photos, any_value(k.owners) AS owners, any_value(k.owned) AS owned,
               any_value(k.square_sum) AS square_sum, any_value(k.top_owner) AS top_owner,
               any_value(k.top_owner_photos) AS top_owner_photos
        FROM counts LEFT JOIN known k USING (label) GROUP BY label ORDER BY label""").df()
    return owners.concentration_table(frame)


def _owner_cap(con, config: FilterConfig) -> pd.DataFrame:
    """owners.owner_cap: per label the smaller of max_per_owner and the share cap; an owner over
    it keeps `spread_pick` of its photos sorted by taken_at (nulls last), then photo_id."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE owner_counts AS
                    SELECT label, {_OWNER} AS owner, count(*) AS n FROM w
                    WHERE status = 'kept' AND label IS NOT NULL GROUP BY ALL""")
    per_label = con.execute("SELECT label, list(n) FROM owner_counts GROUP BY label ORDER BY label").fetchall()
    caps, rows = {}, []
    for label, counts in per_label:
        counts = np.asarray(counts, dtype=np.int64)
        cap, note, tightest, held = owners.label_cap(counts, config.max_per_owner, config.max_owner_share,
                                                     config.force_caps)
        caps[label] = cap
        rows.append({"label": label, "cap": cap, "owners_capped": int((counts > cap).sum()) if cap else 0,
                     "note": note, "tightest_share": tightest, "photos_held": held})
    con.execute("CREATE OR REPLACE TEMP TABLE caps (label VARCHAR, cap BIGINT)")
    capped = [[label, cap] for label, cap in caps.items() if cap is not None]
    if capped:
        con.executemany("INSERT INTO caps VALUES (?, ?)", capped)
    pairs = con.execute("SELECT DISTINCT o.n, c.cap FROM owner_counts o JOIN caps c USING (label) "
                        "WHERE o.n > c.cap").fetchall()
    keep = [[n, cap, int(pos)] for n, cap in pairs for pos in owners.spread_pick(int(n), int(cap))]
    con.execute("CREATE OR REPLACE TEMP TABLE keep_positions (n BIGINT, cap BIGINT, pos BIGINT)")
    if keep:
        columns = np.asarray(keep, dtype=np.int64).T
        con.register("keep_frame", pa.table({"n": columns[0], "cap": columns[1], "pos": columns[2]}))
        con.execute("INSERT INTO keep_positions SELECT * FROM keep_frame")
        con.unregister("keep_frame")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE capped AS
        SELECT rid FROM (
            SELECT w.rid, o.n, c.cap,
                   row_number() OVER (PARTITION BY w.label, {owner_key_sql('w')}
                                      ORDER BY w.taken_at ASC NULLS LAST, w.photo_id) - 1 AS pos
            FROM w JOIN owner_counts o ON w.label = o.label AND {owner_key_sql('w')} = o.owner
                   JOIN caps c ON w.label = c.label
            WHERE w.status = 'kept' AND o.n > c.cap) r
        ANTI JOIN keep_positions k ON r.n = k.n AND r.cap = k.cap AND r.pos = k.pos""")
    per_label_capped = dict(con.execute("SELECT w.label, count(*) FROM capped JOIN w USING (rid) GROUP BY w.label")
                            .fetchall())
    _drop(con, "owner_cap", "rid IN (SELECT rid FROM capped)")
    for row in rows:
        row["photos_capped"] = int(per_label_capped.get(row["label"], 0))
    return owners.cap_table(rows)
