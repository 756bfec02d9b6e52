"""`curate split` in DuckDB: the same groups and the same split as `curate.split.split_catalog`.

DuckDB turns each kept row's grouping keys (owner or `by`, near-duplicate cluster, exact group)
and its label into integer codes, in file order; the connected components are found over those
codes (numbered by first appearance, as `curate.groups.components` numbers them), and
`curate.split.assign_groups` places the groups, so the assignment is the pandas one for the same
seed. Held in memory: a few integers per kept photo and the (groups x labels) share table.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from curate import schema
from curate.errors import UsageError
from curate.groups import BLANK, KM_PER_DEGREE, SESSION_GAP_S, SESSION_KM
from curate.outofcore.catalog_view import Catalog
from curate.outofcore.db import literal, owner_key_sql, quote
from curate.schema import NO_LABEL, SPLITS
from curate.split import (
    CELL_DEGREES,
    LOSS_STAGES,
    NOT_LOSSES,
    RELABELLED,
    UNDATED_CLUSTER,
    SplitConfig,
    SplitReport,
    assign_groups,
    by_none_warnings,
    cross_label_copy_warnings,
    earlier,
    empty_column_notes,
    empty_split_reasons,
    empty_split_warnings,
    lost_label_warnings,
    no_owner_notes,
    off_share_notes,
    one_group_by_column,
    one_group_error,
    shares_table,
    short_split_warnings,
    undated_cluster_warnings,
    unevaluated_label_warnings,
    ungrouped_duplicates_warning,
    walk_heavy_notes,
    without_collage_advice,
)
from curate.split.config import changed_settings

_OWNER = owner_key_sql()


def group_components(codes: list[np.ndarray]) -> np.ndarray:
    """curate.groups.components over integer key codes (-1: no key): two rows are together when
    they share a code of any key; components numbered by first appearance.

    >>> group_components([np.array([0, 0, -1, 1]), np.array([-1, 5, 5, -1])]).tolist()
    [0, 0, 0, 1]
    """
    n = len(codes[0]) if codes else 0
    offsets, start = [], 0
    for key in codes:
        offsets.append(start)
        start += int(key.max()) + 1 if len(key) and key.max() >= 0 else 0
    alone = start  # nodes from here on: one per row without any key
    node = np.full(n, -1, dtype=np.int64)
    first, second = [], []
    for key, offset in zip(codes, offsets):
        has = key >= 0
        ids = np.where(has, key.astype(np.int64) + offset, -1)
        linked = has & (node >= 0)
        first.append(node[linked])
        second.append(ids[linked])
        node = np.where(node >= 0, node, ids)
    missing = node < 0
    node[missing] = alone + np.arange(int(missing.sum()))
    size = alone + int(missing.sum())
    graph = coo_matrix((np.ones(sum(len(f) for f in first), dtype=np.int8),
                        (np.concatenate(first) if first else np.zeros(0, np.int64),
                         np.concatenate(second) if second else np.zeros(0, np.int64))), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    _, first_seen, inverse = np.unique(labels[node], return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first_seen)).astype(np.int64)[inverse]


def _code(expression: str) -> str:
    """Dense 0-based code of a key per row, -1 where it is null (equal keys, equal codes)."""
    return (f"CASE WHEN ({expression}) IS NULL THEN -1 "
            f"ELSE dense_rank() OVER (PARTITION BY ({expression}) IS NULL ORDER BY ({expression})) - 1 END")


def _sessions(con, catalog: Catalog, by: str) -> None:
    """curate.split.sessions in SQL: table `sessions` (rid, session) of the kept photos without an
    owner in a walk of two or more (each within SESSION_GAP_S seconds and SESSION_KM km of the one
    before, by taken_at then photo_id; the distance as `walk_km` writes it). Empty when `by` is none:
    every other split groups walks."""
    if by == "none":
        con.execute("CREATE OR REPLACE TEMP TABLE sessions (rid BIGINT, session VARCHAR)")
        return
    c = catalog.column
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE sessions AS
        WITH src AS (SELECT rid, {c('photo_id')}, {c('owner_id')}, {c('status')}, {c('taken_at')}, {c('lat')},
                            {c('lon')} FROM {catalog.source}),
        e AS (SELECT rid, photo_id, epoch_us(taken_at) / 1e6 AS t, lat, lon FROM src
              WHERE status = 'kept' AND owner_id IS NULL AND taken_at IS NOT NULL AND lat IS NOT NULL
                    AND lon IS NOT NULL),
        o AS (SELECT *, lag(t) OVER w AS pt, lag(lat) OVER w AS plat, lag(lon) OVER w AS plon
              FROM e WINDOW w AS (ORDER BY t, photo_id)),
        d AS (SELECT *, (lon - plon) * cos(radians((plat + lat) / 2)) * {KM_PER_DEGREE!r} AS dx,
                        (lat - plat) * {KM_PER_DEGREE!r} AS dy FROM o),
        j AS (SELECT *, CASE WHEN pt IS NOT NULL AND t - pt <= {SESSION_GAP_S!r}
                                  AND sqrt(dx * dx + dy * dy) <= {SESSION_KM!r} THEN 0 ELSE 1 END AS new FROM d),
        n AS (SELECT *, sum(new) OVER (ORDER BY t, photo_id ROWS UNBOUNDED PRECEDING) AS num FROM j),
        s AS (SELECT *, count(*) OVER (PARTITION BY num) AS size,
                     first_value(photo_id) OVER (PARTITION BY num ORDER BY t, photo_id) AS head FROM n)
        SELECT rid, 'session ' || head AS session FROM s WHERE size >= 2""")


