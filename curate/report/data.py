"""Every number the audit report shows, computed from the catalog and the stage reports.

`build_report(catalog, stage_reports)` is pure (no I/O): it returns a JSON-ready dict
with one entry per section. A section whose stage has not run holds only
``{"absent": "<the command that produces it>"}``. Galleries are lists of photo dicts
(capped at `max_gallery`, most severe first); the I/O edge (`curate.report.run`) turns
their ``sha256``/``image_path`` into thumbnail files and adds plot paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from curate import schema
from curate.leakage import find_leakage
from curate.licences import canonical_licences
from curate.prefilter.outliers import UNLIKE_Z
from curate.prefilter.topic import topic_tagged
from curate.report.collages import collages_part
from curate.report.owners import photographers_section
from curate.report.review import review_section
from curate.report.training import training_section
from curate.report.values import HOW_TO, plain
from curate.schema import NO_LABEL, SPLITS

STAGE_ORDER = ("ingest", "filter", "prefilter", "cap")
GALLERY_FIELDS = (schema.PHOTO_ID, "sha256", "image_path", "page_url", "label", "owner_id", "owner_name", "status",
                  "drop_reason")


# Sections computed from a stage's results: marked stale (not shown as current) when that stage is.
SECTION_STAGES = {"geography": "filter", "duplicates": "filter", "quality": "filter", "tags": "prefilter",
                  "label_issues": "prefilter", "splits": "split"}


def build_report(catalog: pd.DataFrame, stage_reports: dict, truth: pd.DataFrame | None = None,
                 run_evaluation: dict | None = None, max_gallery: int = 12, owner_alarm: float = 0.10,
                 max_rows: int = 200, stage_states: dict | None = None) -> dict:
    """The report as a dict of sections (every number shown on the page).

    Args:
        catalog: the catalog (one row per photo, schema columns).
        stage_reports: {"filter": {...}, "split": {...}, "prefilter": {...}, "embed": {...}};
            a stage that did not run is missing or None.
        truth: demo truth table (optional; only its row count is reported).
        run_evaluation: the newest `evaluation.json` of a training run, if any.
        max_gallery: most photos per gallery; max_rows: most rows per big table.
        owner_alarm: alarm when one owner holds more than this share of a label's kept photos.
        stage_states: {stage: curate.freshness.StageState.to_dict()}; a section whose stage is
            stale gets ``"stale": "<what changed; what to run>"``.

    Example: ``build_report(read_catalog(ws), {"filter": load_stage_report(ws, "filter")})``.
    """
    reports = {name: rep for name, rep in (stage_reports or {}).items() if rep}
    cat = catalog.assign(label=catalog["label"].fillna(NO_LABEL))
    sections = {
        "overview": overview_section(cat),
        "geography": geography_section(cat, reports.get("filter")),
        "photographers": photographers_section(cat, owner_alarm, max_gallery, gallery),
        "tags": tags_section(cat, reports.get("prefilter"), max_gallery),
        "duplicates": duplicates_section(cat, reports.get("filter"), max_gallery),
        "quality": quality_section(cat, reports.get("filter"), max_gallery),
        "label_issues": label_issues_section(cat, reports.get("prefilter"), max_gallery),
        "review": review_section(catalog, max_rows),
        "splits": splits_section(catalog, reports.get("split"), max_rows),
        "training": training_section(run_evaluation, max_rows, catalog),
        "attribution": attribution_section(cat, max_rows),
    }
    return assemble_report(len(catalog), reports, truth, max_gallery, owner_alarm, max_rows, sections,
                           stage_states)


def assemble_report(photos: int, reports: dict, truth: pd.DataFrame | None, max_gallery: int, owner_alarm: float,
                    max_rows: int, sections: dict, stage_states: dict | None, warnings: list[str] | None = None
                    ) -> dict:
    """The report dict around its sections (the step both catalog engines share): photo count, the
    stages that ran, limits, warnings (what a catalog engine could not show exactly), freshness."""
    report = {
        "photos": int(photos),
        "stages_run": sorted(reports),
        "truth_rows": None if truth is None else int(len(truth)),
        "limits": {"max_gallery": int(max_gallery), "max_rows": int(max_rows), "owner_alarm": float(owner_alarm)},
        "warnings": list(warnings or []),
        "stage_warnings": stage_warnings(reports),
        "sections": sections,
    }
    return mark_stale_sections(report, stage_states or {})


def stage_warnings(reports: dict) -> dict[str, list[str]]:
    """Per stage, the lines where it did less than asked or held its drops (its report's `warnings`;
    the prefilter's held cut), for the top of the report: a reader of the report should not need the
    terminal's output to learn that a stage did not apply."""
    from curate.freshness_advice import stage_warning_lines

    found = {}
    for stage, stage_report in sorted(reports.items()):
        lines = stage_warning_lines(stage, stage_report or {})
        if lines:
            found[stage] = lines
    return found


def mark_stale_sections(report: dict, stage_states: dict) -> dict:
    """Add each stage's state under "freshness", and "stale" to the sections of a stale stage."""
    report["freshness"] = {name: {"state": state["state"], "line": state["line"]}
                           for name, state in stage_states.items()}
    for key, stage in SECTION_STAGES.items():
        state = stage_states.get(stage)
        if state and state["state"] == "stale" and "absent" not in report["sections"][key]:
            report["sections"][key]["stale"] = _stale_text(stage, state)
    return report


def _stale_text(stage: str, state: dict) -> str:
    """A section's stale line: what changed and what to run; for a stage stale only because an upgrade changed
    its rules (`rules_only`), a short line (audit DA: the filter's long list of changes was printed three times).

    >>> _stale_text("filter", {"rules_only": True, "command": "curate filter", "line": "stale: …"})
    "filter results are from an earlier version's rules (curate status names what changed); `curate filter` ..."
    """
    if state.get("rules_only"):
        return (f"{stage} results are from an earlier version's rules (curate status names what changed); "
                f"`{state['command']}` redoes them with this version's")
    return f"{stage} results are {state['line']}"


def gallery(rows: pd.DataFrame, max_gallery: int, extra: tuple[str, ...] = (), total: int | None = None) -> dict:
    """{'total': n, 'shown': k, 'photos': [...]} of the first `max_gallery` rows; `total`: how
    many rows there are in all when `rows` holds only the first ones (out of core)."""
    shown = rows.head(max(int(max_gallery), 0))
    fields = [f for f in GALLERY_FIELDS + extra if f in shown.columns]
    photos = [{f: plain(v) for f, v in zip(fields, row)} for row in shown[fields].itertuples(index=False)]
    return {"total": int(len(rows) if total is None else total), "shown": len(photos), "photos": photos}


def gallery_dicts(node) -> list[dict]:
    """Every gallery dict (has "shown" and "photos") anywhere in `node` (the report's sections)."""
    if isinstance(node, dict):
        found = [node] if "shown" in node and isinstance(node.get("photos"), list) else []
        return found + [g for value in node.values() for g in gallery_dicts(value)]
    if isinstance(node, list):
        return [g for value in node for g in gallery_dicts(value)]
    return []


def _stage_reason(cat: pd.DataFrame) -> pd.Series:
    return cat["drop_stage"].fillna("?") + "/" + cat["drop_reason"].fillna("?")


def overview_section(cat: pd.DataFrame) -> dict:
    """Funnel per label and in total: ingested, rejected at ingest, dropped per stage/reason, kept."""
    dropped = cat[cat["status"] == schema.DROPPED]
    reason = _stage_reason(dropped)
    columns = reason_columns(reason.unique())
    counts = pd.crosstab(dropped["label"], reason) if len(dropped) else pd.DataFrame()
    rows = []
    for label, group in sorted(cat.groupby("label"), key=lambda kv: (-len(kv[1]), kv[0])):
        rows.append(_funnel_row(label, group, counts, columns))
    total = _funnel_row("total", cat, counts.sum().to_frame("total").T if len(counts) else counts, columns)
    kept = cat[cat["status"] == schema.KEPT]
    licences = canonical_licences(kept["license"]).fillna("unknown").value_counts()
    return {"reasons": columns, "funnel": rows, "total": total,
            "licences": [{"license": k, "photos": int(v)} for k, v in licences.items()]}


def reason_columns(reasons) -> list[str]:
    """The funnel's "stage/reason" columns in pipeline order (STAGE_ORDER, then by name)."""
    rank = {stage: i for i, stage in enumerate(STAGE_ORDER)}
    return sorted(reasons, key=lambda sr: (rank.get(sr.split("/")[0], len(rank)), sr))


def _funnel_row(label: str, group: pd.DataFrame, counts: pd.DataFrame, columns: list[str]) -> dict:
    by_reason = {c: int(counts.at[label, c]) if label in counts.index and c in counts.columns else 0
                 for c in columns}
    return {"label": label, "ingested": int(len(group)),
            "rejected_at_ingest": int(((group["status"] == schema.DROPPED) & (group["drop_stage"] == "ingest")).sum()),
            "dropped": by_reason, "kept": int((group["status"] == schema.KEPT).sum())}


def geography_section(cat: pd.DataFrame, filter_report: dict | None) -> dict:
    """Per label: centre, threshold, kept/dropped with coordinates, outliers, missing coordinates."""
    if not filter_report or not filter_report.get("geo"):
        return {"absent": HOW_TO["geography"]}
    counts = {}
    for geo in filter_report["geo"]:
        group = cat[cat["label"] == geo["label"]]
        located = group["lat"].notna() & group["lon"].notna()
        issues = group.loc[~located, "coord_issue"].fillna("missing").value_counts()
        counts[geo["label"]] = {
            "photos": int(len(group)), "with_coordinates": int(located.sum()),
            "kept_with_coordinates": int((located & (group["status"] == schema.KEPT)).sum()),
            "dropped_with_coordinates": int((located & (group["status"] == schema.DROPPED)).sum()),
            "geo_outliers": int((group["drop_reason"] == "geo_outlier").sum()),
            # geo outliers the prefilter's geo rescue kept (audit AM: the report never said so)
            "geo_rescued": int(group["geo_rescued"].eq(True).sum()) if "geo_rescued" in group else 0,
            "missing_coordinates": int((~located).sum()),
            "missing_by_issue": {k: int(v) for k, v in issues.items()},
        }
    return geography_from_counts(filter_report, counts)


def geography_from_counts(filter_report: dict, counts: dict) -> dict:
    """The section from {label: its counts} for the labels of the filter report's geo table (the
    step both catalog engines share)."""
    max_km = filter_report.get("config", {}).get("max_km")
    labels = []
    for geo in filter_report["geo"]:
        labels.append({
            "label": geo["label"], "centre_lat": plain(geo.get("centre_lat")),
            "centre_lon": plain(geo.get("centre_lon")),
            "max_km": plain(max_km) if isinstance(max_km, int | float) else None,  # "off": no circle drawn
            # whether the filter judged this label ("applied") or why not ("skipped: not a place", ...)
            "geo_filter": geo.get("geo_filter") or ("applied" if isinstance(max_km, int | float) else "off"),
            # the filter's why (a held label's drops, a region's limit, ...)
            "note": geo["note"] if isinstance(geo.get("note"), str) and geo["note"] else None,
            **counts[geo["label"]],
        })
    return {"max_km": plain(max_km), "center": filter_report.get("config", {}).get("center"), "labels": labels}


def tags_section(cat: pd.DataFrame, prefilter_report: dict | None, max_gallery: int) -> dict:
    """Ambiguous multi-label photos; tag vs pre-classifier agreement (four counts + two galleries)."""
    ambiguous = cat[cat["tag_labels"].map(len) >= 2]
    ambiguous = ambiguous.assign(tag_labels=ambiguous["tag_labels"].map(list))
    section = {"ambiguous": gallery(ambiguous, max_gallery, ("tag_labels",))}
    absent = prefilter_absent(prefilter_report)
    if absent:
        return {**section, "prefilter": absent}
    topic, threshold = topic_and_threshold(prefilter_report)
    tagged = topic_tagged(cat["tags"], topic) if topic else np.zeros(len(cat), bool)
    tagged_dropped = cat[tagged & (cat["drop_reason"] == "off_topic").to_numpy()]
    # The talk's four counts, from the catalog itself: the photos the topic cut judged (scored, not dropped
    # before the prefilter, not a geo outlier it scored only to rescue: geo_rescued), split by tag and by what
    # the cut did to them (dropped as off_topic, or kept: recovered, doubted where the drops were held, rescued).
    # Read from the photos' outcomes, not the score against the saved (rounded) threshold: an audit found a
    # photo at 0.88129 counted dropped beside a threshold saved as 0.8813, with the drops held.
    score = cat["topic_score"].to_numpy("float64", na_value=np.nan)
    earlier = ((cat["status"] == schema.DROPPED) & cat["drop_stage"].isin(["ingest", "filter"])).to_numpy()
    geo_rescued = cat["geo_rescued"].eq(True).to_numpy() if "geo_rescued" in cat else np.zeros(len(cat), bool)
    judged = ~np.isnan(score) & ~earlier & ~geo_rescued
    doubted = cat["topic_doubted"].fillna(False).astype(bool).to_numpy() & judged
    below = judged & (cat["drop_reason"] == "off_topic").to_numpy()
    # every untagged photo the cut kept (above it, or rescued below it: audit BB 7 found the gallery showed only
    # the first, 49 beside the count's 50); a held stage recovered nothing, nor does an applied cut recover the
    # untagged photos it kept doubted (under the recovery floor: audit EG F1's sandals)
    untagged_kept = ~tagged & judged & ~below
    recovered = cat[untagged_kept & ~doubted & (not prefilter_report.get("held"))]
    section["prefilter"] = {
        "topic": topic, "threshold": threshold, "scored": int(judged.sum()),
        "method": prefilter_report.get("threshold_method", ""),
        "bimodality": (prefilter_report.get("bimodality") or {}).get("summary", ""),
        "sanity": _sanity_line(prefilter_report),
        "rejected_owners": rejected_owners_text(prefilter_report),
        "counts": {"tagged_kept": int((tagged & judged & ~below).sum()), "tagged_dropped": int((tagged & below).sum()),
                   "untagged_recovered": len(recovered),
                   "untagged_dropped": int((~tagged & below).sum()),
                   # every judged untagged photo not dropped (a held stage keeps them all), as the stage counts
                   "untagged_kept": int(untagged_kept.sum())},
        "doubted_counts": {"tagged": int((tagged & doubted).sum()), "untagged": int((~tagged & doubted).sum())},
        "doubted": gallery(cat[doubted].sort_values("topic_score", kind="stable"), max_gallery, ("topic_score",)),
        # Most confidently off-topic first; most confidently on-topic first.
        "tagged_dropped": gallery(tagged_dropped.sort_values("topic_score", kind="stable"),
                                  max_gallery, ("topic_score",)),
        "untagged_recovered": gallery(recovered.sort_values("topic_score", ascending=False, kind="stable"),
                                      max_gallery, ("topic_score",)),
    }
    return section


NO_TOPIC = ("the prefilter ran without a topic (label issues only); `curate prefilter --topic TAG` gives the "
            "pre-classifier counts")


def without_topic(prefilter_report: dict) -> bool:
    """True for a prefilter run that fitted no topic model, so it has no counts: label_issues_only, or a
    topic on every photo judged (no negatives: curate.prefilter.stage, label issues alone)."""
    config = prefilter_report.get("config") or {}
    return config.get("label_issues_only") is True or (prefilter_report.get("topic") is None
                                                       and prefilter_report.get("threshold") is None)


def prefilter_absent(prefilter_report: dict | None) -> dict | None:
    """The tags section's `prefilter` entry when there are no pre-classifier counts to give (no prefilter run,
    or one `without_topic`), else None."""
    if not prefilter_report:
        return {"absent": HOW_TO["prefilter"]}
    if without_topic(prefilter_report):
        return {"absent": no_topic_text(prefilter_report)}
    return None


def topic_and_threshold(prefilter_report: dict) -> tuple[str, float]:
    """The topic a prefilter run judged ("" if none) and its cut."""
    topic = prefilter_report.get("topic") or prefilter_report.get("config", {}).get("topic", "")
    return topic, float(prefilter_report.get("threshold", 0.5))


def no_topic_text(prefilter_report: dict) -> str:
    """What the report says in place of the pre-classifier counts of a run `without_topic`."""
    topic = (prefilter_report.get("config") or {}).get("topic")
    if not topic:
        return NO_TOPIC
    return (f"every photo the prefilter judged carries the topic {topic!r}, so no pre-classifier could be fitted "
            "(it needs untagged photos as negatives): label issues only, nothing dropped as off topic")


def rejected_owners_text(prefilter_report: dict, limit: int = 6) -> str | None:
    """Who the prefilter mostly rejected (`curate.prefilter.owners`, its report's `rejected_owners`), for the
    tags section; None when nobody. The stage warns of them only while some of their photos are still kept (a
    note otherwise), so without this a report of a cut that worked never said whose photos it dropped (audit EG F2:
    the sandals photographer's 18 of 18 off-topic photos, nowhere on the page).

    >>> rejected_owners_text({"rejected_owners": [{"owner_id": "9@N01", "owner_name": "SoleCollector", "judged": 18,
    ...                                            "rejected": 18, "kept": 0}]})  # doctest: +NORMALIZE_WHITESPACE
    'Photographers whose photos the prefilter mostly rejected (off topic or unlike their label): SoleCollector
    (9@N01) 18 of 18, none still kept; `curate review --queue off_topic`'
    """
    rows = [row for row in prefilter_report.get("rejected_owners") or [] if isinstance(row, dict)]
    if not rows:
        return None
    shown = []
    for row in rows[:limit]:
        who = f"{row['owner_name']} ({row['owner_id']})" if row.get("owner_name") else str(row.get("owner_id"))
        kept = f"{int(row.get('kept', 0)):,} still kept" if row.get("kept") else "none still kept"
        shown.append(f"{who} {int(row.get('rejected', 0)):,} of {int(row.get('judged', 0)):,}, {kept}")
    more = f"; and {len(rows) - limit:,} more" if len(rows) > limit else ""
    # the owners queue shows their kept photos; with none kept, their drops are in the off_topic queue
    queue = "owners" if any(row.get("kept") for row in rows) else "off_topic"
    return ("Photographers whose photos the prefilter mostly rejected (off topic or unlike their label): "
            f"{'; '.join(shown)}{more}; `curate review --queue {queue}`")


def _sanity_line(prefilter_report: dict) -> str | None:
    """The prefilter's one line on why it held its drops (or dropped anyway with --force)."""
    reasons = prefilter_report.get("held_reasons") or []
    if not reasons:
        return None
    why = "; ".join(reasons)
    if prefilter_report.get("held"):
        return (f"Nothing dropped: {why}. {prefilter_report.get('doubted', 0):,} photos below the threshold are kept "
                "and flagged topic_doubted; curate prefilter --force drops them.")
    return f"Dropped anyway (--force) although {why}."


def duplicates_section(cat: pd.DataFrame, filter_report: dict | None, max_gallery: int) -> dict:
    """Exact-duplicate groups and near-duplicate clusters of 2+ photos, largest first; the photos dropped as
    collage (each a cluster of one: curate.report.collages)."""
    if not filter_report:
        return {"absent": HOW_TO["duplicates"]}
    dropped = cat[(cat["status"] == schema.DROPPED) & (cat["drop_reason"] == "collage")]
    return {"exact": _groups(cat, "exact_dup_group", max_gallery),
            "near": _groups(cat, "near_dup_cluster", max_gallery),
            "collages": collages_part(filter_report, gallery(dropped, max_gallery))}


def _groups(cat: pd.DataFrame, column: str, max_gallery: int) -> dict:
    sizes = cat[column].dropna().value_counts()
    sizes = sizes[sizes >= 2]
    order = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
    groups, budget = [], int(max_gallery)
    for key, size in order:
        if budget <= 0:
            break
        members = cat[cat[column] == key]
        groups.append({"key": key, "size": int(size), **gallery(members, min(budget, size))})
        budget -= groups[-1]["shown"]
    return {"groups": int(len(sizes)), "photos": int(sizes.sum()), "shown_groups": groups}


def quality_section(cat: pd.DataFrame, filter_report: dict | None, max_gallery: int) -> dict:
    """Per image-quality check (the filter report's table): how many photos fail it and a
    gallery of them, worst (highest score) first."""
    checks = (filter_report or {}).get("quality")
    if not checks or "quality_issues" not in cat.columns:
        return {"absent": HOW_TO["quality"]}
    issues = cat["quality_issues"].map(lambda found: set(found) if isinstance(found, (list, np.ndarray)) else set())
    section = {"checks": []}
    for check in checks:
        name, score = check["check"], f'{check["check"]}_score'
        failing = cat[issues.map(lambda found, name=name: name in found).to_numpy()]
        if score in failing.columns:
            failing = failing.sort_values(score, ascending=False, kind="stable")
        section["checks"].append({"check": name, "meaning": check.get("meaning"), "drops": bool(check.get("drops")),
                                  "dropped": int(check.get("dropped", 0)),
                                  "gallery": gallery(failing, max_gallery, (score,))})
    return section


def label_issues_section(cat: pd.DataFrame, prefilter_report: dict | None, max_gallery: int) -> dict:
    """Photos flagged as label issues: those unlike their label first (lowest label fit first, with no suggested
    label: no label may fit them), then the rest, lowest label quality first (audit EG F4: the model's confusion
    between weak labels filled the gallery, and 18 photos of shoes with label fits under -3.5 were not shown)."""
    if not label_issues_ran(prefilter_report, bool(cat["is_label_issue"].notna().any())):
        return {"absent": HOW_TO["label_issues"]}
    flagged = cat[cat["is_label_issue"].fillna(False).astype(bool)]
    fit = flagged["label_fit"].astype(float) if "label_fit" in flagged.columns else pd.Series(np.nan, flagged.index)
    unlike = (fit < -UNLIKE_Z).to_numpy()
    order = np.lexsort((flagged["label_quality"].astype(float).to_numpy(), fit.where(unlike).to_numpy(), ~unlike))
    flagged, unlike = flagged.iloc[order], unlike[order]  # lexsort is stable, NaN last: ties in row order
    flagged = flagged.assign(suggested_label=flagged["suggested_label"].where(~unlike))
    # by the label each photo was flagged under, as the table below counts (audit BB: the current label, after
    # --relabel, gave other counts than the table); photos are counted in order of their first flag
    per_label = schema.given_label(flagged).fillna(NO_LABEL).value_counts(sort=False)
    per_label = per_label.sort_values(ascending=False, kind="stable")
    return {"flagged": int(len(flagged)), "per_label": {k: int(v) for k, v in per_label.items()},
            "relabelled": int(flagged["original_label"].notna().sum()) if "original_label" in flagged else 0,
            "label_model": prefilter_report.get("label_model") or {},
            "labels": judged_labels(prefilter_report),
            "gallery": gallery(flagged, max_gallery, ("suggested_label", "label_quality", "label_fit"))}


def label_issues_ran(prefilter_report: dict | None, any_judged: bool) -> bool:
    """Whether the Label issues section has something to show (both engines): a prefilter report, and
    photos judged in the catalog or, where every photo was too small a label's to judge, its table."""
    return bool(prefilter_report) and (any_judged or bool(judged_labels(prefilter_report)))


def judged_labels(prefilter_report: dict) -> list[dict]:
    """The prefilter's per-label table of the label model (photos, flags, photos not judged, out-of-fold
    agreement), largest label first; [] from a report written before it had one (or none ran)."""
    rows = [row for row in prefilter_report.get("per_label") or [] if "unjudged" in row]
    return sorted(rows, key=lambda row: (-int(row["photos"]), str(row["label"])))


def splits_section(catalog: pd.DataFrame, split_report: dict | None, max_rows: int = 200) -> dict:
    """Photos and photographers per label per split (kept photos; photos without an owner counted
    apart, per label) and the leakage check (its first
    `max_rows` leaks, and how many there are)."""
    kept = catalog[(catalog["status"] == schema.KEPT) & catalog["split"].notna()]
    if not split_report and kept.empty:
        return {"absent": HOW_TO["splits"]}
    rows = []
    for label, group in sorted(kept.groupby(kept["label"].fillna(NO_LABEL)), key=lambda kv: kv[0]):
        row = {"label": label, "photos": int(len(group)), "no_owner": int(group["owner_id"].isna().sum())}
        for name in SPLITS:  # photographers: distinct known owners (curate.filters.owners); no_owner apart
            part = group[group["split"] == name]
            row[f"{name}_photos"] = int(len(part))
            row[f"{name}_owners"] = int(part["owner_id"].nunique())
        rows.append(row)
    leaks = find_leakage(catalog)
    return splits_from_rows(rows, leaks.head(max(int(max_rows), 0)), split_report, len(leaks))


def splits_from_rows(rows: list[dict], leaks: pd.DataFrame, split_report: dict | None, leaks_total: int) -> dict:
    """The section from its per-label rows, the leakage table's first rows (curate.leakage's
    order) and how many leaks there are in all (the step both engines share)."""
    leak_rows = [{"kind": r.kind, "key": r.key, "splits": r.splits, "photos": int(r.photos),
                  "photos_per_split": {k: int(v) for k, v in r.photos_per_split.items()}}
                 for r in leaks.itertuples()]
    report = split_report or {}
    return {"per_label": with_achieved_shares(rows, report), "clean": not leaks_total, "leaks_total": int(leaks_total),
            "leaks": leak_rows, "config": report.get("config"), "notes": [str(n) for n in report.get("notes") or []]}


def with_achieved_shares(rows: list[dict], split_report: dict) -> list[dict]:
    """`rows` with the val and test shares `curate split` achieved per label and whether they are within its
    tolerance of the shares asked for (its report's per-label table), where it has them. Audit BB: all six labels
    of a scrape missed their shares (a label with no val photo, one with 1 of 100) and only split.json said so.

    >>> with_achieved_shares([{"label": "a"}], {"per_label": [{"label": "a", "val_achieved": 0.0,
    ...                       "test_achieved": 0.3, "within_tolerance": False}]})
    [{'label': 'a', 'val_share': 0.0, 'test_share': 0.3, 'within_tolerance': False}]
    """
    achieved = {str(row["label"]): row for row in split_report.get("per_label") or [] if "val_achieved" in row}
    out = []
    for row in rows:
        found = achieved.get(str(row["label"]))
        out.append({**row, "val_share": float(found["val_achieved"]), "test_share": float(found["test_achieved"]),
                    "within_tolerance": bool(found["within_tolerance"])} if found else row)
    return out


def attribution_rows(cat: pd.DataFrame) -> pd.DataFrame:
    """Kept photos' owner, licence and source URL (the full table, for the CSV)."""
    kept = cat[cat["status"] == schema.KEPT]
    owner = kept["owner_name"].fillna(kept["owner_id"]).fillna("")
    return pd.DataFrame({schema.PHOTO_ID: kept[schema.PHOTO_ID], "owner": owner, "owner_id": kept["owner_id"],
                         "license": canonical_licences(kept["license"]), "page_url": kept["page_url"],
                         "url": kept["url"]}).reset_index(drop=True)


def attribution_section(cat: pd.DataFrame, max_rows: int, total: int | None = None) -> dict:
    """The first `max_rows` rows of the attribution table; `total`: kept photos in all when `cat`
    holds only the first ones (out of core)."""
    table = attribution_rows(cat)
    shown = table.head(max_rows)
    return {"total": int(len(table) if total is None else total), "shown": int(len(shown)), "csv": "attribution.csv",
            "rows": [{k: plain(v) for k, v in row.items()} for row in shown.to_dict("records")]}
