"""`curate status`: counts per label x status / drop reason, the most common tags, how many
photos carry each label's tags, how each stage stands and when it last ran (pure; see
curate.freshness), and the workspace's size on disk (`disk_usage`, the one function that reads
the file system)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from curate import schema
from curate.schema import NO_LABEL


def status_counts(catalog: pd.DataFrame) -> pd.DataFrame:
    """One row per label: total, kept, and one column per drop reason.

    Columns: label, total, kept, dropped, then drop reasons sorted by frequency.
    The last row, label '(all)', sums every label.
    """
    label = catalog["label"].fillna(NO_LABEL)
    outcome = catalog["drop_reason"].where(catalog["status"] == schema.DROPPED)
    return status_table(pd.crosstab(label, outcome.fillna(schema.KEPT)) if len(catalog) else pd.DataFrame())


def status_table(table: pd.DataFrame) -> pd.DataFrame:
    """`status_counts` from the crosstab of label (rows, sorted) x outcome (columns, sorted: kept or
    the drop reason) photo counts: the one step an out-of-core engine shares (curate.outofcore)."""
    reasons = [c for c in table.sum().sort_values(ascending=False).index if c != schema.KEPT]
    if schema.KEPT not in table.columns:
        table[schema.KEPT] = 0
    out = pd.DataFrame({"kept": table[schema.KEPT]}, index=table.index)
    out.insert(0, "total", table.sum(axis=1))
    out["dropped"] = out["total"] - out["kept"]
    for reason in reasons:
        out[reason] = table[reason]
    out = out.sort_values("total", ascending=False)
    out.loc["(all)"] = out.sum()
    return out.rename_axis("label").reset_index().astype({c: "int64" for c in out.columns})


def tag_counts(catalog: pd.DataFrame, top: int = 20) -> pd.DataFrame:
    """The `top` most common tags: columns tag, photos (every row), kept; most photos first, ties by tag.

    Pick the pre-classifier's `--topic` from it (a tag most on-topic photos carry).
    """
    tags = catalog["tags"].explode().dropna()
    if tags.empty:
        return pd.DataFrame({"tag": pd.Series(dtype=object), "photos": pd.Series(dtype="int64"),
                             "kept": pd.Series(dtype="int64")})
    kept = (catalog["status"] == schema.KEPT).reindex(tags.index)
    table = pd.DataFrame({"tag": tags.to_numpy(), "kept": kept.to_numpy()}).groupby("tag")["kept"].agg(["size", "sum"])
    table = table.rename(columns={"size": "photos", "sum": "kept"}).rename_axis("tag").reset_index()
    table = table.sort_values(["photos", "tag"], ascending=[False, True]).head(top)
    return table.astype({"photos": "int64", "kept": "int64"}).reset_index(drop=True)


def label_tag_counts(catalog: pd.DataFrame) -> pd.DataFrame:
    """Per recipe label: photos whose tags name it (`tag_labels`, set at ingest from the recipe's
    label tags), how many of those name only it, and how many photos carry it as their label."""
    named = catalog["tag_labels"].explode().dropna()
    only = catalog["tag_labels"].map(len) == 1
    labels = sorted(set(named) | set(catalog["label"].dropna()))
    tagged = named.value_counts()
    tagged_only = named[only.reindex(named.index).to_numpy()].value_counts()
    labelled = catalog["label"].value_counts()
    return pd.DataFrame({"label": labels,
                         "photos_tagged": [int(tagged.get(name, 0)) for name in labels],
                         "tagged_only_this": [int(tagged_only.get(name, 0)) for name in labels],
                         "photos_labelled": [int(labelled.get(name, 0)) for name in labels]})


def last_run(report: object) -> dict:
    """When a stage last finished and how long it took, from its saved report:
    {"finished_at": ISO 8601 UTC or None, "seconds": float or None} (None: not recorded).

    >>> last_run({"finished_at": "2026-12-02T16:23:38+00:00", "seconds": 324.4})
    {'finished_at': '2026-12-02T16:23:38+00:00', 'seconds': 324.4}
    """
    report = report if isinstance(report, dict) else {}
    finished, seconds = report.get("finished_at"), report.get("seconds")
    try:
        finished = datetime.fromisoformat(finished).isoformat() if isinstance(finished, str) else None
    except ValueError:  # a hand-edited report: say nothing rather than something wrong
        finished = None
    ok = isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0
    return {"finished_at": finished, "seconds": float(seconds) if ok else None}


def when_text(finished_at: str | None, now: datetime) -> str:
    """'2026-12-02 16:23 UTC (3 h ago)' for an ISO time; '' when unknown.

    >>> when_text("2026-12-02T16:23:38+00:00", datetime(2026, 12, 2, 19, 30, tzinfo=UTC))
    '2026-12-02 16:23 UTC (3 h ago)'
    """
    if not finished_at:
        return ""
    when = datetime.fromisoformat(finished_at)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    ago = max((now - when).total_seconds(), 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if ago >= size:
            return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({int(ago // size)} {unit} ago)"
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC (just now)"


def duration_text(seconds: float | None) -> str:
    """'5 min 24 s', '12 s'; '' when unknown.

    >>> duration_text(324.4), duration_text(12.0), duration_text(None)
    ('5 min 24 s', '12 s', '')
    """
    if seconds is None:
        return ""
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def stages_table(states: dict, reports: dict | None = None, now: datetime | None = None) -> pd.DataFrame:
    """One row per stage (pipeline order): stage, state, when it last ran and how long it took (from
    its saved report in `reports`, when recorded), what changed, what to run."""
    now = now or datetime.now(UTC)
    rows = []
    for s in states.values():
        run = last_run((reports or {}).get(s.stage))
        shown, _ = table_reasons(s, (reports or {}).get(s.stage))
        rows.append({"stage": s.stage, "state": s.state, "last run": when_text(run["finished_at"], now),
                     "took": duration_text(run["seconds"]), "what changed": "; ".join(shown),
                     "run": s.command if s.state in ("stale", "unknown") else ""})
    return pd.DataFrame(rows)


def table_reasons(state, report: object) -> tuple[list[str], list[str]]:
    """(`state`'s reasons as `stages_table` shows them, the reasons it shows shortened, whole): a stage stale by
    newer rules names every change since it ran in a paragraph, which the table cut to `…(version 1, now 2):
    202…` (audit DA 5); its cell says `rules changed (version 1, now 2), see below`, and `curate status` prints
    the stage's reasons whole below the table (`--json` keeps them whole)."""
    from curate import stage_rules

    record = report.get("freshness") if isinstance(report, dict) else None
    whole = stage_rules.stale_reason(state.stage, record) if isinstance(record, dict) else None
    if not whole or whole == stage_rules.stale_heading(state.stage, record) or whole not in state.reasons:
        return list(state.reasons), []
    short = (f"rules changed (version {stage_rules.recorded(record)}, now {stage_rules.version(state.stage)}), "
             "see below")
    return [short if reason == whole else reason for reason in state.reasons], [whole]


def disk_usage(root: Path) -> dict:
    """The workspace's size on disk: total bytes of its files and per top-level entry (images,
    cache, runs, report, catalog.parquet, ...), largest first. Reads the file system; links are
    not followed."""
    parts: dict[str, int] = {}
    root = Path(root)
    for entry in sorted(os.scandir(root), key=lambda e: e.name) if root.is_dir() else []:
        parts[entry.name] = _tree_bytes(entry)
    parts = dict(sorted(parts.items(), key=lambda kv: (-kv[1], kv[0])))
    return {"bytes": sum(parts.values()), "parts": parts}


def _tree_bytes(entry: os.DirEntry) -> int:
    if entry.is_file(follow_symlinks=False):
        return entry.stat(follow_symlinks=False).st_size
    if not entry.is_dir(follow_symlinks=False):
        return 0
    try:
        return sum(_tree_bytes(child) for child in os.scandir(entry.path))
    except OSError:  # unreadable folder: counted as empty rather than failing the whole status
        return 0


def size_text(n_bytes: int) -> str:
    """Bytes in words, powers of 1000: '1.2 GB', '350 kB', '12 B'.

    >>> size_text(1_234_567_890), size_text(350_000), size_text(12)
    ('1.2 GB', '350.0 kB', '12 B')
    """
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{n_bytes} B"


def summary(catalog: pd.DataFrame, states: dict | None = None, reports: dict | None = None,
            disk: dict | None = None) -> dict:
    """Headline numbers for `curate status --json` (`states`: curate.freshness.judge's, if known;
    `reports`: the saved stage reports, for when each stage last ran; `disk`: `disk_usage`'s)."""
    kept = catalog["status"] == schema.KEPT
    return {
        "photos": int(len(catalog)),
        "kept": int(kept.sum()),
        "dropped": int((~kept).sum()),
        "labels": int(catalog.loc[kept, "label"].nunique()),
        "owners": int(catalog["owner_id"].nunique()),
        "sources": sorted(catalog["source"].unique().tolist()),
        "geotagged": int(catalog["lat"].notna().sum()),
        "by_label": status_counts(catalog).to_dict("records"),
        "top_tags": tag_counts(catalog).to_dict("records"),
        "label_tags": label_tag_counts(catalog).to_dict("records"),
        "stages": {name: {**state.to_dict(), "last_run": last_run((reports or {}).get(name))}
                   for name, state in (states or {}).items()},
        "disk": disk,
    }


def workspace_summary(ws, engine: str | None = None) -> dict:
    """`summary` of a workspace (the I/O edge of `curate status --json`): its catalog, stage
    states, reports and disk usage. `engine`: "pandas", "duckdb" (out of core, the same counts:
    curate.outofcore) or "auto" (DuckDB above curate.outofcore.AUTO_ROWS rows); None:
    $CURATE_CATALOG_ENGINE, else auto."""
    return workspace_status(ws, engine)[0]


def workspace_status(ws, engine: str | None = None) -> tuple[dict, dict, dict, pd.DataFrame | None]:
    """(`workspace_summary`'s facts, the stage states, the saved reports, the catalog read into
    memory on the pandas path, None out of core), for `curate status`'s tables."""
    from curate.catalog_batches import CatalogFile
    from curate.freshness import judge
    from curate.freshness_advice import workspace_flag
    from curate.freshness_workspace import load_reports, stored_columns
    from curate.outofcore import choose_engine
    from curate.workspace import read_catalog

    reports = load_reports(ws)
    if choose_engine(engine, ws.catalog_path if ws.catalog_path.exists() else None) != "duckdb":
        catalog = read_catalog(ws)
        states = judge(catalog, reports, workspace_flag(ws), stored_columns(ws))
        facts = summary(catalog, states, reports, disk_usage(ws.root))
        return _with_copies(ws, facts), states, reports, catalog
    from curate.outofcore.db import BATCH_ROWS
    from curate.outofcore.run import summary_duckdb

    states = judge(CatalogFile(ws.catalog_path, BATCH_ROWS), reports, workspace_flag(ws))
    facts = summary_duckdb(ws)
    facts["stages"] = {name: {**state.to_dict(), "last_run": last_run(reports.get(name))}
                       for name, state in states.items()}
    facts["disk"] = disk_usage(ws.root)
    return _with_copies(ws, facts), states, reports, None


def _with_copies(ws, facts: dict) -> dict:
    """`facts` with `copies_of_other`: the line `curate.contamination.copies_line` gives when the last check
    against another collection found copies of its photos here (None otherwise)."""
    from curate.contamination import copies_line, last_check

    facts["copies_of_other"] = copies_line(*last_check(ws))
    return facts