def split_duckdb(con, catalog: Catalog, config: SplitConfig,
                 earlier_settings: dict | None = None) -> tuple[str, SplitReport]:
    """Assign `split` to every kept photo; returns (the SELECT of the new catalog ordered by rid,
    with `rid` as last column, the report). An earlier split's photos stay where they were as
    `curate.split.split_catalog` keeps them (`earlier_settings`: its saved config, {} not known; None:
    every photo placed afresh)."""
    column_key = _column_key(config.by)
    _sessions(con, catalog, config.by)
    _key_table(con, catalog, config.by, column_key)
    changed = changed_settings(config, earlier_settings)
    keep = not config.reshuffle and not changed
    group, label_codes, before = _groups(con, config)
    if earlier_settings is None:
        before = np.full(len(before), -1, dtype=np.int64)
    left = 0 if earlier_settings is None else int(con.execute(  # photos of the earlier split dropped since
        f"SELECT count(*) FROM (SELECT {catalog.column('status')}, {catalog.column('split')} FROM {catalog.source}) "
        "WHERE status <> 'kept' AND split IS NOT NULL").fetchone()[0])
    n_groups, moves, held_empty = _assign_splits(con, config, group, label_codes, before, keep, left)
    splits = "['" + "', '".join(SPLITS) + "']"
    per_label = _split_table(con, config, splits)
    no_owner, notes, warnings, empty = _split_messages(con, catalog, config, column_key, per_label, held_empty)
    earlier_notes, earlier_warnings = earlier.lines(moves, keep, changed)
    c = catalog.column
    items = [f"{splits}[s.code + 1] AS split" if name == "split" else c(name) for name in schema.NAMES]
    query = f"SELECT {', '.join(items)}, rid FROM {catalog.source} src LEFT JOIN s USING (rid) ORDER BY rid"
    return query, SplitReport(asdict(config), per_label, n_groups, no_owner, earlier_notes + notes,
                              earlier_warnings + warnings, empty, moves if moves["earlier"] else {})


def _column_key(by: str) -> str | None:
    """SQL of a --by column's value (None for --by owner or none)."""
    text = f"CAST({quote(by)} AS VARCHAR)"  # blank text is no value, as curate.groups.blank_as_missing has it
    return f"CASE WHEN regexp_matches({text}, {literal(BLANK)}) THEN NULL ELSE {text} END" \
        if by not in ("owner", "none") else None


