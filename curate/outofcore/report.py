"""`curate report`'s numbers out of core: every aggregate the report shows, as DuckDB SQL over the
Parquet catalog (a file or a folder of parts), and only the few dozen rows the galleries show read
into pandas (selected, ordered and LIMITed in SQL).

The pandas path (`curate.report.data.build_report`) and this one share every step after the
aggregates: `gallery` turns the selected rows into photo dicts, `photographers_from_counts`,
`geography_from_counts`, `splits_from_rows`, `training_section`, `attribution_section`,
`review_section` and `assemble_report` shape the sections, and the same `render_html` draws the
page. Ties are broken as pandas breaks them (`value_counts` keeps first appearance: `min(rid)`),
so the two reports are equal (tests/test_outofcore_report.py).

One thing is not exact: the geography plots of a label with more than PLOT_POINTS photos are
drawn from a sample of that many (the report's warnings say which); every number stays exact.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from curate import schema
from curate.leakage import COLUMNS as LEAK_COLUMNS
from curate.leakage import _kinds as leak_kinds
from curate.licences import canonical_licences
from curate.outofcore.catalog_view import Catalog
from curate.outofcore.db import arrow_query, connect, literal, quote
from curate.prefilter.outliers import UNLIKE_Z
from curate.recipes import squash
from curate.report.collages import collages_part
from curate.report.data import (
    GALLERY_FIELDS,
    _sanity_line,
    assemble_report,
    attribution_section,
    gallery,
    geography_from_counts,
    judged_labels,
    label_issues_ran,
    prefilter_absent,
    reason_columns,
    rejected_owners_text,
    splits_from_rows,
    topic_and_threshold,
)
from curate.report.owners import OWNER_GALLERY, photographers_from_counts
from curate.report.review import review_section
from curate.report.training import training_section
from curate.report.values import HOW_TO, plain
from curate.review.apply import REVIEW_COLUMNS
from curate.schema import DROPPED, KEPT, NO_LABEL, SPLITS
from curate.tags import MACHINE_TAG

PLOT_POINTS = 20_000  # most photos of one label drawn in its geography plots (a sample beyond)
VIEW = "report_catalog"
_LOCATED = "(lat IS NOT NULL AND lon IS NOT NULL AND NOT isnan(lat) AND NOT isnan(lon))"


def topic_tagged_sql(topic: str, per_tag: bool = False) -> str:
    """curate.prefilter.topic.topic_tagged in SQL: the topic is a tag, or a machine tag's value
    (curate.tags.machine_tag_value: the pattern, then trimmed of spaces and quotes), compared by their
    keys (`tag_key_sql`, curate.recipes.squash). Both sides are lower-cased for the comparison: a catalog from
    another writer may hold tags ingest never case folded ("SKYLINE"), and DuckDB's lower() is not Python's
    casefold (Cherokee: casefold gives the capitals), so neither side's case decides."""
    wanted = f"lower({literal(squash(topic))})"  # (lower: Cherokee's casefold is its capitals)
    value = (f"trim(trim(trim(regexp_extract(t, {literal('^' + MACHINE_TAG.pattern + '$')}, 3)), "
             f"'\"'))")
    one = f"(lower({tag_key_sql('t')}) = {wanted} OR lower({tag_key_sql(value)}) = {wanted})"
    if per_tag:  # the test of one tag, a column named t, rather than of a photo's list
        return one
    return f"(len(list_filter(tags, lambda t: {one})) > 0)"


@functools.cache
def _casefold_table() -> dict[str, str]:
    """{character: its replacement} that turns DuckDB's lower() into Python's casefold() (up to lower case, which
    `topic_tagged_sql` compares in): `ß` -> `ss`, `ﬁ` -> `fi`, final `ς` -> `σ` (125 characters)."""
    import sys

    table = {}
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if char == char.lower() and char.casefold().lower() != char:
            table[char] = char.casefold().lower()
    return table


