"""Read-only catalog queries in DuckDB: status counts, the leakage check, `curate status`'s summary.

Each gives what its pandas counterpart gives (curate.status, curate.leakage) for the same catalog.
"""

from __future__ import annotations

import pandas as pd

from curate import schema
from curate.groups import BLANK
from curate.leakage import COLUMNS as LEAK_COLUMNS
from curate.leakage import LEAK_KINDS, _kinds
from curate.outofcore.catalog_view import Catalog
from curate.outofcore.db import literal
from curate.schema import NO_LABEL
from curate.status import status_table


def status_counts(con, source: str) -> pd.DataFrame:
    """curate.status.status_counts over `source` (a table name or expression with label, status,
    drop_reason)."""
    counts = con.execute(f"""
        SELECT coalesce(label, {literal(NO_LABEL)}) AS label,
               coalesce(CASE WHEN status = {literal(schema.DROPPED)} THEN drop_reason END,
                        {literal(schema.KEPT)}) AS outcome, count(*) AS n
        FROM {source} GROUP BY ALL""").df()
    if counts.empty:
        return status_table(pd.DataFrame())
    table = counts.pivot(index="label", columns="outcome", values="n").fillna(0).astype("int64")
    table = table.sort_index().reindex(columns=sorted(table.columns))
    return status_table(table.rename_axis(index="label", columns=None))


def find_leakage(con, catalog: Catalog, by: str | None = None) -> pd.DataFrame:
    """curate.leakage.find_leakage over the catalog, grouped in DuckDB."""
    found = []
    for kind, column in _kinds(by).items():
        key = catalog.column(column, "key")
        # a --by column's blank text is no value (curate.groups.blank_as_missing)
        blank = "" if kind in LEAK_KINDS else f" AND NOT regexp_matches(CAST(key AS VARCHAR), {literal(BLANK)})"
        rows = con.execute(f"""
            WITH pairs AS (
                SELECT * FROM (SELECT {key}, {catalog.column('split')}, {catalog.column('status')}
                               FROM {catalog.source})
                WHERE status = 'kept' AND split IS NOT NULL AND key IS NOT NULL{blank}),
            leaky AS (SELECT key FROM pairs GROUP BY key HAVING count(DISTINCT split) > 1)
            SELECT key, split, count(*) FROM pairs SEMI JOIN leaky USING (key)
            GROUP BY key, split ORDER BY key, split""").fetchall()
        current, per_split = None, {}
        for value, split, n in rows + [(None, None, None)]:
            if per_split and value != current:
                found.append({"kind": kind, "key": str(current), "splits": ",".join(sorted(per_split)),
                              "photos": int(sum(per_split.values())), "photos_per_split": per_split})
                per_split = {}
            current = value
            if split is not None:
                per_split[split] = int(n)
    return pd.DataFrame(found, columns=LEAK_COLUMNS)


def tag_counts(con, catalog: Catalog, top: int = 20) -> pd.DataFrame:
    """curate.status.tag_counts over the catalog."""
    table = con.execute(f"""
        SELECT tag, count(*) AS photos, count(*) FILTER (WHERE kept) AS kept FROM (
            SELECT unnest(tags) AS tag, status = 'kept' AS kept
            FROM (SELECT {catalog.column('tags')}, {catalog.column('status')} FROM {catalog.source}))
        WHERE tag IS NOT NULL GROUP BY tag ORDER BY photos DESC, tag LIMIT {int(top)}""").df()
    return table.astype({"photos": "int64", "kept": "int64"}).reset_index(drop=True)


def label_tag_counts(con, catalog: Catalog) -> pd.DataFrame:
    """curate.status.label_tag_counts over the catalog."""
    rows = con.execute(f"""
        WITH src AS (SELECT {catalog.column('tag_labels')}, {catalog.column('label')} FROM {catalog.source}),
        named AS (SELECT unnest(tag_labels) AS name, len(tag_labels) = 1 AS single FROM src),
        tagged AS (SELECT name, count(*) AS tagged, count(*) FILTER (WHERE single) AS single FROM named
                   WHERE name IS NOT NULL GROUP BY name),
        labelled AS (SELECT label AS name, count(*) AS labelled FROM src WHERE label IS NOT NULL GROUP BY label)
        SELECT name, coalesce(t.tagged, 0), coalesce(t.single, 0), coalesce(l.labelled, 0)
        FROM tagged t FULL OUTER JOIN labelled l USING (name) ORDER BY name""").fetchall()
    return pd.DataFrame({"label": [r[0] for r in rows], "photos_tagged": [int(r[1]) for r in rows],
                         "tagged_only_this": [int(r[2]) for r in rows],
                         "photos_labelled": [int(r[3]) for r in rows]})


def summary_counts(con, catalog: Catalog) -> dict:
    """The catalog part of curate.status.summary: photos, kept, dropped, labels, owners, sources,
    geotagged, by_label, top_tags, label_tags."""
    src = (f"(SELECT {catalog.column('label')}, {catalog.column('status')}, {catalog.column('drop_reason')}, "
           f"{catalog.column('owner_id')}, {catalog.column('source')}, {catalog.column('lat')} "
           f"FROM {catalog.source})")
    photos, kept, labels, owner_count, geotagged = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE status = 'kept'), "
        f"count(DISTINCT label) FILTER (WHERE status = 'kept'), count(DISTINCT owner_id), count(lat) "
        f"FROM {src}").fetchone()
    sources = sorted(row[0] for row in con.execute(f"SELECT DISTINCT source FROM {src}").fetchall())
    return {"photos": int(photos), "kept": int(kept), "dropped": int(photos - kept), "labels": int(labels),
            "owners": int(owner_count), "sources": sources, "geotagged": int(geotagged),
            "by_label": status_counts(con, src).to_dict("records"),
            "top_tags": tag_counts(con, catalog).to_dict("records"),
            "label_tags": label_tag_counts(con, catalog).to_dict("records")}


__all__ = ["find_leakage", "label_tag_counts", "status_counts", "summary_counts", "tag_counts"]
