"""The filter stage's geo step in DuckDB: `curate.filters.geo_stage.geo_filter`'s verdicts and drops over
table w (per-label median centres in SQL with the same arithmetic as `curate.filters.geo`, distances by the
same NumPy function through `ellipsoid_udf`, the same judgements of places, holds and warnings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from curate.filters import geo
from curate.filters.config import STAGE, FilterConfig
from curate.filters.geo_labels import (
    GEO_REGION,
    MIN_DEFAULT_PHOTOS,
    SAME_POSITION_DEG,
    SPREAD_QUANTILE,
    bulk_positions,
    disputed_centres,
    drop_limits,
    judge_regions,
    label_verdicts,
    named_places,
    region_outliers,
    with_owner_support,
)
from curate.filters.geo_messages import (
    default_position_notes,
    geo_evidence_warnings,
    geo_warnings,
    missing_geo_lines,
    with_verdicts,
)
from curate.filters.geo_stage import recipe_label_centres
from curate.outofcore.db import drop_kept


def ellipsoid_udf(lat1, lon1, lat2, lon2):
    """geo.ellipsoid_distance_km on Arrow chunks (DuckDB calls it; nulls never reach it)."""
    arrays = [np.asarray(a.to_numpy(zero_copy_only=False), dtype="float64") for a in (lat1, lon1, lat2, lon2)]
    return pa.array(geo.ellipsoid_distance_km(*arrays), pa.float64(), from_pandas=True)


def region_outside_udf(label, lat, lon):
    """`region_outliers` (the pandas engine's) on Arrow chunks; DuckDB calls it for the rows of region labels."""
    labels = pd.Series(label.to_numpy(zero_copy_only=False), dtype=object)
    return pa.array(region_outliers(labels, pd.Series(lat.to_numpy(zero_copy_only=False)),
                                    pd.Series(lon.to_numpy(zero_copy_only=False)), labels.unique()), pa.bool_())


def _median_centres(con) -> dict[str, geo.Centre]:
    """geo.median_centres over the labelled rows, in SQL with the same arithmetic: the median
    latitude, and the circular median longitude (cut at the widest empty arc, unwrapped)."""
    rows = con.execute("""
        WITH pts AS (
            SELECT label, lat_u AS lat, ((lon_u + 180.0) % 360.0) - 180.0 AS lon FROM w
            WHERE labelled AND isfinite(lat_u) AND isfinite(lon_u)),
        by_lat AS (
            SELECT label, lat, row_number() OVER (PARTITION BY label ORDER BY lat) - 1 AS pos,
                   count(*) OVER (PARTITION BY label) AS n FROM pts),
        lat_median AS (
            SELECT label, CASE WHEN any_value(n) % 2 = 1 THEN min(lat) FILTER (WHERE pos = n // 2)
                               ELSE (min(lat) FILTER (WHERE pos = n // 2 - 1) + min(lat) FILTER (WHERE pos = n // 2))
                                    / 2.0 END AS lat
            FROM by_lat GROUP BY label),
        by_lon AS (
            SELECT label, lon, row_number() OVER (PARTITION BY label ORDER BY lon) - 1 AS pos,
                   count(*) OVER (PARTITION BY label) AS n,
                   first_value(lon) OVER (PARTITION BY label ORDER BY lon) AS first_lon,
                   lead(lon) OVER (PARTITION BY label ORDER BY lon) AS next_lon FROM pts),
        gaps AS (
            SELECT *, CASE WHEN pos < n - 1 THEN next_lon - lon ELSE (first_lon + 360.0) - lon END AS gap FROM by_lon),
        cuts AS (
            SELECT label, min(pos) FILTER (WHERE gap = widest) AS cut FROM (
                SELECT label, pos, gap, max(gap) OVER (PARTITION BY label) AS widest FROM gaps)
            GROUP BY label),
        unwrapped AS (
            SELECT g.label, g.n,
                   CASE WHEN g.pos > k.cut THEN g.lon ELSE g.lon + 360.0 END AS value,
                   CASE WHEN g.pos > k.cut THEN g.pos - k.cut - 1 ELSE g.n - k.cut - 1 + g.pos END AS upos
            FROM gaps g JOIN cuts k USING (label)),
        lon_median AS (
            SELECT label, CASE WHEN any_value(n) % 2 = 1 THEN min(value) FILTER (WHERE upos = n // 2)
                               ELSE (min(value) FILTER (WHERE upos = n // 2 - 1)
                                     + min(value) FILTER (WHERE upos = n // 2)) / 2.0 END AS centre
            FROM unwrapped GROUP BY label)
        SELECT l.label, a.lat, ((m.centre + 180.0) % 360.0) - 180.0
        FROM (SELECT DISTINCT label FROM w WHERE labelled) l
        LEFT JOIN lat_median a USING (label) LEFT JOIN lon_median m USING (label)
        ORDER BY l.label""").fetchall()
    centres = {}
    for label, lat, lon in rows:
        if lat is None:
            centres[label] = geo.Centre(label, None, None, "none",
                                        "no geotagged photo: centre undefined, nothing dropped")
        else:
            centres[label] = geo.Centre(label, float(lat), float(lon), "median")
    return centres


def geo_filter(con, config: FilterConfig, recipe_centres, notes: list[str], warnings: list[str]) -> pd.DataFrame:
    """`curate.filters.geo_stage.geo_filter` over table w: flags and drops the kept labelled photos far from their
    label's centre (and those without coordinates under --missing-geo drop); returns the per-label geo table and
    adds its notes and warnings to `notes` and `warnings`."""
    named = set(recipe_centres or {})
    con.execute("UPDATE w SET labelled = (status = 'kept' AND label IS NOT NULL)")
    _coarse_note(con, config, notes)
    centres = _centres(con, config, recipe_centres, notes)
    disputed = disputed_centres(centres, recipe_centres if config.center == "median" else None, config)
    _distances(con, centres)
    max_km = float(config.max_km) if config.geo_on else np.inf
    if not config.geo_on:
        notes.append("geo filter off (--max-km off): no photo dropped as geo_outlier; distances still recorded")
    spread = _spread(con, config, max_km)
    bulk = _bulk_positions(con, config, centres)
    places = _places(con, config, centres, named)
    verdicts = label_verdicts(spread, centres, config, max_km, disputed, set(bulk["label"]), named, places)
    _outliers(con, config, verdicts)
    summary = _label_summary(con)
    _drop_flagged(con, config, notes, warnings)
    notes += default_position_notes(_default_positions(con))
    table = with_verdicts(_label_table(centres, summary), spread, verdicts, config, disputed, bulk, places)
    warnings += geo_warnings(table, config, spread, named)
    warnings += geo_evidence_warnings(table, bulk, disputed, config)
    return table


def _coarse_note(con, config: FilterConfig, notes: list[str]) -> None:
    """Notes how many labelled photos are located less precisely than --min-geo-accuracy."""
    coarse = con.execute(f"SELECT count(*) FROM w WHERE labelled AND geo_accuracy < {int(config.min_geo_accuracy)}"
                         ).fetchone()[0]
    if coarse:
        notes.append(f"{coarse} labelled photos have a position less precise "
                     f"than accuracy {config.min_geo_accuracy}: treated as without coordinates")


def _centres(con, config: FilterConfig, recipe_centres, notes: list[str]) -> dict[str, geo.Centre]:
    """Each labelled label's centre: the recipe's (--center recipe) or the median of its geotags."""
    if config.center == "recipe":
        labels = [row[0] for row in con.execute("SELECT DISTINCT label FROM w WHERE labelled ORDER BY label")
                  .fetchall()]
        return recipe_label_centres(labels, recipe_centres or {}, notes)
    return _median_centres(con)


def _distances(con, centres: dict[str, geo.Centre]) -> None:
    """Temp table `centres` (the located ones) and each geotagged row's `dist`, km from its label's centre."""
    located = [(name, c.lat, c.lon) for name, c in centres.items() if c.lat is not None]
    con.execute("CREATE OR REPLACE TEMP TABLE centres (label VARCHAR, clat DOUBLE, clon DOUBLE)")
    if located:
        con.executemany("INSERT INTO centres VALUES (?, ?, ?)", [list(row) for row in located])
    con.execute("UPDATE w SET dist = ellipsoid_km(w.lat_u, w.lon_u, c.clat, c.clon) FROM centres c "
                "WHERE w.label = c.label AND w.lat_u IS NOT NULL AND w.lon_u IS NOT NULL")


def _spread(con, config: FilterConfig, max_km: float) -> pd.DataFrame:
    """Per label, `geo.finish_spread`'s distance spread with `with_owner_support`'s columns, counted in SQL."""
    km = "'inf'::DOUBLE" if not np.isfinite(max_km) else repr(max_km)
    ring_km = geo.metro_ring_km(max_km, config.max_median_multiple)
    ring = "'inf'::DOUBLE" if not np.isfinite(ring_km) else repr(float(ring_km))
    spread = con.execute(f"""
        WITH d AS (SELECT label, dist, median(dist) OVER (PARTITION BY label) AS med
                   FROM w WHERE labelled AND dist IS NOT NULL AND NOT isnan(dist))
        SELECT label, count(*) AS geotagged, sum((dist > {km})::INTEGER) AS beyond_max_km,
               median(dist) AS median_km, sum((dist > {km} AND dist <= {ring})::INTEGER) AS near_max_km,
               quantile_cont(dist, {SPREAD_QUANTILE!r}) FILTER (WHERE dist <= {ring}) AS spread_km,
               quantile_cont(dist, {SPREAD_QUANTILE!r}) FILTER (WHERE dist <= {geo.SCALE_MULTIPLE!r} * med)
                   AS scale_km
        FROM d GROUP BY label ORDER BY label""").df()
    spread = spread.set_index("label")
    for name in ("beyond_max_km", "geotagged", "near_max_km"):
        spread[name] = spread[name].astype(int)
    scale = spread.pop("scale_km").astype("float64")
    spread = geo.finish_spread(spread.drop(columns="spread_km"), spread["spread_km"])
    spread["scale_km"] = scale
    owners = con.execute(f"""
        SELECT label, owner_id, count(*) FILTER (WHERE dist <= {ring}) AS near, count(*) FILTER (WHERE dist > {ring})
               AS far, count(*) FILTER (WHERE dist > {km} AND dist <= {ring}) AS band
        FROM w WHERE labelled AND dist IS NOT NULL AND NOT isnan(dist) GROUP BY label, owner_id""").df()
    return with_owner_support(spread, owners, config)  # geo.owner_counts, in SQL


def _places(con, config: FilterConfig, centres: dict[str, geo.Centre], named: set[str]) -> tuple:
    """`label_verdicts`' places, (regions, name_far, region_far), with each region row's `region_out` flag."""
    regions, name_far = named_places(centres, config, named)
    outside, geotagged = {}, {}
    if regions:  # each region's photos outside it, as the pandas engine counts them (`region_outliers`)
        con.execute("CREATE OR REPLACE TEMP TABLE regions (label VARCHAR)")
        con.executemany("INSERT INTO regions VALUES (?)", [[label] for label in regions])
        con.execute("ALTER TABLE w ADD COLUMN IF NOT EXISTS region_out BOOLEAN DEFAULT FALSE")
        con.execute("UPDATE w SET region_out = region_outside(w.label, w.lat_u, w.lon_u) FROM regions r "
                    "WHERE w.labelled AND w.label = r.label AND w.lat_u IS NOT NULL AND w.lon_u IS NOT NULL")
        for label, out_n, located_n in con.execute(
                "SELECT label, count(*) FILTER (WHERE region_out), count(*) FROM w WHERE labelled AND lat_u IS NOT "
                "NULL AND lon_u IS NOT NULL AND label IN (SELECT label FROM regions) GROUP BY label").fetchall():
            outside[label], geotagged[label] = int(out_n), int(located_n)
    regions, region_far = judge_regions(regions, outside, geotagged, config)
    return regions, name_far, region_far


def _outliers(con, config: FilterConfig, verdicts: dict[str, str]) -> None:
    """Column `outlier` of w: beyond its label's drop limit, or outside its region where the region is judged."""
    limits = list(drop_limits(verdicts, config).items())  # as the pandas engine
    con.execute("CREATE OR REPLACE TEMP TABLE applies (label VARCHAR, limit_km DOUBLE)")
    if limits:
        con.executemany("INSERT INTO applies VALUES (?, ?)", [[label, float(limit)] for label, limit in limits])
    con.execute("ALTER TABLE w ADD COLUMN outlier BOOLEAN DEFAULT FALSE")
    con.execute("UPDATE w SET outlier = TRUE FROM applies a WHERE w.labelled AND w.label = a.label "
                "AND w.dist > a.limit_km")
    applied = [label for label, verdict in verdicts.items() if verdict == GEO_REGION]
    if applied:  # a region's photos one by one, as the pandas engine
        con.execute("CREATE OR REPLACE TEMP TABLE applied_regions (label VARCHAR)")
        con.executemany("INSERT INTO applied_regions VALUES (?)", [[label] for label in applied])
        con.execute("UPDATE w SET outlier = TRUE WHERE labelled AND region_out "
                    "AND label IN (SELECT label FROM applied_regions)")


def _label_summary(con) -> pd.DataFrame:
    """Per label (the index): photos, geotagged, geo_outliers and the p50/p90/p99 distances in km."""
    return con.execute("""
        SELECT label, count(*) AS photos,
               count(*) FILTER (WHERE lat_u IS NOT NULL AND lon_u IS NOT NULL) AS geotagged,
               count(*) FILTER (WHERE outlier) AS geo_outliers,
               quantile_cont(dist, 0.5) AS p50_km, quantile_cont(dist, 0.9) AS p90_km,
               quantile_cont(dist, 0.99) AS p99_km
        FROM w WHERE labelled GROUP BY label""").df().set_index("label")


def _drop_flagged(con, config: FilterConfig, notes: list[str], warnings: list[str]) -> None:
    """Drops the outliers (and, under --missing-geo drop, the labelled rows without coordinates unless that is held:
    `missing_geo_lines`, which notes them by why, as the pandas engine does)."""
    missing = dict(con.execute("""
        SELECT CASE WHEN lat IS NOT NULL THEN 'imprecise' ELSE coalesce(coord_issue, 'missing') END AS why, count(*)
        FROM w WHERE labelled AND lat_u IS NULL GROUP BY why""").fetchall())
    labelled = con.execute("SELECT count(*) FROM w WHERE labelled").fetchone()[0]
    drop_kept(con, STAGE, "geo_outlier", "outlier")
    held = missing_geo_lines(missing, labelled, config, notes, warnings)
    if config.missing_geo == "drop" and not held:
        drop_kept(con, STAGE, "missing_geo", "labelled AND lat_u IS NULL")


def _default_positions(con) -> pd.DataFrame:
    """geo_labels.default_positions of the geo outliers (column `outlier` of w), in SQL."""
    return con.execute(f"""
        SELECT label, owner_id, count(*) AS n, min(lat_u) AS lat, min(lon_u) AS lon, min(dist) AS km
        FROM w WHERE labelled AND outlier AND owner_id IS NOT NULL GROUP BY label, owner_id
        HAVING count(*) >= {MIN_DEFAULT_PHOTOS} AND max(lat_u) - min(lat_u) <= {SAME_POSITION_DEG + 1e-9!r}
               AND max(lon_u) - min(lon_u) <= {SAME_POSITION_DEG + 1e-9!r}""").df()


def _label_table(centres: dict[str, geo.Centre], summary: pd.DataFrame) -> pd.DataFrame:
    """The geo table before its verdicts: one row per label, its centre and `summary`'s counts and distances."""
    names = sorted(centres)
    table = pd.DataFrame({"label": pd.Series(names, dtype=object), "centre_lat": [centres[n].lat for n in names],
                          "centre_lon": [centres[n].lon for n in names],
                          "centre": [centres[n].method for n in names]})
    table = table.join(summary, on="label")
    counted = ["photos", "geotagged", "geo_outliers"]
    table[counted] = table[counted].fillna(0).astype(int)
    table["note"] = [centres[n].note for n in names]
    return table[["label", "centre_lat", "centre_lon", "centre", "photos", "geotagged", "geo_outliers",
                  "p50_km", "p90_km", "p99_km", "note"]]


def _bulk_positions(con, config: FilterConfig, centres: dict) -> pd.DataFrame:
    """geo_labels.bulk_positions of the labelled rows' usable geotags (`modal_points` in SQL)."""
    points = con.execute("""
        SELECT label, lat, lon, n, geotagged FROM (
            SELECT label, lat_u AS lat, lon_u AS lon, count(*) AS n,
                   sum(count(*)) OVER (PARTITION BY label) AS geotagged,
                   row_number() OVER (PARTITION BY label ORDER BY count(*) DESC, lat_u, lon_u) AS r
            FROM w WHERE labelled AND lat_u IS NOT NULL AND lon_u IS NOT NULL GROUP BY label, lat_u, lon_u)
        WHERE r = 1 ORDER BY label""").df()
    return bulk_positions(points, config, centres)