def _key_table(con, catalog: Catalog, by: str, column_key: str | None) -> None:
    """Table `k`: per kept row, its label, owner and the integer codes of its grouping keys and label."""
    c = catalog.column
    first_key = None if by == "none" else _OWNER  # a --by column adds to the owners (curate.split.split_groups)
    extra = [c(by)] if column_key and by not in ("owner_id", schema.PHOTO_ID, "label", "status", "near_dup_cluster",
                                                 "exact_dup_group") else []
    con.execute(f"""
        CREATE OR REPLACE TABLE k AS
        SELECT rid, coalesce(label, {literal(NO_LABEL)}) AS label, {_OWNER} AS owner,
               owner_id IS NULL AS no_owner,
               {_code(first_key) if first_key else '-1'} AS first_code,
               {_code('near_dup_cluster')} AS near_code, {_code('exact_dup_group')} AS exact_code,
               {_code('session') if by != 'none' else '-1'} AS session_code,
               {_code(column_key) if column_key else '-1'} AS column_code,
               {f'{column_key} IS NULL' if column_key else 'false'} AS column_empty,
               dense_rank() OVER (ORDER BY coalesce(label, {literal(NO_LABEL)})) - 1 AS label_code,
               near_dup_cluster IS NOT NULL AS has_near,
               coalesce(list_position({list(SPLITS)!r}, split) - 1, -1) AS earlier_code
        FROM (SELECT rid, {c('photo_id')}, {c('owner_id')}, {c('label')}, {c('status')}, {c('near_dup_cluster')},
                     {c('exact_dup_group')}, {c('split')}{''.join(', ' + item for item in extra)}
              FROM {catalog.source})
             LEFT JOIN sessions USING (rid)
        WHERE status = 'kept'""")


