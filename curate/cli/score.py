"""`curate score` (demo collection only)."""

from __future__ import annotations

import json

import pandas as pd

from curate.cli.common import JsonOption, WorkspaceOption, print_table, user_errors, workspace
from curate.console import console
from curate.score import workspace_scorecard


@user_errors
def score(workspace_path: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Precision and recall of each stage's flags against the demo ground truth."""
    rows, max_km = workspace_scorecard(workspace(workspace_path))
    if as_json:
        print(json.dumps({"max_km": max_km, "rows": rows}, indent=2, default=str))
        return
    if max_km is None:
        console.print("note: `curate filter` has not run here; only ingest rows are scored")
    print_table(pd.DataFrame([_display(row) for row in rows]), title="scorecard against demo_truth.parquet")


def _display(row: dict) -> dict:
    """One compact table line per scorecard row."""
    fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
    if "count" in row:
        return {"metric": row["metric"], "P": "", "R": "", "tp/fp/fn": str(row["count"]), "target P/R": "0",
                "met": "yes" if row["met"] else "NO"}
    if "achieved" in row:
        worst = max(row["achieved"].items(), key=lambda kv: abs(kv[1] - (row["requested"] or 0)), default=("", 0))
        return {"metric": row["metric"], "P": "", "R": "", "tp/fp/fn": "",
                "target P/R": f"{row['requested']}; worst {worst[0]} {worst[1]:.3f}",
                "met": "" if row["met"] is None else ("yes" if row["met"] else "NO")}
    if "share" in row:
        share = "" if row["share"] is None else f"{row['share']:.3f}"
        return {"metric": row["metric"], "P": "", "R": share, "tp/fp/fn": f"{row['dropped']}/{row['photos']} dropped",
                "target P/R": f">= {row['target']:g}", "met": "yes" if row["met"] else "NO"}
    if "flagged" in row:
        detail = (f"share {fmt(row['top_owner_share'])} in {', '.join(row['labels'])}" if row["flagged"]
                  else "not flagged")
        return {"metric": row["metric"], "P": "", "R": "", "tp/fp/fn": "", "target P/R": detail,
                "met": "yes" if row["met"] else "NO"}
    if row["precision"] is None and row["target_precision"] == 0:
        target = f"R >= {row['target_recall']:g}"  # a recall-only row (near-duplicates per edit kind)
    else:
        target = "" if row["target_precision"] is None else f"{row['target_precision']:g}/{row['target_recall']:g}"
    met = "" if row["met"] is None else ("yes" if row["met"] else "NO")
    return {"metric": row["metric"], "P": fmt(row["precision"]), "R": fmt(row["recall"]),
            "tp/fp/fn": f"{row['tp']}/{row['fp']}/{row['fn']}", "target P/R": target, "met": met}