def _casefold_sql(text: str) -> str:
    """Python's casefold of the SQL text `text`, up to lower case (`_casefold_table`): only a text holding one of
    those characters takes the chain of replacements."""
    table = _casefold_table()  # (built once, when a report first counts a topic: a pass over every code point)
    text = f"replace({text}, {literal(chr(0x130))}, {literal(chr(0x130).lower())})"  # DuckDB's lower('İ') is 'i'
    chain = f"lower({text})"
    for char, folded in table.items():
        chain = f"replace({chain}, {literal(char)}, {literal(folded)})"
    special = literal("[" + "".join(table) + "]")
    return f"(CASE WHEN regexp_matches(lower({text}), {special}) THEN {chain} ELSE lower({text}) END)"


def tag_key_sql(text: str) -> str:
    """curate.recipes.squash of the SQL text `text`, up to lower case (compare it in lower case): case folded as
    Python folds it (`_casefold_sql`: a catalog from another writer may hold tags ingest never folded, "Straße";
    audit CN), NFC; its letters, digits and marks less the ignored marks; where none is a letter or digit, its
    symbols less skin tones; where there are none, the text less spaces, underscores and hyphens."""
    folded = f"nfc_normalize({_casefold_sql(f'nfc_normalize({text})')})"
    ignored = "\\x{fe00}-\\x{fe0f}\\x{e0100}-\\x{e01ef}\\x{200c}\\x{200d}"  # curate.recipes.IGNORED_IN_KEYS
    kept = f"regexp_replace(regexp_replace({folded}, '[^\\p{{L}}\\p{{N}}\\p{{M}}]', '', 'g'), '[{ignored}]', '', 'g')"
    symbols = f"regexp_replace({folded}, '[^\\p{{S}}]|[\\x{{1f3fb}}-\\x{{1f3ff}}]', '', 'g')"
    return (f"(CASE WHEN regexp_matches({kept}, '[\\p{{L}}\\p{{N}}]') THEN {kept} "
            f"WHEN {symbols} <> '' THEN {symbols} ELSE regexp_replace({folded}, '[\\s_-]', '', 'g') END)")


def _nulls_last(column: str, descending: bool = False) -> str:
    """ORDER BY items as pandas' sort_values(kind="stable") sorts: NaN and null last, ties in row order."""
    return f"({quote(column)} IS NULL OR isnan({quote(column)})), {quote(column)}{' DESC' if descending else ''}, rid"


