"""`curate status`: counts per label x status / drop reason (pure)."""

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


def summary(catalog: pd.DataFrame) -> dict:
    """Headline numbers for `curate status --json`."""
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
    }
