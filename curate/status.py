"""`curate status`: counts per label x status / drop reason, the most common tags, how many
photos carry each label's tags, and how each stage stands (pure; see curate.freshness)."""

from __future__ import annotations

import pandas as pd

from curate import schema

NO_LABEL = "(no label)"


def status_counts(catalog: pd.DataFrame) -> pd.DataFrame:
    """One row per label: total, kept, and one column per drop reason.

    Columns: label, total, kept, dropped, then drop reasons sorted by frequency.
    The last row, label '(all)', sums every label.
    """
    label = catalog["label"].fillna(NO_LABEL)
    outcome = catalog["drop_reason"].where(catalog["status"] == schema.DROPPED)
    table = pd.crosstab(label, outcome.fillna(schema.KEPT)) if len(catalog) else pd.DataFrame()
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


def stages_table(states: dict) -> pd.DataFrame:
    """One row per stage (pipeline order): stage, state, what changed, what to run."""
    return pd.DataFrame([{"stage": s.stage, "state": s.state, "what changed": "; ".join(s.reasons),
                          "run": s.command if s.state in ("stale", "unknown") else ""} for s in states.values()])


def summary(catalog: pd.DataFrame, states: dict | None = None) -> dict:
    """Headline numbers for `curate status --json` (`states`: curate.freshness.judge's, if known)."""
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
        "stages": {name: state.to_dict() for name, state in (states or {}).items()},
    }