class ReportQueries:
    """The report's aggregates over one catalog on one DuckDB connection (a view over the catalog
    with every schema column, `flabel` the label with NO_LABEL for a missing one, and `rid`)."""

    def __init__(self, con, catalog: Catalog):
        self.con, self.catalog = con, catalog
        columns = ", ".join(catalog.column(c.name) for c in schema.COLUMNS)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {VIEW} AS SELECT {columns}, "
                    f"coalesce(label, {literal(NO_LABEL)}) AS flabel, rid FROM {catalog.source}")

    # --- plumbing -------------------------------------------------------------------------------
    def frame(self, query: str) -> pd.DataFrame:
        """`query`'s rows in pandas, typed as read_catalog types them (lists as NumPy arrays)."""
        return schema.to_pandas(arrow_query(self.con, query))

    def rows(self, query: str) -> list[tuple]:
        return self.con.execute(query).fetchall()

    def topic_tagged(self, topic: str) -> str:
        """`topic_tagged_sql` as a test of each photo's tags against the catalog's distinct tags that name the
        topic, found once (the key is costly: 12 s per million photos of three tags evaluated per photo, 0.2 s so).
        """
        # the distinct tags materialised first: a filter over a DISTINCT subquery is pushed below it, per tag again
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE distinct_tags AS SELECT DISTINCT unnest(tags) AS t FROM {VIEW}")
        try:
            names = [row[0] for row in self.rows(
                f"SELECT t FROM distinct_tags WHERE {topic_tagged_sql(topic, per_tag=True)} ORDER BY t")]
        finally:
            self.con.execute("DROP TABLE IF EXISTS distinct_tags")
        return f"list_has_any(tags, [{', '.join(map(literal, names))}]::VARCHAR[])" if names else "FALSE"

    def count(self, where: str) -> int:
        return int(self.rows(f"SELECT count(*) FROM {VIEW} WHERE {where}")[0][0])

    def gallery(self, where: str, limit: int, order: str = "rid", extra: tuple[str, ...] = (),
                overrides: dict | None = None, total: int | None = None) -> dict:
        """curate.report.data.gallery of the rows `where`, first `limit` by `order`: only those rows
        are read. `overrides`: {field: SQL expression} (the label with NO_LABEL by default)."""
        expressions = {"label": "flabel", **(overrides or {})}
        fields = [f for f in GALLERY_FIELDS + extra if f in schema.COLUMN_BY_NAME]
        select = ", ".join(f"{expressions.get(f, quote(f))} AS {quote(f)}" for f in fields)
        limit = max(int(limit), 0)
        shown = self.frame(f"SELECT {select} FROM {VIEW} WHERE {where} ORDER BY {order} LIMIT {limit}")
        return gallery(shown, limit, extra, total=self.count(where) if total is None else total)

    def names(self, owner_ids, where: str = "TRUE") -> dict:
        """curate.filters.owners.owner_names for `owner_ids` only (the first name in row order)."""
        wanted = sorted({str(o) for o in owner_ids if o is not None})
        if not wanted:
            return {}
        listed = ", ".join(literal(o) for o in wanted)
        found = self.rows(f"SELECT owner_id, arg_min(owner_name, rid) FROM {VIEW} WHERE {where} AND owner_id IN "
                          f"({listed}) AND owner_name IS NOT NULL GROUP BY owner_id")
        return {owner: str(name) for owner, name in found}

    # --- sections -------------------------------------------------------------------------------
    def overview(self) -> dict:
        """curate.report.data.overview_section."""
        counts = self.frame(f"SELECT flabel AS label, status, drop_stage, drop_reason, count(*) AS n "
                            f"FROM {VIEW} GROUP BY ALL")
        counts["n"] = counts["n"].astype("int64")
        dropped = counts[counts["status"] == DROPPED]
        reason = dropped["drop_stage"].fillna("?") + "/" + dropped["drop_reason"].fillna("?")
        columns = reason_columns(reason.unique())
        by_reason = dropped.assign(reason=reason).groupby(["label", "reason"])["n"].sum()

        def row(label: str, part: pd.DataFrame, dropped_by: pd.Series) -> dict:
            return {"label": label, "ingested": int(part["n"].sum()),
                    "rejected_at_ingest": int(part.loc[(part["status"] == DROPPED)
                                                       & (part["drop_stage"] == "ingest"), "n"].sum()),
                    "dropped": {c: int(dropped_by.get(c, 0)) for c in columns},
                    "kept": int(part.loc[part["status"] == KEPT, "n"].sum())}

        rows = [row(label, part, by_reason[label] if label in by_reason.index.get_level_values(0) else pd.Series())
                for label, part in counts.groupby("label")]
        rows.sort(key=lambda r: (-r["ingested"], r["label"]))
        total = row("total", counts, by_reason.groupby(level="reason").sum() if len(by_reason) else pd.Series())
        return {"reasons": columns, "funnel": rows, "total": total, "licences": self.licences()}

    def licences(self) -> list[dict]:
        """Kept photos per canonical licence, most first, ties in order of first appearance
        (as value_counts): each distinct licence is parsed once, in pandas."""
        found = self.frame(f"SELECT license, count(*) AS n, min(rid) AS first FROM {VIEW} "
                           f"WHERE status = 'kept' GROUP BY license")
        if found.empty:
            return []
        found["license"] = canonical_licences(found["license"]).fillna("unknown")
        merged = found.groupby("license").agg(n=("n", "sum"), first=("first", "min")).reset_index()
        merged = merged.sort_values(["n", "first"], ascending=[False, True])
        return [{"license": k, "photos": int(v)} for k, v in zip(merged["license"], merged["n"])]

    def geography(self, filter_report: dict | None) -> dict:
        """curate.report.data.geography_section."""
        if not filter_report or not filter_report.get("geo"):
            return {"absent": HOW_TO["geography"]}
        wanted = {geo["label"] for geo in filter_report["geo"]}
        listed = ", ".join(literal(label) for label in sorted(wanted, key=str)) or "NULL"
        counts = {label: {"photos": 0, "with_coordinates": 0, "kept_with_coordinates": 0,
                          "dropped_with_coordinates": 0, "geo_outliers": 0, "geo_rescued": 0,
                          "missing_coordinates": 0, "missing_by_issue": {}} for label in wanted}
        for label, *numbers in self.rows(f"""
                SELECT flabel, count(*), count(*) FILTER ({_LOCATED}),
                       count(*) FILTER ({_LOCATED} AND status = 'kept'),
                       count(*) FILTER ({_LOCATED} AND status = 'dropped'),
                       count(*) FILTER (drop_reason = 'geo_outlier'), count(*) FILTER (geo_rescued IS TRUE),
                       count(*) FILTER (NOT {_LOCATED})
                FROM {VIEW} WHERE flabel IN ({listed}) GROUP BY flabel"""):
            keys = ("photos", "with_coordinates", "kept_with_coordinates", "dropped_with_coordinates",
                    "geo_outliers", "geo_rescued", "missing_coordinates")
            counts[label].update({k: int(n) for k, n in zip(keys, numbers)})
        for label, issue, n in self.rows(f"""
                SELECT flabel, coalesce(coord_issue, 'missing') AS issue, count(*) AS n FROM {VIEW}
                WHERE flabel IN ({listed}) AND NOT {_LOCATED} GROUP BY ALL ORDER BY flabel, n DESC, min(rid)"""):
            counts[label]["missing_by_issue"][issue] = int(n)
        return geography_from_counts(filter_report, counts)

    def photographers(self, owner_alarm: float, max_gallery: int, top: int = 5) -> dict:
        """curate.report.owners.photographers_section (photos without an owner counted apart)."""
        kept = f"status = 'kept' AND flabel <> {literal(NO_LABEL)}"
        pairs = (f"SELECT flabel AS label, owner_id, count(*) AS photos FROM {VIEW} "
                 f"WHERE {kept} AND owner_id IS NOT NULL GROUP BY ALL")
        per_label = self.frame(f"""
            SELECT label, any_value(a.photos) AS photos, any_value(a.no_owner) AS no_owner, count(p.owner_id) AS owners,
                   coalesce(sum(p.photos * p.photos), 0)::HUGEINT::VARCHAR AS square_sum
            FROM (SELECT flabel AS label, count(*)::BIGINT AS photos,
                         count(*) FILTER (WHERE owner_id IS NULL)::BIGINT AS no_owner
                  FROM {VIEW} WHERE {kept} GROUP BY ALL) a LEFT JOIN ({pairs}) p USING (label) GROUP BY label""")
        tops = self.rows(f"""SELECT label, owner_id, photos FROM (
                SELECT *, row_number() OVER (PARTITION BY label ORDER BY photos DESC, owner_id) AS rank
                FROM ({pairs})) WHERE rank <= {int(top)} ORDER BY label, rank""")
        listed: dict[str, list] = {}
        for label, owner, photos in tops:
            listed.setdefault(label, []).append((owner, int(photos)))
        per_label["square_sum"] = per_label["square_sum"].map(int)  # exact beyond 2**63
        per_label["top"] = per_label["label"].map(listed)
        names = self.names([owner for _, owner, _ in tops], kept)

        def top_rows(label: str, owner_id: str, limit: int) -> dict:
            return self.gallery(f"{kept} AND flabel = {literal(label)} AND owner_id = {literal(owner_id)}", limit)

        return photographers_from_counts(per_label, names, owner_alarm, max_gallery, top_rows)

    def tags(self, prefilter_report: dict | None, max_gallery: int) -> dict:
        """curate.report.data.tags_section."""
        section = {"ambiguous": self.gallery("len(tag_labels) >= 2", max_gallery, extra=("tag_labels",))}
        absent = prefilter_absent(prefilter_report)
        if absent:
            return {**section, "prefilter": absent}
        topic, threshold = topic_and_threshold(prefilter_report)
        tagged = self.topic_tagged(topic) if topic else "FALSE"
        # the photos the topic cut judged, and what it did to them (curate.report.data.tags_section)
        judged = ("(topic_score IS NOT NULL AND NOT isnan(topic_score) AND NOT coalesce(geo_rescued, FALSE) "
                  "AND NOT (status = 'dropped' AND drop_stage IN ('ingest', 'filter')))")
        doubted = f"(coalesce(topic_doubted, FALSE) AND {judged})"
        below = f"({judged} AND coalesce(drop_reason = 'off_topic', FALSE))"
        (n_judged, tagged_kept, tagged_dropped, untagged_dropped, untagged_kept, doubted_tagged,
         doubted_untagged, untagged_sure) = self.rows(f"""
            SELECT count(*) FILTER ({judged}), count(*) FILTER (t AND {judged} AND NOT {below}),
                   count(*) FILTER (t AND {below}), count(*) FILTER (NOT t AND {below}),
                   count(*) FILTER (NOT t AND {judged} AND NOT {below}),
                   count(*) FILTER (t AND {doubted}), count(*) FILTER (NOT t AND {doubted}),
                   count(*) FILTER (NOT t AND {judged} AND NOT {below} AND NOT {doubted})
            FROM (SELECT *, {tagged} AS t FROM {VIEW})""")[0]
        section["prefilter"] = {
            "topic": topic, "threshold": threshold, "scored": int(n_judged),
            "method": prefilter_report.get("threshold_method", ""),
            "bimodality": (prefilter_report.get("bimodality") or {}).get("summary", ""),
            "sanity": _sanity_line(prefilter_report),
            "rejected_owners": rejected_owners_text(prefilter_report),
            "counts": {"tagged_kept": int(tagged_kept), "tagged_dropped": int(tagged_dropped),
                       # doubted untagged photos of an applied cut: under the recovery floor, kept, not recovered
                       "untagged_recovered": 0 if prefilter_report.get("held") else int(untagged_sure),
                       "untagged_dropped": int(untagged_dropped), "untagged_kept": int(untagged_kept)},
            "doubted_counts": {"tagged": int(doubted_tagged), "untagged": int(doubted_untagged)},
            "doubted": self.gallery(doubted, max_gallery, _nulls_last("topic_score"), ("topic_score",)),
            "tagged_dropped": self.gallery(f"{tagged} AND drop_reason = 'off_topic'", max_gallery,
                                           _nulls_last("topic_score"), ("topic_score",)),
            "untagged_recovered": self.gallery("FALSE" if prefilter_report.get("held") else
                                               f"NOT ({tagged}) AND {judged} AND NOT {below} AND NOT {doubted}",
                                               max_gallery,
                                               _nulls_last("topic_score", descending=True), ("topic_score",)),
        }
        return section

    def duplicates(self, filter_report: dict | None, max_gallery: int) -> dict:
        """curate.report.data.duplicates_section."""
        if not filter_report:
            return {"absent": HOW_TO["duplicates"]}
        dropped = self.gallery(f"status = {literal(DROPPED)} AND drop_reason = 'collage'", max_gallery)
        return {"exact": self._groups("exact_dup_group", max_gallery),
                "near": self._groups("near_dup_cluster", max_gallery),
                "collages": collages_part(filter_report, dropped)}

    def _groups(self, column: str, max_gallery: int) -> dict:
        sizes = (f"SELECT {quote(column)} AS key, count(*) AS size FROM {VIEW} WHERE {quote(column)} IS NOT NULL "
                 f"GROUP BY key HAVING count(*) >= 2")
        groups_count, photos = self.rows(f"SELECT count(*), coalesce(sum(size), 0) FROM ({sizes})")[0]
        budget = int(max_gallery)
        order = self.rows(f"SELECT key, size FROM ({sizes}) ORDER BY size DESC, key LIMIT {max(budget, 0)}")
        groups = []
        for key, size in order:
            if budget <= 0:
                break
            shown = self.gallery(f"{quote(column)} = {literal(key)}", min(budget, size), total=size)
            groups.append({"key": key, "size": int(size), **shown})
            budget -= groups[-1]["shown"]
        return {"groups": int(groups_count), "photos": int(photos), "shown_groups": groups}

    def quality(self, filter_report: dict | None, max_gallery: int) -> dict:
        """curate.report.data.quality_section."""
        checks = (filter_report or {}).get("quality")
        if not checks:
            return {"absent": HOW_TO["quality"]}
        section = {"checks": []}
        for check in checks:
            name, score = check["check"], f'{check["check"]}_score'
            known = score in schema.COLUMN_BY_NAME
            shown = self.gallery(f"list_contains(quality_issues, {literal(name)})", max_gallery,
                                 _nulls_last(score, descending=True) if known else "rid", (score,))
            section["checks"].append({"check": name, "meaning": check.get("meaning"), "drops": bool(check.get("drops")),
                                      "dropped": int(check.get("dropped", 0)), "gallery": shown})
        return section

    def label_issues(self, prefilter_report: dict | None, max_gallery: int) -> dict:
        """curate.report.data.label_issues_section."""
        if not label_issues_ran(prefilter_report, bool(self.count("is_label_issue IS NOT NULL"))):
            return {"absent": HOW_TO["label_issues"]}
        flagged = "coalesce(is_label_issue, FALSE)"
        unlike = f"coalesce(label_fit < {-UNLIKE_Z!r}, FALSE)"  # NaN is no fit below: as in pandas
        order = f"{unlike} DESC, CASE WHEN {unlike} THEN label_fit END NULLS LAST, {_nulls_last('label_quality')}"
        given = f"coalesce({schema.GIVEN_LABEL_SQL}, {literal(NO_LABEL)})"  # the label it was flagged under
        per_label = self.rows(f"""
            SELECT given, count(*) AS n, min(position) AS first FROM (
                SELECT {given} AS given, row_number() OVER (ORDER BY {order}) AS position FROM {VIEW} WHERE {flagged})
            GROUP BY given ORDER BY n DESC, first""")
        return {"flagged": sum(int(n) for _, n, _ in per_label),
                "per_label": {label: int(n) for label, n, _ in per_label},
                "relabelled": self.count(f"{flagged} AND original_label IS NOT NULL"),
                "label_model": prefilter_report.get("label_model") or {},
                "labels": judged_labels(prefilter_report),
                "gallery": self.gallery(flagged, max_gallery, order, ("suggested_label", "label_quality", "label_fit"),
                                        {"suggested_label": f"CASE WHEN {unlike} THEN NULL ELSE suggested_label END"})}

    def review(self, max_rows: int) -> dict:
        """curate.report.review.review_section over the reviewed rows only (one per human decision)."""
        columns = ", ".join(quote(c) for c in (schema.PHOTO_ID, "label", "status", *REVIEW_COLUMNS))
        reviewed = self.frame(f"SELECT {columns} FROM {VIEW} WHERE review_status IS NOT NULL "
                              f"OR review_label IS NOT NULL ORDER BY rid")
        return review_section(reviewed, max_rows)

    def splits(self, split_report: dict | None, max_rows: int) -> dict:
        """curate.report.data.splits_section."""
        counts = self.rows(f"SELECT flabel, split, count(*), count(DISTINCT owner_id), count(*) FILTER "
                           f"(WHERE owner_id IS NULL) FROM {VIEW} WHERE status = 'kept' AND split IS NOT NULL "
                           "GROUP BY ALL")
        if not split_report and not counts:
            return {"absent": HOW_TO["splits"]}
        per: dict[str, dict] = {}
        no_owner: dict[str, int] = {}
        for label, split, photos, owners, unowned in counts:
            per.setdefault(label, {})[split] = (int(photos), int(owners))
            no_owner[label] = no_owner.get(label, 0) + int(unowned)
        rows = []
        for label in sorted(per):
            row = {"label": label, "photos": sum(photos for photos, _ in per[label].values()),
                   "no_owner": no_owner[label]}
            for name in SPLITS:
                row[f"{name}_photos"], row[f"{name}_owners"] = per[label].get(name, (0, 0))
            rows.append(row)
        leaks, leaks_total = self.leaks(max_rows)
        return splits_from_rows(rows, leaks, split_report, leaks_total)

    def leaks(self, max_rows: int) -> tuple[pd.DataFrame, int]:
        """(curate.leakage.find_leakage's first `max_rows` rows, how many it finds), grouped in
        DuckDB: only the leaks shown are read."""
        found, total = [], 0
        for kind, column in leak_kinds(None).items():
            pairs = (f"SELECT {quote(column)} AS key, split FROM {VIEW} WHERE status = 'kept' AND split IS NOT NULL "
                     f"AND {quote(column)} IS NOT NULL")
            leaky = f"SELECT key FROM ({pairs}) GROUP BY key HAVING count(DISTINCT split) > 1"
            total += int(self.rows(f"SELECT count(*) FROM ({leaky})")[0][0])
            room = max(int(max_rows), 0) - len(found)
            if room <= 0:
                continue
            rows = self.rows(f"""SELECT key, split, count(*) FROM ({pairs})
                SEMI JOIN (SELECT key FROM ({leaky}) ORDER BY key LIMIT {room}) USING (key)
                GROUP BY key, split ORDER BY key, split""")
            per_key: dict[str, dict] = {}
            for key, split, n in rows:
                per_key.setdefault(key, {})[split] = int(n)
            found += [{"kind": kind, "key": str(key), "splits": ",".join(sorted(per_split)),
                       "photos": int(sum(per_split.values())), "photos_per_split": per_split}
                      for key, per_split in per_key.items()]
        return pd.DataFrame(found, columns=LEAK_COLUMNS), total

    def photos(self, photo_ids, columns) -> pd.DataFrame:
        """The rows of `photo_ids` (`columns`, in catalog order): only those rows are read."""
        listed = ", ".join(literal(str(i)) for i in photo_ids) or "NULL"
        return self.frame(f"SELECT {', '.join(quote(c) for c in columns)} FROM {VIEW} "
                          f"WHERE photo_id IN ({listed}) ORDER BY rid")

    def training(self, evaluation: dict | None, max_rows: int) -> dict:
        """curate.report.data.training_section with the few catalog rows it needs."""
        if not evaluation:
            return training_section(evaluation, max_rows)
        losses = [r for r in (evaluation.get("top_losses") or [])[:20] if isinstance(r, dict)]
        owners = [r.get("owner_id") for r in losses + list(evaluation.get("per_owner") or [])]
        ids = sorted({str(r["photo_id"]) for r in losses if r.get("photo_id") is not None})
        listed = ", ".join(literal(i) for i in ids) or "NULL"
        images = self.frame(f"SELECT photo_id, sha256, image_path, page_url FROM {VIEW} "
                            f"WHERE photo_id IN ({listed})").set_index(schema.PHOTO_ID)
        return training_section(evaluation, max_rows, names=self.names(owners), images=images)

    def attribution(self, max_rows: int) -> dict:
        """curate.report.data.attribution_section: its first rows and the count of kept photos."""
        first = self.frame(f"SELECT photo_id, owner_name, owner_id, license, page_url, url, status FROM {VIEW} "
                           f"WHERE status = 'kept' ORDER BY rid LIMIT {max(int(max_rows), 0)}")
        return attribution_section(first, max_rows, total=self.count("status = 'kept'"))

    def geo_rows(self, label: str) -> pd.DataFrame:
        """The columns the geography plots read, for the photos labelled `label` (a PLOT_POINTS
        sample, fixed by row number, when there are more)."""
        columns = "lat, lon, status, drop_reason, geo_distance_km"
        where = f"label = {literal(label)}"
        order = "hash(rid), rid" if self.count(where) > PLOT_POINTS else "rid"
        return self.frame(f"SELECT {columns} FROM {VIEW} WHERE {where} ORDER BY {order} LIMIT {PLOT_POINTS}")

    def build_report(self, stage_reports: dict, truth: pd.DataFrame | None = None,
                     run_evaluation: dict | None = None, max_gallery: int = 12, owner_alarm: float = 0.10,
                     max_rows: int = 200, stage_states: dict | None = None) -> dict:
        """curate.report.data.build_report over the catalog, out of core (same arguments, same dict)."""
        reports = {name: rep for name, rep in (stage_reports or {}).items() if rep}
        sections = {
            "overview": self.overview(),
            "geography": self.geography(reports.get("filter")),
            "photographers": self.photographers(owner_alarm, max_gallery),
            "tags": self.tags(reports.get("prefilter"), max_gallery),
            "duplicates": self.duplicates(reports.get("filter"), max_gallery),
            "quality": self.quality(reports.get("filter"), max_gallery),
            "label_issues": self.label_issues(reports.get("prefilter"), max_gallery),
            "review": self.review(max_rows),
            "splits": self.splits(reports.get("split"), max_rows),
            "training": self.training(run_evaluation, max_rows),
            "attribution": self.attribution(max_rows),
        }
        return assemble_report(self.count("TRUE"), reports, truth, max_gallery, owner_alarm, max_rows, sections,
                               stage_states, self.warnings(sections["geography"]))

    def warnings(self, geography: dict) -> list[str]:
        """What the report shows inexactly out of core: the geography plots of big labels."""
        big = [entry for entry in geography.get("labels") or [] if entry["photos"] > PLOT_POINTS]
        if not big:
            return []
        named = ", ".join(f"{plain(e['label'])} ({e['photos']:,} photos)" for e in big[:10])
        more = f" and {len(big) - 10} more" if len(big) > 10 else ""
        return [f"out of core, the geography plots of {named}{more} are drawn from a sample of {PLOT_POINTS:,} "
                "photos each; every number in the tables counts all photos"]


@contextmanager
def report_queries(ws, scratch_parent: Path | None = None) -> Iterator[ReportQueries]:
    """ReportQueries over the workspace's catalog (checked as read_catalog checks it), on a DuckDB
    connection in a scratch folder under `scratch_parent` (default: the workspace; the report
    passes its output folder, so that a read-only workspace can be reported on)."""
    from curate.outofcore.run import validate

    catalog = Catalog(ws.catalog_path, checked=True)
    with connect(ws.root if scratch_parent is None else scratch_parent) as con:
        validate(con, catalog)
        yield ReportQueries(con, catalog)


__all__ = ["OWNER_GALLERY", "PLOT_POINTS", "ReportQueries", "report_queries"]