def _groups(con, config: SplitConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group, label code, earlier split code) of each row of `k` by rid: the groups are the connected
    components of its key codes."""
    arrays = con.execute("SELECT first_code, near_code, exact_code, session_code, column_code, label_code, "
                         "earlier_code FROM k ORDER BY rid").fetchnumpy()
    if len(arrays["label_code"]) == 0:
        raise UsageError("the catalog has no kept photos to split; check `curate status` (everything was dropped)")
    if config.by == "none":
        group = np.arange(len(arrays["label_code"]))
    else:
        keys = [np.asarray(arrays[name], dtype=np.int64)
                for name in ("first_code", "near_code", "exact_code", "session_code", "column_code")]
        group = group_components(keys)
        if one_group_by_column(config, group, lambda: group_components(keys[:-1])):
            raise UsageError(one_group_error(config.by))
    return group, np.asarray(arrays["label_code"], dtype=np.int64), np.asarray(arrays["earlier_code"], np.int64)


def _assign_splits(con, config: SplitConfig, group: np.ndarray, label_codes: np.ndarray, before: np.ndarray,
                   keep: bool, left: int = 0) -> tuple[int, dict, list[str]]:
    """Table `s` (rid, split code, group) from `assign_groups` (`keep`: the earlier split's groups stay
    put); returns the number of groups, `curate.split.earlier.moves` and `earlier.held_empty_warnings`."""
    n_labels = int(label_codes.max()) + 1
    fixed = earlier.group_splits(group, before, config.fractions) if keep else None
    assignment = assign_groups(group, label_codes, n_labels, config.fractions, config.seed, fixed=fixed)
    per_row = assignment[group].astype(np.int8)
    rids = con.execute("SELECT rid FROM k ORDER BY rid").fetchnumpy()["rid"]
    con.register("split_codes", pa.table({"rid": pa.array(rids, pa.int64()), "code": pa.array(per_row, pa.int8()),
                                          "grp": pa.array(group, pa.int64())}))
    con.execute("CREATE OR REPLACE TABLE s AS SELECT * FROM split_codes")
    con.unregister("split_codes")
    return int(group.max()) + 1, earlier.moves(before, per_row.astype(np.int64), left,
                                               None if fixed is None else fixed[group]), \
        earlier.held_empty_warnings(group, label_codes, n_labels, config.fractions, config.seed, fixed, assignment)


def _split_messages(con, catalog: Catalog, config: SplitConfig, column_key: str | None,
                    per_label: pd.DataFrame, held_empty: list[str] = ()) -> tuple[int, list[str], list[str], dict]:
    """(photos without an owner, notes, warnings, empty-split reasons) of the split in tables `k` and `s`."""
    by = config.by
    no_owner = int(con.execute("SELECT count(*) FROM k WHERE no_owner").fetchone()[0]) if by != "none" else 0
    walk_photos, walks = con.execute("SELECT count(*), count(DISTINCT session) FROM sessions").fetchone()
    notes = no_owner_notes(no_owner, int(walk_photos), int(walks))
    if walks:
        notes += walk_heavy_notes(_walk_tops(con))
    if column_key:
        empty_column, kept = con.execute("SELECT count(*) FILTER (WHERE column_empty), count(*) FROM k").fetchone()
        notes += empty_column_notes(by, int(empty_column), int(kept))
    notes += off_share_notes(per_label, config)
    warnings = by_none_warnings(config)
    if by != "none" and not con.execute("SELECT bool_or(has_near) FROM k").fetchone()[0]:
        warnings += ungrouped_duplicates_warning(None, config)
    empty = empty_split_reasons(per_label, config)
    warnings += empty_split_warnings(empty) + list(held_empty)
    largest = con.execute("""
        SELECT count(*), count(DISTINCT k.owner) FILTER (WHERE NOT k.no_owner) FROM k JOIN s USING (rid)
        WHERE s.grp = (SELECT grp FROM s GROUP BY grp ORDER BY count(*) DESC, grp LIMIT 1)""").fetchone() \
        if by != "none" else (0, 0)
    warnings += short_split_warnings(per_label, config, empty, (int(largest[0]), int(largest[1])))
    warnings += unevaluated_label_warnings(per_label, config, empty)
    if by != "none":
        warnings += undated_cluster_warnings(*_undated_clusters(con, catalog))
    warnings += lost_label_warnings(_label_losses(con, catalog))
    warnings += cross_label_copy_warnings(*_cross_label_copies(con, catalog))
    if not _kept_collage_clusters(con, catalog):  # curate.split.stage: the advice only where a collage is kept
        warnings = [without_collage_advice(line) for line in warnings]
        empty = {name: without_collage_advice(line) for name, line in empty.items()}
    return no_owner, notes, warnings, empty


def _kept_collage_clusters(con, catalog: Catalog) -> bool:
    """curate.split.notes.kept_collage_clusters in SQL: a kept photo with `phash_panels` in a near-duplicate cluster
    of two or more kept photos."""
    c = catalog.column
    names = ", ".join(c(name) for name in ("status", "near_dup_cluster", "phash_panels"))
    return bool(con.execute(f"""
        WITH kept AS (SELECT near_dup_cluster, phash_panels FROM (SELECT {names} FROM {catalog.source})
                      WHERE status = 'kept' AND near_dup_cluster IS NOT NULL),
             big AS (SELECT near_dup_cluster FROM kept GROUP BY 1 HAVING count(*) >= 2)
        SELECT count(*) > 0 FROM kept SEMI JOIN big USING (near_dup_cluster) WHERE phash_panels IS NOT NULL
        """).fetchone()[0])


def _walk_tops(con) -> pd.DataFrame:
    """Per label of `k`: its photos and the photos of its largest walk (`sessions`), 0 without one."""
    return con.execute("""
        SELECT label, photos, coalesce(top, 0) AS top
        FROM (SELECT label, count(*) AS photos FROM k GROUP BY label)
        LEFT JOIN (SELECT label, max(n) AS top FROM (SELECT k.label, sessions.session, count(*) AS n
                                                     FROM k JOIN sessions USING (rid) GROUP BY ALL)
                   GROUP BY label) USING (label)
        ORDER BY label""").df()


def _undated_clusters(con, catalog: Catalog) -> tuple[int, int]:
    """(photos, cells) of the kept undated photos without an owner crowded UNDATED_CLUSTER or more in a cell."""
    c = catalog.column
    photos, cells = con.execute(f"""
        SELECT coalesce(sum(n), 0), count(*) FROM (
            SELECT count(*) AS n FROM (SELECT {c('owner_id')}, {c('taken_at')}, {c('lat')}, {c('lon')},
                                              {c('status')} FROM {catalog.source})
            WHERE status = 'kept' AND owner_id IS NULL AND taken_at IS NULL AND lat IS NOT NULL AND lon IS NOT NULL
            GROUP BY floor(lat / {CELL_DEGREES!r}), floor(lon / {CELL_DEGREES!r})
            HAVING count(*) >= {UNDATED_CLUSTER})""").fetchone()
    return int(photos), int(cells)


def _cross_label_copies(con, catalog: Catalog) -> tuple[int, int, int, int, int, int]:
    """curate.split.cross_label_copies in SQL: (images, photos) of the kept files (sha256) that carry more than one
    label, the near-duplicate clusters under more than one label holding no such file, and the photos of every
    cluster under more than one label not among those files; of those clusters, the ones holding a collage
    (`phash_panels`) whose other photos carry more than one label, and their photos, apart."""
    c = catalog.column
    names = ", ".join(c(name) for name in ("sha256", "label", "status", "near_dup_cluster", "phash_panels"))
    images, photos, clusters, cluster_photos, collages, collage_photos = con.execute(f"""
        WITH kept AS (SELECT sha256, label, near_dup_cluster, phash_panels FROM (SELECT {names} FROM {catalog.source})
                      WHERE status = 'kept' AND sha256 IS NOT NULL AND label IS NOT NULL),
             shared AS (SELECT sha256 FROM kept GROUP BY sha256 HAVING count(DISTINCT label) > 1),
             counted AS (SELECT DISTINCT near_dup_cluster FROM kept SEMI JOIN shared USING (sha256)
                         WHERE near_dup_cluster IS NOT NULL),
             near AS (SELECT near_dup_cluster FROM kept WHERE near_dup_cluster IS NOT NULL
                      GROUP BY near_dup_cluster HAVING count(DISTINCT label) > 1),
             collage AS (SELECT near_dup_cluster FROM (near ANTI JOIN counted USING (near_dup_cluster))
                         SEMI JOIN (SELECT near_dup_cluster FROM kept WHERE phash_panels IS NOT NULL)
                         USING (near_dup_cluster)
                         SEMI JOIN (SELECT near_dup_cluster FROM kept WHERE phash_panels IS NULL
                                    GROUP BY near_dup_cluster HAVING count(DISTINCT label) > 1)
                         USING (near_dup_cluster)),
             spread AS (SELECT near_dup_cluster, near_dup_cluster IN (SELECT near_dup_cluster FROM collage) AS collage
                        FROM (kept SEMI JOIN near USING (near_dup_cluster)) ANTI JOIN shared USING (sha256))
        SELECT (SELECT count(*) FROM shared), (SELECT count(*) FROM kept SEMI JOIN shared USING (sha256)),
               (SELECT count(*) FROM near ANTI JOIN counted USING (near_dup_cluster)) - (SELECT count(*) FROM collage),
               (SELECT count(*) FILTER (WHERE NOT collage) FROM spread), (SELECT count(*) FROM collage),
               (SELECT count(*) FILTER (WHERE collage) FROM spread)
        """).fetchone()
    return tuple(int(value) for value in (images, photos, clusters, cluster_photos, collages, collage_photos))


def _label_losses(con, catalog: Catalog) -> pd.DataFrame:
    """curate.split.label_losses in SQL."""
    c = catalog.column
    names = ", ".join(c(name) for name in ("original_label", "label_before_review", "label", "status", "drop_reason",
                                           "drop_stage"))
    return con.execute(f"""
        SELECT label, reason, count(*) AS photos FROM (
            SELECT {schema.GIVEN_LABEL_SQL} AS label,
                   CASE WHEN status = 'kept' AND label IS NOT NULL AND label <> {schema.GIVEN_LABEL_SQL}
                        THEN {literal(RELABELLED)} WHEN status = 'kept' THEN NULL ELSE drop_reason END AS reason
            FROM (SELECT {names} FROM {catalog.source})
            WHERE status = 'kept' OR (status = 'dropped' AND drop_stage IN ({', '.join(map(literal, LOSS_STAGES))})
                                      AND drop_reason NOT IN ({', '.join(map(literal, NOT_LOSSES))})))
        WHERE label IS NOT NULL GROUP BY ALL ORDER BY label, reason NULLS FIRST""").df()


def _split_table(con, config: SplitConfig, splits: str) -> pd.DataFrame:
    """curate.split.split_table from per-(label, split) counts in SQL."""
    counts = con.execute(f"""
        SELECT k.label, {splits}[s.code + 1] AS split, count(*) AS photos,
               count(DISTINCT k.owner) FILTER (WHERE NOT k.no_owner) AS owners, sum(k.no_owner::INTEGER) AS no_owner
        FROM k JOIN s USING (rid) GROUP BY ALL""").df()
    labels = sorted(counts["label"].unique())
    photos = counts.pivot(index="label", columns="split", values="photos").reindex(index=labels,
                                                                                   columns=list(SPLITS))
    owners = counts.pivot(index="label", columns="split", values="owners").reindex(index=labels,
                                                                                   columns=list(SPLITS))
    photos, owners = photos.fillna(0).astype("int64"), owners.fillna(0).astype("int64")
    return shares_table(photos, owners, counts.groupby("label")["no_owner"].sum(), config)
